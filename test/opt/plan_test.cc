// Plan property: over 1,000 random transitions, every intermediate state fits the caps
// and serves the demand (checked by an independent LP over the state's fixed
// replicas), and the plan ends at the target. Where a plan has an unsafe step, a
// brute-force search over every state within the caps proves that no safe ordering
// exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <set>

#include "gen.h"
#include "opt/plan.h"
#include "opt/solver.h"

namespace variant::opt::test {
namespace {

// Unserved rps when the replicas are fixed to s (LP over the assignment only).
double UnservedAt(const Instance& in, const std::vector<int>& s) {
  Instance fx = in;
  fx.transition = 0;
  for (size_t v = 0; v < fx.vars.size(); ++v) {
    fx.vars[v].fixed = true;
    fx.vars[v].cur = s[v];
  }
  for (auto& a : fx.accels) a.count = -1;  // caps are checked separately
  auto r = SolveMilp(fx);
  if (!r.ok()) return INFINITY;
  double u = 0;
  for (size_t i = 0; i < fx.dems.size(); ++i) u += r->unserved[i] * fx.dems[i].rate;
  return u;
}

// Breadth-first search over every state reachable from `from` by single-replica moves
// (add; remove; flip between variants of one model on the same accelerator and tp)
// through states that fit the caps and serve every model's demand (UnservedAt). The
// caps bound every count (all accelerator counts are finite here). Returns 1 if `to`
// is reached, 0 if the reachable states are exhausted without it (no safe ordering
// exists), -1 past `limit` states. *states: states visited.
int BruteForce(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
               int limit, int* states) {
  const int V = static_cast<int>(in.vars.size());
  std::map<std::vector<int>, bool> memo;  // {model, its counts} -> served
  auto served = [&](const std::vector<int>& s, int m) {
    std::vector<int> key{m};
    for (int v = 0; v < V; ++v)
      if (in.vars[v].model == m) key.push_back(s[v]);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    std::vector<int> t(V);  // the other models get plenty, so only m can fall short
    for (int v = 0; v < V; ++v) t[v] = in.vars[v].model == m ? s[v] : 1000;
    return memo[key] = UnservedAt(in, t) <= 1e-6;
  };
  std::set<std::vector<int>> seen{from};
  std::deque<std::vector<int>> q{from};
  auto push = [&](const std::vector<int>& n, int m) {
    if (seen.count(n) || !WithinCaps(in, n) || (m >= 0 && !served(n, m))) return;
    seen.insert(n);
    q.push_back(n);
  };
  int found = from == to;
  while (!q.empty() && !found) {
    const std::vector<int> s = q.front();
    q.pop_front();
    if (static_cast<int>(seen.size()) > limit) {
      *states = static_cast<int>(seen.size());
      return -1;
    }
    for (int v = 0; v < V; ++v) {
      std::vector<int> n = s;
      ++n[v];
      push(n, -1);  // more replicas serve at least as much
      if (s[v] == 0) continue;
      n = s;
      --n[v];
      push(n, in.vars[v].model);
      for (int w = 0; w < V; ++w) {
        const auto &a = in.vars[v], &b = in.vars[w];
        if (w == v || a.model != b.model || a.accel != b.accel || a.tp != b.tp) continue;
        n = s;
        --n[v];
        ++n[w];
        push(n, a.model);
      }
    }
    found = seen.count(to) > 0;
  }
  *states = static_cast<int>(seen.size());
  return found;
}

TEST(Plan, ThousandRandomTransitionsStayFeasibleAndEndAtTarget) {
  std::mt19937_64 rng(5);
  int checked = 0, steps_total = 0, flips = 0, unsafe = 0, blocked = 0, searched = 0;
  for (int t = 0; checked < 1000 && t < 40000; ++t) {
    GenSpec g;
    g.models = 1 + static_cast<int>(rng() % 3);
    g.variants = 2 + static_cast<int>(rng() % 3);
    g.accels = 1 + static_cast<int>(rng() % 3);
    g.slices = 1 + static_cast<int>(rng() % 2);
    g.disaggregated = t % 3 == 0;
    g.tightness = 3;
    Instance in = Generate(g, rng);
    in.fast_exact_small = false;  // the heuristic is enough to make two allocations
    // Current: the answer at other prices and demand; target: at the true ones. Then
    // the accelerator counts are set to what the larger of the two uses plus a small
    // slack (0-3 GPUs), so the caps are tight but some make-before-break room exists.
    Instance other = in;
    std::uniform_real_distribution<double> U(0.2, 5);
    for (auto& a : other.accels) a.cost *= U(rng);
    for (auto& d : other.dems) d.rate *= U(rng) < 2.6 ? 1.0 : 0.5;
    auto a = SolveFast(other);
    auto b = SolveFast(in);
    if (!a.ok() || !b.ok()) continue;
    double ua = 0, ub = 0;
    for (size_t i = 0; i < in.dems.size(); ++i) {
      ua += a->unserved[i] * other.dems[i].rate;
      ub += b->unserved[i] * in.dems[i].rate;
    }
    if (ua > 1e-6 || ub > 1e-6 || a->n == b->n) continue;
    ASSERT_TRUE(CheckSolution(other, *a).ok()) << CheckSolution(other, *a).ToString();
    ASSERT_TRUE(CheckSolution(in, *b).ok()) << CheckSolution(in, *b).ToString();
    if (UnservedAt(in, a->n) > 1e-6) continue;  // current must serve today's demand
    std::vector<double> ua_acc(in.accels.size(), 0), ub_acc(in.accels.size(), 0);
    for (size_t v = 0; v < in.vars.size(); ++v) {
      ua_acc[in.vars[v].accel] += in.vars[v].tp * a->n[v];
      ub_acc[in.vars[v].accel] += in.vars[v].tp * b->n[v];
    }
    for (size_t k = 0; k < in.accels.size(); ++k)
      in.accels[k].count = std::max(ua_acc[k], ub_acc[k]) + static_cast<double>(rng() % 4);
    ++checked;
    const std::vector<int>& from = a->n;
    const std::vector<int>& to = b->n;
    std::vector<PlanStep> steps = MakePlan(in, from, to);
    std::vector<int> s = from;
    int plan_unsafe = 0;
    for (const auto& st : steps) {
      ++steps_total;
      if (!st.safe) ++unsafe, ++plan_unsafe;
      ASSERT_EQ(st.safe, st.blocked == PlanStep::kNone) << "transition " << t;
      // The first unsafe step carries the search's verdict; later ones follow it.
      if (!st.safe && plan_unsafe == 1) {
        ASSERT_EQ(st.blocked, PlanStep::kNoSafeOrder) << "transition " << t;
      }
      if (st.kind == PlanStep::kAdd) s[st.var] += st.count;
      if (st.kind == PlanStep::kRemove) s[st.var] -= st.count;
      if (st.kind == PlanStep::kFlip) {
        ++flips;
        s[st.var] -= st.count;
        s[st.to_var] += st.count;
        const auto &x = in.vars[st.var], &y = in.vars[st.to_var];
        ASSERT_TRUE(x.model == y.model && x.accel == y.accel && x.tp == y.tp);
        ASSERT_NE(st.var, st.to_var);
      }
      ASSERT_GT(st.count, 0);
      for (int x : s) ASSERT_GE(x, 0);
      // Even an unsafe step never breaks the caps.
      ASSERT_TRUE(WithinCaps(in, s)) << "transition " << t;
      if (!st.safe) continue;
      ASSERT_LE(UnservedAt(in, s), 1e-6) << "transition " << t << " step " << steps_total;
    }
    ASSERT_EQ(s, to) << "transition " << t;
    // Unsafe only where no safe ordering exists: the brute force exhausts every state
    // reachable from `from` within the caps and the demand without meeting `to`.
    if (plan_unsafe > 0) {
      ++blocked;
      int states = 0;
      EXPECT_EQ(BruteForce(in, from, to, 100000, &states), 0) << "transition " << t;
      searched += states;
    }
  }
  EXPECT_EQ(checked, 1000);
  std::printf("plan: %d transitions, %d steps, %d flips, %d unsafe in %d transitions "
              "(no safe ordering: brute force exhausted %d states)\n",
              checked, steps_total, flips, unsafe, blocked, searched);
}

TEST(Plan, FlipsRoleOnTheSameHardware) {
  Instance in;
  in.n_models = 1;
  in.accels = {{"h100", 4.0, 4}};
  Instance::Var pd, p, d;
  pd.role = 0;
  p.role = 1;
  d.role = 2;
  in.vars = {pd, p, d};
  in.dems = {{0, 0, 0, 1.0, 100, 0}};
  in.pd = {{{0, 1.0}}};
  in.p = {{{1, 2.0}}};
  in.d = {{{2, 2.0}}};
  // From 2 PD + 0/0 to 1 PD + 1 P + 1 D under a cap of 4 GPUs... with 2 PD -> 0 PD,
  // 1 P, 1 D on a cap of 2: only flips can get there.
  in.accels[0].count = 2;
  std::vector<PlanStep> st = MakePlan(in, {2, 0, 0}, {0, 1, 1});
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].kind, PlanStep::kFlip);
  EXPECT_EQ(st[1].kind, PlanStep::kFlip);
}

