// The simulated continuous-batching server: scheduler invariants, preemption,
// physics sanity, roles, determinism, and the open-loop runner and rate search.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "context.h"
#include "perf/step_model.h"
#include "sim/runner.h"
#include "sim/server_sim.h"
#include "sim/trace.h"

namespace variant::sim {
namespace {

class SimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Context::Create(ResolveDataDir(nullptr));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ctx_ = std::move(c.value()).release();
    auto s = ctx_->GetStepModel("llama-3-8b", "h100", 1);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    step_ = *s;
  }
  static void TearDownTestSuite() {
    delete ctx_;
    ctx_ = nullptr;
  }
  ServerConfig Cfg() const {
    ServerConfig c;
    c.step = step_;
    return c;
  }
  std::unique_ptr<ServerSim> Make(const ServerConfig& c) {
    auto s = ServerSim::Create(c);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s.value());
  }
  static Context* ctx_;
  static const StepModel* step_;
};
Context* SimTest::ctx_ = nullptr;
const StepModel* SimTest::step_ = nullptr;

double PrefillStepMs(const StepModel* m, double tokens, double past, bool completes) {
  PrefillChunk c{tokens, past, completes};
  StepShape s;
  s.chunks = &c;
  s.n_chunks = 1;
  return m->StepMs(s);
}

TEST_F(SimTest, SingleRequestTtftIsItsPrefillStep) {
  auto sim = Make(Cfg());
  ASSERT_TRUE(sim->Enqueue({1, 2.0, 1000, 3, 0}).ok());
  sim->Drain();
  ASSERT_EQ(sim->finished().size(), 1u);
  const RequestResult& r = sim->finished()[0];
  const double prefill_ms = PrefillStepMs(step_, 1000, 0, true);
  EXPECT_NEAR(r.ttft_ms(), prefill_ms, 1e-9);
  // Two decode steps follow, at context 1001 and 1002.
  const double d1 = step_->StepMs({nullptr, 0, 1, 1001});
  const double d2 = step_->StepMs({nullptr, 0, 1, 1002});
  EXPECT_NEAR(r.ttlt_ms(), prefill_ms + d1 + d2, 1e-9);
  EXPECT_EQ(r.itl_count, 2);
  EXPECT_NEAR(r.itl_mean_ms(), (d1 + d2) / 2, 1e-9);
  EXPECT_EQ(sim->counters().generation_tokens, 3u);
  EXPECT_EQ(sim->counters().prompt_tokens, 1000u);
}

TEST_F(SimTest, LongPromptIsChunkedByTheTokenBudget) {
  ServerConfig c = Cfg();
  c.max_tokens_per_step = 4096;
  auto sim = Make(c);
  ASSERT_TRUE(sim->Enqueue({1, 0.0, 10000, 1, 0}).ok());
  sim->Drain();
  const double want = PrefillStepMs(step_, 4096, 0, false) + PrefillStepMs(step_, 4096, 4096, false) +
                      PrefillStepMs(step_, 1808, 8192, true);
  EXPECT_NEAR(sim->finished()[0].ttft_ms(), want, 1e-9);
  EXPECT_EQ(sim->counters().steps, 3u);
}

