#include "catalog.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace variant {

double ModelArch::Params() const {
  const double h = hidden, kvd = static_cast<double>(kv_heads) * head_dim();
  const double attn = h * h /*q*/ + 2 * h * kvd /*k,v*/ + h * h /*o*/;
  const double mlp = 3.0 * h * intermediate * experts + (experts > 1 ? h * experts : 0);
  return layers * (attn + mlp + 2 * h) + 2.0 * vocab * h + h;
}

double ModelArch::WeightBytesPerGpu(int tp) const {
  // Every layer's weights are sharded across tp; norms are replicated (negligible).
  return Params() * dtype_bytes / tp;
}

double ModelArch::KvBytesPerTokenPerGpu(int tp) const {
  // KV heads are sharded across tp but never below one head per GPU (replicated).
  const double kv_per_gpu = std::max(1.0, static_cast<double>(kv_heads) / tp);
  return 2.0 * layers * kv_per_gpu * head_dim() * dtype_bytes;
}

namespace {

template <typename T>
Status Get(const YAML::Node& n, const char* key, const std::string& where, T* out,
           bool required) {
  const YAML::Node v = n[key];
  if (!v) {
    if (required) return MissingField(where + ": missing required field '" + key + "'");
    return {};
  }
  try {
    *out = v.as<T>();
  } catch (const YAML::Exception&) {
    return ParseError(where + ": field '" + key + "' has the wrong type");
  }
  return {};
}

Status ParseModel(const YAML::Node& n, ModelArch* m) {
  if (!n.IsMap()) return ParseError("models: each entry must be a mapping");
  VARIANT_RETURN_IF_ERROR(Get(n, "name", "models[]", &m->name, true));
  const std::string w = "model '" + m->name + "'";
  VARIANT_RETURN_IF_ERROR(Get(n, "layers", w, &m->layers, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "hidden", w, &m->hidden, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "heads", w, &m->heads, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "kv_heads", w, &m->kv_heads, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "intermediate", w, &m->intermediate, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "vocab", w, &m->vocab, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "dtype_bytes", w, &m->dtype_bytes, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "max_context", w, &m->max_context, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "experts", w, &m->experts, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "active_experts", w, &m->active_experts, false));
  if (m->name.empty()) return InvalidArgument("models[]: empty name");
  if (m->layers <= 0 || m->hidden <= 0 || m->heads <= 0 || m->kv_heads <= 0 ||
      m->intermediate <= 0 || m->vocab <= 0 || m->max_context <= 0)
    return InvalidArgument(w + ": layers, hidden, heads, kv_heads, intermediate, vocab, "
                               "max_context must all be positive");
  if (m->hidden % m->heads != 0)
    return InvalidArgument(w + ": hidden must be a multiple of heads");
  if (m->heads % m->kv_heads != 0)
    return InvalidArgument(w + ": heads must be a multiple of kv_heads");
  if (m->experts < 1 || m->active_experts < 1 || m->active_experts > m->experts)
    return InvalidArgument(w + ": need 1 <= active_experts <= experts");
  if (!(m->dtype_bytes > 0 && m->dtype_bytes <= 8))
    return InvalidArgument(w + ": dtype_bytes must be in (0, 8]");
  return {};
}

Status ParseAccel(const YAML::Node& n, Accelerator* a) {
  if (!n.IsMap()) return ParseError("accelerators: each entry must be a mapping");
  VARIANT_RETURN_IF_ERROR(Get(n, "name", "accelerators[]", &a->name, true));
  const std::string w = "accelerator '" + a->name + "'";
  VARIANT_RETURN_IF_ERROR(Get(n, "memory_gib", w, &a->memory_gib, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "cost_per_hour", w, &a->cost_per_hour, true));
  VARIANT_RETURN_IF_ERROR(Get(n, "tables", w, &a->tables, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "gpus_per_node", w, &a->gpus_per_node, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "count", w, &a->count, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "memory_bw_gbs", w, &a->memory_bw_gbs, false));
  if (a->name.empty()) return InvalidArgument("accelerators[]: empty name");
  if (!(a->memory_gib > 0) || !std::isfinite(a->memory_gib))
    return InvalidArgument(w + ": memory_gib must be a positive number");
  if (!(a->cost_per_hour >= 0) || !std::isfinite(a->cost_per_hour))
    return InvalidArgument(w + ": cost_per_hour must be a non-negative number");
  if (a->gpus_per_node <= 0) return InvalidArgument(w + ": gpus_per_node must be positive");
  if (a->count < 0) return InvalidArgument(w + ": count must be >= 0");
  if (!(a->memory_bw_gbs >= 0)) return InvalidArgument(w + ": memory_bw_gbs must be >= 0");
  return {};
}

Status ParseEngine(const YAML::Node& n, Engine* e) {
  if (!n.IsMap()) return ParseError("engines: each entry must be a mapping");
  VARIANT_RETURN_IF_ERROR(Get(n, "name", "engines[]", &e->name, true));
  const std::string w = "engine '" + e->name + "'";
  VARIANT_RETURN_IF_ERROR(Get(n, "cuda_graphs", w, &e->cuda_graphs, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "allreduce", w, &e->allreduce, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "nccl_tables", w, &e->nccl_tables, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "step_overhead_ms", w, &e->step_overhead_ms, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "compute_scale", w, &e->compute_scale, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "cpu_layer_ms", w, &e->cpu_layer_ms, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "cpu_seq_ms", w, &e->cpu_seq_ms, false));
  VARIANT_RETURN_IF_ERROR(Get(n, "allreduce_gbps", w, &e->allreduce_gbps, false));
  if (e->name.empty()) return InvalidArgument("engines[]: empty name");
  if (e->allreduce != "custom" && e->allreduce != "nccl")
    return InvalidArgument(w + ": allreduce must be 'custom' or 'nccl'");
  if (!(e->step_overhead_ms >= 0) || !(e->compute_scale > 0))
    return InvalidArgument(w + ": step_overhead_ms must be >= 0 and compute_scale > 0");
  for (const auto* m : {&e->cpu_layer_ms, &e->cpu_seq_ms, &e->allreduce_gbps})
    for (const auto& [k, v] : *m)
      if (!(v >= 0)) return InvalidArgument(w + ": CPU costs must be >= 0 (" + k + ")");
  return {};
}

}  // namespace

