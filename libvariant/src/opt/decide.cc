#include "opt/decide.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "context.h"
#include "opt/plan.h"
#include "perf/queue_model.h"
#include "perf/step_model.h"

namespace variant::opt {

using nlohmann::json;

CapacityFn PerfCapacity(Context* ctx, const Problem& p) {
  return [ctx, &p](int mi, int vi, int ci, const Bucket& b, double prefix) -> Result<double> {
    const ModelSpec& m = p.models[mi];
    const VariantSpec& v = m.variants[vi];
    const std::string w = "model '" + m.name + "' variant '" + v.name + "'";
    if (ctx == nullptr)
      return InvalidArgument(w + ": no capacity_rps and no performance model context");
    if (ctx->catalog().FindModel(m.name) == nullptr)
      return Status(VARIANT_E_UNKNOWN_MODEL, w + ": model '" + m.name +
                                                 "' is not in the catalog (add it, or give "
                                                 "capacity_rps)");
    if (ctx->catalog().FindAccelerator(v.accelerator) == nullptr)
      return Status(VARIANT_E_UNKNOWN_ACCELERATOR,
                    w + ": accelerator '" + v.accelerator +
                        "' is not in the catalog (add it, or give capacity_rps)");
    auto sm = ctx->GetStepModel(m.name, v.accelerator, v.tp);
    if (!sm.ok()) return Status(sm.status().code(), w + ": " + sm.status().message());
    const StepModel* step = sm.value();
    if (step->KvCapacityTokens(v.gpu_memory_util) < std::min(step->arch().max_context, 2048))
      return 0.0;  // does not fit: the variant cannot serve
    ReplicaConfig cfg;
    cfg.step = step;
    cfg.max_batch = v.max_batch;
    cfg.max_tokens_per_step = v.max_tokens_per_step;
    cfg.role = v.role;
    cfg.kv_link_gbps = v.kv_link_gbps;
    cfg.gpu_memory_util = v.gpu_memory_util;
    // The offline profile and the online correction in force for this variant, as in
    // variant_model_max_rate: the solver sizes with the calibrated model.
    ctx->ApplyCalibration(m.name, v.accelerator, v.tp, &cfg);
    Workload wl;
    wl.input = {b.input};
    wl.output = {b.output};
    wl.weight = {1};
    wl.prefix_hit_ratio = prefix;
    auto r = MaxRate(cfg, wl, p.classes[ci].slo);
    if (!r.ok()) {
      if (r.status().code() == VARIANT_E_SLO_UNATTAINABLE ||
          r.status().code() == VARIANT_E_DOES_NOT_FIT)
        return 0.0;
      return Status(r.status().code(), w + ": " + r.status().message());
    }
    const double rate = r->rate_rps;
    return std::isfinite(rate) && rate > 0 ? rate : 0.0;
  };
}

namespace {

// Capacity cache over one decision.
class CapTable {
 public:
  CapTable(const Problem& p, CapacityFn fn) : p_(p), fn_(std::move(fn)) {}
  Result<double> Get(int mi, int vi, int ci, const Bucket& b, double prefix) {
    const VariantSpec& v = p_.models[mi].variants[vi];
    if (std::isfinite(v.capacity_rps)) return v.capacity_rps;
    auto key = std::make_tuple(mi, vi, ci, b.input, b.output, prefix);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    auto r = fn_(mi, vi, ci, b, prefix);
    if (!r.ok()) return r.status();
    cache_[key] = *r;
    return *r;
  }
  // Best rate per replica of the model on this slice (aggregated, or P+D in series).
  Result<double> Best(int mi, int ci, const Bucket& b, double prefix) {
    double pd = 0, bp = 0, bd = 0;
    const auto& vs = p_.models[mi].variants;
    for (size_t vi = 0; vi < vs.size(); ++vi) {
      auto c = Get(mi, static_cast<int>(vi), ci, b, prefix);
      if (!c.ok()) return c.status();
      if (vs[vi].role == VARIANT_ROLE_PD) pd = std::max(pd, *c);
      if (vs[vi].role == VARIANT_ROLE_P) bp = std::max(bp, *c);
      if (vs[vi].role == VARIANT_ROLE_D) bd = std::max(bd, *c);
    }
    if (bp > 0 && bd > 0) pd = std::max(pd, 1.0 / (1.0 / bp + 1.0 / bd));
    return pd;
  }

