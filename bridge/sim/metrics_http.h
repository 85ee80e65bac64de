// A simulated server's /metrics over HTTP: the vLLM Prometheus exposition (text format
// 0.0.4) of one ServerSim's counters, gauges and histograms, under vLLM's current
// metric names (v1 engine: vllm:kv_cache_usage_perc, vllm:inter_token_latency_seconds,
// vllm:prefix_cache_{queries,hits}_total) or its legacy ones
// (vllm:gpu_cache_usage_perc, vllm:time_per_output_token_seconds,
// vllm:gpu_prefix_cache_hit_rate), so the collectors are tested against the
// simulator's servers instead of hand-written text.
//
// ServerSim is single-threaded, so the HTTP thread never reads it: the thread driving
// the simulation calls Update(sim) after advancing it, which renders the exposition
// into a string that the HTTP thread serves until the next Update.
#ifndef VARIANT_BRIDGE_SIM_METRICS_HTTP_H_
#define VARIANT_BRIDGE_SIM_METRICS_HTTP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sim/server_sim.h"

namespace httplib {
class Server;
}

namespace variant::sim {

enum class VllmNames { kCurrent, kLegacy };

struct ExpositionOptions {
  std::string model_name = "llama-3-8b";          // the model_name label
  std::map<std::string, std::string> extra_labels;  // added to every vllm: series
  VllmNames names = VllmNames::kCurrent;
  double process_start_time_s = 1.7e9;  // a new value tells the collector of a restart
};

// Per-request distributions vLLM exports that ServerSim does not keep as histograms
// (prompt and generation lengths). Fed from the sim's finished requests.
class VllmMetricsState {
 public:
  // Reads the requests the sim finished since the last call (the newest
  // counters().requests_finished − seen entries of sim.finished()): call it before the
  // caller moves finished() out.
  void Observe(ServerSim& sim);
  // The exposition of sim's current state.
  std::string Render(const ServerSim& sim, const ExpositionOptions& opt) const;
  // From now on counters count from zero (a restarted pod): the current totals become
  // the baseline subtracted from every later Render.
  void Reset(ServerSim& sim);

 private:
  uint64_t seen_ = 0;
  ServerCounters base_;
  std::vector<uint64_t> prompt_buckets_, generation_buckets_;  // per le, cumulative later
  double prompt_sum_ = 0, generation_sum_ = 0;
  uint64_t count_ = 0;
};

// vLLM's bucket boundaries (seconds or tokens).
const std::vector<double>& VllmTtftBuckets();
const std::vector<double>& VllmItlBuckets();
const std::vector<double>& VllmE2eBuckets();
const std::vector<double>& VllmLengthBuckets();  // 1-2-5 series up to 100k tokens

// Serves GET /metrics on 127.0.0.1 (an ephemeral port unless given) from its own
// thread. Update/Status are thread-safe.
class MetricsHttpServer {
 public:
  explicit MetricsHttpServer(ExpositionOptions opt, int port = 0);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Observes and renders sim's state (call from the thread driving sim; it reads sim.finished(), which is non-const).
  void Update(ServerSim& sim);
  // Answer /metrics with this HTTP status (e.g. 500) instead of the exposition.
  void SetStatus(int status);
  // A restart of the pod: from now on counters count from zero (sim's totals so far
  // are subtracted) and the exposition carries the new process start time.
  void Restart(ServerSim& sim, double process_start_time_s);
  int port() const { return port_; }
  std::string url() const;
  uint64_t scrapes() const;

 private:
  ExpositionOptions opt_;
  VllmMetricsState state_;  // driving thread only
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string body_;
  int status_ = 200;
  uint64_t scrapes_ = 0;
  int port_ = 0;
};

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_METRICS_HTTP_H_
