#include "sim/controllers.h"

#include <chrono>
#include <cmath>
#include <map>

#include "sim/trace.h"

namespace variant::sim {
namespace {

using nlohmann::json;

}  // namespace

// ---------------------------------------------------------------- plugins -----

Result<std::unique_ptr<PluginController>> PluginController::Create(
    const ClusterSpec& spec, const policy::PolicyPlugin* plugin,
    const std::vector<json>& params, std::vector<std::vector<int>> initial) {
  std::unique_ptr<PluginController> c(new PluginController(spec));
  for (size_t m = 0; m < spec.models.size(); ++m) {
    if (params[m].is_null()) {  // a model without traffic: no instance, no replicas
      c->inst_.push_back(nullptr);
      continue;
    }
    std::string err;
    auto inst = plugin->Create(spec.models[m].name, params[m].dump(), &err);
    if (!inst)
      return InvalidArgument("policy " + plugin->name() + " for model " + spec.models[m].name +
                             ": " + err);
    c->inst_.push_back(std::move(inst));
  }
  c->initial_ = std::move(initial);
  c->last_ = c->initial_;
  return c;
}

Status PluginController::Initial(const std::vector<std::vector<const ClusterRequest*>>&,
                                 Desired* out) {
  out->replicas = initial_;
  return Status::Ok();
}

Status PluginController::Decide(const Observed& obs, Desired* out) {
  out->replicas = last_;
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    const ClusterModel& mod = spec_.models[m];
    if (!inst_[m]) continue;
    std::vector<variant_policy_variant> vars(mod.variants.size());
    std::vector<int> current(mod.variants.size());
    for (size_t v = 0; v < mod.variants.size(); ++v) {
      const ClusterVariant& cv = mod.variants[v];
      const bus::Metrics& mm = obs.variants[m][v];
      variant_policy_variant& p = vars[v];
      p.struct_size = sizeof p;
      p.name = cv.name.c_str();
      p.accelerator = spec_.accelerators[cv.accelerator].name.c_str();
      p.tp = cv.tp;
      p.max_batch = cv.max_batch;
      p.role = VARIANT_ROLE_PD;
      p.cost_per_hour = cv.cost_per_hour;
      p.replicas_ready = obs.ready[m][v];
      p.replicas_starting = obs.starting[m][v];
      p.replicas_current = obs.ready[m][v] + obs.starting[m][v];
      p.arrival_rate_rps = mm.arrival_rate_rps;
      p.running = mm.running;
      p.waiting = mm.waiting;
      p.kv_usage = mm.kv_usage;
      p.ttft_mean_ms = mm.ttft_mean_ms;
      p.itl_mean_ms = mm.itl_mean_ms;
      p.input_mean = mm.input_mean;
      p.output_mean = mm.output_mean;
      p.stale = 0;
      current[v] = p.replicas_current;
    }
    variant_policy_input in{};
    in.struct_size = sizeof in;
    in.model = mod.name.c_str();
    in.now_s = obs.now_s;
    in.arrival_rate_rps = obs.gateway[m].arrival_rate_rps;
    in.input_mean = obs.gateway[m].input_mean;
    in.output_mean = obs.gateway[m].output_mean;
    in.stale = 0;
    in.n_variants = vars.size();
    in.variants = vars.data();
    policy::PolicyDecision d;
    std::string err;
    if (!inst_[m]->Decide(in, current, &d, &err))
      return Status(VARIANT_E_INTERNAL, "policy for " + mod.name + ": " + err);
    for (size_t v = 0; v < mod.variants.size(); ++v) out->replicas[m][v] = std::max(0, d.desired_replicas[v]);
  }
  last_ = out->replicas;
  return Status::Ok();
}

// ---------------------------------------------------------------- solver ------

json SolverController::Demand(const std::vector<std::vector<const ClusterRequest*>>& reqs,
                              const std::vector<double>& rate) const {
  json demand = json::array();
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    std::vector<std::vector<TraceRequest>> by_cls(spec_.classes.size());
    for (const ClusterRequest* q : reqs[m]) {
      TraceRequest t;
      t.input_tokens = q->input_tokens;
      t.output_tokens = q->output_tokens;
      by_cls[q->cls].push_back(t);
    }
    size_t total = reqs[m].size();
    for (size_t c = 0; c < spec_.classes.size(); ++c) {
      if (total > 0 && by_cls[c].empty()) continue;
      if (total == 0 && c > 0) continue;
      json d = {{"model", spec_.models[m].name}, {"class", spec_.classes[c].name}};
      if (!std::isfinite(rate[m])) {
        d["rate_rps"] = nullptr;
        d["stale"] = true;
      } else {
        d["rate_rps"] = total ? rate[m] * by_cls[c].size() / total : 0.0;
      }
      json b = json::array();
      if (by_cls[c].empty()) {
        b.push_back({{"input", 1024}, {"output", 128}, {"weight", 1}});
      } else {
        // Weighted as the gateway will route (nearest representative), so each
        // slice's planned rate is what its variants receive.
        Workload w = RoutedLengthMix(by_cls[c], bucket_ratio_);
        for (size_t k = 0; k < w.input.size(); ++k)
          b.push_back({{"input", w.input[k]}, {"output", w.output[k]}, {"weight", w.weight[k]}});
      }
      d["buckets"] = std::move(b);
      demand.push_back(std::move(d));
    }
  }
  return demand;
}

