// The fast solver (docs/decision.md, "Fast solver").
//
// Lower bound: Lagrangian relaxation of the accelerator counts and further caps with
// multipliers λ >= 0. For fixed λ the problem splits per model; each model's part is
// bounded from below by (a) its LP (every slice goes to its cheapest path at the
// λ-adjusted prices), (b) "at least one replica or everything unserved", (c) the cost
// of its minimum replicas; the transition term is bounded by dropping it or by its
// linear under-estimator w·p·(cur − n). Any λ >= 0 gives a valid bound; λ follows
// Polyak subgradient steps.
//
// Primal: a greedy at the λ-adjusted prices: slices in priority order (higher first),
// each filling spare capacity of existing replicas, then adding replicas on its
// cheapest path that still fits the caps; then a consolidation pass that removes a
// replica whenever its load fits into other variants' spare capacity (or into fewer
// replicas of a cheaper variant). The best primal over the λ sequence is returned.
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <numeric>

#include "opt/solver.h"

namespace variant::opt {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double kEps = 1e-9;

struct Fast {
  const Instance& in;
  int V, D, A, C;
  std::vector<std::vector<int>> model_dems, model_vars;
  std::vector<int> order;  // demand processing order

  explicit Fast(const Instance& i)
      : in(i),
        V(static_cast<int>(i.vars.size())),
        D(static_cast<int>(i.dems.size())),
        A(static_cast<int>(i.accels.size())),
        C(static_cast<int>(i.caps.size())) {
    model_dems.resize(in.n_models);
    model_vars.resize(in.n_models);
    for (int d = 0; d < D; ++d) model_dems[in.dems[d].model].push_back(d);
    for (int v = 0; v < V; ++v) model_vars[in.vars[v].model].push_back(v);
  }

  // λ-adjusted price of one replica of v.
  double LPrice(int v, const std::vector<double>& lam, const std::vector<double>& mu) const {
    const auto& x = in.vars[v];
    double per = in.accels[x.accel].cost + lam[x.accel];
    for (int c = 0; c < C; ++c) per += mu[c] * in.caps[c].amount[x.accel];
    return x.tp * per;
  }

  // Lagrangian bound at (lam, mu); fills usage (accelerators, caps) of the LP minimizer.
  double Bound(const std::vector<double>& lam, const std::vector<double>& mu,
               std::vector<double>* gA, std::vector<double>* gC, bool strong = false) const {
    const double w = in.transition;
    std::vector<double> pl(V), p1(V), p2(V);
    for (int v = 0; v < V; ++v) {
      pl[v] = LPrice(v, lam, mu);
      p1[v] = in.vars[v].fixed ? 0 : pl[v];
      p2[v] = in.vars[v].fixed ? 0 : pl[v] - w * in.Price(v);
    }
    const bool use2 = w > 0 && w < 1;
    std::vector<double> cont(V, 0);
    double total = 0;
    for (int a = 0; a < A; ++a)
      if (in.accels[a].count >= 0) total -= lam[a] * in.accels[a].count;
    for (int c = 0; c < C; ++c) total -= mu[c] * in.caps[c].total;
    for (int m = 0; m < in.n_models; ++m) {
      double lp1 = 0, lp2 = 0, allU = 0, min1 = INFINITY, min2 = INFINITY, mins1 = 0, mins2 = 0,
             const2 = 0, fixedc = 0;
      bool any_fixed_cap = false, any_rate = false;
      for (int v : model_vars[m]) {
        const auto& x = in.vars[v];
        if (x.fixed) {
          fixedc += pl[v] * x.cur;
          cont[v] += x.cur;
          if (x.cur > 0) any_fixed_cap = true;
          continue;
        }
        min1 = std::min(min1, p1[v]);
        min2 = std::min(min2, p2[v]);
        mins1 += p1[v] * x.min;
        mins2 += p2[v] * x.min;
        const2 += w * in.Price(v) * x.cur;
      }
      for (int i : model_dems[m]) {
        const double r = in.dems[i].rate;
        if (r <= 0) continue;
        any_rate = true;
        const double pen = in.dems[i].penalty;
        allU += pen * r;
        double b1 = pen, b2 = pen;
        int arg = -1, argp = -1, argd = -1;
        for (const auto& q : in.pd[i]) {
          const double c1 = p1[q.var] / q.cap;
          if (c1 < b1) {
            b1 = c1;
            arg = q.var;
            argp = argd = -1;
          }
          b2 = std::min(b2, p2[q.var] / q.cap);
        }
        if (!in.p[i].empty() && !in.d[i].empty()) {
          double bp1 = INFINITY, bd1 = INFINITY, bp2 = INFINITY, bd2 = INFINITY;
          int ap = -1, ad = -1;
          for (const auto& q : in.p[i]) {
            if (p1[q.var] / q.cap < bp1) {
              bp1 = p1[q.var] / q.cap;
              ap = q.var;
            }
            bp2 = std::min(bp2, p2[q.var] / q.cap);
          }
          for (const auto& q : in.d[i]) {
            if (p1[q.var] / q.cap < bd1) {
              bd1 = p1[q.var] / q.cap;
              ad = q.var;
            }
            bd2 = std::min(bd2, p2[q.var] / q.cap);
          }
          if (bp1 + bd1 < b1) {
            b1 = bp1 + bd1;
            arg = -1;
            argp = ap;
            argd = ad;
          }
          b2 = std::min(b2, bp2 + bd2);
        }
        lp1 += r * b1;
        lp2 += r * b2;
        if (arg >= 0) {
          for (const auto& q : in.pd[i])
            if (q.var == arg) cont[arg] += r / q.cap;
        } else if (argp >= 0) {
          for (const auto& q : in.p[i])
            if (q.var == argp) cont[argp] += r / q.cap;
          for (const auto& q : in.d[i])
            if (q.var == argd) cont[argd] += r / q.cap;
        }
      }
      double lb1 = std::max(lp1, mins1), lb2 = std::max(lp2, mins2);
      if (any_rate && !any_fixed_cap && std::isfinite(min1)) {
        lb1 = std::max(lb1, std::min(min1, allU));
        lb2 = std::max(lb2, std::min(min2, allU));
        bool mins = false;
        for (int v : model_vars[m]) mins |= in.vars[v].min > 0;
        if (strong && !mins) lb1 = std::max(lb1, Knapsack(m, p1));
      }
      total += fixedc + (use2 ? std::max(lb1, lb2 + const2) : lb1);
    }
    if (gA) {
      gA->assign(A, 0);
      gC->assign(C, 0);
      for (int v = 0; v < V; ++v) {
        const auto& x = in.vars[v];
        const double n = std::max(cont[v], static_cast<double>(x.fixed ? x.cur : x.min));
        (*gA)[x.accel] += x.tp * n;
        for (int c = 0; c < C; ++c) (*gC)[c] += x.tp * in.caps[c].amount[x.accel] * n;
      }
      for (int a = 0; a < A; ++a)
        (*gA)[a] = in.accels[a].count >= 0 ? (*gA)[a] - in.accels[a].count : 0;
      for (int c = 0; c < C; ++c) (*gC)[c] -= in.caps[c].total;
    }
    return total;
  }

