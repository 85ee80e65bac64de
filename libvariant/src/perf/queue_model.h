// Queueing model of one replica with continuous batching (docs/model.md, "Queueing
// model"): from the step model, the batch limits, the KV-cache capacity, the prefix-cache
// hit ratio and a request-length mix, predict latency percentiles at an arrival rate,
// and the highest rate that meets a set of SLOs. Pure functions; thread-safe.
#ifndef VARIANT_SRC_PERF_QUEUE_MODEL_H_
#define VARIANT_SRC_PERF_QUEUE_MODEL_H_

#include <vector>

#include "perf/step_model.h"
#include "status.h"
#include "variant/variant.h"

namespace variant {

// Request-length mix: bucket representatives and weights (normalized on use).
struct Workload {
  std::vector<double> input, output, weight;
  double prefix_hit_ratio = 0;
  Status Validate() const;
  double MeanInput() const;
  double MeanOutput() const;
};

struct SloTerm {
  int metric = VARIANT_METRIC_TTFT;  // variant_metric
  double percentile = 95;            // 0 = mean
  double target_ms = 0;
};
// Parses "ttft_p95_ms=500,itl_mean_ms=50".
Result<std::vector<SloTerm>> ParseSlo(const std::string& text);

// One replica's configuration, validated (see capi's ReadSpec).
struct ReplicaConfig {
  const StepModel* step = nullptr;
  int max_batch = 256;
  int max_tokens_per_step = 8192;
  int role = VARIANT_ROLE_PD;
  double kv_link_gbps = 100;
  double gpu_memory_util = 0.9;
  // Calibration of the a-priori step times (offline profile, then online correction):
  // prefill work takes prefill_add_ms + prefill_factor × a-priori, a decode step
  // decode_add_ms + decode_factor × a-priori.
  double prefill_factor = 1;
  double decode_factor = 1;
  double prefill_add_ms = 0;
  double decode_add_ms = 0;
};

struct Prediction {
  double rate_rps = 0;
  double ttft_p50_ms = 0, ttft_p90_ms = 0, ttft_p95_ms = 0, ttft_p99_ms = 0;
  double ttft_mean_ms = 0;
  // Inter-token latency over all token gaps (as vLLM's histogram counts them).
  double itl_mean_ms = 0, itl_p50_ms = 0, itl_p90_ms = 0, itl_p95_ms = 0, itl_p99_ms = 0;
  // Time per output token: one request's mean gap; percentiles over requests (its
  // mean is the ITL mean).
  double tpot_p50_ms = 0, tpot_p90_ms = 0, tpot_p95_ms = 0, tpot_p99_ms = 0;
  double ttlt_p95_ms = 0, ttlt_mean_ms = 0;
  double throughput_tok_s = 0, utilization = 0, queue_len = 0, mean_batch = 0;
  double kv_capacity_tokens = 0;
  int max_concurrency = 0;
  bool stable = true;
  // Value of one SLO term's metric in this prediction.
  double Metric(const SloTerm& t) const;
};

// The metric's name as SLO keys spell it: "ttft", "itl", "tpot" or "ttlt".
const char* MetricName(int metric);

// Steady state at rate_rps (Poisson arrivals). Unstable rates give stable=false and
// infinite latencies.
Prediction Predict(const ReplicaConfig& cfg, const Workload& w, double rate_rps);

// Highest rate meeting every term; VARIANT_E_SLO_UNATTAINABLE if none > 0 does.
Result<Prediction> MaxRate(const ReplicaConfig& cfg, const Workload& w,
                           const std::vector<SloTerm>& slo);

}  // namespace variant

#endif  // VARIANT_SRC_PERF_QUEUE_MODEL_H_
