#include "policy_host.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <cerrno>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
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
  // Fields of ABI 1.1, read only when the plugin's descriptor has them.
  if (d->abi_minor >= 1 && size >= offsetof(variant_policy_descriptor, restore) +
                                       sizeof(variant_policy_restore_fn) &&
      d->save != nullptr && d->restore != nullptr) {
    p->save_ = d->save;
    p->restore_ = d->restore;
  }
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

bool PolicyInstance::Save(std::string* out) const {
  out->clear();
  if (plugin_->save_ == nullptr) return false;
  auto write = [](void* sink, const char* data, size_t len) {
    if (data != nullptr && len > 0) static_cast<std::string*>(sink)->append(data, len);
  };
  if (plugin_->save_(state_, write, out) != 0) {
    out->clear();
    return false;
  }
  return true;
}

bool PolicyInstance::Restore(const std::string& data, std::string* err) {
  if (plugin_->restore_ == nullptr) {
    if (err != nullptr) *err = "policy '" + plugin_->name_ + "' keeps no memory (no restore)";
    return false;
  }
  char buf[512] = {0};
  if (plugin_->restore_(state_, data.data(), data.size(), buf, sizeof(buf)) != 0) {
    buf[sizeof(buf) - 1] = '\0';
    if (err != nullptr)
      *err = "policy '" + plugin_->name_ + "' refused its saved memory: " +
             (buf[0] ? buf : "no message");
    return false;
  }
  return true;
}

bool ProbePlugin(const std::string& path, const std::string& params_json, std::string* err) {
  int fds[2];
  if (pipe(fds) != 0) return true;  // cannot probe: load in-process as before
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return true;
  }
  if (pid == 0) {  // child: only async-signal-safe work after this, plus the load
    close(fds[0]);
    std::string e;
    auto p = PolicyPlugin::Load(path, &e);
    if (p) {
      auto inst = p->Create("probe", params_json, &e);
      if (inst) e.clear();
    }
    if (!e.empty()) (void)!write(fds[1], e.data(), std::min<size_t>(e.size(), 4000));
    _exit(e.empty() ? 0 : 3);
  }
  close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (err != nullptr) {
    if (WIFSIGNALED(status))
      *err = "plugin '" + path + "' crashed at load (signal " + std::to_string(WTERMSIG(status)) +
             ", " + strsignal(WTERMSIG(status)) + ")";
    else if (!msg.empty())
      *err = msg;
    else
      *err = "plugin '" + path + "' failed at load (the probe exited with status " +
             std::to_string(WEXITSTATUS(status)) + ")";
  }
  return false;
}

std::vector<PlanStep> MakeBeforeBreak(const std::vector<int>& current,
                                      const std::vector<int>& target) {
  std::vector<PlanStep> steps;
  const size_t n = std::min(current.size(), target.size());
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < n; ++i) {
      if (current[i] < 0) continue;
      const int d = target[i] - current[i];
      if (pass == 0 && d > 0) steps.push_back({i, true, d});
      if (pass == 1 && d < 0) steps.push_back({i, false, -d});
    }
  return steps;
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
