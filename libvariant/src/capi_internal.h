// Helpers shared by the C ABI's translation units. Not API.
#ifndef VARIANT_SRC_CAPI_INTERNAL_H_
#define VARIANT_SRC_CAPI_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <new>
#include <string>

#include "context.h"
#include "status.h"
#include "variant/variant.h"

namespace variant {
inline constexpr uint64_t kCtxMagic = 0x7661726961637478ULL;  // "variactx"
class StepModel;
}  // namespace variant

struct variant_ctx {
  uint64_t magic = variant::kCtxMagic;
  std::unique_ptr<variant::Context> impl;
  std::string last_error;
};

namespace variant {

bool ValidCtx(const variant_ctx* c);
// Records st's message on c (if valid) and returns its code.
int Fail(variant_ctx* c, const Status& st);
Context* Impl(variant_ctx* c);
// malloc'ed, NUL-terminated copy, released by variant_free.
char* CopyOut(const std::string& s, size_t* len);

// A validated variant_spec with defaults applied.
struct SpecView {
  std::string model, accelerator;
  int tp = 1;
  int max_batch = 256;
  int max_tokens_per_step = 8192;
  int role = VARIANT_ROLE_PD;
  double kv_link_gbps = 100;
  double gpu_memory_util = 0.9;
  const StepModel* step = nullptr;
};
Result<SpecView> ReadSpec(variant_ctx* c, const variant_spec* spec);

// Runs f (returning Status) with the handle checked and every exception caught.
template <typename F>
int Guard(variant_ctx* c, F&& f) {
  if (!ValidCtx(c)) return VARIANT_E_BAD_HANDLE;
  try {
    c->last_error.clear();
    Status st = f();
    return st.ok() ? VARIANT_OK : Fail(c, st);
  } catch (const std::bad_alloc&) {
    return Fail(c, Status(VARIANT_E_OUT_OF_MEMORY, "out of memory"));
  } catch (const std::exception& e) {
    return Fail(c, Internal(std::string("unexpected exception: ") + e.what()));
  } catch (...) {
    return Fail(c, Internal("unexpected exception"));
  }
}

}  // namespace variant

#endif  // VARIANT_SRC_CAPI_INTERNAL_H_
