// Contract tests of the direct actuator against a local HTTPS API server
// (fake_apiserver.h) that checks every request.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "fake_apiserver.h"
#include "variant/actuator/k8s.h"

namespace variant::actuator {
namespace {

using testing::FakeApiServer;
using testing::Recorded;
using testing::TestPki;

const char* kToken = "contract-test-token.abc";

// Sleep only advances time: back-off and readiness polls cost nothing.
class FakeClock : public Clock {
 public:
  double Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  void Sleep(double s) override {
    std::lock_guard<std::mutex> l(mu_);
    now_ += s;
    sleeps_.push_back(s);
  }
  std::vector<double> sleeps() {
    std::lock_guard<std::mutex> l(mu_);
    return sleeps_;
  }

 private:
  std::mutex mu_;
  double now_ = 1000;
  std::vector<double> sleeps_;
};

class Contract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki(TestPki::Create());
    std::ofstream(pki_->dir + "/token") << kToken << "\n";
  }
  static void TearDownTestSuite() {
    if (!std::getenv("KEEP_TEST_PKI")) std::system(("rm -rf " + pki_->dir).c_str());
    delete pki_;
  }
  void SetUp() override { server_ = std::make_unique<FakeApiServer>(*pki_, kToken); }

  Config Cfg() {
    Config c;
    c.host = "127.0.0.1";
    c.port = server_->port();
    c.token_path = pki_->dir + "/token";
    c.ca_path = pki_->ca_crt;
    c.ready_timeout_s = 60;
    c.poll_interval_s = 1;
    c.request_timeout_s = 5;
    return c;
  }

  static Step Dep(const std::string& ns, const std::string& name, int n) {
    return Step{WorkloadKind::kDeployment, ns, name, n};
  }
  static Step Lws(const std::string& ns, const std::string& name, int n) {
    return Step{WorkloadKind::kLeaderWorkerSet, ns, name, n};
  }

  void ExpectNoViolations() {
    for (const std::string& v : server_->Violations()) ADD_FAILURE() << "contract violation: " << v;
  }

  static TestPki* pki_;
  std::unique_ptr<FakeApiServer> server_;
  FakeClock clock_;
};
TestPki* Contract::pki_ = nullptr;

std::vector<Recorded> Patches(const std::vector<Recorded>& log) {
  std::vector<Recorded> out;
  for (const Recorded& r : log) {
    if (r.method == "PATCH") out.push_back(r);
  }
  return out;
}

TEST_F(Contract, PlanStepsArriveInOrderWithTheRealContract) {
  server_->AddObject("deployments", "llm", "llama-h100-tp2", 1);
  server_->AddObject("leaderworkersets", "llm", "llama-405b-h100-2node", 0);
  server_->AddObject("deployments", "llm", "llama-a100-tp4", 4);
  Actuator act(Cfg(), &clock_);
  Plan plan{"plan-1",
            {Dep("llm", "llama-h100-tp2", 3), Lws("llm", "llama-405b-h100-2node", 2),
             Dep("llm", "llama-a100-tp4", 1)}};
  PlanReport rep = act.Execute(plan);
  ASSERT_TRUE(rep.complete) << ReportToJson(rep);
  for (const StepReport& s : rep.steps) EXPECT_EQ(s.state, StepState::kDone) << s.error;
  EXPECT_EQ(rep.steps[0].from_replicas, 1);
  EXPECT_EQ(rep.steps[2].from_replicas, 4);

  auto patches = Patches(server_->Log());
  ASSERT_EQ(patches.size(), 3u);
  EXPECT_EQ(patches[0].path, "/apis/apps/v1/namespaces/llm/deployments/llama-h100-tp2/scale");
  EXPECT_EQ(patches[1].path,
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/llm/leaderworkersets/"
            "llama-405b-h100-2node/scale");
  EXPECT_EQ(patches[2].path, "/apis/apps/v1/namespaces/llm/deployments/llama-a100-tp4/scale");
  int want[] = {3, 2, 1};
  for (size_t i = 0; i < patches.size(); ++i) {
    EXPECT_EQ(patches[i].content_type, "application/merge-patch+json");
    EXPECT_EQ(patches[i].authorization, std::string("Bearer ") + kToken);
    EXPECT_EQ(patches[i].accept, "application/json");
    EXPECT_FALSE(patches[i].has_dry_run);
    EXPECT_EQ(nlohmann::json::parse(patches[i].body),
              nlohmann::json({{"spec", {{"replicas", want[i]}}}}));
  }
  // Step by step: the second PATCH comes only after the first workload was polled ready.
  auto log = server_->Log();
  size_t first_patch = 0, second_patch = 0, ready_polls_between = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].method == "PATCH" && !first_patch) first_patch = i + 1;
    else if (log[i].method == "PATCH" && first_patch && !second_patch) second_patch = i + 1;
  }
  for (size_t i = first_patch; i + 1 < second_patch; ++i) {
    if (log[i].path == "/apis/apps/v1/namespaces/llm/deployments/llama-h100-tp2") {
      ++ready_polls_between;
    }
  }
  EXPECT_GE(ready_polls_between, 2u);  // the fake is ready on the 2nd poll after a PATCH
  EXPECT_EQ(server_->Object("deployments", "llm", "llama-h100-tp2").ready, 3);
  EXPECT_EQ(server_->Object("leaderworkersets", "llm", "llama-405b-h100-2node").ready, 2);
  EXPECT_EQ(server_->Object("deployments", "llm", "llama-a100-tp4").ready, 1);
  ExpectNoViolations();
}

