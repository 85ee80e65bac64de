// Request traces for the simulator: readers for the Azure LLM inference trace (2023)
// as published and for a generic CSV, rate/time scaling, and the length mix of a
// trace as log-spaced (input × output) buckets usable as a variant::Workload.
//
// Formats (header optional for the generic one; '#' lines and blank lines skipped):
//   Azure:   TIMESTAMP,ContextTokens,GeneratedTokens
//            2023-11-16 18:17:03.9799600,4808,10      (UTC wall clock, sorted)
//   Generic: timestamp_s,input_tokens,output_tokens[,model][,class]
// A file whose first line starts with "TIMESTAMP" is read as Azure, any other as
// generic. Errors name the file and the 1-based line number.
// Pure functions; thread-safe.
#ifndef VARIANT_BRIDGE_SIM_TRACE_H_
#define VARIANT_BRIDGE_SIM_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "perf/queue_model.h"
#include "status.h"

namespace variant::sim {

struct TraceRequest {
  double arrival_s = 0;   // seconds after the trace's first request
  int input_tokens = 0;   // >= 1
  int output_tokens = 0;  // >= 1
  std::string model;      // generic CSV's optional 4th column, else empty
  std::string cls;        // generic CSV's optional 5th column, else empty
};

struct TraceOptions {
  // time_scale X plays the trace X times faster: every arrival time t becomes t / X
  // (duration / X, rate × X, same requests).
  double time_scale = 1;
  // rate_scale X keeps the duration and the shape in time and multiplies the number
  // of requests by X: copy j (j = 0, 1, …) of each request is kept with probability
  // min(1, X − j); copies j >= 1 land uniformly inside the gap to the next request
  // (so X = 2 doubles the rate without piling requests onto the same instant).
  // X < 1 thins the trace at random. Seeded, deterministic.
  double rate_scale = 1;
  uint64_t seed = 1;
  // Zero-length prompts or outputs in a trace are raised to 1 token (vLLM needs at
  // least one of each); when false they are errors.
  bool clamp_zero_lengths = true;
};

// Reads a trace file (format detected from its first line). Arrivals are relative
// to the first request and sorted. Errors: VARIANT_E_IO (cannot open),
// VARIANT_E_PARSE ("FILE:LINE: …" for a malformed line, a negative/NaN/non-integer
// length, a NaN/negative timestamp, timestamps going backwards, an empty trace).
Result<std::vector<TraceRequest>> ReadTrace(const std::string& path,
                                            const TraceOptions& opt = {});

// The same from text already in memory; `name` stands for the file in messages.
Result<std::vector<TraceRequest>> ParseTrace(const std::string& text, const std::string& name,
                                             const TraceOptions& opt = {});

// Applies TraceOptions' scaling to an already-read trace (ReadTrace does this).
std::vector<TraceRequest> ScaleTrace(const std::vector<TraceRequest>& in,
                                     const TraceOptions& opt);

// The length mix of a trace: buckets with edges at powers of `ratio` (e.g. 2:
// [1,2), [2,4), [4,8) … tokens) in input and output, each non-empty bucket
// represented by the mean input and mean output of its requests, weighted by its
// count. prefix_hit_ratio is left 0.
Workload LengthMix(const std::vector<TraceRequest>& reqs, double ratio = 2);

// LengthMix, then made consistent with a router that sends each request to the
// representative nearest in log-length (|ln(in/in_b)| + |ln(out/out_b)|, as the
// simulated gateway, variant_client_weights and the EPP plugin do): each request is
// assigned to its nearest representative, each representative becomes the mean of the
// requests assigned to it (a few Lloyd passes), and the weights are the final
// assignment's counts. With LengthMix's weights a tail bucket's representative (e.g.
// 4400 x 98 tokens) is nearer than its own bucket's for many requests of the bucket
// below, so a variant the solver gave that slice received several times its planned
// rate (docs/simulator.md).
Workload RoutedLengthMix(const std::vector<TraceRequest>& reqs, double ratio = 2);

// A documented synthetic mix with the given means, used when only means are known:
// input and output independent, each lognormal with sigma = 0.6 (coefficient of
// variation 0.66), cut into 7 equal-probability bins; each bin is represented by the
// lognormal's conditional mean on it, so the mix's means are exactly the requested
// ones. 49 buckets of weight 1/49.
Workload LognormalMix(double input_mean, double output_mean);

// The long-context mix of the model-vs-sim table: inputs log-uniform on
// [8192, 16384] tokens, outputs log-uniform on [128, 512] (document summarization /
// long-context QA), 4 × 3 buckets of equal weight at the geometric bucket centres.
Workload LongContextMix();

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_TRACE_H_
