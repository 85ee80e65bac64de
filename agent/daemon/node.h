// Node mode (the DaemonSet): collect metrics from the model servers on this node and
// publish them on the bus: the vLLM collector (bridge/collector VllmSource) scrapes
// the pods' /metrics; a Collector is anything that can produce bus::Metrics samples on
// demand.
#ifndef VARIANT_AGENT_DAEMON_NODE_H_
#define VARIANT_AGENT_DAEMON_NODE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bus/protocol.h"
#include "config.h"

namespace agent {

// Produces the current samples. Called from the node loop's thread only.
class Collector {
 public:
  virtual ~Collector() = default;
  // Fills *out with one sample per model/variant seen since the last call. Returns
  // false with *err on a failed collection (the loop logs it and sends a heartbeat).
  virtual bool Collect(double now_s, std::vector<bus::Metrics>* out, std::string* err) = 0;
};

// Fixed samples from the config (`node.static`).
class StaticCollector : public Collector {
 public:
  explicit StaticCollector(std::vector<bus::Metrics> s) : samples_(std::move(s)) {}
  bool Collect(double, std::vector<bus::Metrics>* out, std::string*) override {
    *out = samples_;
    return true;
  }

 private:
  std::vector<bus::Metrics> samples_;
};

// Re-reads a YAML/JSON file holding a list of metrics maps (docs/bus.md field names)
// at every collection, so a test or a script can drive the node agent.
class FileCollector : public Collector {
 public:
  explicit FileCollector(std::string path) : path_(std::move(path)) {}
  bool Collect(double now_s, std::vector<bus::Metrics>* out, std::string* err) override;

 private:
  std::string path_;
};

std::unique_ptr<Collector> MakeCollector(const Config& cfg, std::string* err);

// Publishes the collector's samples every node.interval_s to node.cluster (the
// cluster agent's XSUB endpoint), a heartbeat when there is nothing to send.
int RunNode(const Config& cfg, Collector* collector, const std::atomic<bool>* stop);

}  // namespace agent

#endif  // VARIANT_AGENT_DAEMON_NODE_H_
