// The agent's YAML configuration (docs/bus.md, "Agent configuration").
#ifndef VARIANT_AGENT_DAEMON_CONFIG_H_
#define VARIANT_AGENT_DAEMON_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "bus/curve_key.h"
#include "bus/protocol.h"

namespace agent {

struct VariantConfig {
  std::string name, accelerator;
  int tp = 1, max_batch = 0, role = 0;
  double cost_per_hour = 0;
};

struct ModelConfig {
  std::string name;
  std::vector<VariantConfig> variants;
  std::string policy = "optimizer";  // or a plugin name
  std::string policy_params = "{}";  // JSON object
};

struct Config {
  std::string mode = "cluster";  // cluster | node
  std::string source = "agent";  // identity on the bus
  std::string libvariant;        // "" = beside the binary
  std::string data_dir;          // "" = libvariant's default
  std::vector<std::string> plugin_dirs;
  // bus
  std::string xsub = "tcp://127.0.0.1:5555";  // publishers connect here
  std::string xpub = "tcp://127.0.0.1:5556";  // subscribers connect here
  size_t max_message_bytes = 1 << 20;
  // Bounds (docs/bus.md, "Bounds"): per-source token bucket (0 = off), distinct
  // sources tracked, ZeroMQ high-water marks on every socket.
  double rate_limit_per_source = 20000;  // messages per second
  double rate_burst = 50000;             // bucket size
  size_t max_sources = 10000;
  int hwm = 10000;
  // CURVE (docs/bus.md, "Authentication"): z85 keys (40 characters). Empty
  // server_secret_key = the bus is open (logged as a warning at start).
  std::string curve_server_secret, curve_server_public;
  std::vector<std::string> curve_allowed_publishers;  // z85 public keys
  std::string curve_allowed_publishers_dir;           // *.key files, re-read at each handshake
  std::vector<std::string> curve_allowed_subscribers; // empty = any CURVE key may subscribe
  // node mode / any publisher: client keys and the agent's public key
  std::string curve_client_secret, curve_client_public, curve_server_key;
  double heartbeat_s = 1.0;
  double stale_after_s = 5.0;
  // exporter ("" disables)
  std::string metrics_listen;
  std::string state_file;
  // solving
  std::string solver = "fast";
  double threshold = 0.1;      // relative demand change that triggers a re-solve
  double min_delta_rps = 1e-3;  // and at least this absolute change
  double debounce_ms = 20;
  double max_staleness_s = 15;  // re-decide at least this often when there is demand
  // The problem document (same format as `variantctl solve --problem`) as JSON text,
  // without its `demand` (the agent fills that from the bus).
  std::string problem_json;
  std::string problem_options = "{}";  // the problem's `options` (JSON object)
  // The problem's `accelerators` (JSON array), kept apart from problem_json: the agent
  // writes it per solve with the counts that inventory reports (docs/bus.md).
  std::string problem_accelerators = "[]";
  std::string default_class;   // for metrics without `class` (default: the first class)
  std::vector<std::string> class_names;  // the problem's classes; metrics naming others are rejected
  double default_input_tokens = 512, default_output_tokens = 128;  // when not measured
  std::vector<ModelConfig> models;
  // node mode
  std::string node_cluster = "tcp://127.0.0.1:5555";
  double node_interval_s = 1.0;
  std::string node_collector = "static";  // static | file | vllm
  std::string node_file;
  std::vector<bus::Metrics> node_static;
  // For `vllm`: the model-server pods on this node whose /metrics the vLLM collector
  // (bridge/collector VllmSource) scrapes each interval.
  struct NodeTarget {
    std::string url, pod, variant, service_class;
  };
  std::vector<NodeTarget> node_targets;
};

using bus::ReadCurveKey;  // bus/curve_key.h

// Loads the YAML file at path. On failure returns false with *err naming the field.
// `problem_file:` (relative to the config's directory) or an inline `problem:` give
// the problem; `policies:` maps model name -> {policy, params}.
bool LoadConfig(const std::string& path, Config* out, std::string* err);

}  // namespace agent

#endif  // VARIANT_AGENT_DAEMON_CONFIG_H_
