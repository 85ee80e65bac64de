// The simulator's trace readers (bridge/sim/trace.h): the Azure 2023 CSV and the
// generic CSV, then the length mix and the rate/time scaling of what was read.
#include <cmath>

#include "fuzz_util.h"
#include "sim/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  variant::sim::TraceOptions opt;
  opt.clamp_zero_lengths = size % 2 == 0;
  auto r = variant::sim::ParseTrace(text, "fuzz.csv", opt);
  if (!r.ok()) {
    FUZZ_CHECK(!r.status().message().empty());
    return 0;
  }
  const auto& reqs = *r;
  FUZZ_CHECK(!reqs.empty());
  double last = 0;
  for (const auto& q : reqs) {
    FUZZ_CHECK(std::isfinite(q.arrival_s) && q.arrival_s >= last);
    FUZZ_CHECK(q.input_tokens >= 1 && q.output_tokens >= 1);
    last = q.arrival_s;
  }
  variant::sim::LengthMix(reqs);
  if (reqs.size() <= 4096) {
    variant::sim::TraceOptions s;
    s.rate_scale = 2.5;
    s.time_scale = 0.5;
    variant::sim::ScaleTrace(reqs, s);
  }
  return 0;
}
