#include "policy_host.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace policy {

std::unique_ptr<PolicyPlugin> PolicyPlugin::Load(const std::string& path, std::string* err) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<PolicyPlugin> {
    if (err != nullptr) *err = "plugin '" + path + "' refused: " + why;
    return nullptr;
  };
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* e = dlerror();
    return fail(std::string("dlopen failed: ") + (e ? e : "unknown error"));
  }
  std::unique_ptr<PolicyPlugin> p(new PolicyPlugin());
  p->handle_ = h;  // closed by ~PolicyPlugin on every refusal below
  p->path_ = path;
  dlerror();
  void* sym = dlsym(h, VARIANT_POLICY_ENTRY_SYMBOL);
  if (sym == nullptr)
    return fail("no entry point: the symbol '" VARIANT_POLICY_ENTRY_SYMBOL "' is not exported");
  variant_policy_entry_fn entry;
  static_assert(sizeof(entry) == sizeof(sym));
  std::memcpy(&entry, &sym, sizeof(sym));
  const variant_policy_descriptor* d = entry();
  if (d == nullptr) return fail("the entry point returned NULL");
  // Only struct_size is read before we know the descriptor is long enough.
  const size_t size = d->struct_size;
  if (size < VARIANT_POLICY_DESCRIPTOR_MIN_SIZE)
    return fail("descriptor too short: struct_size " + std::to_string(size) + " < " +
                std::to_string(VARIANT_POLICY_DESCRIPTOR_MIN_SIZE) +
                " bytes required for ABI " + std::to_string(VARIANT_POLICY_ABI_MAJOR) + "." +
                std::to_string(VARIANT_POLICY_ABI_MINOR));
  if (d->abi_major != VARIANT_POLICY_ABI_MAJOR)
    return fail("ABI major version mismatch: plugin " + std::to_string(d->abi_major) + "." +
                std::to_string(d->abi_minor) + ", host " + std::to_string(VARIANT_POLICY_ABI_MAJOR) +
                "." + std::to_string(VARIANT_POLICY_ABI_MINOR));
  if (d->abi_minor > VARIANT_POLICY_ABI_MINOR)
    return fail("built for a newer ABI: plugin " + std::to_string(d->abi_major) + "." +
                std::to_string(d->abi_minor) + ", host supports up to " +
                std::to_string(VARIANT_POLICY_ABI_MAJOR) + "." +
                std::to_string(VARIANT_POLICY_ABI_MINOR));
  if (d->name == nullptr || d->name[0] == '\0') return fail("descriptor has no name");
  if (d->create == nullptr) return fail("descriptor callback 'create' is NULL");
  if (d->decide == nullptr) return fail("descriptor callback 'decide' is NULL");
  if (d->destroy == nullptr) return fail("descriptor callback 'destroy' is NULL");
  p->name_ = d->name;
  p->version_ = d->version != nullptr ? d->version : "";
  p->abi_major_ = d->abi_major;
  p->abi_minor_ = d->abi_minor;
  p->create_ = d->create;
  p->decide_ = d->decide;
  p->destroy_ = d->destroy;
  return p;
}

PolicyPlugin::~PolicyPlugin() {
  if (handle_ != nullptr) dlclose(handle_);
}

std::unique_ptr<PolicyInstance> PolicyPlugin::Create(const std::string& model,
                                                     const std::string& params_json,
                                                     std::string* err) const {
  char buf[512] = {0};
  void* s = create_(model.c_str(), params_json.data(), params_json.size(), buf, sizeof(buf));
  if (s == nullptr) {
    buf[sizeof(buf) - 1] = '\0';
    if (err != nullptr)
      *err = "policy '" + name_ + "' for model '" + model + "': " +
             (buf[0] ? buf : "create failed without a message");
    return nullptr;
  }
  return std::unique_ptr<PolicyInstance>(new PolicyInstance(this, s));
}

PolicyInstance::~PolicyInstance() { plugin_->destroy_(state_); }

bool PolicyInstance::Decide(const variant_policy_input& in, const std::vector<int>& initial,
                            PolicyDecision* out, std::string* err) {
  const size_t n = in.n_variants;
  out->desired_replicas.assign(n, 0);
  for (size_t i = 0; i < n && i < initial.size(); ++i) out->desired_replicas[i] = initial[i];
  out->load_signal.assign(n, std::numeric_limits<double>::quiet_NaN());
  out->weight.assign(n, std::numeric_limits<double>::quiet_NaN());
  char buf[512] = {0};
  variant_policy_output o;
  o.struct_size = sizeof(o);
  o.n_variants = n;
  o.desired_replicas = out->desired_replicas.data();
  o.load_signal = out->load_signal.data();
  o.weight = out->weight.data();
  o.error = buf;
  o.error_cap = sizeof(buf);
  int rc = plugin_->decide_(state_, &in, &o);
  if (rc != 0) {
    buf[sizeof(buf) - 1] = '\0';
    if (err != nullptr)
      *err = "policy '" + plugin_->name_ + "' failed for model '" +
             (in.model ? in.model : "?") + "': " + (buf[0] ? buf : "no message");
    return false;
  }
  for (int& r : out->desired_replicas)
    if (r < 0) r = 0;
  return true;
}

std::string FindPlugin(const std::vector<std::string>& dirs, const std::string& name) {
  std::string file = name;
  std::replace(file.begin(), file.end(), '-', '_');  // "static-peak" -> static_peak
  for (const auto& d : dirs) {
    std::string p = d + "/libvariant_policy_" + file + ".so";
    if (access(p.c_str(), R_OK) == 0) return p;
  }
  return {};
}

}  // namespace policy