  // Integer bound for one model at prices p (docs/decision.md, "Fast solver"):
  // aggregate its slices into work units (w_i = 1 / best capacity of slice i; a
  // replica of v covers at most a_v = max_i cap_iv·w_i units), so any feasible answer
  // covers W = Σ r_i w_i units, split into aggregated work, disaggregated work Y (which
  // both the prefill and the decode pool must cover) and unserved work (a continuous
  // item). For one pool of integer items, with e the item of least cost per unit and
  // ρ2 the next best ratio, covering y costs at least
  //   Cover(y) = min( p_e·(q+1),  p_e·q + (y − q·a_e)·ρ2 ),  q = floor(y / a_e),
  // and every Cover is nondecreasing, so over Y in [y_k, y_k+1] of a grid the cost is
  // at least CoverP(y_k) + CoverD(y_k) + CoverPD(W − y_k+1).
  // Any positive weights give a valid bound; it is tight when the weights are the
  // work on the variant the LP prefers, so try the best aggregated variant (by total
  // cost at these prices) and the per-slice best capacity.
  double Knapsack(int m, const std::vector<double>& p) const {
    const auto& ds = model_dems[m];
    std::vector<std::pair<double, int>> refs;
    for (int v : model_vars[m]) {
      if (in.vars[v].role != VARIANT_ROLE_PD) continue;
      double c = 0;
      for (int i : ds) {
        double cap = 0;
        for (const auto& q : in.pd[i])
          if (q.var == v) cap = q.cap;
        c = cap > 0 ? c + in.dems[i].rate * p[v] / cap : INFINITY;
        if (!std::isfinite(c)) break;
      }
      if (std::isfinite(c)) refs.push_back({c, v});
    }
    std::sort(refs.begin(), refs.end());
    double lb = KnapsackW(m, p, -1);
    if (!refs.empty()) lb = std::max(lb, KnapsackW(m, p, refs.front().second));
    return lb;
  }
  double KnapsackW(int m, const std::vector<double>& p, int ref) const {
    const auto& ds = model_dems[m];
    std::vector<double> w(ds.size(), 0);
    double W = 0, pen_w = INFINITY;
    for (size_t t = 0; t < ds.size(); ++t) {
      const int i = ds[t];
      double best = 0, bp = 0, bd = 0;
      for (const auto& q : in.pd[i]) best = std::max(best, q.cap);
      for (const auto& q : in.p[i]) bp = std::max(bp, q.cap);
      for (const auto& q : in.d[i]) bd = std::max(bd, q.cap);
      if (bp > 0 && bd > 0) best = std::max(best, 1.0 / (1.0 / bp + 1.0 / bd));
      if (ref >= 0)
        for (const auto& q : in.pd[i])
          if (q.var == ref) best = q.cap;
      if (best <= 0 || in.dems[i].rate <= 0) continue;
      w[t] = 1.0 / best;
      W += in.dems[i].rate * w[t];
      pen_w = std::min(pen_w, in.dems[i].penalty / w[t]);
    }
    if (W <= 0) return 0;
    std::vector<double> a(V, 0);
    for (size_t t = 0; t < ds.size(); ++t) {
      const int i = ds[t];
      if (w[t] <= 0) continue;
      for (const auto* L : {&in.pd[i], &in.p[i], &in.d[i]})
        for (const auto& q : *L) a[q.var] = std::max(a[q.var], q.cap * w[t]);
    }
    struct Pool {
      int e = -1;
      double re = INFINITY, r2 = INFINITY;
    };
    Pool pool[3];  // by role
    for (int v : model_vars[m]) {
      if (a[v] <= 0) continue;
      Pool& P = pool[in.vars[v].role];
      const double r = p[v] / a[v];
      if (r < P.re) {
        P.r2 = P.re;
        P.re = r;
        P.e = v;
      } else {
        P.r2 = std::min(P.r2, r);
      }
    }
    auto cover = [&](const Pool& P, double y, double cont) {
      if (y <= 1e-12) return 0.0;
      if (P.e < 0 || cont <= P.re) return std::isfinite(cont) ? cont * y : INFINITY;
      const double r2 = std::min(P.r2, cont);
      const double q = std::floor(y / a[P.e] + 1e-12);
      const double rest = std::max(0.0, y - q * a[P.e]);
      const double partial = rest <= 1e-12 ? p[P.e] * q : p[P.e] * q + rest * r2;
      return std::min(p[P.e] * (q + 1), partial);
    };
    const Pool& pd = pool[VARIANT_ROLE_PD];
    const Pool& pp = pool[VARIANT_ROLE_P];
    const Pool& dd = pool[VARIANT_ROLE_D];
    double lb = cover(pd, W, pen_w);
    if (pp.e >= 0 && dd.e >= 0) {
      const int G = 64;
      for (int k = 0; k < G; ++k) {
        const double y0 = W * k / G, y1 = W * (k + 1) / G;
        lb = std::min(lb, cover(pp, y0, INFINITY) + cover(dd, y0, INFINITY) +
                              cover(pd, std::max(0.0, W - y1), pen_w));
      }
    }
    return std::isfinite(lb) ? lb : 0.0;
  }

