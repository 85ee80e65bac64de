#include "opt/plan.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

namespace variant::opt {
namespace {

// θ interval of model m for state s; empty when lo > hi.
void ThetaRange(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
                const std::vector<int>& s, int m, double* lo, double* hi,
                const std::vector<int>* members = nullptr) {
  *lo = 0;
  *hi = 1;
  const size_t n = members ? members->size() : in.vars.size();
  for (size_t j = 0; j < n; ++j) {
    const size_t v = members ? static_cast<size_t>((*members)[j]) : j;
    if (in.vars[v].model != m) continue;
    const double a = from[v], b = to[v], x = s[v];
    if (a == b) {
      if (x < a) *lo = 2;  // empty
    } else if (a > b) {
      // x >= b + θ (a - b)
      *hi = std::min(*hi, (x - b) / (a - b));
    } else {
      // x >= a + (1-θ)(b - a)  <=>  θ >= 1 - (x - a)/(b - a)
      *lo = std::max(*lo, 1 - (x - a) / (b - a));
    }
  }
}

bool ModelSafe(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
               const std::vector<int>& s, int m, const std::vector<int>* members = nullptr) {
  double lo, hi;
  ThetaRange(in, from, to, s, m, &lo, &hi, members);
  return lo <= hi + 1e-12;
}

std::vector<double> Usage(const Instance& in, const std::vector<int>& s) {
  std::vector<double> u(in.accels.size() + in.caps.size(), 0);
  for (size_t v = 0; v < in.vars.size(); ++v) {
    const auto& x = in.vars[v];
    u[x.accel] += x.tp * s[v];
    for (size_t c = 0; c < in.caps.size(); ++c)
      u[in.accels.size() + c] += x.tp * in.caps[c].amount[x.accel] * s[v];
  }
  return u;
}

// Limits: the caps, or the starting usage where `from` already exceeds them (a plan
// never makes an existing excess worse).
std::vector<double> Limits(const Instance& in, const std::vector<double>& start) {
  std::vector<double> l(start.size(), INFINITY);
  for (size_t a = 0; a < in.accels.size(); ++a)
    if (in.accels[a].count >= 0) l[a] = std::max(in.accels[a].count, start[a]);
  for (size_t c = 0; c < in.caps.size(); ++c)
    l[in.accels.size() + c] = std::max(in.caps[c].total, start[in.accels.size() + c]);
  return l;
}

// Per-model sub-instances for a second test: an assignment over the fixed replicas
// serving all of the model's demand (the LP for models up to 64 variants, else the
// fast solver's greedy, which can only under-report).
class Served {
 public:
  Served(const Instance& in, const std::vector<int>& from, const std::vector<int>& to)
      : in_(in), subs_(in.n_models), idx_(in.vars.size(), -1), need_(in.n_models, 0) {
    for (int m = 0; m < in.n_models; ++m) {
      subs_[m].n_models = 1;
      subs_[m].accels = in.accels;
      for (auto& a : subs_[m].accels) a.count = -1;
    }
    for (size_t v = 0; v < in.vars.size(); ++v) {
      Instance& sub = subs_[in.vars[v].model];
      idx_[v] = static_cast<int>(sub.vars.size());
      Instance::Var x = in.vars[v];
      x.model = 0;
      x.fixed = true;
      x.min = 0;
      x.max = -1;
      sub.vars.push_back(x);
    }
    for (size_t i = 0; i < in.dems.size(); ++i) {
      Instance& sub = subs_[in.dems[i].model];
      Instance::Dem d = in.dems[i];
      d.model = 0;
      sub.dems.push_back(d);
      for (auto [src, dst] : {std::pair{&in.pd, &sub.pd}, {&in.p, &sub.p}, {&in.d, &sub.d}}) {
        std::vector<Instance::Pair> l = (*src)[i];
        for (auto& q : l) q.var = idx_[q.var];
        dst->push_back(l);
      }
    }
    (void)from;
    (void)to;
  }
  // Proves full service only (the greedy is order-dependent, not optimal).
  bool Ok(int m, const std::vector<int>& s) { return Unserved(m, s) <= 1e-7; }

