// End to end on loopback: vLLM-shaped /metrics pods -> collector (VllmSource scraping
// the pods, or PrometheusSource through a real Prometheus) -> bus -> variant-agent
// (real binary, real libvariant) -> decision + plan on the bus -> Follower (direct
// actuator) -> the HTTPS contract server. The PATCHes that arrive must be the agent's
// plan steps, in order, with the decided replicas.
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
#include "sim_pods.h"
#include "variant/actuator/follow.h"
#include "test_servers.h"
#include "variant/collector/prometheus_source.h"
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

using collector::testing::FreePort;

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

class E2ELoop : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = actuator::testing::TestPki::Create();
    std::ofstream(pki_.dir + "/token") << "e2e-token\n";
    api_ = std::make_unique<actuator::testing::FakeApiServer>(pki_, "e2e-token");
    api_->AddObject("deployments", "llm", "llama-3-8b-h100-tp1", 0);
    api_->AddObject("deployments", "llm", "llama-3-8b-a100-tp1", 0);

    // The agent, on free loopback ports, deciding with libvariant's optimizer.
    int xsub = FreePort();
    xpub_ = FreePort();
    xsub_endpoint_ = "tcp://127.0.0.1:" + std::to_string(xsub);
    json cfg = {
        {"mode", "cluster"},
        {"source", "e2e-agent"},
        {"bus", {{"xsub", xsub_endpoint_},
                 {"xpub", "tcp://127.0.0.1:" + std::to_string(xpub_)},
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
    std::string cfg_path = pki_.dir + "/agent.yaml";
    std::ofstream(cfg_path) << cfg.dump();  // JSON is YAML
    agent_.Start(cfg_path, pki_.dir + "/agent.log");

    // What the agent publishes, recorded independently of the actuator.
    sub_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::sub);
    sub_->set(zmq::sockopt::linger, 0);
    sub_->set(zmq::sockopt::subscribe, "decision");
    sub_->set(zmq::sockopt::subscribe, "plan");
    sub_->connect("tcp://127.0.0.1:" + std::to_string(xpub_));
    pub_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pub);
    pub_->set(zmq::sockopt::linger, 0);
    pub_->connect(xsub_endpoint_);

    // The direct actuator following the agent.
    actuator::Config acfg;
    acfg.host = "127.0.0.1";
    acfg.port = api_->port();
    acfg.token_path = pki_.dir + "/token";
    acfg.ca_path = pki_.ca_crt;
    acfg.max_attempts = acfg_max_attempts_;
    act_ = std::make_unique<actuator::Actuator>(acfg, &clock_);
    workloads_ = {
        {{"llama-3-8b", "h100-tp1"}, {actuator::WorkloadKind::kDeployment, "llm", "llama-3-8b-h100-tp1"}},
        {{"llama-3-8b", "a100-tp1"}, {actuator::WorkloadKind::kDeployment, "llm", "llama-3-8b-a100-tp1"}}};
    follower_ = std::make_unique<actuator::Follower>(
        "tcp://127.0.0.1:" + std::to_string(xpub_), workloads_, act_.get(),
        [this](const actuator::PlanReport& r) {
          std::lock_guard<std::mutex> l(mu_);
          reports_.push_back(r);
        });
    follower_->Start();
  }

  void TearDown() override {
    follower_.reset();
    if (!HasFailure()) std::system(("rm -rf " + pki_.dir).c_str());
  }

  void Drain() {
    std::vector<zmq::message_t> f;
    while (zmq::recv_multipart(*sub_, std::back_inserter(f), zmq::recv_flags::dontwait)) {
      if (f.size() == 3) {
        json body = json::from_msgpack(static_cast<const uint8_t*>(f[2].data()),
                                       static_cast<const uint8_t*>(f[2].data()) + f[2].size());
        int64_t id = body.value("decision_id", int64_t{-1});
        (f[0].to_string() == "plan" ? plans_ : decisions_)[id] = body;
      }
      f.clear();
    }
  }

  void Publish(const std::vector<bus::Metrics>& ms) {
    for (const bus::Metrics& m : ms) {
      if (m.model != "llama-3-8b") continue;  // the fixture's other model is not configured
      bus::Header h;
      h.source = "e2e-collector";
      h.sequence = ++seq_;
      h.timestamp = 1.7e9 + static_cast<double>(seq_);
      std::string hb = bus::EncodeHeader(h), body = bus::EncodeMetrics(m);
      pub_->send(zmq::buffer(std::string_view(bus::kTopicMetrics)), zmq::send_flags::sndmore);
      pub_->send(zmq::buffer(hb), zmq::send_flags::sndmore);
      pub_->send(zmq::buffer(body), zmq::send_flags::none);
    }
  }

  // Publishes ms (re-collected by `collect`, if given, each round) until the actuator
  // has executed `want` plans with steps (bounded: ~30 s).
  bool RunUntil(size_t want, std::vector<bus::Metrics>* ms,
                const std::function<void()>& collect = nullptr) {
    for (int i = 0; i < 300; ++i) {
      if (collect) collect();
      Publish(*ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      Drain();
      if (PlansWithSteps() >= want) return true;
    }
    return false;
  }

  // Simulated pods of h100-tp1 scraped by `source` at virtual 30 and 60 s until a plan
  // is executed, then at `high_rps` each, scraped at 90 and 120 s until a second one.
  void SimulatedRise(const std::vector<sim::testing::SimPod*>& pods,
                     collector::VllmSource* source, double high_rps) {
    std::vector<bus::Metrics> ms;
    std::string err;
    auto collect_at = [&](double t) {
      for (auto* p : pods) p->AdvanceTo(t);
      ASSERT_TRUE(source->Collect(t, &ms, &err)) << err;
    };
    collect_at(30);
    collect_at(60);
    ASSERT_TRUE(RunUntil(1, &ms)) << "no plan executed; the agent's log:\n" << AgentLog();
    for (auto* p : pods) p->SetRate(high_rps);
    collect_at(90);
    collect_at(120);
    std::cout << "simulated pods: " << ms[0].arrival_rate_rps << " rps derived after the rise\n";
    ASSERT_TRUE(RunUntil(2, &ms)) << "no second plan; the agent's log:\n" << AgentLog();
  }

  size_t PlansWithSteps() {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = 0;
    for (const auto& r : reports_) n += r.steps.empty() ? 0 : 1;
    return n;
  }

  std::string AgentLog() {
    std::ifstream lf(pki_.dir + "/agent.log");
    std::stringstream log;
    log << lf.rdbuf();
    return log.str();
  }

  // The PATCHes that arrived are exactly the executed plans' steps, in order (a step
  // already at its target is not patched).
  void ExpectPatchesFollowThePlans() {
    follower_->Stop();
    Drain();
    std::vector<std::pair<std::string, int>> expected;
    std::string err;
    for (const auto& r : reports_) {
      EXPECT_TRUE(r.complete) << actuator::ReportToJson(r);
      int64_t id = std::stoll(r.plan_id.substr(std::string("decision-").size()));
      ASSERT_TRUE(decisions_.count(id) && plans_.count(id)) << "decision " << id << " not seen";
      actuator::Plan p;
      std::vector<std::string> skipped;
      ASSERT_TRUE(actuator::PlanFromDecision(decisions_[id], plans_[id], workloads_, &p, &skipped, &err))
          << err;
      for (const auto& s : p.steps) expected.push_back({s.name, s.replicas});
    }
    std::vector<std::pair<std::string, int>> patched;
    for (const auto& rec : api_->Log()) {
      if (rec.method != "PATCH") continue;
      std::string name = rec.path.substr(rec.path.find("/deployments/") + 13);
      name = name.substr(0, name.find('/'));
      patched.push_back({name, json::parse(rec.body)["spec"]["replicas"].get<int>()});
    }
    std::vector<std::pair<std::string, int>> expected_patched;
    std::map<std::string, int> state = {{"llama-3-8b-h100-tp1", 0}, {"llama-3-8b-a100-tp1", 0}};
    for (const auto& [name, n] : expected) {
      if (state[name] != n) expected_patched.push_back({name, n});
      state[name] = n;
    }
    EXPECT_EQ(patched, expected_patched);
    EXPECT_FALSE(patched.empty());
    EXPECT_TRUE(api_->Violations().empty());
    std::cout << "e2e: " << reports_.size() << " plan(s) executed, PATCHes:";
    for (const auto& [name, n] : patched) std::cout << " " << name << "=" << n;
    std::cout << std::endl;
  }

  actuator::testing::TestPki pki_;
  std::unique_ptr<actuator::testing::FakeApiServer> api_;
  AgentProcess agent_;
  int xpub_ = 0;
  std::string xsub_endpoint_;
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> sub_, pub_;
  std::map<int64_t, json> decisions_, plans_;
  InstantClock clock_;
  const int acfg_max_attempts_ = 4;
  std::unique_ptr<actuator::Actuator> act_;
  actuator::WorkloadMap workloads_;
  std::mutex mu_;
  std::vector<actuator::PlanReport> reports_;
  std::unique_ptr<actuator::Follower> follower_;
  uint64_t seq_ = 0;
};

