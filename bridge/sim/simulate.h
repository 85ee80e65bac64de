// `variantctl simulate`: the configuration (a problem document, docs/problem.md, plus
// a `simulate:` section), the traces, and every policy run side by side on identical
// arrivals, with the HPA target sweep, seeds and confidence intervals. The result is
// the JSON of docs/simulator.md ("variant-simulate/1").
//
// Not thread-safe as a whole; with jobs > 1 the policies of one seed run on threads,
// each with its own libvariant context and plugin instances.
#ifndef VARIANT_BRIDGE_SIM_SIMULATE_H_
#define VARIANT_BRIDGE_SIM_SIMULATE_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sim/cluster.h"
#include "status.h"

namespace variant::sim {

struct SimulateOptions {
  std::string config_path;  // YAML or JSON
  // --trace MODEL=FILE (model "" = the file's own model column). Replaces the
  // config's traces when non-empty.
  std::vector<std::pair<std::string, std::string>> traces;
  double rate_scale = 1;   // multiplies each trace's own rate_scale
  double time_scale = 1;
  double cold_start_s = -1;  // < 0: the config's (default 120)
  double duration_s = 0;     // > 0: only arrivals before this time (after scaling)
  int seeds = 1;
  int jobs = 1;
  std::vector<std::string> policies = {"static", "hpa", "wva", "variant", "oracle"};
  std::vector<std::string> plugin_dirs;
  std::string data_dir;  // libvariant data ("" = default)
  // Called with a label and a fraction (0..1) of the current run; from worker threads
  // too (the callee serializes).
  std::function<void(const std::string&, double)> progress;
};

// Runs everything. Errors name what is wrong: the trace file and line, a model with no
// variant, an SLO no variant can meet, a missing plugin, an unknown policy.
Result<nlohmann::json> Simulate(const SimulateOptions& opt);

// The cluster's requests from traces (exposed for tests): each (model, file) read and
// scaled, models/classes resolved against the config, merged and sorted.
struct LoadedTraces {
  std::vector<ClusterRequest> requests;
  std::vector<std::string> files;  // per model ("" if none)
  std::vector<uint64_t> counts;    // per model
};

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_SIMULATE_H_