  // ---- primal ----
  struct State {
    std::vector<int> n;
    std::vector<double> load;  // replica units
    std::vector<double> usedA, usedC;
    Solution s;
  };

  int Addable(const State& st, int v) const {
    const auto& x = in.vars[v];
    if (x.fixed) return 0;
    double k = x.max >= 0 ? x.max - st.n[v] : 1e9;
    const int a = x.accel;
    if (in.accels[a].count >= 0) k = std::min(k, std::floor((in.accels[a].count - st.usedA[a]) / x.tp + kEps));
    for (int c = 0; c < C; ++c) {
      const double amt = x.tp * in.caps[c].amount[a];
      if (amt > 0) k = std::min(k, std::floor((in.caps[c].total - st.usedC[c]) / amt + kEps));
    }
    return std::max(0, static_cast<int>(k));
  }
  void Add(State* st, int v, int k) const {
    const auto& x = in.vars[v];
    st->n[v] += k;
    st->usedA[x.accel] += x.tp * k;
    for (int c = 0; c < C; ++c) st->usedC[c] += x.tp * in.caps[c].amount[x.accel] * k;
  }
  double AddPrice(const State& st, int v, const std::vector<double>& pl) const {
    const double t = in.transition * in.Price(v);
    return pl[v] + (st.n[v] < in.vars[v].cur ? -t : t);
  }

  // Serves up to `want` rps of demand i on pair list L (fractions into X), first from
  // spare capacity, then by adding replicas. Returns the rps served.
  double Take(State* st, int i, const std::vector<Instance::Pair>& L, std::vector<double>* X,
              int k, double want, bool add) const {
    const auto& q = L[k];
    double spare = st->n[q.var] - st->load[q.var];
    if (add && spare * q.cap < want - kEps) {
      const int need = static_cast<int>(std::ceil((want / q.cap - spare) - 1e-9));
      const int got = std::min(need, Addable(*st, q.var));
      if (got > 0) Add(st, q.var, got);
      spare = st->n[q.var] - st->load[q.var];
    }
    const double take = std::max(0.0, std::min(want, spare * q.cap));
    if (take <= 0) return 0;
    st->load[q.var] += take / q.cap;
    (*X)[k] += take / in.dems[i].rate;
    return take;
  }

