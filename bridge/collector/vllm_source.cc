#include "variant/collector/vllm_source.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace variant::collector {
namespace {

const double kNaN = std::nan("");

double Or(const std::optional<double>& v) { return v ? *v : kNaN; }

// Weighted mean of per-pod means; NaN if any weighted pod lacks its mean.
double WeightedMean(const std::vector<Observation>& obs,
                    const Distribution Observation::*field) {
  double sum = 0, weight = 0;
  for (const Observation& o : obs) {
    const Distribution& d = o.*field;
    if (d.count <= 0) continue;
    if (!d.mean) return kNaN;
    sum += *d.mean * d.count;
    weight += d.count;
  }
  return weight > 0 ? sum / weight : kNaN;
}

}  // namespace

bus::Metrics Aggregate(const VariantGroupKey& key, const std::vector<Observation>& obs,
                       int pods_expected) {
  bus::Metrics m;
  m.model = key.model;
  m.variant = key.variant;
  m.service_class = key.service_class;
  m.replicas_ready = static_cast<int>(obs.size());
  if (obs.empty() || static_cast<int>(obs.size()) < pods_expected) return m;

  bool gauges = true, rates = true;
  double running = 0, waiting = 0, kv = 0, arrival = 0;
  for (const Observation& o : obs) {
    gauges = gauges && o.running && o.waiting;
    if (gauges) {
      running += *o.running;
      waiting += *o.waiting;
    }
    rates = rates && o.rates_valid && o.arrival_rps;
    if (rates) arrival += *o.arrival_rps;
  }
  if (gauges) {
    m.running = running;
    m.waiting = waiting;
  }
  int kv_n = 0;
  for (const Observation& o : obs) {
    if (o.kv_usage) {
      kv += *o.kv_usage;
      ++kv_n;
    }
  }
  if (kv_n == static_cast<int>(obs.size())) m.kv_usage = kv / kv_n;
  if (!rates) return m;
  m.arrival_rate_rps = arrival;
  m.input_mean = WeightedMean(obs, &Observation::input_len);
  m.output_mean = WeightedMean(obs, &Observation::output_len);
  m.ttft_mean_ms = WeightedMean(obs, &Observation::ttft_s) * 1000.0;
  m.itl_mean_ms = WeightedMean(obs, &Observation::itl_s) * 1000.0;
  double hit = 0, w = 0;
  bool hit_ok = true;
  for (const Observation& o : obs) {
    double weight = Or(o.completion_rps);
    if (!o.prefix_hit_ratio || std::isnan(weight)) {
      hit_ok = false;
      break;
    }
    hit += *o.prefix_hit_ratio * std::max(weight, 1e-9);
    w += std::max(weight, 1e-9);
  }
  if (hit_ok && w > 0) m.prefix_hit_ratio = hit / w;
  return m;
}

VllmSource::VllmSource(std::vector<Target> targets, ScrapeOptions opt)
    : targets_(std::move(targets)), opt_(opt) {
  for (Target& t : targets_) {
    if (t.pod.empty()) t.pod = t.url;
    Endpoint ep;
    std::string err;
    if (!ParseEndpoint(t.url, &ep, &err)) bad_targets_.push_back(err);
    endpoints_.push_back(ep);
  }
}

bool VllmSource::Collect(double now_s, std::vector<bus::Metrics>* out, std::string* err) {
  out->clear();
  errors_ = bad_targets_;
  std::map<VariantGroupKey, std::vector<Observation>> groups;
  std::map<std::string, std::set<VariantGroupKey>> pod_groups;  // for pods that failed
  for (const auto& [key, pods] : seen_) {
    for (const std::string& p : pods) pod_groups[p].insert(key);
  }
  std::map<VariantGroupKey, int> expected;
  int answered = 0;
  for (size_t i = 0; i < targets_.size(); ++i) {
    const Target& t = targets_[i];
    if (endpoints_[i].host.empty()) continue;
    ScrapeResult r = Scrape(endpoints_[i], opt_);
    Exposition e;
    ParseError pe;
    if (!r.ok) {
      errors_.push_back(t.pod + ": " + r.error);
    } else if (!ParseExposition(r.body, &e, &pe)) {
      errors_.push_back(t.pod + ": " + FormatError(pe));
    } else {
      ++answered;
      for (Observation& o : deriver_.Update(t.pod, now_s, e)) {
        VariantGroupKey key{o.model, t.variant, t.service_class};
        auto& pods = seen_[key];
        if (std::find(pods.begin(), pods.end(), t.pod) == pods.end()) pods.push_back(t.pod);
        groups[key].push_back(std::move(o));
        ++expected[key];
      }
      continue;
    }
    // A pod that did not answer or sent garbage: its variants are short of a pod, and
    // its window restarts when it comes back.
    deriver_.Forget(t.pod);
    for (const VariantGroupKey& key : pod_groups[t.pod]) ++expected[key];
  }
  for (const auto& [key, pods] : seen_) {
    auto g = groups.find(key);
    static const std::vector<Observation> kNone;
    out->push_back(Aggregate(key, g == groups.end() ? kNone : g->second, expected[key]));
  }
  if (answered == 0 && !targets_.empty()) {
    *err = "no target answered";
    for (const std::string& e : errors_) *err += "; " + e;
    return false;
  }
  return true;
}

}  // namespace variant::collector
