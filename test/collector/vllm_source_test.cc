// VllmSource against two loopback "pods" of one variant, and the bus round trip.
#include "variant/collector/vllm_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "loopback_server.h"

namespace variant::collector {
namespace {

using testing::LoopbackServer;

std::string Fixture(const std::string& name) {
  std::ifstream f(std::string(COLLECTOR_FIXTURES) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const bus::Metrics* Find(const std::vector<bus::Metrics>& v, const std::string& model) {
  for (const bus::Metrics& m : v) {
    if (m.model == model) return &m;
  }
  return nullptr;
}

class TwoPods : public ::testing::Test {
 protected:
  TwoPods()
      : source_({{a_.url(), "pod-a", "h100-tp1", ""}, {b_.url(), "pod-b", "h100-tp1", ""}}) {}
  LoopbackServer a_, b_;
  VllmSource source_;
};

TEST_F(TwoPods, AggregatesPodsOfAVariant) {
  a_.Serve(Fixture("vllm_v1_t100.txt"));
  b_.Serve(Fixture("vllm_v1_t100.txt"));
  std::vector<bus::Metrics> out;
  std::string err;
  ASSERT_TRUE(source_.Collect(100, &out, &err)) << err;
  ASSERT_EQ(out.size(), 2u);  // llama-3-8b and qwen-2.5-7b
  const bus::Metrics* m = Find(out, "llama-3-8b");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->variant, "h100-tp1");
  EXPECT_EQ(m->replicas_ready, 2);
  EXPECT_DOUBLE_EQ(m->running, 8.0);
  EXPECT_TRUE(std::isnan(m->arrival_rate_rps));  // no window yet: unknown, not zero

  a_.Serve(Fixture("vllm_v1_t110.txt"));
  b_.Serve(Fixture("vllm_v1_t110.txt"));
  ASSERT_TRUE(source_.Collect(110, &out, &err)) << err;
  m = Find(out, "llama-3-8b");
  ASSERT_NE(m, nullptr);
  EXPECT_DOUBLE_EQ(m->arrival_rate_rps, 4.2);
  EXPECT_DOUBLE_EQ(m->running, 12.0);
  EXPECT_DOUBLE_EQ(m->waiting, 0.0);
  EXPECT_DOUBLE_EQ(m->kv_usage, 0.375);
  EXPECT_DOUBLE_EQ(m->input_mean, 700.0);
  EXPECT_DOUBLE_EQ(m->output_mean, 150.0);
  EXPECT_DOUBLE_EQ(m->ttft_mean_ms, 225.0);
  EXPECT_DOUBLE_EQ(m->itl_mean_ms, 20.0);
  EXPECT_DOUBLE_EQ(m->prefix_hit_ratio, 0.25);
  EXPECT_TRUE(source_.errors().empty());

  // Round trip through the bus codec of agent/bus.
  std::string wire = bus::EncodeMetrics(*m);
  bus::Metrics back;
  bus::DecodeError derr;
  ASSERT_TRUE(bus::DecodeMetrics(wire.data(), wire.size(), &back, &derr)) << derr.detail;
  EXPECT_EQ(back.model, "llama-3-8b");
  EXPECT_EQ(back.variant, "h100-tp1");
  EXPECT_DOUBLE_EQ(back.arrival_rate_rps, 4.2);
  EXPECT_EQ(back.replicas_ready, 2);
}

TEST_F(TwoPods, APodThatStopsAnsweringMakesTheVariantUnknown) {
  a_.Serve(Fixture("vllm_v1_t100.txt"));
  b_.Serve(Fixture("vllm_v1_t100.txt"));
  std::vector<bus::Metrics> out;
  std::string err;
  ASSERT_TRUE(source_.Collect(100, &out, &err));
  a_.Serve(Fixture("vllm_v1_t110.txt"));
  b_.Status(503);
  ASSERT_TRUE(source_.Collect(110, &out, &err)) << err;
  const bus::Metrics* m = Find(out, "llama-3-8b");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->replicas_ready, 1);
  EXPECT_TRUE(std::isnan(m->arrival_rate_rps));
  EXPECT_TRUE(std::isnan(m->running));
  ASSERT_EQ(source_.errors().size(), 1u);
  EXPECT_NE(source_.errors()[0].find("pod-b: HTTP 503"), std::string::npos);
}

TEST_F(TwoPods, GarbageFromAPodIsReportedAndHeld) {
  a_.Serve(Fixture("vllm_v1_t100.txt"));
  b_.Serve(Fixture("garbage_html.txt"));
  std::vector<bus::Metrics> out;
  std::string err;
  ASSERT_TRUE(source_.Collect(100, &out, &err));
  ASSERT_EQ(source_.errors().size(), 1u);
  EXPECT_NE(source_.errors()[0].find("pod-b: line 1"), std::string::npos) << source_.errors()[0];
}

TEST(VllmSource, NoTargetAnswering) {
  VllmSource s({{"http://127.0.0.1:1/metrics", "", "v", ""}, {"ftp://x", "", "v", ""}});
  std::vector<bus::Metrics> out;
  std::string err;
  ScrapeOptions o;
  EXPECT_FALSE(s.Collect(0, &out, &err));
  EXPECT_NE(err.find("no target answered"), std::string::npos);
  EXPECT_NE(err.find("http://"), std::string::npos) << err;  // the bad URL is named
}

}  // namespace
}  // namespace variant::collector