  Result<Solution> Greedy(const std::vector<double>& lam, const std::vector<double>& mu) const {
    State st;
    st.n.resize(V);
    st.load.assign(V, 0);
    st.usedA.assign(A, 0);
    st.usedC.assign(C, 0);
    for (int v = 0; v < V; ++v) {
      st.n[v] = 0;
      Add(&st, v, in.vars[v].fixed ? in.vars[v].cur : in.vars[v].min);
    }
    for (int a = 0; a < A; ++a)
      if (in.accels[a].count >= 0 && st.usedA[a] > in.accels[a].count + kEps)
        return Status(VARIANT_E_INFEASIBLE, "minimum and pinned replicas need " +
                                                std::to_string(st.usedA[a]) + " " +
                                                in.accels[a].name + ", only " +
                                                std::to_string(in.accels[a].count) + " exist");
    for (int c = 0; c < C; ++c)
      if (st.usedC[c] > in.caps[c].total + kEps)
        return Status(VARIANT_E_INFEASIBLE,
                      "minimum and pinned replicas exceed the cap '" + in.caps[c].name + "'");
    std::vector<double> pl(V);
    for (int v = 0; v < V; ++v) pl[v] = LPrice(v, lam, mu);
    Solution& s = st.s;
    s.n.assign(V, 0);
    s.x_pd.resize(D);
    s.x_p.resize(D);
    s.x_d.resize(D);
    s.unserved.assign(D, 0);
    for (int i = 0; i < D; ++i) {
      s.x_pd[i].assign(in.pd[i].size(), 0);
      s.x_p[i].assign(in.p[i].size(), 0);
      s.x_d[i].assign(in.d[i].size(), 0);
    }
    std::vector<int> ord_pd, ord_p, ord_d, spare_pd;
    auto sort_pairs = [&](const std::vector<Instance::Pair>& L, std::vector<int>* o) {
      std::sort(o->begin(), o->end(), [&](int a, int b) {
        return pl[L[a].var] / L[a].cap < pl[L[b].var] / L[b].cap;
      });
    };
    // Order at these prices: priority first, then regret — what a slice loses (per
    // hour) if its cheapest path is taken by others — so contested capacity goes where
    // it saves most (a plain size order fills scarce accelerators first-come).
    std::vector<double> regret(D, 0);
    for (int i = 0; i < D; ++i) {
      double b1 = INFINITY, b2 = INFINITY;
      auto see = [&](double c) {
        if (c < b1) {
          b2 = b1;
          b1 = c;
        } else if (c < b2) {
          b2 = c;
        }
      };
      for (const auto& q : in.pd[i]) see(pl[q.var] / q.cap);
      if (!in.p[i].empty() && !in.d[i].empty()) {
        double bp = INFINITY, bd = INFINITY;
        for (const auto& q : in.p[i]) bp = std::min(bp, pl[q.var] / q.cap);
        for (const auto& q : in.d[i]) bd = std::min(bd, pl[q.var] / q.cap);
        see(bp + bd);
      }
      if (!std::isfinite(b2)) b2 = in.dems[i].penalty;
      regret[i] = std::isfinite(b1) ? (b2 - b1) * in.dems[i].rate : in.dems[i].rate;
    }
    std::vector<int> ord = order;
    std::stable_sort(ord.begin(), ord.end(), [&](int a, int b) {
      if (in.dems[a].priority != in.dems[b].priority) return in.dems[a].priority > in.dems[b].priority;
      return regret[a] > regret[b];
    });
    for (int i : ord) {
      const double r = in.dems[i].rate;
      if (r <= 0) continue;
      double rem = r;
      const bool dis = !in.p[i].empty() && !in.d[i].empty();
      // Phase 2 scans every pair for the minimum, in list order; only the pairs with
      // spare capacity need sorting (phase 1 fills the efficient ones first).
      auto iota_to = [](size_t n, std::vector<int>* o) {
        o->resize(n);
        std::iota(o->begin(), o->end(), 0);
      };
      iota_to(in.pd[i].size(), &ord_pd);
      if (dis) {
        iota_to(in.p[i].size(), &ord_p);
        iota_to(in.d[i].size(), &ord_d);
      }
      spare_pd.clear();
      for (size_t k = 0; k < in.pd[i].size(); ++k)
        if (st.n[in.pd[i][k].var] - st.load[in.pd[i][k].var] > kEps) spare_pd.push_back(static_cast<int>(k));
      if (spare_pd.size() > 1) sort_pairs(in.pd[i], &spare_pd);
      // 1. Spare capacity (already paid for) on aggregated variants.
      for (int k : spare_pd) {
        if (rem <= kEps * r) break;
        rem -= Take(&st, i, in.pd[i], &s.x_pd[i], k, rem, false);
      }
      // 2. Cheapest path that can still grow, until served or nothing fits.
      while (rem > kEps * r) {
        double best = INFINITY;
        int bk = -1, bp = -1, bd = -1;
        for (int k : ord_pd) {
          const auto& q = in.pd[i][k];
          const bool has_spare = st.n[q.var] - st.load[q.var] > kEps;
          if (!has_spare && Addable(st, q.var) == 0) continue;
          const double c = has_spare ? 0 : AddPrice(st, q.var, pl) / q.cap;
          if (c < best) {
            best = c;
            bk = k;
          }
        }
        if (dis) {
          double cp = INFINITY, cd = INFINITY;
          int kp = -1, kd = -1;
          for (int k : ord_p) {
            const auto& q = in.p[i][k];
            const bool sp = st.n[q.var] - st.load[q.var] > kEps;
            if (!sp && Addable(st, q.var) == 0) continue;
            const double c = sp ? 0 : AddPrice(st, q.var, pl) / q.cap;
            if (c < cp) {
              cp = c;
              kp = k;
            }
          }
          for (int k : ord_d) {
            const auto& q = in.d[i][k];
            const bool sp = st.n[q.var] - st.load[q.var] > kEps;
            if (!sp && Addable(st, q.var) == 0) continue;
            const double c = sp ? 0 : AddPrice(st, q.var, pl) / q.cap;
            if (c < cd) {
              cd = c;
              kd = k;
            }
          }
          if (kp >= 0 && kd >= 0 && cp + cd < best) {
            best = cp + cd;
            bk = -1;
            bp = kp;
            bd = kd;
          }
        }
        if (bk >= 0) {
          const double got = Take(&st, i, in.pd[i], &s.x_pd[i], bk, rem, true);
          if (got <= 0) break;
          rem -= got;
        } else if (bp >= 0) {
          // Size both sides for the same rate: the smaller side limits.
          const auto& qp = in.p[i][bp];
          const auto& qd = in.d[i][bd];
          auto avail = [&](const Instance::Pair& q) {
            return (st.n[q.var] - st.load[q.var] + Addable(st, q.var)) * q.cap;
          };
          const double want = std::min({rem, avail(qp), avail(qd)});
          if (want <= kEps * r) break;
          const double a = Take(&st, i, in.p[i], &s.x_p[i], bp, want, true);
          const double b = Take(&st, i, in.d[i], &s.x_d[i], bd, a, true);
          if (b < a) {  // cannot happen (avail checked); undo the surplus on P
            st.load[qp.var] -= (a - b) / qp.cap;
            s.x_p[i][bp] -= (a - b) / r;
          }
          if (b <= 0) break;
          rem -= b;
        } else {
          break;
        }
      }
      s.unserved[i] = std::max(0.0, rem / r);
      if (s.unserved[i] < 1e-9) s.unserved[i] = 0;
    }
    Consolidate(&st);
    s.n = st.n;
    Evaluate(in, &s);
    Refill(&s);
    return std::move(st.s);
  }