Status Catalog::Merge(const std::string& doc) {
  YAML::Node root;
  try {
    root = YAML::Load(doc);
  } catch (const YAML::Exception& e) {
    return ParseError(std::string("catalog: ") + e.what());
  }
  if (!root.IsMap()) return ParseError("catalog: the document must be a mapping");
  int version = kCatalogSchemaVersion;
  VARIANT_RETURN_IF_ERROR(Get(root, "schema_version", "catalog", &version, false));
  if (version > kCatalogSchemaVersion || version < 1)
    return {VARIANT_E_SCHEMA_VERSION,
            "catalog: schema_version " + std::to_string(version) +
                " is not supported (this build reads 1.." +
                std::to_string(kCatalogSchemaVersion) + ")"};
  std::vector<ModelArch> ms;
  std::vector<Accelerator> as;
  if (const YAML::Node n = root["models"]) {
    if (!n.IsSequence()) return ParseError("catalog: 'models' must be a list");
    for (const auto& e : n) {
      ModelArch m;
      VARIANT_RETURN_IF_ERROR(ParseModel(e, &m));
      ms.push_back(m);
    }
  }
  if (const YAML::Node n = root["accelerators"]) {
    if (!n.IsSequence()) return ParseError("catalog: 'accelerators' must be a list");
    for (const auto& e : n) {
      Accelerator a;
      VARIANT_RETURN_IF_ERROR(ParseAccel(e, &a));
      as.push_back(a);
    }
  }
  std::vector<Engine> es;
  if (const YAML::Node n = root["engines"]) {
    if (!n.IsSequence()) return ParseError("catalog: 'engines' must be a list");
    for (const auto& e : n) {
      Engine x;
      VARIANT_RETURN_IF_ERROR(ParseEngine(e, &x));
      es.push_back(x);
    }
  }
  for (auto& e : es) engines_[e.name] = e;
  for (auto& m : ms) models_[m.name] = m;
  for (auto& a : as) accels_[a.name] = a;
  return {};
}

Status Catalog::MergeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {VARIANT_E_IO, "cannot read catalog file '" + path + "'"};
  std::stringstream ss;
  ss << in.rdbuf();
  return Merge(ss.str());
}

const ModelArch* Catalog::FindModel(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

const Accelerator* Catalog::FindAccelerator(const std::string& name) const {
  auto it = accels_.find(name);
  return it == accels_.end() ? nullptr : &it->second;
}

const Engine* Catalog::FindEngine(const std::string& name) const {
  auto it = engines_.find(name);
  return it == engines_.end() ? nullptr : &it->second;
}

std::string Catalog::ToJson() const {
  nlohmann::json j;
  j["schema_version"] = kCatalogSchemaVersion;
  j["models"] = nlohmann::json::array();
  for (const auto& [_, m] : models_)
    j["models"].push_back({{"name", m.name}, {"layers", m.layers}, {"hidden", m.hidden},
                           {"heads", m.heads}, {"kv_heads", m.kv_heads},
                           {"intermediate", m.intermediate}, {"vocab", m.vocab},
                           {"experts", m.experts}, {"active_experts", m.active_experts},
                           {"dtype_bytes", m.dtype_bytes}, {"max_context", m.max_context},
                           {"params_b", m.Params() / 1e9}});
  j["accelerators"] = nlohmann::json::array();
  for (const auto& [_, a] : accels_)
    j["accelerators"].push_back({{"name", a.name}, {"memory_gib", a.memory_gib},
                                 {"cost_per_hour", a.cost_per_hour}, {"tables", a.tables},
                                 {"gpus_per_node", a.gpus_per_node}, {"count", a.count},
                                 {"memory_bw_gbs", a.memory_bw_gbs}});
  // Names are whatever bytes the YAML held; ones that are not UTF-8 are replaced, not
  // thrown on (that was VARIANT_E_INTERNAL; found by test/fuzz/fuzz_capi_catalog).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace variant