namespace {
variant_spec SpecOf(const ClusterSpec& spec, size_t m, size_t v) {
  const ClusterVariant& cv = spec.models[m].variants[v];
  variant_spec vs = VARIANT_SPEC_INIT;
  vs.model = spec.models[m].name.c_str();
  vs.accelerator = spec.accelerators[cv.accelerator].name.c_str();
  vs.tp = cv.tp;
  vs.max_batch = cv.max_batch;
  vs.max_tokens_per_step = cv.max_tokens_per_step;
  vs.role = VARIANT_ROLE_PD;
  vs.gpu_memory_util = cv.gpu_memory_util;
  return vs;
}
}  // namespace

// What the agent does with a variant's metrics message: one observation per variant
// with ready pods and traffic, per replica (the collector sums rates over pods).
void SolverController::Observe(const Observed& obs) {
  for (size_t m = 0; m < spec_.models.size() && m < obs.variants.size(); ++m) {
    for (size_t v = 0; v < spec_.models[m].variants.size() && v < obs.variants[m].size(); ++v) {
      const bus::Metrics& mm = obs.variants[m][v];
      const int ready = obs.ready[m][v];
      if (ready <= 0 || !std::isfinite(mm.arrival_rate_rps) || mm.arrival_rate_rps <= 0) continue;
      if (!std::isfinite(mm.input_mean) || !std::isfinite(mm.output_mean)) continue;
      if (!std::isfinite(mm.ttft_mean_ms) && !std::isfinite(mm.itl_mean_ms)) continue;
      variant_spec vs = SpecOf(spec_, m, v);
      variant_observation o = VARIANT_OBSERVATION_INIT;
      o.rate_rps = mm.arrival_rate_rps / ready;
      o.ttft_mean_ms = mm.ttft_mean_ms;
      o.itl_mean_ms = mm.itl_mean_ms;
      o.input_mean = std::max(1.0, mm.input_mean);
      o.output_mean = std::max(1.0, mm.output_mean);
      o.mean_batch = std::isfinite(mm.running) ? mm.running / ready : std::nan("");
      int accepted = 0;
      // A refused observation (e.g. a rate the model calls unstable) is skipped, as
      // the agent skips it: the correction only moves on usable samples.
      if (variant_model_observe(ctx_, &vs, &o, &accepted) == VARIANT_OK) {
        observed_++;
        accepted_ += accepted;
      }
    }
  }
}

std::vector<std::vector<std::pair<double, double>>> SolverController::Corrections() const {
  std::vector<std::vector<std::pair<double, double>>> out(spec_.models.size());
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    for (size_t v = 0; v < spec_.models[m].variants.size(); ++v) {
      variant_spec vs = SpecOf(spec_, m, v);
      double pf = 1, df = 1;
      if (variant_model_correction(ctx_, &vs, &pf, &df) != VARIANT_OK) pf = df = std::nan("");
      out[m].emplace_back(pf, df);
    }
  }
  return out;
}