// One PD variant per (model, accelerator, tp) entry; one slice per model at `rate`,
// every variant of the model serving cap 1.0 rps per replica.
Instance Small(int models, std::vector<double> counts, std::vector<std::array<int, 3>> vars,
               double rate) {
  Instance in;
  in.n_models = models;
  for (size_t a = 0; a < counts.size(); ++a)
    in.accels.push_back({"acc" + std::to_string(a), 1.0, counts[a]});
  for (auto [m, a, tp] : vars) {
    Instance::Var x;
    x.model = m;
    x.accel = a;
    x.tp = tp;
    in.vars.push_back(x);
  }
  for (int m = 0; m < models; ++m) {
    in.dems.push_back({m, 0, 0, rate, 100, 0});
    std::vector<Instance::Pair> pd;
    for (size_t v = 0; v < in.vars.size(); ++v)
      if (in.vars[v].model == m) pd.push_back({static_cast<int>(v), 1.0});
    in.pd.push_back(pd);
    in.p.push_back({});
    in.d.push_back({});
  }
  return in;
}

std::vector<int> Apply(const Instance& in, std::vector<int> s, const std::vector<PlanStep>& st) {
  for (const auto& x : st) {
    if (x.kind == PlanStep::kAdd) s[x.var] += x.count;
    if (x.kind == PlanStep::kRemove) s[x.var] -= x.count;
    if (x.kind == PlanStep::kFlip) s[x.var] -= x.count, s[x.to_var] += x.count;
    EXPECT_TRUE(WithinCaps(in, s));
  }
  return s;
}

