// variantctl bus-bench: measures the real variant-agent over loopback TCP.
//
// It writes a config with N models x V variants, starts <bindir>/variant-agent as a
// child process (pinned to one CPU), and runs three phases:
//   latency  publish metrics at --rate msg/s (background messages that do not move
//            demand, plus a probe model whose demand flips every 10 ms); for each
//            flip, the time until a decision carrying the new replicas for the probe
//            arrives at a subscriber: p50 / p99 / max.
//   ingest   publish as fast as possible for --ingest-seconds and read the agent's
//            own counter of accepted messages: messages per second on one core.
//   rss      VmRSS / VmHWM of the agent process from /proc at the end.
// Everything runs on the loopback interface; the agent is the production binary.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <msgpack.hpp>
#include <zmq.hpp>

#include "bus/protocol.h"
#include "commands.h"

extern char** environ;

namespace variantctl {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchOptions {
  std::string agent;
  int models = 100, variants = 4;
  double rate = 10000, seconds = 5, ingest_seconds = 3, debounce_ms = 1;
  int flip_ms = 10;  // the probe's demand flips every flip_ms
  std::string policy = "hpa";
  int agent_cpu = 1;
  bool json_out = false;
  bool skip_latency = false, skip_ingest = false, keep = false;
  std::string agent_log_level = "warn";
};

int FreePort() {
  // Binding port 0 through ZeroMQ and reading the endpoint back.
  zmq::context_t c(1);
  zmq::socket_t s(c, zmq::socket_type::pub);
  s.bind("tcp://127.0.0.1:*");
  std::string ep = s.get(zmq::sockopt::last_endpoint);
  return std::atoi(ep.substr(ep.rfind(':') + 1).c_str());
}

std::string ExeDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

std::string ModelName(int i) { return "bench-model-" + std::to_string(i); }
std::string VariantName(int j) { return "v" + std::to_string(j); }

// YAML is a superset of JSON: the config is written as JSON.
std::string MakeConfig(const BenchOptions& o, const std::string& dir, const std::string& xsub,
                       const std::string& xpub, const std::string& listen) {
  static const char* accs[] = {"h100", "a100", "l40s", "h200", "mi300x", "a10g", "l4", "b200"};
  json models = json::array();
  json policies = json::object();
  for (int i = 0; i < o.models; ++i) {
    json vs = json::array();
    // Measured capacities (capacity_rps) so the optimizer needs no catalog entry for
    // the synthetic models; the cheapest per request differ by variant.
    for (int j = 0; j < o.variants; ++j)
      vs.push_back({{"name", VariantName(j)}, {"accelerator", accs[j % 8]},
                    {"tp", 1 << (j / 8 % 4)}, {"max_batch", 64 << (j / 32 % 2)},
                    {"capacity_rps", 2.5 * (1 << (j / 8 % 4)) * (1.0 + 0.05 * (j % 8))}});
    models.push_back({{"name", ModelName(i)}, {"variants", vs}});
  }
  json accelerators = json::array();
  for (int a = 0; a < 8; ++a)
    accelerators.push_back({{"name", accs[a]}, {"cost_per_hour", 2.0 + 0.1 * a}, {"count", 1000000}});
  json cfg = {
      {"mode", "cluster"},
      {"source", "bench-agent"},
      {"bus", {{"xsub", xsub}, {"xpub", xpub}, {"heartbeat_s", 1.0}, {"stale_after_s", 30.0},
                  // one source publishes everything: no per-source rate limit here
                  {"rate_limit_per_source", 0}}},
      {"metrics_listen", listen},
      {"state_file", dir + "/state.msgpack"},
      {"solve", {{"threshold", 0.1}, {"debounce_ms", o.debounce_ms}, {"max_staleness_s", 60}}},
      {"problem", {{"schema_version", 1},
                   {"accelerators", accelerators},
                   {"classes", json::array({{{"name", "chat"}, {"slo", "ttft_p95_ms=2000"}}})},
                   {"models", models},
                   {"options", {{"stability", false}}}}}};
  if (o.policy != "optimizer") {
    cfg["default_policy"] = o.policy;
    cfg["default_policy_params"] = {{"target", 8}, {"scale_down_window_s", 0},
                                    {"replicas", 1}};
  }
  std::string path = dir + "/agent.yaml";
  std::ofstream(path) << cfg.dump();
  return path;
}

// Reads one counter (sum over its label sets matching `filter`) from /metrics.
double Scrape(const std::string& listen, const std::string& name, const std::string& filter) {
  // Plain HTTP/1.0 GET over a loopback TCP socket.
  std::string host = listen.substr(0, listen.rfind(':'));
  int port = std::atoi(listen.substr(listen.rfind(':') + 1).c_str());
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  std::string req = "GET /metrics HTTP/1.0\r\nHost: " + listen + "\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return -1;
  }
  std::string body;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) body.append(buf, static_cast<size_t>(n));
  close(fd);
  double sum = 0;
  bool found = false;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.find(filter) == std::string::npos) continue;
    auto sp = line.rfind(' ');
    sum += std::atof(line.c_str() + sp + 1);
    found = true;
  }
  return found ? sum : -1;
}

