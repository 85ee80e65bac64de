// The simulated cluster's controllers: what the agent does with the bus messages.
//
//  - PluginController: one scaling-policy plugin instance per model, loaded through
//    the agent's own host (plugins/host/policy_host.h), fed the same
//    variant_policy_input the agent builds from bus metrics (static, hpa, wva).
//  - SolverController: libvariant's variant_solve (C ABI) on the problem of the config
//    with the live demand, its previous decision fed back as `current` (stability
//    memory, forecast), its allocation actuated make-before-break, its guidance used to
//    route requests (variant). With `oracle` set it is told the future: demand is what
//    will arrive before the next decision, solved without stability memory, and its
//    replicas start without cold start (a lower bound).
//
// Each controller belongs to one run (one thread).
#ifndef VARIANT_BRIDGE_SIM_CONTROLLERS_H_
#define VARIANT_BRIDGE_SIM_CONTROLLERS_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy_host.h"
#include "sim/cluster.h"
#include "variant/variant.h"

namespace variant::sim {

class PluginController : public Controller {
 public:
  // params[m]: the JSON params of model m's instance (null: the model has no traffic,
  // no instance, no replicas); initial[m][v]: the warm start.
  static Result<std::unique_ptr<PluginController>> Create(
      const ClusterSpec& spec, const policy::PolicyPlugin* plugin,
      const std::vector<nlohmann::json>& params, std::vector<std::vector<int>> initial);
  Status Initial(const std::vector<std::vector<const ClusterRequest*>>& first,
                 Desired* out) override;
  Status Decide(const Observed& obs, Desired* out) override;

 private:
  explicit PluginController(const ClusterSpec& spec) : spec_(spec) {}
  const ClusterSpec& spec_;
  std::vector<std::unique_ptr<policy::PolicyInstance>> inst_;
  std::vector<std::vector<int>> initial_;
  std::vector<std::vector<int>> last_;
};

class SolverController : public Controller {
 public:
  // problem: the config's problem document (docs/problem.md) without demand; ctx is
  // borrowed (one per thread). bucket_ratio: length-bucket edges at powers of it.
  // online_correction: before each decision, every variant's observed TTFT/ITL (the
  // collector's means over its ready pods) goes to variant_model_observe on ctx, so the
  // capacities the solver uses follow what the servers actually do (docs/model.md).
  SolverController(const ClusterSpec& spec, variant_ctx* ctx, nlohmann::json problem,
                   bool oracle, double bucket_ratio = 4, bool online_correction = true)
      : spec_(spec), ctx_(ctx), problem_(std::move(problem)), oracle_(oracle),
        bucket_ratio_(bucket_ratio), online_correction_(online_correction) {}
  Status Initial(const std::vector<std::vector<const ClusterRequest*>>& first,
                 Desired* out) override;
  Status Decide(const Observed& obs, Desired* out) override;
  void SetFuture(const std::vector<ClusterRequest>* all) override { future_ = all; }
  bool NoColdStart() const override { return oracle_; }
  double solve_ms_total() const { return solve_ms_; }
  int plan_steps() const { return plan_steps_; }
  // Observations fed to / accepted by the online correction.
  int observations() const { return observed_; }
  int observations_accepted() const { return accepted_; }
  // The correction in force per [model][variant]: (prefill factor, decode factor).
  std::vector<std::vector<std::pair<double, double>>> Corrections() const;

 private:
  // Demand entries from requests (per model and class; rate = count / window_s, or the
  // given model-level rates split by class share).
  nlohmann::json Demand(const std::vector<std::vector<const ClusterRequest*>>& reqs,
                        const std::vector<double>& rate) const;
  void Observe(const Observed& obs);
  Status Solve(double now_s, const nlohmann::json& demand, const Observed* obs, Desired* out);

  const ClusterSpec& spec_;
  variant_ctx* ctx_;
  nlohmann::json problem_;
  bool oracle_;
  double bucket_ratio_;
  bool online_correction_;
  int observed_ = 0, accepted_ = 0;
  const std::vector<ClusterRequest>* future_ = nullptr;
  size_t future_pos_ = 0;
  nlohmann::json last_;  // previous decision (stability state)
  double solve_ms_ = 0;
  int plan_steps_ = 0;
};

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_CONTROLLERS_H_
