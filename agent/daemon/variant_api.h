// libvariant, loaded at run time with dlopen (the agent never links it), so the agent
// can be pointed at another build of the library and refuses a mismatched ABI.
#ifndef VARIANT_AGENT_DAEMON_VARIANT_API_H_
#define VARIANT_AGENT_DAEMON_VARIANT_API_H_

#include <memory>
#include <string>

#include "variant/variant.h"

namespace agent {

// The resolved entry points plus one context. Not thread-safe (one context).
class VariantApi {
 public:
  // Opens `path` (RTLD_NOW | RTLD_LOCAL), resolves the functions, compares
  // variant_abi_version() with VARIANT_ABI_VERSION, and creates a context on data_dir
  // ("" = the library's default). nullptr + *err (naming the path and the check) on
  // failure. variant_solve may be absent in an older library: solve() then fails
  // with VARIANT_E_UNSUPPORTED.
  static std::unique_ptr<VariantApi> Load(const std::string& path, const std::string& data_dir,
                                          std::string* err);
  // <directory of the running executable>/../lib/libvariant.so.1
  static std::string DefaultPath();
  ~VariantApi();

  const std::string& version() const { return version_; }
  const std::string& path() const { return path_; }
  bool has_solve() const { return solve_ != nullptr; }

  // Runs variant_solve; on success *out holds the decision JSON. On failure returns
  // the status code and *err "VARIANT_E_...: message".
  int Solve(const std::string& problem, const std::string& current, const std::string& solver,
            std::string* out, std::string* err);

  // One live observation of a variant (per replica) for the library's online
  // correction (variant_model_observe, docs/model.md). Returns the status code
  // (VARIANT_E_UNSUPPORTED if the library lacks it); *accepted as the library says.
  struct Observation {
    std::string model, accelerator;
    int tp = 1, max_batch = 0, role = 0;
    double rate_rps = 0, ttft_mean_ms = 0, itl_mean_ms = 0, input_mean = 0, output_mean = 0;
    double mean_batch = 0;
  };
  int Observe(const Observation& o, int* accepted);

 private:
  VariantApi() = default;
  void* handle_ = nullptr;
  variant_ctx* ctx_ = nullptr;
  std::string path_, version_;
  decltype(&variant_status_name) status_name_ = nullptr;
  decltype(&variant_free) free_ = nullptr;
  decltype(&variant_ctx_destroy) ctx_destroy_ = nullptr;
  decltype(&variant_ctx_last_error) last_error_ = nullptr;
  decltype(&variant_solve) solve_ = nullptr;
  decltype(&variant_model_observe) observe_ = nullptr;
};

}  // namespace agent

#endif  // VARIANT_AGENT_DAEMON_VARIANT_API_H_
