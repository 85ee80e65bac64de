// variantctl model ...: queries of the performance model through the C ABI.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "context.h"
#include "perf/splitwise_check.h"
#include "sim/trace.h"
#include "variant/variant.h"

namespace variantctl {
namespace {

struct CtxDeleter {
  void operator()(variant_ctx* c) const { variant_ctx_destroy(c); }
};
using CtxPtr = std::unique_ptr<variant_ctx, CtxDeleter>;

// Prints "error: CODE: message" to stderr and returns exit code 1.
int Report(variant_ctx* ctx, int rc) {
  std::fprintf(stderr, "error: %s: %s\n", variant_status_name(rc),
               ctx ? variant_ctx_last_error(ctx) : "");
  return 1;
}

CtxPtr OpenCtx(const std::string& data_dir) {
  variant_ctx* c = nullptr;
  char* err = nullptr;
  int rc = variant_ctx_create(data_dir.empty() ? nullptr : data_dir.c_str(), &c, &err);
  if (rc != VARIANT_OK) {
    std::fprintf(stderr, "error: %s: %s\n", variant_status_name(rc), err ? err : "");
    variant_free(err);
    return nullptr;
  }
  return CtxPtr(c);
}

int RoleFromString(const std::string& r) {
  if (r == "p") return VARIANT_ROLE_P;
  if (r == "d") return VARIANT_ROLE_D;
  return VARIANT_ROLE_PD;
}

// Reads the (input, output) lengths of a trace (Azure CSV or the generic CSV) into
// log-spaced buckets. Errors name the line.
bool LoadTraceMix(const std::string& path, std::vector<double>* in, std::vector<double>* out,
                  std::vector<double>* w) {
  auto reqs = variant::sim::ReadTrace(path);
  if (!reqs.ok()) {
    std::fprintf(stderr, "error: %s\n", reqs.status().ToString().c_str());
    return false;
  }
  const variant::Workload mix = variant::sim::LengthMix(*reqs);
  *in = mix.input;
  *out = mix.output;
  *w = mix.weight;
  return true;
}

struct Common {
  std::string data_dir, model, accelerator;
  int tp = 1;
  bool json = false;
};

void AddCommon(CLI::App* c, Common* o) {
  c->add_option("--model", o->model, "catalog model name")->required();
  c->add_option("--accelerator", o->accelerator, "catalog accelerator name")->required();
  c->add_option("--tp", o->tp, "tensor-parallel degree")->default_val(1);
  c->add_option("--data-dir", o->data_dir, "run-time data directory (default: built in)");
  c->add_flag("--json", o->json, "print JSON");
}

}  // namespace

void AddModelCommands(CLI::App& app) {
  CLI::App* model = app.add_subcommand("model", "performance-model queries");
  model->require_subcommand(1);

  {
    auto o = std::make_shared<Common>();
    auto batch = std::make_shared<int>(1);
    auto input = std::make_shared<double>(0), output = std::make_shared<double>(0);
    CLI::App* c = model->add_subcommand(
        "batch-latency", "end-to-end time of a closed batch: prefill all, then decode");
    AddCommon(c, o.get());
    c->add_option("--batch", *batch, "requests in the batch")->required();
    c->add_option("--input", *input, "input tokens per request")->required();
    c->add_option("--output", *output, "output tokens per request")->required();
    c->callback([=] {
      SetAction([=]() -> int {
        CtxPtr ctx = OpenCtx(o->data_dir);
        if (!ctx) return 1;
        variant_spec spec = VARIANT_SPEC_INIT;
        spec.model = o->model.c_str();
        spec.accelerator = o->accelerator.c_str();
        spec.tp = o->tp;
        variant_batch_latency r = VARIANT_BATCH_LATENCY_INIT;
        int rc = variant_model_batch_latency(ctx.get(), &spec, *batch, *input, *output, &r);
        if (rc != VARIANT_OK) return Report(ctx.get(), rc);
        if (o->json) {
          nlohmann::json j = {{"latency_s", r.latency_s},
                              {"prefill_s", r.prefill_s},
                              {"decode_step_s", r.decode_step_s}};
          std::printf("%s\n", j.dump().c_str());
        } else {
          std::printf("latency %.4f s (prefill %.4f s, decode step %.5f s)\n", r.latency_s,
                      r.prefill_s, r.decode_step_s);
        }
        return 0;
      });
    });
  }

  {
    auto o = std::make_shared<Common>();
    auto max_batch = std::make_shared<int>(0), max_tokens = std::make_shared<int>(0);
    auto role = std::make_shared<std::string>("pd");
    auto in_mean = std::make_shared<double>(0), out_mean = std::make_shared<double>(0);
    auto prefix = std::make_shared<double>(0);
    auto slo = std::make_shared<std::string>();
    auto trace = std::make_shared<std::string>();
    auto profiles = std::make_shared<std::string>();
    CLI::App* c = model->add_subcommand(
        "capacity", "highest request rate one replica sustains within the SLOs");
    AddCommon(c, o.get());
    c->add_option("--max-batch", *max_batch, "max concurrent sequences (default 256)");
    c->add_option("--max-tokens", *max_tokens, "per-step token budget (default 8192)");
    c->add_option("--role", *role, "pd, p or d")->check(CLI::IsMember({"pd", "p", "d"}));
    c->add_option("--input-mean", *in_mean, "mean input tokens (lognormal mix, docs/simulator.md)");
    c->add_option("--output-mean", *out_mean, "mean output tokens");
    c->add_option("--trace", *trace, "trace whose length mix replaces the means");
    c->add_option("--prefix-hit", *prefix, "prefix-cache hit ratio in [0,1)");
    c->add_option("--profiles", *profiles,
                  "offline profile CSV (docs/model.md): calibrates the variants it names");
    c->add_option("--slo", *slo, "e.g. ttft_p95_ms=500,itl_p95_ms=50")->required();
    c->callback([=] {
      SetAction([=]() -> int {
        CtxPtr ctx = OpenCtx(o->data_dir);
        if (!ctx) return 1;
        if (!profiles->empty()) {
          const int prc = variant_ctx_load_profiles(ctx.get(), profiles->c_str());
          if (prc != VARIANT_OK) return Report(ctx.get(), prc);
        }
        variant_spec spec = VARIANT_SPEC_INIT;
        spec.model = o->model.c_str();
        spec.accelerator = o->accelerator.c_str();
        spec.tp = o->tp;
        spec.max_batch = *max_batch;
        spec.max_tokens_per_step = *max_tokens;
        spec.role = RoleFromString(*role);
        std::vector<double> in, out, w;
        if (!trace->empty()) {
          if (!LoadTraceMix(*trace, &in, &out, &w)) return 1;
        } else {
          if (*in_mean == 0 && *out_mean == 0) {
            std::fprintf(stderr, "error: give --input-mean and --output-mean, or --trace\n");
            return 2;
          }
          // The same documented lognormal mix around the means as sim-server uses.
          const variant::Workload mix = variant::sim::LognormalMix(*in_mean, *out_mean);
          in = mix.input;
          out = mix.output;
          w = mix.weight;
        }
        variant_workload wl = VARIANT_WORKLOAD_INIT;
        wl.input_tokens = in.data();
        wl.output_tokens = out.data();
        wl.weights = w.data();
        wl.n = in.size();
        wl.prefix_hit_ratio = *prefix;
        variant_slo_term terms[16];
        size_t nt = 0;
        int rc = variant_slo_parse(ctx.get(), slo->c_str(), terms, 16, &nt);
        if (rc != VARIANT_OK) return Report(ctx.get(), rc);
        variant_prediction p = VARIANT_PREDICTION_INIT;
        rc = variant_model_max_rate(ctx.get(), &spec, &wl, terms, nt, &p);
        if (rc != VARIANT_OK) return Report(ctx.get(), rc);
        nlohmann::json j = {{"max_rate_rps", p.rate_rps},
                            {"ttft_p50_ms", p.ttft_p50_ms},
                            {"ttft_p90_ms", p.ttft_p90_ms},
                            {"ttft_p95_ms", p.ttft_p95_ms},
                            {"ttft_p99_ms", p.ttft_p99_ms},
                            {"itl_mean_ms", p.itl_mean_ms},
                            {"itl_p95_ms", p.itl_p95_ms},
                            {"ttlt_p95_ms", p.ttlt_p95_ms},
                            {"throughput_tok_s", p.throughput_tok_s},
                            {"utilization", p.utilization},
                            {"queue_len", p.queue_len},
                            {"mean_batch", p.mean_batch},
                            {"kv_capacity_tokens", p.kv_capacity_tokens},
                            {"max_concurrency", p.max_concurrency}};
        if (o->json) {
          std::printf("%s\n", j.dump().c_str());
        } else {
          std::printf("max rate %.3f req/s: TTFT p95 %.1f ms, ITL p95 %.2f ms, TTLT p95 %.0f ms, "
                      "batch %.1f\n",
                      p.rate_rps, p.ttft_p95_ms, p.itl_p95_ms, p.ttlt_p95_ms, p.mean_batch);
        }
        return 0;
      });
    });
  }

  {
    auto data_dir = std::make_shared<std::string>();
    auto engine = std::make_shared<std::string>("splitwise-2023");
    auto json = std::make_shared<bool>(false);
    auto rows = std::make_shared<bool>(false);
    CLI::App* c = model->add_subcommand(
        "check-splitwise",
        "compare the step model with the Splitwise measurements (Llama-2-70B, A100/H100)");
    c->add_option("--engine", *engine, "engine profile from the catalog")
        ->default_val("splitwise-2023");
    c->add_option("--data-dir", *data_dir, "run-time data directory (default: built in)");
    c->add_flag("--json", *json, "print JSON");
    c->add_flag("--rows", *rows, "include every compared setting");
    c->callback([=] {
      SetAction([=]() -> int {
        auto ctx = variant::Context::Create(variant::ResolveDataDir(data_dir->c_str()));
        if (!ctx.ok()) {
          std::fprintf(stderr, "error: %s\n", ctx.status().ToString().c_str());
          return 1;
        }
        auto r = variant::CheckSplitwise(**ctx, (*ctx)->data_dir() + "/perf/splitwise/perf_model.csv",
                                         *engine);
        if (!r.ok()) {
          std::fprintf(stderr, "error: %s\n", r.status().ToString().c_str());
          return 1;
        }
        nlohmann::json j = {{"engine", *engine},
                            {"settings", r->rows.size()},
                            {"prefill_ape_median", r->prefill_ape_median},
                            {"prefill_ape_p90", r->prefill_ape_p90},
                            {"decode_ape_median", r->decode_ape_median},
                            {"decode_ape_p90", r->decode_ape_p90},
                            {"all_ape_median", r->all_ape_median},
                            {"all_ape_p90", r->all_ape_p90}};
        if (*rows) {
          j["rows"] = nlohmann::json::array();
          for (const auto& x : r->rows)
            j["rows"].push_back({{"hardware", x.hardware}, {"tp", x.tp}, {"prompt", x.prompt},
                                 {"batch", x.batch}, {"output", x.output},
                                 {"prefill_meas_ms", x.prefill_meas_ms},
                                 {"prefill_pred_ms", x.prefill_pred_ms},
                                 {"decode_meas_ms", x.decode_meas_ms},
                                 {"decode_pred_ms", x.decode_pred_ms}});
        }
        if (*json) {
          std::printf("%s\n", j.dump(2).c_str());
        } else {
          std::printf("engine %s, %zu settings: prefill APE median %.1f%% p90 %.1f%%; "
                      "decode APE median %.1f%% p90 %.1f%%\n",
                      engine->c_str(), r->rows.size(), 100 * r->prefill_ape_median,
                      100 * r->prefill_ape_p90, 100 * r->decode_ape_median,
                      100 * r->decode_ape_p90);
        }
        return 0;
      });
    });
  }
}

}  // namespace variantctl
