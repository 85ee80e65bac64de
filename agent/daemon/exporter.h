// The agent's Prometheus exporter (prometheus-cpp, pull). Metric names are listed in
// docs/bus.md. Thread-safety: the setters are called from the agent's loop thread;
// the HTTP server threads only read (prometheus-cpp metrics are thread-safe).
#ifndef VARIANT_AGENT_DAEMON_EXPORTER_H_
#define VARIANT_AGENT_DAEMON_EXPORTER_H_

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace agent {

class Exporter {
 public:
  // listen: "host:port"; "" makes a registry without an HTTP endpoint. Nothing
  // listens until Serve().
  explicit Exporter(const std::string& listen);
  // Starts the HTTP endpoint (throws on a bad address or a port in use).
  void Serve();
  ~Exporter();

  struct Replicas {
    std::string model, variant, role;
    double replicas;
  };
  // Replaces the desired-replicas series with exactly these.
  void SetDesired(const std::vector<Replicas>& r);
  // Replaces one model's series only (entries' model must equal `model`).
  void SetModelDesired(const std::string& model, const std::vector<Replicas>& r);
  struct Load {
    std::string model, variant;
    double value;
  };
  void SetLoad(const std::vector<Load>& l);
  void SetModelLoad(const std::string& model, const std::vector<Load>& l);
  struct Unserved {
    std::string model, service_class;
    double rps;
  };
  void SetUnserved(const std::vector<Unserved>& u);
  void SetCost(double cost_per_hour) { cost_->Set(cost_per_hour); }
  void ObserveSolve(double seconds) { solve_->Observe(seconds); }
  void SolverError(const std::string& code);
  void SolverOk() { solver_failing_->Set(0); }
  void MessageIn(const std::string& topic);
  void MessageOut(const std::string& topic);
  void Rejected(const std::string& reason);
  void SequenceGap(double missing) { gaps_->Increment(missing); }
  void SetStaleSources(double n) { stale_->Set(n); }
  // Per-source alert series: 1 while `source` is stale; removed when it speaks again.
  void SetSourceStale(const std::string& source, bool stale);
  // The homogeneous baseline of the optimizer's decision (docs/decision.md); NaN
  // total removes nothing but leaves the gauge unset. Per model: (model, accelerator,
  // cost per hour); replaces the previous set.
  struct Baseline {
    std::string model, accelerator;
    double cost_per_hour;
  };
  void SetBaseline(double total, const std::vector<Baseline>& per_model);
  // From the ZAP handler's thread (series made in the constructor: thread-safe).
  void AuthResult(bool publisher, bool accepted) {
    (publisher ? (accepted ? auth_pub_ok_ : auth_pub_refused_)
               : (accepted ? auth_sub_ok_ : auth_sub_refused_))->Increment();
  }
  void Event(double unix_time) { last_event_.store(unix_time); }
  std::vector<int> ports() const;

 private:
  std::string listen_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> age_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Gauge>* desired_fam_;
  prometheus::Family<prometheus::Gauge>* load_fam_;
  prometheus::Family<prometheus::Gauge>* unserved_fam_;
  prometheus::Family<prometheus::Counter>* in_fam_;
  prometheus::Family<prometheus::Counter>* out_fam_;
  prometheus::Family<prometheus::Counter>* rej_fam_;
  prometheus::Family<prometheus::Counter>* err_fam_;
  prometheus::Family<prometheus::Gauge>* source_stale_fam_;
  prometheus::Family<prometheus::Gauge>* model_baseline_fam_;
  std::map<std::string, prometheus::Gauge*> source_stale_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> model_baseline_;
  prometheus::Gauge* baseline_ = nullptr;
  prometheus::Counter *auth_pub_ok_, *auth_pub_refused_, *auth_sub_ok_, *auth_sub_refused_;
  prometheus::Gauge* cost_;
  prometheus::Gauge* solver_failing_;
  prometheus::Gauge* stale_;
  prometheus::Counter* gaps_;
  prometheus::Histogram* solve_;
  // model -> (variant, role) -> series
  std::map<std::string, std::map<std::pair<std::string, std::string>, prometheus::Gauge*>> desired_;
  // model -> variant -> series
  std::map<std::string, std::map<std::string, prometheus::Gauge*>> load_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> unserved_;
  std::map<std::string, prometheus::Counter*> in_, out_, rej_, err_;
  std::atomic<double> last_event_{0};
};

}  // namespace agent

#endif  // VARIANT_AGENT_DAEMON_EXPORTER_H_
