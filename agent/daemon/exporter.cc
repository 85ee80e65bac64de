#include "exporter.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cmath>

namespace agent {
namespace {

// variant_agent_last_event_age_seconds, computed at scrape time.
class AgeCollectable : public prometheus::Collectable {
 public:
  explicit AgeCollectable(const std::atomic<double>* t) : t_(t) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily f;
    f.name = "variant_agent_last_event_age_seconds";
    f.help = "Seconds since the agent last received a valid bus message (-1: never)";
    f.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric m;
    double t = t_->load();
    double now = std::chrono::duration<double>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
    m.gauge.value = t > 0 ? now - t : -1;
    f.metric.push_back(m);
    return {f};
  }

 private:
  const std::atomic<double>* t_;
};

prometheus::Counter* Lookup(std::map<std::string, prometheus::Counter*>* cache,
                            prometheus::Family<prometheus::Counter>* fam, const char* label,
                            const std::string& value) {
  auto it = cache->find(value);
  if (it != cache->end()) return it->second;
  auto* c = &fam->Add({{label, value}});
  cache->emplace(value, c);
  return c;
}

}  // namespace

Exporter::Exporter(const std::string& listen)
    : listen_(listen), registry_(std::make_shared<prometheus::Registry>()) {
  using namespace prometheus;
  desired_fam_ = &BuildGauge().Name("variant_desired_replicas")
                      .Help("Replicas the agent decided, per model, variant and role")
                      .Register(*registry_);
  load_fam_ = &BuildGauge().Name("variant_load_signal")
                   .Help("Demand assigned / SLO capacity per variant (1.0 = at capacity)")
                   .Register(*registry_);
  unserved_fam_ = &BuildGauge().Name("variant_unserved_demand_rps")
                       .Help("Demand the decision could not serve, per model and class")
                       .Register(*registry_);
  cost_ = &BuildGauge().Name("variant_cost_per_hour")
               .Help("Cost per hour of the current decision")
               .Register(*registry_).Add({});
  solve_ = &BuildHistogram().Name("variant_solve_seconds")
                .Help("Wall time of one decision (libvariant solve + policy plugins)")
                .Register(*registry_)
                .Add({}, Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1, 2.5, 5, 10});
  in_fam_ = &BuildCounter().Name("variant_bus_messages_in_total")
                 .Help("Valid bus messages received, per topic").Register(*registry_);
  out_fam_ = &BuildCounter().Name("variant_bus_messages_out_total")
                  .Help("Bus messages published by the agent, per topic").Register(*registry_);
  rej_fam_ = &BuildCounter().Name("variant_bus_messages_rejected_total")
                  .Help("Bus messages rejected, per reason").Register(*registry_);
  err_fam_ = &BuildCounter().Name("variant_solver_errors_total")
                  .Help("Failed decisions, per status code").Register(*registry_);
  solver_failing_ = &BuildGauge().Name("variant_solver_failing")
                         .Help("1 while the last decision attempt failed (last good one kept)")
                         .Register(*registry_).Add({});
  stale_ = &BuildGauge().Name("variant_bus_stale_sources")
                .Help("Sources silent for longer than bus.stale_after_s (data held)")
                .Register(*registry_).Add({});
  gaps_ = &BuildCounter().Name("variant_bus_sequence_gap_messages_total")
               .Help("Messages missing according to per-source sequence numbers")
               .Register(*registry_).Add({});
  source_stale_fam_ = &BuildGauge().Name("variant_bus_source_stale")
                          .Help("1 while this source is silent beyond bus.stale_after_s "
                                "(its data held; alert on it)")
                          .Register(*registry_);
  model_baseline_fam_ =
      &BuildGauge().Name("variant_model_baseline_cost_per_hour")
           .Help("Cost per hour of serving this model homogeneously on one accelerator type "
                 "(the decision's baseline)")
           .Register(*registry_);
  auto& auth = BuildCounter().Name("variant_bus_auth_total")
                   .Help("CURVE handshakes judged by the agent's ZAP handler")
                   .Register(*registry_);
  auth_pub_ok_ = &auth.Add({{"side", "publisher"}, {"result", "accepted"}});
  auth_pub_refused_ = &auth.Add({{"side", "publisher"}, {"result", "refused"}});
  auth_sub_ok_ = &auth.Add({{"side", "subscriber"}, {"result", "accepted"}});
  auth_sub_refused_ = &auth.Add({{"side", "subscriber"}, {"result", "refused"}});
  age_ = std::make_shared<AgeCollectable>(&last_event_);
}

void Exporter::Serve() {
  if (listen_.empty() || exposer_) return;
  exposer_ = std::make_unique<prometheus::Exposer>(listen_, 1);
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(age_);
}

void Exporter::SetSourceStale(const std::string& source, bool stale) {
  auto it = source_stale_.find(source);
  if (stale && it == source_stale_.end()) {
    source_stale_.emplace(source, &source_stale_fam_->Add({{"source", source}}))
        .first->second->Set(1);
  } else if (!stale && it != source_stale_.end()) {
    source_stale_fam_->Remove(it->second);
    source_stale_.erase(it);
  }
}

