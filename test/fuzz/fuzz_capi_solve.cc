// The C ABI's optimizer documents: variant_solve(problem, current) with the fast
// solver. Input: the problem document, optionally followed by "\n#--current--\n" and a
// current-allocation document.
#include <cstring>

#include "fuzz_util.h"
#include "variant/variant.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static variant_ctx* ctx = [] {
    variant_ctx* c = nullptr;
    if (variant_ctx_create(nullptr, &c, nullptr) != VARIANT_OK) std::abort();
    return c;
  }();
  auto [problem, current] = fuzz::Split(fuzz::View(data, size), "\n#--current--\n");
  char* out = nullptr;
  size_t out_len = 0;
  int rc = variant_solve(ctx, problem.data(), problem.size(),
                         current.empty() ? nullptr : current.data(), current.size(), "fast",
                         &out, &out_len);
  if (rc == VARIANT_OK) {
    FUZZ_CHECK(out != nullptr && out_len > 0);
    variant_free(out);
  } else {
    FUZZ_CHECK(out == nullptr);
    FUZZ_CHECK(rc != VARIANT_E_INTERNAL);  // a bug by definition
    FUZZ_CHECK(std::strlen(variant_ctx_last_error(ctx)) > 0);
  }
  return 0;
}
