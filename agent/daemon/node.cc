#include "node.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <thread>
#include <zmq.hpp>

#include "agent.h"
#include "variant/collector/vllm_source.h"

namespace agent {

bool FileCollector::Collect(double, std::vector<bus::Metrics>* out, std::string* err) {
  out->clear();
  try {
    YAML::Node root = YAML::LoadFile(path_);
    for (const auto& e : root) {
      bus::Metrics m;
      m.model = e["model"].as<std::string>();
      if (e["variant"]) m.variant = e["variant"].as<std::string>();
      if (e["class"]) m.service_class = e["class"].as<std::string>();
      auto num = [&](const char* k, double* v) {
        if (e[k]) *v = e[k].as<double>();
      };
      num("arrival_rate_rps", &m.arrival_rate_rps);
      num("input_mean", &m.input_mean);
      num("output_mean", &m.output_mean);
      num("running", &m.running);
      num("waiting", &m.waiting);
      num("kv_usage", &m.kv_usage);
      num("ttft_mean_ms", &m.ttft_mean_ms);
      num("itl_mean_ms", &m.itl_mean_ms);
      num("prefix_hit_ratio", &m.prefix_hit_ratio);
      if (e["replicas_ready"]) m.replicas_ready = e["replicas_ready"].as<int>();
      if (e["replicas_starting"]) m.replicas_starting = e["replicas_starting"].as<int>();
      out->push_back(std::move(m));
    }
  } catch (const std::exception& ex) {
    *err = path_ + ": " + ex.what();
    return false;
  }
  return true;
}

namespace {

// The vLLM collector (bridge/collector): scrapes the node's model-server pods.
class VllmCollector : public Collector {
 public:
  explicit VllmCollector(std::vector<variant::collector::Target> t) : src_(std::move(t)) {}
  bool Collect(double now_s, std::vector<bus::Metrics>* out, std::string* err) override {
    bool ok = src_.Collect(now_s, out, err);
    for (const auto& e : src_.errors()) spdlog::warn("vllm collector: {}", e);
    return ok;
  }

 private:
  variant::collector::VllmSource src_;
};

}  // namespace

std::unique_ptr<Collector> MakeCollector(const Config& cfg, std::string* err) {
  if (cfg.node_collector == "static") return std::make_unique<StaticCollector>(cfg.node_static);
  if (cfg.node_collector == "file") {
    if (cfg.node_file.empty()) {
      *err = "node.collector 'file' needs node.file";
      return nullptr;
    }
    return std::make_unique<FileCollector>(cfg.node_file);
  }
  if (cfg.node_collector == "vllm") {
    if (cfg.node_targets.empty()) {
      *err = "node.collector 'vllm' needs node.targets (a list of {url, variant})";
      return nullptr;
    }
    std::vector<variant::collector::Target> targets;
    for (const auto& t : cfg.node_targets) {
      variant::collector::Endpoint ep;
      if (!variant::collector::ParseEndpoint(t.url, &ep, err)) {
        *err = "node.targets: " + *err;
        return nullptr;
      }
      targets.push_back({t.url, t.pod.empty() ? t.url : t.pod, t.variant, t.service_class});
    }
    return std::make_unique<VllmCollector>(std::move(targets));
  }
  *err = "node.collector must be 'static', 'file' or 'vllm', not '" + cfg.node_collector +
         "'";
  return nullptr;
}

int RunNode(const Config& cfg, Collector* collector, const std::atomic<bool>* stop) {
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 1000);
  pub.set(zmq::sockopt::sndhwm, cfg.hwm);
  if (!cfg.curve_client_secret.empty()) {  // docs/bus.md, "Authentication"
    pub.set(zmq::sockopt::curve_secretkey, cfg.curve_client_secret);
    pub.set(zmq::sockopt::curve_publickey, cfg.curve_client_public);
    pub.set(zmq::sockopt::curve_serverkey, cfg.curve_server_key);
  }
  pub.connect(cfg.node_cluster);
  uint64_t seq = 0;
  const double start = MonoNow();
  auto send = [&](std::string_view topic, const std::string& body) {
    bus::Header h;
    h.source = cfg.source;
    h.sequence = ++seq;
    h.timestamp = WallNow();
    std::string hb = bus::EncodeHeader(h);
    pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(hb), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(body), zmq::send_flags::none);
  };
  spdlog::info("node agent '{}' publishing to {} every {} s", cfg.source, cfg.node_cluster,
               cfg.node_interval_s);
  double next = MonoNow();
  std::vector<bus::Metrics> samples;
  while (!stop->load()) {
    double now = MonoNow();
    if (now < next) {
      // Sleep to the next collection deadline, in short steps so a stop is seen.
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(next - now, 0.2)));
      continue;
    }
    next += cfg.node_interval_s;
    if (next < now) next = now + cfg.node_interval_s;
    std::string err;
    if (!collector->Collect(WallNow(), &samples, &err)) {
      spdlog::warn("collector: {}", err);
      samples.clear();
    }
    for (const auto& m : samples) send(bus::kTopicMetrics, bus::EncodeMetrics(m));
    if (samples.empty()) send(bus::kTopicHeartbeat, bus::EncodeHeartbeat(MonoNow() - start));
  }
  return 0;
}

}  // namespace agent
