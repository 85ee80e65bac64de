// Node mode end to end on loopback: a simulated vLLM pod (ServerSim behind
// MetricsHttpServer, real HTTP) -> `variant-agent` in node mode with the vLLM collector
// (VllmSource) -> the bus -> `variant-agent` in cluster mode, which accepts the metrics
// (it forwards only what it accepted) and decides on them. Both agents are the real
// binary of this build.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/protocol.h"
#include "sim_pods.h"

namespace {

using json = nlohmann::json;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

struct AgentProcess {
  pid_t pid = -1;
  std::string log;
  void Start(const std::string& config, const std::string& log_path) {
    log = log_path;
    pid = fork();
    if (pid == 0) {
      FILE* f = freopen(log_path.c_str(), "w", stdout);
      (void)f;
      dup2(fileno(stdout), 2);
      const char* bin = std::getenv("VARIANT_AGENT") ? std::getenv("VARIANT_AGENT") : VARIANT_AGENT;
      execl(bin, bin, "--config", config.c_str(), "--log-level", "info",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  std::string Log() const {
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  ~AgentProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
  }
};

std::string TempDir() {
  char tmpl[] = "/tmp/node_collector_XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "/tmp";
}

TEST(NodeMode, VllmCollectorFeedsTheClusterAgent) {
  const std::string dir = TempDir();
  const double kRate = 8.0;  // requests/s arriving at the pod
  variant::sim::testing::SimPod pod("llama-3-8b", "h100", kRate, 512, 64, 7);

  const std::string xsub = "tcp://127.0.0.1:" + std::to_string(FreePort());
  const std::string xpub = "tcp://127.0.0.1:" + std::to_string(FreePort());
  json cluster = {
      {"mode", "cluster"},
      {"source", "cluster-agent"},
      {"bus", {{"xsub", xsub}, {"xpub", xpub}, {"heartbeat_s", 0.5}, {"stale_after_s", 30}}},
      {"solve", {{"threshold", 0.05}, {"debounce_ms", 5}, {"max_staleness_s", 60}}},
      {"problem",
       {{"schema_version", 1},
        {"accelerators", {{{"name", "h100"}, {"cost_per_hour", 4.0}, {"count", 16}}}},
        {"classes", {{{"name", "chat"}, {"slo", {{"ttft_p95_ms", 2000}, {"itl_p95_ms", 80}}}}}},
        {"models", {{{"name", "llama-3-8b"},
                     {"variants", {{{"name", "h100-tp1"}, {"accelerator", "h100"}, {"tp", 1},
                                    {"capacity_rps", 2.0}}}}}}},
        {"options", {{"stability", false}}}}},
      // HPA on the arrival rate: 8 rps at 2 rps per replica wants 4 replicas.
      {"policies", {{"llama-3-8b", {{"policy", "hpa"},
                                    {"params", {{"target", 2.0}, {"metric", "arrival_rate"}}}}}}}};
  json node = {{"mode", "node"},
               {"source", "node-1"},
               {"node", {{"cluster", xsub},
                         {"interval_s", 0.25},
                         {"collector", "vllm"},
                         {"targets", {{{"url", pod.url()}, {"variant", "h100-tp1"}}}}}}};
  std::ofstream(dir + "/cluster.yaml") << cluster.dump();  // JSON is YAML
  std::ofstream(dir + "/node.yaml") << node.dump();

  AgentProcess cluster_agent, node_agent;
  cluster_agent.Start(dir + "/cluster.yaml", dir + "/cluster.log");
  zmq::context_t ctx;
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo, 50);
  sub.set(zmq::sockopt::subscribe, "metrics");
  sub.set(zmq::sockopt::subscribe, "decision");
  sub.connect(xpub);
  node_agent.Start(dir + "/node.yaml", dir + "/node.log");

  // The pod runs in real time so the collector's wall-clock windows match its counters.
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> rates;
  int replicas = -1;
  while (elapsed() < 30 && (rates.size() < 8 || replicas < 2)) {
    pod.AdvanceTo(elapsed());
    std::vector<zmq::message_t> f;
    if (!zmq::recv_multipart(sub, std::back_inserter(f))) continue;
    ASSERT_EQ(f.size(), 3u);
    bus::Header h;
    bus::DecodeError err;
    ASSERT_TRUE(bus::DecodeHeader(f[1].data(), f[1].size(), &h, &err)) << err.detail;
    if (f[0].to_string() == "metrics") {
      bus::Metrics m;
      ASSERT_TRUE(bus::DecodeMetrics(f[2].data(), f[2].size(), &m, &err)) << err.detail;
      EXPECT_EQ(h.source, "node-1");
      EXPECT_EQ(m.model, "llama-3-8b");
      EXPECT_EQ(m.variant, "h100-tp1");
      EXPECT_EQ(m.replicas_ready, 1);
      if (std::isfinite(m.arrival_rate_rps)) rates.push_back(m.arrival_rate_rps);
    } else if (!rates.empty()) {  // a decision made after the node's metrics arrived
      json d = json::from_msgpack(static_cast<const uint8_t*>(f[2].data()),
                                  static_cast<const uint8_t*>(f[2].data()) + f[2].size());
      for (const auto& a : d.value("allocation", json::array()))
        if (a.value("model", "") == "llama-3-8b" && a.value("variant", "") == "h100-tp1")
          replicas = a.value("replicas", -1);
    }
  }
  ASSERT_GE(rates.size(), 8u) << "cluster agent:\n" << cluster_agent.Log() << "\nnode agent:\n"
                              << node_agent.Log();
  EXPECT_GT(pod.http().scrapes(), 8u);
  // Windows of 0.25 s hold ~2 Poisson arrivals each; their mean is near the pod's rate.
  double sum = 0;
  for (double r : rates) sum += r;
  const double mean = sum / static_cast<double>(rates.size());
  EXPECT_GT(mean, kRate * 0.4) << "derived rates average " << mean;
  EXPECT_LT(mean, kRate * 2.0) << "derived rates average " << mean;
  EXPECT_GE(replicas, 2) << "no decision on the node's metrics; cluster agent:\n"
                         << cluster_agent.Log();
  std::cout << rates.size() << " metrics messages from the node agent, mean arrival " << mean
            << " rps (pod: " << kRate << "), decided replicas " << replicas << "\n";
  if (!HasFailure()) std::system(("rm -rf " + dir).c_str());
}

}  // namespace