  // Per-model repacking of the final answer. A fully served model may instead take:
  // (a) ceil(work) replicas of one aggregated variant; (b) floor(work) (or one fewer)
  // replicas of one aggregated variant carrying that share of every slice, plus the
  // remainder on a second aggregated variant, or (c) on a prefill + decode pair; (d)
  // everything disaggregated on one prefill and one decode variant. Rounding waste of
  // several partially used variants is what this removes. Applied when cheaper and
  // within the caps.
  void Repack(Solution* s) const {
    std::vector<double> usedA(A, 0), usedC(C, 0);
    for (int v = 0; v < V; ++v) {
      const auto& x = in.vars[v];
      usedA[x.accel] += x.tp * s->n[v];
      for (int c = 0; c < C; ++c) usedC[c] += x.tp * in.caps[c].amount[x.accel] * s->n[v];
    }
    auto vcost = [&](int v, int n) {
      return in.Price(v) * n + in.transition * in.Price(v) * std::abs(n - in.vars[v].cur);
    };
    auto take = [&](int v, int n, double sign) {
      const auto& x = in.vars[v];
      usedA[x.accel] += sign * x.tp * n;
      for (int c = 0; c < C; ++c) usedC[c] += sign * x.tp * in.caps[c].amount[x.accel] * n;
    };
    auto fits_all = [&](const std::vector<std::pair<int, int>>& add) {
      bool ok = true;
      size_t done = 0;
      for (; done < add.size() && ok; ++done) {
        const auto [v, n] = add[done];
        const auto& x = in.vars[v];
        take(v, n, +1);
        if (x.max >= 0 && n > x.max) ok = false;
        if (in.accels[x.accel].count >= 0 && usedA[x.accel] > in.accels[x.accel].count + kEps) ok = false;
        for (int c = 0; c < C; ++c)
          if (usedC[c] > in.caps[c].total + kEps) ok = false;
      }
      for (size_t k = 0; k < done; ++k) take(add[k].first, add[k].second, -1);
      return ok;
    };
    struct Cand {
      double cost = INFINITY;
      int j = -1, k = 0, w = -1, nw = 0, jp = -1, np = 0, jd = -1, nd = 0;
      double f = 0;  // share on j
    };
    for (int m = 0; m < in.n_models; ++m) {
      const auto& vs = model_vars[m];
      const auto& ds = model_dems[m];
      bool ok = !ds.empty();
      for (int v : vs) ok &= !in.vars[v].fixed && in.vars[v].min == 0;
      for (int i : ds) ok &= s->unserved[i] == 0;
      if (!ok) continue;
      const int nv = static_cast<int>(vs.size()), nd = static_cast<int>(ds.size());
      // cap[j][t] and pair index of vs[j] on ds[t] in its role's list.
      std::vector<double> cap(nv * nd, 0);
      std::vector<int> kix(nv * nd, -1);
      std::vector<int> local(V, -1);
      for (int j = 0; j < nv; ++j) local[vs[j]] = j;
      for (int t = 0; t < nd; ++t)
        for (const auto* L : {&in.pd[ds[t]], &in.p[ds[t]], &in.d[ds[t]]})
          for (size_t k = 0; k < L->size(); ++k) {
            const int j = local[(*L)[k].var];
            cap[j * nd + t] = (*L)[k].cap;
            kix[j * nd + t] = static_cast<int>(k);
          }
      std::vector<double> work(nv, INFINITY);
      std::vector<int> pdv, pv, dv;
      for (int j = 0; j < nv; ++j) {
        double w = 0;
        for (int t = 0; t < nd && std::isfinite(w); ++t)
          w = cap[j * nd + t] > 0 ? w + in.dems[ds[t]].rate / cap[j * nd + t] : INFINITY;
        work[j] = w;
        if (!std::isfinite(w)) continue;
        const int role = in.vars[vs[j]].role;
        (role == VARIANT_ROLE_PD ? pdv : role == VARIANT_ROLE_P ? pv : dv).push_back(j);
      }
      double cur = 0;
      for (int v : vs) {
        cur += vcost(v, s->n[v]);
        take(v, s->n[v], -1);
      }
      double zero_all = 0;
      for (int v : vs) zero_all += vcost(v, 0);
      // Cost of a candidate: chosen variants at their counts, the others at zero.
      auto total = [&](const std::vector<std::pair<int, int>>& use) {
        double c = zero_all;
        for (const auto& [j, n] : use) c += vcost(vs[j], n) - vcost(vs[j], 0);
        return c;
      };
      auto to_vars = [&](const std::vector<std::pair<int, int>>& use) {
        std::vector<std::pair<int, int>> r;
        for (const auto& [j, n] : use) r.push_back({vs[j], n});
        return r;
      };
      Cand best;
      best.cost = cur - 1e-9 * std::max(1.0, cur);
      auto consider = [&](const Cand& c, const std::vector<std::pair<int, int>>& use) {
        const double cost = total(use);
        if (cost < best.cost && fits_all(to_vars(use))) {
          best = c;
          best.cost = cost;
        }
      };
      auto ceil_ = [](double x) { return static_cast<int>(std::ceil(x - 1e-9)); };
      // Cheapest prefill+decode pair for a share g of the model.
      auto best_pair = [&](double g, int* bp, int* bnp, int* bd, int* bnd) {
        double bc = INFINITY;
        for (int jp : pv) {
          const int np = ceil_(g * work[jp]);
          const double cp = vcost(vs[jp], np) - vcost(vs[jp], 0);
          for (int jd : dv) {
            const int ndd = ceil_(g * work[jd]);
            const double c = cp + vcost(vs[jd], ndd) - vcost(vs[jd], 0);
            if (c < bc) {
              bc = c;
              *bp = jp;
              *bnp = np;
              *bd = jd;
              *bnd = ndd;
            }
          }
        }
        return bc;
      };
      {  // (d)
        Cand c;
        if (best_pair(1.0, &c.jp, &c.np, &c.jd, &c.nd) < INFINITY)
          consider(c, {{c.jp, c.np}, {c.jd, c.nd}});
      }
      for (int j : pdv) {
        Cand a;
        a.j = j;
        a.k = ceil_(work[j]);
        a.f = 1;
        consider(a, {{j, a.k}});  // (a)
        for (int k = static_cast<int>(std::floor(work[j])); k >= 1 && k >= std::floor(work[j]) - 1; --k) {
          if (k >= work[j] - 1e-9) continue;
          const double f = k / work[j];
          if (total({{j, k}}) >= best.cost) continue;
          for (int w : pdv) {  // (b)
            if (w == j) continue;
            Cand b;
            b.j = j;
            b.k = k;
            b.f = f;
            b.w = w;
            b.nw = ceil_((1 - f) * work[w]);
            consider(b, {{j, k}, {w, b.nw}});
          }
          Cand c;  // (c)
          c.j = j;
          c.k = k;
          c.f = f;
          if (best_pair(1 - f, &c.jp, &c.np, &c.jd, &c.nd) < INFINITY)
            consider(c, {{j, k}, {c.jp, c.np}, {c.jd, c.nd}});
        }
      }
      if (!std::isfinite(best.cost) || (best.j < 0 && best.jp < 0)) {
        for (int v : vs) take(v, s->n[v], +1);
        continue;
      }
      for (int v : vs) s->n[v] = 0;
      if (best.j >= 0) s->n[vs[best.j]] = best.k;
      if (best.w >= 0) s->n[vs[best.w]] = best.nw;
      if (best.jp >= 0) {
        s->n[vs[best.jp]] = best.np;
        s->n[vs[best.jd]] = best.nd;
      }
      for (int v : vs) take(v, s->n[v], +1);
      for (int t = 0; t < nd; ++t) {
        const int i = ds[t];
        std::fill(s->x_pd[i].begin(), s->x_pd[i].end(), 0.0);
        std::fill(s->x_p[i].begin(), s->x_p[i].end(), 0.0);
        std::fill(s->x_d[i].begin(), s->x_d[i].end(), 0.0);
        const double rest = best.j >= 0 ? 1 - best.f : 1.0;
        if (best.j >= 0) s->x_pd[i][kix[best.j * nd + t]] = best.f;
        if (best.w >= 0) s->x_pd[i][kix[best.w * nd + t]] = rest;
        if (best.jp >= 0) {
          s->x_p[i][kix[best.jp * nd + t]] = rest;
          s->x_d[i][kix[best.jd * nd + t]] = rest;
        }
      }
    }
    Evaluate(in, s);
  }

