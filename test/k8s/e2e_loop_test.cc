// End to end on loopback: vLLM-shaped /metrics pods -> VllmSource (collector) -> bus
// -> variant-agent (real binary, real libvariant) -> decision + plan on the bus ->
// Follower (direct actuator) -> the HTTPS contract server. The PATCHes that arrive
// must be the agent's plan steps, in order, with the decided replicas.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/protocol.h"
#include "fake_apiserver.h"
#include "loopback_server.h"
#include "variant/actuator/follow.h"
#include "variant/collector/vllm_source.h"

namespace {

using json = nlohmann::json;
using namespace variant;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(COLLECTOR_FIXTURES) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A loopback port that was free a moment ago (bound without listen, then closed).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class InstantClock : public actuator::Clock {
 public:
  double Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return t_;
  }
  void Sleep(double s) override {
    std::lock_guard<std::mutex> l(mu_);
    t_ += s;
  }

 private:
  std::mutex mu_;
  double t_ = 0;
};

struct AgentProcess {
  pid_t pid = -1;
  void Start(const std::string& config, const std::string& log) {
    pid = fork();
    if (pid == 0) {
      FILE* f = freopen(log.c_str(), "w", stdout);
      (void)f;
      dup2(fileno(stdout), 2);
      // VARIANT_AGENT in the environment overrides the binary of this build.
      const char* bin = std::getenv("VARIANT_AGENT") ? std::getenv("VARIANT_AGENT") : VARIANT_AGENT;
      execl(bin, bin, "--config", config.c_str(), "--log-level", "debug",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~AgentProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int st;
      waitpid(pid, &st, 0);
    }
  }
};

TEST(E2ELoop, CollectorAgentActuatorPatchesFollowThePlan) {
  actuator::testing::TestPki pki = actuator::testing::TestPki::Create();
  std::ofstream(pki.dir + "/token") << "e2e-token\n";
  actuator::testing::FakeApiServer api(pki, "e2e-token");
  api.AddObject("deployments", "llm", "llama-3-8b-h100-tp1", 0);
  api.AddObject("deployments", "llm", "llama-3-8b-a100-tp1", 0);

  // The agent, on free loopback ports, deciding with libvariant's optimizer.
  int xsub = FreePort(), xpub = FreePort();
  json cfg = {
      {"mode", "cluster"},
      {"source", "e2e-agent"},
      {"bus", {{"xsub", "tcp://127.0.0.1:" + std::to_string(xsub)},
               {"xpub", "tcp://127.0.0.1:" + std::to_string(xpub)},
               {"heartbeat_s", 0.5},
               {"stale_after_s", 30}}},
      {"solve", {{"threshold", 0.05}, {"debounce_ms", 5}, {"max_staleness_s", 60}}},
      {"problem",
       {{"schema_version", 1},
        {"accelerators", {{{"name", "h100"}, {"count", 16}}, {{"name", "a100"}, {"count", 16}}}},
        {"classes", {{{"name", "interactive"}, {"priority", 10},
                      {"slo", {{"ttft_p95_ms", 1000}, {"itl_p95_ms", 60}}}}}},
        {"models", {{{"name", "llama-3-8b"},
                     {"variants", {{{"name", "h100-tp1"}, {"accelerator", "h100"}, {"tp", 1}},
                                   {{"name", "a100-tp1"}, {"accelerator", "a100"}, {"tp", 1}}}}}}}}}};
  std::string cfg_path = pki.dir + "/agent.yaml";
  std::ofstream(cfg_path) << cfg.dump();  // JSON is YAML
  AgentProcess agent;
  agent.Start(cfg_path, pki.dir + "/agent.log");

  // What the agent publishes, recorded independently of the actuator.
  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "decision");
  sub.set(zmq::sockopt::subscribe, "plan");
  sub.connect("tcp://127.0.0.1:" + std::to_string(xpub));
  std::map<int64_t, json> decisions, plans;
  auto drain = [&] {
    std::vector<zmq::message_t> f;
    while (zmq::recv_multipart(sub, std::back_inserter(f), zmq::recv_flags::dontwait)) {
      if (f.size() == 3) {
        json body = json::from_msgpack(static_cast<const uint8_t*>(f[2].data()),
                                       static_cast<const uint8_t*>(f[2].data()) + f[2].size());
        int64_t id = body.value("decision_id", int64_t{-1});
        (f[0].to_string() == "plan" ? plans : decisions)[id] = body;
      }
      f.clear();
    }
  };

  // The direct actuator following the agent.
  actuator::Config acfg;
  acfg.host = "127.0.0.1";
  acfg.port = api.port();
  acfg.token_path = pki.dir + "/token";
  acfg.ca_path = pki.ca_crt;
  InstantClock clock;
  actuator::Actuator act(acfg, &clock);
  actuator::WorkloadMap workloads = {
      {{"llama-3-8b", "h100-tp1"}, {actuator::WorkloadKind::kDeployment, "llm", "llama-3-8b-h100-tp1"}},
      {{"llama-3-8b", "a100-tp1"}, {actuator::WorkloadKind::kDeployment, "llm", "llama-3-8b-a100-tp1"}}};
  std::mutex mu;
  std::vector<actuator::PlanReport> reports;
  actuator::Follower follower("tcp://127.0.0.1:" + std::to_string(xpub), workloads, &act,
                              [&](const actuator::PlanReport& r) {
                                std::lock_guard<std::mutex> l(mu);
                                reports.push_back(r);
                              });
  follower.Start();

