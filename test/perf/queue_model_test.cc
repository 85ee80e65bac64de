#include "perf/queue_model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "context.h"

namespace variant {
namespace {

// p50 <= p90 <= p95 <= p99.
void ExpectOrdered(double p50, double p90, double p95, double p99) {
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p95);
  EXPECT_LE(p95, p99);
}

class QueueModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Context::Create(ResolveDataDir(nullptr));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ctx_ = std::move(c.value());
    auto s = ctx_->GetStepModel("llama-3-8b", "h100", 1);
    ASSERT_TRUE(s.ok());
    cfg_.step = s.value();
    conv_.input = {600, 1200, 2400};
    conv_.output = {100, 200, 400};
    conv_.weight = {0.3, 0.5, 0.2};
  }
  std::unique_ptr<Context> ctx_;
  ReplicaConfig cfg_;
  Workload conv_;
};

TEST_F(QueueModelTest, LatencyGrowsWithRateAndPercentilesAreOrdered) {
  double prev_p95 = 0, prev_itl = 0;
  for (double r : {0.5, 2.0, 5.0, 10.0}) {
    Prediction p = Predict(cfg_, conv_, r);
    ASSERT_TRUE(p.stable) << r;
    ExpectOrdered(p.ttft_p50_ms, p.ttft_p90_ms, p.ttft_p95_ms, p.ttft_p99_ms);
    EXPECT_GE(p.ttft_p95_ms, prev_p95);
    EXPECT_GE(p.itl_mean_ms, prev_itl);
    EXPECT_GT(p.ttlt_p95_ms, p.ttft_p95_ms);
    prev_p95 = p.ttft_p95_ms;
    prev_itl = p.itl_mean_ms;
  }
}

TEST_F(QueueModelTest, PercentilesAreNotMeansTimesAFactor) {
  // A bimodal mix (short and very long prompts) must have a p99 TTFT driven by the
  // long prompts, far above the mean.
  Workload w;
  w.input = {200, 8000};
  w.output = {50, 50};
  w.weight = {0.95, 0.05};
  Prediction p = Predict(cfg_, w, 1.0);
  ASSERT_TRUE(p.stable);
  EXPECT_GT(p.ttft_p99_ms, 3 * p.ttft_p50_ms);
}

// Regression (model-vs-sim, conv mix): short prompts arriving together share one step
// sized by their own tokens; the model once charged each a full-budget step in
// proportion to the budget's load, doubling TTFT p50 against the simulator.
TEST_F(QueueModelTest, PackedShortPromptsDoNotPayForAFullBudgetStep) {
  Workload w;
  w.input = {600};
  w.output = {100};
  w.weight = {1};
  const double t_full = cfg_.step->PrefillMs(1, cfg_.max_tokens_per_step);
  const double tau = t_full / cfg_.max_tokens_per_step;
  const double rate = 0.6 / (600 * tau) * 1000;  // prompts take ~60 % of the budget
  const Prediction idle = Predict(cfg_, w, 1e-3);
  const Prediction busy = Predict(cfg_, w, rate);
  ASSERT_TRUE(busy.stable);
  EXPECT_GT(busy.ttft_p50_ms, idle.ttft_p50_ms);
  EXPECT_LT(busy.ttft_p50_ms, idle.ttft_p50_ms + 0.25 * t_full)
      << "idle " << idle.ttft_p50_ms << " full step " << t_full;
}

TEST_F(QueueModelTest, UnstableBeyondCapacity) {
  Prediction p = Predict(cfg_, conv_, 10000);
  EXPECT_FALSE(p.stable);
  EXPECT_TRUE(std::isinf(p.ttft_p95_ms));
}

TEST_F(QueueModelTest, MaxRateMeetsSloAndLooserSloAllowsMore) {
  auto tight = ParseSlo("ttft_p95_ms=400,itl_p95_ms=40");
  auto loose = ParseSlo("ttft_p95_ms=2000,itl_p95_ms=100");
  ASSERT_TRUE(tight.ok() && loose.ok());
  auto a = MaxRate(cfg_, conv_, *tight);
  auto b = MaxRate(cfg_, conv_, *loose);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_GT(a->rate_rps, 0);
  EXPECT_GT(b->rate_rps, a->rate_rps);
  EXPECT_LE(a->ttft_p95_ms, 400 * 1.0001);
  EXPECT_LE(a->itl_p95_ms, 40 * 1.0001);
  // Just above the max rate some term fails.
  Prediction over = Predict(cfg_, conv_, a->rate_rps * 1.05);
  EXPECT_TRUE(!over.stable || over.ttft_p95_ms > 400 || over.itl_p95_ms > 40);
}

