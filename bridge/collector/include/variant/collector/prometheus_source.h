// The same demand as VllmSource, read from a Prometheus server that already scrapes
// the vLLM pods (its HTTP API, /api/v1/query), for clusters where Prometheus is the
// one place that talks to the model servers.
//
// Series are grouped by model_name and a variant label (by default `variant`, which
// the scrape configuration attaches to the pods' series, e.g. from a pod label through
// a PodMonitor relabeling). Rates come from PromQL's rate() over `window`, which
// handles counter resets; old and new vLLM metric names are both queried (`or`).
// A quantity Prometheus has no value for (no series, NaN, division by zero) is NaN,
// i.e. absent on the bus, never zero.
//
// Thread-safety: Collect() may be called from one thread at a time.
#ifndef VARIANT_COLLECTOR_PROMETHEUS_SOURCE_H_
#define VARIANT_COLLECTOR_PROMETHEUS_SOURCE_H_

#include <map>
#include <string>
#include <vector>

#include "bus/protocol.h"
#include "variant/collector/scrape.h"

namespace variant::collector {

struct PrometheusOptions {
  Endpoint server{"127.0.0.1", 9090, ""};  // path unused
  std::string window = "1m";               // the rate() range
  std::string matchers;                    // extra label matchers, e.g. namespace="llm"
  std::string variant_label = "variant";
  double timeout_s = 10;
};

class PrometheusSource {
 public:
  explicit PrometheusSource(PrometheusOptions opt) : opt_(std::move(opt)) {}

  // One message per (model, variant) Prometheus knows. Returns false with *err when
  // the server cannot be queried or answers an error.
  bool Collect(std::vector<bus::Metrics>* out, std::string* err);

  // The PromQL queries, by quantity (for logs and the docs).
  std::map<std::string, std::string> Queries() const;

 private:
  PrometheusOptions opt_;
};

}  // namespace variant::collector

#endif  // VARIANT_COLLECTOR_PROMETHEUS_SOURCE_H_