long ProcKb(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  return -1;
}

// The probe model's replicas (all its variants) in a decision body; -2 if unreadable.
int ProbeReplicas(const void* data, size_t len, const std::string& model) {
  try {
    msgpack::object_handle oh = msgpack::unpack(static_cast<const char*>(data), len);
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::MAP) return -2;
    int total = 0;
    auto str_eq = [](const msgpack::object& x, const std::string& s) {
      return x.type == msgpack::type::STR && x.via.str.size == s.size() &&
             std::memcmp(x.via.str.ptr, s.data(), s.size()) == 0;
    };
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      if (!str_eq(o.via.map.ptr[i].key, "allocation")) continue;
      const msgpack::object& arr = o.via.map.ptr[i].val;
      if (arr.type != msgpack::type::ARRAY) return -2;
      for (uint32_t k = 0; k < arr.via.array.size; ++k) {
        const msgpack::object& e = arr.via.array.ptr[k];
        if (e.type != msgpack::type::MAP) continue;
        bool m = false;
        int r = 0;
        for (uint32_t q = 0; q < e.via.map.size; ++q) {
          const auto& kv = e.via.map.ptr[q];
          if (str_eq(kv.key, "model")) m = str_eq(kv.val, model);
          else if (str_eq(kv.key, "replicas") && kv.val.type == msgpack::type::POSITIVE_INTEGER)
            r = static_cast<int>(kv.val.via.u64);
        }
        if (m) total += r;
      }
      return total;
    }
  } catch (const std::exception&) {
    return -2;
  }
  return -1;
}

std::string Header(uint64_t seq) {
  bus::Header h;
  h.source = "bench";
  h.sequence = seq;
  h.timestamp = 0;
  return bus::EncodeHeader(h);
}