TEST_F(SimTest, InvariantsUnderLoad) {
  ServerConfig c = Cfg();
  c.max_batch = 24;
  c.max_tokens_per_step = 2048;
  c.kv_capacity_tokens = 40000;
  auto sim = Make(c);
  int max_running = 0, max_tokens = 0, over_kv = 0;
  sim->SetStepObserver([&](const StepRecord& r) {
    max_running = std::max(max_running, r.running);
    max_tokens = std::max(max_tokens, r.tokens);
    if (r.kv_blocks_used > r.kv_blocks_total) ++over_kv;
    EXPECT_EQ(r.tokens >= r.decode_seqs, true);
  });
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> in(10, 3000), out(1, 400);
  double t = 0;
  const int n = 600;
  for (int i = 0; i < n; ++i) {
    t += std::exponential_distribution<double>(30)(rng);
    ASSERT_TRUE(sim->Enqueue({static_cast<uint64_t>(i), t, in(rng), out(rng), 0}).ok());
    if (i % 50 == 0) {
      sim->AdvanceTo(t);
      const ServerGauges g = sim->gauges();
      EXPECT_LE(g.running, c.max_batch);
      EXPECT_LE(g.kv_usage, 1.0);
    }
  }
  sim->Drain();
  EXPECT_EQ(sim->finished().size(), static_cast<size_t>(n));
  EXPECT_TRUE(sim->Empty());
  EXPECT_EQ(sim->kv_blocks_used(), 0);
  EXPECT_LE(max_running, c.max_batch);
  EXPECT_GT(max_running, 1);
  EXPECT_LE(max_tokens, c.max_tokens_per_step);
  EXPECT_EQ(over_kv, 0);
  for (const RequestResult& r : sim->finished()) {
    EXPECT_GE(r.first_token_s, r.arrival_s);
    EXPECT_GE(r.finish_s, r.first_token_s);
    EXPECT_EQ(r.itl_count, r.output_tokens - 1);
  }
  EXPECT_EQ(sim->counters().requests_finished, static_cast<uint64_t>(n));
}

TEST_F(SimTest, FirstTokensInArrivalOrderAtEqualLengths) {
  ServerConfig c = Cfg();
  c.max_batch = 8;
  c.max_tokens_per_step = 1024;
  auto sim = Make(c);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(sim->Enqueue({static_cast<uint64_t>(i), i * 0.001, 700, 50, 0}).ok());
  sim->Drain();
  std::vector<double> first(100);
  for (const RequestResult& r : sim->finished()) first[r.id] = r.first_token_s;
  for (size_t i = 1; i < first.size(); ++i) EXPECT_LE(first[i - 1], first[i]) << i;
}

TEST_F(SimTest, TinyKvForcesPreemptionAndEverythingFinishes) {
  ServerConfig c = Cfg();
  c.kv_capacity_tokens = 2048;
  auto sim = Make(c);
  int over = 0;
  sim->SetStepObserver([&](const StepRecord& r) { over += r.kv_blocks_used > r.kv_blocks_total; });
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(sim->Enqueue({static_cast<uint64_t>(i), 0.0, 200, 300, 0}).ok());
  sim->Drain();
  EXPECT_EQ(sim->finished().size(), 30u);
  EXPECT_GT(sim->counters().preemptions, 0u);
  EXPECT_EQ(over, 0);
  int preempted = 0;
  for (const RequestResult& r : sim->finished()) {
    preempted += r.preemptions > 0;
    EXPECT_EQ(r.itl_count, 299);
  }
  EXPECT_GT(preempted, 0);
  // Too big for the whole cache: refused up front, not stuck forever.
  EXPECT_EQ(sim->Enqueue({99, 1e6, 2000, 100, 0}).code(), VARIANT_E_DOES_NOT_FIT);
}

TEST_F(SimTest, EnqueueRejectsBadInput) {
  auto sim = Make(Cfg());
  EXPECT_EQ(sim->Enqueue({1, 1.0, 0, 5, 0}).code(), VARIANT_E_INVALID_ARGUMENT);
  EXPECT_EQ(sim->Enqueue({1, std::nan(""), 5, 5, 0}).code(), VARIANT_E_INVALID_ARGUMENT);
  ASSERT_TRUE(sim->Enqueue({1, 5.0, 5, 5, 0}).ok());
  EXPECT_EQ(sim->Enqueue({2, 4.0, 5, 5, 0}).code(), VARIANT_E_INVALID_ARGUMENT);
  sim->SetDraining(true);
  EXPECT_EQ(sim->Enqueue({3, 6.0, 5, 5, 0}).code(), VARIANT_E_INVALID_ARGUMENT);
  sim->Drain();
  EXPECT_TRUE(sim->Empty());
  ServerConfig bad = Cfg();
  bad.max_batch = 0;
  EXPECT_FALSE(ServerSim::Create(bad).ok());
  bad = Cfg();
  bad.prefix_hit_ratio = std::nan("");
  EXPECT_FALSE(ServerSim::Create(bad).ok());
}