TEST_F(QueueModelTest, PrefixHitsAndSmallerKvChangeCapacity) {
  auto slo = ParseSlo("ttft_p95_ms=1000,itl_p95_ms=80");
  ASSERT_TRUE(slo.ok());
  auto base = MaxRate(cfg_, conv_, *slo);
  Workload cached = conv_;
  cached.prefix_hit_ratio = 0.6;
  auto hit = MaxRate(cfg_, cached, *slo);
  ASSERT_TRUE(base.ok() && hit.ok());
  EXPECT_GT(hit->rate_rps, base->rate_rps * 1.1);
  ReplicaConfig small = cfg_;
  small.gpu_memory_util = 0.25;  // leaves a few GiB of KV cache
  auto kv = MaxRate(small, conv_, *slo);
  ASSERT_TRUE(kv.ok());
  EXPECT_LT(kv->rate_rps, base->rate_rps);
  EXPECT_LT(kv->max_concurrency, base->max_concurrency);
}

TEST_F(QueueModelTest, UnattainableSloIsAnError) {
  auto slo = ParseSlo("ttft_p95_ms=1");
  ASSERT_TRUE(slo.ok());
  auto r = MaxRate(cfg_, conv_, *slo);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), VARIANT_E_SLO_UNATTAINABLE);
  EXPECT_NE(r.status().message().find("TTFT"), std::string::npos);
}

TEST_F(QueueModelTest, DisaggregatedRolesAreJudgedOnTheirOwnMetric) {
  auto slo = ParseSlo("ttft_p95_ms=800,itl_p95_ms=30");
  ASSERT_TRUE(slo.ok());
  ReplicaConfig p = cfg_, d = cfg_;
  p.role = VARIANT_ROLE_P;
  d.role = VARIANT_ROLE_D;
  auto rp = MaxRate(p, conv_, *slo);
  auto rd = MaxRate(d, conv_, *slo);
  auto rpd = MaxRate(cfg_, conv_, *slo);
  ASSERT_TRUE(rp.ok() && rd.ok() && rpd.ok());
  // Each specialised pool sustains more than the combined role on the same GPU.
  EXPECT_GT(rp->rate_rps, rpd->rate_rps);
  EXPECT_GT(rd->rate_rps, rpd->rate_rps);
  // A slower KV link makes prefill-role TTFT worse.
  ReplicaConfig slow = p;
  slow.kv_link_gbps = 0.5;
  EXPECT_GT(Predict(slow, conv_, 1).ttft_p50_ms, Predict(p, conv_, 1).ttft_p50_ms);
}

// ITL terms read their own percentile of the gap distribution (p99 is not p95), and
// a tighter percentile at the same target never allows a higher rate.
TEST_F(QueueModelTest, ItlPercentilesAreRealAndOrdered) {
  Prediction p = Predict(cfg_, conv_, 8.0);
  ASSERT_TRUE(p.stable);
  ExpectOrdered(p.itl_p50_ms, p.itl_p90_ms, p.itl_p95_ms, p.itl_p99_ms);
  // Prompt-starting steps are a few percent of the gaps: p99 is one of them.
  EXPECT_GT(p.itl_p99_ms, 2 * p.itl_p50_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_ITL, 99, 1}), p.itl_p99_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_ITL, 95, 1}), p.itl_p95_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_ITL, 90, 1}), p.itl_p90_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_ITL, 50, 1}), p.itl_p50_ms);
  auto p95 = MaxRate(cfg_, conv_, *ParseSlo("ttft_p95_ms=2000,itl_p95_ms=60"));
  auto p99 = MaxRate(cfg_, conv_, *ParseSlo("ttft_p95_ms=2000,itl_p99_ms=60"));
  ASSERT_TRUE(p95.ok() && p99.ok());
  EXPECT_LT(p99->rate_rps, p95->rate_rps);
  EXPECT_LE(p99->itl_p99_ms, 60 * 1.0001);
}

