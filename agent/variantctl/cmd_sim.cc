// variantctl sim-server | model-vs-sim: the ground-truth simulation of one
// continuous-batching replica (bridge/sim), alone or next to the analytic queueing
// model it judges (docs/simulator.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "context.h"
#include "perf/queue_model.h"
#include "perf/step_model.h"
#include "sim/runner.h"
#include "sim/server_sim.h"
#include "sim/trace.h"

namespace variantctl {
namespace {

using nlohmann::json;
using variant::Prediction;
using variant::ReplicaConfig;
using variant::SloTerm;
using variant::Status;
using variant::Workload;
using variant::sim::LengthSampler;
using variant::sim::SimStats;

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s: %s\n", variant_status_name(s.code()), s.message().c_str());
  return 1;
}

double RelErr(double model, double sim) {
  if (!std::isfinite(model) || !std::isfinite(sim) || sim == 0) return NAN;
  return (model - sim) / sim;
}

// JSON has no NaN/inf: they print as null.
json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json StatsJson(const SimStats& s) {
  return {{"rate_rps", Num(s.rate_rps)},
          {"measured_requests", s.measured},
          {"ttft_p50_ms", Num(s.ttft_p50_ms)},
          {"ttft_p90_ms", Num(s.ttft_p90_ms)},
          {"ttft_p95_ms", Num(s.ttft_p95_ms)},
          {"ttft_p99_ms", Num(s.ttft_p99_ms)},
          {"itl_mean_ms", Num(s.itl_mean_ms)},
          {"itl_p95_ms", Num(s.itl_p95_ms)},
          {"itl_p99_ms", Num(s.Metric({VARIANT_METRIC_ITL, 99, 0}))},
          {"tpot_p50_ms", Num(s.Metric({VARIANT_METRIC_TPOT, 50, 0}))},
          {"tpot_p90_ms", Num(s.Metric({VARIANT_METRIC_TPOT, 90, 0}))},
          {"tpot_p95_ms", Num(s.Metric({VARIANT_METRIC_TPOT, 95, 0}))},
          {"tpot_p99_ms", Num(s.Metric({VARIANT_METRIC_TPOT, 99, 0}))},
          {"ttlt_p95_ms", Num(s.ttlt_p95_ms)},
          {"throughput_tok_s", Num(s.throughput_tok_s)},
          {"throughput_rps", Num(s.throughput_rps)},
          {"utilization", Num(s.utilization)},
          {"queue_len", Num(s.queue_len)},
          {"mean_batch", Num(s.mean_batch)},
          {"kv_usage", Num(s.kv_usage)},
          {"preemptions", s.preemptions},
          {"queue_growth", Num(s.queue_growth)},
          {"stable", s.stable}};
}

json PredJson(const Prediction& p) {
  return {{"rate_rps", Num(p.rate_rps)},
          {"ttft_p50_ms", Num(p.ttft_p50_ms)},
          {"ttft_p90_ms", Num(p.ttft_p90_ms)},
          {"ttft_p95_ms", Num(p.ttft_p95_ms)},
          {"ttft_p99_ms", Num(p.ttft_p99_ms)},
          {"itl_mean_ms", Num(p.itl_mean_ms)},
          {"itl_p95_ms", Num(p.itl_p95_ms)},
          {"itl_p99_ms", Num(p.itl_p99_ms)},
          {"tpot_p50_ms", Num(p.tpot_p50_ms)},
          {"tpot_p90_ms", Num(p.tpot_p90_ms)},
          {"tpot_p95_ms", Num(p.tpot_p95_ms)},
          {"tpot_p99_ms", Num(p.tpot_p99_ms)},
          {"ttlt_p95_ms", Num(p.ttlt_p95_ms)},
          {"throughput_tok_s", Num(p.throughput_tok_s)},
          {"utilization", Num(p.utilization)},
          {"queue_len", Num(p.queue_len)},
          {"mean_batch", Num(p.mean_batch)},
          {"stable", p.stable}};
}

json ErrJson(const Prediction& p, const SimStats& s) {
  return {{"ttft_p50", Num(RelErr(p.ttft_p50_ms, s.ttft_p50_ms))},
          {"ttft_p95", Num(RelErr(p.ttft_p95_ms, s.ttft_p95_ms))},
          {"ttft_p99", Num(RelErr(p.ttft_p99_ms, s.ttft_p99_ms))},
          {"itl_mean", Num(RelErr(p.itl_mean_ms, s.itl_mean_ms))},
          {"itl_p95", Num(RelErr(p.itl_p95_ms, s.itl_p95_ms))},
          {"ttlt_p95", Num(RelErr(p.ttlt_p95_ms, s.ttlt_p95_ms))},
          {"throughput_tok_s", Num(RelErr(p.throughput_tok_s, s.throughput_tok_s))},
          {"utilization", Num(RelErr(p.utilization, s.utilization))}};
}

int RoleOf(const std::string& r) {
  if (r == "p") return VARIANT_ROLE_P;
  if (r == "d") return VARIANT_ROLE_D;
  return VARIANT_ROLE_PD;
}

std::string Pct(double e) {
  if (!std::isfinite(e)) return "n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%+.1f%%", e * 100);
  return b;
}

