// The C ABI's offline profile document (CSV of measured step times):
// variant_ctx_load_profiles_text, then the fit it installed.
#include <cstring>

#include "fuzz_util.h"
#include "variant/variant.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static variant_ctx* ctx = [] {
    variant_ctx* c = nullptr;
    if (variant_ctx_create(nullptr, &c, nullptr) != VARIANT_OK) std::abort();
    return c;
  }();
  int rc = variant_ctx_load_profiles_text(ctx, reinterpret_cast<const char*>(data), size);
  if (rc != VARIANT_OK) {
    FUZZ_CHECK(rc != VARIANT_E_INTERNAL && std::strlen(variant_ctx_last_error(ctx)) > 0);
    return 0;
  }
  int found = 0;
  double ps = 0, pa = 0, ds = 0, da = 0;
  FUZZ_CHECK(variant_ctx_profile_fit(ctx, "llama-2-70b", "a100", 4, &found, &ps, &pa, &ds, &da) ==
             VARIANT_OK);
  return 0;
}
