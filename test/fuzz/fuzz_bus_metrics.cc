// The bus `metrics` body (docs/bus.md).
#include <cmath>

#include "bus/protocol.h"
#include "fuzz_util.h"

namespace {
bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bus::Metrics m;
  bus::DecodeError err;
  if (!bus::DecodeMetrics(data, size, &m, &err)) {
    FUZZ_CHECK(err.reason != bus::Reject::kNone && !err.detail.empty());
    return 0;
  }
  FUZZ_CHECK(!m.model.empty());
  for (double v : {m.arrival_rate_rps, m.input_mean, m.output_mean, m.running, m.waiting,
                   m.kv_usage, m.ttft_mean_ms, m.itl_mean_ms, m.prefix_hit_ratio})
    FUZZ_CHECK(std::isnan(v) || (std::isfinite(v) && v >= 0));
  FUZZ_CHECK(std::isnan(m.kv_usage) || m.kv_usage <= 1);
  // Round trip: the encoder writes what the decoder accepted, unchanged.
  std::string again = bus::EncodeMetrics(m);
  bus::Metrics m2;
  FUZZ_CHECK(bus::DecodeMetrics(again.data(), again.size(), &m2, &err));
  FUZZ_CHECK(m2.model == m.model && m2.variant == m.variant &&
             m2.service_class == m.service_class);
  FUZZ_CHECK(Same(m2.arrival_rate_rps, m.arrival_rate_rps) && Same(m2.kv_usage, m.kv_usage) &&
             Same(m2.input_mean, m.input_mean) && Same(m2.output_mean, m.output_mean));
  FUZZ_CHECK(m2.replicas_ready == m.replicas_ready &&
             m2.replicas_starting == m.replicas_starting);
  return 0;
}
