// variant-actuate, the CLI, against the contract server.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

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
