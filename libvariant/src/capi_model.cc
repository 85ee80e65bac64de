// C ABI of the performance model: prediction, maximum rate, SLO parsing, online
// correction and offline profiles.
#include <cmath>
#include <cstring>
#include <string>

#include "capi_internal.h"
#include <fstream>
#include <sstream>

#include "perf/correction.h"
#include "perf/profile.h"
#include "perf/queue_model.h"
#include "perf/step_model.h"

namespace variant {
namespace {

Result<Workload> ReadWorkload(const variant_workload* w) {
  if (w == nullptr) return InvalidArgument("workload is NULL");
  if (w->struct_size < sizeof(variant_workload))
    return InvalidArgument("workload.struct_size is too small (set it to sizeof(variant_workload))");
  if (w->n == 0) return InvalidArgument("workload has no length buckets (n == 0)");
  if (w->input_tokens == nullptr || w->output_tokens == nullptr)
    return InvalidArgument("workload.input_tokens and output_tokens must not be NULL");
  Workload out;
  out.input.assign(w->input_tokens, w->input_tokens + w->n);
  out.output.assign(w->output_tokens, w->output_tokens + w->n);
  if (w->weights != nullptr)
    out.weight.assign(w->weights, w->weights + w->n);
  else
    out.weight.assign(w->n, 1.0);
  out.prefix_hit_ratio = w->prefix_hit_ratio;
  VARIANT_RETURN_IF_ERROR(out.Validate());
  return out;
}

ReplicaConfig ToReplica(Context* ctx, const SpecView& v) {
  ReplicaConfig c;
  c.step = v.step;
  c.max_batch = v.max_batch;
  c.max_tokens_per_step = v.max_tokens_per_step;
  c.role = v.role;
  c.kv_link_gbps = v.kv_link_gbps;
  c.gpu_memory_util = v.gpu_memory_util;
  ctx->ApplyCalibration(v.model, v.accelerator, v.tp, &c);
  return c;
}

void CopyPrediction(const Prediction& p, variant_prediction* out) {
  variant_prediction full = VARIANT_PREDICTION_INIT;
  full.rate_rps = p.rate_rps;
  full.ttft_p50_ms = p.ttft_p50_ms;
  full.ttft_p90_ms = p.ttft_p90_ms;
  full.ttft_p95_ms = p.ttft_p95_ms;
  full.ttft_p99_ms = p.ttft_p99_ms;
  full.itl_mean_ms = p.itl_mean_ms;
  full.itl_p95_ms = p.itl_p95_ms;
  full.ttlt_p95_ms = p.ttlt_p95_ms;
  full.throughput_tok_s = p.throughput_tok_s;
  full.utilization = p.utilization;
  full.queue_len = p.queue_len;
  full.mean_batch = p.mean_batch;
  full.kv_capacity_tokens = p.kv_capacity_tokens;
  full.max_concurrency = p.max_concurrency;
  full.stable = p.stable ? 1 : 0;
  // Write only what the caller's struct has room for.
  const size_t n = std::min(out->struct_size, sizeof(variant_prediction));
  std::memcpy(reinterpret_cast<char*>(out) + sizeof(size_t),
              reinterpret_cast<const char*>(&full) + sizeof(size_t), n - sizeof(size_t));
}

Status CheckOut(const variant_prediction* out) {
  if (out == nullptr) return InvalidArgument("out is NULL");
  if (out->struct_size < offsetof(variant_prediction, ttft_p50_ms))
    return InvalidArgument("out.struct_size is too small (set it to sizeof(variant_prediction))");
  return {};
}

}  // namespace
}  // namespace variant

using variant::Guard;