// Every request the actuator sent in this binary's scenarios is one of the calls in
// bridge/actuator/k8s_api_calls.txt (the list the chart's RBAC is checked against).
TEST_F(Contract, EveryRequestIsInTheApiCallList) {
  std::ifstream f(K8S_API_CALLS);
  ASSERT_TRUE(f.good()) << K8S_API_CALLS;
  struct Call {
    std::string verb;
    std::regex path;
    std::string text;
    bool used = false;
  };
  std::vector<Call> calls;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string verb, group, resource, path;
    ss >> verb >> group >> resource >> path;
    std::string re = std::regex_replace(path, std::regex(R"(\{[a-z]+\})"), "[a-z0-9.-]+");
    re = std::regex_replace(re, std::regex(R"(\.x-k8s\.io)"), "\\.x-k8s\\.io");
    calls.push_back({verb, std::regex("^" + re + "$"), line});
  }
  ASSERT_EQ(calls.size(), 6u);
  server_->AddObject("deployments", "a", "d", 1);
  server_->AddObject("leaderworkersets", "a", "l", 1);
  Actuator act(Cfg(), &clock_);
  ASSERT_TRUE(act.Execute({"p", {Dep("a", "d", 2), Lws("a", "l", 3)}}).complete);
  for (const Recorded& r : server_->Log()) {
    std::string verb = r.method == "PATCH" ? "patch" : "get";
    bool found = false;
    for (Call& c : calls) {
      if (c.verb == verb && std::regex_match(r.path, c.path)) {
        c.used = true;
        found = true;
      }
    }
    EXPECT_TRUE(found) << r.method << " " << r.path << " is not in " << K8S_API_CALLS;
  }
  for (const Call& c : calls) EXPECT_TRUE(c.used) << "listed but never called: " << c.text;
}

TEST_F(Contract, DryRunChangesNothingAndDoesNotWait) {
  server_->AddObject("deployments", "llm", "d1", 2);
  server_->AddObject("deployments", "llm", "d2", 5);
  Config c = Cfg();
  c.dry_run = true;
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"dry", {Dep("llm", "d1", 4), Dep("llm", "d2", 5)}});
  ASSERT_TRUE(rep.complete) << ReportToJson(rep);
  EXPECT_EQ(rep.steps[0].state, StepState::kDryRun);
  EXPECT_EQ(rep.steps[1].state, StepState::kDryRun);
  auto patches = Patches(server_->Log());
  ASSERT_EQ(patches.size(), 2u);  // dry-run PATCHes even an unchanged step, to validate it
  for (const Recorded& p : patches) {
    EXPECT_TRUE(p.has_dry_run);
    EXPECT_EQ(p.dry_run, "All");
  }
  EXPECT_EQ(server_->Object("deployments", "llm", "d1").spec, 2);
  for (const Recorded& r : server_->Log()) {
    EXPECT_NE(r.path, "/apis/apps/v1/namespaces/llm/deployments/d1") << "polled readiness";
  }
  ExpectNoViolations();
}

TEST_F(Contract, UnchangedStepIsNotPatched) {
  server_->AddObject("deployments", "llm", "same", 3);
  Actuator act(Cfg(), &clock_);
  PlanReport rep = act.Execute({"noop", {Dep("llm", "same", 3)}});
  ASSERT_TRUE(rep.complete);
  EXPECT_TRUE(Patches(server_->Log()).empty());
}

