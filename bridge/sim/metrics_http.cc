#include "sim/metrics_http.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace variant::sim {

const std::vector<double>& VllmTtftBuckets() {
  static const std::vector<double> b = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                        0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0,
                                        20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
  return b;
}

const std::vector<double>& VllmItlBuckets() {
  static const std::vector<double> b = {0.01, 0.025, 0.05, 0.075, 0.1,  0.15, 0.2,
                                        0.3,  0.4,   0.5,  0.75,  1.0,  2.5,  5.0,
                                        7.5,  10.0,  20.0, 40.0,  80.0};
  return b;
}

const std::vector<double>& VllmE2eBuckets() {
  static const std::vector<double> b = {0.3,  0.5,  0.8,  1.0,   1.5,   2.0,   2.5,
                                        5.0,  10.0, 15.0, 20.0,  30.0,  40.0,  50.0,
                                        60.0, 120., 240., 480.0, 960.0, 1920., 7680.};
  return b;
}

const std::vector<double>& VllmLengthBuckets() {
  static const std::vector<double> b = [] {
    std::vector<double> v;
    for (double m = 1; m <= 1e5; m *= 10)
      for (double k : {1.0, 2.0, 5.0})
        if (k * m <= 1e5) v.push_back(k * m);
    return v;
  }();
  return b;
}

void VllmMetricsState::Observe(ServerSim& sim) {
  const auto& le = VllmLengthBuckets();
  if (prompt_buckets_.empty()) {
    prompt_buckets_.assign(le.size(), 0);
    generation_buckets_.assign(le.size(), 0);
  }
  const uint64_t total = sim.counters().requests_finished;
  const auto& fin = sim.finished();
  const uint64_t fresh = std::min<uint64_t>(total - std::min(seen_, total), fin.size());
  for (size_t i = fin.size() - fresh; i < fin.size(); ++i) {
    const RequestResult& r = fin[i];
    auto add = [&](std::vector<uint64_t>* b, double v) {
      for (size_t k = 0; k < le.size(); ++k)
        if (v <= le[k]) ++(*b)[k];  // cumulative: every bucket at or above v
    };
    add(&prompt_buckets_, r.input_tokens);
    add(&generation_buckets_, r.output_tokens);
    prompt_sum_ += r.input_tokens;
    generation_sum_ += r.output_tokens;
    ++count_;
  }
  seen_ = total;
}

void VllmMetricsState::Reset(ServerSim& sim) {
  Observe(sim);
  base_ = sim.counters();
  std::fill(prompt_buckets_.begin(), prompt_buckets_.end(), 0);
  std::fill(generation_buckets_.begin(), generation_buckets_.end(), 0);
  prompt_sum_ = generation_sum_ = 0;
  count_ = 0;
}