TEST_F(E2ELoop, ScrapingPods) {
  // Two vLLM pods of variant h100-tp1, and the collector publishing what it derives.
  collector::testing::LoopbackServer pod_a, pod_b;
  pod_a.Serve(Fixture("vllm_v1_t100.txt"));
  pod_b.Serve(Fixture("vllm_v1_t100.txt"));
  collector::VllmSource source({{pod_a.url(), "pod-a", "h100-tp1", "interactive"},
                               {pod_b.url(), "pod-b", "h100-tp1", "interactive"}});
  std::vector<bus::Metrics> ms;
  std::string err;
  ASSERT_TRUE(source.Collect(100, &ms, &err)) << err;
  pod_a.Serve(Fixture("vllm_v1_t110.txt"));
  pod_b.Serve(Fixture("vllm_v1_t110.txt"));
  ASSERT_TRUE(source.Collect(110, &ms, &err)) << err;
  ASSERT_TRUE(RunUntil(1, &ms)) << "no plan executed; the agent's log:\n" << AgentLog();
  // A hundredfold rise in traffic: 2,000 more completions in the next 10 s.
  std::string t120 = Fixture("vllm_v1_t110.txt");
  const std::string from = "finished_reason=\"stop\",model_name=\"llama-3-8b\"} 30.0";
  size_t at = t120.find(from);
  ASSERT_NE(at, std::string::npos);
  t120.replace(at, from.size(), "finished_reason=\"stop\",model_name=\"llama-3-8b\"} 2030.0");
  pod_a.Serve(t120);
  pod_b.Serve(t120);
  ASSERT_TRUE(source.Collect(120, &ms, &err)) << err;
  ASSERT_TRUE(RunUntil(2, &ms)) << "no second plan; the agent's log:\n" << AgentLog();
  ExpectPatchesFollowThePlans();
}

