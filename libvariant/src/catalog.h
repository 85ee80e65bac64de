// The catalog: model architectures and accelerator types. Data, not code: the
// built-in entries come from data/catalog.yaml and users add their own in the same
// format. Not thread-safe for writes; a Catalog is owned by one context.
#ifndef VARIANT_SRC_CATALOG_H_
#define VARIANT_SRC_CATALOG_H_

#include <map>
#include <string>
#include <vector>

#include "status.h"

namespace variant {

struct ModelArch {
  std::string name;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int kv_heads = 0;
  int intermediate = 0;
  int vocab = 0;
  int experts = 1;         // 1 = dense
  int active_experts = 1;  // experts each token is routed to
  double dtype_bytes = 2;
  int max_context = 4096;

  int head_dim() const { return hidden / heads; }
  // Total parameters (embedding and lm_head counted separately; no tying).
  double Params() const;
  // Weight bytes held by one GPU at tensor-parallel degree tp.
  double WeightBytesPerGpu(int tp) const;
  // KV-cache bytes per token on one GPU at tp (K and V, all layers).
  double KvBytesPerTokenPerGpu(int tp) const;
};

struct Accelerator {
  std::string name;
  double memory_gib = 0;
  double cost_per_hour = 0;
  std::string tables;  // operator-table prefix under data/perf/aiconfigurator
  int gpus_per_node = 8;
  int count = 0;       // 0 = unlimited
  double memory_bw_gbs = 0;  // HBM bandwidth, GB/s (elementwise ops); 0 = unknown
  double memory_bytes() const { return memory_gib * 1024.0 * 1024.0 * 1024.0; }
};

// A serving engine's behaviour around the kernels the operator tables measured: CUDA
// graphs, the all-reduce implementation, and the host-side (CPU) cost of a step, which
// bounds the step from below when the GPU work is small (docs/model.md, "Engines").
struct Engine {
  std::string name;
  bool cuda_graphs = true;        // decode steps run as captured graphs
  std::string allreduce = "custom";  // "custom" (vLLM custom all-reduce) or "nccl"
  std::map<std::string, std::string> nccl_tables;  // accelerator -> data/perf/vidur prefix
  double step_overhead_ms = 0.6;  // fixed host cost per step, overlapped with nothing
  double compute_scale = 1.0;     // multiplier on kernel time (older kernels > 1)
  std::map<std::string, double> cpu_layer_ms;  // accelerator host -> per-layer launch cost
  std::map<std::string, double> cpu_seq_ms;    // accelerator host -> per-sequence cost
  // accelerator host -> effective all-reduce bandwidth, GB/s, when it is below what
  // the table implies (e.g. no NVLink peer-to-peer); 0 = use the table.
  std::map<std::string, double> allreduce_gbps;
};

class Catalog {
 public:
  // Parses a catalog document (YAML or JSON) and merges it: entries with a known name
  // replace the old ones. Validates the whole document before applying any of it.
  Status Merge(const std::string& doc);
  Status MergeFile(const std::string& path);

  const ModelArch* FindModel(const std::string& name) const;
  const Accelerator* FindAccelerator(const std::string& name) const;
  const Engine* FindEngine(const std::string& name) const;
  const std::map<std::string, ModelArch>& models() const { return models_; }
  const std::map<std::string, Accelerator>& accelerators() const { return accels_; }
  std::string ToJson() const;

 private:
  std::map<std::string, ModelArch> models_;
  std::map<std::string, Accelerator> accels_;
  std::map<std::string, Engine> engines_;
};

// The engine used when a variant names none: vLLM v1 with CUDA graphs and its custom
// all-reduce, as in the operator tables' own measurements.
inline constexpr const char* kDefaultEngine = "vllm-v1";

// Largest catalog schema_version this build understands.
inline constexpr int kCatalogSchemaVersion = 1;

}  // namespace variant

#endif  // VARIANT_SRC_CATALOG_H_
