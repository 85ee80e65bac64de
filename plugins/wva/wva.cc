// wva: a WVA / inferno-style queueing autoscaler, the "queueing model" baseline.
//
// One replica of the (fixed) variant is a state-dependent M/M/1/K queue: the state n
// is the number of requests in the replica; while n <= N (max batch) all are served
// together and the service rate is mu(n) = n / s(n), frozen at mu(N) above N; K =
// N * queue_factor bounds the system. Per-iteration time (ms) follows inferno's form
//   T(n) = alpha + n * [beta * (i + o) / (o + 1) + gamma * (i + o / 2)]
// with mean input i and output o tokens; a request's service time is the prefill
// (T(n) + beta * i) plus o decode iterations, s(n) = T(n) + beta * i + o * T(n).
// SLOs are on averages (as in WVA): mean TTFT = mean wait + prefill, mean ITL =
// T(mean batch). The largest per-replica rate meeting both (and blocking < 1%) is
// found by bisection; replicas = ceil(demand / that rate). It re-sizes only every
// interval_s (WVA's periodic reconcile loop) and never scales down on stale data.
//
// params: {"variant": name (default: first), "alpha_ms": 7, "beta_ms": 0.05,
//          "gamma_ms": 2e-4, "ttft_ms": 1000, "itl_ms": 50, "queue_factor": 4,
//          "max_batch": (variant's max_batch, else 64), "interval_s": 30,
//          "min_replicas": 1, "max_replicas": 1000}
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "plugin_util.h"

