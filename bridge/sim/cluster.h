// The simulated cluster (issue 5): request traces replayed through replicas of
// ServerSim, with the production control loop on a virtual clock:
//
//   ServerSim counters/gauges ──▶ vLLM-style exposition ──▶ collector Deriver +
//   Aggregate (bridge/collector) ──▶ bus `metrics` messages, encoded and decoded with
//   agent/bus/protocol ──▶ controller (a policy plugin through plugins/host, or
//   libvariant's variant_solve with its forecast, stability memory, plan and
//   guidance) ──▶ actuation: replicas added (cold start) or drained, capped per
//   accelerator type.
//
// One ClusterSim::Run is one policy over one arrival list; runs share nothing mutable
// (each has its own servers, deriver and controller), so several may run on threads,
// each with its own Controller. docs/simulator.md has the long form.
#ifndef VARIANT_BRIDGE_SIM_CLUSTER_H_
#define VARIANT_BRIDGE_SIM_CLUSTER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/protocol.h"
#include "perf/queue_model.h"
#include "perf/step_model.h"
#include "sim/server_sim.h"
#include "status.h"

namespace variant::sim {

struct ClusterAccelerator {
  std::string name;
  double cost_per_hour = 0;  // per accelerator
  int count = 0;             // 0 = unlimited
};

struct ClusterVariant {
  std::string name;          // unique within the model
  int accelerator = 0;       // index into ClusterSpec::accelerators
  int tp = 1;
  int max_batch = 256;
  int max_tokens_per_step = 8192;
  double gpu_memory_util = 0.9;
  const StepModel* step = nullptr;  // not owned
  double cost_per_hour = 0;         // per replica (tp × accelerator price)
};

struct ClusterClass {
  std::string name;
  std::vector<SloTerm> slo;
};

struct ClusterModel {
  std::string name;
  std::vector<ClusterVariant> variants;
};

struct ClusterSpec {
  std::vector<ClusterAccelerator> accelerators;
  std::vector<ClusterClass> classes;
  std::vector<ClusterModel> models;
  double cold_start_s = 120;
  double scrape_interval_s = 15;    // collector scrape period
  double decision_interval_s = 30;  // periodic decision; demand moves trigger earlier ones
  double trigger_threshold = 0.2;   // relative demand move that triggers a decision at a scrape
  double scale_down_window_s = 300; // for counting reversals
  double sample_interval_s = 30;    // time series in the result
  double drain_limit_s = 900;       // after the last arrival; still unfinished = unserved
  // Gateway flow control: a replica with this many requests queued (not running) takes
  // no more; the gateway holds requests and retries every gateway_retry_s.
  int max_queued = 4;
  double gateway_retry_s = 0.1;
};

// One request of the merged arrival list (all models), sorted by arrival.
struct ClusterRequest {
  double arrival_s = 0;
  int model = 0;
  int cls = 0;
  int input_tokens = 1, output_tokens = 1;
};

// What a controller sees at a decision: the decoded bus messages of the last scrape.
struct Observed {
  double now_s = 0;
  // Per model: the gateway's model-level message (variant ""), and per variant the
  // collector's aggregate over that variant's ready pods.
  std::vector<bus::Metrics> gateway;                 // [model]
  std::vector<std::vector<bus::Metrics>> variants;   // [model][variant]
  std::vector<std::vector<int>> ready, starting;     // [model][variant]
  // The gateway's recent requests of each model (lengths and class), for the length
  // mix of the demand (the bus carries only means, schema v1).
  std::vector<std::vector<const ClusterRequest*>> recent;  // [model]
};

// A controller's answer: desired replicas per [model][variant]; optional routing
// weights per [model][class][bucket][variant] over length buckets.
struct RoutingBucket {
  double input = 0, output = 0;  // representative lengths
  std::vector<double> weights;   // per variant, sums to 1
};
struct Desired {
  std::vector<std::vector<int>> replicas;
  // Empty: route least-loaded over every ready replica of the model.
  std::vector<std::vector<std::vector<RoutingBucket>>> routing;  // [model][class][bucket]
  // Make-before-break: removals of a model wait until its starting replicas are ready.
  bool make_before_break = false;
};

class Controller {
 public:
  virtual ~Controller() = default;
  // Initial allocation, ready at t = 0 (the cluster is warm when the replay starts).
  // `first` holds, per model, the requests of the busiest minute of the first five.
  virtual Status Initial(const std::vector<std::vector<const ClusterRequest*>>& first,
                         Desired* out) = 0;
  virtual Status Decide(const Observed& obs, Desired* out) = 0;
  // Oracle: told the full arrival list up front. Default: ignored.
  virtual void SetFuture(const std::vector<ClusterRequest>* /*all*/) {}
  // Replicas of this controller start without cold start (the oracle).
  virtual bool NoColdStart() const { return false; }
};

struct Histogram {
  std::vector<double> edges;
  std::vector<uint64_t> counts;
};

struct ModelResult {
  std::string model;
  double cost_usd = 0, slo_attainment = 0, ttft_p95_ms = 0, itl_p95_ms = 0;
  uint64_t requests = 0, unserved = 0;
};

struct RunResult {
  double cost_usd = 0, gpu_hours = 0, slo_attainment = 0, utilization = 0;
  double ttft_p95_ms = 0, itl_p95_ms = 0;
  uint64_t requests = 0, served = 0, unserved = 0, finished = 0, refused = 0;
  int scaling_actions = 0, reversals = 0, decisions = 0, capped = 0, decide_errors = 0;
  int max_accelerators_used_over_cap = 0;  // > 0 would be a bug: checked by tests
  std::vector<ModelResult> per_model;
  // [model][variant]: (requests served there, of which meeting their SLO).
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> per_variant;
  std::vector<double> per_class_attainment;
  std::vector<double> t_s, cost_per_hour;
  std::vector<std::vector<double>> demand_rps;                  // [model][sample]
  std::vector<std::vector<std::vector<double>>> replicas;       // [model][variant][sample]
  // [model][sample]: fraction of the requests arriving in [t_s[k], t_s[k+1]) that met
  // every SLO of their class (unserved ones miss); NaN where none arrived.
  std::vector<std::vector<double>> attainment;
  Histogram ttft_ms, itl_ms;
  uint64_t bus_messages = 0, bus_bytes = 0;
  std::string last_error;  // the last controller error, if any
  // variant/oracle: the online correction at the end, per [model][variant] (prefill,
  // decode factors; empty for other policies), and observations fed / accepted.
  std::vector<std::vector<std::pair<double, double>>> correction;
  int observations = 0, observations_accepted = 0;
  double wall_s = 0;
  // Every replica's life, for tests: model, variant, added, ready, removed (s).
  struct ReplicaLife {
    int model = 0, variant = 0;
    double added_s = 0, ready_s = 0, removed_s = -1;
    double first_work_s = -1;  // first request dispatched to it
  };
  std::vector<ReplicaLife> lives;
};

// Reversal counting (exposed for tests): events (time, variant key, +1/-1) in time
// order; a change of a variant in the direction opposite to its previous change, within
// `window_s` of it, is one reversal.
int CountReversals(const std::vector<std::tuple<double, int, int>>& changes, double window_s);

// Runs one policy over `reqs` (sorted by arrival). `progress`, when set, is called
// with the fraction of arrivals replayed (0..1), at most a few hundred times.
Result<RunResult> RunCluster(const ClusterSpec& spec, const std::vector<ClusterRequest>& reqs,
                             Controller* ctl, uint64_t seed,
                             const std::function<void(double)>& progress = {});

// Per-request SLO check: TTFT and TTLT terms against the request's own values, ITL
// terms against the mean of its token gaps.
bool RequestMeets(const std::vector<SloTerm>& slo, double ttft_ms, double itl_mean_ms,
                  double ttlt_ms);

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_CLUSTER_H_
