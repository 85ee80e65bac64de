// The C ABI. Every entry point validates its handle and arguments, runs the C++ code
// inside Guard() so no exception escapes, and records the message of a failure on the
// context. Nothing else in the library knows about the C types' struct_size rule.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <new>
#include <string>

#include "capi_internal.h"
#include "context.h"
#include "perf/step_model.h"
#include "status.h"
#include "variant/variant.h"


namespace variant {

char* CopyOut(const std::string& s, size_t* len) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  if (len != nullptr) *len = s.size();
  return p;
}

bool ValidCtx(const variant_ctx* c) { return c != nullptr && c->magic == kCtxMagic; }

int Fail(variant_ctx* c, const Status& st) {
  if (ValidCtx(c)) c->last_error = st.message();
  return st.code();
}

Context* Impl(variant_ctx* c) { return c->impl.get(); }

Result<SpecView> ReadSpec(variant_ctx* c, const variant_spec* spec) {
  if (spec == nullptr) return InvalidArgument("spec is NULL");
  if (spec->struct_size < offsetof(variant_spec, role) + sizeof(int))
    return InvalidArgument("spec.struct_size " + std::to_string(spec->struct_size) +
                           " is too small (set it to sizeof(variant_spec))");
  SpecView v;
  const size_t n = spec->struct_size;
  if (spec->model == nullptr) return InvalidArgument("spec.model is NULL");
  if (spec->accelerator == nullptr) return InvalidArgument("spec.accelerator is NULL");
  v.model = spec->model;
  v.accelerator = spec->accelerator;
  v.tp = spec->tp;
  v.max_batch = spec->max_batch > 0 ? spec->max_batch : 256;
  v.max_tokens_per_step = spec->max_tokens_per_step > 0 ? spec->max_tokens_per_step : 8192;
  v.role = spec->role;
  if (n >= offsetof(variant_spec, kv_link_gbps) + sizeof(double) && spec->kv_link_gbps > 0)
    v.kv_link_gbps = spec->kv_link_gbps;
  if (n >= offsetof(variant_spec, gpu_memory_util) + sizeof(double) &&
      spec->gpu_memory_util > 0)
    v.gpu_memory_util = spec->gpu_memory_util;
  if (spec->max_batch < 0) return InvalidArgument("spec.max_batch must be >= 0");
  if (spec->max_tokens_per_step < 0)
    return InvalidArgument("spec.max_tokens_per_step must be >= 0");
  if (v.role < VARIANT_ROLE_PD || v.role > VARIANT_ROLE_D)
    return InvalidArgument("spec.role " + std::to_string(v.role) + " is not 0 (pd), 1 (p) or 2 (d)");
  if (!std::isfinite(v.kv_link_gbps) || v.kv_link_gbps <= 0)
    return InvalidArgument("spec.kv_link_gbps must be a positive number");
  if (!(v.gpu_memory_util > 0 && v.gpu_memory_util <= 1))
    return InvalidArgument("spec.gpu_memory_util must be in (0, 1]");
  Context* ctx = Impl(c);
  if (ctx->catalog().FindModel(v.model) == nullptr)
    return Status(VARIANT_E_UNKNOWN_MODEL, "unknown model '" + v.model + "'");
  if (ctx->catalog().FindAccelerator(v.accelerator) == nullptr)
    return Status(VARIANT_E_UNKNOWN_ACCELERATOR, "unknown accelerator '" + v.accelerator + "'");
  auto sm = ctx->GetStepModel(v.model, v.accelerator, v.tp);
  if (!sm.ok()) return sm.status();
  v.step = sm.value();
  if (v.step->KvCapacityTokens(v.gpu_memory_util) < std::min(v.step->arch().max_context, 2048))
    return Status(VARIANT_E_DOES_NOT_FIT,
                  "model '" + v.model + "' does not fit on " + std::to_string(v.tp) + "x " +
                      v.accelerator + ": weights need " +
                      std::to_string(v.step->WeightGiBPerGpu()) + " GiB per GPU of " +
                      std::to_string(v.step->accelerator().memory_gib) +
                      " GiB, leaving no room for the KV cache");
  return v;
}

}  // namespace variant

using variant::Fail;
using variant::Guard;
using variant::ValidCtx;

