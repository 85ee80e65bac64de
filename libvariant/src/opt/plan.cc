#include "opt/plan.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

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

}  // namespace

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
  auto safe_with = [&](int v, int dv, int w, int dw) {
    s[v] += dv;
    if (w >= 0) s[w] += dw;
    const int m = in.vars[v].model;
    bool ok = ModelSafe(in, from, to, s, m, &members[m]);
    if (!ok && members[m].size() <= 256) ok = served.Ok(m, s);
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
    // 4. Deadlock (caps exactly tight, hardware swapped between models): remove one
    //    replica that frees an accelerator someone is waiting for, flagged unsafe.
    int pick = -1;
    for (int v = 0; v < V && pick < 0; ++v) {
      if (s[v] <= to[v]) continue;
      for (int w = 0; w < V; ++w)
        if (s[w] < to[w] && in.vars[w].accel == in.vars[v].accel) {
          pick = v;
          break;
        }
    }
    if (pick < 0)
      for (int v = 0; v < V && pick < 0; ++v)
        if (s[v] > to[v]) pick = v;
    if (pick < 0) break;
    apply(pick, -1);
    steps.push_back({PlanStep::kRemove, pick, -1, 1, false});
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
        const bool ok = ModelSafe(in, from, to, t, *it, &members[*it]) ||
                        (members[*it].size() <= 256 && served.Ok(*it, t));
        it = ok ? down.erase(it) : std::next(it);
      }
      if (!down.empty()) st.safe = false;
    }
  }
  return steps;
}

}  // namespace variant::opt
