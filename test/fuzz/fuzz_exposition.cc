// The vLLM /metrics text (Prometheus exposition 0.0.4) and the demand derived from two
// successive scrapes of one pod. Input: the first scrape, optionally followed by
// "\n#--scrape--\n" and the second (30 s later).
#include <cmath>
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "variant/collector/derive.h"
#include "variant/collector/exposition.h"

using variant::collector::Deriver;
using variant::collector::Exposition;
using variant::collector::Observation;
using variant::collector::ParseError;

namespace {
void CheckObservation(const Observation& o) {
  // Rates are never negative and ratios stay in [0, 1] (derive.h).
  for (const auto& r : {o.completion_rps, o.arrival_rps, o.prompt_tokens_per_s,
                        o.generation_tokens_per_s})
    if (r) FUZZ_CHECK(*r >= 0);
  if (o.prefix_hit_ratio) FUZZ_CHECK(*o.prefix_hit_ratio >= 0 && *o.prefix_hit_ratio <= 1);
  // What the collector prints is one valid JSON object (no NaN: absent is omitted).
  auto j = nlohmann::json::parse(variant::collector::ObservationToJson(o), nullptr, false);
  FUZZ_CHECK(j.is_object());
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [first, second] = fuzz::Split(fuzz::View(data, size), "\n#--scrape--\n");
  Exposition a, b;
  ParseError err;
  if (!variant::collector::ParseExposition(first, &a, &err)) {
    FUZZ_CHECK(!err.message.empty());
    return 0;
  }
  for (const auto& s : a.samples) a.TypeOf(s.name);
  Deriver d;
  for (const Observation& o : d.Update("pod-0", 100, a)) CheckObservation(o);
  if (second.empty() || !variant::collector::ParseExposition(second, &b, &err)) return 0;
  for (const Observation& o : d.Update("pod-0", 130, b)) CheckObservation(o);
  return 0;
}
