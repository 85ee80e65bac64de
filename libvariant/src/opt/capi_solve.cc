// variant_solve: the optimizer through the C ABI (variant.h, docs/decision.md).
#include <string>
#include <string_view>

#include "capi_internal.h"
#include "opt/decide.h"
#include "opt/problem.h"
#include "variant/variant.h"

extern "C" {

VARIANT_EXPORT int variant_solve(variant_ctx* ctx, const char* problem, size_t problem_len,
                                 const char* current, size_t current_len, const char* solver,
                                 char** out, size_t* out_len) {
  return variant::Guard(ctx, [&]() -> variant::Status {
    if (out == nullptr) return variant::InvalidArgument("out is NULL");
    *out = nullptr;
    if (out_len != nullptr) *out_len = 0;
    if (problem == nullptr || problem_len == 0)
      return variant::InvalidArgument("problem is NULL or empty");
    if (current == nullptr && current_len != 0)
      return variant::InvalidArgument("current is NULL but current_len is not 0");
    const std::string which = solver == nullptr ? "fast" : solver;
    // Parsed in place (no copy of what may be megabytes of JSON).
    auto p = variant::opt::ParseProblem(std::string_view(problem, problem_len));
    if (!p.ok()) return p.status();
    auto cur = variant::opt::ParseCurrent(
        current == nullptr ? std::string_view() : std::string_view(current, current_len), *p);
    if (!cur.ok()) return cur.status();
    auto d = variant::opt::Decide(variant::Impl(ctx), *p, *cur, which);
    if (!d.ok()) return d.status();
    // Names from a YAML problem may be any bytes: not UTF-8 is replaced, not thrown.
    *out = variant::CopyOut(d->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                            out_len);
    return variant::Status::Ok();
  });
}

}  // extern "C"
