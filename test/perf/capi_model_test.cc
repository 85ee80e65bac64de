// The model's C ABI: every bad input gets its stable code and a message naming it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <cstring>
#include <cstddef>

#include "variant/variant.h"

namespace {

class CapiModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char* err = nullptr;
    ASSERT_EQ(variant_ctx_create(nullptr, &ctx_, &err), VARIANT_OK) << (err ? err : "");
    spec_.model = "llama-3-8b";
    spec_.accelerator = "h100";
    wl_.input_tokens = in_;
    wl_.output_tokens = out_;
    wl_.weights = w_;
    wl_.n = 2;
    ASSERT_EQ(variant_slo_parse(ctx_, "ttft_p95_ms=800,itl_p95_ms=60", slo_, 4, &nslo_),
              VARIANT_OK);
  }
  void TearDown() override { variant_ctx_destroy(ctx_); }
  std::string Err() const { return variant_ctx_last_error(ctx_); }

  variant_ctx* ctx_ = nullptr;
  variant_spec spec_ = VARIANT_SPEC_INIT;
  double in_[2] = {500, 2000}, out_[2] = {100, 300}, w_[2] = {1, 1};
  variant_workload wl_ = VARIANT_WORKLOAD_INIT;
  variant_slo_term slo_[4];
  size_t nslo_ = 0;
  variant_prediction p_ = VARIANT_PREDICTION_INIT;
};

TEST_F(CapiModelTest, MaxRateAndPredictAgree) {
  ASSERT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, nslo_, &p_), VARIANT_OK) << Err();
  EXPECT_GT(p_.rate_rps, 0);
  EXPECT_LE(p_.ttft_p95_ms, 800.1);
  variant_prediction q = VARIANT_PREDICTION_INIT;
  ASSERT_EQ(variant_model_predict(ctx_, &spec_, &wl_, p_.rate_rps, &q), VARIANT_OK);
  EXPECT_NEAR(q.ttft_p95_ms, p_.ttft_p95_ms, 1e-6 * p_.ttft_p95_ms);
  EXPECT_EQ(q.stable, 1);
}

TEST_F(CapiModelTest, UnknownModelAndAccelerator) {
  spec_.model = "gpt-17";
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, nslo_, &p_), VARIANT_E_UNKNOWN_MODEL);
  EXPECT_NE(Err().find("gpt-17"), std::string::npos);
  spec_.model = "llama-3-8b";
  spec_.accelerator = "b300";
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, 1, &p_), VARIANT_E_UNKNOWN_ACCELERATOR);
  EXPECT_NE(Err().find("b300"), std::string::npos);
}

TEST_F(CapiModelTest, TpThatDoesNotFitMemory) {
  spec_.model = "llama-3-70b";
  spec_.accelerator = "l40s";
  spec_.tp = 2;
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, nslo_, &p_), VARIANT_E_DOES_NOT_FIT);
  EXPECT_NE(Err().find("does not fit"), std::string::npos);
  spec_.tp = 3;
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, 1, &p_), VARIANT_E_INVALID_ARGUMENT);
}

TEST_F(CapiModelTest, NegativeOrNanLengthsAndRates) {
  in_[1] = NAN;
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, 1, &p_), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_NE(Err().find("input"), std::string::npos);
  in_[1] = 2000;
  out_[0] = -5;
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, 1, &p_), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_NE(Err().find("output"), std::string::npos);
  out_[0] = 100;
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, NAN, &p_), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(variant_model_predict(ctx_, &spec_, &wl_, -1, &p_), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_NE(Err().find("rate"), std::string::npos);
  variant_batch_latency bl = VARIANT_BATCH_LATENCY_INIT;
  EXPECT_EQ(variant_model_batch_latency(ctx_, &spec_, 4, -3, 10, &bl), VARIANT_E_INVALID_ARGUMENT);
}

TEST_F(CapiModelTest, SloThatNoRateMeets) {
  size_t n = 0;
  ASSERT_EQ(variant_slo_parse(ctx_, "ttft_p95_ms=2", slo_, 4, &n), VARIANT_OK);
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, n, &p_), VARIANT_E_SLO_UNATTAINABLE);
  EXPECT_NE(Err().find("no arrival rate"), std::string::npos);
  EXPECT_EQ(variant_slo_parse(ctx_, "ttft_p95=2", slo_, 4, &n), VARIANT_E_PARSE);
  slo_[0].target_ms = NAN;
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, 1, &p_), VARIANT_E_INVALID_ARGUMENT);
}

TEST_F(CapiModelTest, TpotIsAMetricAndAnUnknownOneIsRefused) {
  size_t n = 0;
  ASSERT_EQ(variant_slo_parse(ctx_, "ttft_p95_ms=800,tpot_p99_ms=60", slo_, 4, &n), VARIANT_OK);
  ASSERT_EQ(n, 2u);
  EXPECT_EQ(slo_[1].metric, VARIANT_METRIC_TPOT);
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, n, &p_), VARIANT_OK) << Err();
  EXPECT_GT(p_.rate_rps, 0);
  slo_[1].metric = VARIANT_METRIC_TPOT + 1;
  EXPECT_EQ(variant_model_max_rate(ctx_, &spec_, &wl_, slo_, n, &p_), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_NE(Err().find("unknown metric"), std::string::npos) << Err();
}

TEST_F(CapiModelTest, OldCallersSmallerStructsAreRespected) {
  // A caller compiled when variant_prediction ended after ttft_p99_ms.
  struct {
    variant_prediction p;
    char guard[8];
  } buf;
  std::memset(&buf, 0x5a, sizeof(buf));
  buf.p.struct_size = offsetof(variant_prediction, itl_mean_ms);
  ASSERT_EQ(variant_model_predict(ctx_, &spec_, &wl_, 1, &buf.p), VARIANT_OK);
  EXPECT_GT(buf.p.ttft_p99_ms, 0);
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(&buf.p.itl_mean_ms);
  EXPECT_EQ(tail[0], 0x5a);  // untouched beyond the declared size
  EXPECT_EQ(variant_model_predict(nullptr, &spec_, &wl_, 1, &p_), VARIANT_E_BAD_HANDLE);
}

}  // namespace