int RunBench(const BenchOptions& o) {
  char tmpl[] = "/tmp/variant-bus-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  const std::string xsub = "tcp://127.0.0.1:" + std::to_string(FreePort());
  const std::string xpub = "tcp://127.0.0.1:" + std::to_string(FreePort());
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  const std::string cfg = MakeConfig(o, dir, xsub, xpub, listen);
  const std::string agent = o.agent.empty() ? ExeDir() + "/variant-agent" : o.agent;

  // Start the agent, pinned to one CPU (the bench itself keeps the others).
  std::string cpu = std::to_string(o.agent_cpu);
  std::vector<std::string> args = {agent, "--config", cfg, "--log-level", o.agent_log_level};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/agent.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Pin by inheritance: set our own affinity to the agent's CPU, spawn (every thread
  // the agent creates inherits it), then move ourselves to the other CPUs.
  const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  const int agent_cpu = o.agent_cpu % std::max(ncpu, 1);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(agent_cpu, &set);
  bool pinned = sched_setaffinity(0, sizeof(set), &set) == 0;
  pid_t pid = 0;
  int sp = posix_spawn(&pid, agent.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  cpu_set_t mine;
  CPU_ZERO(&mine);
  for (int c = 0; c < ncpu; ++c)
    if (c != agent_cpu || ncpu == 1) CPU_SET(c, &mine);
  sched_setaffinity(0, sizeof(mine), &mine);
  if (sp != 0) {
    std::fprintf(stderr, "error: cannot start %s\n", agent.c_str());
    return 1;
  }
  auto stop_agent = [&] {
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
  };
  // Up when the exporter answers.
  auto t_start = Clock::now();
  while (Scrape(listen, "variant_cost_per_hour", "") < 0) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      std::ifstream lf(dir + "/agent.log");
      std::stringstream ss;
      ss << lf.rdbuf();
      std::fprintf(stderr, "error: the agent exited during start-up:\n%s\n", ss.str().c_str());
      return 1;
    }
    if (Clock::now() - t_start > std::chrono::seconds(120)) {
      std::fprintf(stderr, "error: the agent did not come up\n");
      stop_agent();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double startup_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  json result = {{"agent", agent},
                 {"models", o.models},
                 {"variants_per_model", o.variants},
                 {"policy", o.policy},
                 {"agent_cpu", pinned ? json(agent_cpu) : json(nullptr)},
                 {"startup_s", startup_s}};
  json rss = {{"target_rss_kb", 64 * 1024}};
  rss["after_startup_kb"] = ProcKb(pid, "VmRSS:");

  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::sndhwm, 1000000);
  pub.set(zmq::sockopt::linger, 0);
  pub.connect(xsub);
  uint64_t seq = 0;
  // Pre-encoded bodies: background (constant demand, does not trigger decisions) for
  // every model but the probe, and the probe's two levels.
  std::vector<std::string> background;
  for (int i = 1; i < o.models; ++i)
    for (int j = 0; j < std::min(o.variants, 4); ++j) {
      bus::Metrics m;
      m.model = ModelName(i);
      m.variant = VariantName(j);
      m.arrival_rate_rps = 5;
      m.running = 8;
      m.waiting = 0;
      m.replicas_ready = 1;
      background.push_back(bus::EncodeMetrics(m));
    }
  auto probe_body = [&](int level) {
    bus::Metrics m;
    m.model = ModelName(0);
    m.variant = VariantName(0);
    m.arrival_rate_rps = level ? 20 : 10;
    m.running = level ? 80 : 40;  // 2 ready, target 8 -> 10 or 5 replicas (hpa)
    m.waiting = 0;
    m.replicas_ready = 2;
    return bus::EncodeMetrics(m);
  };
  const std::string probe[2] = {probe_body(0), probe_body(1)};
  auto send = [&](const std::string& body) {
    std::string h = Header(++seq);
    pub.send(zmq::buffer(bus::kTopicMetrics), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(h), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(body), zmq::send_flags::none);
  };
  if (background.empty()) background.push_back(probe[0]);

  if (!o.skip_latency) {
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::rcvhwm, 1000000);
    sub.set(zmq::sockopt::subscribe, "decision");
    sub.connect(xpub);
    // Wait until the path works end to end: a probe flip reaches a decision.
    std::atomic<bool> done{false};
    std::mutex mu;
    std::vector<std::pair<Clock::time_point, int>> seen;  // (arrival, probe replicas)
    const std::string probe_model = ModelName(0);
    std::thread rx([&] {
      zmq::pollitem_t it{sub.handle(), 0, ZMQ_POLLIN, 0};
      while (!done.load()) {
        zmq::poll(&it, 1, std::chrono::milliseconds(50));
        if (!(it.revents & ZMQ_POLLIN)) continue;
        std::vector<zmq::message_t> f;
        while (true) {
          f.emplace_back();
          (void)sub.recv(f.back());
          if (!f.back().more()) break;
        }
        auto t = Clock::now();
        if (f.size() != 3) continue;
        // msgpack-c's zone unpacking: cheap enough not to delay the next receive.
        int r = ProbeReplicas(f[2].data(), f[2].size(), probe_model);
        if (r == -2) continue;
        std::lock_guard<std::mutex> l(mu);
        seen.emplace_back(t, r);
      }
    });
    // Warm-up: learn the probe's replicas at each demand level (whatever the policy).
    int expect[2] = {-1, -1};
    int level = 0;
    auto warm_end = Clock::now() + std::chrono::seconds(30);
    for (int phase = 0; phase < 4 && Clock::now() < warm_end; ++phase) {
      level = phase % 2;
      {
        std::lock_guard<std::mutex> l(mu);
        seen.clear();
      }
      int got = -1;
      while (Clock::now() < warm_end && got < 0) {
        send(probe[level]);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::lock_guard<std::mutex> l(mu);
        for (auto& s : seen)
          if (s.second > 0 && s.second != expect[level ^ 1]) got = s.second;
      }
      expect[level] = got;
    }
    auto replicas_for = [&](int lv) { return expect[lv]; };
    const bool warm = expect[0] > 0 && expect[1] > 0 && expect[0] != expect[1];
    if (!warm) {
      done = true;
      rx.join();
      std::fprintf(stderr,
                   "error: the probe's demand levels did not give two distinct decisions "
                   "(policy %s: %d / %d replicas); see %s/agent.log\n",
                   o.policy.c_str(), expect[0], expect[1], dir.c_str());
      stop_agent();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    {
      std::lock_guard<std::mutex> l(mu);
      seen.clear();
    }
    // Paced run: every 1 ms a batch of rate/1000 messages; every flip_ms the probe flips.
    std::vector<std::pair<Clock::time_point, int>> flips;
    const int per_ms = std::max(1, static_cast<int>(std::lround(o.rate / 1000)));
    const auto t0 = Clock::now();
    const int total_ms = static_cast<int>(o.seconds * 1000);
    size_t bg = 0;
    uint64_t sent = 0;
    for (int ms = 0; ms < total_ms; ++ms) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(ms));
      for (int k = 0; k < per_ms; ++k) {
        if (k == 0 && ms % o.flip_ms == 0) {
          level ^= 1;
          flips.emplace_back(Clock::now(), replicas_for(level));
          send(probe[level]);
        } else {
          send(background[bg++ % background.size()]);
        }
        ++sent;
      }
    }
    const double send_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    done = true;
    rx.join();
    std::vector<double> lat;
    size_t missed = 0, si = 0;
    for (size_t i = 0; i < flips.size(); ++i) {
      const auto end = i + 1 < flips.size() ? flips[i + 1].first : Clock::time_point::max();
      while (si < seen.size() && seen[si].first < flips[i].first) ++si;
      size_t k = si;
      while (k < seen.size() && seen[k].first < end && seen[k].second != flips[i].second) ++k;
      if (k < seen.size() && seen[k].first < end)
        lat.push_back(std::chrono::duration<double, std::milli>(seen[k].first - flips[i].first).count());
      else
        ++missed;
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) {
      if (lat.empty()) return std::nan("");
      size_t idx = std::min(lat.size() - 1, static_cast<size_t>(std::ceil(q * lat.size())) - 1);
      return lat[idx];
    };
    result["latency"] = {{"offered_msg_per_s", sent / send_s},
                         {"messages", sent},
                         {"demand_changes", flips.size()},
                         {"decisions_matched", lat.size()},
                         {"missed", missed},
                         {"debounce_ms", o.debounce_ms},
                         {"flip_ms", o.flip_ms},
                         {"p50_ms", pct(0.50)},
                         {"p99_ms", pct(0.99)},
                         {"max_ms", lat.empty() ? NAN : lat.back()},
                         {"target_p99_ms", 5.0}};
  }

  rss["after_latency_phase_kb"] = ProcKb(pid, "VmRSS:");
  if (!o.skip_ingest) {
    // Background only (no demand moves): pure ingest + validation + forwarding. The
    // agent's accepted-message counter is read twice while the bench publishes faster
    // than the agent can take (the surplus is dropped at the high-water mark), so the
    // rate is the agent's, not the sender's.
    const std::string counter = "variant_bus_messages_in_total";
    const std::string filter = "topic=\"metrics\"";
    const auto t0 = Clock::now();
    const auto warm = t0 + std::chrono::milliseconds(500);
    const auto end = t0 + std::chrono::duration<double>(o.ingest_seconds + 0.5);
    uint64_t sent = 0;
    size_t bg = 0;
    double c1 = -1, c2 = -1;
    Clock::time_point s1, s2;
    while (true) {
      for (int k = 0; k < 1000; ++k) send(background[bg++ % background.size()]);
      sent += 1000;
      const auto now = Clock::now();
      if (c1 < 0 && now >= warm) {
        c1 = std::max(0.0, Scrape(listen, counter, filter));
        s1 = Clock::now();
      }
      if (now >= end) {
        c2 = Scrape(listen, counter, filter);
        s2 = Clock::now();
        break;
      }
    }
    const double send_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double window = std::chrono::duration<double>(s2 - s1).count();
    result["ingest"] = {{"sent", sent},
                        {"sender_msg_per_s", sent / send_s},
                        {"window_s", window},
                        {"accepted_in_window", c2 - c1},
                        {"msg_per_s", (c2 - c1) / window},
                        {"target_msg_per_s", 100000}};
  }

  rss["after_ingest_flood_kb"] = ProcKb(pid, "VmRSS:");
  std::this_thread::sleep_for(std::chrono::seconds(2));  // queues drained
  rss["vm_rss_kb"] = ProcKb(pid, "VmRSS:");
  rss["vm_hwm_kb"] = ProcKb(pid, "VmHWM:");
  result["rss"] = rss;
  stop_agent();
  std::string cmd = "rm -rf '" + dir + "'";
  if (o.keep)
    std::fprintf(stderr, "kept %s (agent.yaml, agent.log)\n", dir.c_str());
  else if (dir.rfind("/tmp/variant-bus-bench-", 0) == 0)
    (void)std::system(cmd.c_str());
  if (o.json_out) {
    std::printf("%s\n", result.dump(2).c_str());
  } else {
    std::printf("models %d x variants %d, policy %s\n", o.models, o.variants, o.policy.c_str());
    if (result.contains("latency"))
      std::printf("event->decision: p50 %.3f ms  p99 %.3f ms  (at %.0f msg/s)\n",
                  result["latency"]["p50_ms"].get<double>(),
                  result["latency"]["p99_ms"].get<double>(),
                  result["latency"]["offered_msg_per_s"].get<double>());
    if (result.contains("ingest"))
      std::printf("ingest: %.0f msg/s on one core\n", result["ingest"]["msg_per_s"].get<double>());
    std::printf("agent RSS: %ld kB (peak %ld kB)\n", result["rss"]["vm_rss_kb"].get<long>(),
                result["rss"]["vm_hwm_kb"].get<long>());
  }
  return 0;
}

}  // namespace