TEST_F(SimTest, IdleClockFollowsAdvance) {
  auto sim = Make(Cfg());
  sim->AdvanceTo(10);
  EXPECT_DOUBLE_EQ(sim->now(), 10);
  ASSERT_TRUE(sim->Enqueue({1, 12.0, 100, 2, 0}).ok());
  sim->AdvanceTo(11);
  EXPECT_EQ(sim->gauges().waiting, 0);
  EXPECT_EQ(sim->finished().size(), 0u);
  sim->AdvanceTo(20);
  ASSERT_EQ(sim->finished().size(), 1u);
  EXPECT_GT(sim->finished()[0].first_token_s, 12.0);
}

// A cluster simulator feeds requests as its clock reaches them; that must give the
// same answer as handing the whole list over at once.
TEST_F(SimTest, IncrementalFeedingEqualsBatchRun) {
  ServerConfig c = Cfg();
  c.max_batch = 32;
  c.kv_capacity_tokens = 30000;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> in(20, 2500), out(1, 300);
  std::vector<SimRequest> reqs;
  double t = 0;
  for (int i = 0; i < 400; ++i) {
    t += std::exponential_distribution<double>(12)(rng);
    reqs.push_back({static_cast<uint64_t>(i), t, in(rng), out(rng), 0});
  }
  auto batch = Make(c);
  for (const SimRequest& r : reqs) ASSERT_TRUE(batch->Enqueue(r).ok());
  batch->Drain();
  auto inc = Make(c);
  for (const SimRequest& r : reqs) {
    inc->AdvanceTo(r.arrival_s);
    ASSERT_TRUE(inc->Enqueue(r).ok());
  }
  inc->SetDraining(true);
  inc->Drain();
  EXPECT_TRUE(inc->Empty());
  ASSERT_EQ(batch->finished().size(), inc->finished().size());
  for (size_t i = 0; i < batch->finished().size(); ++i) {
    const RequestResult& a = batch->finished()[i];
    const RequestResult& b = inc->finished()[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_DOUBLE_EQ(a.first_token_s, b.first_token_s);
    EXPECT_DOUBLE_EQ(a.finish_s, b.finish_s);
    EXPECT_EQ(a.preemptions, b.preemptions);
  }
  EXPECT_EQ(batch->counters().steps, inc->counters().steps);
  EXPECT_EQ(batch->counters().itl_ms.count(), inc->counters().itl_ms.count());
  EXPECT_EQ(batch->counters().generation_tokens, inc->counters().generation_tokens);
}

TEST_F(SimTest, PrefixHitsRemovePrefillWork) {
  ServerConfig c = Cfg();
  c.prefix_hit_ratio = 0.5;
  auto sim = Make(c);
  ASSERT_TRUE(sim->Enqueue({1, 0.0, 1600, 1, 0}).ok());
  sim->Drain();
  EXPECT_EQ(sim->counters().prefix_hit_tokens, 800u);
  EXPECT_EQ(sim->counters().prompt_tokens, 800u);
  EXPECT_NEAR(sim->finished()[0].ttft_ms(), PrefillStepMs(step_, 800, 800, true), 1e-9);
}

TEST_F(SimTest, PrefillRoleAddsKvTransferToTtft) {
  ServerConfig c = Cfg();
  c.role = VARIANT_ROLE_P;
  c.kv_link_gbps = 50;
  auto sim = Make(c);
  ASSERT_TRUE(sim->Enqueue({1, 0.0, 2000, 100, 0}).ok());
  sim->Drain();
  const RequestResult& r = sim->finished()[0];
  const double bytes = 2000 * step_->arch().KvBytesPerTokenPerGpu(1);
  const double want_ms = PrefillStepMs(step_, 2000, 0, true) + bytes * 8 / 50e9 * 1e3;
  EXPECT_NEAR(r.ttft_ms(), want_ms, 1e-9);
  EXPECT_DOUBLE_EQ(r.finish_s, r.first_token_s);
  EXPECT_EQ(sim->counters().generation_tokens, 1u);
}

TEST_F(SimTest, DecodeRoleStartsWithThePromptInKv) {
  ServerConfig c = Cfg();
  c.role = VARIANT_ROLE_D;
  auto sim = Make(c);
  ASSERT_TRUE(sim->Enqueue({1, 0.0, 2000, 4, 0}).ok());
  sim->Drain();
  const RequestResult& r = sim->finished()[0];
  EXPECT_EQ(sim->counters().prompt_tokens, 0u);
  EXPECT_EQ(sim->counters().generation_tokens, 3u);
  EXPECT_NEAR(r.ttft_ms(), step_->StepMs({nullptr, 0, 1, 2001}), 1e-9);
  EXPECT_EQ(r.itl_count, 2);
}

TEST_F(SimTest, TtftGrowsWithRate) {
  auto sampler = LengthSampler::FromWorkload(LognormalMix(1000, 150));
  ASSERT_TRUE(sampler.ok());
  RunOptions o;
  o.num_requests = 1500;
  auto sat = SaturationRate(Cfg(), *sampler, o);
  ASSERT_TRUE(sat.ok()) << sat.status().ToString();
  EXPECT_GT(*sat, 1.0);
  double prev = 0;
  for (double f : {0.2, 0.5, 0.8}) {
    auto s = RunPoisson(Cfg(), *sampler, f * *sat, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_GT(s->ttft_p95_ms, prev) << f;
    EXPECT_TRUE(s->stable) << f;
    EXPECT_NEAR(s->rate_rps, f * *sat, 0.15 * f * *sat);
    EXPECT_GT(s->utilization, 0);
    EXPECT_LE(s->utilization, 1);
    prev = s->ttft_p95_ms;
  }
  // Far above saturation the queue grows without bound.
  auto over = RunPoisson(Cfg(), *sampler, 2.0 * *sat, o);
  ASSERT_TRUE(over.ok());
  EXPECT_FALSE(over->stable);
}

TEST_F(SimTest, DeterministicPerSeed) {
  auto sampler = LengthSampler::FromWorkload(LognormalMix(500, 100));
  ASSERT_TRUE(sampler.ok());
  RunOptions o;
  o.num_requests = 400;
  o.seed = 11;
  auto a = RunPoisson(Cfg(), *sampler, 5, o);
  auto b = RunPoisson(Cfg(), *sampler, 5, o);
  o.seed = 12;
  auto c = RunPoisson(Cfg(), *sampler, 5, o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->ttft_ms, b->ttft_ms);
  EXPECT_EQ(a->ttlt_ms, b->ttlt_ms);
  EXPECT_DOUBLE_EQ(a->itl_p95_ms, b->itl_p95_ms);
  EXPECT_NE(a->ttft_ms, c->ttft_ms);
}

TEST_F(SimTest, SustainableRateMeetsTheSloAndIsBelowSaturation) {
  auto sampler = LengthSampler::FromWorkload(LognormalMix(800, 120));
  ASSERT_TRUE(sampler.ok());
  SearchOptions o;
  o.run.num_requests = 800;
  o.rel_tol = 0.03;
  std::vector<SloTerm> slo = {{VARIANT_METRIC_TTFT, 95, 400}, {VARIANT_METRIC_ITL, 95, 60}};
  auto r = SustainableRate(Cfg(), *sampler, slo, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->max_rate_rps, 0);
  EXPECT_LT(r->max_rate_rps, 1.25 * r->saturation_rps);
  EXPECT_TRUE(MeetsSlo(r->at_max, slo));
  EXPECT_LE(r->at_max.ttft_p95_ms, 400);
  // Bisection leaves a missing probe within rel_tol above the answer.
  bool bracketed = false;
  for (const auto& [rate, met] : r->probes)
    if (!met && rate <= r->max_rate_rps * (1 + o.rel_tol) + 1e-9) bracketed = true;
  EXPECT_TRUE(bracketed);

  std::vector<SloTerm> impossible = {{VARIANT_METRIC_TTFT, 95, 0.5}};
  auto no = SustainableRate(Cfg(), *sampler, impossible, o);
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.status().code(), VARIANT_E_SLO_UNATTAINABLE);
}

// On an Azure 2023 trace's own lengths under one SLO: the simulated sustainable rate
// (6,000 requests) and the model's max rate on the trace's length mix.
void ModelAndSimOnAzure(const StepModel* step, const std::string& file,
                        const std::vector<SloTerm>& slo, SearchResult* sim, Prediction* model) {
  auto trace = ReadTrace(ResolveDataDir(nullptr) + "/traces/azure-2023/" + file);
  ASSERT_TRUE(trace.ok()) << trace.status().ToString();
  auto sampler = LengthSampler::FromTrace(*trace);
  ASSERT_TRUE(sampler.ok());
  ServerConfig cfg;
  cfg.step = step;
  SearchOptions o;
  o.run.num_requests = 6000;
  auto s = SustainableRate(cfg, *sampler, slo, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  *sim = std::move(*s);
  ReplicaConfig rc;
  rc.step = step;
  auto m = MaxRate(rc, LengthMix(*trace), slo);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  *model = *m;
}

// Regression (model-vs-sim, code mix on h100: model +22.8 % before the ITL spread): on
// the Azure code trace's own lengths, where ITL p95 falls among the prompt-starting
// steps, the model's max rate under an ITL p95 term is within 10 % of the simulated
// sustainable rate. With one step time per length bucket the model's p95 stayed on
// one bucket's step time past the rate where the simulated gaps crossed the target.
TEST_F(SimTest, CodeMixItlBoundMaxRateMatchesTheSimulation) {
  const std::vector<SloTerm> slo = {{VARIANT_METRIC_TTFT, 95, 418}, {VARIANT_METRIC_ITL, 95, 41}};
  SearchResult sim;
  Prediction model;
  ASSERT_NO_FATAL_FAILURE(ModelAndSimOnAzure(step_, "AzureLLMInferenceTrace_code.csv", slo, &sim, &model));
  EXPECT_NEAR(model.rate_rps / sim.max_rate_rps, 1.0, 0.10)
      << "model " << model.rate_rps << " rps, simulation " << sim.max_rate_rps << " rps";
}

// TPOT (a request's mean gap, percentile over requests) on the Azure conversation
// trace's own lengths: the model's max rate under a TPOT p95 term is within 15 % of
// the simulated sustainable rate, and the simulation reads the term per request.
TEST_F(SimTest, ConvMixTpotBoundMaxRateMatchesTheSimulation) {
  const std::vector<SloTerm> slo = {{VARIANT_METRIC_TTFT, 99, 2000}, {VARIANT_METRIC_TPOT, 95, 30}};
  SearchResult sim;
  Prediction model;
  ASSERT_NO_FATAL_FAILURE(ModelAndSimOnAzure(step_, "AzureLLMInferenceTrace_conv.csv", slo, &sim, &model));
  const SimStats& at = sim.at_max;
  ASSERT_FALSE(at.tpot_ms.empty());
  EXPECT_TRUE(std::is_sorted(at.tpot_ms.begin(), at.tpot_ms.end()));
  EXPECT_LE(at.Metric(slo[1]), 30);
  // Averaging over a request's gaps: the TPOT p95 is below the gaps' own p95.
  EXPECT_LT(at.Metric(slo[1]), at.Metric({VARIANT_METRIC_ITL, 95, 30}));
  EXPECT_NEAR(model.rate_rps / sim.max_rate_rps, 1.0, 0.15)
      << "model " << model.rate_rps << " rps, simulation " << sim.max_rate_rps << " rps";
}

TEST(LogHistogram, QuantilesWithinABinWidth) {
  LogHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Add(i);
  EXPECT_NEAR(h.Quantile(0.5), 500, 500 * 0.011);
  EXPECT_NEAR(h.Quantile(0.95), 950, 950 * 0.011);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_NEAR(h.mean(), 500.5, 1e-9);
  EXPECT_NEAR(static_cast<double>(h.CountAtMost(100)), 100, 2);
  LogHistogram snap = h;
  h.Add(5000, 10);
  h.Subtract(snap);
  EXPECT_EQ(h.count(), 10u);
  EXPECT_NEAR(h.Quantile(0.5), 5000, 5000 * 0.011);
}

}  // namespace
}  // namespace variant::sim