TEST_F(Contract, RetriesConflictsThrottlingAndServerErrorsWithBackoff) {
  server_->AddObject("deployments", "llm", "d", 1);
  const std::string scale = "/apis/apps/v1/namespaces/llm/deployments/d/scale";
  server_->Script(scale, {503, 409, 429});  // the first three requests on /scale
  Config c = Cfg();
  c.backoff_initial_s = 0.5;
  c.backoff_max_s = 10;
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"r", {Dep("llm", "d", 2)}});
  ASSERT_TRUE(rep.complete) << ReportToJson(rep);
  EXPECT_EQ(server_->Object("deployments", "llm", "d").spec, 2);
  auto sleeps = clock_.sleeps();
  ASSERT_GE(sleeps.size(), 3u);
  EXPECT_DOUBLE_EQ(sleeps[0], 0.5);  // after the 503
  EXPECT_DOUBLE_EQ(sleeps[1], 1.0);  // after the 409: doubled
  EXPECT_DOUBLE_EQ(sleeps[2], 3.0);  // after the 429: Retry-After: 3 beats the 2.0 back-off
  // The 3 failures were answered to the GET; the PATCH went through at once.
  EXPECT_EQ(server_->Log().size(), 4u + 1u + 2u);  // 4 GET scale, PATCH, 2 readiness polls
  ExpectNoViolations();
}

TEST_F(Contract, ServerErrorForeverIsBoundedAndReported) {
  server_->AddObject("deployments", "llm", "broken", 1);
  server_->AddObject("deployments", "llm", "after", 1);
  const std::string scale = "/apis/apps/v1/namespaces/llm/deployments/broken/scale";
  server_->AlwaysFail(scale, 500);
  Config c = Cfg();
  c.max_attempts = 4;
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"stuck", {Dep("llm", "broken", 3), Dep("llm", "after", 0)}});
  EXPECT_FALSE(rep.complete);
  EXPECT_EQ(rep.steps[0].state, StepState::kFailed);
  EXPECT_EQ(rep.steps[0].attempts, 4);
  EXPECT_EQ(rep.steps[0].last_http_status, 500);
  EXPECT_NE(rep.steps[0].error.find("after 4 requests"), std::string::npos) << rep.steps[0].error;
  EXPECT_EQ(rep.steps[1].state, StepState::kPending);  // never run out of order
  EXPECT_EQ(server_->Log().size(), 4u);
  EXPECT_EQ(server_->Object("deployments", "llm", "after").spec, 1);
  // Back-off doubled: 0.2, 0.4, 0.8.
  auto sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  EXPECT_DOUBLE_EQ(sleeps[2], 4 * sleeps[0]);
  auto j = nlohmann::json::parse(ReportToJson(rep));
  EXPECT_EQ(j["steps"][0]["state"], "failed");
  EXPECT_EQ(j["steps"][1]["state"], "pending");
}

TEST_F(Contract, AStuckPlanBlocksNoOtherPlan) {
  server_->AddObject("deployments", "a", "broken", 1);
  server_->AddObject("deployments", "b", "fine", 1);
  server_->AlwaysFail("/apis/apps/v1/namespaces/a/deployments/broken/scale", 503);
  Actuator act(Cfg(), &clock_);
  auto stuck = act.ExecuteAsync({"stuck", {Dep("a", "broken", 2)}});
  auto fine = act.ExecuteAsync({"fine", {Dep("b", "fine", 2)}});
  PlanReport f = fine.get();
  PlanReport s = stuck.get();
  EXPECT_TRUE(f.complete) << ReportToJson(f);
  EXPECT_FALSE(s.complete);
  EXPECT_EQ(s.steps[0].state, StepState::kFailed);
  EXPECT_EQ(server_->Object("deployments", "b", "fine").spec, 2);
}

TEST_F(Contract, ClientErrorsAreNotRetried) {
  server_->AddObject("deployments", "llm", "exists", 1);
  Actuator act(Cfg(), &clock_);
  PlanReport rep = act.Execute({"x", {Dep("llm", "missing", 1)}});
  EXPECT_EQ(rep.steps[0].state, StepState::kFailed);
  EXPECT_EQ(rep.steps[0].attempts, 1);
  EXPECT_EQ(rep.steps[0].last_http_status, 404);
  EXPECT_NE(rep.steps[0].error.find("not found"), std::string::npos) << rep.steps[0].error;

  server_->Script("/apis/apps/v1/namespaces/llm/deployments/exists/scale", {403});
  rep = act.Execute({"y", {Dep("llm", "exists", 2)}});
  EXPECT_EQ(rep.steps[0].state, StepState::kFailed);
  EXPECT_EQ(rep.steps[0].last_http_status, 403);
  EXPECT_EQ(rep.steps[0].attempts, 1);
}

