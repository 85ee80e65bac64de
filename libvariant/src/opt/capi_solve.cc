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
    // What is alive at once is what a caller's peak memory is made of (at 1,000 x 40
    // models x variants: the parsed problem ~5 MB, the decision's JSON nodes ~10 MB,
    // its text 1.1 MB; docs/bus.md): the parsed problem and current go before the
    // decision is written out, and the decision's nodes before the copy handed out.
    nlohmann::json decision;
    {
      // Parsed in place (no copy of what may be megabytes of JSON).
      auto p = variant::opt::ParseProblem(std::string_view(problem, problem_len));
      if (!p.ok()) return p.status();
      auto cur = variant::opt::ParseCurrent(
          current == nullptr ? std::string_view() : std::string_view(current, current_len), *p);
      if (!cur.ok()) return cur.status();
      auto d = variant::opt::Decide(variant::Impl(ctx), *p, *cur, which);
      if (!d.ok()) return d.status();
      decision = std::move(*d);
    }
    // Names from a YAML problem may be any bytes: not UTF-8 is replaced, not thrown.
    std::string text = decision.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    decision = nlohmann::json();
    *out = variant::CopyOut(text, out_len);
    return variant::Status::Ok();
  });
}

}  // extern "C"
