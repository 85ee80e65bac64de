// Simulated vLLM pods for the bridge and end-to-end tests: a ServerSim (real
// continuous-batching simulation on the measured tables) under Poisson arrivals,
// served over HTTP by MetricsHttpServer. The test's thread drives the virtual clock.
#ifndef VARIANT_TEST_BRIDGE_SIM_PODS_H_
#define VARIANT_TEST_BRIDGE_SIM_PODS_H_

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "context.h"
#include "sim/metrics_http.h"
#include "sim/server_sim.h"

namespace variant::sim::testing {

// One process-wide context (the operator tables) for all pods of a test binary.
inline Context* SharedContext() {
  static Context* ctx = [] {
    auto c = Context::Create(ResolveDataDir(nullptr));
    if (!c.ok()) {
      fprintf(stderr, "context: %s\n", c.status().ToString().c_str());
      std::abort();
    }
    return std::move(c.value()).release();
  }();
  return ctx;
}

class SimPod {
 public:
  // rate_rps Poisson arrivals of `input` prompt and `output` generated tokens on one
  // replica of model on accelerator (TP 1).
  SimPod(const std::string& model, const std::string& accel, double rate_rps, int input,
         int output, uint64_t seed, ExpositionOptions opt = ExpositionOptions())
      : rate_(rate_rps), input_(input), output_(output), rng_(seed), http_(Named(opt, model)) {
    auto step = SharedContext()->GetStepModel(model, accel, 1);
    if (!step.ok()) {
      ADD_FAILURE() << step.status().ToString();
      return;
    }
    ServerConfig cfg;
    cfg.step = *step;
    sim_ = std::move(ServerSim::Create(cfg).value());
    next_ = Gap();
    http_.Update(*sim_);
  }
  // Runs the pod up to virtual time t (s) and publishes its metrics.
  void AdvanceTo(double t) {
    while (next_ < t) {
      SimRequest r;
      r.id = ++id_;
      r.arrival_s = next_;
      r.input_tokens = input_;
      r.output_tokens = output_;
      sim_->AdvanceTo(next_);
      EXPECT_TRUE(sim_->Enqueue(r).ok());
      next_ += Gap();
    }
    sim_->AdvanceTo(t);
    http_.Update(*sim_);
    sim_->finished().clear();  // observed above
  }
  void SetRate(double rps) { rate_ = rps; }
  ServerSim& sim() { return *sim_; }
  MetricsHttpServer& http() { return http_; }
  std::string url() const { return http_.url(); }
  int port() const { return http_.port(); }
  uint64_t arrived() const { return id_; }

 private:
  static ExpositionOptions Named(ExpositionOptions o, const std::string& model) {
    o.model_name = model;
    return o;
  }
  double Gap() { return std::exponential_distribution<double>(rate_)(rng_); }
  double rate_;
  int input_, output_;
  std::mt19937_64 rng_;
  std::unique_ptr<ServerSim> sim_;
  MetricsHttpServer http_;
  double next_ = 0;
  uint64_t id_ = 0;
};

}  // namespace variant::sim::testing

#endif  // VARIANT_TEST_BRIDGE_SIM_PODS_H_
