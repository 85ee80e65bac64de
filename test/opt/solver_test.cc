// Solver properties over random instances: exactness against the MILP and against
// brute-force enumeration, lower-bound validity, caps, and strict priorities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "gen.h"
#include "opt/solver.h"
#include "opt/synth.h"

namespace variant::opt::test {
namespace {

double U01(std::mt19937_64& r) { return std::uniform_real_distribution<double>(0, 1)(r); }
double Rel(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(b)); }

TEST(Solver, FastMatchesMilpWithinReportedGapOn200SmallInstances) {
  std::mt19937_64 rng(42);
  int exact = 0, finished = 0, compared = 0, hybrid_exact = 0;
  double worst = 0, sum_excess = 0;
  int over5 = 0;
  for (int t = 0; t < 200; ++t) {
    GenSpec g;
    g.models = 1 + static_cast<int>(rng() % 3);
    g.variants = 2 + static_cast<int>(rng() % 3);
    g.accels = 1 + static_cast<int>(rng() % 3);
    g.slices = 1 + static_cast<int>(rng() % 2);
    g.classes = 1 + static_cast<int>(rng() % 2);
    g.disaggregated = t % 4 == 3;
    g.tightness = 1.5;
    Instance in = Generate(g, rng);
    Instance pure = in;
    pure.fast_exact_small = false;  // the heuristic alone
    auto f = SolveFast(pure);
    auto m = SolveMilp(in);
    auto h = SolveFast(in);  // with the small-instance MILP
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    ASSERT_TRUE(CheckSolution(in, *h).ok()) << CheckSolution(in, *h).ToString();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(CheckSolution(in, *f).ok()) << CheckSolution(in, *f).ToString();
    ASSERT_TRUE(CheckSolution(in, *m).ok()) << CheckSolution(in, *m).ToString();
    if (!m->proven_optimal) continue;
    ++finished;
    const bool lex = m->status.find("lexicographic") != std::string::npos;
    // The fast answer is never better than the optimum (same objective)...
    if (!lex) {
      EXPECT_GE(f->objective, m->objective * (1 - 1e-6) - 1e-6) << "instance " << t;
    }
    // ...its lower bound is valid...
    EXPECT_LE(f->lower_bound, m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
    EXPECT_LE(m->lp_bound, m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
    // ...and the optimum lies within the fast solver's reported gap.
    EXPECT_LE(f->objective * (1 - f->gap), m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
    EXPECT_LE(h->lower_bound, m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
    if (!lex) {
      EXPECT_GE(h->objective, m->objective * (1 - 1e-6) - 1e-6) << "instance " << t;
    }
    if (Rel(h->objective, m->objective) < 1e-6) ++hybrid_exact;
    if (Rel(f->objective, m->objective) < 1e-6) ++exact;
    if (!lex) {
      worst = std::max(worst, (f->objective - m->objective) / std::max(1e-9, m->objective));
      sum_excess += (f->objective - m->objective) / std::max(1e-9, m->objective);
      ++compared;
      if (f->objective > m->objective * 1.05) ++over5;
    }
  }
  EXPECT_GE(finished, 190);
  RecordProperty("fast_equal_to_milp", exact);
  std::printf("heuristic alone == MILP optimum on %d of %d finished instances; above the "
              "optimum by %.2f%% on average, %.2f%% at worst, > 5%% above on %d; fast with "
              "the small-instance MILP == optimum on %d\n",
              exact, finished, 100 * sum_excess / std::max(1, compared), 100 * worst, over5,
              hybrid_exact);
}

// Tiny instances: one slice per model, so given the replicas the best assignment is
// "serve min(rate, Σ n·cap)"; enumerate every replica vector.
TEST(Solver, MilpMatchesBruteForceOnTinyInstances) {
  std::mt19937_64 rng(7);
  for (int t = 0; t < 60; ++t) {
    GenSpec g;
    g.models = 1 + static_cast<int>(rng() % 2);
    g.variants = 2 + static_cast<int>(rng() % 2);
    g.accels = 1 + static_cast<int>(rng() % 2);
    g.slices = 1;
    g.classes = 1;
    g.tightness = 0.5 + U01(rng);
    Instance in = Generate(g, rng);
    auto m = SolveMilp(in);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(m->proven_optimal);
    const int V = static_cast<int>(in.vars.size());
    std::vector<int> hi(V);
    for (int v = 0; v < V; ++v) {
      double cap = 0;
      for (const auto& q : in.pd[in.vars[v].model]) if (q.var == v) cap = q.cap;
      hi[v] = static_cast<int>(std::ceil(in.dems[in.vars[v].model].rate / cap)) + 1;
    }
    std::vector<int> n(V, 0);
    double best = INFINITY;
    std::function<void(int)> rec = [&](int v) {
      if (v == V) {
        std::vector<double> used(in.accels.size(), 0);
        for (int k = 0; k < V; ++k) used[in.vars[k].accel] += in.vars[k].tp * n[k];
        for (size_t a = 0; a < used.size(); ++a)
          if (in.accels[a].count >= 0 && used[a] > in.accels[a].count) return;
        double obj = 0;
        for (int k = 0; k < V; ++k) obj += in.Price(k) * n[k];
        for (size_t i = 0; i < in.dems.size(); ++i) {
          double capsum = 0;
          for (const auto& q : in.pd[i]) capsum += q.cap * n[q.var];
          obj += in.dems[i].penalty * std::max(0.0, in.dems[i].rate - capsum);
        }
        best = std::min(best, obj);
        return;
      }
      for (n[v] = 0; n[v] <= hi[v]; ++n[v]) rec(v + 1);
      n[v] = 0;
    };
    rec(0);
    EXPECT_NEAR(m->objective, best, 1e-6 * std::max(1.0, best)) << "instance " << t;
  }
}

TEST(Solver, CapsNeverExceededAndStrictPriorityUnderShortage) {
  std::mt19937_64 rng(11);
  int shortage = 0;
  for (int t = 0; t < 80; ++t) {
    GenSpec g;
    g.models = 1 + static_cast<int>(rng() % 3);
    g.variants = 2 + static_cast<int>(rng() % 3);
    g.accels = 1 + static_cast<int>(rng() % 2);
    g.slices = 2;
    g.classes = 2;
    g.max_tp = 1;  // any GPU can move between any two models' variants
    g.tightness = 0.2 + 0.6 * U01(rng);
    Instance in = Generate(g, rng);
    // Most of these tiny instances solve in milliseconds; a few spend seconds in
    // branch-and-bound. A 1 s MILP limit (not the default 10 s) cut this test from
    // ~14 s to ~2.4 s. The caps and strict-priority checks below apply to whatever
    // answer is returned, optimal or time-limited, so no check is dropped.
    in.time_limit_s = 1;
    for (int which = 0; which < 2; ++which) {
      auto r = which == 0 ? SolveFast(in) : SolveMilp(in);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(CheckSolution(in, *r).ok()) << CheckSolution(in, *r).ToString();
      // Strict priority: while slice i is short, no capacity that i could use goes to
      // lower priorities. Lower-priority load is allowed only on the spare part of
      // replicas that higher-priority load needs anyway, on variants that cannot
      // serve i, and no whole replica on an accelerator i could use serves lower
      // priorities only.
      for (size_t i = 0; i < in.dems.size(); ++i) {
        if (r->unserved[i] * in.dems[i].rate <= 1e-4) continue;
        ++shortage;
        const int P = in.dems[i].priority;
        std::vector<bool> usable(in.accels.size(), false), serves_i(in.vars.size(), false);
        for (const auto& q : in.pd[i]) {
          usable[in.vars[q.var].accel] = true;
          serves_i[q.var] = true;
        }
        std::vector<double> hi_load(in.vars.size(), 0), lo_load(in.vars.size(), 0);
        for (size_t j = 0; j < in.dems.size(); ++j)
          for (size_t k = 0; k < in.pd[j].size(); ++k) {
            const double l = r->x_pd[j][k] * in.dems[j].rate / in.pd[j][k].cap;
            (in.dems[j].priority >= P ? hi_load : lo_load)[in.pd[j][k].var] += l;
          }
        for (size_t v = 0; v < in.vars.size(); ++v) {
          if (lo_load[v] <= 1e-6) continue;
          const char* who = which ? "milp" : "fast";
          EXPECT_FALSE(serves_i[v]) << who << " instance " << t << ": variant " << v
                                    << " serves lower priority while slice " << i << " is short";
          if (usable[in.vars[v].accel]) {
            EXPECT_LE(r->n[v], std::ceil(hi_load[v] - 1e-6))
                << who << " instance " << t << ": variant " << v
                << " has replicas for lower priority only while slice " << i << " is short";
          }
        }
      }
    }
  }
  EXPECT_GT(shortage, 20);  // the property was exercised
}

// Both solvers, random instances with transition costs, current replicas and
// shortage: the objective bound never exceeds the objective (nor the MILP optimum),
// and the cost-footing bound (the decision's lower_bound) never exceeds the cost.
TEST(Solver, LowerBoundNeverAboveCostOrObjective) {
  std::mt19937_64 rng(2026);
  int positive_transition = 0;
  for (int t = 0; t < 120; ++t) {
    GenSpec g;
    g.models = 1 + static_cast<int>(rng() % 3);
    g.variants = 2 + static_cast<int>(rng() % 3);
    g.accels = 1 + static_cast<int>(rng() % 3);
    g.slices = 1 + static_cast<int>(rng() % 2);
    g.classes = 1 + static_cast<int>(rng() % 2);
    g.disaggregated = t % 3 == 2;
    g.tightness = 0.3 + 1.5 * U01(rng);
    g.transition = t % 2 ? 0.05 + 0.3 * U01(rng) : 0.0;
    Instance in = Generate(g, rng);
    for (auto& v : in.vars) v.cur = static_cast<int>(rng() % 3);
    // Keep the current replicas within the counts (the solvers may move them anyway).
    std::vector<double> used(in.accels.size(), 0);
    for (auto& v : in.vars) {
      if (used[v.accel] + v.tp * v.cur > in.accels[v.accel].count) v.cur = 0;
      used[v.accel] += v.tp * v.cur;
    }
    Instance pure = in;
    pure.fast_exact_small = false;
    auto m = SolveMilp(in);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    for (const Instance* x : {&pure, &in}) {
      auto f = SolveFast(*x);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      for (const Solution* s : {&*f, &*m}) {
        EXPECT_LE(s->lower_bound, s->objective * (1 + 1e-9) + 1e-9) << s->solver << " " << t;
        EXPECT_LE(CostLowerBound(*s), s->cost + 1e-9) << s->solver << " " << t;
        EXPECT_GE(CostLowerBound(*s), 0) << s->solver << " " << t;
        EXPECT_GE(CostGap(*s), 0);
        if (s->transition > 0) ++positive_transition;
      }
      if (m->proven_optimal && m->status.find("lexicographic") == std::string::npos) {
        EXPECT_LE(f->lower_bound, m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
      }
    }
  }
  EXPECT_GT(positive_transition, 50);  // the case that broke basic.yaml was exercised
}

// The fast solver's integer cover bound (each model's cheapest integer replica mix
// inside the Lagrangian) on the benchmark generator's own small clusters, where
// models need a few replicas so rounding matters: never above the MILP optimum, and
// above the LP relaxation on most instances (the bound is exercised).
TEST(Solver, IntegerCoverBoundNeverAboveMilpOptimumOnSyntheticClusters) {
  std::mt19937_64 rng(7);
  int finished = 0, above_lp = 0;
  for (int t = 0; t < 300; ++t) {
    SynthSpec sp;
    sp.models = 1 + static_cast<int>(rng() % 3);
    sp.variants_per_model = 3 + static_cast<int>(rng() % 4);
    sp.accelerator_types = 2 + static_cast<int>(rng() % 3);
    sp.buckets = 1 + static_cast<int>(rng() % 3);
    sp.classes = 1 + static_cast<int>(rng() % 2);
    sp.scale = 0.1 + 0.6 * U01(rng);
    sp.tightness = t % 3 == 0 ? 100 : 0.5 + 0.5 * U01(rng);
    sp.disaggregated = t % 2 == 1;
    sp.seed = rng();
    Instance in = Synthesize(sp);
    for (auto& v : in.vars)
      if (rng() % 4 == 0) v.max = static_cast<int>(rng() % 3);  // exercise max replicas
    in.fast_exact_small = false;
    auto f = SolveFast(in);
    auto m = SolveMilp(in);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE(CheckSolution(in, *f).ok()) << CheckSolution(in, *f).ToString();
    if (!m.ok() || !m->proven_optimal || m->status.find("lexicographic") != std::string::npos)
      continue;
    ++finished;
    EXPECT_LE(f->lower_bound, m->objective * (1 + 1e-6) + 1e-6) << "instance " << t;
    if (f->lower_bound > m->lp_bound * (1 + 1e-6) + 1e-6) ++above_lp;
  }
  EXPECT_GE(finished, 250);
  EXPECT_GE(above_lp, finished / 2);
  std::printf("integer cover bound above the LP relaxation on %d of %d finished instances\n",
              above_lp, finished);
}

// bench-solver's instance at issue 3's size: 1,000 models × 40 variants × 8 types.
Instance BenchmarkInstance(uint64_t seed) {
  SynthSpec sp;
  sp.models = 1000;
  sp.variants_per_model = 40;
  sp.accelerator_types = 8;
  sp.seed = seed;
  return Synthesize(sp);
}

// Model m of in alone, every accelerator unlimited.
Instance ModelAlone(const Instance& in, int m) {
  Instance s;
  s.accels = in.accels;
  for (auto& a : s.accels) a.count = -1;
  s.n_models = 1;
  std::vector<int> at(in.vars.size(), -1);
  for (size_t v = 0; v < in.vars.size(); ++v)
    if (in.vars[v].model == m) {
      at[v] = static_cast<int>(s.vars.size());
      s.vars.push_back(in.vars[v]);
      s.vars.back().model = 0;
    }
  auto moved = [&](std::vector<Instance::Pair> ps) {
    for (auto& q : ps) q.var = at[q.var];
    return ps;
  };
  for (size_t i = 0; i < in.dems.size(); ++i)
    if (in.dems[i].model == m) {
      s.dems.push_back(in.dems[i]);
      s.dems.back().model = 0;
      s.pd.push_back(moved(in.pd[i]));
      s.p.push_back(moved(in.p[i]));
      s.d.push_back(moved(in.d[i]));
    }
  return s;  // penalties as in the whole instance
}

// Single models of the benchmark (two priority levels, penalties ~1e4 apart): the
// MILP's "optimal" is never dearer than the fast solver's feasible answer. Before the
// MILP capped the higher level's penalty in lp_solve's objective, 17 of seed 1's 1,000
// models were (model 245: $10.96 "optimal", $6.90 feasible).
TEST(Solver, MilpOptimumNeverAboveAFeasibleAnswerOnBenchmarkModels) {
  const Instance in = BenchmarkInstance(1);
  int checked = 0;
  for (int m = 200; m < 350; ++m) {
    Instance one = ModelAlone(in, m);
    one.fast_exact_small = false;
    auto f = SolveFast(one);
    auto x = SolveMilp(one);
    ASSERT_TRUE(f.ok() && x.ok()) << "model " << m;
    ASSERT_TRUE(CheckSolution(one, *x).ok()) << CheckSolution(one, *x).ToString();
    if (!x->proven_optimal) continue;
    ++checked;
    EXPECT_LE(x->objective, f->objective * (1 + 1e-9)) << "model " << m << ": MILP " << x->status;
  }
  EXPECT_GE(checked, 140);
}

// The fast solver's exact pass (ExactPass) on single models of the benchmark, with
// accelerator counts that do not bind (so the bound's multipliers stay at zero and the
// bound is the model's own least cost as far as the pass proves it): never above the
// MILP optimum, and equal to it on most models (147 of these 150; the cover bound
// alone, without the pass, on 118).
TEST(Solver, ExactPassBoundReachesTheMilpOptimumOnBenchmarkModels) {
  const Instance in = BenchmarkInstance(1);
  int checked = 0, equal = 0;
  for (int m = 200; m < 350; ++m) {
    Instance one = ModelAlone(in, m);
    for (auto& a : one.accels) a.count = 1e6;  // capped, never binding
    one.fast_exact_small = false;
    auto f = SolveFast(one);
    auto x = SolveMilp(one);
    ASSERT_TRUE(f.ok() && x.ok()) << "model " << m;
    if (!x->proven_optimal) continue;
    ++checked;
    EXPECT_LE(f->lower_bound, x->objective * (1 + 1e-9) + 1e-9) << "model " << m;
    if (f->lower_bound >= x->objective * (1 - 1e-9)) ++equal;
  }
  EXPECT_GE(checked, 140);
  EXPECT_GE(equal, checked * 9 / 10);
  std::printf("exact pass: bound == MILP optimum on %d of %d single models\n", equal, checked);
}

TEST(Solver, SyntheticClusterFastIsFeasibleWithValidBound) {
  SynthSpec sp;
  sp.models = 50;
  sp.variants_per_model = 12;
  sp.accelerator_types = 6;
  Instance in = Synthesize(sp);
  auto f = SolveFast(in);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(CheckSolution(in, *f).ok()) << CheckSolution(in, *f).ToString();
  EXPECT_LE(f->lower_bound, f->objective);
  EXPECT_GE(f->gap, 0);
}

// The benchmark's size (issue 3): the first greedy is skipped there and the exchange
// between models (Master) runs with two mixes per model. Every cap must still hold,
// every slice be served and the bound stay below the answer; the gap guards the
// exchange (3.05% on this seed before it, 2.67% with a subgradient-priced selection,
// 2.17% with the 0/1 program over the columns, where swaps that need each other's
// accelerators are taken together, 1.83% with the second column set from a
// both-signs subgradient step, 1.29% with the bundle steps, 0.88% with the exact
// pass; the cap is issue 3's 1%).
TEST(Solver, BenchmarkSizeExchangeKeepsCapsAndValidBound) {
  const Instance in = BenchmarkInstance(2);
  auto f = SolveFast(in);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(CheckSolution(in, *f).ok()) << CheckSolution(in, *f).ToString();
  std::vector<double> used(in.accels.size(), 0);
  for (size_t v = 0; v < in.vars.size(); ++v) used[in.vars[v].accel] += in.vars[v].tp * f->n[v];
  for (size_t a = 0; a < in.accels.size(); ++a)
    if (in.accels[a].count >= 0) {
      EXPECT_LE(used[a], in.accels[a].count + 1e-9) << in.accels[a].name;
    }
  for (double u : f->unserved) EXPECT_EQ(u, 0);
  EXPECT_LE(f->lower_bound, f->objective);
  EXPECT_LT(f->gap, 0.01);
}

TEST(Solver, InfeasibleMinimumsAreReported) {
  std::mt19937_64 rng(3);
  GenSpec g;
  Instance in = Generate(g, rng);
  in.vars[0].min = 1000;
  auto f = SolveFast(in);
  EXPECT_EQ(f.status().code(), VARIANT_E_INFEASIBLE);
  auto m = SolveMilp(in);
  EXPECT_EQ(m.status().code(), VARIANT_E_INFEASIBLE);
}

}  // namespace
}  // namespace variant::opt::test