namespace {

struct Wva {
  std::string variant;
  double alpha = 7, beta = 0.05, gamma = 2e-4, ttft = 1000, itl = 50, queue_factor = 4;
  double max_batch = 0, interval_s = 30, min_replicas = 1, max_replicas = 1000;
  double last_time = -INFINITY;
  int last = -1;
  double last_capacity = NAN;
};

struct QueueResult {
  double ttft_ms, itl_ms, blocking;
};

// Solves the birth-death chain of one replica at arrival rate lambda (per ms).
QueueResult Solve(const Wva& w, int n_batch, double in, double out, double lambda) {
  const int K = std::max(n_batch, static_cast<int>(n_batch * w.queue_factor));
  auto iter = [&](double n) {
    return w.alpha + n * (w.beta * (in + out) / (out + 1) + w.gamma * (in + out / 2));
  };
  auto service = [&](double n) { return iter(n) + w.beta * in + out * iter(n); };
  // Unnormalised probabilities in log space to avoid overflow.
  std::vector<double> logp(K + 1, 0.0);
  for (int n = 1; n <= K; ++n) {
    double k = std::min(n, n_batch);
    double mu = k / service(k);
    logp[n] = logp[n - 1] + std::log(lambda / mu);
  }
  double mx = *std::max_element(logp.begin(), logp.end());
  double z = 0;
  for (double& l : logp) z += std::exp(l - mx);
  double L = 0, Lq = 0, busy = 0, pK = std::exp(logp[K] - mx) / z;
  for (int n = 0; n <= K; ++n) {
    double p = std::exp(logp[n] - mx) / z;
    L += n * p;
    Lq += std::max(0, n - n_batch) * p;
    busy += std::min(n, n_batch) * p;
  }
  double x = lambda * (1 - pK);  // throughput per ms
  double wait = x > 0 ? Lq / x : 0;
  double mean_batch = std::max(1.0, busy);
  (void)L;
  return {wait + iter(mean_batch) + w.beta * in, iter(mean_batch), pK};
}

// Largest per-replica rate (requests per second) meeting the SLOs; 0 if none.
double MaxRate(const Wva& w, int n_batch, double in, double out) {
  auto ok = [&](double rps) {
    QueueResult q = Solve(w, n_batch, in, out, rps / 1000.0);
    return q.ttft_ms <= w.ttft && q.itl_ms <= w.itl && q.blocking <= 0.01;
  };
  double lo = 0, hi = 1;
  if (!ok(1e-6)) return 0;
  while (ok(hi) && hi < 1e6) hi *= 2;
  for (int i = 0; i < 60; ++i) {
    double mid = 0.5 * (lo + hi);
    (ok(mid) ? lo : hi) = mid;
  }
  return lo;
}

void* Create(const char* /*model*/, const char* params, size_t len, char* err, size_t cap) {
  nlohmann::json p;
  if (!policy_util::ParseParams(params, len, &p, err, cap)) return nullptr;
  Wva w;
  const std::pair<const char*, double*> nums[] = {
      {"alpha_ms", &w.alpha},       {"beta_ms", &w.beta},
      {"gamma_ms", &w.gamma},       {"ttft_ms", &w.ttft},
      {"itl_ms", &w.itl},           {"queue_factor", &w.queue_factor},
      {"max_batch", &w.max_batch},  {"interval_s", &w.interval_s},
      {"min_replicas", &w.min_replicas}, {"max_replicas", &w.max_replicas}};
  for (const auto& [k, v] : nums) {
    if (!policy_util::Number(p, k, v, err, cap)) return nullptr;
    if (*v < 0) {
      policy_util::SetError(err, cap, std::string("param '") + k + "' must be >= 0");
      return nullptr;
    }
  }
  if (!(w.alpha > 0) || !(w.ttft > 0) || !(w.itl > 0) || w.queue_factor < 1 ||
      w.max_replicas < w.min_replicas) {
    policy_util::SetError(err, cap,
                          "wva params: alpha_ms, ttft_ms, itl_ms must be > 0, queue_factor >= 1, "
                          "min_replicas <= max_replicas");
    return nullptr;
  }
  if (p.contains("variant") && p["variant"].is_string()) w.variant = p["variant"];
  return new Wva(std::move(w));
}

int Decide(void* state, const variant_policy_input* in, variant_policy_output* out) {
  auto* w = static_cast<Wva*>(state);
  long vi = policy_util::FindVariant(in, w->variant);
  if (vi < 0) {
    policy_util::SetError(out->error, out->error_cap,
                          "variant '" + w->variant + "' is not configured for this model");
    return 1;
  }
  const variant_policy_variant& v = in->variants[vi];
  int current = v.replicas_current >= 0 ? v.replicas_current : std::max(w->last, 0);
  double rate = in->arrival_rate_rps;
  bool due = in->now_s - w->last_time >= w->interval_s;
  int desired = w->last >= 0 ? w->last : current;
  if (due && policy_util::Known(rate)) {
    double i = policy_util::Known(in->input_mean) ? in->input_mean : 512;
    double o = policy_util::Known(in->output_mean) ? in->output_mean : 128;
    int nb = w->max_batch > 0 ? static_cast<int>(w->max_batch)
             : v.max_batch > 0 ? v.max_batch
                               : 64;
    double cap_rps = MaxRate(*w, nb, i, std::max(o, 1.0));
    if (cap_rps <= 0) {
      policy_util::SetError(out->error, out->error_cap,
                            "the SLOs cannot be met by one replica of variant '" +
                                std::string(v.name ? v.name : "?") + "' at any rate");
      return 1;
    }
    desired = rate <= 0 ? 0 : static_cast<int>(std::ceil(rate / cap_rps - 1e-9));
    desired = std::clamp(desired, static_cast<int>(w->min_replicas),
                         static_cast<int>(w->max_replicas));
    if (v.stale || in->stale) desired = std::max(desired, current);
    w->last_time = in->now_s;
    w->last_capacity = cap_rps;
  }
  w->last = desired;
  for (size_t k = 0; k < out->n_variants; ++k) {
    out->desired_replicas[k] = static_cast<long>(k) == vi ? desired : 0;
    out->weight[k] = static_cast<long>(k) == vi ? 1.0 : 0.0;
  }
  if (policy_util::Known(rate) && policy_util::Known(w->last_capacity) && desired > 0)
    out->load_signal[vi] = rate / (desired * w->last_capacity);
  return 0;
}

void Destroy(void* state) { delete static_cast<Wva*>(state); }

// Memory (ABI 1.1): "wva/1 <last_time> <last> <last_capacity>" (the periodic loop's
// phase and its last answer).
int Save(void* state, variant_policy_write_fn write, void* sink) {
  const auto* w = static_cast<const Wva*>(state);
  char buf[128];
  int n = std::snprintf(buf, sizeof(buf), "wva/1 %.17g %d %.17g", w->last_time, w->last,
                        w->last_capacity);
  write(sink, buf, static_cast<size_t>(n));
  return 0;
}

int Restore(void* state, const char* data, size_t len, char* err, size_t cap) {
  auto* w = static_cast<Wva*>(state);
  std::string s(data, len);
  char tag[8] = {0};
  double t = 0, c = 0;
  int last = -1;
  if (std::sscanf(s.c_str(), "%7s %lf %d %lf", tag, &t, &last, &c) != 4 ||
      std::string(tag) != "wva/1") {
    policy_util::SetError(err, cap, "wva memory: not 'wva/1 <time> <last> <capacity>'");
    return 1;
  }
  w->last_time = t;
  w->last = last;
  w->last_capacity = c;
  return 0;
}

const variant_policy_descriptor kDescriptor = {
    sizeof(variant_policy_descriptor), VARIANT_POLICY_ABI_MAJOR, VARIANT_POLICY_ABI_MINOR,
    "wva", "1.0.0", "WVA/inferno-style M/M/1/K queueing model on averages, periodic",
    Create, Decide, Destroy, Save, Restore};

}  // namespace

extern "C" __attribute__((visibility("default"))) const variant_policy_descriptor*
variant_policy_entry(void) {
  return &kDescriptor;
}