TEST_F(E2ELoop, ThroughPrometheus) {
  // Two pods whose counters grow with each scrape, scraped by a real Prometheus that
  // labels them variant=h100-tp1; the collector reads Prometheus' HTTP API.
  collector::testing::GrowingPod pod_a, pod_b;
  collector::testing::Prometheus prom({pod_a.port(), pod_b.port()});
  ASSERT_TRUE(prom.ready()) << prom.log();
  collector::PrometheusOptions opt;
  opt.server = {"127.0.0.1", prom.port(), ""};
  opt.window = "10s";
  collector::PrometheusSource source(opt);
  bool done = false;
  for (int i = 0; i < 300 && !done; ++i) {
    std::vector<bus::Metrics> ms;
    std::string err;
    if (source.Collect(&ms, &err)) {
      for (bus::Metrics& m : ms) m.service_class = "interactive";
      Publish(ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Drain();
    done = PlansWithSteps() >= 1;
  }
  ASSERT_TRUE(done) << "no plan executed; the agent's log:\n" << AgentLog();
  ExpectPatchesFollowThePlans();
}

// The same loop fed by the simulator's servers (bridge/sim ServerSim, continuous
// batching on the measured tables) serving vLLM's /metrics over HTTP: 2 rps per pod,
// then 60 rps per pod.
TEST_F(E2ELoop, SimulatedServers) {
  sim::testing::SimPod pod_a("llama-3-8b", "h100", 2, 800, 150, 31);
  sim::testing::SimPod pod_b("llama-3-8b", "h100", 2, 800, 150, 32);
  collector::VllmSource source({{pod_a.url(), "pod-a", "h100-tp1", "interactive"},
                               {pod_b.url(), "pod-b", "h100-tp1", "interactive"}});
  ASSERT_NO_FATAL_FAILURE(SimulatedRise({&pod_a, &pod_b}, &source, 60));
  ExpectPatchesFollowThePlans();
}

// Simulated servers (virtual clock following the wall clock) -> a real Prometheus ->
// PrometheusSource -> agent -> actuator.
TEST_F(E2ELoop, SimulatedServersThroughPrometheus) {
  sim::testing::SimPod pod_a("llama-3-8b", "h100", 10, 800, 150, 41);
  sim::testing::SimPod pod_b("llama-3-8b", "h100", 10, 800, 150, 42);
  collector::testing::Prometheus prom({pod_a.port(), pod_b.port()});
  ASSERT_TRUE(prom.ready()) << prom.log();
  collector::PrometheusOptions opt;
  opt.server = {"127.0.0.1", prom.port(), ""};
  opt.window = "10s";
  collector::PrometheusSource source(opt);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<bus::Metrics> ms;
  auto collect = [&] {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    pod_a.AdvanceTo(t);
    pod_b.AdvanceTo(t);
    std::vector<bus::Metrics> got;
    std::string err;
    if (t > 3 && source.Collect(&got, &err)) {
      for (bus::Metrics& m : got) m.service_class = "interactive";
      ms = got;
    }
  };
  ASSERT_TRUE(RunUntil(1, &ms, collect)) << "no plan executed; the agent's log:\n" << AgentLog();
  ExpectPatchesFollowThePlans();
}

// A scale endpoint that answers 500 forever: the plan's step fails after a bounded
// number of requests, the later steps stay pending and are reported, and the loop
// goes on: the next decision's plan is executed (its PATCHes arrive).
TEST_F(E2ELoop, AScaleEndpointFailingForeverBlocksNothingElse) {
  api_->AlwaysFail("/apis/apps/v1/namespaces/llm/deployments/llama-3-8b-a100-tp1/scale", 500);
  sim::testing::SimPod pod_a("llama-3-8b", "h100", 2, 800, 150, 51);
  collector::VllmSource source({{pod_a.url(), "pod-a", "h100-tp1", "interactive"}});
  ASSERT_NO_FATAL_FAILURE(SimulatedRise({&pod_a}, &source, 120));
  follower_->Stop();
  std::lock_guard<std::mutex> l(mu_);
  int failed = 0, pending_or_done = 0;
  for (const auto& r : reports_) {
    std::cout << actuator::ReportToJson(r) << "\n";
    bool seen_failure = false;
    for (const auto& st : r.steps) {
      if (st.state == actuator::StepState::kFailed) {
        ++failed;
        seen_failure = true;
        EXPECT_EQ(st.last_http_status, 500);
        EXPECT_EQ(st.attempts, acfg_max_attempts_);  // bounded
        EXPECT_NE(st.step.name.find("a100"), std::string::npos);
      } else if (seen_failure) {
        EXPECT_EQ(st.state, actuator::StepState::kPending);  // never out of order
      }
      pending_or_done += st.state == actuator::StepState::kDone ? 1 : 0;
    }
    if (seen_failure) {
      EXPECT_FALSE(r.complete);
    }
  }
  // Requests to the broken endpoint are bounded by the attempts of each failed step.
  size_t to_broken = 0;
  for (const auto& rec : api_->Log())
    to_broken += rec.path.find("a100-tp1/scale") != std::string::npos ? 1 : 0;
  EXPECT_GE(failed, 1);
  EXPECT_LE(to_broken, static_cast<size_t>(failed * acfg_max_attempts_));
  // Nothing else blocked: the other deployment was still scaled.
  size_t h100_patches = 0;
  for (const auto& rec : api_->Log())
    h100_patches += rec.method == "PATCH" && rec.path.find("h100-tp1/scale") != std::string::npos;
  EXPECT_GE(h100_patches, 1u);
  std::cout << "500 forever: " << reports_.size() << " plan(s), " << failed
            << " failed step(s), " << to_broken << " request(s) to the broken endpoint, "
            << pending_or_done << " step(s) done elsewhere\n";
}

}  // namespace
