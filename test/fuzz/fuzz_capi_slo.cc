// The C ABI's SLO text: variant_slo_parse("ttft_p95_ms=500,itl_mean_ms=50").
#include <cmath>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "variant/variant.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static variant_ctx* ctx = [] {
    variant_ctx* c = nullptr;
    if (variant_ctx_create(nullptr, &c, nullptr) != VARIANT_OK) std::abort();
    return c;
  }();
  std::string text(reinterpret_cast<const char*>(data), size);  // NUL-terminated
  variant_slo_term terms[4];
  size_t n = 99;
  int rc = variant_slo_parse(ctx, text.c_str(), terms, 4, &n);
  if (rc == VARIANT_OK) {
    FUZZ_CHECK(n <= 4);
    for (size_t i = 0; i < n; ++i) {
      FUZZ_CHECK(terms[i].metric >= VARIANT_METRIC_TTFT && terms[i].metric <= VARIANT_METRIC_TPOT);
      FUZZ_CHECK(terms[i].percentile >= 0 && terms[i].percentile < 100);
      FUZZ_CHECK(std::isfinite(terms[i].target_ms) && terms[i].target_ms > 0);
    }
  } else {
    FUZZ_CHECK(std::strlen(variant_ctx_last_error(ctx)) > 0);
  }
  return 0;
}
