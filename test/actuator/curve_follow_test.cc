// variant-actuate --follow on a CURVE bus (docs/bus.md, "Authentication"), real
// sockets on loopback: the real agent (bus.curve with allowed_subscribers, the hpa
// plugin deciding one model), a CURVE publisher feeding it metrics, and the real
// variant-actuate binary executing plans against the HTTPS contract server
// (fake_apiserver.h). An allowlisted actuator key follows a plan (its
// PATCH arrives); an unknown key receives nothing (no report, no request) and the
// agent counts the refusal in variant_bus_auth_total{side="subscriber"}.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "bus/protocol.h"
#include "fake_apiserver.h"
#include "free_port.h"

namespace {

using json = nlohmann::json;
using variant::actuator::testing::FakeApiServer;
using variant::actuator::testing::TestPki;
using variant::collector::testing::FreePort;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct KeyPair {
  std::string pub, sec;  // z85
  static KeyPair Make() {
    char p[41], s[41];
    if (zmq_curve_keypair(p, s) != 0) {
      ADD_FAILURE() << "zmq_curve_keypair: " << zmq_strerror(zmq_errno());
      return {};
    }
    return {p, s};
  }
};

bool WaitUntil(const std::function<bool()>& pred, double timeout_s) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// A child process with stdout and stderr in files.
struct Child {
  pid_t pid = -1;
  std::string out, err;
  int status = -1;  // exit code once reaped; -1 while running or if killed by a signal
  void Start(const std::vector<std::string>& argv, const std::string& out_path,
             const std::string& err_path) {
    out = out_path;
    err = err_path;
    pid = fork();
    if (pid == 0) {
      int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = err_path == out_path ? o : open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  bool Running() {
    if (pid <= 0) return false;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      pid = -1;
      return false;
    }
    return true;
  }
  // Waits up to timeout_s for the exit; false (and the child killed) if it did not.
  bool Wait(double timeout_s) {
    if (WaitUntil([this] { return !Running(); }, timeout_s)) return true;
    Stop();
    return false;
  }
  // SIGTERM, then reaps; returns the exit code.
  int Stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      if (!WaitUntil([this] { return !Running(); }, 10)) {
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        pid = -1;
      }
    }
    return status;
  }
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      int st;
      waitpid(pid, &st, 0);
    }
  }
};

