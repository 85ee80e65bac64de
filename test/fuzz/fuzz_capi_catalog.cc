// The C ABI's catalog document: variant_ctx_load_catalog (YAML or JSON).
#include <cstring>

#include "fuzz_util.h"
#include "variant/variant.h"

namespace {
variant_ctx* NewCtx() {
  variant_ctx* ctx = nullptr;
  char* err = nullptr;
  if (variant_ctx_create(nullptr, &ctx, &err) != VARIANT_OK) {
    std::fprintf(stderr, "variant_ctx_create: %s\n", err ? err : "?");
    std::abort();
  }
  return ctx;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static variant_ctx* ctx = NewCtx();
  int rc = variant_ctx_load_catalog(ctx, reinterpret_cast<const char*>(data), size);
  if (rc != VARIANT_OK) {
    // A failure names what was wrong and leaves the catalog as it was.
    FUZZ_CHECK(std::strlen(variant_ctx_last_error(ctx)) > 0);
    return 0;
  }
  char* json = nullptr;
  size_t len = 0;
  FUZZ_CHECK(variant_ctx_catalog_json(ctx, &json, &len) == VARIANT_OK);
  variant_free(json);
  // Use what was loaded: every model on every accelerator at TP 1.
  variant_spec spec = VARIANT_SPEC_INIT;
  spec.model = "llama-3-8b";
  spec.accelerator = "h100";
  variant_batch_latency out = VARIANT_BATCH_LATENCY_INIT;
  variant_model_batch_latency(ctx, &spec, 4, 512, 16, &out);
  // The next input starts from the built-in catalog again.
  variant_ctx_destroy(ctx);
  ctx = NewCtx();
  return 0;
}
