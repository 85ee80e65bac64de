// Online correction through the C ABI: a server 30% slower than the a-priori model is
// learned to within 5% after a bounded number of observations; one wild sample does
// not move the estimate.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "variant/variant.h"

namespace {

class CorrectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char* err = nullptr;
    ASSERT_EQ(variant_ctx_create(nullptr, &ctx_, &err), VARIANT_OK) << (err ? err : "");
    spec_.model = "llama-3-8b";
    spec_.accelerator = "a100";
  }
  void TearDown() override { variant_ctx_destroy(ctx_); }
  // What the a-priori model predicts (no correction) for one request mix at a rate.
  variant_prediction Apriori(double rate) {
    double in = 1000, out = 200, w = 1;
    variant_workload wl = VARIANT_WORKLOAD_INIT;
    wl.input_tokens = &in;
    wl.output_tokens = &out;
    wl.weights = &w;
    wl.n = 1;
    variant_prediction p = VARIANT_PREDICTION_INIT;
    EXPECT_EQ(variant_model_predict(fresh_, &spec_, &wl, rate, &p), VARIANT_OK);
    return p;
  }
  variant_ctx* ctx_ = nullptr;
  variant_ctx* fresh_ = nullptr;
  variant_spec spec_ = VARIANT_SPEC_INIT;
};

TEST_F(CorrectionTest, LearnsThirtyPercentSlowerServerAndIgnoresOneOutlier) {
  char* err = nullptr;
  ASSERT_EQ(variant_ctx_create(nullptr, &fresh_, &err), VARIANT_OK);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 0.05);
  int used = 0;
  double pf = 0, df = 0;
  for (int i = 0; i < 25; ++i) {
    const double rate = 0.5;  // light load: latency ~ proportional to service time
    variant_prediction p = Apriori(rate);
    variant_observation o = VARIANT_OBSERVATION_INIT;
    o.rate_rps = rate;
    o.ttft_mean_ms = 1.3 * p.ttft_p50_ms * std::exp(noise(rng));
    o.itl_mean_ms = 1.3 * p.itl_mean_ms * std::exp(noise(rng));
    o.input_mean = 1000;
    o.output_mean = 200;
    o.mean_batch = NAN;
    int accepted = 0;
    ASSERT_EQ(variant_model_observe(ctx_, &spec_, &o, &accepted), VARIANT_OK)
        << variant_ctx_last_error(ctx_);
    used += accepted;
  }
  ASSERT_EQ(variant_model_correction(ctx_, &spec_, &pf, &df), VARIANT_OK);
  EXPECT_NEAR(df, 1.3, 0.05 * 1.3);
  EXPECT_NEAR(pf, 1.3, 0.10 * 1.3);  // TTFT also carries queueing, so looser
  EXPECT_GE(used, 20);

  // One wild sample (10x) is gated out and leaves the estimate where it was.
  variant_prediction p = Apriori(0.5);
  variant_observation bad = VARIANT_OBSERVATION_INIT;
  bad.rate_rps = 0.5;
  bad.itl_mean_ms = 13.0 * p.itl_mean_ms;
  bad.ttft_mean_ms = NAN;
  bad.input_mean = 1000;
  bad.output_mean = 200;
  int accepted = 1;
  ASSERT_EQ(variant_model_observe(ctx_, &spec_, &bad, &accepted), VARIANT_OK);
  EXPECT_EQ(accepted, 0);
  double pf2 = 0, df2 = 0;
  ASSERT_EQ(variant_model_correction(ctx_, &spec_, &pf2, &df2), VARIANT_OK);
  EXPECT_DOUBLE_EQ(df2, df);
  variant_ctx_destroy(fresh_);
}

TEST_F(CorrectionTest, BadObservationsAreErrors) {
  variant_observation o = VARIANT_OBSERVATION_INIT;
  o.rate_rps = NAN;
  o.input_mean = 100;
  o.output_mean = 10;
  EXPECT_EQ(variant_model_observe(ctx_, &spec_, &o, nullptr), VARIANT_E_INVALID_ARGUMENT);
  o.rate_rps = 1;
  o.ttft_mean_ms = NAN;
  o.itl_mean_ms = NAN;
  EXPECT_EQ(variant_model_observe(ctx_, &spec_, &o, nullptr), VARIANT_E_INVALID_ARGUMENT);
  double a = 0, b = 0;
  ASSERT_EQ(variant_model_correction(ctx_, &spec_, &a, &b), VARIANT_OK);
  EXPECT_EQ(a, 1.0);  // nothing learned from bad input
  EXPECT_EQ(b, 1.0);
}

}  // namespace