 private:
  double Unserved(int m, const std::vector<int>& s) {
    Instance& sub = subs_[m];
    if (sub.dems.empty()) return 0;
    for (size_t v = 0; v < in_.vars.size(); ++v)
      if (in_.vars[v].model == m) sub.vars[idx_[v]].cur = s[v];
    // Exact (an LP: every replica count is fixed) for small models, else the greedy.
    auto r = sub.vars.size() <= 64 ? SolveMilp(sub) : SolveFast(sub);
    if (!r.ok()) return INFINITY;
    double u = 0;
    for (size_t i = 0; i < sub.dems.size(); ++i) u += r->unserved[i] * sub.dems[i].rate;
    return u;
  }
  const Instance& in_;
  std::vector<Instance> subs_;
  std::vector<int> idx_;
  std::vector<double> need_;
};

struct VecHash {
  size_t operator()(const std::vector<int>& v) const {
    size_t h = 1469598103934665603ull;
    for (int x : v) h = (h ^ static_cast<size_t>(x + 1)) * 1099511628211ull;
    return h;
  }
};

// Search budget when the greedy rounds stall: states visited, served-LPs solved, and
// variants searched over (a stall is rare: caps exactly full while hardware moves).
// Per search, then per plan (a plan may search once per stall).
constexpr int kSearchStates = 20000;
constexpr long kSearchWork = 4000000;  // state entries copied and hashed
constexpr int kSearchLps = 400;
constexpr long kPlanWork = 20000000;
constexpr int kPlanLps = 4000;
constexpr int kSearchVars = 256;

}  // namespace

const char* BlockedName(PlanStep::Blocked b) {
  switch (b) {
    case PlanStep::kNone: return "";
    case PlanStep::kNoSafeOrder: return "no_safe_order";
    case PlanStep::kSearchLimit: return "search_limit";
    case PlanStep::kAfterUnsafe: return "after_unsafe";
  }
  return "";
}

bool PlanStateSafe(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
                   const std::vector<int>& s) {
  for (int m = 0; m < in.n_models; ++m)
    if (!ModelSafe(in, from, to, s, m)) return false;
  return true;
}

bool WithinCaps(const Instance& in, const std::vector<int>& s) {
  const auto u = Usage(in, s);
  for (size_t a = 0; a < in.accels.size(); ++a)
    if (in.accels[a].count >= 0 && u[a] > in.accels[a].count + 1e-9) return false;
  for (size_t c = 0; c < in.caps.size(); ++c)
    if (u[in.accels.size() + c] > in.caps[c].total * (1 + 1e-9) + 1e-9) return false;
  return true;
}

std::vector<PlanStep> MakePlan(const Instance& in, const std::vector<int>& from,
                               const std::vector<int>& to) {
  const int V = static_cast<int>(in.vars.size());
  std::vector<int> s = from;
  std::vector<PlanStep> steps;
  std::vector<double> use = Usage(in, from);
  const std::vector<double> lim = Limits(in, use);
  const size_t A = in.accels.size(), C = in.caps.size();
  Served served(in, from, to);
  std::vector<std::vector<int>> members(in.n_models);
  for (int v = 0; v < V; ++v) members[in.vars[v].model].push_back(v);
  auto apply = [&](int v, int k) {
    s[v] += k;
    const auto& x = in.vars[v];
    use[x.accel] += x.tp * k;
    for (size_t c = 0; c < C; ++c) use[A + c] += x.tp * in.caps[c].amount[x.accel] * k;
  };
  auto fits_add = [&](int v, int k) {
    const auto& x = in.vars[v];
    if (use[x.accel] + x.tp * k > lim[x.accel] + 1e-9) return false;
    for (size_t c = 0; c < C; ++c)
      if (use[A + c] + x.tp * in.caps[c].amount[x.accel] * k > lim[A + c] + 1e-9) return false;
    return true;
  };
  // Model m safe in state t, memoized per {m, its counts} (the greedy rounds re-check
  // a stuck model's same states every round). An LP is solved only while *budget > 0
  // (decremented); returns -1 when it would need one past the budget.
  std::map<std::vector<int>, bool> memo;
  auto model_safe = [&](int m, const std::vector<int>& t, int* budget) -> int {
    std::vector<int> key{m};
    for (int v : members[m]) key.push_back(t[v]);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
    bool ok = ModelSafe(in, from, to, t, m, &members[m]);
    if (!ok && members[m].size() <= 256) {
      if (budget && --*budget < 0) return -1;
      ok = served.Ok(m, t);
    }
    memo.emplace(std::move(key), ok);
    return ok;
  };
  auto safe_with = [&](int v, int dv, int w, int dw) {
    s[v] += dv;
    if (w >= 0) s[w] += dw;
    const bool ok = model_safe(in.vars[v].model, s, nullptr) == 1;
    s[v] -= dv;
    if (w >= 0) s[w] -= dw;
    return ok;
  };
  // Largest k in [0, hi] with pred(k) true, pred monotone decreasing in k.
  auto largest = [](int hi, auto pred) {
    int lo = 0;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (pred(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  // Breadth-first search from the stalled state s, over the variants in `sv` (every
  // variant of each model it touches; the rest stay fixed), for a path of single-
  // replica moves (an add that fits; a remove or a flip after which the model is still
  // safe) to `to` on those variants. The moves are reversible and safety is a property
  // of the state, so when `sv` is a whole component (`closed`, below), exhausting the
  // states reachable from s proves that none reaches `to` from `from` either
  // (kNoSafeOrder). Appends the path (runs of equal moves merged) and returns kNone;
  // kSearchLimit when undecided. The budget (states, work, served-LPs) is per search
  // and per plan.
  std::vector<int> scratch = s;
  int plan_lps = kPlanLps;  // served-LPs left for searches
  long plan_work = 0;
  auto search = [&](const std::vector<int>& sv, bool closed) -> PlanStep::Blocked {
    const int n = static_cast<int>(sv.size());
    if (n > kSearchVars || plan_lps <= 0 || plan_work >= kPlanWork)
      return PlanStep::kSearchLimit;
    long work = 0;
    // Per searched variant: resource use per replica, flip partners, a count bound
    // where nothing limits it (an add that always fits never stalls).
    std::vector<std::vector<std::pair<int, double>>> per(n);
    std::vector<std::vector<int>> partners(n);
    std::vector<int> hi(n);
    bool unbounded = false;
    for (int i = 0; i < n; ++i) {
      const auto& x = in.vars[sv[i]];
      if (lim[x.accel] < INFINITY) per[i].push_back({x.accel, x.tp});
      for (size_t c = 0; c < C; ++c)
        if (in.caps[c].amount[x.accel] > 0 && lim[A + c] < INFINITY)
          per[i].push_back({static_cast<int>(A + c), x.tp * in.caps[c].amount[x.accel]});
      hi[i] = per[i].empty() ? std::max({from[sv[i]], to[sv[i]], s[sv[i]]}) + 1
                             : std::numeric_limits<int>::max();
      unbounded |= per[i].empty();
      for (int j = 0; j < n; ++j) {
        const auto& y = in.vars[sv[j]];
        if (j != i && y.model == x.model && y.accel == x.accel && y.tp == x.tp)
          partners[i].push_back(j);
      }
    }
    std::vector<double> base = use;
    std::vector<int> goal(n), start(n);
    for (int i = 0; i < n; ++i) {
      for (auto [r, a] : per[i]) base[r] -= a * s[sv[i]];
      goal[i] = to[sv[i]];
      start[i] = s[sv[i]];
    }
    bool over = false;
    int budget = std::min(kSearchLps, plan_lps);
    auto model_ok = [&](const std::vector<int>& x, int m) {
      for (int i = 0; i < n; ++i)
        if (in.vars[sv[i]].model == m) scratch[sv[i]] = x[i];
      const int before = budget;
      const int r = model_safe(m, scratch, &budget);
      plan_lps -= before - std::max(budget, 0);
      for (int v : members[m]) scratch[v] = s[v];
      over |= r < 0;
      return r == 1;
    };
    struct Node {
      int parent;
      PlanStep::Kind kind;
      int i, j;
    };
    std::vector<std::vector<int>> states{start};
    std::vector<Node> nodes{{-1, PlanStep::kAdd, -1, -1}};
    std::unordered_map<std::vector<int>, int, VecHash> seen{{start, 0}};
    int found = start == goal ? 0 : -1;
    for (size_t head = 0; head < states.size() && found < 0; ++head) {
      const std::vector<int> x = states[head];
      std::vector<double> u = base;
      for (int i = 0; i < n; ++i)
        for (auto [r, a] : per[i]) u[r] += a * x[i];
      auto visit = [&](std::vector<int>&& y, Node nd) {
        work += n;
        plan_work += n;
        if (seen.count(y)) return;
        if (nd.kind != PlanStep::kAdd && !model_ok(y, in.vars[sv[nd.i]].model)) return;
        nd.parent = static_cast<int>(head);
        seen.emplace(y, static_cast<int>(states.size()));
        if (y == goal) found = static_cast<int>(states.size());
        states.push_back(std::move(y));
        nodes.push_back(nd);
      };
      for (int i = 0; i < n && found < 0 && !over; ++i) {
        bool fits = x[i] < hi[i];
        for (auto [r, a] : per[i]) fits = fits && u[r] + a <= lim[r] + 1e-9;
        if (fits) {
          std::vector<int> y = x;
          ++y[i];
          visit(std::move(y), {0, PlanStep::kAdd, i, -1});
        }
        if (x[i] == 0) continue;
        {
          std::vector<int> y = x;
          --y[i];
          visit(std::move(y), {0, PlanStep::kRemove, i, -1});
        }
        for (int j : partners[i]) {
          if (found >= 0 || over) break;
          std::vector<int> y = x;
          --y[i];
          ++y[j];
          visit(std::move(y), {0, PlanStep::kFlip, i, j});
        }
      }
      if (found < 0 && (over || work > kSearchWork || plan_work > kPlanWork ||
                        static_cast<int>(states.size()) > kSearchStates))
        return PlanStep::kSearchLimit;
    }
    if (found < 0)
      return unbounded || !closed ? PlanStep::kSearchLimit : PlanStep::kNoSafeOrder;
    std::vector<Node> path;
    for (int k = found; nodes[k].parent >= 0; k = nodes[k].parent) path.push_back(nodes[k]);
    std::reverse(path.begin(), path.end());
    for (const Node& nd : path) {
      const int v = sv[nd.i], w = nd.j >= 0 ? sv[nd.j] : -1;
      if (nd.kind == PlanStep::kFlip) {
        apply(v, -1);
        apply(w, 1);
      } else {
        apply(v, nd.kind == PlanStep::kAdd ? 1 : -1);
      }
      if (!steps.empty() && steps.back().kind == nd.kind && steps.back().var == v &&
          steps.back().to_var == w && steps.back().safe)
        ++steps.back().count;
      else
        steps.push_back({nd.kind, v, w, 1, true});
    }
    for (int v : sv) scratch[v] = s[v];
    return PlanStep::kNone;
  };
  // Components: models linked through the accelerators (and finite further caps) they
  // use. Moves in one component neither use the others' resources nor touch their
  // models, so the safe states reachable factor by component, and a search over one
  // component's every variant that exhausts its states proves that component stuck.
  std::vector<int> comp;  // per model; built at the first stall
  std::vector<std::vector<int>> comp_vars;
  std::vector<PlanStep::Blocked> verdict;  // per component, once searched without a path
  auto build_components = [&]() {
    std::vector<int> up(in.n_models + A + C);
    for (size_t k = 0; k < up.size(); ++k) up[k] = static_cast<int>(k);
    auto find = [&](int x) {
      while (up[x] != x) x = up[x] = up[up[x]];
      return x;
    };
    auto join = [&](int x, int y) { up[find(x)] = find(y); };
    const int M = in.n_models;
    for (int v = 0; v < V; ++v) join(in.vars[v].model, M + in.vars[v].accel);
    for (size_t c = 0; c < C; ++c)
      if (lim[A + c] < INFINITY)
        for (size_t a = 0; a < A; ++a)
          if (in.caps[c].amount[a] > 0) join(M + static_cast<int>(a), M + static_cast<int>(A + c));
    std::vector<int> id(up.size(), -1);
    comp.assign(M, -1);
    for (int m = 0; m < M; ++m) {
      int& k = id[find(m)];
      if (k < 0) {
        k = static_cast<int>(comp_vars.size());
        comp_vars.emplace_back();
      }
      comp[m] = k;
    }
    for (int v = 0; v < V; ++v) comp_vars[comp[in.vars[v].model]].push_back(v);
    verdict.assign(comp_vars.size(), PlanStep::kNone);
  };
  // On a stall: per component with a model not at its target (and no verdict yet), a
  // search over its variants; where that is too big or over budget, each of its models
  // on its own, the others fixed (not a proof either way). Paths found are applied at
  // once. True if any was; else every component still moving has its verdict.
  auto unstick = [&]() -> bool {
    if (comp.empty()) build_components();
    std::vector<char> active(comp_vars.size(), 0), model_active(in.n_models, 0);
    for (int v = 0; v < V; ++v)
      if (s[v] != to[v]) {
        active[comp[in.vars[v].model]] = 1;
        model_active[in.vars[v].model] = 1;
      }
    bool any = false;
    for (size_t k = 0; k < comp_vars.size(); ++k) {
      if (!active[k] || verdict[k] != PlanStep::kNone) continue;
      PlanStep::Blocked r = search(comp_vars[k], true);
      if (r == PlanStep::kSearchLimit) {
        std::set<int> ms;
        for (int v : comp_vars[k]) ms.insert(in.vars[v].model);
        for (int m : ms)
          if (model_active[m] && members[m].size() < comp_vars[k].size() &&
              search(members[m], false) == PlanStep::kNone)
            r = PlanStep::kNone;
      }
      if (r == PlanStep::kNone) any = true;
      else verdict[k] = r;
    }
    return any;
  };

  std::set<int> dipped;
  for (int guard = 0; guard < 4 * V + 16 && s != to; ++guard) {
    bool progress = false;
    // 1. Role flips on the same hardware (no accelerator change, no cold start of a
    //    new node): from a variant above its target to one of the same model,
    //    accelerator and tp below its target.
    for (int v = 0; v < V; ++v) {
      if (s[v] <= to[v]) continue;
      for (int w : members[in.vars[v].model]) {
        if (s[v] <= to[v]) break;
        if (w == v || s[w] >= to[w]) continue;
        const auto &a = in.vars[v], &b = in.vars[w];
        if (a.model != b.model || a.accel != b.accel || a.tp != b.tp || a.role == b.role) continue;
        const int hi = std::min(s[v] - to[v], to[w] - s[w]);
        const int k = largest(hi, [&](int k) { return safe_with(v, -k, w, k); });
        if (k > 0) {
          apply(v, -k);
          apply(w, k);
          steps.push_back({PlanStep::kFlip, v, w, k, true});
          progress = true;
        }
      }
    }
    // 2. Additions that fit the caps (make before break).
    for (int v = 0; v < V; ++v) {
      if (s[v] >= to[v]) continue;
      const int k = largest(to[v] - s[v], [&](int k) { return fits_add(v, k); });
      if (k > 0) {
        apply(v, k);
        steps.push_back({PlanStep::kAdd, v, -1, k, true});
        progress = true;
      }
    }
    // 3. Removals that keep the model safe.
    for (int v = 0; v < V; ++v) {
      if (s[v] <= to[v]) continue;
      const int k = largest(s[v] - to[v], [&](int k) { return safe_with(v, -k, -1, 0); });
      if (k > 0) {
        apply(v, -k);
        steps.push_back({PlanStep::kRemove, v, -1, k, true});
        progress = true;
      }
    }
    if (progress) continue;
    // 4. Stalled: search for a safe path. A component searched without one keeps its
    //    verdict (its reachable safe states do not change), so it is searched once.
    if (unstick()) continue;
    // 5. No safe path (caps exactly tight, hardware swapped between models): in a
    //    component with its verdict, remove one replica that frees an accelerator
    //    someone is waiting for, flagged unsafe with the verdict.
    auto stuck = [&](int v) { return verdict[comp[in.vars[v].model]] != PlanStep::kNone; };
    int pick = -1;
    for (int v = 0; v < V && pick < 0; ++v) {
      if (s[v] <= to[v] || !stuck(v)) continue;
      for (int w = 0; w < V; ++w)
        if (s[w] < to[w] && in.vars[w].accel == in.vars[v].accel) {
          pick = v;
          break;
        }
    }
    if (pick < 0)
      for (int v = 0; v < V && pick < 0; ++v)
        if (s[v] > to[v] && stuck(v)) pick = v;
    if (pick < 0) break;
    apply(pick, -1);
    steps.push_back(
        {PlanStep::kRemove, pick, -1, 1, false, verdict[comp[in.vars[pick].model]]});
    dipped.insert(in.vars[pick].model);
  }
  // Steps after a forced one stay flagged until every dipped model is safe again.
  {
    std::vector<int> t = from;
    std::set<int> down;
    for (auto& st : steps) {
      t[st.var] += st.kind == PlanStep::kAdd ? st.count : -st.count;
      if (st.kind == PlanStep::kFlip) t[st.to_var] += st.count;
      if (!st.safe) down.insert(in.vars[st.var].model);
      for (auto it = down.begin(); it != down.end();) {
        const bool ok = model_safe(*it, t, nullptr) == 1;
        it = ok ? down.erase(it) : std::next(it);
      }
      if (!down.empty() && st.safe) {
        st.safe = false;
        st.blocked = PlanStep::kAfterUnsafe;
      }
    }
  }
  return steps;
}

}  // namespace variant::opt
