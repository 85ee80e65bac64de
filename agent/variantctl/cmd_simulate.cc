// variantctl simulate: replay request traces through the simulated cluster with every
// policy side by side (bridge/sim/simulate.h), print the table, write the JSON and the
// HTML report. docs/simulator.md, "The cluster simulator".
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "context.h"
#include "report_html.h"
#include "sim/simulate.h"

namespace variantctl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct SimulateCli {
  std::string config;
  std::vector<std::string> traces;
  double rate_scale = 1, time_scale = 1, cold_start = -1, duration = 0;
  int seeds = 1, jobs = 1;
  std::string policies = "static,hpa,wva,variant,oracle";
  std::vector<std::string> plugin_dirs;
  std::string data_dir, json_out, html_out;
  bool quiet = false;
};

std::string ExeDir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

// The embedded default: examples/simulate.yaml from the working directory (the repo
// root), else beside the data directory the library resolves (the source tree).
std::string DefaultConfig(const std::string& data_dir) {
  if (fs::exists("examples/simulate.yaml")) return "examples/simulate.yaml";
  fs::path d = variant::ResolveDataDir(data_dir.empty() ? nullptr : data_dir.c_str());
  return (d.parent_path() / "examples" / "simulate.yaml").string();
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ',')) {
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

std::string Pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * x);
  return b;
}

void PrintTable(const json& r) {
  std::printf("%-8s %10s %9s %9s %9s %11s %11s %8s %9s\n", "policy", "cost_usd", "gpu_h", "slo_att",
              "util", "ttft_p95ms", "itl_p95ms", "actions", "reversals");
  for (const char* p : {"static", "hpa", "wva", "variant", "oracle"}) {
    if (!r["policies"].contains(p)) continue;
    const json& j = r["policies"][p];
    std::printf("%-8s %10.2f %9.2f %9s %9s %11.0f %11.1f %8.0f %9.0f\n", p, j.value("cost_usd", 0.0),
                j.value("gpu_hours", 0.0), Pct(j.value("slo_attainment", 0.0)).c_str(),
                Pct(j.value("utilization", 0.0)).c_str(), j.value("ttft_p95_ms", 0.0),
                j.value("itl_p95_ms", 0.0), j.value("scaling_actions", 0.0), j.value("reversals", 0.0));
    if (r.value("seeds", 1) > 1 && j.contains("cost_usd_ci95"))
      std::printf("%-8s %10s ±%.2f   attainment ±%s\n", "", "", j.value("cost_usd_ci95", 0.0),
                  Pct(j.value("slo_attainment_ci95", 0.0)).c_str());
  }
  if (r["policies"].contains("hpa")) {
    const json& h = r["policies"]["hpa"];
    std::printf("hpa target (running+waiting per replica): %s, chosen by a sweep of %zu targets\n",
                h.value("hpa_target", json()).dump().c_str(), h.value("hpa_sweep", json::array()).size());
  }
  for (auto it = r["savings"].begin(); it != r["savings"].end(); ++it)
    std::printf("savings %-18s %s\n", it.key().c_str(), Pct(it.value().get<double>()).c_str());
}

int RunSimulate(const SimulateCli& c) {
  variant::sim::SimulateOptions o;
  o.config_path = c.config.empty() ? DefaultConfig(c.data_dir) : c.config;
  for (const std::string& t : c.traces) {
    auto eq = t.find('=');
    if (eq == std::string::npos) {
      o.traces.emplace_back("", t);
    } else {
      o.traces.emplace_back(t.substr(0, eq), t.substr(eq + 1));
    }
  }
  o.rate_scale = c.rate_scale;
  o.time_scale = c.time_scale;
  o.cold_start_s = c.cold_start;
  o.duration_s = c.duration;
  o.seeds = c.seeds;
  o.jobs = c.jobs;
  o.policies = Split(c.policies);
  o.plugin_dirs = c.plugin_dirs;
  o.plugin_dirs.push_back((fs::path(ExeDir()) / ".." / "lib").string());
  o.data_dir = c.data_dir;

  // Progress on stderr: a redrawn bar on a terminal, one line per run otherwise.
  const bool tty = isatty(2);
  std::mutex mu;
  std::string last_label;
  auto t0 = std::chrono::steady_clock::now();
  if (!c.quiet) {
    o.progress = [&](const std::string& label, double f) {
      std::lock_guard<std::mutex> g(mu);
      double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (tty) {
        int w = 30, n = static_cast<int>(f * w);
        std::fprintf(stderr, "\r[%-*s] %3.0f%% %-28s %6.1fs", w, std::string(n, '#').c_str(), f * 100,
                     label.c_str(), el);
        if (f >= 1) std::fprintf(stderr, "\n");
      } else if (f >= 1 && label != last_label) {
        std::fprintf(stderr, "done %-28s %6.1fs\n", label.c_str(), el);
        last_label = label;
      }
    };
  }
  auto r = variant::sim::Simulate(o);
  if (!r.ok()) {
    std::fprintf(stderr, "variantctl simulate: %s (%s)\n", r.status().message().c_str(),
                 variant_status_name(r.status().code()));
    return 1;
  }
  json& res = *r;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res["wall_s"] = wall;
  PrintTable(res);
  std::printf("wall time %.1f s\n", wall);
  if (!c.json_out.empty()) {
    std::ofstream f(c.json_out);
    f << res.dump(1) << "\n";
    if (!f) {
      std::fprintf(stderr, "variantctl simulate: cannot write %s\n", c.json_out.c_str());
      return 1;
    }
  }
  if (!c.html_out.empty()) {
    std::ofstream f(c.html_out);
    f << variant::report::RenderHtml(res);
    if (!f) {
      std::fprintf(stderr, "variantctl simulate: cannot write %s\n", c.html_out.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

void AddSimulateCommands(CLI::App& app) {
  auto c = std::make_shared<SimulateCli>();
  CLI::App* s = app.add_subcommand(
      "simulate",
      "Replay request traces through a simulated cluster; every policy (static, hpa, wva, "
      "variant, oracle) side by side on identical arrivals");
  s->add_option("--config", c->config,
                "accelerators, variants, classes and traces (default: examples/simulate.yaml)");
  s->add_option("--trace", c->traces,
                "MODEL=FILE (Azure 2023 CSV or generic timestamp_s,input_tokens,output_tokens"
                "[,model][,class]); repeatable; replaces the config's traces. FILE alone: the "
                "model column names the model");
  s->add_option("--rate-scale", c->rate_scale, "multiply every trace's rate (duration kept)");
  s->add_option("--time-scale", c->time_scale, "play traces X times faster");
  s->add_option("--seeds", c->seeds, "repeat with N seeds; figures get _ci95 halves");
  s->add_option("--cold-start", c->cold_start, "replica cold start, seconds (default: config, 120)");
  s->add_option("--duration", c->duration, "only arrivals before this many seconds");
  s->add_option("--policies", c->policies, "comma-separated subset of static,hpa,wva,variant,oracle");
  s->add_option("--plugin-dir", c->plugin_dirs, "where libvariant_policy_*.so are (repeatable)");
  s->add_option("--data-dir", c->data_dir, "libvariant data directory");
  s->add_option("--jobs", c->jobs, "run policies on this many threads (default 1: one core)");
  s->add_option("--json", c->json_out, "write the result (schema variant-simulate/1)");
  s->add_option("--html", c->html_out, "write the self-contained HTML report");
  s->add_flag("--quiet", c->quiet, "no progress on stderr");
  s->callback([c] { SetAction([c] { return RunSimulate(*c); }); });
}

}  // namespace variantctl
