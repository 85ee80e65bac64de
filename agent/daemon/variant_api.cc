#include "variant_api.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace agent {
namespace {

template <typename F>
bool Resolve(void* h, const char* name, F* out) {
  void* s = dlsym(h, name);
  if (s == nullptr) return false;
  static_assert(sizeof(F) == sizeof(void*));
  std::memcpy(out, &s, sizeof(s));
  return true;
}

}  // namespace

std::string VariantApi::DefaultPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "libvariant.so.1";
  std::string exe(buf, static_cast<size_t>(n));
  std::string dir = exe.substr(0, exe.rfind('/'));
  return dir + "/../lib/libvariant.so.1";
}

std::unique_ptr<VariantApi> VariantApi::Load(const std::string& path, const std::string& data_dir,
                                             std::string* err) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<VariantApi> {
    *err = "libvariant '" + path + "': " + why;
    return nullptr;
  };
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    return fail(std::string("dlopen failed: ") + (e ? e : "?"));
  }
  std::unique_ptr<VariantApi> api(new VariantApi());
  api->handle_ = h;
  api->path_ = path;
  decltype(&variant_abi_version) abi = nullptr;
  decltype(&variant_version) version = nullptr;
  decltype(&variant_ctx_create) create = nullptr;
  if (!Resolve(h, "variant_abi_version", &abi))
    return fail("no symbol variant_abi_version: not a libvariant");
  const int got = abi();
  if (got != VARIANT_ABI_VERSION)
    return fail("ABI version mismatch: the library has ABI " + std::to_string(got) +
                ", this agent was built for ABI " + std::to_string(VARIANT_ABI_VERSION) +
                "; refusing to run (use a matching libvariant.so." +
                std::to_string(VARIANT_ABI_VERSION) + ")");
  if (!Resolve(h, "variant_version", &version) ||
      !Resolve(h, "variant_status_name", &api->status_name_) ||
      !Resolve(h, "variant_free", &api->free_) || !Resolve(h, "variant_ctx_create", &create) ||
      !Resolve(h, "variant_ctx_destroy", &api->ctx_destroy_) ||
      !Resolve(h, "variant_ctx_last_error", &api->last_error_))
    return fail(std::string("missing a required symbol: ") + dlerror());
  Resolve(h, "variant_solve", &api->solve_);  // optional: may not exist yet
  Resolve(h, "variant_model_observe", &api->observe_);  // optional too
  api->version_ = version();
  char* e = nullptr;
  int rc = create(data_dir.empty() ? nullptr : data_dir.c_str(), &api->ctx_, &e);
  if (rc != VARIANT_OK) {
    std::string msg = std::string(api->status_name_(rc)) + ": " + (e ? e : "");
    api->free_(e);
    return fail("variant_ctx_create failed: " + msg);
  }
  return api;
}

VariantApi::~VariantApi() {
  if (ctx_ != nullptr) ctx_destroy_(ctx_);
  if (handle_ != nullptr) dlclose(handle_);
}

int VariantApi::Solve(const std::string& problem, const std::string& current,
                      const std::string& solver, std::string* out, std::string* err) {
  if (solve_ == nullptr) {
    *err = std::string("VARIANT_E_UNSUPPORTED: libvariant ") + version_ +
           " does not export variant_solve";
    return VARIANT_E_UNSUPPORTED;
  }
  char* buf = nullptr;
  size_t len = 0;
  int rc = solve_(ctx_, problem.data(), problem.size(), current.empty() ? nullptr : current.data(),
                  current.size(), solver.c_str(), &buf, &len);
  if (rc != VARIANT_OK) {
    *err = std::string(status_name_(rc)) + ": " + last_error_(ctx_);
    free_(buf);
    return rc;
  }
  out->assign(buf != nullptr ? buf : "", buf != nullptr ? len : 0);
  free_(buf);
  return VARIANT_OK;
}

int VariantApi::Observe(const Observation& o, int* accepted) {
  *accepted = 0;
  if (observe_ == nullptr) return VARIANT_E_UNSUPPORTED;
  variant_spec spec = VARIANT_SPEC_INIT;
  spec.model = o.model.c_str();
  spec.accelerator = o.accelerator.c_str();
  spec.tp = o.tp;
  spec.max_batch = o.max_batch;
  spec.role = o.role;
  variant_observation ob = VARIANT_OBSERVATION_INIT;
  ob.rate_rps = o.rate_rps;
  ob.ttft_mean_ms = o.ttft_mean_ms;
  ob.itl_mean_ms = o.itl_mean_ms;
  ob.input_mean = o.input_mean;
  ob.output_mean = o.output_mean;
  ob.mean_batch = o.mean_batch;
  return observe_(ctx_, &spec, &ob, accepted);
}

}  // namespace agent
