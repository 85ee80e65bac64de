// variant-actuate, the CLI, against the contract server.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "bus/protocol.h"
#include "fake_apiserver.h"

namespace variant::actuator {
namespace {

struct CliRun {
  int status = -1;
  std::string out;
};

CliRun RunCli(const std::string& args) {
  CliRun r;
  FILE* p = popen((std::string(VARIANT_ACTUATE) + " " + args + " 2>/dev/null").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(Cli, ExecutesAPlanFileAndReportsFailureInItsExitCode) {
  testing::TestPki pki = testing::TestPki::Create();
  std::ofstream(pki.dir + "/token") << "cli-token\n";
  testing::FakeApiServer api(pki, "cli-token");
  api.AddObject("deployments", "llm", "a", 1);
  api.AddObject("leaderworkersets", "llm", "b", 0);
  std::ofstream(pki.dir + "/plan.json")
      << R"({"id":"cli","steps":[{"namespace":"llm","name":"a","replicas":2},)"
      << R"({"kind":"LeaderWorkerSet","namespace":"llm","name":"b","replicas":1}]})";
  std::string common = "--server 127.0.0.1:" + std::to_string(api.port()) + " --token-file " +
                       pki.dir + "/token --ca-file " + pki.ca_crt +
                       " --poll-interval 0.01 --ready-timeout 30";
  CliRun r = RunCli("--plan " + pki.dir + "/plan.json " + common);
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["steps"][1]["state"], "done");
  EXPECT_EQ(api.Object("leaderworkersets", "llm", "b").spec, 1);

  api.AlwaysFail("/apis/apps/v1/namespaces/llm/deployments/a/scale", 500);
  r = RunCli("--plan " + pki.dir + "/plan.json --max-attempts 2 " + common);
  EXPECT_EQ(r.status, 1) << r.out;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["steps"][0]["state"], "failed");
  EXPECT_EQ(j["steps"][0]["attempts"], 2);
  EXPECT_EQ(j["steps"][1]["state"], "pending");

  EXPECT_EQ(RunCli("--plan /nonexistent.json " + common).status, 2);
  EXPECT_EQ(RunCli("").status, 2);
  std::ofstream(pki.dir + "/bad.json") << R"({"steps":[{"namespace":"llm","name":"a"}]})";
  EXPECT_EQ(RunCli("--plan " + pki.dir + "/bad.json " + common).status, 2);
  std::system(("rm -rf " + pki.dir).c_str());
}

}  // namespace
}  // namespace variant::actuator

namespace variant::actuator {
namespace {

// --follow: the chart's sidecar mode. Publishes a decision and its plan until the CLI
// has executed one plan (--max-plans 1) and exited.
TEST(Cli, FollowsTheAgentsPlans) {
  testing::TestPki pki = testing::TestPki::Create();
  std::ofstream(pki.dir + "/token") << "cli-token\n";
  testing::FakeApiServer api(pki, "cli-token");
  api.AddObject("deployments", "llm", "llama-h100", 0);
  std::ofstream(pki.dir + "/workloads.json")
      << R"([{"model":"llama","variant":"h100-tp1","namespace":"llm","name":"llama-h100"}])";
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind("tcp://127.0.0.1:*");
  std::string endpoint = pub.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    nlohmann::json decision = {
        {"decision_id", 3},
        {"allocation", {{{"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 2}}}}};
    nlohmann::json plan = {
        {"decision_id", 3},
        {"steps", {{{"action", "add"}, {"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 2}}}}};
    uint64_t seq = 0;
    for (int i = 0; i < 600 && !stop; ++i) {
      for (auto [topic, body] : {std::pair{"decision", &decision}, std::pair{"plan", &plan}}) {
        bus::Header h;
        h.source = "cli-test";
        h.sequence = ++seq;
        h.timestamp = 1.7e9;
        std::string hb = bus::EncodeHeader(h);
        std::vector<uint8_t> mp = nlohmann::json::to_msgpack(*body);
        pub.send(zmq::buffer(std::string_view(topic)), zmq::send_flags::sndmore);
        pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
        pub.send(zmq::buffer(mp), zmq::send_flags::none);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  CliRun r = RunCli("--follow " + endpoint + " --workloads " + pki.dir +
                    "/workloads.json --max-plans 1 --server 127.0.0.1:" +
                    std::to_string(api.port()) + " --token-file " + pki.dir +
                    "/token --ca-file " + pki.ca_crt + " --poll-interval 0.01");
  stop = true;
  publisher.join();
  ASSERT_EQ(r.status, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_EQ(j["plan_id"], "decision-3");
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(api.Object("deployments", "llm", "llama-h100").spec, 2);
  EXPECT_EQ(RunCli("--follow " + endpoint).status, 2);  // no --workloads
  std::system(("rm -rf " + pki.dir).c_str());
}

}  // namespace
}  // namespace variant::actuator