struct ServerOpts {
  std::string data_dir, model, accelerator, role = "pd", trace, lengths = "trace", slo;
  int tp = 1, max_batch = 256, max_tokens = 8192;
  double kv_link_gbps = 100, gpu_memory_util = 0.9, prefix_hit = 0;
  double input_mean = 0, output_mean = 0, rate = 0, rate_scale = 1, time_scale = 1;
  double warmup = 0.1, rel_tol = 0.01;
  size_t requests = 10000;
  uint64_t seed = 1;
  bool replay = false, compare = false, json = false;
};

Status CheckPositive(double v, const char* name, bool allow_zero) {
  if (std::isnan(v) || std::isinf(v) || v < 0 || (!allow_zero && v == 0))
    return variant::InvalidArgument(std::string(name) + " must be a " +
                                    (allow_zero ? "non-negative" : "positive") + " number");
  return Status::Ok();
}

int RunSimServer(const ServerOpts& o) {
  for (auto [v, n, z] : {std::tuple{o.rate, "--rate", true}, {o.input_mean, "--input-mean", true},
                         {o.output_mean, "--output-mean", true}, {o.rate_scale, "--rate-scale", false},
                         {o.time_scale, "--time-scale", false}, {o.kv_link_gbps, "--kv-link-gbps", false}}) {
    Status s = CheckPositive(v, n, z);
    if (!s.ok()) return Fail(s);
  }
  auto ctx = variant::Context::Create(
      variant::ResolveDataDir(o.data_dir.empty() ? nullptr : o.data_dir.c_str()));
  if (!ctx.ok()) return Fail(ctx.status());
  auto step = (*ctx)->GetStepModel(o.model, o.accelerator, o.tp);
  if (!step.ok()) return Fail(step.status());
  ReplicaConfig rc;
  rc.step = *step;
  rc.max_batch = o.max_batch;
  rc.max_tokens_per_step = o.max_tokens;
  rc.role = RoleOf(o.role);
  rc.kv_link_gbps = o.kv_link_gbps;
  rc.gpu_memory_util = o.gpu_memory_util;
  if (!((*step)->KvCapacityTokens(o.gpu_memory_util) > 0))
    return Fail(Status(VARIANT_E_DOES_NOT_FIT, o.model + " does not fit " + o.accelerator +
                                                   " at tp " + std::to_string(o.tp)));
  variant::sim::ServerConfig sc = variant::sim::ServerConfig::FromReplica(rc, o.prefix_hit);
  {
    Status s = sc.Validate();
    if (!s.ok()) return Fail(s);
  }

  // The length mix: the model always gets buckets; the simulation draws from the same
  // buckets, or (traces, --lengths trace) from the trace's own requests.
  Workload w;
  std::vector<variant::sim::TraceRequest> trace;
  LengthSampler sampler;
  if (!o.trace.empty()) {
    variant::sim::TraceOptions to;
    to.rate_scale = o.rate_scale;
    to.time_scale = o.time_scale;
    to.seed = o.seed;
    auto t = variant::sim::ReadTrace(o.trace, to);
    if (!t.ok()) return Fail(t.status());
    trace = std::move(t.value());
    w = variant::sim::LengthMix(trace);
    auto s = o.lengths == "buckets" ? LengthSampler::FromWorkload(w) : LengthSampler::FromTrace(trace);
    if (!s.ok()) return Fail(s.status());
    sampler = std::move(s.value());
  } else {
    if (!(o.input_mean >= 1) || !(o.output_mean >= 1)) {
      std::fprintf(stderr, "error: give --input-mean and --output-mean (>= 1), or --trace\n");
      return 2;
    }
    w = variant::sim::LognormalMix(o.input_mean, o.output_mean);
    auto s = LengthSampler::FromWorkload(w);
    if (!s.ok()) return Fail(s.status());
    sampler = std::move(s.value());
  }
  w.prefix_hit_ratio = o.prefix_hit;
  {
    Status s = w.Validate();
    if (!s.ok()) return Fail(s);
  }
  variant::sim::RunOptions ro;
  ro.num_requests = o.requests;
  ro.seed = o.seed;
  ro.warmup_fraction = o.warmup;

  json out = {{"model", o.model}, {"accelerator", o.accelerator}, {"tp", o.tp},
              {"max_batch", o.max_batch}, {"max_tokens_per_step", o.max_tokens},
              {"role", o.role}, {"prefix_hit_ratio", o.prefix_hit},
              {"kv_capacity_tokens", (*step)->KvCapacityTokens(o.gpu_memory_util)},
              {"input_mean", sampler.MeanInput()}, {"output_mean", sampler.MeanOutput()},
              {"requests", o.requests}, {"seed", o.seed}};
  const auto t0 = std::chrono::steady_clock::now();
  std::string text;
  char line[512];
  if (o.replay || (o.rate > 0 && o.slo.empty()) || (o.slo.empty() && !o.trace.empty())) {
    SimStats st;
    if (o.replay || o.rate == 0) {
      if (trace.empty()) {
        std::fprintf(stderr, "error: --replay needs --trace\n");
        return 2;
      }
      auto r = variant::sim::RunTrace(sc, trace, ro);
      if (!r.ok()) return Fail(r.status());
      st = std::move(r.value());
      out["mode"] = "replay";
    } else {
      auto r = variant::sim::RunPoisson(sc, sampler, o.rate, ro);
      if (!r.ok()) return Fail(r.status());
      st = std::move(r.value());
      out["mode"] = "rate";
    }
    out["sim"] = StatsJson(st);
    std::snprintf(line, sizeof line,
                  "simulated at %.3f req/s: TTFT p50 %.1f p95 %.1f p99 %.1f ms, ITL mean %.2f "
                  "p95 %.2f ms, TTLT p95 %.0f ms, util %.2f, queue %.1f, batch %.1f, %s\n",
                  st.rate_rps, st.ttft_p50_ms, st.ttft_p95_ms, st.ttft_p99_ms, st.itl_mean_ms,
                  st.itl_p95_ms, st.ttlt_p95_ms, st.utilization, st.queue_len, st.mean_batch,
                  st.stable ? "stable" : "UNSTABLE (queue grows)");
    text += line;
    if (o.compare) {
      const Prediction p = variant::Predict(rc, w, st.rate_rps);
      out["model_prediction"] = PredJson(p);
      out["rel_error"] = ErrJson(p, st);
      std::snprintf(line, sizeof line,
                    "model     at %.3f req/s: TTFT p50 %.1f p95 %.1f p99 %.1f ms, ITL mean %.2f "
                    "p95 %.2f ms, TTLT p95 %.0f ms, util %.2f, queue %.1f, batch %.1f\n"
                    "model vs sim: TTFT p95 %s, ITL p95 %s, TTLT p95 %s\n",
                    p.rate_rps, p.ttft_p50_ms, p.ttft_p95_ms, p.ttft_p99_ms, p.itl_mean_ms,
                    p.itl_p95_ms, p.ttlt_p95_ms, p.utilization, p.queue_len, p.mean_batch,
                    Pct(RelErr(p.ttft_p95_ms, st.ttft_p95_ms)).c_str(),
                    Pct(RelErr(p.itl_p95_ms, st.itl_p95_ms)).c_str(),
                    Pct(RelErr(p.ttlt_p95_ms, st.ttlt_p95_ms)).c_str());
      text += line;
    }
  } else if (!o.slo.empty()) {
    auto slo = variant::ParseSlo(o.slo);
    if (!slo.ok()) return Fail(slo.status());
    variant::sim::SearchOptions so;
    so.run = ro;
    so.rel_tol = o.rel_tol;
    auto r = variant::sim::SustainableRate(sc, sampler, *slo, so);
    if (!r.ok()) return Fail(r.status());
    out["mode"] = "search";
    out["slo"] = o.slo;
    out["sim"] = {{"max_rate_rps", r->max_rate_rps},
                  {"saturation_rps", r->saturation_rps},
                  {"probes", r->probes.size()},
                  {"at_max", StatsJson(r->at_max)}};
    std::snprintf(line, sizeof line,
                  "simulated sustainable rate %.3f req/s (saturation %.3f, %zu probes): TTFT p95 "
                  "%.1f ms, ITL p95 %.2f ms, TTLT p95 %.0f ms\n",
                  r->max_rate_rps, r->saturation_rps, r->probes.size(), r->at_max.ttft_p95_ms,
                  r->at_max.itl_p95_ms, r->at_max.ttlt_p95_ms);
    text += line;
    if (o.compare) {
      auto m = variant::MaxRate(rc, w, *slo);
      if (m.ok()) {
        out["model_max_rate"] = PredJson(*m);
        out["rel_error"] = {{"max_rate", Num(RelErr(m->rate_rps, r->max_rate_rps))}};
        std::snprintf(line, sizeof line, "model max rate %.3f req/s: %s vs sim\n", m->rate_rps,
                      Pct(RelErr(m->rate_rps, r->max_rate_rps)).c_str());
      } else {
        out["model_max_rate"] = {{"error", variant_status_name(m.status().code())},
                                 {"message", m.status().message()}};
        std::snprintf(line, sizeof line, "model max rate: %s: %s\n",
                      variant_status_name(m.status().code()), m.status().message().c_str());
      }
      text += line;
      const Prediction p = variant::Predict(rc, w, r->max_rate_rps);
      out["model_at_sim_max"] = PredJson(p);
      out["rel_error_at_sim_max"] = ErrJson(p, r->at_max);
    }
  } else {
    std::fprintf(stderr, "error: give --rate R, --slo TERMS, or --trace FILE --replay\n");
    return 2;
  }
  out["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}

// ------------------------------------------------------------------ model-vs-sim

struct VsOpts {
  std::string data_dir, model = "llama-3-8b", long_model = "qwen2-7b";
  std::string accelerators = "a100,h100,h200,l40s", mixes = "code,conv,long";
  std::string sim_lengths = "trace";
  int tp = 1, max_batch = 256, max_tokens = 8192, jobs = 1, seeds = 1;
  size_t requests = 6000;
  uint64_t seed = 1;
  double rel_tol = 0.01, ttft_factor = 3, itl_factor = 6;
  bool json = false;
};

struct MixDef {
  std::string name, model, slo_text, slo_note;
  Workload w;                                   // what the model sees
  std::vector<variant::sim::TraceRequest> trace;  // empirical lengths, if any
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) v.push_back(x);
  return v;
}

double InputMean(const Workload& w) {
  double s = 0, t = 0;
  for (size_t i = 0; i < w.input.size(); ++i) s += w.weight[i] * w.input[i], t += w.weight[i];
  return t > 0 ? s / t : 0;
}
double OutputMean(const Workload& w) {
  double s = 0, t = 0;
  for (size_t i = 0; i < w.output.size(); ++i) s += w.weight[i] * w.output[i], t += w.weight[i];
  return t > 0 ? s / t : 0;
}

// The 95th percentile of the prompt lengths of a mix, by weight.
double InputP95(const Workload& w) {
  std::vector<std::pair<double, double>> v;
  double tot = 0;
  for (size_t i = 0; i < w.input.size(); ++i) {
    v.emplace_back(w.input[i], w.weight[i]);
    tot += w.weight[i];
  }
  std::sort(v.begin(), v.end());
  double c = 0;
  for (auto& [x, wt] : v) {
    c += wt;
    if (c >= 0.95 * tot) return x;
  }
  return v.back().first;
}

struct CaseResult {
  json j;
  std::string row;
  bool ok = false;
};

CaseResult RunCase(const VsOpts& o, const MixDef& mix, const std::string& acc,
                   const variant::StepModel* step) {
  CaseResult cr;
  ReplicaConfig rc;
  rc.step = step;
  rc.max_batch = o.max_batch;
  rc.max_tokens_per_step = o.max_tokens;
  // SLOs for this hardware (docs/simulator.md, "The acceptance table"): TTFT p95 at
  // ttft_factor × the unloaded prefill time of the mix's 95th-percentile prompt (at
  // least 200 ms); ITL p95 at itl_factor × the unloaded decode step of one sequence at
  // the mix's mean context (at least 25 ms). Slower hardware gets looser targets, so
  // every case has a rate to find, and queueing (not bare service time) decides it.
  const double mean_ctx = InputMean(mix.w) + OutputMean(mix.w) / 2;
  const double ttft_slo = std::max(200.0, o.ttft_factor * step->PrefillMs(1, InputP95(mix.w)));
  const double itl_slo = std::max(25.0, o.itl_factor * step->DecodeStepMs(1, mean_ctx));
  char slo_buf[128];
  std::snprintf(slo_buf, sizeof slo_buf, "ttft_p95_ms=%.0f,itl_p95_ms=%.0f", ttft_slo, itl_slo);
  const std::string slo_text = slo_buf;
  auto slo = variant::ParseSlo(slo_text);
  cr.j = {{"accelerator", acc}, {"mix", mix.name}, {"model", mix.model}, {"slo", slo_text}};
  if (!slo.ok()) {
    cr.j["error"] = slo.status().message();
    return cr;
  }
  variant::sim::ServerConfig sc = variant::sim::ServerConfig::FromReplica(rc, 0);
  auto sampler = (!mix.trace.empty() && o.sim_lengths == "trace")
                     ? LengthSampler::FromTrace(mix.trace)
                     : LengthSampler::FromWorkload(mix.w);
  if (!sampler.ok()) {
    cr.j["error"] = sampler.status().message();
    return cr;
  }
  variant::sim::SearchOptions so;
  so.run.num_requests = o.requests;
  so.run.seed = o.seed;
  so.rel_tol = o.rel_tol;
  // The ground truth's own noise: the search runs once per seed (seed, seed+1, …);
  // the case's simulated max rate is their mean and the spread is reported.
  std::vector<variant::sim::SearchResult> runs;
  for (int k = 0; k < std::max(1, o.seeds); ++k) {
    so.run.seed = o.seed + static_cast<uint64_t>(k);
    auto sim = variant::sim::SustainableRate(sc, *sampler, *slo, so);
    if (!sim.ok()) {
      cr.j["error"] = std::string(variant_status_name(sim.status().code())) + ": " + sim.status().message();
      return cr;
    }
    runs.push_back(std::move(sim.value()));
  }
  auto model = variant::MaxRate(rc, mix.w, *slo);
  double sim_max = 0, lo_max = runs[0].max_rate_rps, hi_max = lo_max;
  json per_seed = json::array();
  for (const auto& r : runs) {
    sim_max += r.max_rate_rps / static_cast<double>(runs.size());
    lo_max = std::min(lo_max, r.max_rate_rps);
    hi_max = std::max(hi_max, r.max_rate_rps);
    per_seed.push_back(r.max_rate_rps);
  }
  const variant::sim::SearchResult* sim = &runs[0];
  const double model_max = model.ok() ? model->rate_rps : NAN;
  cr.j["sim_max_rate_rps"] = sim_max;
  cr.j["sim_max_rate_per_seed"] = per_seed;
  cr.j["sim_max_rate_spread"] = Num(sim_max > 0 ? (hi_max - lo_max) / sim_max : NAN);
  cr.j["sim_saturation_rps"] = sim->saturation_rps;
  cr.j["model_max_rate_rps"] = Num(model_max);
  if (!model.ok()) cr.j["model_error"] = model.status().message();
  cr.j["max_rate_err"] = Num(RelErr(model_max, sim_max));
  cr.j["sim_at_max"] = StatsJson(sim->at_max);
  {
    // Which SLO term is closest to its target at the simulated max rate.
    double worst = -1;
    std::string which;
    for (const SloTerm& t : *slo) {
      const double r = sim->at_max.Metric(t) / t.target_ms;
      if (r > worst) {
        worst = r;
        which = variant::MetricName(t.metric);
      }
    }
    cr.j["sim_binding_term"] = which;
  }
  json pts = json::array();
  std::string row;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-5s %-5s %-9s %8.2f %8.2f %8s |", acc.c_str(), mix.name.c_str(),
                mix.model.c_str(), sim_max, model_max, Pct(RelErr(model_max, sim_max)).c_str());
  row = buf;
  bool ttft_ok = true;
  for (double f : {0.3, 0.6, 0.9}) {
    // Simulated figures at this rate: the mean over the seeds.
    SimStats st;
    double sim_ttft = 0, sim_itl = 0;
    for (int k = 0; k < std::max(1, o.seeds); ++k) {
      so.run.seed = o.seed + static_cast<uint64_t>(k);
      auto r = variant::sim::RunPoisson(sc, *sampler, f * sim_max, so.run);
      if (!r.ok()) {
        cr.j["error"] = r.status().message();
        return cr;
      }
      sim_ttft += r->ttft_p95_ms / std::max(1, o.seeds);
      sim_itl += r->itl_p95_ms / std::max(1, o.seeds);
      if (k == 0) st = std::move(r.value());
    }
    st.ttft_p95_ms = sim_ttft;
    st.itl_p95_ms = sim_itl;
    const SimStats* stp = &st;
    const Prediction p = variant::Predict(rc, mix.w, f * sim_max);
    const double e = RelErr(p.ttft_p95_ms, stp->ttft_p95_ms);
    ttft_ok = ttft_ok && std::isfinite(e) && std::fabs(e) <= 0.20;
    pts.push_back({{"fraction", f},
                   {"rate_rps", f * sim_max},
                   {"sim_ttft_p95_ms", Num(stp->ttft_p95_ms)},
                   {"model_ttft_p95_ms", Num(p.ttft_p95_ms)},
                   {"ttft_p95_err", Num(e)},
                   {"sim_itl_p95_ms", Num(stp->itl_p95_ms)},
                   {"model_itl_p95_ms", Num(p.itl_p95_ms)},
                   {"itl_p95_err", Num(RelErr(p.itl_p95_ms, stp->itl_p95_ms))},
                   {"sim", StatsJson(*stp)},
                   {"model", PredJson(p)}});
    std::snprintf(buf, sizeof buf, " %7.0f %7.0f %7s |", stp->ttft_p95_ms, p.ttft_p95_ms,
                  Pct(e).c_str());
    row += buf;
  }
  cr.j["points"] = pts;
  const double me = RelErr(model_max, sim_max);
  cr.j["max_rate_within_10pct"] = std::isfinite(me) && std::fabs(me) <= 0.10;
  cr.j["ttft_within_20pct"] = ttft_ok;
  cr.row = row + " " + slo_text;
  cr.ok = true;
  return cr;
}