extern "C" {

VARIANT_EXPORT const char* variant_status_name(int code) {
  switch (code) {
#define X(c) \
  case c:    \
    return #c;
    X(VARIANT_OK)
    X(VARIANT_E_INVALID_ARGUMENT)
    X(VARIANT_E_UNKNOWN_MODEL)
    X(VARIANT_E_UNKNOWN_ACCELERATOR)
    X(VARIANT_E_DOES_NOT_FIT)
    X(VARIANT_E_SLO_UNATTAINABLE)
    X(VARIANT_E_PARSE)
    X(VARIANT_E_IO)
    X(VARIANT_E_INFEASIBLE)
    X(VARIANT_E_BAD_HANDLE)
    X(VARIANT_E_SCHEMA_VERSION)
    X(VARIANT_E_NO_DATA)
    X(VARIANT_E_INTERNAL)
    X(VARIANT_E_OUT_OF_MEMORY)
    X(VARIANT_E_UNSUPPORTED)
    X(VARIANT_E_MISSING_FIELD)
    X(VARIANT_E_TIMEOUT)
#undef X
    default:
      return "VARIANT_E_UNKNOWN";
  }
}

VARIANT_EXPORT const char* variant_version(void) { return VARIANT_VERSION_STRING; }
VARIANT_EXPORT int variant_abi_version(void) { return VARIANT_ABI_VERSION; }
VARIANT_EXPORT void variant_free(void* p) { std::free(p); }

VARIANT_EXPORT int variant_ctx_create(const char* data_dir, variant_ctx** out,
                                      char** errptr) {
  if (errptr != nullptr) *errptr = nullptr;
  if (out == nullptr) return VARIANT_E_INVALID_ARGUMENT;
  *out = nullptr;
  try {
    auto impl = variant::Context::Create(variant::ResolveDataDir(data_dir));
    if (!impl.ok()) {
      if (errptr != nullptr) *errptr = variant::CopyOut(impl.status().message(), nullptr);
      return impl.status().code();
    }
    auto* c = new variant_ctx();
    c->impl = std::move(impl.value());
    *out = c;
    return VARIANT_OK;
  } catch (const std::bad_alloc&) {
    return VARIANT_E_OUT_OF_MEMORY;
  } catch (...) {
    return VARIANT_E_INTERNAL;
  }
}

VARIANT_EXPORT void variant_ctx_destroy(variant_ctx* ctx) {
  if (!ValidCtx(ctx)) return;
  ctx->magic = 0;
  delete ctx;
}

VARIANT_EXPORT const char* variant_ctx_last_error(const variant_ctx* ctx) {
  if (!ValidCtx(ctx)) return "invalid variant_ctx handle";
  return ctx->last_error.c_str();
}

VARIANT_EXPORT int variant_ctx_load_catalog(variant_ctx* ctx, const char* doc, size_t len) {
  return Guard(ctx, [&]() -> variant::Status {
    if (doc == nullptr) return variant::InvalidArgument("catalog document is NULL");
    return variant::Impl(ctx)->catalog().Merge(std::string(doc, len));
  });
}

VARIANT_EXPORT int variant_ctx_catalog_json(variant_ctx* ctx, char** out, size_t* out_len) {
  return Guard(ctx, [&]() -> variant::Status {
    if (out == nullptr) return variant::InvalidArgument("out is NULL");
    *out = variant::CopyOut(variant::Impl(ctx)->catalog().ToJson(), out_len);
    return {};
  });
}

VARIANT_EXPORT int variant_model_batch_latency(variant_ctx* ctx, const variant_spec* spec,
                                               int batch, double input, double output,
                                               variant_batch_latency* out) {
  return Guard(ctx, [&]() -> variant::Status {
    if (out == nullptr || out->struct_size < sizeof(variant_batch_latency))
      return variant::InvalidArgument("out is NULL or its struct_size is too small");
    if (batch <= 0) return variant::InvalidArgument("batch must be >= 1, got " + std::to_string(batch));
    if (!std::isfinite(input) || input < 1)
      return variant::InvalidArgument("input tokens must be a finite number >= 1");
    if (!std::isfinite(output) || output < 0)
      return variant::InvalidArgument("output tokens must be a finite number >= 0");
    auto v = variant::ReadSpec(ctx, spec);
    if (!v.ok()) return v.status();
    const variant::StepModel& sm = *v->step;
    if (batch * (input + output) > sm.KvCapacityTokens(v->gpu_memory_util))
      return variant::Status(VARIANT_E_DOES_NOT_FIT,
                             "batch of " + std::to_string(batch) + " x " +
                                 std::to_string(static_cast<long>(input + output)) +
                                 " tokens exceeds the KV cache of this variant");
    const double prefill = sm.PrefillMs(batch, input);
    double decode = 0;
    const long steps = std::lround(output);
    // The first output token comes from the prefill step; each further token is one
    // decode step over the growing context.
    for (long s = 1; s < steps; ++s) decode += sm.DecodeStepMs(batch, input + s);
    out->prefill_s = prefill / 1e3;
    out->decode_step_s = steps > 1 ? decode / (steps - 1) / 1e3 : sm.DecodeStepMs(batch, input) / 1e3;
    out->latency_s = (prefill + decode) / 1e3;
    return {};
  });
}

}  // extern "C"