TEST(Plan, BridgesThroughSpareHardwareOfAThirdVariant) {
  // acc0 (2 GPUs) is full: 1 replica at tp 2 -> 2 at tp 1. Removing first drops the
  // model, adding first breaks the cap: a temporary replica on acc1 bridges.
  Instance in = Small(1, {2, 2}, {{0, 0, 2}, {0, 0, 1}, {0, 1, 2}}, 0.9);
  std::vector<PlanStep> st = MakePlan(in, {1, 0, 0}, {0, 2, 0});
  for (const auto& x : st) EXPECT_TRUE(x.safe);
  EXPECT_EQ(Apply(in, {1, 0, 0}, st), (std::vector<int>{0, 2, 0}));
  ASSERT_FALSE(st.empty());
  EXPECT_EQ(st[0].kind, PlanStep::kAdd);
  EXPECT_EQ(st[0].var, 2);
}

TEST(Plan, FlipsBetweenVariantsOfTheSameRole) {
  // One GPU: the only safe way from one variant to another on it is to reconfigure.
  Instance in = Small(1, {1}, {{0, 0, 1}, {0, 0, 1}}, 0.9);
  std::vector<PlanStep> st = MakePlan(in, {1, 0}, {0, 1});
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].kind, PlanStep::kFlip);
  EXPECT_TRUE(st[0].safe);
}

TEST(Plan, SwapWithCapsFullIsFlaggedWithItsReason) {
  // Two models swap accelerators with both types full: no safe ordering exists.
  Instance in = Small(2, {1, 1}, {{0, 0, 1}, {0, 1, 1}, {1, 0, 1}, {1, 1, 1}}, 0.9);
  const std::vector<int> from = {1, 0, 0, 1}, to = {0, 1, 1, 0};
  std::vector<PlanStep> st = MakePlan(in, from, to);
  EXPECT_EQ(Apply(in, from, st), to);
  ASSERT_FALSE(st.empty());
  EXPECT_FALSE(st[0].safe);
  EXPECT_EQ(st[0].blocked, PlanStep::kNoSafeOrder);
  EXPECT_STREQ(BlockedName(st[0].blocked), "no_safe_order");
  int states = 0;
  EXPECT_EQ(BruteForce(in, from, to, 1000, &states), 0);
}

TEST(Plan, LargeClusterBridgesAndProvesSwapsPerComponent) {
  // 120 variants (> 64: searched per component of models sharing accelerators). Models
  // 0-19 each move 1 replica at tp 2 -> 2 at tp 1 on their own full 2-GPU type, all
  // bridging through one shared spare type (2 GPUs); models 20-39 swap accelerator
  // types in pairs with both full (no safe order: each pair is a component).
  std::vector<double> counts;
  std::vector<std::array<int, 3>> vars;
  std::vector<int> from, to;
  for (int m = 0; m < 20; ++m) {
    counts.push_back(2);
    for (auto [a, tp, f, t] : {std::array<int, 4>{m, 2, 1, 0}, {m, 1, 0, 2}, {20, 2, 0, 0}}) {
      vars.push_back({m, a, tp});
      from.push_back(f);
      to.push_back(t);
    }
  }
  counts.push_back(2);  // the spare, type 20
  for (int m = 20; m < 40; ++m) {
    const int pair = 21 + (m - 20) / 2 * 2, mine = m % 2;
    if (mine == 0) counts.insert(counts.end(), {1, 1});
    for (int j = 0; j < 2; ++j) {
      vars.push_back({m, pair + j, 1});
      from.push_back(j == mine);
      to.push_back(j != mine);
    }
  }
  Instance in = Small(40, counts, vars, 0.9);
  ASSERT_TRUE(WithinCaps(in, from) && WithinCaps(in, to));
  std::vector<PlanStep> st = MakePlan(in, from, to);
  EXPECT_EQ(Apply(in, from, st), to);
  std::set<int> proven;
  for (const auto& x : st) {
    const int m = in.vars[x.var].model;
    if (m < 20) {
      EXPECT_TRUE(x.safe) << "model " << m;  // bridged
    }
    if (!x.safe && x.blocked != PlanStep::kAfterUnsafe) {
      EXPECT_EQ(x.blocked, PlanStep::kNoSafeOrder);
      proven.insert(m / 2);
    }
  }
  EXPECT_EQ(proven.size(), 10u);  // one forced step per swapping pair
}

}  // namespace
}  // namespace variant::opt::test
