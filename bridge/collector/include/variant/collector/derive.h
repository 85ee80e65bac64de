// Derives per-model demand and state of one vLLM pod from two successive scrapes of
// its /metrics endpoint.
//
// vLLM's metric names changed across versions; each quantity is read from the first
// name that the scrape carries (new names first), and the name used is recorded in
// Observation::sources so a log can say which one.
//
// Counter resets: when any counter or histogram series of a pod goes backwards, or
// its process_start_time_seconds changes, the pod restarted (or the exporter did).
// The window restarts at that scrape: the observation carries gauges only,
// rates_valid is false, and no rate is ever negative.
//
// Thread-safety: a Deriver is not thread-safe; use one per collector thread.
#ifndef VARIANT_COLLECTOR_DERIVE_H_
#define VARIANT_COLLECTOR_DERIVE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "variant/collector/exposition.h"

namespace variant::collector {

// One histogram bucket of a delta distribution: the number of observations in
// (lower, upper]. upper is +Inf for the last bucket.
struct Bucket {
  double lower = 0;
  double upper = 0;
  double count = 0;
};

// A distribution observed over the window (histogram deltas).
struct Distribution {
  double count = 0;              // observations in the window
  std::optional<double> mean;    // sum/count, absent when count == 0
  std::optional<double> p50, p90, p95, p99;  // interpolated within buckets
  std::vector<Bucket> buckets;   // non-cumulative, ascending
};

struct Observation {
  std::string pod;
  std::string model;        // the model_name label ("" when the scrape has none)
  double time_s = 0;        // scrape time
  double window_s = 0;      // time since the previous scrape of this pod; 0 if none
  bool rates_valid = false; // false on the first scrape and after a reset
  bool counter_reset = false;

  // Rates over the window (absent unless rates_valid and the metric is present).
  std::optional<double> completion_rps;  // finished requests per second
  std::optional<double> arrival_rps;     // completions + growth of running+waiting
  std::optional<double> prompt_tokens_per_s;
  std::optional<double> generation_tokens_per_s;
  Distribution input_len;   // from vllm:request_prompt_tokens
  Distribution output_len;  // from vllm:request_generation_tokens
  Distribution ttft_s;      // vllm:time_to_first_token_seconds
  Distribution itl_s;       // vllm:inter_token_latency_seconds (or the old name)
  std::optional<double> prefix_hit_ratio;  // in [0, 1]

  // Gauges at the scrape (absent when missing or NaN; never read as zero).
  std::optional<double> running;
  std::optional<double> waiting;
  std::optional<double> kv_usage;  // fraction in [0, 1]

  // quantity -> metric name it was read from, e.g. "kv_usage" -> "vllm:gpu_cache_usage_perc".
  std::map<std::string, std::string> sources;
};

class Deriver {
 public:
  // Feeds the scrape of `pod` taken at time_s (seconds, any monotonic origin).
  // Returns one observation per model_name present in the scrape.
  std::vector<Observation> Update(const std::string& pod, double time_s,
                                  const Exposition& scrape);
  // Drops the state kept for a pod that went away.
  void Forget(const std::string& pod) { prev_.erase(pod); }
  size_t pods() const { return prev_.size(); }

 private:
  struct Prev {
    double time_s = 0;
    Exposition scrape;
  };
  std::map<std::string, Prev> prev_;
};

// The observation as one JSON object (what a collector publishes); NaN never appears,
// absent values are omitted.
std::string ObservationToJson(const Observation& o);

}  // namespace variant::collector

#endif  // VARIANT_COLLECTOR_DERIVE_H_