class CurveFollow : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = TestPki::Create();
    dir_ = pki_.dir;
    std::ofstream(dir_ + "/token") << "curve-token\n";
    api_ = std::make_unique<FakeApiServer>(pki_, "curve-token");
    api_->AddObject("deployments", "llm", "llama-h100", 2);
    std::ofstream(dir_ + "/workloads.json")
        << R"([{"model":"llama","variant":"h100-tp1","namespace":"llm","name":"llama-h100"}])";

    server_ = KeyPair::Make();
    publisher_ = KeyPair::Make();
    actuator_ = KeyPair::Make();
    observer_ = KeyPair::Make();
    unknown_ = KeyPair::Make();
    // The allowed actuator's keys as files, as the chart mounts them: its certificate
    // (as zmq.auth / curve_keygen write it: serves as both of its own keys) and the
    // agent's bare public key.
    std::ofstream(dir_ + "/actuator.key_secret")
        << "#   ZeroMQ CURVE **Secret** Certificate\ncurve\n    public-key = \"" << actuator_.pub
        << "\"\n    secret-key = \"" << actuator_.sec << "\"\n";
    std::ofstream(dir_ + "/server.key") << server_.pub << "\n";

    xsub_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
    xpub_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
    metrics_port_ = FreePort();
    json cfg = {
        {"mode", "cluster"},
        {"source", "curve-agent"},
        {"bus",
         {{"xsub", xsub_},
          {"xpub", xpub_},
          {"heartbeat_s", 0.5},
          {"stale_after_s", 30},
          {"curve",
           {{"secret_key", server_.sec},
            {"public_key", server_.pub},
            {"allowed_publishers", {publisher_.pub}},
            {"allowed_subscribers", {actuator_.pub, observer_.pub}}}}}},
        {"metrics_listen", "127.0.0.1:" + std::to_string(metrics_port_)},
        {"state_file", dir_ + "/state.msgpack"},
        {"solve", {{"threshold", 0.05}, {"debounce_ms", 5}, {"max_staleness_s", 0.5}}},
        {"problem",
         {{"schema_version", 1},
          {"accelerators", {{{"name", "h100"}, {"cost_per_hour", 4.0}, {"count", 64}}}},
          {"classes", {{{"name", "chat"}, {"slo", {{"ttft_p95_ms", 2000}, {"itl_p95_ms", 80}}}}}},
          {"models",
           {{{"name", "llama"},
             {"variants",
              {{{"name", "h100-tp1"}, {"accelerator", "h100"}, {"tp", 1}, {"max_batch", 64},
                {"capacity_rps", 5.0}}}}}}},
          {"options", {{"stability", false}}}}},
        {"policies",
         {{"llama", {{"policy", "hpa"}, {"params", {{"target", 8}, {"metric", "running_waiting"}}}}}}}};
    std::ofstream(dir_ + "/agent.yaml") << cfg.dump();  // JSON is YAML
    const char* bin = std::getenv("VARIANT_AGENT") ? std::getenv("VARIANT_AGENT") : VARIANT_AGENT;
    agent_.Start({bin, "--config", dir_ + "/agent.yaml", "--log-level", "debug"},
                 dir_ + "/agent.log", dir_ + "/agent.log");
    ASSERT_TRUE(WaitUntil([&] { return Scrape() != nullptr || !agent_.Running(); }, 15))
        << AgentLog();
    ASSERT_TRUE(agent_.Running()) << AgentLog();

    // An allowed publisher: 40 running + 8 waiting on 2 ready replicas, hpa target 8
    // -> 6 replicas; every decision's plan adds 4 to the 2 reported ready.
    publishing_ = true;
    pub_thread_ = std::thread([this] {
      zmq::socket_t pub(ctx_, zmq::socket_type::pub);
      pub.set(zmq::sockopt::linger, 0);
      pub.set(zmq::sockopt::curve_secretkey, publisher_.sec);
      pub.set(zmq::sockopt::curve_publickey, publisher_.pub);
      pub.set(zmq::sockopt::curve_serverkey, server_.pub);
      pub.connect(xsub_);
      uint64_t seq = 0;
      while (publishing_) {
        bus::Metrics m;
        m.model = "llama";
        m.variant = "h100-tp1";
        m.running = 40;
        m.waiting = 8;
        m.replicas_ready = 2;
        bus::Header h;
        h.source = "curve-collector";
        h.sequence = ++seq;
        h.timestamp = 1.7e9 + static_cast<double>(seq);
        std::string hb = bus::EncodeHeader(h), body = bus::EncodeMetrics(m);
        pub.send(zmq::buffer(std::string_view(bus::kTopicMetrics)), zmq::send_flags::sndmore);
        pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
        pub.send(zmq::buffer(body), zmq::send_flags::none);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }

  void TearDown() override {
    publishing_ = false;
    if (pub_thread_.joinable()) pub_thread_.join();
    int rc = agent_.Stop();
    EXPECT_EQ(rc, 0) << "the agent did not exit cleanly:\n" << AgentLog();
    if (!HasFailure()) std::system(("rm -rf " + dir_).c_str());
  }

  std::string AgentLog() {
    std::string log = ReadAll(dir_ + "/agent.log");
    return log.size() > 6000 ? log.substr(log.size() - 6000) : log;
  }

  // The agent's /metrics, or nullptr while it does not answer.
  std::unique_ptr<std::string> Scrape() {
    httplib::Client c("127.0.0.1", metrics_port_);
    c.set_connection_timeout(1);
    auto r = c.Get("/metrics");
    if (!r || r->status != 200) return nullptr;
    return std::make_unique<std::string>(r->body);
  }

  // variant_bus_auth_total{side=..., result=...} (0 when absent).
  double AuthTotal(const std::string& side, const std::string& result) {
    auto body = Scrape();
    if (!body) return -1;
    std::istringstream in(*body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("variant_bus_auth_total{", 0) != 0) continue;
      if (line.find("side=\"" + side + "\"") == std::string::npos ||
          line.find("result=\"" + result + "\"") == std::string::npos)
        continue;
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    return 0;
  }

  // Waits (bounded) until an allowed subscriber of our own sees a plan with steps:
  // plans are flowing, whatever an actuator then receives or not.
  bool PlansFlow() {
    zmq::socket_t sub(ctx_, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::curve_secretkey, observer_.sec);
    sub.set(zmq::sockopt::curve_publickey, observer_.pub);
    sub.set(zmq::sockopt::curve_serverkey, server_.pub);
    sub.set(zmq::sockopt::subscribe, std::string(bus::kTopicPlan));
    sub.connect(xpub_);
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> f;
      if (!zmq::recv_multipart(sub, std::back_inserter(f)) || f.size() != 3) continue;
      json body = json::from_msgpack(static_cast<const uint8_t*>(f[2].data()),
                                     static_cast<const uint8_t*>(f[2].data()) + f[2].size());
      if (body.contains("steps") && !body["steps"].empty()) return true;
    }
    return false;
  }

  std::vector<std::string> ActuateArgs() {
    return {VARIANT_ACTUATE, "--follow", xpub_, "--workloads", dir_ + "/workloads.json",
            "--max-plans", "1", "--server", "127.0.0.1:" + std::to_string(api_->port()),
            "--token-file", dir_ + "/token", "--ca-file", pki_.ca_crt, "--poll-interval", "0.01"};
  }

  size_t Patches() {
    size_t n = 0;
    for (const auto& r : api_->Log()) n += r.method == "PATCH" ? 1 : 0;
    return n;
  }

  TestPki pki_;
  std::string dir_, xsub_, xpub_;
  int metrics_port_ = 0;
  std::unique_ptr<FakeApiServer> api_;
  KeyPair server_, publisher_, actuator_, observer_, unknown_;
  Child agent_;
  zmq::context_t ctx_{1};
  std::atomic<bool> publishing_{false};
  std::thread pub_thread_;
};

