// static-peak: provisions one variant for a fixed peak, whatever the load. The
// baseline every autoscaler is measured against.
//
// params: {"variant": name (default: the first), "replicas": N} or
//         {"variant": ..., "peak_rps": R, "replica_rps": r} -> ceil(R / r) replicas.
#include <algorithm>
#include <cmath>
#include <string>

#include "plugin_util.h"

namespace {

struct StaticPeak {
  std::string variant;
  int replicas = 0;
  double replica_rps = NAN;
};

void* Create(const char* /*model*/, const char* params, size_t len, char* err, size_t cap) {
  nlohmann::json p;
  if (!policy_util::ParseParams(params, len, &p, err, cap)) return nullptr;
  auto* s = new StaticPeak();
  double replicas = NAN, peak = NAN, rr = NAN;
  if (!policy_util::Number(p, "replicas", &replicas, err, cap) ||
      !policy_util::Number(p, "peak_rps", &peak, err, cap) ||
      !policy_util::Number(p, "replica_rps", &rr, err, cap)) {
    delete s;
    return nullptr;
  }
  if (p.contains("variant") && p["variant"].is_string()) s->variant = p["variant"];
  if (std::isfinite(replicas)) {
    if (replicas < 0 || replicas > 1e6) {
      policy_util::SetError(err, cap, "param 'replicas' must be in [0, 1e6]");
      delete s;
      return nullptr;
    }
    s->replicas = static_cast<int>(replicas);
  } else if (std::isfinite(peak) && std::isfinite(rr) && peak >= 0 && rr > 0) {
    s->replicas = static_cast<int>(std::ceil(peak / rr - 1e-9));
  } else {
    policy_util::SetError(err, cap,
                          "static-peak needs 'replicas', or 'peak_rps' >= 0 with 'replica_rps' > 0");
    delete s;
    return nullptr;
  }
  s->replica_rps = rr;
  return s;
}

int Decide(void* state, const variant_policy_input* in, variant_policy_output* out) {
  auto* s = static_cast<StaticPeak*>(state);
  long v = policy_util::FindVariant(in, s->variant);
  if (v < 0) {
    policy_util::SetError(out->error, out->error_cap,
                          "variant '" + s->variant + "' is not configured for this model");
    return 1;
  }
  for (size_t i = 0; i < out->n_variants; ++i) {
    out->desired_replicas[i] = static_cast<long>(i) == v ? s->replicas : 0;
    out->weight[i] = static_cast<long>(i) == v ? 1.0 : 0.0;
  }
  if (std::isfinite(s->replica_rps) && std::isfinite(in->arrival_rate_rps) && s->replicas > 0)
    out->load_signal[v] = in->arrival_rate_rps / (s->replicas * s->replica_rps);
  return 0;
}

void Destroy(void* state) { delete static_cast<StaticPeak*>(state); }

const variant_policy_descriptor kDescriptor = {
    sizeof(variant_policy_descriptor), VARIANT_POLICY_ABI_MAJOR, VARIANT_POLICY_ABI_MINOR,
    "static-peak", "1.0.0", "fixed replicas of one variant sized for a given peak",
    Create, Decide, Destroy, nullptr, nullptr};  // no memory between calls

}  // namespace

extern "C" __attribute__((visibility("default"))) const variant_policy_descriptor*
variant_policy_entry(void) {
  return &kDescriptor;
}