  // Serves what is still unserved from spare capacity anywhere (capacity freed by
  // consolidation and repacking, or left by slices processed later), highest priority
  // first, at no extra cost.
  void Refill(Solution* s) const {
    std::vector<double> load(V, 0);
    for (int i = 0; i < D; ++i) {
      for (size_t k = 0; k < in.pd[i].size(); ++k) load[in.pd[i][k].var] += in.dems[i].rate * s->x_pd[i][k] / in.pd[i][k].cap;
      for (size_t k = 0; k < in.p[i].size(); ++k) load[in.p[i][k].var] += in.dems[i].rate * s->x_p[i][k] / in.p[i][k].cap;
      for (size_t k = 0; k < in.d[i].size(); ++k) load[in.d[i][k].var] += in.dems[i].rate * s->x_d[i][k] / in.d[i][k].cap;
    }
    bool any = false;
    for (int i : order) {
      const double r = in.dems[i].rate;
      if (s->unserved[i] <= 0 || r <= 0) continue;
      double rem = s->unserved[i] * r;
      for (size_t k = 0; k < in.pd[i].size() && rem > kEps * r; ++k) {
        const auto& q = in.pd[i][k];
        const double t = std::min(rem, std::max(0.0, s->n[q.var] - load[q.var]) * q.cap);
        if (t <= 0) continue;
        load[q.var] += t / q.cap;
        s->x_pd[i][k] += t / r;
        rem -= t;
      }
      for (size_t a = 0; a < in.p[i].size() && rem > kEps * r; ++a)
        for (size_t b = 0; b < in.d[i].size() && rem > kEps * r; ++b) {
          const auto &qp = in.p[i][a], &qd = in.d[i][b];
          const double t = std::min({rem, std::max(0.0, s->n[qp.var] - load[qp.var]) * qp.cap,
                                     std::max(0.0, s->n[qd.var] - load[qd.var]) * qd.cap});
          if (t <= 0) continue;
          load[qp.var] += t / qp.cap;
          load[qd.var] += t / qd.cap;
          s->x_p[i][a] += t / r;
          s->x_d[i][b] += t / r;
          rem -= t;
        }
      const double u = std::max(0.0, rem / r);
      if (u < s->unserved[i]) any = true;
      s->unserved[i] = u < 1e-9 ? 0 : u;
    }
    if (any) Evaluate(in, s);
  }