 private:
  const Problem& p_;
  CapacityFn fn_;
  std::map<std::tuple<int, int, int, double, double, double>, double> cache_;
};

struct Held {
  std::vector<Bucket> buckets;
  std::vector<double> rates;  // per bucket, rps
};

// Work in replica units of the best variant: comparable across length mixes.
Result<double> Work(CapTable* t, int mi, int ci, const Held& h, double prefix) {
  double w = 0;
  for (size_t b = 0; b < h.buckets.size(); ++b) {
    if (h.rates[b] <= 0) continue;
    auto c = t->Best(mi, ci, h.buckets[b], prefix);
    if (!c.ok()) return c.status();
    w += h.rates[b] / (*c > 0 ? *c : 1.0);
  }
  return w;
}

Held Scaled(const std::vector<Bucket>& bs, double rate) {
  Held h;
  h.buckets = bs;
  for (const auto& b : bs) h.rates.push_back(rate * b.weight);
  return h;
}

double Sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

struct Built {
  Instance in;
  std::vector<std::pair<int, int>> var_ref;   // (model, variant) per instance variant
  std::vector<std::pair<int, int>> dem_ref;   // (demand spec, bucket) per slice
  std::vector<Held> held;                     // per demand spec
  std::vector<bool> pinned;                   // per model
  std::vector<bool> following;                // per model: fixed to the last target
  std::vector<bool> up;                       // per model: an "up" decision (only adds)
  std::vector<int> up_floor;                  // per instance variant: what an up keeps
  std::vector<std::map<std::string, int>> follow;
  std::vector<int> cur;                       // per instance variant
  std::vector<int> starting;                  // per instance variant
};

// A state's bucket list, as ParseCurrent reads it back.
json BucketsJson(const std::vector<Bucket>& buckets) {
  json out = json::array();
  for (const auto& b : buckets)
    out.push_back({{"input", b.input}, {"output", b.output}, {"weight", b.weight}});
  return out;
}

json SloJson(const ClassSpec& c) {
  json j = json::object();
  for (const auto& t : c.slo) {
    const char* m = MetricName(t.metric);
    std::string k = std::string(m) + "_" +
                    (t.percentile == 0 ? std::string("mean")
                                       : "p" + json(t.percentile).dump()) + "_ms";
    j[k] = t.target_ms;
  }
  return j;
}

// Applies the per-decision change cap: additions first (capacity before removal),
// then removals that keep every model safe (plan.h), never reversing a direction.
std::vector<int> ClampChanges(const Instance& in, const std::vector<int>& from,
                              const std::vector<int>& to, int cap) {
  long total = 0;
  for (size_t v = 0; v < to.size(); ++v) total += std::abs(to[v] - from[v]);
  if (cap <= 0 || total <= cap) return to;
  std::vector<int> s = from;
  int budget = cap;
  for (size_t v = 0; v < to.size() && budget > 0; ++v) {
    while (s[v] < to[v] && budget > 0) {
      ++s[v];
      if (!WithinCaps(in, s)) {
        --s[v];
        break;
      }
      --budget;
    }
  }
  for (size_t v = 0; v < to.size() && budget > 0; ++v) {
    while (s[v] > to[v] && budget > 0) {
      --s[v];
      if (!PlanStateSafe(in, from, to, s)) {
        ++s[v];
        break;
      }
      --budget;
    }
  }
  return s;
}

json SolutionJson(const Problem& p, const Built& B, const Solution& sol,
                  const std::vector<int>& emitted, const Solution& assign, int change_cap) {
  const Instance& in = B.in;
  json j;
  j["solver"] = sol.solver;
  j["status"] = sol.status;
  double cost = 0;
  for (size_t v = 0; v < emitted.size(); ++v) cost += in.Price(static_cast<int>(v)) * emitted[v];
  j["cost_per_hour"] = cost;
  j["objective"] = sol.objective;
  // lower_bound and gap on the cost's footing (solver.h CostLowerBound); the
  // objective's own bound and gap beside them.
  j["lower_bound"] = CostLowerBound(sol);
  j["gap"] = CostGap(sol);
  j["objective_lower_bound"] = sol.lower_bound;
  j["objective_gap"] = sol.gap;
  j["lp_bound"] = std::isfinite(sol.lp_bound) ? json(sol.lp_bound) : json(nullptr);
  j["solve_ms"] = sol.solve_ms;
  j["target_cost_per_hour"] = sol.cost;
  j["change_capped"] = emitted != sol.n;
  (void)change_cap;

  json alloc = json::array();
  for (size_t v = 0; v < emitted.size(); ++v) {
    if (emitted[v] == 0) continue;
    const auto [mi, vi] = B.var_ref[v];
    const VariantSpec& vs = p.models[mi].variants[vi];
    json a = {{"model", p.models[mi].name}, {"variant", vs.name}, {"accelerator", vs.accelerator},
              {"tp", vs.tp}, {"role", RoleName(vs.role)}, {"replicas", emitted[v]},
              {"cost_per_hour", in.Price(static_cast<int>(v)) * emitted[v]}};
    const int st = std::min(B.starting[v], emitted[v]);
    if (st > 0) a["starting"] = st;
    alloc.push_back(std::move(a));
  }
  j["allocation"] = std::move(alloc);

  // Unserved per (model, class), from the assignment over the emitted allocation.
  std::map<std::pair<int, int>, double> un;
  for (size_t i = 0; i < in.dems.size(); ++i) {
    const double r = in.dems[i].rate * assign.unserved[i];
    if (r > 1e-9) un[{in.dems[i].model, in.dems[i].cls}] += r;
  }
  json unj = json::array();
  for (const auto& [k, r] : un)
    unj.push_back({{"model", p.models[k.first].name}, {"class", p.classes[k.second].name},
                   {"rate_rps", r}});
  j["unserved"] = std::move(unj);

  // Plan.
  std::vector<PlanStep> steps = MakePlan(in, B.cur, emitted);
  json plan = json::array();
  int n = 0;
  for (const auto& s : steps) {
    const auto [mi, vi] = B.var_ref[s.var];
    json st = {{"step", ++n},
               {"action", s.kind == PlanStep::kAdd ? "add" : s.kind == PlanStep::kRemove ? "remove" : "flip"},
               {"model", p.models[mi].name},
               {"variant", p.models[mi].variants[vi].name},
               {"replicas", s.count},
               {"safe", s.safe}};
    if (!s.safe) st["reason"] = BlockedName(s.blocked);
    if (s.kind == PlanStep::kFlip) {
      const auto [mj, vj] = B.var_ref[s.to_var];
      st["to_variant"] = p.models[mj].variants[vj].name;
      st["to_role"] = RoleName(p.models[mj].variants[vj].role);
    }
    plan.push_back(std::move(st));
  }
  j["plan"] = std::move(plan);

  // Guidance: per slice, weights over variants; per variant, load.
  std::vector<double> load(in.vars.size(), 0);
  std::map<int, json> per_model;
  for (size_t i = 0; i < in.dems.size(); ++i) {
    const auto& dm = in.dems[i];
    const double r = dm.rate;
    json w = json::object(), wp = json::object(), wd = json::object();
    double served = 0;
    auto name = [&](int v) { return p.models[B.var_ref[v].first].variants[B.var_ref[v].second].name; };
    for (size_t k = 0; k < in.pd[i].size(); ++k) {
      const double x = assign.x_pd[i][k];
      load[in.pd[i][k].var] += r * x / in.pd[i][k].cap;
      if (x > 1e-9) w[name(in.pd[i][k].var)] = x;
      served += x;
    }
    double sp = 0;
    for (size_t k = 0; k < in.p[i].size(); ++k) {
      const double x = assign.x_p[i][k];
      load[in.p[i][k].var] += r * x / in.p[i][k].cap;
      if (x > 1e-9) wp[name(in.p[i][k].var)] = x;
      sp += x;
    }
    for (size_t k = 0; k < in.d[i].size(); ++k) {
      const double x = assign.x_d[i][k];
      load[in.d[i][k].var] += r * x / in.d[i][k].cap;
      if (x > 1e-9) wd[name(in.d[i][k].var)] = x;
    }
    served += sp;
    // Normalize: aggregated + prefill weights sum to 1; decode weights sum to 1.
    json wn = json::object();
    for (auto& [k, v] : w.items()) wn[k] = served > 0 ? v.get<double>() / served : 0.0;
    for (auto& [k, v] : wp.items()) wn[k] = served > 0 ? v.get<double>() / served : 0.0;
    json dn = json::object();
    for (auto& [k, v] : wd.items()) dn[k] = sp > 0 ? v.get<double>() / sp : 0.0;
    const auto [j_dem, b] = B.dem_ref[i];
    const DemandSpec& ds = p.demand[j_dem];
    json slice = {{"class", ds.cls},
                  {"input", B.held[j_dem].buckets[b].input},
                  {"output", B.held[j_dem].buckets[b].output},
                  {"rate_rps", r},
                  {"weights", std::move(wn)},
                  {"unserved_fraction", assign.unserved[i]}};
    if (!dn.empty()) slice["decode_weights"] = std::move(dn);
    if (!wp.empty()) slice["disaggregated_fraction"] = served > 0 ? sp / served : 0.0;
    per_model[dm.model]["model"] = p.models[dm.model].name;
    per_model[dm.model]["slices"].push_back(std::move(slice));
  }
  json gm = json::array();
  for (auto& [m, v] : per_model) gm.push_back(std::move(v));
  json gv = json::array();
  for (size_t v = 0; v < in.vars.size(); ++v) {
    if (emitted[v] == 0 && load[v] == 0) continue;
    const auto [mi, vi] = B.var_ref[v];
    gv.push_back({{"model", p.models[mi].name},
                  {"variant", p.models[mi].variants[vi].name},
                  {"replicas", emitted[v]},
                  {"load", emitted[v] > 0 ? load[v] / emitted[v] : (load[v] > 0 ? 1e9 : 0.0)}});
  }
  json g = json::object();
  g["models"] = std::move(gm);
  g["variants"] = std::move(gv);
  j["guidance"] = std::move(g);
  return j;
}

// The homogeneous baseline (docs/decision.md, "Baseline"): per model, the cheapest way
// to serve its whole demand on ONE accelerator type with one deployment sized by the
// same capacities: ceil(work) replicas of one aggregated variant, or ceil(work_P) +
// ceil(work_D) of a prefill and a decode variant on that type. Not limited by the
// accelerator counts (one model's baseline must not depend on the others).
json Baseline(const Problem& p, const Built& B) {
  const Instance& in = B.in;
  const int M = static_cast<int>(p.models.size());
  std::vector<std::vector<int>> dems(M), vars(M);
  for (size_t i = 0; i < in.dems.size(); ++i)
    if (in.dems[i].rate > 0) dems[in.dems[i].model].push_back(static_cast<int>(i));
  for (size_t v = 0; v < in.vars.size(); ++v) vars[in.vars[v].model].push_back(static_cast<int>(v));
  std::vector<double> work(in.vars.size(), 0);
  std::vector<int> served(in.vars.size(), 0);
  for (size_t i = 0; i < in.dems.size(); ++i) {
    if (!(in.dems[i].rate > 0)) continue;
    for (const auto* L : {&in.pd[i], &in.p[i], &in.d[i]})
      for (const auto& q : *L) {
        work[q.var] += in.dems[i].rate / q.cap;
        ++served[q.var];
      }
  }
  auto replicas = [&](int v) {
    return std::max(in.vars[v].min, static_cast<int>(std::ceil(work[v] - 1e-9)));
  };
  json list = json::array();
  double total = 0;
  bool complete = true;
  for (int m = 0; m < M; ++m) {
    const int nd = static_cast<int>(dems[m].size());
    json e = {{"model", p.models[m].name}};
    if (nd == 0) {
      e["accelerator"] = nullptr;
      e["replicas"] = 0;
      e["cost_per_hour"] = 0.0;
      list.push_back(std::move(e));
      continue;
    }
    double best = INFINITY;
    std::vector<std::pair<int, int>> pick;  // (variant, replicas)
    for (int v : vars[m]) {
      if (served[v] != nd) continue;  // must serve every slice of the model
      if (in.vars[v].role == VARIANT_ROLE_PD) {
        const double c = in.Price(v) * replicas(v);
        if (c < best) {
          best = c;
          pick = {{v, replicas(v)}};
        }
      } else if (in.vars[v].role == VARIANT_ROLE_P) {
        for (int u : vars[m]) {
          if (served[u] != nd || in.vars[u].role != VARIANT_ROLE_D || in.vars[u].accel != in.vars[v].accel)
            continue;
          const double c = in.Price(v) * replicas(v) + in.Price(u) * replicas(u);
          if (c < best) {
            best = c;
            pick = {{v, replicas(v)}, {u, replicas(u)}};
          }
        }
      }
    }
    if (pick.empty()) {
      complete = false;
      e["accelerator"] = nullptr;
      e["cost_per_hour"] = nullptr;
      e["reason"] = "no single accelerator type serves every slice of this model";
      list.push_back(std::move(e));
      continue;
    }
    e["accelerator"] = in.accels[in.vars[pick[0].first].accel].name;
    json vs = json::array();
    int n = 0;
    for (const auto& [v, k] : pick) {
      vs.push_back({{"variant", p.models[m].variants[B.var_ref[v].second].name}, {"replicas", k}});
      n += k;
    }
    e["variants"] = std::move(vs);
    e["replicas"] = n;
    e["cost_per_hour"] = best;
    total += best;
    list.push_back(std::move(e));
  }
  json r = json::object();
  r["models"] = std::move(list);
  r["cost_per_hour"] = total;
  r["complete"] = complete;
  return r;
}

}  // namespace

Result<json> Decide(Context* ctx, const Problem& p, const Current& cur, const std::string& solver,
                    CapacityFn capacity) {
  if (solver != "fast" && solver != "milp" && solver != "both")
    return InvalidArgument("solver '" + solver + "' is not fast, milp or both");
  if (!capacity) capacity = PerfCapacity(ctx, p);
  CapTable table(p, capacity);
  const Options& op = p.options;
  json warnings = json::array();

  // ---- time ----
  const bool has_prev = cur.has_state && std::isfinite(cur.state.now_s);
  const double now = std::isfinite(op.now_s) ? op.now_s
                     : has_prev               ? cur.state.now_s + op.decision_interval_s
                                              : 0.0;
  const double steps =
      has_prev ? std::clamp((now - cur.state.now_s) / op.decision_interval_s, 1.0, 10.0) : 1.0;
  const double h_steps = op.forecast_horizon_s / op.decision_interval_s;

  // Current allocation per (model, variant).
  std::map<std::pair<std::string, std::string>, const CurrentEntry*> cur_of;
  std::map<std::string, int> cur_models;
  for (const auto& e : cur.allocation) {
    cur_of[{e.model, e.variant}] = &e;
    cur_models[e.model] += e.replicas;
  }

  // ---- stability: held demand per demand spec ----
  Built B;
  B.held.resize(p.demand.size());
  B.pinned.assign(p.models.size(), false);
  B.following.assign(p.models.size(), false);
  B.up.assign(p.models.size(), false);
  B.follow.resize(p.models.size());
  State next;
  next.now_s = now;
  // Demand specs per model (by name, once: a scan per model is quadratic at 1000s of
  // models), and per-spec scratch reused across models (only a model's own entries
  // are written and read).
  std::map<std::string, int> model_index;
  for (size_t mi = 0; mi < p.models.size(); ++mi) model_index[p.models[mi].name] = static_cast<int>(mi);
  std::vector<std::vector<int>> specs_of(p.models.size());
  std::vector<int> model_of_spec(p.demand.size(), -1);
  for (size_t j = 0; j < p.demand.size(); ++j) {
    auto it = model_index.find(p.demand[j].model);
    if (it == model_index.end()) continue;
    specs_of[it->second].push_back(static_cast<int>(j));
    model_of_spec[j] = it->second;
  }
  std::vector<const std::map<std::string, int>*> prev_target(p.models.size(), nullptr);
  std::vector<Held> E(p.demand.size()), Eh(p.demand.size()), H(p.demand.size());
  std::vector<bool> missing(p.demand.size(), false), has_held(p.demand.size(), false);
  for (size_t mi = 0; mi < p.models.size(); ++mi) {
    const std::string& mname = p.models[mi].name;
    const ModelState* prev = nullptr;
    if (cur.has_state) {
      auto it = cur.state.models.find(mname);
      if (it != cur.state.models.end()) prev = &it->second;
    }
    if (prev && !prev->target.empty()) prev_target[mi] = &prev->target;
    ModelState ms;
    const std::vector<int>& js = specs_of[mi];
    bool any_missing = false, all_held = true;
    for (int j : js) {
      E[j] = Eh[j] = H[j] = Held();
      missing[j] = has_held[j] = false;
      const DemandSpec& d = p.demand[j];
      ClassState cs;
      if (prev) {
        auto it = prev->classes.find(d.cls);
        if (it != prev->classes.end()) cs = it->second;
      }
      const double obs = d.rate_rps;
      missing[j] = !std::isfinite(obs);
      any_missing |= missing[j];
      double eff = obs;
      if (!missing[j] && op.stability) {
        // Holt's linear trend on the rate (docs/decision.md, "Forecast").
        if (!std::isfinite(cs.level)) {
          cs.level = obs;
          cs.trend = 0;
        } else {
          const double prev_level = cs.level;
          cs.level = op.forecast_alpha * obs +
                     (1 - op.forecast_alpha) * (cs.level + cs.trend * steps);
          cs.trend = op.forecast_beta * (cs.level - prev_level) / steps +
                     (1 - op.forecast_beta) * cs.trend;
        }
        // Extrapolate from the observation with a slope that the smoothed trend and
        // the last two raw changes all agree on: a ramp is followed, a one-off step
        // (cold-start samples, a burst) is not amplified.
        const double diff = std::isfinite(cs.last_rate) ? (obs - cs.last_rate) / steps : 0.0;
        const double slope = std::max(0.0, std::min({cs.trend, diff, cs.last_diff}));
        cs.last_diff = diff;
        cs.last_rate = obs;
        eff = obs + slope * h_steps;
      }
      if (!missing[j]) {
        E[j] = Scaled(d.buckets, eff);
        Eh[j] = Scaled(d.buckets, eff * (op.stability ? 1 + op.headroom : 1.0));
      }
      has_held[j] = op.stability && !cs.held.empty();
      if (has_held[j]) {
        H[j].buckets = cs.held_buckets;
        H[j].rates = cs.held;
      }
      all_held &= has_held[j];
      ms.classes[d.cls] = cs;
    }
    const bool has_cur = cur_models.count(mname) && cur_models[mname] > 0;
    std::string event = "hold";
    if (!op.stability) {
      for (int j : js) {
        if (missing[j]) {
          warnings.push_back("demand " + mname + "/" + p.demand[j].cls +
                             ": rate missing with stability off; treated as 0");
          B.held[j] = Scaled(p.demand[j].buckets, 0);
        } else {
          B.held[j] = E[j];
        }
      }
      event = "solve";
    } else if (!all_held) {
      event = "init";
      for (int j : js) {
        if (has_held[j]) {
          B.held[j] = H[j];
        } else if (missing[j]) {
          warnings.push_back("demand " + mname + "/" + p.demand[j].cls +
                             ": rate missing and nothing held yet; the current allocation is kept");
          B.held[j] = Scaled(p.demand[j].buckets, 0);
          if (has_cur) B.pinned[mi] = true;
        } else {
          B.held[j] = Eh[j];
        }
      }
    } else {
      double wE = 0, wEh = 0, wH = 0;
      for (int j : js) {
        const int ci = p.ClassIndex(p.demand[j].cls);
        const double px = p.demand[j].prefix_hit_ratio;
        auto h = Work(&table, static_cast<int>(mi), ci, H[j], px);
        if (!h.ok()) return h.status();
        wH += *h;
        if (missing[j]) {
          wE += *h;
          wEh += *h;
          continue;
        }
        auto e = Work(&table, static_cast<int>(mi), ci, E[j], px);
        if (!e.ok()) return e.status();
        auto eh = Work(&table, static_cast<int>(mi), ci, Eh[j], px);
        if (!eh.ok()) return eh.status();
        wE += *e;
        wEh += *eh;
      }
      for (int j : js) B.held[j] = H[j];
      ms.below_since_s = prev ? prev->below_since_s : NAN;
      if (wE > wH * (1 + 1e-9) + 1e-12) {
        event = "up";
        B.up[mi] = has_cur;
        ms.below_since_s = NAN;
        for (int j : js) {
          if (missing[j]) continue;
          const int ci = p.ClassIndex(p.demand[j].cls);
          const double px = p.demand[j].prefix_hit_ratio;
          auto a = Work(&table, static_cast<int>(mi), ci, Eh[j], px);
          auto b = Work(&table, static_cast<int>(mi), ci, H[j], px);
          if (!a.ok()) return a.status();
          if (!b.ok()) return b.status();
          if (*a >= *b) B.held[j] = Eh[j];
        }
      } else if (!any_missing && wEh < (1 - op.scale_down_band) * wH) {
        // The scale-down goes to the highest demand seen while below (as Kubernetes'
        // HPA stabilization window keeps its highest recommendation), not to the last
        // sample: a rate window that happens to fall in a lull must not cut capacity
        // the rest of the window needed.
        const bool fresh = !std::isfinite(ms.below_since_s);
        if (fresh) ms.below_since_s = now;
        ms.below_peak_work = fresh || !prev ? NAN : prev->below_peak_work;
        if (!(wEh <= ms.below_peak_work)) {
          ms.below_peak_work = wEh;
          for (int j : js) {
            auto& cs = ms.classes[p.demand[j].cls];
            cs.below_peak = Eh[j].rates;
            cs.below_peak_buckets = Eh[j].buckets;
          }
        }
        if (now - ms.below_since_s >= op.scale_down_window_s) {
          event = "down";
          ms.below_since_s = ms.below_peak_work = NAN;
          for (int j : js) {
            auto& cs = ms.classes[p.demand[j].cls];
            if (!cs.below_peak_buckets.empty() && cs.below_peak.size() == cs.below_peak_buckets.size()) {
              B.held[j].buckets = cs.below_peak_buckets;
              B.held[j].rates = cs.below_peak;
            } else {
              B.held[j] = Eh[j];
            }
          }
        } else {
          event = "below";
        }
      } else {
        ms.below_since_s = NAN;
      }
      if ((event == "hold" || event == "below") && has_cur) {
        if (!(prev && !prev->target.empty())) {
          B.pinned[mi] = true;
        } else {
          // The demand did not move: keep the last decision's target, not the replicas
          // of the moment. While a swap is under way (make-before-break, or the change
          // cap holding part of it back) the current replicas are the old and the new
          // ones together; pinning those would cancel the removals.
          B.follow[mi] = prev->target;
          B.following[mi] = true;
        }
      }
    }
    if (!std::isfinite(ms.below_since_s)) {
      ms.below_peak_work = NAN;
      for (int j : js) {
        auto& cs = ms.classes[p.demand[j].cls];
        cs.below_peak.clear();
        cs.below_peak_buckets.clear();
      }
    }
    for (int j : js) {
      auto& cs = ms.classes[p.demand[j].cls];
      cs.held = B.held[j].rates;
      cs.held_buckets = B.held[j].buckets;
    }
    next.models[mname] = ms;
    (void)event;
  }

  // ---- instance ----
  Instance& in = B.in;
  in.n_models = static_cast<int>(p.models.size());
  in.transition = op.stability ? op.transition_cost : 0.0;
  in.time_limit_s = op.milp_time_limit_s;
  for (const auto& a : p.accelerators) {
    Instance::Accel ia;
    ia.name = a.name;
    const Accelerator* ca = ctx ? ctx->catalog().FindAccelerator(a.name) : nullptr;
    if (std::isfinite(a.cost_per_hour)) ia.cost = a.cost_per_hour;
    else if (ca) ia.cost = ca->cost_per_hour;
    else
      return Status(VARIANT_E_UNKNOWN_ACCELERATOR,
                    "accelerator '" + a.name + "' is not in the catalog and has no cost_per_hour");
    ia.count = a.count >= 0 ? a.count : (ca && ca->count > 0 ? ca->count : -1);
    in.accels.push_back(ia);
  }
  for (const auto& c : p.caps) {
    Instance::Cap ic;
    ic.name = c.resource;
    ic.total = c.total;
    for (const auto& a : p.accelerators) {
      auto it = a.resources.find(c.resource);
      ic.amount.push_back(it == a.resources.end() ? 0.0 : it->second);
    }
    in.caps.push_back(ic);
  }
  std::vector<std::vector<int>> var_index(p.models.size());
  for (size_t mi = 0; mi < p.models.size(); ++mi) {
    for (size_t vi = 0; vi < p.models[mi].variants.size(); ++vi) {
      const VariantSpec& vs = p.models[mi].variants[vi];
      Instance::Var x;
      x.model = static_cast<int>(mi);
      x.accel = p.AccelIndex(vs.accelerator);
      x.tp = vs.tp;
      x.role = vs.role;
      x.min = vs.min_replicas;
      x.max = vs.max_replicas;
      auto it = cur_of.find({p.models[mi].name, vs.name});
      x.cur = it == cur_of.end() ? 0 : it->second->replicas;
      B.starting.push_back(it == cur_of.end() ? 0 : it->second->starting);
      x.fixed = B.pinned[mi];
      // An "up" only adds: the replicas the last decision wanted that exist (ready or
      // starting) stay. Re-optimizing the whole model on a ramp swapped starting
      // replicas for other variants, and each swap began a cold start again
      // (docs/decision.md, "Stability"). Removals come from "down" decisions only.
      int keep = 0;
      if (it != cur_of.end()) {
        keep = it->second->replicas;
        if (prev_target[mi]) {
          auto t = prev_target[mi]->find(vs.name);
          keep = std::min(keep, t == prev_target[mi]->end() ? 0 : t->second);
        }
        if (x.max >= 0) keep = std::min(keep, x.max);
      }
      B.up_floor.push_back(keep);
      if (B.up[mi]) x.min = std::max(x.min, keep);
      var_index[mi].push_back(static_cast<int>(in.vars.size()));
      B.var_ref.push_back({static_cast<int>(mi), static_cast<int>(vi)});
      B.cur.push_back(x.cur);
      if (B.following[mi]) {
        auto t = B.follow[mi].find(vs.name);
        x.fixed = true;
        x.cur = t == B.follow[mi].end() ? 0 : t->second;
      }
      in.vars.push_back(x);
    }
  }
  for (size_t j = 0; j < p.demand.size(); ++j) {
    const DemandSpec& d = p.demand[j];
    const int mi = model_of_spec[j];
    const int ci = p.ClassIndex(d.cls);
    const Held& h = B.held[j];
    for (size_t b = 0; b < h.buckets.size(); ++b) {
      if (!(h.rates[b] > 0)) continue;
      Instance::Dem dm;
      dm.model = mi;
      dm.cls = ci;
      dm.bucket = static_cast<int>(b);
      dm.rate = h.rates[b];
      dm.priority = p.classes[ci].priority;
      std::vector<Instance::Pair> pd, pp, dd;
      for (size_t vi = 0; vi < p.models[mi].variants.size(); ++vi) {
        auto c = table.Get(mi, static_cast<int>(vi), ci, h.buckets[b], d.prefix_hit_ratio);
        if (!c.ok()) return c.status();
        if (!(*c > 0)) continue;
        const int v = var_index[mi][vi];
        const int role = in.vars[v].role;
        (role == VARIANT_ROLE_PD ? pd : role == VARIANT_ROLE_P ? pp : dd).push_back({v, *c});
      }
      if (pd.empty() && (pp.empty() || dd.empty()))
        warnings.push_back("model " + d.model + " class " + d.cls + " bucket " +
                           std::to_string(static_cast<int>(h.buckets[b].input)) + "x" +
                           std::to_string(static_cast<int>(h.buckets[b].output)) +
                           ": no variant meets the class SLOs; reported unserved");
      in.dems.push_back(dm);
      in.pd.push_back(pd);
      in.p.push_back(pp);
      in.d.push_back(dd);
      B.dem_ref.push_back({static_cast<int>(j), static_cast<int>(b)});
    }
  }
  in.SetPenalties();

  // ---- solve ----
  auto run = [&](const std::string& which) -> Result<Solution> {
    auto r = which == "milp" ? SolveMilp(in) : SolveFast(in);
    if (!r.ok() && r.status().code() == VARIANT_E_INFEASIBLE) {
      bool any = false;
      for (auto& v : in.vars) {
        any |= v.fixed;
        v.fixed = false;
      }
      if (any) {
        warnings.push_back("pinned allocations no longer fit the caps; all models re-solved");
        r = which == "milp" ? SolveMilp(in) : SolveFast(in);
      }
    }
    return r;
  };
  std::vector<std::string> which;
  if (solver == "both") which = {"fast", "milp"};
  else which = {solver};
  std::map<std::string, json> outs;
  std::map<std::string, double> objective;
  std::map<std::string, std::vector<int>> emitted_of, target_of;
  Status first_error;
  for (const auto& w : which) {
    auto r = run(w);
    if (r.ok() && op.stability) {
      // A held model whose kept allocation no longer covers its held demand (the
      // capacities moved: the online correction, a changed profile) is re-solved as an
      // up, adding only. Comparing demand with the held demand alone never sees that:
      // both are measured with the same capacities. A shortfall within the headroom is
      // left alone: the allocation still carries the demand itself, and the
      // correction's small moves do not churn replicas.
      std::vector<double> held_rate(p.models.size(), 0), short_rate(p.models.size(), 0);
      for (size_t i = 0; i < in.dems.size(); ++i) {
        held_rate[in.dems[i].model] += in.dems[i].rate;
        short_rate[in.dems[i].model] += in.dems[i].rate * r->unserved[i];
      }
      std::vector<char> short_of(p.models.size(), 0);
      bool any = false;
      for (size_t mi = 0; mi < p.models.size(); ++mi) {
        if (!(B.pinned[mi] || B.following[mi])) continue;
        if (!(short_rate[mi] > held_rate[mi] * op.headroom / (1 + op.headroom) + 1e-9)) continue;
        short_of[mi] = 1;
        any = true;
        warnings.push_back("model " + p.models[mi].name +
                           ": its kept allocation no longer covers the demand at the current "
                           "capacities; re-solved, adding only");
      }
      if (any) {
        for (size_t v = 0; v < in.vars.size(); ++v) {
          const int mi = in.vars[v].model;
          if (!short_of[mi]) continue;
          in.vars[v].fixed = false;
          in.vars[v].cur = B.cur[v];
          in.vars[v].min = std::max(in.vars[v].min, B.up_floor[v]);
          B.pinned[mi] = B.following[mi] = false;
        }
        r = run(w);
      }
    }
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status();
      if (solver == "both") {
        outs[w] = {{"solver", w}, {"error", variant_status_name(r.status().code())},
                   {"message", r.status().message()}};
        continue;
      }
      return r.status();
    }
    const Solution& s = *r;
    std::vector<int> emitted =
        op.stability ? ClampChanges(in, B.cur, s.n, op.max_changes_per_decision) : s.n;
    Solution assign = s;
    if (emitted != s.n) {
      // Re-assign demand over the emitted allocation (guidance and unserved).
      Instance fx = in;
      for (size_t v = 0; v < fx.vars.size(); ++v) {
        fx.vars[v].fixed = true;
        fx.vars[v].cur = emitted[v];
      }
      auto a = SolveFast(fx);
      if (a.ok()) assign = *a;
    }
    outs[w] = SolutionJson(p, B, s, emitted, assign, op.max_changes_per_decision);
    objective[w] = s.objective;
    emitted_of[w] = emitted;
    target_of[w] = s.n;
  }
  if (objective.empty()) return first_error;
  // The decision carried forward: the lower objective (MILP on ties).
  std::string chosen = objective.begin()->first;
  for (const auto& [w, o] : objective)
    if (o < objective[chosen] - 1e-9 * std::abs(o) || (w == "milp" && o <= objective[chosen] * (1 + 1e-9)))
      chosen = w;
  // Moved, not copied (the decision is ~10 MB of nodes at 1,000 x 40), unless the
  // "both" decision still lists every solver's below.
  json out = solver == "both" ? outs[chosen] : std::move(outs[chosen]);
  out["schema_version"] = kProblemSchemaVersion;
  {
    json bl = Baseline(p, B);
    out["baseline_cost_per_hour"] = bl["cost_per_hour"];
    out["baseline_complete"] = bl["complete"];
    out["baseline"] = std::move(bl["models"]);
  }
  if (solver == "both") {
    out["solvers"] = json::object();
    for (auto& [w, j] : outs) out["solvers"][w] = j;
    out["chosen"] = chosen;
  }
  // Pending: models whose emitted allocation falls short of the target (change cap).
  const std::vector<int>& em = emitted_of[chosen];
  const std::vector<int>& tg = target_of[chosen];
  for (size_t v = 0; v < em.size(); ++v)
    if (em[v] != tg[v]) next.models[p.models[in.vars[v].model].name].pending = true;
  // Every model's target is kept: a decision that holds follows it (above). A variant
  // absent from it is 0; zeros are written only where replicas exist now (a scale to
  // zero stays a known target), so the state stays small at thousands of variants.
  for (size_t v = 0; v < em.size(); ++v) {
    auto& ms = next.models[p.models[in.vars[v].model].name];
    if (tg[v] > 0 || B.cur[v] > 0)
      ms.target[p.models[B.var_ref[v].first].variants[B.var_ref[v].second].name] = tg[v];
  }

