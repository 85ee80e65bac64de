// variantctl model ...: queries of the performance model through the C ABI.
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
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

[[maybe_unused]] int RoleFromString(const std::string& r) {
  if (r == "p") return VARIANT_ROLE_P;
  if (r == "d") return VARIANT_ROLE_D;
  return VARIANT_ROLE_PD;
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
}

}  // namespace variantctl