int RunModelVsSim(const VsOpts& o) {
  auto ctx = variant::Context::Create(
      variant::ResolveDataDir(o.data_dir.empty() ? nullptr : o.data_dir.c_str()));
  if (!ctx.ok()) return Fail(ctx.status());
  const std::string tdir = (*ctx)->data_dir() + "/traces/azure-2023/";
  std::vector<MixDef> mixes;
  for (const std::string& m : SplitList(o.mixes)) {
    MixDef d;
    d.name = m;
    d.model = o.model;
    if (m == "code" || m == "conv") {
      auto t = variant::sim::ReadTrace(tdir + "AzureLLMInferenceTrace_" + m + ".csv");
      if (!t.ok()) return Fail(t.status());
      d.trace = std::move(t.value());
      d.w = variant::sim::LengthMix(d.trace);
    } else if (m == "long") {
      d.model = o.long_model;
      d.w = variant::sim::LongContextMix();
    } else {
      std::fprintf(stderr, "error: unknown mix '%s' (code, conv, long)\n", m.c_str());
      return 2;
    }
    mixes.push_back(std::move(d));
  }
  struct Job {
    const MixDef* mix;
    std::string acc;
    const variant::StepModel* step;
  };
  std::vector<Job> jobs;
  for (const std::string& acc : SplitList(o.accelerators)) {
    for (const MixDef& m : mixes) {
      auto step = (*ctx)->GetStepModel(m.model, acc, o.tp);  // built here: Context is single-threaded
      if (!step.ok()) return Fail(step.status());
      jobs.push_back({&m, acc, *step});
    }
  }
  std::vector<CaseResult> results(jobs.size());
  std::mutex mu;
  size_t next = 0, done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> l(mu);
        if (next >= jobs.size()) return;
        i = next++;
      }
      CaseResult r = RunCase(o, *jobs[i].mix, jobs[i].acc, jobs[i].step);
      std::lock_guard<std::mutex> l(mu);
      results[i] = std::move(r);
      ++done;
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[%zu/%zu] %s %s: %s (%.0f s elapsed)\n", done, jobs.size(),
                   jobs[i].acc.c_str(), jobs[i].mix->name.c_str(),
                   results[i].ok ? "done" : results[i].j.value("error", std::string("failed")).c_str(),
                   el);
    }
  };
  std::vector<std::thread> threads;
  for (int k = 1; k < std::max(1, o.jobs); ++k) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();

  json cases = json::array();
  int rate_ok = 0, ttft_ok = 0, n_ok = 0;
  std::vector<double> rate_errs, ttft_errs;
  for (const CaseResult& r : results) {
    cases.push_back(r.j);
    if (!r.ok) continue;
    ++n_ok;
    rate_ok += r.j.value("max_rate_within_10pct", false);
    ttft_ok += r.j.value("ttft_within_20pct", false);
    if (r.j["max_rate_err"].is_number()) rate_errs.push_back(std::fabs(r.j["max_rate_err"].get<double>()));
    for (const auto& p : r.j["points"])
      if (p["ttft_p95_err"].is_number()) ttft_errs.push_back(std::fabs(p["ttft_p95_err"].get<double>()));
  }
  auto median = [](std::vector<double> v) -> double {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  json summary = {{"cases", jobs.size()},
                  {"cases_run", n_ok},
                  {"max_rate_within_10pct", rate_ok},
                  {"ttft_p95_within_20pct_at_all_3_loads", ttft_ok},
                  {"median_abs_max_rate_err", Num(median(rate_errs))},
                  {"median_abs_ttft_p95_err", Num(median(ttft_errs))},
                  {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  if (o.json) {
    json out = {{"model", o.model}, {"long_model", o.long_model}, {"tp", o.tp},
                {"max_batch", o.max_batch}, {"max_tokens_per_step", o.max_tokens},
                {"requests_per_point", o.requests}, {"seed", o.seed}, {"seeds", o.seeds}, {"rel_tol", o.rel_tol},
                {"sim_lengths", o.sim_lengths}, {"cases", cases}, {"summary", summary}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-5s %-5s %-9s %8s %8s %8s | %-23s | %-23s | %-23s | SLO\n", "acc", "mix", "model",
              "sim_max", "mdl_max", "err", "TTFT p95 @30%: sim mdl err", "@60%: sim mdl err",
              "@90%: sim mdl err");
  for (const CaseResult& r : results) {
    if (r.ok) {
      std::printf("%s\n", r.row.c_str());
    } else {
      std::printf("%-5s %-5s error: %s\n", r.j.value("accelerator", std::string()).c_str(),
                  r.j.value("mix", std::string()).c_str(), r.j.value("error", std::string()).c_str());
    }
  }
  std::printf("max rate within 10%%: %d/%d cases; TTFT p95 within 20%% at 30/60/90%%: %d/%d cases; "
              "median |err| max rate %s, TTFT p95 %s\n",
              rate_ok, n_ok, ttft_ok, n_ok, Pct(median(rate_errs)).c_str(),
              Pct(median(ttft_errs)).c_str());
  return 0;
}

}  // namespace

void AddSimCommands(CLI::App& app) {
  {
    auto o = std::make_shared<ServerOpts>();
    CLI::App* c = app.add_subcommand(
        "sim-server",
        "ground-truth simulation of one continuous-batching replica at a rate, or its "
        "sustainable rate under an SLO; --compare puts the analytic model beside it");
    c->add_option("--model", o->model, "catalog model name")->required();
    c->add_option("--accelerator", o->accelerator, "catalog accelerator name")->required();
    c->add_option("--tp", o->tp, "tensor-parallel degree")->default_val(1);
    c->add_option("--max-batch", o->max_batch, "max concurrent sequences")->default_val(256);
    c->add_option("--max-tokens", o->max_tokens, "per-step token budget")->default_val(8192);
    c->add_option("--role", o->role, "pd, p or d")->check(CLI::IsMember({"pd", "p", "d"}));
    c->add_option("--kv-link-gbps", o->kv_link_gbps, "P role: KV transfer link, Gbit/s")->default_val(100);
    c->add_option("--gpu-memory-util", o->gpu_memory_util, "fraction of GPU memory vLLM may use")
        ->default_val(0.9);
    c->add_option("--prefix-hit", o->prefix_hit, "prefix-cache hit ratio in [0,1)")->default_val(0);
    c->add_option("--input-mean", o->input_mean, "mean input tokens (lognormal mix, docs/simulator.md)");
    c->add_option("--output-mean", o->output_mean, "mean output tokens (lognormal mix)");
    c->add_option("--trace", o->trace, "trace (Azure CSV or timestamp_s,input_tokens,output_tokens)");
    c->add_option("--lengths", o->lengths, "with --trace: draw lengths from the trace's requests "
                  "(trace) or from its buckets (buckets)")
        ->check(CLI::IsMember({"trace", "buckets"}))->default_val("trace");
    c->add_flag("--replay", o->replay, "replay the trace with its own timestamps");
    c->add_option("--rate-scale", o->rate_scale, "with --replay: multiply the trace's rate")->default_val(1);
    c->add_option("--time-scale", o->time_scale, "with --replay: play the trace X times faster")->default_val(1);
    c->add_option("--rate", o->rate, "Poisson arrival rate, requests/s");
    c->add_option("--slo", o->slo, "search the sustainable rate, e.g. ttft_p95_ms=500,itl_p95_ms=50");
    c->add_option("--requests", o->requests, "requests per simulated run")->default_val(10000);
    c->add_option("--seed", o->seed, "random seed")->default_val(1);
    c->add_option("--warmup", o->warmup, "fraction of requests left out as warm-up")->default_val(0.1);
    c->add_option("--rel-tol", o->rel_tol, "rate search: relative bracket width")->default_val(0.01);
    c->add_flag("--compare", o->compare, "also print the analytic model's prediction and errors");
    c->add_option("--data-dir", o->data_dir, "run-time data directory (default: built in)");
    c->add_flag("--json", o->json, "print JSON");
    c->callback([o] { SetAction([o] { return RunSimServer(*o); }); });
  }
  {
    auto o = std::make_shared<VsOpts>();
    CLI::App* c = app.add_subcommand(
        "model-vs-sim",
        "issue-2 acceptance table: analytic max rate and TTFT p95 vs the simulated ground truth");
    c->add_option("--model", o->model, "model for the Azure mixes")->default_val("llama-3-8b");
    c->add_option("--long-model", o->long_model, "model for the long-context mix")->default_val("qwen2-7b");
    c->add_option("--accelerators", o->accelerators, "comma list")->default_val("a100,h100,h200,l40s");
    c->add_option("--mixes", o->mixes, "comma list of code, conv, long")->default_val("code,conv,long");
    c->add_option("--tp", o->tp, "tensor-parallel degree")->default_val(1);
    c->add_option("--max-batch", o->max_batch, "max concurrent sequences")->default_val(256);
    c->add_option("--max-tokens", o->max_tokens, "per-step token budget")->default_val(8192);
    c->add_option("--requests", o->requests, "requests per simulated point")->default_val(6000);
    c->add_option("--seed", o->seed, "random seed")->default_val(1);
    c->add_option("--seeds", o->seeds, "simulate each case with this many seeds and average")
        ->default_val(1);
    c->add_option("--rel-tol", o->rel_tol, "rate search: relative bracket width")->default_val(0.01);
    c->add_option("--sim-lengths", o->sim_lengths,
                  "Azure mixes: the simulation draws the trace's own lengths (trace) or the "
                  "model's buckets (buckets)")
        ->check(CLI::IsMember({"trace", "buckets"}))->default_val("trace");
    c->add_option("--ttft-factor", o->ttft_factor,
                  "TTFT p95 SLO = this × unloaded prefill of the mix's p95 prompt (>= 200 ms)")
        ->default_val(3);
    c->add_option("--itl-factor", o->itl_factor,
                  "ITL p95 SLO = this × unloaded one-sequence decode step at the mean context (>= 25 ms)")
        ->default_val(6);
    c->add_option("--jobs", o->jobs, "cases simulated in parallel")->default_val(1);
    c->add_option("--data-dir", o->data_dir, "run-time data directory (default: built in)");
    c->add_flag("--json", o->json, "print JSON");
    c->callback([o] { SetAction([o] { return RunModelVsSim(*o); }); });
  }
}

}  // namespace variantctl