namespace {

// Prometheus text for a number: integers without a fraction, the rest round-trip.
std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

class Writer {
 public:
  explicit Writer(const ExpositionOptions& opt) {
    std::ostringstream l;
    l << "model_name=\"" << opt.model_name << "\"";
    for (const auto& [k, v] : opt.extra_labels) l << "," << k << "=\"" << v << "\"";
    labels_ = l.str();
  }
  void Type(const std::string& name, const char* type, const char* help) {
    o_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void Gauge(const std::string& name, double v, const char* help) {
    Type(name, "gauge", help);
    o_ << name << "{" << labels_ << "} " << Num(v) << "\n";
  }
  void Counter(const std::string& name, double v, const char* help, const std::string& extra = "") {
    Type(name, "counter", help);
    o_ << name << "{" << labels_ << extra << "} " << Num(v) << "\n";
  }
  // cum(i) = observations <= le[i]; count and sum over all.
  template <typename Cum>
  void Histogram(const std::string& name, const std::vector<double>& le, Cum cum, uint64_t count,
                 double sum, const char* help) {
    Type(name, "histogram", help);
    for (size_t i = 0; i < le.size(); ++i)
      o_ << name << "_bucket{" << labels_ << ",le=\"" << Num(le[i]) << "\"} " << cum(i) << "\n";
    o_ << name << "_bucket{" << labels_ << ",le=\"+Inf\"} " << count << "\n";
    o_ << name << "_sum{" << labels_ << "} " << Num(sum) << "\n";
    o_ << name << "_count{" << labels_ << "} " << count << "\n";
  }
  std::ostringstream& raw() { return o_; }
  std::string str() const { return o_.str(); }

 private:
  std::string labels_;
  std::ostringstream o_;
};

}  // namespace

std::string VllmMetricsState::Render(const ServerSim& sim, const ExpositionOptions& opt) const {
  const bool legacy = opt.names == VllmNames::kLegacy;
  ServerCounters c = sim.counters();
  c.ttft_ms.Subtract(base_.ttft_ms);
  c.itl_ms.Subtract(base_.itl_ms);
  c.e2e_ms.Subtract(base_.e2e_ms);
  const ServerGauges g = sim.gauges();
  Writer w(opt);
  w.raw() << "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
          << "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds "
          << Num(opt.process_start_time_s) << "\n";
  w.Gauge("vllm:num_requests_running", g.running, "Number of requests in model execution batches.");
  w.Gauge("vllm:num_requests_waiting", g.waiting, "Number of requests waiting to be processed.");
  w.Gauge(legacy ? "vllm:gpu_cache_usage_perc" : "vllm:kv_cache_usage_perc", g.kv_usage,
          "KV-cache usage. 1 means 100 percent usage.");
  const double finished = static_cast<double>(c.requests_finished - base_.requests_finished);
  w.Counter("vllm:request_success_total", finished, "Count of successfully processed requests.",
            ",finished_reason=\"length\"");
  const double prompt = static_cast<double>(c.prompt_tokens - base_.prompt_tokens);
  const double hits = static_cast<double>(c.prefix_hit_tokens - base_.prefix_hit_tokens);
  w.Counter("vllm:prompt_tokens_total", prompt + hits, "Number of prefill tokens processed.");
  w.Counter("vllm:generation_tokens_total",
            static_cast<double>(c.generation_tokens - base_.generation_tokens),
            "Number of generation tokens processed.");
  w.Counter("vllm:num_preemptions_total", static_cast<double>(c.preemptions - base_.preemptions),
            "Cumulative number of preemption from the engine.");
  if (legacy) {
    w.Gauge("vllm:gpu_prefix_cache_hit_rate", prompt + hits > 0 ? hits / (prompt + hits) : 0,
            "GPU prefix cache block hit rate.");
  } else {
    w.Counter("vllm:prefix_cache_queries_total", prompt + hits,
              "Prefix cache queries, in terms of number of queried tokens.");
    w.Counter("vllm:prefix_cache_hits_total", hits,
              "Prefix cache hits, in terms of number of cached tokens.");
  }
  const auto& le = VllmLengthBuckets();
  auto zeros = [&](size_t) { return uint64_t{0}; };
  if (prompt_buckets_.empty()) {
    w.Histogram("vllm:request_prompt_tokens", le, zeros, 0, 0, "Number of prefill tokens processed.");
    w.Histogram("vllm:request_generation_tokens", le, zeros, 0, 0,
                "Number of generation tokens processed.");
  } else {
    w.Histogram("vllm:request_prompt_tokens", le, [&](size_t i) { return prompt_buckets_[i]; },
                count_, prompt_sum_, "Number of prefill tokens processed.");
    w.Histogram("vllm:request_generation_tokens", le,
                [&](size_t i) { return generation_buckets_[i]; }, count_, generation_sum_,
                "Number of generation tokens processed.");
  }
  auto seconds = [&](const std::string& name, const LogHistogram& h, const std::vector<double>& b,
                     const char* help) {
    w.Histogram(name, b, [&](size_t i) { return h.CountAtMost(b[i] * 1e3); }, h.count(),
                h.sum() / 1e3, help);
  };
  seconds("vllm:time_to_first_token_seconds", c.ttft_ms, VllmTtftBuckets(),
          "Histogram of time to first token in seconds.");
  seconds(legacy ? "vllm:time_per_output_token_seconds" : "vllm:inter_token_latency_seconds",
          c.itl_ms, VllmItlBuckets(), "Histogram of inter-token latency in seconds.");
  seconds("vllm:e2e_request_latency_seconds", c.e2e_ms, VllmE2eBuckets(),
          "Histogram of e2e request latency in seconds.");
  return w.str();
}

MetricsHttpServer::MetricsHttpServer(ExpositionOptions opt, int port)
    : opt_(std::move(opt)), srv_(std::make_unique<httplib::Server>()) {
  srv_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> l(mu_);
    ++scrapes_;
    res.status = status_;
    if (status_ == 200)
      res.set_content(body_, "text/plain; version=0.0.4; charset=utf-8");
    else
      res.set_content("simulated failure\n", "text/plain");
  });
  if (port > 0) {
    port_ = srv_->bind_to_port("127.0.0.1", port) ? port : -1;
  } else {
    port_ = srv_->bind_to_any_port("127.0.0.1");
  }
  if (port_ > 0) {
    thread_ = std::thread([this] { srv_->listen_after_bind(); });
    while (!srv_->is_running()) std::this_thread::yield();
  }
}

MetricsHttpServer::~MetricsHttpServer() {
  srv_->stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsHttpServer::Update(ServerSim& sim) {
  state_.Observe(sim);
  std::string body = state_.Render(sim, opt_);
  std::lock_guard<std::mutex> l(mu_);
  body_ = std::move(body);
}

void MetricsHttpServer::SetStatus(int status) {
  std::lock_guard<std::mutex> l(mu_);
  status_ = status;
}

void MetricsHttpServer::Restart(ServerSim& sim, double process_start_time_s) {
  state_.Reset(sim);
  opt_.process_start_time_s = process_start_time_s;
  Update(sim);
}

std::string MetricsHttpServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/metrics";
}

uint64_t MetricsHttpServer::scrapes() const {
  std::lock_guard<std::mutex> l(mu_);
  return scrapes_;
}

}  // namespace variant::sim
