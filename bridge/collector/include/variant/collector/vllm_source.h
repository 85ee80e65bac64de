// Scrapes a set of vLLM pods and turns what it derives into the bus's `metrics`
// messages (agent/bus/protocol.h), one per model and variant, for the node agent or
// any collector process to publish.
//
// Pods of one variant are aggregated: arrival rates and running/waiting add up;
// KV usage is the mean over pods; lengths, TTFT and ITL means are weighted by the
// observations in each pod's window; the prefix-cache ratio by completions. When any
// pod of a variant has no valid window (first scrape, counter reset) or did not
// answer, the variant's quantities are NaN, i.e. unknown, which the agent holds
// instead of reading as zero load; replicas_ready counts the pods that answered.
//
// Thread-safety: one thread at a time (it owns a Deriver).
#ifndef VARIANT_COLLECTOR_VLLM_SOURCE_H_
#define VARIANT_COLLECTOR_VLLM_SOURCE_H_

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bus/protocol.h"
#include "variant/collector/derive.h"
#include "variant/collector/scrape.h"

namespace variant::collector {

struct Target {
  std::string url;            // http://host:port/metrics
  std::string pod;            // identity for counter-reset tracking (default: url)
  std::string variant;        // the variant this pod serves
  std::string service_class;  // "" = the model's default class
};

struct VariantGroupKey {
  std::string model, variant, service_class;
  bool operator<(const VariantGroupKey& o) const {
    return std::tie(model, variant, service_class) <
           std::tie(o.model, o.variant, o.service_class);
  }
};

// Combines the observations of the pods of one variant into one bus message.
// `pods_expected` is the number of pods of the variant that were scraped (answered
// or not); any shortfall makes every rate and mean NaN.
bus::Metrics Aggregate(const VariantGroupKey& key, const std::vector<Observation>& obs,
                       int pods_expected);

class VllmSource {
 public:
  explicit VllmSource(std::vector<Target> targets, ScrapeOptions opt = ScrapeOptions());

  // Scrapes every target once at time now_s (monotonic seconds). Fills *out with one
  // message per (model, variant, class) seen now or before. Returns false only when
  // no target answered, with *err naming each failure; partial failures are listed
  // in errors() and still return true.
  bool Collect(double now_s, std::vector<bus::Metrics>* out, std::string* err);
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<Target> targets_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::string> bad_targets_;
  ScrapeOptions opt_;
  Deriver deriver_;
  std::vector<std::string> errors_;
  // (model, variant, class) -> pods of the variant, remembered so a variant whose
  // pods all stopped answering is still reported (as unknown).
  std::map<VariantGroupKey, std::vector<std::string>> seen_;
};

}  // namespace variant::collector

#endif  // VARIANT_COLLECTOR_VLLM_SOURCE_H_