TEST_F(Contract, NotReadyInTimeIsTimedOutAndStopsThePlan) {
  server_->AddObject("deployments", "llm", "slow", 1);
  server_->AddObject("deployments", "llm", "next", 1);
  server_->SetNeverReady("deployments", "llm", "slow");
  Config c = Cfg();
  c.ready_timeout_s = 30;
  c.poll_interval_s = 5;
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"t", {Dep("llm", "slow", 4), Dep("llm", "next", 0)}});
  EXPECT_EQ(rep.steps[0].state, StepState::kTimedOut);
  EXPECT_EQ(rep.steps[1].state, StepState::kPending);
  EXPECT_LE(clock_.Now() - 1000, 30.0);
  EXPECT_EQ(server_->Object("deployments", "llm", "next").spec, 1);
}

TEST_F(Contract, UntrustedServerCertificateSendsNothing) {
  server_->AddObject("deployments", "llm", "d", 1);
  Config c = Cfg();
  c.ca_path = pki_->other_ca_crt;
  c.max_attempts = 2;
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"tls", {Dep("llm", "d", 2)}});
  EXPECT_EQ(rep.steps[0].state, StepState::kFailed);
  EXPECT_EQ(rep.steps[0].last_http_status, 0);
  EXPECT_TRUE(server_->Log().empty());
  EXPECT_EQ(server_->Object("deployments", "llm", "d").spec, 1);
}

TEST_F(Contract, MissingTokenSendsNothing) {
  server_->AddObject("deployments", "llm", "d", 1);
  Config c = Cfg();
  c.token_path = pki_->dir + "/no-such-token";
  Actuator act(c, &clock_);
  PlanReport rep = act.Execute({"tok", {Dep("llm", "d", 2)}});
  EXPECT_EQ(rep.steps[0].state, StepState::kFailed);
  EXPECT_NE(rep.steps[0].error.find("token"), std::string::npos);
  EXPECT_TRUE(server_->Log().empty());
}

TEST(ActuatorConfig, FromEnvironment) {
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "6443"}};
  auto get = [&](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  Config c;
  std::string err;
  ASSERT_TRUE(ConfigFromEnvironment(&c, &err, get)) << err;
  EXPECT_EQ(c.host, "10.96.0.1");
  EXPECT_EQ(c.port, 6443);
  EXPECT_EQ(c.token_path, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(c.ca_path, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  env["KUBERNETES_SERVICE_PORT"] = "http";
  EXPECT_FALSE(ConfigFromEnvironment(&c, &err, get));
  env.clear();
  EXPECT_FALSE(ConfigFromEnvironment(&c, &err, get));
  EXPECT_NE(err.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST(ActuatorPlan, ParsesAndRefuses) {
  Plan p;
  std::string err;
  ASSERT_TRUE(ParsePlanJson(
      R"({"id":"p7","steps":[{"namespace":"llm","name":"a.b-c","replicas":2},
          {"kind":"LeaderWorkerSet","namespace":"llm","name":"big","replicas":0}]})",
      &p, &err))
      << err;
  EXPECT_EQ(p.id, "p7");
  ASSERT_EQ(p.steps.size(), 2u);
  EXPECT_EQ(p.steps[1].kind, WorkloadKind::kLeaderWorkerSet);
  EXPECT_EQ(ScalePath(p.steps[1]),
            "/apis/leaderworkerset.x-k8s.io/v1/namespaces/llm/leaderworkersets/big/scale");
  for (const char* bad : {
           "nope", "{}", R"({"steps":{}})", R"({"steps":[1]})",
           R"({"steps":[{"namespace":"llm","name":"a"}]})",
           R"({"steps":[{"namespace":"llm","name":"a","replicas":-1}]})",
           R"({"steps":[{"namespace":"llm","name":"a","replicas":1.5}]})",
           R"({"steps":[{"namespace":"LLM","name":"a","replicas":1}]})",
           R"({"steps":[{"namespace":"llm","name":"a/../b","replicas":1}]})",
           R"({"steps":[{"kind":"StatefulSet","namespace":"llm","name":"a","replicas":1}]})"}) {
    EXPECT_FALSE(ParsePlanJson(bad, &p, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
}

}  // namespace
}  // namespace variant::actuator