// A length bucket stands for a range of prompt lengths, so the ITL p95, once it lies
// among the prompt-starting steps, moves with the rate without jumping from one
// bucket's step time to the next (three buckets a factor 2 apart).
TEST_F(QueueModelTest, ItlP95MovesSmoothlyWithRate) {
  double prev = 0;
  int in_prefill = 0;
  for (double r = 1.0;; r *= 1.01) {
    Prediction p = Predict(cfg_, conv_, r);
    if (!p.stable) break;
    if (p.itl_p95_ms > 2 * p.itl_p50_ms) {
      if (prev > 0) {
        EXPECT_LT(p.itl_p95_ms / prev, 1.10) << "at " << r << " rps";
      }
      prev = p.itl_p95_ms;
      ++in_prefill;
    }
  }
  EXPECT_GT(in_prefill, 10);
}

// TPOT is a request's mean gap: its percentiles are over requests, so they lie well
// inside the gaps' own spread (averaging over a request's gaps), are ordered, and a
// tpot term reads them (not the ITL ones).
TEST_F(QueueModelTest, TpotPercentilesAreOverRequestsAndOrdered) {
  Prediction p = Predict(cfg_, conv_, 8.0);
  ASSERT_TRUE(p.stable);
  ExpectOrdered(p.tpot_p50_ms, p.tpot_p90_ms, p.tpot_p95_ms, p.tpot_p99_ms);
  EXPECT_GT(p.tpot_p99_ms, p.itl_p50_ms);
  EXPECT_LT(p.tpot_p99_ms, p.itl_p99_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_TPOT, 99, 1}), p.tpot_p99_ms);
  EXPECT_EQ(p.Metric({VARIANT_METRIC_TPOT, 0, 1}), p.itl_mean_ms);
  auto tpot = ParseSlo("ttft_p95_ms=2000,tpot_p99_ms=40");
  ASSERT_TRUE(tpot.ok());
  EXPECT_EQ((*tpot)[1].metric, VARIANT_METRIC_TPOT);
  auto r = MaxRate(cfg_, conv_, *tpot);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LE(r->tpot_p99_ms, 40 * 1.0001);
  // Longer outputs average more gaps: the same mix with 4x the outputs has a narrower
  // TPOT spread at the same load.
  Workload longer = conv_;
  for (double& o : longer.output) o *= 4;
  Prediction q = Predict(cfg_, longer, 2.0);
  Prediction q1 = Predict(cfg_, conv_, 8.0);
  ASSERT_TRUE(q.stable && q1.stable);
  EXPECT_LT(q.tpot_p99_ms / q.tpot_p50_ms, q1.tpot_p99_ms / q1.tpot_p50_ms);
}

TEST(SloParse, AcceptsAndRejects) {
  auto ok = ParseSlo("ttft_p95_ms=500,itl_mean_ms=50,ttlt_p99_ms=20000");
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_EQ((*ok)[1].percentile, 0);
  EXPECT_EQ((*ok)[2].metric, VARIANT_METRIC_TTLT);
  for (const char* bad : {"", "ttft", "ttft_p95=5", "foo_p95_ms=5", "ttft_p95_ms=-1",
                          "ttft_p95_ms=nan", "ttft_q95_ms=3", "ttft_p100_ms=3"})
    EXPECT_FALSE(ParseSlo(bad).ok()) << bad;
}

TEST(WorkloadValidate, RejectsBadBuckets) {
  Workload w;
  EXPECT_FALSE(w.Validate().ok());
  w.input = {100};
  w.output = {NAN};
  w.weight = {1};
  EXPECT_FALSE(w.Validate().ok());
  w.output = {10};
  w.weight = {-1};
  EXPECT_FALSE(w.Validate().ok());
  w.weight = {1};
  w.prefix_hit_ratio = 1.0;
  EXPECT_FALSE(w.Validate().ok());
  w.prefix_hit_ratio = 0.5;
  EXPECT_TRUE(w.Validate().ok());
}

}  // namespace
}  // namespace variant
