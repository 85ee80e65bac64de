// The simulated cluster (bridge/sim/cluster.h, simulate.h): conservation of requests,
// cold start, accelerator caps, reversal counting, bad input, and one small end-to-end
// `simulate` with every policy through the real plugins and libvariant.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "context.h"
#include "sim/cluster.h"
#include "sim/simulate.h"

namespace variant::sim {
namespace {

namespace fs = std::filesystem;

// Scripted controller: the desired count of (model 0, variant 0) changes at given times.
class Script : public Controller {
 public:
  Script(std::vector<std::pair<double, int>> steps, int initial)
      : steps_(std::move(steps)), initial_(initial) {}
  Status Initial(const std::vector<std::vector<const ClusterRequest*>>&, Desired* out) override {
    out->replicas = {{initial_}};
    return Status::Ok();
  }
  Status Decide(const Observed& obs, Desired* out) override {
    int n = initial_;
    for (auto& [t, k] : steps_)
      if (obs.now_s >= t) n = k;
    out->replicas = {{n}};
    seen_rates.push_back(obs.gateway[0].arrival_rate_rps);
    return Status::Ok();
  }
  std::vector<double> seen_rates;

 private:
  std::vector<std::pair<double, int>> steps_;
  int initial_;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Context::Create(ResolveDataDir(nullptr));
    ASSERT_TRUE(c.ok()) << c.status().message();
    ctx_ = std::move(*c);
    auto step = ctx_->GetStepModel("llama-3-8b", "h100", 1);
    ASSERT_TRUE(step.ok());
    spec_.accelerators = {{"h100", 4.25, 3}};
    auto slo = ParseSlo("ttft_p95_ms=2000,itl_p95_ms=100");
    ASSERT_TRUE(slo.ok());
    spec_.classes = {{"c", *slo}};
    ClusterVariant v;
    v.name = "h100-tp1";
    v.step = *step;
    v.cost_per_hour = 4.25;
    spec_.models = {{"m", {v}}};
    spec_.cold_start_s = 60;
  }
  std::vector<ClusterRequest> Poisson(double rate, double dur, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::exponential_distribution<double> gap(rate);
    std::uniform_int_distribution<int> in(100, 3000), out(10, 300);
    std::vector<ClusterRequest> r;
    for (double t = gap(rng); t < dur; t += gap(rng)) r.push_back({t, 0, 0, in(rng), out(rng)});
    return r;
  }
  std::unique_ptr<Context> ctx_;
  ClusterSpec spec_;
};

TEST_F(ClusterTest, EveryRequestFinishesOrIsCountedUnserved) {
  auto reqs = Poisson(20, 300, 1);
  // 1 replica, up to 5 wanted at t = 60 (cap 3), down to 1 at t = 200.
  Script ctl({{60, 5}, {200, 1}}, 1);
  auto r = RunCluster(spec_, reqs, &ctl, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->requests, reqs.size());
  EXPECT_EQ(r->finished + r->unserved, reqs.size());
  EXPECT_GT(r->finished, 0u);
  uint64_t per_variant = r->per_variant[0][0].first;
  EXPECT_EQ(per_variant, r->finished);
  EXPECT_GT(r->cost_usd, 0);
  EXPECT_GT(r->slo_attainment, 0);
  EXPECT_LE(r->slo_attainment, 1);
  // The gateway's rate reached the controller through the collector and the bus codec.
  ASSERT_FALSE(ctl.seen_rates.empty());
  double seen = 0;
  int n = 0;
  for (double x : ctl.seen_rates) {
    if (std::isfinite(x) && x > 0) {
      seen += x;
      ++n;
    }
  }
  ASSERT_GT(n, 0);
  EXPECT_NEAR(seen / n, 20, 4);
}

TEST_F(ClusterTest, ColdStartRespectedAndCapsNeverExceeded) {
  auto reqs = Poisson(20, 300, 2);
  Script ctl({{60, 5}, {200, 1}}, 1);
  auto r = RunCluster(spec_, reqs, &ctl, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->max_accelerators_used_over_cap, 0);
  EXPECT_GT(r->capped, 0);  // 5 wanted, 3 allowed
  int added_later = 0;
  for (const auto& l : r->lives) {
    if (l.added_s > 0) {
      ++added_later;
      EXPECT_DOUBLE_EQ(l.ready_s - l.added_s, 60);
    }
    // No replica serves before it is ready.
    if (l.first_work_s >= 0) {
      EXPECT_GE(l.first_work_s, l.ready_s);
    }
  }
  EXPECT_EQ(added_later, 2);
  // Replicas alive at any time never exceed the cap (3 accelerators).
  for (const auto& a : r->lives) {
    int alive = 0;
    for (const auto& b : r->lives) {
      double end = b.removed_s < 0 ? 1e18 : b.removed_s;
      alive += (b.added_s <= a.added_s && a.added_s < end);
    }
    EXPECT_LE(alive, 3);
  }
}

TEST_F(ClusterTest, NoReplicaMeansRequestsWaitAtTheGatewayNotLost) {
  auto reqs = Poisson(5, 120, 3);
  Script ctl({{30, 1}}, 0);  // nothing warm; one replica asked for at t = 30, ready at 90
  auto r = RunCluster(spec_, reqs, &ctl, 1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->finished + r->unserved, reqs.size());
  EXPECT_EQ(r->unserved, 0u);
  // The first requests waited for the cold start: their TTFT exceeds 60 s, so the SLO
  // misses are visible in the attainment.
  EXPECT_LT(r->slo_attainment, 0.9);
}

TEST_F(ClusterTest, UnsortedRequestsAreRejected) {
  std::vector<ClusterRequest> reqs = {{5, 0, 0, 10, 10}, {4, 0, 0, 10, 10}};
  Script ctl({}, 1);
  auto r = RunCluster(spec_, reqs, &ctl, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sorted"), std::string::npos);
}

TEST(Reversals, CountsOppositeChangesWithinTheWindow) {
  // variant 1: up at 0, down at 100 (reversal), up at 500 (outside 300 s: none).
  // variant 2: up, up (same direction: none), down at 250 (reversal).
  std::vector<std::tuple<double, int, int>> c = {
      {0, 1, +1}, {10, 2, +1}, {100, 1, -1}, {200, 2, +1}, {250, 2, -1}, {500, 1, +1}};
  EXPECT_EQ(CountReversals(c, 300), 2);
  EXPECT_EQ(CountReversals(c, 40), 0);  // 250 - 200 > 40
  EXPECT_EQ(CountReversals({}, 300), 0);
}

// ---------------------------------------------------------------- simulate ----

class SimulateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("simulate_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  std::string Config(const std::string& trace, const std::string& slo = "{ttft_p99_ms: 3000, itl_p99_ms: 150}",
                     const std::string& extra_model = "") {
    return Write("sim.yaml",
                 "schema_version: 1\n"
                 "accelerators: [{name: h100, count: 8}, {name: l40s, count: 8}]\n"
                 "classes: [{name: chat, slo: " + slo + "}]\n"
                 "models:\n"
                 "  - name: llama-3-8b\n"
                 "    variants: [{name: h100-tp1, accelerator: h100}, {name: l40s-tp1, accelerator: l40s}]\n" +
                     extra_model +
                     "options: {headroom: 0.1}\n"
                     "simulate:\n"
                     "  traces: [{model: llama-3-8b, file: " + trace + ", class: chat}]\n"
                     "  cold_start_s: 30\n");
  }
  SimulateOptions Opt(const std::string& config) {
    SimulateOptions o;
    o.config_path = config;
    o.plugin_dirs = {VARIANT_TEST_PLUGIN_DIR};
    return o;
  }
  std::string PoissonTrace(double rate, double dur) {
    std::mt19937_64 rng(7);
    std::exponential_distribution<double> gap(rate);
    std::uniform_int_distribution<int> in(100, 2000), out(10, 200);
    std::string t = "timestamp_s,input_tokens,output_tokens\n";
    for (double x = 0; x < dur; x += gap(rng))
      t += std::to_string(x) + "," + std::to_string(in(rng)) + "," + std::to_string(out(rng)) + "\n";
    return Write("trace.csv", t);
  }
  fs::path dir_;
};

TEST_F(SimulateTest, EndToEndEveryPolicyOnIdenticalArrivals) {
  auto o = Opt(Config(PoissonTrace(8, 240)));
  auto r = Simulate(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& j = *r;
  EXPECT_EQ(j["schema"], "variant-simulate/1");
  EXPECT_EQ(j["cold_start_s"], 30);
  ASSERT_EQ(j["models"].size(), 1u);
  uint64_t n = j["models"][0]["requests"];
  EXPECT_GT(n, 1000u);
  for (const char* p : {"static", "hpa", "wva", "variant", "oracle"}) {
    SCOPED_TRACE(p);
    ASSERT_TRUE(j["policies"].contains(p));
    const auto& q = j["policies"][p];
    EXPECT_EQ(q["requests"], n);  // identical arrivals
    EXPECT_GT(q["cost_usd"].get<double>(), 0);
    EXPECT_GE(q["slo_attainment"].get<double>(), 0);
    EXPECT_LE(q["slo_attainment"].get<double>(), 1);
    EXPECT_EQ(q["decide_errors"], 0) << q.value("last_error", "");
    const auto& s = q["series"];
    EXPECT_EQ(s["t_s"].size(), s["cost_per_hour"].size());
    EXPECT_FALSE(s["replicas"].empty());
    EXPECT_EQ(q["ttft_ms_hist"]["edges"].size(), q["ttft_ms_hist"]["counts"].size() + 1);
    // The series cover the trace (240 s), not the drain after it.
    ASSERT_FALSE(s["t_s"].empty());
    EXPECT_LE(s["t_s"].back().get<double>(), 240.0);
    EXPECT_GE(s["t_s"].back().get<double>(), 240.0 - 30.0);
  }
  // The online correction ran in the loop: observations fed, factors reported.
  for (const char* p : {"variant", "oracle"}) {
    const auto& q = j["policies"][p];
    EXPECT_GT(q["observations"].get<int>(), 0) << p;
    EXPECT_GT(q["observations_accepted"].get<int>(), 0) << p;
    bool any = false;
    for (const auto& v : q["per_variant"]) {
      if (!v.contains("prefill_factor")) continue;
      any = true;
      EXPECT_GT(v["prefill_factor"].get<double>(), 0);
      EXPECT_GT(v["decode_factor"].get<double>(), 0);
    }
    EXPECT_TRUE(any) << p;
  }
  EXPECT_FALSE(j["policies"]["static"].contains("observations"));
  EXPECT_FALSE(j["policies"]["hpa"]["hpa_sweep"].empty());
  EXPECT_TRUE(j["savings"].contains("variant_vs_hpa"));
  // A light steady load: the optimizer meets the SLO.
  EXPECT_GE(j["policies"]["variant"]["slo_attainment"].get<double>(), 0.95);
  // The attainment series, weighted by each window's arrivals (counted from the trace
  // itself), gives back the run's attainment: every request is in exactly one window.
  std::vector<double> arrivals;
  {
    std::ifstream in(dir_ / "trace.csv");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) arrivals.push_back(std::stod(line.substr(0, line.find(','))));
  }
  ASSERT_EQ(arrivals.size(), n);
  for (const char* p : {"static", "variant"}) {
    SCOPED_TRACE(p);
    const auto& q = j["policies"][p];
    std::vector<double> t = q["series"]["t_s"];
    const auto& a = q["series"]["slo_attainment"]["llama-3-8b"];
    ASSERT_EQ(a.size(), t.size());
    std::vector<double> cnt(t.size(), 0);
    for (double x : arrivals) cnt[std::upper_bound(t.begin(), t.end(), x - arrivals[0]) - t.begin() - 1]++;
    double ok = 0;
    for (size_t k = 0; k < t.size(); ++k) {
      if (cnt[k] == 0) {
        EXPECT_TRUE(a[k].is_null()) << k;
        continue;
      }
      ASSERT_TRUE(a[k].is_number()) << k;
      EXPECT_GE(a[k].get<double>(), 0);
      EXPECT_LE(a[k].get<double>(), 1);
      ok += a[k].get<double>() * cnt[k];
    }
    EXPECT_NEAR(ok / n, q["slo_attainment"].get<double>(), 1e-9);
  }
}

TEST_F(SimulateTest, SeedsGiveConfidenceIntervalsAndJobsTheSameFigures) {
  auto o = Opt(Config(PoissonTrace(6, 120)));
  o.policies = {"static", "variant"};
  o.seeds = 3;
  o.rate_scale = 1.5;  // seeded thinning/duplication: the seeds see different arrivals
  auto a = Simulate(o);
  ASSERT_TRUE(a.ok()) << a.status().message();
  for (const char* p : {"static", "variant"}) {
    const auto& q = (*a)["policies"][p];
    for (const char* k : {"cost_usd_ci95", "slo_attainment_ci95", "ttft_p95_ms_ci95", "reversals_ci95"}) {
      ASSERT_TRUE(q.contains(k)) << p << " " << k;
      EXPECT_GE(q[k].get<double>(), 0);
    }
  }
  EXPECT_GT((*a)["policies"]["variant"]["ttft_p95_ms_ci95"].get<double>(), 0);
  // Each seed's figures beside the mean.
  for (const char* p : {"static", "variant"}) {
    const auto& q = (*a)["policies"][p];
    ASSERT_EQ(q["per_seed"].size(), 3u) << p;
    double sum = 0;
    for (const auto& x : q["per_seed"]) sum += x["cost_usd"].get<double>();
    EXPECT_NEAR(sum / 3, q["cost_usd"].get<double>(), 1e-9) << p;
  }
  o.jobs = 2;  // threads change nothing but the wall time
  auto b = Simulate(o);
  ASSERT_TRUE(b.ok()) << b.status().message();
  for (const char* p : {"static", "variant"}) {
    EXPECT_DOUBLE_EQ((*a)["policies"][p]["cost_usd"].get<double>(), (*b)["policies"][p]["cost_usd"].get<double>());
    EXPECT_DOUBLE_EQ((*a)["policies"][p]["slo_attainment"].get<double>(),
                     (*b)["policies"][p]["slo_attainment"].get<double>());
  }
}

TEST_F(SimulateTest, PerModelItlIsTheModelsOwn) {
  // Two models on different accelerators (l40s decodes slower than h100): each
  // per_model itl_p95_ms is its own, not the policy-wide figure.
  std::string t = PoissonTrace(4, 120);
  std::string cfg = Write("two.yaml",
      "schema_version: 1\n"
      "accelerators: [{name: h100, count: 8}, {name: l40s, count: 8}]\n"
      "classes: [{name: chat, slo: {ttft_p99_ms: 3000, itl_p99_ms: 150}}]\n"
      "models:\n"
      "  - {name: llama-3-8b, variants: [{name: l40s-tp1, accelerator: l40s}]}\n"
      "  - {name: mistral-7b, variants: [{name: h100-tp1, accelerator: h100}]}\n"
      "simulate:\n"
      "  traces: [{model: llama-3-8b, file: " + t + ", class: chat},\n"
      "           {model: mistral-7b, file: " + t + ", class: chat}]\n"
      "  cold_start_s: 30\n");
  auto o = Opt(cfg);
  o.policies = {"static"};
  auto r = Simulate(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& pm = (*r)["policies"]["static"]["per_model"];
  ASSERT_EQ(pm.size(), 2u);
  double a = pm[0]["itl_p95_ms"], b = pm[1]["itl_p95_ms"];
  EXPECT_GT(a, 0);
  EXPECT_GT(b, 0);
  EXPECT_GT(std::fabs(a - b), 0.05 * std::max(a, b)) << a << " " << b;
  double all = (*r)["policies"]["static"]["itl_p95_ms"];
  EXPECT_LE(all, std::max(a, b) * 1.02);
  EXPECT_GE(all, std::min(a, b) * 0.98);
}

TEST_F(SimulateTest, SuperposedRateScaleKeepsCountAndDurationAndSpreadsCopies) {
  // 20 requests in one burst at t = 0..1 s, then one at 600 s: duplicating x3 piles 60
  // requests into the first second; superposing puts copies 1 and 2 at random offsets.
  std::string t = "timestamp_s,input_tokens,output_tokens\n";
  for (int i = 0; i < 20; ++i) t += std::to_string(i * 0.05) + ",100,10\n";
  t += "600,100,10\n";
  std::string tf = Write("burst.csv", t);
  for (const char* method : {"duplicate", "superpose"}) {
    SCOPED_TRACE(method);
    std::string cfg = Config(tf);
    std::ofstream(cfg, std::ios::app) << "  rate_scale_method: " << method << "\n";
    auto o = Opt(cfg);
    o.rate_scale = 3;
    o.policies = {"static"};
    auto r = Simulate(o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const auto& j = *r;
    EXPECT_EQ(j["models"][0]["requests"].get<uint64_t>(), 63u);
    const auto& s = j["policies"]["static"]["series"];
    double first = s["demand_rps"]["llama-3-8b"][1].get<double>() * 30;  // arrivals in [0, 30)
    if (std::string(method) == "duplicate")
      EXPECT_GE(first, 55.0);  // all but the last burst request's copies (they go into its gap)
    else
      EXPECT_LE(first, 42.0);  // copy 0's 20 (+ a copy's 20 only if its offset < 30 s)
    EXPECT_LE(s["t_s"].back().get<double>(), 601.0);
  }
  std::string cfg = Config(tf);
  std::ofstream(cfg, std::ios::app) << "  rate_scale_method: shuffle\n";
  auto r = Simulate(Opt(cfg));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("rate_scale_method"), std::string::npos) << r.status().message();
}

TEST_F(SimulateTest, OnlineCorrectionMustBeABoolean) {
  std::string cfg = Config(PoissonTrace(1, 10));
  std::ofstream(cfg, std::ios::app) << "  online_correction: yes please\n";
  auto r = Simulate(Opt(cfg));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("online_correction"), std::string::npos) << r.status().message();
}

TEST_F(SimulateTest, MalformedTraceLineNamesTheLine) {
  std::string t = Write("bad.csv", "timestamp_s,input_tokens,output_tokens\n0,10,10\n1,abc,10\n");
  auto r = Simulate(Opt(Config(t)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.csv:3"), std::string::npos) << r.status().message();
}

TEST_F(SimulateTest, UnsortedTimestampsAreAnError) {
  std::string t = Write("uns.csv", "0,10,10\n5,10,10\n2,10,10\n");
  auto r = Simulate(Opt(Config(t)));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("uns.csv:3"), std::string::npos) << r.status().message();
}

TEST_F(SimulateTest, ModelWithNoVariantIsAnError) {
  std::string t = Write("m.csv", "0,10,10,other-model\n1,10,10,other-model\n");
  auto o = Opt(Config(PoissonTrace(1, 10)));
  o.traces = {{"", t}};
  auto r = Simulate(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'other-model' has no variant"), std::string::npos)
      << r.status().message();
  // And a model listed with an empty variant list.
  auto r2 = Simulate(Opt(Config(PoissonTrace(1, 10), "{ttft_p99_ms: 3000}",
                                "  - name: mistral-7b\n    variants: []\n")));
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("'mistral-7b' has no variant"), std::string::npos)
      << r2.status().message();
}

TEST_F(SimulateTest, SloNoVariantCanMeetIsAnError) {
  auto r = Simulate(Opt(Config(PoissonTrace(1, 10), "{ttft_p99_ms: 1, itl_p99_ms: 0.5}")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), VARIANT_E_SLO_UNATTAINABLE);
  EXPECT_NE(r.status().message().find("no variant of model 'llama-3-8b' can meet class 'chat'"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace variant::sim
