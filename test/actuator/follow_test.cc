// The actuator following the agent's decision/plan topics: plan translation, and a
// Follower over real ZeroMQ against the HTTPS contract server.
#include "variant/actuator/follow.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "bus/protocol.h"
#include "fake_apiserver.h"

namespace variant::actuator {
namespace {

using json = nlohmann::json;

WorkloadMap Map() {
  WorkloadMap m;
  std::string err;
  EXPECT_TRUE(ParseWorkloadMap(R"([
    {"model": "llama", "variant": "h100-tp1", "namespace": "llm", "name": "llama-h100"},
    {"model": "llama", "variant": "a100-tp2", "namespace": "llm", "name": "llama-a100"},
    {"model": "llama", "variant": "h100-p", "namespace": "llm", "name": "llama-h100-prefill"},
    {"model": "llama", "variant": "h100-d", "kind": "LeaderWorkerSet", "namespace": "llm",
     "name": "llama-h100-decode"}])",
                               &m, &err))
      << err;
  return m;
}

TEST(FollowPlan, AbsoluteTargetsInPlanOrder) {
  json decision = {{"decision_id", 7},
                   {"allocation",
                    {{{"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 3}},
                     {{"model", "llama"}, {"variant", "a100-tp2"}, {"replicas", 1}},
                     {{"model", "llama"}, {"variant", "h100-d"}, {"replicas", 2}},
                     {{"model", "other"}, {"variant", "x"}, {"replicas", 4}}}}};
  json plan = {{"decision_id", 7},
               {"steps",
                {{{"step", 1}, {"action", "add"}, {"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 2}},
                 {{"step", 2}, {"action", "flip"}, {"model", "llama"}, {"variant", "h100-p"},
                  {"to_variant", "h100-d"}, {"replicas", 1}},
                 {{"step", 3}, {"action", "remove"}, {"model", "llama"}, {"variant", "a100-tp2"}, {"replicas", 2}},
                 {{"step", 4}, {"action", "add"}, {"model", "other"}, {"variant", "x"}, {"replicas", 4}}}}};
  Plan p;
  std::vector<std::string> skipped;
  std::string err;
  ASSERT_TRUE(PlanFromDecision(decision, plan, Map(), &p, &skipped, &err)) << err;
  EXPECT_EQ(p.id, "decision-7");
  ASSERT_EQ(p.steps.size(), 4u);
  // h100-tp1: 1 before, +2 -> 3.
  EXPECT_EQ(p.steps[0].name, "llama-h100");
  EXPECT_EQ(p.steps[0].replicas, 3);
  // flip h100-p -> h100-d: the add first (decode LWS 1 -> 2), then prefill 1 -> 0.
  EXPECT_EQ(p.steps[1].name, "llama-h100-decode");
  EXPECT_EQ(p.steps[1].kind, WorkloadKind::kLeaderWorkerSet);
  EXPECT_EQ(p.steps[1].replicas, 2);
  EXPECT_EQ(p.steps[2].name, "llama-h100-prefill");
  EXPECT_EQ(p.steps[2].replicas, 0);
  // a100-tp2: 3 before, -2 -> 1.
  EXPECT_EQ(p.steps[3].name, "llama-a100");
  EXPECT_EQ(p.steps[3].replicas, 1);
  ASSERT_EQ(skipped.size(), 1u);  // other/x has no workload (scaled by HPA, say)
  EXPECT_EQ(skipped[0], "other/x");
}

TEST(FollowPlan, RefusesMalformedMessages) {
  Plan p;
  std::vector<std::string> skipped;
  std::string err;
  json d = {{"decision_id", 1}, {"allocation", json::array()}};
  for (const json& plan : {json::object(), json{{"steps", 3}},
                           json{{"steps", {{{"action", "add"}, {"model", "llama"}}}}},
                           json{{"steps", {{{"action", "explode"}, {"model", "llama"},
                                            {"variant", "h100-tp1"}, {"replicas", 1}}}}},
                           json{{"steps", {{{"action", "flip"}, {"model", "llama"},
                                            {"variant", "h100-tp1"}, {"replicas", 1}}}}},
                           // removing more than the allocation implies ever existed
                           json{{"steps", {{{"action", "add"}, {"model", "llama"},
                                            {"variant", "h100-tp1"}, {"replicas", 1}}}}}}) {
    EXPECT_FALSE(PlanFromDecision(d, plan, Map(), &p, &skipped, &err)) << plan.dump();
  }
  WorkloadMap m;
  EXPECT_FALSE(ParseWorkloadMap("{}", &m, &err));
  EXPECT_FALSE(ParseWorkloadMap(R"([{"model":"m","namespace":"n","name":"x"}])", &m, &err));
  EXPECT_FALSE(ParseWorkloadMap(R"([{"model":"m","variant":"v","namespace":"N","name":"x"}])",
                                &m, &err));
}

void Publish(zmq::socket_t& pub, std::string_view topic, const json& body, uint64_t seq) {
  bus::Header h;
  h.source = "test-agent";
  h.sequence = seq;
  h.timestamp = 1.7e9;
  std::string hb = bus::EncodeHeader(h);
  std::vector<uint8_t> mp = json::to_msgpack(body);
  pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(mp), zmq::send_flags::none);
}

// Sleep only advances time.
class InstantClock : public Clock {
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

TEST(Follow, ExecutesEachNewPlanFromTheBusOnce) {
  testing::TestPki pki = testing::TestPki::Create();
  std::ofstream(pki.dir + "/token") << "follow-token\n";
  testing::FakeApiServer api(pki, "follow-token");
  api.AddObject("deployments", "llm", "llama-h100", 1);
  api.AddObject("deployments", "llm", "llama-a100", 3);
  Config cfg;
  cfg.host = "127.0.0.1";
  cfg.port = api.port();
  cfg.token_path = pki.dir + "/token";
  cfg.ca_path = pki.ca_crt;
  InstantClock clock;
  Actuator act(cfg, &clock);

  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.bind("tcp://127.0.0.1:*");
  std::string endpoint = pub.get(zmq::sockopt::last_endpoint);

  std::mutex mu;
  std::vector<PlanReport> reports;
  Follower f(endpoint, Map(), &act, [&](const PlanReport& r) {
    std::lock_guard<std::mutex> l(mu);
    reports.push_back(r);
  });
  f.Start();
  json decision = {{"decision_id", 1},
                   {"allocation",
                    {{{"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 3}},
                     {{"model", "llama"}, {"variant", "a100-tp2"}, {"replicas", 1}}}}};
  json plan = {{"decision_id", 1},
               {"steps",
                {{{"action", "add"}, {"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 2}},
                 {{"action", "remove"}, {"model", "llama"}, {"variant", "a100-tp2"}, {"replicas", 2}}}}};
  // The subscription takes effect some time after connect: publish until it is
  // executed (bounded), as the agent's late-joiner cache would resend it.
  uint64_t seq = 0;
  for (int i = 0; i < 400 && f.executed() < 1; ++i) {
    Publish(pub, bus::kTopicDecision, decision, ++seq);
    Publish(pub, bus::kTopicPlan, plan, ++seq);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(f.executed(), 1u);
  // The same decision again is not executed twice.
  Publish(pub, bus::kTopicDecision, decision, ++seq);
  Publish(pub, bus::kTopicPlan, plan, ++seq);
  // A new decision is.
  decision["decision_id"] = 2;
  plan["decision_id"] = 2;
  decision["allocation"][0]["replicas"] = 2;
  plan["steps"] = {{{"action", "remove"}, {"model", "llama"}, {"variant", "h100-tp1"}, {"replicas", 1}}};
  Publish(pub, bus::kTopicDecision, decision, ++seq);
  Publish(pub, bus::kTopicPlan, plan, ++seq);
  for (int i = 0; i < 400 && f.executed() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  f.Stop();
  ASSERT_EQ(f.executed(), 2u);
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(reports[0].complete) << ReportToJson(reports[0]);
  EXPECT_EQ(reports[0].plan_id, "decision-1");
  EXPECT_TRUE(reports[1].complete) << ReportToJson(reports[1]);

  std::vector<std::pair<std::string, std::string>> patches;
  for (const auto& r : api.Log()) {
    if (r.method == "PATCH") patches.push_back({r.path, r.body});
  }
  ASSERT_EQ(patches.size(), 3u);
  EXPECT_EQ(patches[0].first, "/apis/apps/v1/namespaces/llm/deployments/llama-h100/scale");
  EXPECT_EQ(patches[0].second, R"({"spec":{"replicas":3}})");
  EXPECT_EQ(patches[1].first, "/apis/apps/v1/namespaces/llm/deployments/llama-a100/scale");
  EXPECT_EQ(patches[1].second, R"({"spec":{"replicas":1}})");
  EXPECT_EQ(patches[2].first, "/apis/apps/v1/namespaces/llm/deployments/llama-h100/scale");
  EXPECT_EQ(patches[2].second, R"({"spec":{"replicas":2}})");
  EXPECT_TRUE(api.Violations().empty());
  std::system(("rm -rf " + pki.dir).c_str());
}

}  // namespace
}  // namespace variant::actuator