void AddBusCommands(CLI::App& app) {
  auto* c = app.add_subcommand("bus-bench",
                               "benchmark the agent over loopback: event-to-decision latency, "
                               "ingest rate, RSS");
  auto o = std::make_shared<BenchOptions>();
  c->add_option("--agent", o->agent, "variant-agent binary (default: beside variantctl)");
  c->add_option("--models", o->models, "configured models")->default_val(100)->check(CLI::Range(1, 100000));
  c->add_option("--variants", o->variants, "variants per model")->default_val(4)->check(CLI::Range(1, 1000));
  c->add_option("--rate", o->rate, "metric messages per second in the latency phase")->default_val(10000);
  c->add_option("--seconds", o->seconds, "length of the latency phase")->default_val(5);
  c->add_option("--ingest-seconds", o->ingest_seconds, "length of the ingest phase")->default_val(3);
  c->add_option("--debounce-ms", o->debounce_ms, "agent solve.debounce_ms")->default_val(1);
  c->add_option("--flip-ms", o->flip_ms, "period of the probe's demand changes (ms)")
      ->default_val(10)->check(CLI::Range(1, 60000));
  c->add_option("--policy", o->policy, "hpa | static-peak | wva | optimizer")->default_val("hpa");
  c->add_option("--agent-cpu", o->agent_cpu, "CPU the agent is pinned to")->default_val(1);
  c->add_flag("--no-latency", o->skip_latency, "skip the latency phase");
  c->add_flag("--no-ingest", o->skip_ingest, "skip the ingest phase");
  c->add_flag("--json", o->json_out, "print JSON");
  c->add_flag("--keep", o->keep, "keep the temporary directory (config, agent log)");
  c->add_option("--agent-log-level", o->agent_log_level, "the agent's --log-level")->default_val("warn");
  c->callback([o] { SetAction([o] { return RunBench(*o); }); });
}

}  // namespace variantctl
