// hpa: the Kubernetes Horizontal Pod Autoscaler's algorithm on one variant, as the
// "HPA-style" baseline. Follows the documented controller behaviour:
//   desired = ceil(current * metric / target), no change while |metric/target - 1|
//   <= tolerance, and a scale-down stabilization window: the applied value is the
//   highest recommendation made within the last window seconds.
// Missing metrics keep the current count (HPA skips the cycle); stale (held) data
// never scales down; scaling from zero is not done by HPA, so with 0 replicas and
// demand the policy goes to min_replicas (at least 1).
//
// params: {"variant": name (default: first), "metric": "running_waiting" |
//          "kv_usage" | "arrival_rate" (per replica), "target": T (required),
//          "tolerance": 0.1, "scale_down_window_s": 300, "min_replicas": 1,
//          "max_replicas": 1000}
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <sstream>
#include <string>
#include <utility>

#include "plugin_util.h"

namespace {

enum class Metric { kRunningWaiting, kKvUsage, kArrivalRate };

struct Hpa {
  std::string variant;
  Metric metric = Metric::kRunningWaiting;
  double target = NAN, tolerance = 0.1, window_s = 300;
  int min_replicas = 1, max_replicas = 1000;
  std::deque<std::pair<double, int>> recommendations;  // (time, desired)
  int last = -1;
};

void* Create(const char* /*model*/, const char* params, size_t len, char* err, size_t cap) {
  nlohmann::json p;
  if (!policy_util::ParseParams(params, len, &p, err, cap)) return nullptr;
  Hpa h;
  double mn = 1, mx = 1000;
  if (!policy_util::Number(p, "target", &h.target, err, cap) ||
      !policy_util::Number(p, "tolerance", &h.tolerance, err, cap) ||
      !policy_util::Number(p, "scale_down_window_s", &h.window_s, err, cap) ||
      !policy_util::Number(p, "min_replicas", &mn, err, cap) ||
      !policy_util::Number(p, "max_replicas", &mx, err, cap))
    return nullptr;
  if (!(h.target > 0)) {
    policy_util::SetError(err, cap, "hpa needs param 'target' > 0 (per-replica metric value)");
    return nullptr;
  }
  if (h.tolerance < 0 || h.window_s < 0 || mn < 0 || mx < mn) {
    policy_util::SetError(err, cap,
                          "hpa params: tolerance and scale_down_window_s must be >= 0, "
                          "0 <= min_replicas <= max_replicas");
    return nullptr;
  }
  h.min_replicas = static_cast<int>(mn);
  h.max_replicas = static_cast<int>(mx);
  if (p.contains("variant") && p["variant"].is_string()) h.variant = p["variant"];
  if (p.contains("metric")) {
    std::string m = p["metric"].is_string() ? p["metric"].get<std::string>() : "";
    if (m == "running_waiting") h.metric = Metric::kRunningWaiting;
    else if (m == "kv_usage") h.metric = Metric::kKvUsage;
    else if (m == "arrival_rate") h.metric = Metric::kArrivalRate;
    else {
      policy_util::SetError(err, cap,
                            "hpa param 'metric' must be running_waiting, kv_usage or arrival_rate");
      return nullptr;
    }
  }
  return new Hpa(std::move(h));
}

int Decide(void* state, const variant_policy_input* in, variant_policy_output* out) {
  auto* h = static_cast<Hpa*>(state);
  long vi = policy_util::FindVariant(in, h->variant);
  if (vi < 0) {
    policy_util::SetError(out->error, out->error_cap,
                          "variant '" + h->variant + "' is not configured for this model");
    return 1;
  }
  const variant_policy_variant& v = in->variants[vi];
  int current = v.replicas_ready >= 0 ? v.replicas_ready
                : v.replicas_current >= 0 ? v.replicas_current
                                          : h->last;
  if (current < 0) current = 0;
  // The per-replica metric value.
  double total = NAN;
  switch (h->metric) {
    case Metric::kRunningWaiting:
      if (policy_util::Known(v.running) || policy_util::Known(v.waiting))
        total = (policy_util::Known(v.running) ? v.running : 0) +
                (policy_util::Known(v.waiting) ? v.waiting : 0);
      break;
    case Metric::kKvUsage:
      if (policy_util::Known(v.kv_usage)) total = v.kv_usage * std::max(current, 1);
      break;
    case Metric::kArrivalRate:
      total = policy_util::Known(v.arrival_rate_rps) ? v.arrival_rate_rps : in->arrival_rate_rps;
      break;
  }
  int recommendation;
  if (!policy_util::Known(total)) {
    recommendation = h->last >= 0 ? h->last : current;  // no metric: skip the cycle
  } else if (current == 0) {
    recommendation = total > 0 ? std::max(h->min_replicas, 1) : h->min_replicas;
  } else {
    const double ratio = total / current / h->target;
    recommendation = std::fabs(ratio - 1.0) <= h->tolerance
                         ? current
                         : static_cast<int>(std::ceil(current * ratio - 1e-9));
  }
  recommendation = std::clamp(recommendation, h->min_replicas, h->max_replicas);
  if (v.stale || in->stale) recommendation = std::max(recommendation, current);
  // Scale-down stabilization: the highest recommendation within the window. The
  // first call seeds the window with the current count (the workload has been running
  // at it), so a policy started under low load does not drop at once.
  if (h->last < 0) h->recommendations.emplace_back(in->now_s, current);
  h->recommendations.emplace_back(in->now_s, recommendation);
  while (!h->recommendations.empty() && h->recommendations.front().first < in->now_s - h->window_s)
    h->recommendations.pop_front();
  // As the controller's behaviour-based stabilization: scale-up window 0 (the new
  // recommendation), scale-down = max over the window; move current only towards them.
  int down = recommendation;
  for (const auto& r : h->recommendations) down = std::max(down, r.second);
  int desired = current;
  if (desired < recommendation) desired = recommendation;
  if (desired > down) desired = down;
  h->last = desired;
  for (size_t i = 0; i < out->n_variants; ++i) {
    out->desired_replicas[i] = static_cast<long>(i) == vi ? desired : 0;
    out->weight[i] = static_cast<long>(i) == vi ? 1.0 : 0.0;
  }
  if (policy_util::Known(total) && desired > 0)
    out->load_signal[vi] = total / desired / h->target;
  return 0;
}

void Destroy(void* state) { delete static_cast<Hpa*>(state); }

// Memory (ABI 1.1): "hpa/1 <last> <n>" then n "<time> <recommendation>" pairs, so a
// restarted agent keeps the scale-down stabilization window it had.
int Save(void* state, variant_policy_write_fn write, void* sink) {
  const auto* h = static_cast<const Hpa*>(state);
  std::string s = "hpa/1 " + std::to_string(h->last) + " " +
                  std::to_string(h->recommendations.size());
  char buf[64];
  for (const auto& [t, r] : h->recommendations) {
    std::snprintf(buf, sizeof(buf), " %.17g %d", t, r);
    s += buf;
  }
  write(sink, s.data(), s.size());
  return 0;
}

int Restore(void* state, const char* data, size_t len, char* err, size_t cap) {
  auto* h = static_cast<Hpa*>(state);
  std::istringstream in(std::string(data, len));
  std::string tag;
  int last = -1;
  size_t n = 0;
  if (!(in >> tag >> last >> n) || tag != "hpa/1" || n > 100000) {
    policy_util::SetError(err, cap, "hpa memory: not 'hpa/1 <last> <n> ...'");
    return 1;
  }
  std::deque<std::pair<double, int>> recs;
  for (size_t i = 0; i < n; ++i) {
    double t;
    int r;
    if (!(in >> t >> r) || !std::isfinite(t) || r < 0) {
      policy_util::SetError(err, cap, "hpa memory: recommendation " + std::to_string(i) +
                                          " is not '<time> <replicas>'");
      return 1;
    }
    recs.emplace_back(t, r);
  }
  h->last = last;
  h->recommendations = std::move(recs);
  return 0;
}

const variant_policy_descriptor kDescriptor = {
    sizeof(variant_policy_descriptor), VARIANT_POLICY_ABI_MAJOR, VARIANT_POLICY_ABI_MINOR,
    "hpa", "1.0.0", "Kubernetes HPA algorithm on a per-replica metric of one variant",
    Create, Decide, Destroy, Save, Restore};

}  // namespace

extern "C" __attribute__((visibility("default"))) const variant_policy_descriptor*
variant_policy_entry(void) {
  return &kDescriptor;
}