TEST_F(CurveFollow, AnAllowlistedActuatorFollowsAPlan) {
  ASSERT_TRUE(PlansFlow()) << "no plan with steps on the bus; the agent's log:\n" << AgentLog();
  std::vector<std::string> args = ActuateArgs();
  for (std::string a : {"--curve-secret-key", "@sec", "--curve-public-key", "@sec",
                        "--curve-server-key", "@server"}) {
    args.push_back(a == "@sec" ? dir_ + "/actuator.key_secret"
                   : a == "@server" ? dir_ + "/server.key" : a);
  }
  Child act;
  act.Start(args, dir_ + "/actuate.out", dir_ + "/actuate.err");
  ASSERT_TRUE(act.Wait(60)) << "the actuator executed no plan in 60 s; its stderr:\n"
                            << ReadAll(dir_ + "/actuate.err") << "\nthe agent's log:\n"
                            << AgentLog();
  std::string out = ReadAll(dir_ + "/actuate.out");
  ASSERT_EQ(act.status, 0) << out << ReadAll(dir_ + "/actuate.err");
  json rep = json::parse(out.substr(0, out.find('\n')));
  EXPECT_EQ(rep["plan_id"].get<std::string>().rfind("decision-", 0), 0u) << out;
  EXPECT_TRUE(rep["complete"].get<bool>()) << out;
  ASSERT_EQ(rep["steps"].size(), 1u) << out;
  EXPECT_EQ(rep["steps"][0]["state"], "done") << out;
  EXPECT_EQ(api_->Object("deployments", "llm", "llama-h100").spec, 6);
  EXPECT_EQ(Patches(), 1u);
  EXPECT_TRUE(api_->Violations().empty());
  EXPECT_GE(AuthTotal("subscriber", "accepted"), 2);  // the observer and the actuator
  EXPECT_EQ(AuthTotal("subscriber", "refused"), 0);
}

TEST_F(CurveFollow, AnUnknownKeyReceivesNothing) {
  ASSERT_TRUE(PlansFlow()) << "no plan with steps on the bus; the agent's log:\n" << AgentLog();
  std::vector<std::string> args = ActuateArgs();
  for (const std::string& a : {std::string("--curve-secret-key"), unknown_.sec,
                               std::string("--curve-public-key"), unknown_.pub,
                               std::string("--curve-server-key"), server_.pub})
    args.push_back(a);
  Child act;
  act.Start(args, dir_ + "/actuate.out", dir_ + "/actuate.err");
  ASSERT_TRUE(WaitUntil([&] { return AuthTotal("subscriber", "refused") >= 1; }, 30))
      << "the agent counted no refused subscriber; the agent's log:\n" << AgentLog();
  // Plans keep coming (every max_staleness_s, and at once to a new subscriber from the
  // late-joiner cache); the actuator keeps running and executes none of them.
  ASSERT_TRUE(PlansFlow());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(act.Running()) << "the actuator exited: " << ReadAll(dir_ + "/actuate.out");
  EXPECT_EQ(act.Stop(), 0) << ReadAll(dir_ + "/actuate.err");  // SIGTERM: no plan failed
  EXPECT_EQ(ReadAll(dir_ + "/actuate.out"), "");
  EXPECT_EQ(Patches(), 0u);
  EXPECT_TRUE(api_->Log().empty()) << "the refused actuator reached the API server";
  EXPECT_EQ(api_->Object("deployments", "llm", "llama-h100").spec, 2);
  EXPECT_NE(AgentLog().find("refused a subscriber with CURVE key " + unknown_.pub),
            std::string::npos);
}

// The options' checks, before anything connects: exit 2 with a message.
TEST(CurveFollowOptions, KeysGoTogetherAndMustBeKeys) {
  TestPki pki = TestPki::Create();  // only for its temp directory
  std::ofstream(pki.dir + "/workloads.json") << "[]";
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {VARIANT_ACTUATE, "--follow", "tcp://127.0.0.1:1",
                                     "--workloads", pki.dir + "/workloads.json",
                                     "--server", "127.0.0.1:1"};
    args.insert(args.end(), extra.begin(), extra.end());
    Child c;
    c.Start(args, pki.dir + "/out", pki.dir + "/out");
    EXPECT_TRUE(c.Wait(30)) << "still running";
    return std::make_pair(c.status, ReadAll(pki.dir + "/out"));
  };
  KeyPair k = KeyPair::Make();
  auto [rc, out] = run({"--curve-secret-key", k.sec});
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--curve-secret-key, --curve-public-key and --curve-server-key go together"),
            std::string::npos)
      << out;
  std::tie(rc, out) = run({"--curve-secret-key", k.sec, "--curve-public-key", k.pub,
                           "--curve-server-key", pki.dir + "/no-such-key"});
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("--curve-server-key"), std::string::npos) << out;
  std::system(("rm -rf " + pki.dir).c_str());
}

}  // namespace