Status SolverController::Solve(double now_s, const json& demand, const Observed* obs,
                               Desired* out) {
  if (obs && online_correction_) Observe(*obs);
  json p = problem_;
  p["demand"] = demand;
  p["options"]["now_s"] = now_s;
  if (oracle_) p["options"]["stability"] = false;
  std::string ptext = p.dump(), ctext;
  if (obs) {
    json alloc = json::array();
    for (size_t m = 0; m < spec_.models.size(); ++m) {
      for (size_t v = 0; v < spec_.models[m].variants.size(); ++v) {
        int n = obs->ready[m][v] + obs->starting[m][v];
        if (n > 0)
          alloc.push_back({{"model", spec_.models[m].name},
                           {"variant", spec_.models[m].variants[v].name},
                           {"replicas", n},
                           {"starting", obs->starting[m][v]}});
      }
    }
    json cur = {{"allocation", alloc}};
    if (!oracle_ && last_.is_object() && last_.contains("state")) cur["state"] = last_["state"];
    ctext = cur.dump();
  }
  char* outp = nullptr;
  size_t outn = 0;
  auto t0 = std::chrono::steady_clock::now();
  int rc = variant_solve(ctx_, ptext.data(), ptext.size(), ctext.empty() ? nullptr : ctext.data(),
                         ctext.size(), "fast", &outp, &outn);
  solve_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) return Status(static_cast<variant_status>(rc), variant_ctx_last_error(ctx_));
  json d = json::parse(std::string(outp, outn), nullptr, false);
  variant_free(outp);
  if (d.is_discarded()) return Internal("variant_solve returned invalid JSON");

  std::map<std::string, int> mi;
  std::vector<std::map<std::string, int>> vi(spec_.models.size());
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    mi[spec_.models[m].name] = static_cast<int>(m);
    for (size_t v = 0; v < spec_.models[m].variants.size(); ++v)
      vi[m][spec_.models[m].variants[v].name] = static_cast<int>(v);
  }
  std::map<std::string, int> ci;
  for (size_t c = 0; c < spec_.classes.size(); ++c) ci[spec_.classes[c].name] = static_cast<int>(c);

  out->replicas.assign(spec_.models.size(), {});
  for (size_t m = 0; m < spec_.models.size(); ++m) out->replicas[m].assign(spec_.models[m].variants.size(), 0);
  for (const json& a : d.value("allocation", json::array())) {
    auto m = mi.find(a.value("model", ""));
    if (m == mi.end()) continue;
    auto v = vi[m->second].find(a.value("variant", ""));
    if (v == vi[m->second].end()) continue;
    out->replicas[m->second][v->second] = a.value("replicas", 0);
  }
  out->routing.assign(spec_.models.size(), std::vector<std::vector<RoutingBucket>>(spec_.classes.size()));
  if (d.contains("guidance") && d["guidance"].contains("models")) {
    for (const json& gm : d["guidance"]["models"]) {
      auto m = mi.find(gm.value("model", ""));
      if (m == mi.end()) continue;
      for (const json& s : gm.value("slices", json::array())) {
        auto c = ci.find(s.value("class", ""));
        if (c == ci.end() || !s.contains("weights")) continue;
        RoutingBucket b;
        b.input = std::max(1.0, s.value("input", 1.0));
        b.output = std::max(1.0, s.value("output", 1.0));
        b.weights.assign(spec_.models[m->second].variants.size(), 0);
        for (auto it = s["weights"].begin(); it != s["weights"].end(); ++it) {
          auto v = vi[m->second].find(it.key());
          if (v != vi[m->second].end() && it.value().is_number()) b.weights[v->second] = it.value();
        }
        out->routing[m->second][c->second].push_back(std::move(b));
      }
    }
  }
  out->make_before_break = true;
  if (d.contains("plan") && d["plan"].is_array()) plan_steps_ += static_cast<int>(d["plan"].size());
  last_ = std::move(d);
  return Status::Ok();
}

Status SolverController::Initial(const std::vector<std::vector<const ClusterRequest*>>& first,
                                 Desired* out) {
  std::vector<double> rate(spec_.models.size());
  for (size_t m = 0; m < rate.size(); ++m) rate[m] = first[m].size() / 60.0;
  return Solve(0, Demand(first, rate), nullptr, out);
}

Status SolverController::Decide(const Observed& obs, Desired* out) {
  const size_t nm = spec_.models.size();
  std::vector<double> rate(nm);
  if (!oracle_) {
    for (size_t m = 0; m < nm; ++m) rate[m] = obs.gateway[m].arrival_rate_rps;
    return Solve(obs.now_s, Demand(obs.recent, rate), &obs, out);
  }
  // The oracle: what arrives between now and the next periodic decision.
  const double window = spec_.decision_interval_s + spec_.scrape_interval_s;
  std::vector<std::vector<const ClusterRequest*>> next(nm);
  if (future_) {
    while (future_pos_ < future_->size() && (*future_)[future_pos_].arrival_s < obs.now_s) ++future_pos_;
    for (size_t k = future_pos_; k < future_->size() && (*future_)[k].arrival_s < obs.now_s + window; ++k)
      next[(*future_)[k].model].push_back(&(*future_)[k]);
  }
  // Sized for the busiest half-window ahead (it knows the bursts).
  for (size_t m = 0; m < nm; ++m) {
    double half = window / 2, a = 0, b = 0;
    for (const ClusterRequest* q : next[m]) (q->arrival_s < obs.now_s + half ? a : b) += 1;
    rate[m] = std::max(a, b) / half;
  }
  return Solve(obs.now_s, Demand(next, rate), &obs, out);
}

}  // namespace variant::sim
