#include "perf/step_model.h"

#include <gtest/gtest.h>

#include "context.h"
#include "perf/splitwise_check.h"

namespace variant {
namespace {

class StepModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Context::Create(ResolveDataDir(nullptr));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ctx_ = std::move(c.value());
  }
  const StepModel* Get(const std::string& m, const std::string& a, int tp) {
    auto s = ctx_->GetStepModel(m, a, tp);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? s.value() : nullptr;
  }
  std::unique_ptr<Context> ctx_;
};

TEST_F(StepModelTest, EveryCatalogPairHasAStepModelAtSomeTp) {
  for (const auto& [m, _] : ctx_->catalog().models())
    for (const auto& [a, __] : ctx_->catalog().accelerators()) {
      bool any = false;
      for (int tp : {1, 2, 4, 8}) {
        auto s = ctx_->GetStepModel(m, a, tp);
        if (s.ok() && (*s)->KvCapacityTokens(0.9) > 2048) any = true;
      }
      EXPECT_TRUE(any) << m << " on " << a;
    }
}

TEST_F(StepModelTest, DecodeGrowsWithBatchAndContextPrefillWithTokens) {
  const StepModel* s = Get("llama-3-8b", "h100", 1);
  ASSERT_NE(s, nullptr);
  EXPECT_LT(s->DecodeStepMs(1, 1024), s->DecodeStepMs(64, 1024));
  EXPECT_LT(s->DecodeStepMs(64, 512), s->DecodeStepMs(64, 8192));
  EXPECT_LT(s->PrefillMs(1, 512), s->PrefillMs(1, 4096));
  // Prefill of 8k tokens is compute-bound: far more than 8x a 1k-token prefill's
  // weight-read-bound floor would be, but roughly linear in tokens.
  const double r = s->PrefillMs(1, 8192) / s->PrefillMs(1, 1024);
  EXPECT_GT(r, 5);
  EXPECT_LT(r, 12);
}

TEST_F(StepModelTest, FasterAcceleratorsAreFaster) {
  const StepModel* a100 = Get("llama-3-8b", "a100", 1);
  const StepModel* h100 = Get("llama-3-8b", "h100", 1);
  const StepModel* h200 = Get("llama-3-8b", "h200", 1);
  const StepModel* l40s = Get("llama-3-8b", "l40s", 1);
  ASSERT_TRUE(a100 && h100 && h200 && l40s);
  EXPECT_LT(h100->DecodeStepMs(32, 2048), a100->DecodeStepMs(32, 2048));
  EXPECT_LE(h200->DecodeStepMs(32, 2048), h100->DecodeStepMs(32, 2048));
  EXPECT_LT(a100->DecodeStepMs(32, 2048), l40s->DecodeStepMs(32, 2048));
  EXPECT_LT(h100->PrefillMs(1, 2048), a100->PrefillMs(1, 2048));
}

TEST_F(StepModelTest, TensorParallelismCutsStepTimeOfLargeModel) {
  const StepModel* tp2 = Get("llama-2-70b", "h100", 2);
  const StepModel* tp8 = Get("llama-2-70b", "h100", 8);
  ASSERT_TRUE(tp2 && tp8);
  EXPECT_LT(tp8->DecodeStepMs(16, 1024), tp2->DecodeStepMs(16, 1024));
  EXPECT_LT(tp8->PrefillMs(4, 2048), tp2->PrefillMs(4, 2048));
}

TEST_F(StepModelTest, KvCapacityFollowsMemoryAndGqa) {
  const StepModel* h100 = Get("llama-3-8b", "h100", 1);
  const StepModel* h200 = Get("llama-3-8b", "h200", 1);
  const StepModel* l2 = Get("llama-2-7b", "h100", 1);  // MHA: 4x the KV per token
  ASSERT_TRUE(h100 && h200 && l2);
  EXPECT_GT(h200->KvCapacityTokens(0.9), 1.5 * h100->KvCapacityTokens(0.9));
  EXPECT_GT(h100->KvCapacityTokens(0.9), 3 * l2->KvCapacityTokens(0.9));
  // 70B in bf16 does not fit one 80 GB GPU.
  auto one = ctx_->GetStepModel("llama-2-70b", "h100", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_LE((*one)->KvCapacityTokens(0.9), 0);
}

TEST_F(StepModelTest, MixtureOfExpertsCostsMoreThanItsDenseTwin) {
  const StepModel* moe = Get("mixtral-8x7b", "h100", 2);
  const StepModel* dense = Get("mistral-7b", "h100", 2);
  ASSERT_TRUE(moe && dense);
  EXPECT_GT(moe->DecodeStepMs(32, 1024), 1.5 * dense->DecodeStepMs(32, 1024));
}

// The acceptance check of the a-priori iteration time: the Splitwise end-to-end
// measurements, median absolute percentage error of prefill and decode <= 15%.
TEST_F(StepModelTest, SplitwiseMedianErrorWithinFifteenPercent) {
  auto r = CheckSplitwise(*ctx_, ctx_->data_dir() + "/perf/splitwise/perf_model.csv",
                          "splitwise-2023");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->rows.size(), 100u);
  EXPECT_LE(r->prefill_ape_median, 0.15);
  EXPECT_LE(r->decode_ape_median, 0.15);
}

TEST_F(StepModelTest, UnknownEngineAndBadTpAreErrors) {
  EXPECT_EQ(ctx_->GetStepModel("llama-3-8b", "h100", 1, "no-engine").status().code(),
            VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(ctx_->GetStepModel("llama-3-8b", "h100", 3).status().code(),
            VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(ctx_->GetStepModel("nope", "h100", 1).status().code(), VARIANT_E_UNKNOWN_MODEL);
  EXPECT_EQ(ctx_->GetStepModel("llama-3-8b", "nope", 1).status().code(),
            VARIANT_E_UNKNOWN_ACCELERATOR);
}

}  // namespace
}  // namespace variant
