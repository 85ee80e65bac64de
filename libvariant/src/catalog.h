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

class Catalog {
 public:
  // Parses a catalog document (YAML or JSON) and merges it: entries with a known name
  // replace the old ones. Validates the whole document before applying any of it.
  Status Merge(const std::string& doc);
  Status MergeFile(const std::string& path);

  const ModelArch* FindModel(const std::string& name) const;
  const Accelerator* FindAccelerator(const std::string& name) const;
  const std::map<std::string, ModelArch>& models() const { return models_; }
  const std::map<std::string, Accelerator>& accelerators() const { return accels_; }
  std::string ToJson() const;

 private:
  std::map<std::string, ModelArch> models_;
  std::map<std::string, Accelerator> accels_;
};

// Largest catalog schema_version this build understands.
inline constexpr int kCatalogSchemaVersion = 1;

}  // namespace variant

#endif  // VARIANT_SRC_CATALOG_H_