  // Two vLLM pods of variant h100-tp1, and the collector publishing what it derives.
  collector::testing::LoopbackServer pod_a, pod_b;
  pod_a.Serve(Fixture("vllm_v1_t100.txt"));
  pod_b.Serve(Fixture("vllm_v1_t100.txt"));
  collector::VllmSource source({{pod_a.url(), "pod-a", "h100-tp1", "interactive"},
                               {pod_b.url(), "pod-b", "h100-tp1", "interactive"}});
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.connect("tcp://127.0.0.1:" + std::to_string(xsub));
  uint64_t seq = 0;
  auto publish = [&](const std::vector<bus::Metrics>& ms) {
    for (const bus::Metrics& m : ms) {
      if (m.model != "llama-3-8b") continue;  // the fixture's other model is not configured
      bus::Header h;
      h.source = "e2e-collector";
      h.sequence = ++seq;
      h.timestamp = 1.7e9 + static_cast<double>(seq);
      std::string hb = bus::EncodeHeader(h), body = bus::EncodeMetrics(m);
      pub.send(zmq::buffer(std::string_view(bus::kTopicMetrics)), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(body), zmq::send_flags::none);
    }
  };
  std::vector<bus::Metrics> ms;
  std::string err;
  ASSERT_TRUE(source.Collect(100, &ms, &err)) << err;
  pod_a.Serve(Fixture("vllm_v1_t110.txt"));
  pod_b.Serve(Fixture("vllm_v1_t110.txt"));
  ASSERT_TRUE(source.Collect(110, &ms, &err)) << err;
  ASSERT_FALSE(ms.empty());
  // Publish until the actuator has executed `want` plans with steps (bounded: ~30 s).
  auto run_until = [&](size_t want) {
    for (int i = 0; i < 300; ++i) {
      publish(ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      drain();
      std::lock_guard<std::mutex> l(mu);
      size_t with_steps = 0;
      for (const auto& r : reports) with_steps += r.steps.empty() ? 0 : 1;
      if (with_steps >= want) return true;
    }
    return false;
  };
  bool done = run_until(1);
  if (done) {
    // A hundredfold rise in traffic: 2,000 more completions in the next 10 s.
    std::string t120 = Fixture("vllm_v1_t110.txt");
    const std::string from = "finished_reason=\"stop\",model_name=\"llama-3-8b\"} 30.0";
    size_t at = t120.find(from);
    ASSERT_NE(at, std::string::npos);
    t120.replace(at, from.size(), "finished_reason=\"stop\",model_name=\"llama-3-8b\"} 2030.0");
    pod_a.Serve(t120);
    pod_b.Serve(t120);
    ASSERT_TRUE(source.Collect(120, &ms, &err)) << err;
    done = run_until(2);
  }
  follower.Stop();
  drain();
  if (!done) {
    std::ifstream lf(pki.dir + "/agent.log");
    std::stringstream log;
    log << lf.rdbuf();
    FAIL() << "no plan with steps executed; the agent's log:\n" << log.str();
  }

  // Replay the agent's own messages for each executed decision: the PATCHes must be
  // exactly those plans' steps, in order.
  std::vector<std::pair<std::string, int>> expected;
  for (const auto& r : reports) {
    EXPECT_TRUE(r.complete) << actuator::ReportToJson(r);
    int64_t id = std::stoll(r.plan_id.substr(std::string("decision-").size()));
    ASSERT_TRUE(decisions.count(id) && plans.count(id)) << "decision " << id << " not seen";
    actuator::Plan p;
    std::vector<std::string> skipped;
    ASSERT_TRUE(actuator::PlanFromDecision(decisions[id], plans[id], workloads, &p, &skipped, &err))
        << err;
    for (const auto& s : p.steps) expected.push_back({s.name, s.replicas});
  }
  std::vector<std::pair<std::string, int>> patched;
  for (const auto& rec : api.Log()) {
    if (rec.method != "PATCH") continue;
    std::string name = rec.path.substr(rec.path.find("/deployments/") + 13);
    name = name.substr(0, name.find('/'));
    patched.push_back({name, json::parse(rec.body)["spec"]["replicas"].get<int>()});
  }
  // A step already at its target is not patched; all others are, in order.
  std::vector<std::pair<std::string, int>> expected_patched;
  std::map<std::string, int> state = {{"llama-3-8b-h100-tp1", 0}, {"llama-3-8b-a100-tp1", 0}};
  for (const auto& [name, n] : expected) {
    if (state[name] != n) expected_patched.push_back({name, n});
    state[name] = n;
  }
  EXPECT_EQ(patched, expected_patched);
  EXPECT_FALSE(patched.empty());
  EXPECT_GT(api.Object("deployments", "llm", "llama-3-8b-h100-tp1").spec +
                api.Object("deployments", "llm", "llama-3-8b-a100-tp1").spec,
            0);
  EXPECT_TRUE(api.Violations().empty());
  std::cout << "e2e: " << reports.size() << " plan(s) executed, PATCHes:";
  for (const auto& [name, n] : patched) std::cout << " " << name << "=" << n;
  std::cout << std::endl;
  if (!HasFailure()) std::system(("rm -rf " + pki.dir).c_str());
}

}  // namespace