void Exporter::SetBaseline(double total, const std::vector<Baseline>& per_model) {
  if (std::isfinite(total)) {
    if (baseline_ == nullptr)
      baseline_ = &prometheus::BuildGauge()
                       .Name("variant_baseline_cost_per_hour")
                       .Help("Cost per hour of the decision's homogeneous baseline (each model "
                             "on its cheapest single accelerator type)")
                       .Register(*registry_)
                       .Add({});
    baseline_->Set(total);
  }
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> next;
  for (const auto& b : per_model) {
    auto key = std::make_pair(b.model, b.accelerator);
    auto it = model_baseline_.find(key);
    prometheus::Gauge* g;
    if (it != model_baseline_.end()) {
      g = it->second;
      model_baseline_.erase(it);
    } else {
      g = &model_baseline_fam_->Add({{"model", b.model}, {"accelerator", b.accelerator}});
    }
    g->Set(b.cost_per_hour);
    next[key] = g;
  }
  for (auto& [k, g] : model_baseline_) model_baseline_fam_->Remove(g);
  model_baseline_ = std::move(next);
}

Exporter::~Exporter() = default;

std::vector<int> Exporter::ports() const {
  return exposer_ ? exposer_->GetListeningPorts() : std::vector<int>{};
}

void Exporter::SetModelDesired(const std::string& model, const std::vector<Replicas>& r) {
  auto& cur = desired_[model];
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> next;
  for (const auto& e : r) {
    auto key = std::make_pair(e.variant, e.role);
    auto it = cur.find(key);
    prometheus::Gauge* g;
    if (it != cur.end()) {
      g = it->second;
      cur.erase(it);
    } else {
      g = &desired_fam_->Add({{"model", model}, {"variant", e.variant}, {"role", e.role}});
    }
    g->Set(e.replicas);
    next[key] = g;
  }
  for (auto& [k, g] : cur) desired_fam_->Remove(g);
  if (next.empty())
    desired_.erase(model);
  else
    cur = std::move(next);
}

void Exporter::SetDesired(const std::vector<Replicas>& r) {
  std::map<std::string, std::vector<Replicas>> by_model;
  for (const auto& e : r) by_model[e.model].push_back(e);
  std::vector<std::string> gone;
  for (const auto& [m, _] : desired_)
    if (!by_model.count(m)) gone.push_back(m);
  for (const auto& m : gone) SetModelDesired(m, {});
  for (const auto& [m, v] : by_model) SetModelDesired(m, v);
}

void Exporter::SetModelLoad(const std::string& model, const std::vector<Load>& l) {
  auto& cur = load_[model];
  std::map<std::string, prometheus::Gauge*> next;
  for (const auto& e : l) {
    auto it = cur.find(e.variant);
    prometheus::Gauge* g;
    if (it != cur.end()) {
      g = it->second;
      cur.erase(it);
    } else {
      g = &load_fam_->Add({{"model", model}, {"variant", e.variant}});
    }
    g->Set(e.value);
    next[e.variant] = g;
  }
  for (auto& [k, g] : cur) load_fam_->Remove(g);
  if (next.empty())
    load_.erase(model);
  else
    cur = std::move(next);
}

void Exporter::SetLoad(const std::vector<Load>& l) {
  std::map<std::string, std::vector<Load>> by_model;
  for (const auto& e : l) by_model[e.model].push_back(e);
  std::vector<std::string> gone;
  for (const auto& [m, _] : load_)
    if (!by_model.count(m)) gone.push_back(m);
  for (const auto& m : gone) SetModelLoad(m, {});
  for (const auto& [m, v] : by_model) SetModelLoad(m, v);
}

void Exporter::SetUnserved(const std::vector<Unserved>& u) {
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> next;
  for (const auto& e : u) {
    auto key = std::make_pair(e.model, e.service_class);
    auto it = unserved_.find(key);
    prometheus::Gauge* g;
    if (it != unserved_.end()) {
      g = it->second;
      unserved_.erase(it);
    } else {
      g = &unserved_fam_->Add({{"model", e.model}, {"class", e.service_class}});
    }
    g->Set(e.rps);
    next[key] = g;
  }
  for (auto& [k, g] : unserved_) unserved_fam_->Remove(g);
  unserved_ = std::move(next);
}

void Exporter::SolverError(const std::string& code) {
  Lookup(&err_, err_fam_, "code", code)->Increment();
  solver_failing_->Set(1);
}
void Exporter::MessageIn(const std::string& topic) { Lookup(&in_, in_fam_, "topic", topic)->Increment(); }
void Exporter::MessageOut(const std::string& topic) {
  Lookup(&out_, out_fam_, "topic", topic)->Increment();
}
void Exporter::Rejected(const std::string& reason) {
  Lookup(&rej_, rej_fam_, "reason", reason)->Increment();
}

}  // namespace agent