  // ---- state ----
  json st;
  st["now_s"] = next.now_s;
  json models = json::object();
  for (const auto& [mname, ms] : next.models) {
    json m;
    m["below_since_s"] = std::isfinite(ms.below_since_s) ? json(ms.below_since_s) : json(nullptr);
    if (std::isfinite(ms.below_peak_work)) m["below_peak_work"] = ms.below_peak_work;
    m["pending"] = ms.pending;
    m["target"] = ms.target;
    json cls = json::object();
    for (const auto& [cn, cs] : ms.classes) {
      json c;
      c["level"] = std::isfinite(cs.level) ? json(cs.level) : json(nullptr);
      c["trend"] = cs.trend;
      c["last_rate"] = std::isfinite(cs.last_rate) ? json(cs.last_rate) : json(nullptr);
      c["last_diff"] = cs.last_diff;
      c["held"] = cs.held;
      c["held_buckets"] = BucketsJson(cs.held_buckets);
      if (!cs.below_peak_buckets.empty()) {
        c["below_peak"] = cs.below_peak;
        c["below_peak_buckets"] = BucketsJson(cs.below_peak_buckets);
      }
      c["held_rate_rps"] = Sum(cs.held);
      cls[cn] = std::move(c);
    }
    m["classes"] = std::move(cls);
    models[mname] = std::move(m);
  }
  st["models"] = std::move(models);
  out["state"] = std::move(st);
  out["warnings"] = std::move(warnings);
  json classes = json::array();
  for (const auto& c : p.classes)
    classes.push_back({{"name", c.name}, {"priority", c.priority}, {"slo", SloJson(c)}});
  out["classes"] = std::move(classes);
  return out;
}

}  // namespace variant::opt