extern "C" {

VARIANT_EXPORT int variant_slo_parse(variant_ctx* ctx, const char* text,
                                     variant_slo_term* terms, size_t cap, size_t* n) {
  return Guard(ctx, [&]() -> variant::Status {
    if (text == nullptr || n == nullptr) return variant::InvalidArgument("text and n must not be NULL");
    auto r = variant::ParseSlo(text);
    if (!r.ok()) return r.status();
    if (r->size() > cap)
      return variant::InvalidArgument("SLO has " + std::to_string(r->size()) +
                                      " terms, more than the capacity " + std::to_string(cap));
    for (size_t i = 0; i < r->size(); ++i) {
      terms[i].metric = (*r)[i].metric;
      terms[i].percentile = (*r)[i].percentile;
      terms[i].target_ms = (*r)[i].target_ms;
    }
    *n = r->size();
    return {};
  });
}

VARIANT_EXPORT int variant_model_predict(variant_ctx* ctx, const variant_spec* spec,
                                         const variant_workload* workload, double rate_rps,
                                         variant_prediction* out) {
  return Guard(ctx, [&]() -> variant::Status {
    VARIANT_RETURN_IF_ERROR(variant::CheckOut(out));
    if (!std::isfinite(rate_rps) || rate_rps < 0)
      return variant::InvalidArgument("rate_rps must be a finite number >= 0");
    auto v = variant::ReadSpec(ctx, spec);
    if (!v.ok()) return v.status();
    auto w = variant::ReadWorkload(workload);
    if (!w.ok()) return w.status();
    auto p = variant::Predict(variant::ToReplica(variant::Impl(ctx), *v), *w, rate_rps);
    variant::CopyPrediction(p, out);
    return {};
  });
}

VARIANT_EXPORT int variant_model_max_rate(variant_ctx* ctx, const variant_spec* spec,
                                          const variant_workload* workload,
                                          const variant_slo_term* slo, size_t n_slo,
                                          variant_prediction* out) {
  return Guard(ctx, [&]() -> variant::Status {
    VARIANT_RETURN_IF_ERROR(variant::CheckOut(out));
    if (slo == nullptr || n_slo == 0) return variant::InvalidArgument("no SLO terms given");
    std::vector<variant::SloTerm> terms;
    for (size_t i = 0; i < n_slo; ++i) {
      const variant_slo_term& t = slo[i];
      if (t.metric < VARIANT_METRIC_TTFT || t.metric > VARIANT_METRIC_TPOT)
        return variant::InvalidArgument("SLO term " + std::to_string(i) + ": unknown metric " +
                                        std::to_string(t.metric));
      if (!std::isfinite(t.percentile) || t.percentile < 0 || t.percentile >= 100)
        return variant::InvalidArgument("SLO term " + std::to_string(i) +
                                        ": percentile must be 0 (mean) or in (0, 100)");
      if (!std::isfinite(t.target_ms) || t.target_ms <= 0)
        return variant::InvalidArgument("SLO term " + std::to_string(i) +
                                        ": target_ms must be a positive number");
      terms.push_back({t.metric, t.percentile, t.target_ms});
    }
    auto v = variant::ReadSpec(ctx, spec);
    if (!v.ok()) return v.status();
    auto w = variant::ReadWorkload(workload);
    if (!w.ok()) return w.status();
    auto p = variant::MaxRate(variant::ToReplica(variant::Impl(ctx), *v), *w, terms);
    if (!p.ok()) return p.status();
    variant::CopyPrediction(*p, out);
    return {};
  });
}

VARIANT_EXPORT int variant_model_observe(variant_ctx* ctx, const variant_spec* spec,
                                         const variant_observation* obs, int* accepted) {
  return Guard(ctx, [&]() -> variant::Status {
    if (accepted != nullptr) *accepted = 0;
    if (obs == nullptr || obs->struct_size < offsetof(variant_observation, mean_batch))
      return variant::InvalidArgument("observation is NULL or its struct_size is too small");
    if (!std::isfinite(obs->rate_rps) || obs->rate_rps <= 0)
      return variant::InvalidArgument("observation.rate_rps must be a positive number");
    if (!std::isfinite(obs->input_mean) || obs->input_mean < 1 ||
        !std::isfinite(obs->output_mean) || obs->output_mean < 1)
      return variant::InvalidArgument("observation input_mean and output_mean must be >= 1");
    auto v = variant::ReadSpec(ctx, spec);
    if (!v.ok()) return v.status();
    // The a-priori prediction (no correction) at the observed load and lengths.
    variant::ReplicaConfig cfg;
    cfg.step = v->step;
    cfg.max_batch = v->max_batch;
    cfg.max_tokens_per_step = v->max_tokens_per_step;
    cfg.role = v->role;
    cfg.kv_link_gbps = v->kv_link_gbps;
    cfg.gpu_memory_util = v->gpu_memory_util;
    variant::Workload w;
    w.input = {obs->input_mean};
    w.output = {obs->output_mean};
    w.weight = {1};
    auto& e = variant::Impl(ctx)->corrector().At({v->model, v->accelerator, v->tp});
    // Predict with the current calibration (offline profile and online correction) so
    // the queueing part matches the observed operating point; the filter then tracks
    // the remaining ratio on top of it.
    variant::Impl(ctx)->ApplyCalibration(v->model, v->accelerator, v->tp, &cfg);
    const variant::Prediction p = variant::Predict(cfg, w, obs->rate_rps);
    if (!p.stable)
      return variant::InvalidArgument("the model predicts this rate is unstable for the variant; "
                                      "observation not used");
    bool any = false, ok = true;
    if (std::isfinite(obs->ttft_mean_ms) && obs->ttft_mean_ms > 0 && p.ttft_mean_ms > 0) {
      ok = e.prefill.Update(e.prefill.log_factor() + std::log(obs->ttft_mean_ms / p.ttft_mean_ms)) && ok;
      any = true;
    }
    if (std::isfinite(obs->itl_mean_ms) && obs->itl_mean_ms > 0 && p.itl_mean_ms > 0) {
      ok = e.decode.Update(e.decode.log_factor() + std::log(obs->itl_mean_ms / p.itl_mean_ms)) && ok;
      any = true;
    }
    if (!any)
      return variant::InvalidArgument("observation has neither a TTFT nor an ITL value");
    if (accepted != nullptr) *accepted = ok ? 1 : 0;
    return {};
  });
}

VARIANT_EXPORT int variant_model_correction(variant_ctx* ctx, const variant_spec* spec,
                                            double* prefill_factor, double* decode_factor) {
  return Guard(ctx, [&]() -> variant::Status {
    if (prefill_factor == nullptr || decode_factor == nullptr)
      return variant::InvalidArgument("prefill_factor and decode_factor must not be NULL");
    auto v = variant::ReadSpec(ctx, spec);
    if (!v.ok()) return v.status();
    variant::ReplicaConfig cfg;
    variant::Impl(ctx)->ApplyCalibration(v->model, v->accelerator, v->tp, &cfg);
    *prefill_factor = cfg.prefill_factor;
    *decode_factor = cfg.decode_factor;
    return {};
  });
}

VARIANT_EXPORT int variant_ctx_load_profiles(variant_ctx* ctx, const char* path) {
  return Guard(ctx, [&]() -> variant::Status {
    if (path == nullptr || *path == '\0') return variant::InvalidArgument("profile path is NULL or empty");
    std::ifstream in(path);
    if (!in) return variant::Status(VARIANT_E_IO, std::string("cannot read profile file '") + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    variant::Context* c = variant::Impl(ctx);
    return c->profiles().Load(*c, ss.str(), path);
  });
}

VARIANT_EXPORT int variant_ctx_load_profiles_text(variant_ctx* ctx, const char* text, size_t len) {
  return Guard(ctx, [&]() -> variant::Status {
    if (text == nullptr) return variant::InvalidArgument("profile text is NULL");
    variant::Context* c = variant::Impl(ctx);
    return c->profiles().Load(*c, std::string(text, len), "profile");
  });
}

VARIANT_EXPORT int variant_ctx_profile_fit(variant_ctx* ctx, const char* model,
                                           const char* accelerator, int tp, int* found,
                                           double* prefill_scale, double* prefill_add_ms,
                                           double* decode_scale, double* decode_add_ms) {
  return Guard(ctx, [&]() -> variant::Status {
    if (model == nullptr || accelerator == nullptr)
      return variant::InvalidArgument("model and accelerator must not be NULL");
    const variant::ProfileFit* f = variant::Impl(ctx)->profiles().Find({model, accelerator, tp});
    const variant::ProfileFit none;
    const variant::ProfileFit& g = f != nullptr ? *f : none;
    if (found != nullptr) *found = f != nullptr ? 1 : 0;
    if (prefill_scale != nullptr) *prefill_scale = g.prefill_scale;
    if (prefill_add_ms != nullptr) *prefill_add_ms = g.prefill_add_ms;
    if (decode_scale != nullptr) *decode_scale = g.decode_scale;
    if (decode_add_ms != nullptr) *decode_add_ms = g.decode_add_ms;
    return {};
  });
}

}  // extern "C"
