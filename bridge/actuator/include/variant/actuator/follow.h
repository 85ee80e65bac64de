// Following the agent: turns the agent's `decision` and `plan` bus messages into an
// actuator Plan, and a Follower that subscribes to them and executes each new plan.
//
// The agent publishes, per decision, a `decision` (with `allocation`: replicas per
// model and variant after the plan) and a `plan` (ordered steps: add/remove N
// replicas of a variant, or flip N from one variant to another), both carrying the
// same decision_id (docs/bus.md). The actuator works with absolute targets, which are
// idempotent and safe to retry: for each variant, the replicas before the plan are
// its allocation minus the plan's net change, and each step's target is the running
// count after that step. A flip becomes two steps, the add first. Variants with no
// workload in the map (e.g. scaled by HPA/KEDA instead) are skipped and reported.
//
// Thread-safety: Follower runs its own thread; Start/Stop from one owner thread.
#ifndef VARIANT_ACTUATOR_FOLLOW_H_
#define VARIANT_ACTUATOR_FOLLOW_H_

#include <atomic>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bus/curve_key.h"
#include "variant/actuator/k8s.h"

namespace variant::actuator {

struct Workload {
  WorkloadKind kind = WorkloadKind::kDeployment;
  std::string ns, name;
};
// (model, variant) -> the workload serving it.
using WorkloadMap = std::map<std::pair<std::string, std::string>, Workload>;

// [{"model": "m", "variant": "v", "kind": "Deployment", "namespace": "ns",
//   "name": "deploy"}, ...]
bool ParseWorkloadMap(std::string_view doc, WorkloadMap* out, std::string* err);

// Builds the absolute plan for one decision. *skipped receives "model/variant" of
// steps with no workload. Returns false with *err on a malformed message.
bool PlanFromDecision(const nlohmann::json& decision, const nlohmann::json& plan,
                      const WorkloadMap& workloads, Plan* out,
                      std::vector<std::string>* skipped, std::string* err);

// CURVE client keys for a secured bus (docs/bus.md, "Authentication"); all empty: no
// CURVE.
using CurveKeys = bus::CurveClientKeys;

class Follower {
 public:
  using ReportFn = std::function<void(const PlanReport&)>;
  // `endpoint`: the agent's XPUB address (subscribers connect there). With `curve`
  // set, the SUB socket is a CURVE client of the agent (the agent's key in
  // server_key); an agent that refuses the key delivers nothing.
  Follower(std::string endpoint, WorkloadMap workloads, Actuator* actuator, ReportFn on_report,
           CurveKeys curve = {});
  ~Follower();
  void Start();
  void Stop();
  // Decisions executed so far (each decision_id at most once).
  size_t executed() const { return executed_.load(); }

 private:
  void Run();
  std::string endpoint_;
  WorkloadMap workloads_;
  Actuator* actuator_;
  ReportFn on_report_;
  CurveKeys curve_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> executed_{0};
  std::thread thread_;
};

}  // namespace variant::actuator

#endif  // VARIANT_ACTUATOR_FOLLOW_H_
