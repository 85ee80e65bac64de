// The optimizer's input documents (docs/problem.md): the cluster problem (accelerators,
// global caps, models with candidate variants, service classes, demand, options) and
// the current allocation (with the stability state a previous decision carried).
// Parsing validates everything and names the offending field; nothing here touches
// the performance model. Plain data; not thread-safe to mutate concurrently.
#ifndef VARIANT_SRC_OPT_PROBLEM_H_
#define VARIANT_SRC_OPT_PROBLEM_H_

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "perf/queue_model.h"
#include "status.h"

namespace variant::opt {

// Largest problem/current schema_version this build understands.
inline constexpr int kProblemSchemaVersion = 1;

struct AccelSpec {
  std::string name;
  double cost_per_hour = NAN;  // NaN: take the catalog's
  int count = -1;              // -1: unlimited
  // Per-accelerator amounts of further global resources (e.g. power_kw: 0.7).
  std::map<std::string, double> resources;
};

// A global cap: Σ over replicas of tp × the accelerator's `resource` amount <= total.
struct GlobalCap {
  std::string resource;
  double total = 0;
};

struct VariantSpec {
  std::string name;  // unique within the model
  std::string accelerator;
  int tp = 1;
  int max_batch = 256;
  int max_tokens_per_step = 8192;
  int role = VARIANT_ROLE_PD;
  int min_replicas = 0;
  int max_replicas = -1;     // -1: no limit
  double capacity_rps = NAN; // measured max rate of one replica (any bucket); NaN: model
  double kv_link_gbps = 100;
  double gpu_memory_util = 0.9;
};

struct ModelSpec {
  std::string name;
  std::vector<VariantSpec> variants;
};

struct ClassSpec {
  std::string name;
  std::vector<SloTerm> slo;
  int priority = 0;  // larger = served first under shortage
};

struct Bucket {
  double input = 0, output = 0, weight = 0;
};

struct DemandSpec {
  std::string model, cls;
  double rate_rps = NAN;  // NaN: missing or stale; the previous value is held
  std::vector<Bucket> buckets;  // weights normalized to 1 after parsing
  double prefix_hit_ratio = 0;
};

struct Options {
  double transition_cost = 0.1;    // × replica-hour cost per replica added or removed
  double headroom = 0.1;           // size for demand × (1 + headroom)
  double scale_down_band = 0.1;    // demand this fraction below the held level...
  double scale_down_window_s = 300;  // ...for this long before scaling down
  double decision_interval_s = 30;   // time between decisions when now_s is absent
  double now_s = NAN;                // this decision's timestamp
  int max_changes_per_decision = 0;  // replicas added+removed per decision; 0 = no cap
  double milp_time_limit_s = 10;
  double forecast_horizon_s = 120;   // ~ replica cold-start time
  double forecast_alpha = 0.5;       // Holt level smoothing
  double forecast_beta = 0.2;        // Holt trend smoothing
  bool stability = true;             // false: solve the demand as given, no memory
};

struct Problem {
  int schema_version = 1;
  std::vector<AccelSpec> accelerators;
  std::vector<GlobalCap> caps;
  std::vector<ModelSpec> models;
  std::vector<ClassSpec> classes;
  std::vector<DemandSpec> demand;
  Options options;

  const ModelSpec* FindModel(const std::string& n) const;
  int AccelIndex(const std::string& n) const;  // -1 if absent
  int ClassIndex(const std::string& n) const;  // -1 if absent
};

// Per (model, class) memory kept across decisions (docs/decision.md, "state").
struct ClassState {
  double level = NAN, trend = 0;  // Holt forecast of the rate
  double last_rate = NAN;         // last valid observation
  double last_diff = 0;           // its change from the one before
  std::vector<double> held;       // held per-bucket rates the allocation is sized for
  std::vector<Bucket> held_buckets;
  // While the model is below the band: this class's demand (with headroom) at the
  // decision where the model's work was highest since below_since_s; a scale-down
  // goes to it, not to the last sample (empty when not below).
  std::vector<double> below_peak;
  std::vector<Bucket> below_peak_buckets;
};
struct ModelState {
  std::map<std::string, ClassState> classes;
  double below_since_s = NAN;  // demand below the band since then; NaN: not below
  double below_peak_work = NAN;  // highest work of the demand since then (replica units)
  bool pending = false;        // the change cap held back part of the last target
  std::map<std::string, int> target;  // the last decision's target (variant -> replicas)
};
struct State {
  double now_s = NAN;
  std::map<std::string, ModelState> models;
};

struct CurrentEntry {
  std::string model, variant;
  int replicas = 0;  // total, including starting
  int starting = 0;
};
struct Current {
  std::vector<CurrentEntry> allocation;
  State state;
  bool has_state = false;
};

// Parses a problem (YAML or JSON).
Result<Problem> ParseProblem(std::string_view doc);
// Parses a current allocation (YAML or JSON): a decision document or a bare
// {allocation: [...]}; validated against the problem.
Result<Current> ParseCurrent(std::string_view doc, const Problem& p);
// Parses one SLO term key like "ttft_p95_ms" or "itl_mean_ms".
Result<SloTerm> ParseSloKey(const std::string& key, double target_ms);

std::string RoleName(int role);

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_PROBLEM_H_
