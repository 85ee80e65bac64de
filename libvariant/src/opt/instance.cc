// Instance helpers shared by both solvers: validation, priority penalties, evaluation
// and the independent solution checker used by the tests.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "opt/solver.h"

namespace variant::opt {

Status Instance::Validate() const {
  const int V = static_cast<int>(vars.size());
  if (pd.size() != dems.size() || p.size() != dems.size() || d.size() != dems.size())
    return Internal("instance: pair lists do not match the demands");
  for (const auto& c : caps)
    if (c.amount.size() != accels.size()) return Internal("instance: cap amounts per accelerator");
  for (const auto& v : vars) {
    if (v.accel < 0 || v.accel >= static_cast<int>(accels.size()))
      return Internal("instance: variant accelerator out of range");
    if (v.max >= 0 && v.max < v.min) return InvalidArgument("instance: max < min replicas");
  }
  for (size_t i = 0; i < dems.size(); ++i) {
    if (!(dems[i].rate >= 0) || !std::isfinite(dems[i].rate))
      return InvalidArgument("instance: demand rate must be finite and >= 0");
    for (const auto* list : {&pd[i], &p[i], &d[i]})
      for (const auto& q : *list)
        if (q.var < 0 || q.var >= V || !(q.cap > 0) || !std::isfinite(q.cap))
          return Internal("instance: bad pair (variant index or capacity)");
  }
  return {};
}

void Instance::SetPenalties() {
  // Lowest level: 10× the most expensive cost per rps of any path (and at least 2× the
  // dearest replica per rps of the smallest slice), so serving is preferred to leaving
  // demand unserved whenever capacity allows. Each higher
  // level: R× the one below, with R above the largest ratio of per-accelerator
  // capacities between any two slices, so that one accelerator moved from a lower-
  // to a higher-priority slice always lowers the objective.
  double worst = 0, cmin = INFINITY, cmax = 0;
  for (size_t i = 0; i < dems.size(); ++i) {
    double wp = 0, wd = 0;
    for (const auto& q : pd[i]) worst = std::max(worst, Price(q.var) / q.cap);
    for (const auto& q : p[i]) wp = std::max(wp, Price(q.var) / q.cap);
    for (const auto& q : d[i]) wd = std::max(wd, Price(q.var) / q.cap);
    if (!p[i].empty() && !d[i].empty()) worst = std::max(worst, wp + wd);
    for (const auto* list : {&pd[i], &p[i], &d[i]})
      for (const auto& q : *list) {
        const double c = q.cap / vars[q.var].tp;
        cmin = std::min(cmin, c);
        cmax = std::max(cmax, c);
      }
  }
  if (worst <= 0) worst = 1;
  // Integer replicas: leaving a small slice unserved must also cost more than the
  // dearest replica that could carry it (slices under 1e-3 rps aside).
  double max_price = 0, min_rate = INFINITY;
  for (size_t v = 0; v < vars.size(); ++v) max_price = std::max(max_price, Price(static_cast<int>(v)));
  for (const auto& dm : dems)
    if (dm.rate >= 1e-3) min_rate = std::min(min_rate, dm.rate);
  if (std::isfinite(min_rate)) worst = std::max(worst, 2 * max_price / min_rate);
  double ratio = cmax > 0 && std::isfinite(cmin) ? 2 * cmax / cmin : 10;
  ratio = std::clamp(ratio, 10.0, 1e4);
  std::set<int> levels;
  for (const auto& d : dems) levels.insert(d.priority);
  std::map<int, double> pen;
  double v = 10 * worst;
  for (int l : levels) {
    pen[l] = v;
    v *= ratio;
  }
  for (auto& d : dems) d.penalty = pen[d.priority];
}

void Evaluate(const Instance& in, Solution* s) {
  s->cost = s->penalty = s->transition = 0;
  for (size_t v = 0; v < in.vars.size(); ++v) {
    s->cost += in.Price(static_cast<int>(v)) * s->n[v];
    if (!in.vars[v].fixed)
      s->transition +=
          in.transition * in.Price(static_cast<int>(v)) * std::abs(s->n[v] - in.vars[v].cur);
  }
  for (size_t i = 0; i < in.dems.size(); ++i)
    s->penalty += in.dems[i].penalty * in.dems[i].rate * s->unserved[i];
  s->objective = s->cost + s->penalty + s->transition;
}

Status CheckSolution(const Instance& in, const Solution& s, double tol) {
  const size_t V = in.vars.size(), D = in.dems.size();
  if (s.n.size() != V || s.unserved.size() != D || s.x_pd.size() != D || s.x_p.size() != D ||
      s.x_d.size() != D)
    return Internal("check: solution arrays have the wrong size");
  std::vector<double> load_pd(V, 0), load_p(V, 0), load_d(V, 0);
  for (size_t v = 0; v < V; ++v) {
    const auto& x = in.vars[v];
    if (s.n[v] < 0) return Internal("check: negative replicas");
    if (x.fixed && s.n[v] != x.cur) return Internal("check: a fixed variant moved");
    if (!x.fixed && (s.n[v] < x.min || (x.max >= 0 && s.n[v] > x.max)))
      return Internal("check: replicas outside [min, max] for variant " + std::to_string(v));
  }
  for (size_t i = 0; i < D; ++i) {
    double sum = s.unserved[i], sp = 0, sd = 0;
    if (s.unserved[i] < -tol || s.unserved[i] > 1 + tol) return Internal("check: unserved out of [0,1]");
    for (size_t k = 0; k < in.pd[i].size(); ++k) {
      sum += s.x_pd[i][k];
      load_pd[in.pd[i][k].var] += in.dems[i].rate * s.x_pd[i][k] / in.pd[i][k].cap;
    }
    for (size_t k = 0; k < in.p[i].size(); ++k) {
      sp += s.x_p[i][k];
      load_p[in.p[i][k].var] += in.dems[i].rate * s.x_p[i][k] / in.p[i][k].cap;
    }
    for (size_t k = 0; k < in.d[i].size(); ++k) {
      sd += s.x_d[i][k];
      load_d[in.d[i][k].var] += in.dems[i].rate * s.x_d[i][k] / in.d[i][k].cap;
    }
    if (std::abs(sp - sd) > 1e-6) return Internal("check: prefill and decode fractions differ");
    sum += sp;
    if (std::abs(sum - 1) > 1e-6)
      return Internal("check: demand " + std::to_string(i) + " fractions sum to " + std::to_string(sum));
  }
  for (size_t v = 0; v < V; ++v) {
    const double l = load_pd[v] + load_p[v] + load_d[v];
    if (l > s.n[v] * (1 + tol) + 1e-6)
      return Internal("check: variant " + std::to_string(v) + " load " + std::to_string(l) +
                      " exceeds " + std::to_string(s.n[v]) + " replicas");
  }
  std::vector<double> used(in.accels.size(), 0);
  for (size_t v = 0; v < V; ++v) used[in.vars[v].accel] += in.vars[v].tp * s.n[v];
  for (size_t a = 0; a < in.accels.size(); ++a)
    if (in.accels[a].count >= 0 && used[a] > in.accels[a].count + 1e-9)
      return Internal("check: accelerator " + in.accels[a].name + " over its count");
  for (const auto& c : in.caps) {
    double u = 0;
    for (size_t v = 0; v < V; ++v) u += in.vars[v].tp * c.amount[in.vars[v].accel] * s.n[v];
    if (u > c.total * (1 + tol) + 1e-9) return Internal("check: cap " + c.name + " exceeded");
  }
  return {};
}

}  // namespace variant::opt
