// Open-loop experiments on one simulated replica (ServerSim): Poisson arrivals at a
// rate with lengths drawn from a Workload or from a trace's own requests, or a trace
// replayed with its timestamps; the latency percentiles, throughput, utilization and
// queue figures the queueing model predicts; and the sustainable rate under a set of
// SLO terms found by simulation. Pure functions (each run builds its own server);
// thread-safe.
#ifndef VARIANT_BRIDGE_SIM_RUNNER_H_
#define VARIANT_BRIDGE_SIM_RUNNER_H_

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "perf/queue_model.h"
#include "sim/server_sim.h"
#include "sim/trace.h"
#include "status.h"

namespace variant::sim {

// Draws (input, output) lengths: from a Workload's buckets by weight, each
// representative rounded at random to a neighbouring integer so that the expected
// length is exactly the representative (the queueing model sees the same mix); or
// uniformly from a trace's own requests (empirical lengths).
class LengthSampler {
 public:
  static Result<LengthSampler> FromWorkload(const Workload& w);
  static Result<LengthSampler> FromTrace(const std::vector<TraceRequest>& t);
  void Draw(std::mt19937_64& rng, int* input, int* output) const;
  double MeanInput() const { return mean_in_; }
  double MeanOutput() const { return mean_out_; }
  double prefix_hit_ratio() const { return prefix_hit_ratio_; }

 private:
  std::vector<double> cum_, in_, out_;  // cum_ empty: uniform over in_/out_
  double mean_in_ = 0, mean_out_ = 0, prefix_hit_ratio_ = 0;
};

struct RunOptions {
  size_t num_requests = 10000;
  uint64_t seed = 1;
  // The first warmup_fraction of the requests (by arrival) warm the server up and
  // are left out of every figure.
  double warmup_fraction = 0.1;
};

// Figures over the measured requests (all of them finish: the run drains).
struct SimStats {
  double rate_rps = 0;  // offered (measured arrivals / measurement window)
  size_t measured = 0;
  double window_s = 0;  // from the first measured arrival to the last arrival
  double ttft_p50_ms = 0, ttft_p90_ms = 0, ttft_p95_ms = 0, ttft_p99_ms = 0, ttft_mean_ms = 0;
  double itl_mean_ms = 0, itl_p95_ms = 0;  // over every token gap
  double ttlt_p95_ms = 0, ttlt_mean_ms = 0;
  double throughput_tok_s = 0;  // generated tokens / window
  double throughput_rps = 0;    // measured requests finished / (last finish − first measured arrival)
  double utilization = 0;       // busy fraction of the window
  double queue_len = 0;         // time-mean waiting requests
  double mean_batch = 0;        // time-mean running sequences
  double kv_usage = 0;          // time-mean KV-cache fraction in use
  uint64_t preemptions = 0;
  // Queue boundedness: growth of the waiting queue over the second half of the
  // window (least-squares slope × half the window). stable = growth <= max(10, 5% of
  // the requests arriving in that half).
  double queue_growth = 0;
  bool stable = true;
  // Per-request values of the measured requests, sorted (for any percentile).
  std::vector<double> ttft_ms, ttlt_ms;
  // Each measured request's mean token gap (TPOT; 0 for a one-token request), sorted.
  std::vector<double> tpot_ms;
  LogHistogram itl_ms;  // token gaps from the end of the warm-up on

  // The value of one SLO term's metric (percentile 0 = mean).
  double Metric(const SloTerm& t) const;
};

bool MeetsSlo(const SimStats& s, const std::vector<SloTerm>& slo);

// Poisson arrivals at rate_rps. The same seed gives the same lengths and the same
// unit-exponential gaps (scaled by 1/rate) at every rate: common random numbers, so
// figures change smoothly with the rate.
Result<SimStats> RunPoisson(const ServerConfig& cfg, const LengthSampler& lengths,
                            double rate_rps, const RunOptions& opt);
// A trace replayed with its own arrival times (scale it with TraceOptions first).
Result<SimStats> RunTrace(const ServerConfig& cfg, const std::vector<TraceRequest>& trace,
                          const RunOptions& opt);
// Any arrival list, sorted by arrival.
Result<SimStats> RunArrivals(const ServerConfig& cfg, const std::vector<SimRequest>& reqs,
                             double warmup_fraction);

// Highest request rate a replica sustains: all requests arrive at once and the
// throughput between the 10th and 90th percentile of finishing times is taken.
Result<double> SaturationRate(const ServerConfig& cfg, const LengthSampler& lengths,
                              const RunOptions& opt);

struct SearchOptions {
  RunOptions run;
  double rel_tol = 0.01;  // stop when (hi − lo) <= rel_tol · lo
};
struct SearchResult {
  double max_rate_rps = 0;
  double saturation_rps = 0;
  SimStats at_max;
  std::vector<std::pair<double, bool>> probes;  // (rate, met) in evaluation order
};
// The sustainable rate by simulation: bisection on the rate between 2% and 125% of
// the saturation rate; a rate "meets" when the run is stable and every SLO term
// holds on its simulated percentiles. Same seed at every probe (common random
// numbers). VARIANT_E_SLO_UNATTAINABLE when even 2% of saturation misses.
Result<SearchResult> SustainableRate(const ServerConfig& cfg, const LengthSampler& lengths,
                                     const std::vector<SloTerm>& slo, const SearchOptions& opt);

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_RUNNER_H_
