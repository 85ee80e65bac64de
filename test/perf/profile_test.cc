// Offline profiles: parsing, errors, and that a profile built from real measurements
// predicts held-out measurements better than the a-priori estimate.
#include "perf/profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <cmath>
#include <set>
#include <vector>

#include "context.h"
#include "perf/queue_model.h"
#include "perf/splitwise_check.h"
#include "perf/step_model.h"

namespace variant {
namespace {

std::unique_ptr<Context> NewCtx() { return std::move(Context::Create(ResolveDataDir(nullptr)).value()); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(ProfileTest, SplitwiseProfileBeatsAprioriOnHeldOutSettings) {
  auto ctx = NewCtx();
  const std::string dir = ctx->data_dir();
  std::ifstream in(dir + "/perf/profiles/splitwise-llama-2-70b-a100-tp4.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_TRUE(ctx->profiles().Load(*ctx, ss.str(), "splitwise").ok());
  const ProfileFit* f = ctx->profiles().Find({"llama-2-70b", "a100", 4});
  ASSERT_NE(f, nullptr);
  // Which (batch, prompt) settings the profile holds; the rest are held out.
  std::set<std::pair<int, int>> in_profile;
  {
    std::stringstream t(ss.str());
    std::string line;
    while (std::getline(t, line))
      if (line.find(",prefill,") != std::string::npos) {
        int b = 0, p = 0;
        ASSERT_EQ(std::sscanf(line.c_str(), "llama-2-70b,a100,4,prefill,%d,%d", &b, &p), 2);
        in_profile.insert({b, p});
      }
  }
  auto rep = CheckSplitwise(*ctx, dir + "/perf/splitwise/perf_model.csv", "");
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  const StepModel* sm = ctx->GetStepModel("llama-2-70b", "a100", 4).value();
  std::vector<double> pre_a, pre_c, dec_a, dec_c;
  for (const SplitwiseRow& r : rep->rows) {
    if (r.hardware != "a100-80gb" || r.tp != 4 || r.batch >= 64) continue;
    if (in_profile.count({r.batch, r.prompt})) continue;
    const double pa = sm->PrefillMs(r.batch, r.prompt);
    const double da = sm->DecodeStepMs(r.batch, r.prompt + r.output / 2.0);
    pre_a.push_back(std::fabs(pa - r.prefill_meas_ms) / r.prefill_meas_ms);
    pre_c.push_back(std::fabs(f->prefill_add_ms + f->prefill_scale * pa - r.prefill_meas_ms) /
                    r.prefill_meas_ms);
    dec_a.push_back(std::fabs(da - r.decode_meas_ms) / r.decode_meas_ms);
    dec_c.push_back(std::fabs(f->decode_add_ms + f->decode_scale * da - r.decode_meas_ms) /
                    r.decode_meas_ms);
  }
  ASSERT_GE(pre_a.size(), 4u);
  std::printf("held out %zu settings: prefill APE median a-priori %.1f%% profile %.1f%%; "
              "decode %.1f%% -> %.1f%%\n",
              pre_a.size(), 100 * Median(pre_a), 100 * Median(pre_c), 100 * Median(dec_a),
              100 * Median(dec_c));
  EXPECT_LT(Median(pre_c), Median(pre_a));
  EXPECT_LT(Median(dec_c), Median(dec_a));
  EXPECT_LT(Median(dec_c), 0.15);
}

TEST(ProfileTest, ThirtyPercentSlowerProfileLowersMaxRate) {
  auto ctx = NewCtx();
  const StepModel* sm = ctx->GetStepModel("llama-3-8b", "h100", 1).value();
  std::string doc = "model,accelerator,tp,kind,batch,input,context,ms\n";
  char line[160];
  for (int b : {1, 4, 16})
    for (int len : {256, 1024, 4096}) {
      std::snprintf(line, sizeof line, "llama-3-8b,h100,1,prefill,%d,%d,,%.4f\n", b, len,
                    1.3 * sm->PrefillMs(b, len));
      doc += line;
      std::snprintf(line, sizeof line, "llama-3-8b,h100,1,decode,%d,,%d,%.4f\n", b * 8, len,
                    1.3 * sm->DecodeStepMs(b * 8, len));
      doc += line;
    }
  Workload w;
  w.input = {1000};
  w.output = {200};
  w.weight = {1};
  auto slo = ParseSlo("ttft_p95_ms=1500,itl_p95_ms=60").value();
  ReplicaConfig cfg;
  cfg.step = sm;
  auto base = MaxRate(cfg, w, slo);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(ctx->profiles().Load(*ctx, doc, "slow").ok());
  ctx->ApplyCalibration("llama-3-8b", "h100", 1, &cfg);
  EXPECT_NEAR(cfg.prefill_factor, 1.3, 0.01);
  EXPECT_NEAR(cfg.decode_factor, 1.3, 0.01);
  auto slow = MaxRate(cfg, w, slo);
  ASSERT_TRUE(slow.ok());
  // Everything 30 % slower: the sustainable rate drops to about 1/1.3 of it or below
  // (latency targets bind harder too).
  EXPECT_LT(slow->rate_rps, base->rate_rps / 1.3 * 1.03);
  EXPECT_GT(slow->rate_rps, base->rate_rps / 1.3 * 0.6);
  // A variant without a profile is untouched.
  ReplicaConfig other;
  ctx->ApplyCalibration("llama-3-8b", "a100", 1, &other);
  EXPECT_EQ(other.prefill_factor, 1);
  EXPECT_EQ(other.decode_add_ms, 0);
}

struct BadCase {
  const char* doc;
  variant_status code;
  const char* needle;
};

TEST(ProfileTest, BadInputGetsClearErrors) {
  const std::string h = "model,accelerator,tp,kind,batch,input,context,ms\n";
  const BadCase cases[] = {
      {"model,accelerator,tp,kind,batch,input,ms\n", VARIANT_E_MISSING_FIELD, "'context'"},
      {"", VARIANT_E_MISSING_FIELD, "no header"},
      {"x", VARIANT_E_MISSING_FIELD, "header"},
      {"model,accelerator,tp,kind,batch,input,context,ms\n", VARIANT_E_NO_DATA, "no measurement"},
      {"nope,h100,1,prefill,1,100,,10\n", VARIANT_E_UNKNOWN_MODEL, "nope"},
      {"llama-3-8b,tpu9,1,prefill,1,100,,10\n", VARIANT_E_UNKNOWN_ACCELERATOR, "tpu9"},
      {"llama-3-8b,h100,1,prefill,1,100,,-5\n", VARIANT_E_INVALID_ARGUMENT, "'ms'"},
      {"llama-3-8b,h100,1,prefill,1,100,,nan\n", VARIANT_E_INVALID_ARGUMENT, "finite"},
      {"llama-3-8b,h100,1,prefill,1,100,,abc\n", VARIANT_E_PARSE, "not a number"},
      {"llama-3-8b,h100,1,prefill,1,,,10\n", VARIANT_E_MISSING_FIELD, "'input'"},
      {"llama-3-8b,h100,1,decode,1,,-3,10\n", VARIANT_E_INVALID_ARGUMENT, "'context'"},
      {"llama-3-8b,h100,1,warmup,1,1,1,10\n", VARIANT_E_INVALID_ARGUMENT, "'kind'"},
      {"llama-3-8b,h100,0,prefill,1,100,,10\n", VARIANT_E_INVALID_ARGUMENT, "'tp'"},
      {"llama-3-8b,h100,1,prefill,1,100,,50\nllama-3-8b,h100,1,prefill,2,400,,20\n",
       VARIANT_E_INVALID_ARGUMENT, "non-monotone"},
  };
  for (const BadCase& c : cases) {
    auto ctx = NewCtx();
    std::string doc = c.doc;
    if (doc.find("model,") != 0 && doc != "" && doc != "x") doc = h + doc;
    Status s = ctx->profiles().Load(*ctx, doc, "bad.csv");
    EXPECT_EQ(s.code(), c.code) << c.doc << " -> " << s.ToString();
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << s.message();
    EXPECT_EQ(ctx->profiles().size(), 0u);
  }
}

}  // namespace
}  // namespace variant