  // Removes replicas whose load fits elsewhere (see the file comment).
  void Consolidate(State* st) const {
    Solution& s = st->s;
    // Per variant: the (demand, pair index) of aggregated assignments on it.
    std::vector<std::vector<std::pair<int, int>>> on(V);
    for (int i = 0; i < D; ++i)
      for (size_t k = 0; k < in.pd[i].size(); ++k)
        if (s.x_pd[i][k] > 0) on[in.pd[i][k].var].push_back({i, static_cast<int>(k)});
    std::vector<int> vs(V);
    std::iota(vs.begin(), vs.end(), 0);
    std::sort(vs.begin(), vs.end(), [&](int a, int b) { return in.Price(a) > in.Price(b); });
    struct Move {
      int i, from_k, to_k;
      double rps;
    };
    for (int v : vs) {
      const auto& x = in.vars[v];
      if (x.fixed || x.role != VARIANT_ROLE_PD) continue;
      while (st->n[v] > x.min) {
        // Saving from removing one replica of v.
        const double t = in.transition * in.Price(v);
        const double save = in.Price(v) + (st->n[v] > x.cur ? t : -t);
        if (save <= 0) break;
        double excess = st->load[v] - (st->n[v] - 1);
        std::vector<Move> moves;
        // (a) into spare capacity of other aggregated variants of the same slices.
        for (const auto& [i, k] : on[v]) {
          if (excess <= kEps) break;
          const double r = in.dems[i].rate;
          const double cap_v = in.pd[i][k].cap;
          for (size_t k2 = 0; k2 < in.pd[i].size() && excess > kEps; ++k2) {
            const auto& q = in.pd[i][k2];
            if (q.var == v) continue;
            const double spare = st->n[q.var] - st->load[q.var];
            if (spare <= kEps) continue;
            const double on_v = s.x_pd[i][k] * r;
            const double mv = std::min({on_v, excess * cap_v, spare * q.cap});
            if (mv <= 0) continue;
            s.x_pd[i][k] -= mv / r;
            s.x_pd[i][k2] += mv / r;
            st->load[v] -= mv / cap_v;
            st->load[q.var] += mv / q.cap;
            excess -= mv / cap_v;
            moves.push_back({i, k, static_cast<int>(k2), mv});
          }
        }
        if (excess <= 1e-9) {
          --st->n[v];
          Add(st, v, 0);
          st->usedA[x.accel] -= x.tp;
          for (int c = 0; c < C; ++c) st->usedC[c] -= x.tp * in.caps[c].amount[x.accel];
          for (const auto& m : moves) on[in.pd[m.i][m.to_k].var].push_back({m.i, m.to_k});
          continue;
        }
        // Undo (a); then (b): one cheaper variant absorbs the whole excess with new
        // replicas, only if all the excess sits on a single slice (keeps it simple).
        for (auto it = moves.rbegin(); it != moves.rend(); ++it) {
          const double r = in.dems[it->i].rate;
          s.x_pd[it->i][it->from_k] += it->rps / r;
          s.x_pd[it->i][it->to_k] -= it->rps / r;
          st->load[v] += it->rps / in.pd[it->i][it->from_k].cap;
          st->load[in.pd[it->i][it->to_k].var] -= it->rps / in.pd[it->i][it->to_k].cap;
        }
        excess = st->load[v] - (st->n[v] - 1);
        bool done = false;
        for (const auto& [i, k] : on[v]) {
          const double r = in.dems[i].rate;
          const double cap_v = in.pd[i][k].cap;
          const double on_v = s.x_pd[i][k] * r;
          if (on_v + 1e-12 < excess * cap_v) continue;
          const double rps = excess * cap_v;
          for (size_t k2 = 0; k2 < in.pd[i].size() && !done; ++k2) {
            const auto& q = in.pd[i][k2];
            if (q.var == v) continue;
            const double spare = st->n[q.var] - st->load[q.var];
            const int need = static_cast<int>(std::ceil((rps / q.cap - spare) - 1e-9));
            if (need <= 0 || need > Addable(*st, q.var)) continue;
            const double tq = in.transition * in.Price(q.var);
            const double addc = need * in.Price(q.var) +
                                (st->n[q.var] + need <= in.vars[q.var].cur ? -need * tq : need * tq);
            if (addc >= save - 1e-9) continue;
            Add(st, q.var, need);
            s.x_pd[i][k] -= rps / r;
            s.x_pd[i][k2] += rps / r;
            st->load[v] -= rps / cap_v;
            st->load[q.var] += rps / q.cap;
            --st->n[v];
            st->usedA[x.accel] -= x.tp;
            for (int c = 0; c < C; ++c) st->usedC[c] -= x.tp * in.caps[c].amount[x.accel];
            on[q.var].push_back({i, static_cast<int>(k2)});
            done = true;
          }
          break;
        }
        if (!done) break;
      }
    }
  }
};

}  // namespace

