// variant-agent: the event-driven agent (cluster mode) or the node collector (node
// mode). See docs/bus.md.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <malloc.h>
#include <zmq.hpp>

#include "agent.h"
#include "config.h"
#include "node.h"
#include "variant_api.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  // One malloc arena: the loop thread frees what ZeroMQ's I/O thread allocates, and
  // per-thread arenas would keep that memory (measured: 68 -> 49 MB after a flood at
  // 1,000 models x 40 variants). Before any thread exists.
  mallopt(M_ARENA_MAX, 1);
  // Blocks of 1 MiB and more are always mapped, and unmapped when freed. glibc's
  // default raises this threshold to the size of the first such block freed, after
  // which a solve's parse buffers (tens of MB at 1,000 x 40) come from the heap and
  // their pages stay resident between solves (measured with solves back to back:
  // VmHWM 77.8 -> 68.9 MB).
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  CLI::App app{"variant-agent: the variant autoscaler's bus agent"};
  std::string config_path, level = "info";
  app.add_option("--config", config_path, "YAML configuration file")->required();
  app.add_option("--log-level", level, "trace|debug|info|warn|error|critical|off")
      ->default_val("info");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  spdlog::level::level_enum lv = spdlog::level::from_str(level);
  if (lv == spdlog::level::off && level != "off") {
    std::fprintf(stderr, "error: --log-level '%s' is not a level\n", level.c_str());
    return 2;
  }
  spdlog::set_level(lv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  agent::Config cfg;
  std::string err;
  if (!agent::LoadConfig(config_path, &cfg, &err)) {
    spdlog::critical("config: {}", err);
    return 1;
  }
  malloc_trim(0);  // give back what parsing the config took
  if (cfg.mode == "node") {
    auto c = agent::MakeCollector(cfg, &err);
    if (!c) {
      spdlog::critical("{}", err);
      return 1;
    }
    return agent::RunNode(cfg, c.get(), &g_stop);
  }
  std::unique_ptr<agent::VariantApi> api;
  bool need_lib = false;
  for (const auto& m : cfg.models) need_lib |= (m.policy == "optimizer" || m.policy.empty());
  if (need_lib || !cfg.libvariant.empty()) {
    std::string path = cfg.libvariant.empty() ? agent::VariantApi::DefaultPath() : cfg.libvariant;
    api = agent::VariantApi::Load(path, cfg.data_dir, &err);
    if (!api) {
      spdlog::critical("{}", err);
      return 1;
    }
    spdlog::info("libvariant {} (ABI {}) from {}{}", api->version(), VARIANT_ABI_VERSION,
                 api->path(), api->has_solve() ? "" : " (no variant_solve yet: solves will fail)");
  }
  zmq::context_t ctx(1);
  int rc;
  {
    agent::Agent a(std::move(cfg), std::move(api), &ctx);  // one copy of the problem
    if (!a.Init(&err)) {
      spdlog::critical("{}", err);
      return 1;
    }
    malloc_trim(0);
    rc = a.Run(&g_stop);
  }
  return rc;
}
