// Loads scaling-policy plugins (plugins/include/variant/policy_plugin.h) and runs
// their instances. Used by the agent and by the simulator.
//
// Thread-safety: a PolicyPlugin may be shared read-only between threads once loaded;
// a PolicyInstance belongs to one thread at a time.
#ifndef VARIANT_PLUGINS_HOST_POLICY_HOST_H_
#define VARIANT_PLUGINS_HOST_POLICY_HOST_H_

#include <memory>
#include <string>
#include <vector>

#include "variant/policy_plugin.h"

namespace policy {

class PolicyInstance;

// One loaded plugin (dlopen handle + the checked descriptor). Unloads on destruction;
// every instance made from it must be destroyed first.
class PolicyPlugin {
 public:
  // Loads with RTLD_NOW | RTLD_LOCAL and checks the descriptor. On refusal returns
  // nullptr and *err names the path and exactly which check failed.
  static std::unique_ptr<PolicyPlugin> Load(const std::string& path, std::string* err);
  ~PolicyPlugin();
  PolicyPlugin(const PolicyPlugin&) = delete;
  PolicyPlugin& operator=(const PolicyPlugin&) = delete;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& path() const { return path_; }
  int abi_major() const { return abi_major_; }
  int abi_minor() const { return abi_minor_; }

  // Makes an instance for `model` with JSON params; nullptr + *err on failure.
  std::unique_ptr<PolicyInstance> Create(const std::string& model, const std::string& params_json,
                                         std::string* err) const;

 private:
  PolicyPlugin() = default;
  void* handle_ = nullptr;
  std::string path_, name_, version_;
  int abi_major_ = 0, abi_minor_ = 0;
  variant_policy_create_fn create_ = nullptr;
  variant_policy_decide_fn decide_ = nullptr;
  variant_policy_destroy_fn destroy_ = nullptr;
  variant_policy_save_fn save_ = nullptr;        // ABI >= 1.1 and exported, else null
  variant_policy_restore_fn restore_ = nullptr;
  friend class PolicyInstance;
};

// Owned copy of a policy's per-variant output.
struct PolicyDecision {
  std::vector<int> desired_replicas;
  std::vector<double> load_signal;  // NaN where the policy gave none
  std::vector<double> weight;       // NaN where the policy gave none
};

class PolicyInstance {
 public:
  ~PolicyInstance();
  PolicyInstance(const PolicyInstance&) = delete;
  PolicyInstance& operator=(const PolicyInstance&) = delete;
  // Runs decide(). `initial` seeds desired_replicas (the current replicas). Returns
  // false and *err on the plugin's failure.
  bool Decide(const variant_policy_input& in, const std::vector<int>& initial,
              PolicyDecision* out, std::string* err);
  const PolicyPlugin& plugin() const { return *plugin_; }
  // The policy's memory (ABI 1.1 save/restore). Save: false when the plugin keeps
  // none (or fails), *out then empty. Restore: false + *err when refused.
  bool Save(std::string* out) const;
  bool Restore(const std::string& data, std::string* err);

 private:
  friend class PolicyPlugin;
  PolicyInstance(const PolicyPlugin* p, void* s) : plugin_(p), state_(s) {}
  const PolicyPlugin* plugin_;
  void* state_;
};

// Loads the plugin and makes one instance with params_json in a forked child, so a
// plugin that crashes at load (or in create) takes down the child, not the host.
// True when the child succeeded; else *err names the path and how it ended (the
// signal, or the refusal). The parent loads it for real afterwards.
bool ProbePlugin(const std::string& path, const std::string& params_json, std::string* err);

// One step of a plugin-decided model's plan: `replicas` more (add) or fewer
// (remove) of one variant.
struct PlanStep {
  size_t variant;
  bool add;
  int replicas;
};
// The make-before-break order from current to target replicas per variant: every
// addition first, then every removal, so the model never has less than the smaller
// of both allocations' capacity on any variant while it moves. current < 0 = unknown
// (no step for that variant).
std::vector<PlanStep> MakeBeforeBreak(const std::vector<int>& current,
                                      const std::vector<int>& target);

// Where a plugin named `name` is looked for: <dir>/libvariant_policy_<name>.so for
// each dir in order, '-' in the name spelled '_'. "" if none is readable.
std::string FindPlugin(const std::vector<std::string>& dirs, const std::string& name);

}  // namespace policy

#endif  // VARIANT_PLUGINS_HOST_POLICY_HOST_H_