Result<Solution> SolveFast(const Instance& in) {
  VARIANT_RETURN_IF_ERROR(in.Validate());
  const auto t0 = Clock::now();
  Fast f(in);
  const int A = f.A, C = f.C;
  // Processing order: priority first, then larger demand (cost at list prices) first.
  std::vector<double> key(f.D, 0);
  for (int i = 0; i < f.D; ++i) {
    double b = INFINITY;
    for (const auto& q : in.pd[i]) b = std::min(b, in.Price(q.var) / q.cap);
    key[i] = in.dems[i].rate * (std::isfinite(b) ? b : 1);
  }
  f.order.resize(f.D);
  std::iota(f.order.begin(), f.order.end(), 0);
  std::sort(f.order.begin(), f.order.end(), [&](int a, int b) {
    if (in.dems[a].priority != in.dems[b].priority) return in.dems[a].priority > in.dems[b].priority;
    return key[a] > key[b];
  });

  std::vector<double> lam(A, 0), mu(C, 0), gA, gC;
  auto first = f.Greedy(lam, mu);
  if (!first.ok()) return first.status();
  Solution best = std::move(first.value());
  double lb = f.Bound(lam, mu, &gA, &gC);
  std::vector<double> best_lam = lam, best_mu = mu;
  bool capped = false;
  for (int a = 0; a < A; ++a) capped |= in.accels[a].count >= 0;
  capped |= C > 0;
  double theta = 1.0;
  int stall = 0;
  const int kIters = 40;
  const double kBudgetMs = 1000;  // safety net only; kIters decides normally
  for (int it = 0; capped && it < kIters; ++it) {
    if (best.objective - lb <= 1e-4 * std::max(1.0, best.objective)) break;
    double norm = 0;
    for (int a = 0; a < A; ++a) {
      if (in.accels[a].count < 0 || (lam[a] <= 0 && gA[a] < 0)) gA[a] = 0;
      norm += gA[a] * gA[a];
    }
    for (int c = 0; c < C; ++c) {
      if (mu[c] <= 0 && gC[c] < 0) gC[c] = 0;
      norm += gC[c] * gC[c];
    }
    if (norm <= 0) break;  // the LP minimizer fits the caps: λ is optimal
    // Polyak step toward a target a little above the bound: the incumbent's objective
    // can be far off (penalties of a poor first greedy) and would overshoot λ.
    const double target =
        lb + std::min(best.objective - lb,
                      std::max(0.05 * std::max(1.0, std::abs(lb)), 0.1 * (best.objective - lb)));
    const double step = theta * (target - lb) / norm;
    for (int a = 0; a < A; ++a) lam[a] = std::max(0.0, lam[a] + step * gA[a]);
    for (int c = 0; c < C; ++c) mu[c] = std::max(0.0, mu[c] + step * gC[c]);
    const double b = f.Bound(lam, mu, &gA, &gC);
    if (b > lb + 1e-9 * std::abs(lb)) {
      lb = b;
      best_lam = lam;
      best_mu = mu;
      stall = 0;
    } else if (++stall >= 4) {
      theta *= 0.5;
      stall = 0;
    }
    // Primal at a few λ along the way (each greedy costs ~ a dozen bound iterations),
    // and a budget so that large clusters stay fast.
    const double el = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const bool last = it == kIters - 1 || el > kBudgetMs;
    if (it == 5 || it == 15 || it == 25 || last) {
      auto g = f.Greedy(lam, mu);
      if (g.ok() && g->objective < best.objective) best = std::move(g.value());
    }
    if (last) break;
  }
  // The integer-strengthened bound at the best multipliers (valid for any λ >= 0).
  lb = std::max(lb, f.Bound(best_lam, best_mu, nullptr, nullptr, true));
  f.Repack(&best);
  f.Refill(&best);
  // Under shortage the greedy's assignment over its replicas can be far from the best
  // one (which slice gets which scarce capacity). For moderate sizes re-assign by LP
  // over the fixed replicas (lp_solve, every count fixed: a pure LP).
  // Only when the shortage is confined to the lowest priority: above it, the greedy's
  // priority order decided which replicas exist, and a re-assignment could leave a
  // replica serving lower priorities while a higher one is short.
  double short_rps = 0, short_high = 0;
  size_t pairs = 0;
  int lowest = INT_MAX;
  for (int i = 0; i < f.D; ++i) lowest = std::min(lowest, in.dems[i].priority);
  for (int i = 0; i < f.D; ++i) {
    short_rps += best.unserved[i] * in.dems[i].rate;
    if (in.dems[i].priority != lowest) short_high += best.unserved[i] * in.dems[i].rate;
    pairs += in.pd[i].size() + in.p[i].size() + in.d[i].size();
  }
  if (short_rps > 1e-6 && short_high <= 1e-6 && pairs <= 4000) {
    Instance fx = in;
    fx.transition = 0;
    fx.time_limit_s = 1;
    for (size_t v = 0; v < fx.vars.size(); ++v) {
      fx.vars[v].fixed = true;
      fx.vars[v].cur = best.n[v];
    }
    auto a = SolveMilp(fx);
    if (a.ok()) {
      Solution t = best;
      t.x_pd = a->x_pd;
      t.x_p = a->x_p;
      t.x_d = a->x_d;
      t.unserved = a->unserved;
      Evaluate(in, &t);
      if (t.objective < best.objective) best = std::move(t);
    }
  }
  // Small instances: the exact solver is cheap there; keep the better answer.
  if (in.fast_exact_small && pairs <= 2000 && in.vars.size() <= 200) {
    Instance ex = in;
    ex.time_limit_s = std::min(in.time_limit_s, 0.1);
    auto m = SolveMilp(ex);
    if (m.ok()) {
      if (std::isfinite(m->lp_bound) && m->status.find("lexicographic") == std::string::npos)
        lb = std::max(lb, m->lp_bound);
      if (m->objective < best.objective - 1e-9 * std::abs(best.objective)) {
        const bool opt = m->proven_optimal && m->status.find("lexicographic") == std::string::npos;
        best = std::move(m.value());
        if (opt) lb = std::max(lb, best.objective);
      }
    }
  }
  best.solver = "fast";
  best.status = "feasible";
  best.lower_bound = std::min(lb, best.objective);
  best.gap = best.objective > 0 ? (best.objective - best.lower_bound) / best.objective : 0;
  if (best.gap <= 1e-12) {
    best.gap = 0;
    best.status = "optimal";
    best.proven_optimal = true;
  }
  best.solve_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return best;
}

}  // namespace variant::opt
