#include "perf/queue_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

namespace variant {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The KV cache holds each running sequence's prompt and generated tokens; near full,
// vLLM preempts. Keep the mean occupancy below this fraction of the capacity.
constexpr double kKvHeadroom = 0.92;

// Normal quantiles and weights of a 5-point discretization of the decode batch size
// (Poisson fluctuation around its mean).
constexpr std::array<double, 5> kZ = {-1.4, -0.6, 0.0, 0.6, 1.4};
constexpr std::array<double, 5> kZw = {0.1, 0.2, 0.4, 0.2, 0.1};

// A length bucket stands for prompts within this log-distance of its representative
// (a factor of 2 wide: the buckets of LengthMix and of the problem format). The ITL
// percentiles spread each bucket's prompt-starting steps over that range; with one
// step time per bucket the percentile would jump from bucket to bucket as the rate
// moves and stay on one bucket's step time too long.
constexpr double kBucketHalfWidth = 0.34657359027997264;  // ln(2) / 2

// TPOT: the count of prompt-carrying gaps among a request's gaps is computed exactly
// up to this many gaps, and taken as normal beyond.
constexpr double kTpotExact = 24;

struct Bucket {
  double w;       // normalized weight
  double p;       // prefill tokens after prefix-cache hits
  double past;    // cached prefix tokens
  double o;       // output tokens
  double input;   // full prompt (KV transfer)
};

// One quantile of a finite mixture of shifted random variables:
// P(X > t) = Σ_k w_k S_k(t), where S_k is non-increasing in t.
template <typename Surv>
double MixtureQuantile(double q, double lo, double hi, Surv&& surv, double rel_tol = 1e-4) {
  const double tail = 1 - q;
  if (surv(lo) <= tail) return lo;
  for (int i = 0; i < 60 && surv(hi) > tail; ++i) hi *= 2;
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (lo + hi);
    (surv(mid) > tail ? lo : hi) = mid;
    if (hi - lo < rel_tol * hi) break;
  }
  return hi;
}

// The same quantile by the Illinois variant of regula falsi on P(X > t) − (1 − q):
// a few evaluations where the survival is smooth (a spread atom), and bracketing
// where it jumps (a discrete one). Stops when the bracket is rel_tol wide.
template <typename Surv>
double MixtureQuantileFast(double q, double lo, double hi, Surv&& surv, double rel_tol) {
  const double tail = 1 - q;
  double fa = surv(lo) - tail;
  if (fa <= 0) return lo;
  double fb = surv(hi) - tail;
  for (int i = 0; i < 60 && fb > 0; ++i) lo = hi, fa = fb, hi *= 2, fb = surv(hi) - tail;
  int side = 0;
  for (int i = 0; i < 60 && hi - lo >= rel_tol * hi; ++i) {
    double x = hi - fb * (hi - lo) / (fb - fa);
    const double guard = 0.01 * (hi - lo);
    if (!(x > lo + guard && x < hi - guard)) x = 0.5 * (lo + hi);
    const double fx = surv(x) - tail;
    if (fx > 0) {
      lo = x, fa = fx;
      if (side == -1) fb *= 0.5;
      side = -1;
    } else {
      hi = x, fb = fx;
      if (side == 1) fa *= 0.5;
      side = 1;
    }
  }
  return hi;
}

}  // namespace

Status Workload::Validate() const {
  if (input.empty()) return InvalidArgument("workload has no length buckets");
  if (input.size() != output.size() || input.size() != weight.size())
    return InvalidArgument("workload: input, output and weight lists differ in length");
  double sw = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    if (!std::isfinite(input[i]) || input[i] < 1)
      return InvalidArgument("workload bucket " + std::to_string(i) +
                             ": input tokens must be a finite number >= 1");
    if (!std::isfinite(output[i]) || output[i] < 1)
      return InvalidArgument("workload bucket " + std::to_string(i) +
                             ": output tokens must be a finite number >= 1");
    if (!std::isfinite(weight[i]) || weight[i] < 0)
      return InvalidArgument("workload bucket " + std::to_string(i) +
                             ": weight must be a finite number >= 0");
    sw += weight[i];
  }
  if (!(sw > 0)) return InvalidArgument("workload weights sum to zero");
  if (!std::isfinite(prefix_hit_ratio) || prefix_hit_ratio < 0 || prefix_hit_ratio >= 1)
    return InvalidArgument("prefix_hit_ratio must be in [0, 1)");
  return {};
}

double Workload::MeanInput() const {
  double s = 0, sw = 0;
  for (size_t i = 0; i < input.size(); ++i) s += weight[i] * input[i], sw += weight[i];
  return sw > 0 ? s / sw : 0;
}

double Workload::MeanOutput() const {
  double s = 0, sw = 0;
  for (size_t i = 0; i < output.size(); ++i) s += weight[i] * output[i], sw += weight[i];
  return sw > 0 ? s / sw : 0;
}

Result<std::vector<SloTerm>> ParseSlo(const std::string& text) {
  std::vector<SloTerm> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      return ParseError("SLO term '" + item + "' is not NAME=VALUE (e.g. ttft_p95_ms=500)");
    const std::string name = item.substr(0, eq), val = item.substr(eq + 1);
    SloTerm t;
    std::string rest;
    if (name.rfind("ttft_", 0) == 0) {
      t.metric = VARIANT_METRIC_TTFT;
      rest = name.substr(5);
    } else if (name.rfind("itl_", 0) == 0) {
      t.metric = VARIANT_METRIC_ITL;
      rest = name.substr(4);
    } else if (name.rfind("ttlt_", 0) == 0) {
      t.metric = VARIANT_METRIC_TTLT;
      rest = name.substr(5);
    } else if (name.rfind("tpot_", 0) == 0) {
      t.metric = VARIANT_METRIC_TPOT;
      rest = name.substr(5);
    } else {
      return ParseError("SLO term '" + name + "': metric must be ttft, itl, tpot or ttlt");
    }
    if (rest.size() < 4 || rest.substr(rest.size() - 3) != "_ms")
      return ParseError("SLO term '" + name + "' must end in _ms (e.g. ttft_p95_ms)");
    rest = rest.substr(0, rest.size() - 3);
    if (rest == "mean") {
      t.percentile = 0;
    } else if (rest.size() >= 2 && rest[0] == 'p') {
      char* end = nullptr;
      const std::string digits = rest.substr(1);
      t.percentile = std::strtod(digits.c_str(), &end);
      if (end == digits.c_str() || *end != '\0' || !(t.percentile > 0 && t.percentile < 100))
        return ParseError("SLO term '" + name + "': percentile must be p1..p99.9 or mean");
      if (digits.size() > 2 && digits[0] == '9' && digits[1] == '9' && digits.find('.') == std::string::npos)
        t.percentile = 99 + (t.percentile - 99 * std::pow(10.0, digits.size() - 2)) /
                                std::pow(10.0, digits.size() - 2);  // p999 → 99.9
    } else {
      return ParseError("SLO term '" + name + "': expected pNN or mean");
    }
    char* end = nullptr;
    t.target_ms = std::strtod(val.c_str(), &end);
    if (end == val.c_str() || *end != '\0' || !std::isfinite(t.target_ms) || t.target_ms <= 0)
      return ParseError("SLO term '" + name + "': target '" + val +
                        "' must be a positive number of milliseconds");
    out.push_back(t);
  }
  if (out.empty()) return ParseError("empty SLO: give at least one term, e.g. ttft_p95_ms=500");
  return out;
}

const char* MetricName(int metric) {
  switch (metric) {
    case VARIANT_METRIC_TTFT:
      return "ttft";
    case VARIANT_METRIC_ITL:
      return "itl";
    case VARIANT_METRIC_TPOT:
      return "tpot";
    case VARIANT_METRIC_TTLT:
      return "ttlt";
    default:
      return "unknown";
  }
}

namespace {

// Which of the four computed percentiles (p50, p90, p95, p99) a term at `percentile`
// reads: the nearest at or above it.
int QuantileSlot(double percentile) {
  return percentile <= 50 ? 0 : percentile <= 90 ? 1 : percentile <= 95 ? 2 : 3;
}

}  // namespace

double Prediction::Metric(const SloTerm& t) const {
  if (!stable) return kInf;
  const int q = QuantileSlot(t.percentile);
  switch (t.metric) {
    case VARIANT_METRIC_TTFT: {
      const double v[4] = {ttft_p50_ms, ttft_p90_ms, ttft_p95_ms, ttft_p99_ms};
      return t.percentile == 0 ? ttft_mean_ms : v[q];
    }
    case VARIANT_METRIC_ITL: {
      const double v[4] = {itl_p50_ms, itl_p90_ms, itl_p95_ms, itl_p99_ms};
      return t.percentile == 0 ? itl_mean_ms : v[q];
    }
    case VARIANT_METRIC_TPOT: {
      const double v[4] = {tpot_p50_ms, tpot_p90_ms, tpot_p95_ms, tpot_p99_ms};
      return t.percentile == 0 ? itl_mean_ms : v[q];
    }
    case VARIANT_METRIC_TTLT:
      return t.percentile == 0 ? ttlt_mean_ms : ttlt_p95_ms;
    default:
      return kInf;
  }
}

namespace {

struct Model {
  const ReplicaConfig& cfg;
  const StepModel& sm;
  std::vector<Bucket> b;
  double ep = 0, eo1 = 0, ctx = 0, kv_seq = 0;
  double kv_cap = 0;
  double n_max = 0;
  double budget = 0;
  // Memoized step times by integer decode batch (the step model rounds the batch
  // anyway): MaxRate evaluates many rates on one Model, and the fixed point revisits
  // the same batches. NaN = not computed yet.
  mutable std::vector<double> dec_memo, full_memo;
  // Alone(k, n) per bucket, direct-mapped on the batch.
  static constexpr size_t kAloneWays = 8;
  mutable std::vector<int> alone_n;
  mutable std::vector<double> alone_v, first_v;  // whole prefill, its first chunk

  Model(const ReplicaConfig& c, const Workload& w) : cfg(c), sm(*c.step) {
    double sw = 0;
    for (double x : w.weight) sw += x;
    b.reserve(w.input.size());
    for (size_t i = 0; i < w.input.size(); ++i) {
      if (w.weight[i] <= 0) continue;
      Bucket k;
      k.w = w.weight[i] / sw;
      k.input = w.input[i];
      k.past = std::floor(w.input[i] * w.prefix_hit_ratio);
      k.p = std::max(1.0, w.input[i] - k.past);
      k.o = cfg.role == VARIANT_ROLE_P ? 1 : w.output[i];
      b.push_back(k);
    }
    double ctx_num = 0;
    for (const Bucket& k : b) {
      ep += k.w * k.p;
      eo1 += k.w * (k.o - 1);
      ctx_num += k.w * (k.o - 1) * (k.input + k.o / 2);
    }
    ctx = eo1 > 0 ? ctx_num / eo1 : 0;
    kv_seq = std::max(ctx, 1.0);
    kv_cap = sm.KvCapacityTokens(cfg.gpu_memory_util);
    n_max = std::min<double>(cfg.max_batch, kKvHeadroom * kv_cap / kv_seq);
    budget = cfg.max_tokens_per_step;
    const size_t memo = static_cast<size_t>(std::max(0.0, std::ceil(n_max))) + 2;
    dec_memo.assign(memo, kNaN);
    full_memo.assign(memo, kNaN);
    alone_n.assign(b.size() * kAloneWays, -1);
    alone_v.assign(b.size() * kAloneWays, 0);
    first_v.assign(b.size() * kAloneWays, 0);
  }

  static int Round(double n) { return static_cast<int>(std::lround(std::max(0.0, n))); }

  // The a-priori decode step of ni sequences at the mix's mean context.
  double DecRaw(int ni) const {
    if (ni <= 0) return 0;
    const size_t i = static_cast<size_t>(ni);
    if (i < dec_memo.size()) {
      if (std::isnan(dec_memo[i])) dec_memo[i] = sm.DecodeStepMs(ni, ctx);
      return dec_memo[i];
    }
    return sm.DecodeStepMs(ni, ctx);
  }
  double Dec(double n) const {
    if (n <= 0) return 0;
    return cfg.decode_add_ms + cfg.decode_factor * DecRaw(std::max(1, Round(n)));
  }
  // A decode iteration of ni sequences that also carries `chunk` prefill tokens.
  double Mixed(double chunk, double past, int ni) const {
    PrefillChunk c{chunk, past, true};
    StepShape s;
    s.chunks = &c;
    s.n_chunks = 1;
    s.decode_seqs = ni;
    s.decode_ctx_sum = ni * ctx;
    const double total = sm.StepMs(s);
    const double dec = DecRaw(ni);
    return (ni > 0 ? cfg.decode_add_ms + cfg.decode_factor * dec : 0) + cfg.prefill_add_ms +
           cfg.prefill_factor * std::max(0.0, total - dec);
  }
  double Room(int ni) const { return std::max(1.0, budget - ni); }
  // A full-budget iteration next to n decoding sequences.
  double Full(double n) const {
    const int ni = Round(n);
    const size_t i = static_cast<size_t>(ni);
    if (i < full_memo.size()) {
      if (std::isnan(full_memo[i])) full_memo[i] = Mixed(Room(ni), 0, ni);
      return full_memo[i];
    }
    return Mixed(Room(ni), 0, ni);
  }
  // Time of request j's whole prefill, chunked to the budget left by n decodes, alone.
  double Alone(size_t j, double n, double* first = nullptr) const {
    const int ni = Round(n);
    const size_t slot = j * kAloneWays + static_cast<size_t>(ni) % kAloneWays;
    if (alone_n[slot] == ni) {
      if (first != nullptr) *first = first_v[slot];
      return alone_v[slot];
    }
    const Bucket& k = b[j];
    const double room = Room(ni);
    double t = 0, done = 0;
    while (done < k.p) {
      const double c = std::min(room, k.p - done);
      const double tc = Mixed(c, k.past + done, ni);
      if (done == 0) first_v[slot] = tc;
      t += tc;
      done += c;
    }
    alone_n[slot] = ni;
    alone_v[slot] = t;
    if (first != nullptr) *first = first_v[slot];
    return t;
  }
};

// Which outputs a caller needs (MaxRate asks only for its SLO terms' metrics).
struct Needs {
  bool ttft_q[4] = {true, true, true, true};  // p50, p90, p95, p99
  bool itl_q[4] = {true, true, true, true};  // p50, p90, p95, p99
  bool tpot_q[4] = {true, true, true, true};
  double quantile_tol = 1e-3;  // relative width of the ITL/TPOT quantiles' bracket
  bool ttlt_p95 = true;
  bool stability_only = false;  // stop after the fixed point (only `stable` is valid)
};

// Warm start of the fixed point from a nearby rate: the decode batch n and the share
// of prompts that start a step of their own (s1/λ). Zero = cold.
struct Hint {
  double n = 0, share = 0;
};

Prediction PredictOn(const Model& m, double rate, const Needs& need, Hint* n_hint);

Prediction PredictOn(const Model& m, double rate, const Needs& need, Hint* n_hint) {
  const ReplicaConfig& cfg = m.cfg;
  Prediction out;
  out.rate_rps = rate;
  out.kv_capacity_tokens = m.kv_cap;
  out.max_concurrency = static_cast<int>(std::floor(m.n_max));
  auto unstable = [&] {
    out.stable = false;
    out.ttft_p50_ms = out.ttft_p90_ms = out.ttft_p95_ms = out.ttft_p99_ms = kInf;
    out.ttft_mean_ms = out.itl_mean_ms = out.ttlt_p95_ms = kInf;
    out.itl_p50_ms = out.itl_p90_ms = out.itl_p95_ms = out.itl_p99_ms = kInf;
    out.tpot_p50_ms = out.tpot_p90_ms = out.tpot_p95_ms = out.tpot_p99_ms = kInf;
    out.ttlt_mean_ms = kInf;
    out.utilization = 1;
    out.queue_len = kInf;
    return out;
  };
  if (m.b.empty() || !(rate >= 0) || m.n_max < 1) return unstable();
  const double lam = rate / 1000.0;  // per ms
  const bool has_prefill = cfg.role != VARIANT_ROLE_D;
  const bool has_decode = cfg.role != VARIANT_ROLE_P;
  const size_t nb = m.b.size();

  // Steps. A prompt's first chunk goes into the step after the one it arrived in,
  // together with every other prompt that arrived during that step (Poisson: a step
  // of length T is followed by a prefill-carrying step with probability 1 − e^{−λT});
  // its further chunks (prompts longer than the room the decodes leave) take steps of
  // their own. Unknowns: n, the mean decode batch per step, and s1, the rate of steps
  // that start prompts. Steps per ms: s1 + continuation chunks + decode-only steps
  // filling the time left; tokens per ms: λ·E[O−1] = n × steps per ms.
  constexpr size_t kStack = 64;
  double c1_s[kStack], pc_s[kStack], t1_s[kStack], own1_s[kStack], alone_s[kStack];
  std::vector<double> heap;
  double *c1 = c1_s, *pc = pc_s, *t1 = t1_s, *own1 = own1_s, *alone = alone_s;
  if (nb > kStack) {
    heap.assign(5 * nb, 0);
    c1 = heap.data();
    pc = c1 + nb;
    t1 = pc + nb;
    own1 = t1 + nb;
    alone = own1 + nb;
  }
  double n = 0;
  if (has_decode) n = (n_hint != nullptr && n_hint->n > 0) ? n_hint->n : std::max(0.0, lam * m.eo1 * 10);
  // Prompt-starting steps per ms (≤ λ: prompts share them).
  double s1 = (n_hint != nullptr && n_hint->share > 0) ? lam * n_hint->share : lam;
  if (!has_prefill) s1 = 0;  // a decode replica starts no prompts
  double up = 0, t_full = 0, tau = 0, t_dec = 0, room = 0, u = 0;
  double s_d = 0, cont_rate = 0, cont_time = 0, t1_mean = 0, steps = 0, after_p = 0;
  for (int it = 0; it < 60; ++it) {
    const int ni = Model::Round(n);
    t_dec = has_decode ? m.Dec(n) : 0;
    room = m.Room(ni);
    t_full = has_prefill ? m.Full(n) : 0;
    tau = has_prefill ? t_full / room : 0;
    up = lam * m.ep * tau;  // share of the token budget's capacity that prompts take
    if (up >= 1) return unstable();
    cont_rate = cont_time = t1_mean = 0;
    double ec1 = 0;
    if (has_prefill) {
      for (size_t j = 0; j < nb; ++j) {
        const Bucket& k = m.b[j];
        c1[j] = std::min(room, k.p);
        alone[j] = m.Alone(j, n, &own1[j]);  // own1: the first chunk's step, alone
        ec1 += k.w * c1[j];
      }
      const double extra = std::max(0.0, lam / std::max(s1, 1e-12) - 1) * ec1;
      // Batch-mates' tokens cost the marginal time per token of a full step.
      const double per_tok = std::max(0.0, t_full - t_dec) / room;
      for (size_t j = 0; j < nb; ++j) {
        const Bucket& k = m.b[j];
        const double first_alone = own1[j];
        pc[j] = std::max(0.0, alone[j] - first_alone);  // its further chunks, alone
        const double chunks = std::ceil(k.p / room);
        cont_rate += lam * k.w * (chunks - 1);
        cont_time += lam * k.w * pc[j];
        t1[j] = first_alone + per_tok * (std::min(room, c1[j] + extra) - c1[j]);
        own1[j] = t1[j];
        t1_mean += k.w * t1[j];
        // Batch-mates' tokens beyond the room spill into full steps of their own.
        const double spill = std::max(0.0, c1[j] + extra - room);
        cont_rate += s1 * k.w * spill / room;
        cont_time += s1 * k.w * spill * tau;
      }
    }
    // Decode-only steps fill the time the prefill-carrying ones leave.
    const double p_time = s1 * t1_mean + cont_time;
    s_d = (has_decode && p_time < 1) ? (1 - p_time) / std::max(t_dec, 1e-6) : 0;
    steps = s_d + s1 + cont_rate;
    double n_new = 0;
    if (has_decode) n_new = steps > 0 ? lam * m.eo1 / steps : 0;
    if (n_new > m.n_max) return unstable();
    double s1_new = 0;
    if (has_prefill) {
      // Arrivals during each kind of step; with no decode, arrivals to an idle server.
      const double cont_len = cont_rate > 0 ? cont_time / cont_rate : 0;
      const double from_p = s1 * (1 - std::exp(-lam * t1_mean));
      s1_new = s_d * (1 - std::exp(-lam * t_dec)) + from_p +
               cont_rate * (1 - std::exp(-lam * cont_len));
      after_p = s1_new > 0 ? from_p / s1_new : 0;
      if (!has_decode) s1_new += lam * std::max(0.0, 1 - p_time);
      // No more prompt-starting steps than the time allows (then they pack), and no
      // more than one per prompt.
      if (t1_mean > 0) s1_new = std::min(s1_new, (1 - cont_time) / t1_mean);
      s1_new = std::clamp(s1_new, 1e-12, lam);
      if (cont_time >= 1) return unstable();
    }
    const bool done = std::fabs(n_new - n) < 2e-3 * std::max(1.0, n) &&
                      std::fabs(s1_new - s1) <= 2e-3 * std::max(s1, 1e-9);
    n = it < 2 ? n_new : 0.5 * (n + n_new);
    s1 = it < 2 ? s1_new : 0.5 * (s1 + s1_new);
    if (done) break;
  }
  u = has_prefill ? std::min(1.0, s1 * t1_mean + cont_time) : 0;
  if (n_hint != nullptr) *n_hint = {n, lam > 0 ? s1 / lam : 0};
  out.mean_batch = n;
  if (need.stability_only) return out;
  // Busy unless no sequence decodes (≈ Poisson(n) empty) and no prefill is pending.
  out.utilization = has_decode ? 1 - (1 - u) * std::exp(-n) : u;
  if (rate == 0) out.utilization = 0;

  // TTFT = wait for the step running at arrival + queueing behind other prompts'
  // chunks for the token budget (M/G/1 at the budget's load up, each prompt taking
  // p·τ) + the request's own steps (its chunks, the first shared with the prompts
  // that arrived with it).
  double own_s[kStack], base_s[kStack];
  std::vector<double> own_h, base_h;
  double* own = own_s;
  double* base = base_s;
  if (nb > kStack) {
    own_h.assign(nb, 0);
    base_h.assign(nb, 0);
    own = own_h.data();
    base = base_h.data();
  }
  double es = 0, es2 = 0, resid_num = 0, busy = 0;
  if (has_decode) resid_num += s_d * t_dec * t_dec, busy += s_d * t_dec;
  for (size_t j = 0; j < nb; ++j) {
    own[j] = 0;
    if (!has_prefill) continue;
    const Bucket& k = m.b[j];
    own[j] = own1[j] + pc[j];
    // The budget is held for the continuation chunks; the first chunk shares its step.
    const double serv = c1[j] * tau + pc[j];
    es += k.w * serv;
    es2 += k.w * serv * serv;
    resid_num += s1 * k.w * t1[j] * t1[j];
    busy += s1 * k.w * t1[j];
    const double chunks = std::ceil(k.p / room);
    if (chunks > 1) {
      const double per = pc[j] / (chunks - 1);
      resid_num += lam * k.w * (chunks - 1) * per * per;
      busy += lam * k.w * (chunks - 1) * per;
    }
  }
  const double rho = has_prefill ? std::min(std::max(up, lam * es), 0.999999) : 0;
  const double ew = rho > 0 ? lam * es2 / (2 * (1 - rho)) : 0;
  const double theta = std::max(rho > 0 ? ew / rho : 0, 1e-9);
  // The step in progress at arrival (time-average residual of the step lengths); at
  // light load that is a decode step.
  double resid = busy > 0 ? resid_num / (2 * busy) : 0;
  if (!has_prefill) resid = 0;
  if (has_decode && !(busy > 0)) resid = t_dec / 2;
  const double bytes_per_tok = cfg.role == VARIANT_ROLE_P
                                   ? m.sm.arch().KvBytesPerTokenPerGpu(m.sm.tp()) * m.sm.tp()
                                   : 0;
  double mean_own = 0;
  for (size_t j = 0; j < nb; ++j) {
    // A decode replica admits a transferred request at the next iteration boundary.
    if (cfg.role == VARIANT_ROLE_D) own[j] = t_dec;
    const double kvx = m.b[j].input * bytes_per_tok / (cfg.kv_link_gbps * 1e9) * 1e3;
    base[j] = own[j] + kvx;
    mean_own += m.b[j].w * base[j];
  }
  if (cfg.role == VARIANT_ROLE_D) resid = t_dec / 2;
  auto ttft_surv = [&](double t, double shift_per_token) {
    double s = 0;
    for (size_t j = 0; j < nb; ++j) {
      const double bj = base[j] + shift_per_token * (m.b[j].o - 1);
      const double idle = (t < bj + resid) ? 1.0 : 0.0;
      const double busy_s = (t < bj + resid) ? 1.0 : std::exp(-(t - bj - resid) / theta);
      s += m.b[j].w * ((1 - rho) * idle + rho * busy_s);
    }
    return s;
  };
  out.ttft_mean_ms = mean_own + ew + resid;
  auto ttft_q = [&](double q) {
    return MixtureQuantile(q, 0, std::max(1.0, 4 * out.ttft_mean_ms),
                           [&](double t) { return ttft_surv(t, 0); });
  };
  double* qs[4] = {&out.ttft_p50_ms, &out.ttft_p90_ms, &out.ttft_p95_ms, &out.ttft_p99_ms};
  const double qv[4] = {0.50, 0.90, 0.95, 0.99};
  for (int i = 0; i < 4; ++i) *qs[i] = need.ttft_q[i] ? ttft_q(qv[i]) : kNaN;
  out.queue_len = lam * ew;

  // ITL: every step gives each running sequence one token, so the inter-token gaps
  // are the step lengths weighted by the decodes in each step: decode-only steps (at
  // a batch that fluctuates around n), prompt-starting steps and continuation chunks.
  if (has_decode && n > 0) {
    // An atom of the gap distribution: gaps of length t at rate w per ms. A
    // prompt-starting atom is spread over [lo, hi] as d + e·r with log r uniform
    // (its bucket's prompts differ in length, kBucketHalfWidth); the others have
    // lo = hi = t.
    struct Atom {
      double t, w, lo, hi, d, e, top, inv;  // top = log((hi − d)/e), inv = 1/(top + h)
    };
    const size_t na = kZ.size() + 2 * nb;
    Atom atoms_s[kZ.size() + 2 * kStack];
    std::vector<Atom> atoms_h;
    Atom* atoms = atoms_s;
    if (na > kZ.size() + 2 * kStack) {
      atoms_h.resize(na);
      atoms = atoms_h.data();
    }
    size_t cnt = 0;
    // The decoding sequences are the busy servers of an M/G/∞ system: Poisson(n)
    // at any time, so a decode-only step (at least one sequence) has the zero-
    // truncated batch. Its gaps number (1 − u)·n/T_dec per ms in all.
    const double p0 = std::exp(-n);
    const double nd = n / std::max(1 - p0, 1e-12);
    const double sd = std::sqrt(std::max(nd * (1 + n - nd), 0.0));
    double zsum = 0;
    for (size_t z = 0; z < kZ.size(); ++z)
      zsum += kZw[z] * std::clamp(nd + kZ[z] * sd, 1.0, std::max(1.0, m.n_max));
    const double d_gaps = (1 - u) * n / std::max(m.Dec(nd), 1e-6);
    for (size_t z = 0; z < kZ.size(); ++z) {
      const double nz = std::clamp(nd + kZ[z] * sd, 1.0, std::max(1.0, m.n_max));
      const double tz = m.Dec(nz);
      atoms[cnt++] = {tz, d_gaps * kZw[z] * nz / zsum, tz, tz, 0, 0, 0, 0};
    }
    if (has_prefill) {
      const double d_part = m.Dec(n);
      const double lo_f = std::exp(-kBucketHalfWidth), hi_f = std::exp(kBucketHalfWidth);
      for (size_t j = 0; j < nb; ++j) {
        // After a prompt-starting step, its prompts decode in the next one. The
        // step's prompt part scales with the prompt's first chunk, which the room
        // caps: a bucket at or above the room spreads downwards only.
        const double e = std::max(0.0, t1[j] - d_part);
        const double up = c1[j] >= room ? 1.0 : std::min(hi_f, room / c1[j]);
        const double top = std::log(up);
        atoms[cnt++] = {t1[j], s1 * m.b[j].w * (n + after_p * lam / std::max(s1, 1e-12)),
                        d_part + e * lo_f, d_part + e * up, d_part, e, top,
                        1 / (top + kBucketHalfWidth)};
        const double chunks = std::ceil(m.b[j].p / room);
        if (chunks > 1) {
          const double tc = pc[j] / (chunks - 1);
          atoms[cnt++] = {tc, lam * m.b[j].w * (chunks - 1) * n, tc, tc, 0, 0, 0, 0};
        }
      }
    }
    double mean = 0, wsum = 0, tmax = 0;
    for (size_t i = 0; i < cnt; ++i) {
      mean += atoms[i].t * atoms[i].w, wsum += atoms[i].w;
      tmax = std::max(tmax, atoms[i].hi);
    }
    out.itl_mean_ms = wsum > 0 ? mean / wsum : t_dec;
    // P(gap > x), normalized.
    auto itl_surv = [&](double x) {
      double s = 0;
      for (size_t i = 0; i < cnt; ++i) {
        const Atom& a = atoms[i];
        if (x < a.lo) {
          s += a.w;
        } else if (x < a.hi) {
          // log r uniform on [−h, top]
          s += a.w * (a.top - std::log((x - a.d) / a.e)) * a.inv;
        }
      }
      return s / wsum;
    };
    // A quantile, directly for a few atoms (one bucket, as the optimizer asks): the
    // survival at every atom's ends finds the interval holding it; inside, one spread
    // atom is inverted in closed form (more than one: regula falsi on the interval).
    auto itl_quantile = [&](double q) {
      const double tail = 1 - q;
      if (cnt > 16) return MixtureQuantileFast(q, 0, std::max(tmax, 1e-3), itl_surv, need.quantile_tol);
      double pts[34];
      size_t np = 0;
      for (size_t i = 0; i < cnt; ++i) {
        pts[np++] = atoms[i].lo;
        if (atoms[i].hi > atoms[i].lo) pts[np++] = atoms[i].hi;
      }
      std::sort(pts, pts + np);
      double prev = 0;
      for (size_t k = 0; k < np; ++k) {
        const double b = pts[k];
        if (k > 0 && b == pts[k - 1]) continue;
        const double sb = itl_surv(b);
        if (sb > tail) {
          prev = b;
          continue;
        }
        // Just below b the discrete atoms at b still count.
        double left = sb;
        for (size_t i = 0; i < cnt; ++i)
          if (atoms[i].hi == atoms[i].lo && atoms[i].t == b) left += atoms[i].w / wsum;
        if (left > tail) return b;
        // Inside (prev, b): the spread atoms spanning it.
        size_t act = cnt, nact = 0;
        for (size_t i = 0; i < cnt; ++i)
          if (atoms[i].hi > atoms[i].lo && atoms[i].lo <= prev && atoms[i].hi >= b) act = i, ++nact;
        if (nact != 1)
          return MixtureQuantileFast(q, prev, b, itl_surv, need.quantile_tol);
        const Atom& a = atoms[act];
        const double mid = 0.5 * (prev + b);
        const double own_mid = a.w * (a.top - std::log((mid - a.d) / a.e)) * a.inv / wsum;
        const double rest = itl_surv(mid) - own_mid;  // constant on the interval
        const double x = a.d + a.e * std::exp(a.top - (tail - rest) * wsum / (a.w * a.inv));
        return std::clamp(x, prev, b);
      }
      return tmax;
    };
    double* iqs[4] = {&out.itl_p50_ms, &out.itl_p90_ms, &out.itl_p95_ms, &out.itl_p99_ms};
    for (int i = 0; i < 4; ++i) *iqs[i] = need.itl_q[i] && wsum > 0 ? itl_quantile(qv[i]) : kNaN;

    // TPOT, a request's mean gap, percentiles over requests (buckets by weight). A
    // request with k = O − 1 gaps draws them from the distribution above (a sequence's
    // gaps are the decode-weighted steps): prompt-carrying ones (mean mu_h, variance
    // v_h) and decode-only ones (mu_b, v_b). Prompt-carrying steps come in runs: a
    // step of length T is followed by a prompt-starting one with probability
    // 1 − e^{−λT}, and a request's first gap follows its own prompt step. So the
    // heavy/light sequence of its gaps is a two-state Markov chain starting after a
    // heavy step, with P(H→H) = a = 1 − e^{−λ·mu_h} and P(L→H) = b chosen so that the
    // chain's long-run heavy share is the gaps' f. Given n heavy gaps the sum is taken
    // as normal (mean n·mu_h + (k − n)·mu_b, variance n·v_h + (k − n)·v_b). The count's
    // distribution is exact up to kTpotExact gaps; beyond, the count is normal with
    // the chain's mean and variance.
    bool any_tpot = false;
    for (bool q : need.tpot_q) any_tpot = any_tpot || q;
    if (any_tpot && wsum > 0) {
      double wb = 0, mb = 0, sb = 0, wh = 0, mh = 0, sh = 0;
      for (size_t i = 0; i < cnt; ++i) {
        const Atom& at = atoms[i];
        const double spread = (at.hi - at.lo) * (at.hi - at.lo) / 12;
        if (i < kZ.size()) {
          wb += at.w, mb += at.w * at.t, sb += at.w * (at.t * at.t + spread);
        } else {
          wh += at.w, mh += at.w * at.t, sh += at.w * (at.t * at.t + spread);
        }
      }
      const double f = std::clamp(wh / wsum, 0.0, 1.0);
      mb = wb > 0 ? mb / wb : 0;
      const double vb = wb > 0 ? std::max(0.0, sb / wb - mb * mb) : 0;
      mh = wh > 0 ? mh / wh : 0;
      const double vh = wh > 0 ? std::max(0.0, sh / wh - mh * mh) : 0;
      const double a = f > 0 ? std::min(1 - (1 - rho) * std::exp(-lam * mh), 0.999) : 0;
      const double bq = f < 1 ? std::min(1.0, f * (1 - a) / (1 - f)) : 1;
      // The swing: the load a request lives through is the arrivals of a window W (its
      // own decode life plus one mean decode life), so its rate is off the mean by
      // about λ/√(λW), and its mean gap moves with it along the model's own slope (a
      // second fixed point 2 % higher). Each gap sum gets (k·slope·λ/√(λW))² more
      // variance. Independent draws around one steady state miss this spread: the
      // simulator's slowest requests lived through batches and prompt shares well
      // above the mean (docs/model.md, TPOT).
      double slope = 0;  // ms of mean gap per (request per ms)
      if (lam > 0) {
        Needs nd;
        for (bool& b : nd.ttft_q) b = false;
        for (bool& b : nd.itl_q) b = false;
        for (bool& b : nd.tpot_q) b = false;
        nd.ttlt_p95 = false;
        // Both points from a cold start: the difference amplifies the fixed point's
        // tolerance 50-fold, so it must not depend on where a search warm-started it.
        const Prediction lo = PredictOn(m, rate, nd, nullptr);
        const Prediction hi = PredictOn(m, rate * 1.02, nd, nullptr);
        slope = lo.stable && hi.stable && std::isfinite(hi.itl_mean_ms)
                    ? std::max(0.0, hi.itl_mean_ms - lo.itl_mean_ms) / (0.02 * lam)
                    : out.itl_mean_ms / (0.02 * lam);  // past saturation within 2 %
      }
      auto swing_var = [&](double k) {
        if (!(slope > 0)) return 0.0;
        const double W = (k + m.eo1) * out.itl_mean_ms;
        if (!(W > 0)) return 0.0;
        const double sd = k * slope * lam / std::sqrt(lam * W);
        return sd * sd;
      };
      struct Term {
        double w, k, mean, isd;  // weight, gaps, mean and 1/sd of the gap sum
      };
      std::vector<Term> terms;
      double w_none = 0;  // one-token requests: no gap, no TPOT
      std::vector<double> ph, pl, nh, nl;  // P(count, state) after each gap
      for (size_t j = 0; j < nb; ++j) {
        const double k = std::round(m.b[j].o - 1);
        const double wj = m.b[j].w;
        if (k < 1) {
          w_none += wj;
          continue;
        }
        if (k > kTpotExact || f <= 0 || f >= 1) {
          // Expected heavy count from a heavy start: Σ_i [f + (1 − f)·r^i], r = a − b.
          const double r = a - bq;
          const double en = k * f + (1 - f) * (std::fabs(1 - r) > 1e-12 ? r * (1 - std::pow(r, k)) / (1 - r) : k);
          const double vn = k * f * (1 - f) * (1 + r) / std::max(1 - r, 1e-9);
          const double mean = en * mh + (k - en) * mb;
          const double var = vn * (mh - mb) * (mh - mb) + en * vh + (k - en) * vb + swing_var(k);
          terms.push_back({wj, k, mean, var > 0 ? 1 / std::sqrt(var) : kInf});
          continue;
        }
        const size_t kk = static_cast<size_t>(k);
        ph.assign(kk + 2, 0), pl.assign(kk + 2, 0);
        ph[0] = 1;  // before the first gap: the request's own prompt step (heavy), 0 counted
        for (size_t g = 0; g < kk; ++g) {
          nh.assign(kk + 2, 0), nl.assign(kk + 2, 0);
          for (size_t c = 0; c <= g; ++c) {
            const double from_h = ph[c], from_l = pl[c];
            if (from_h == 0 && from_l == 0) continue;
            nh[c + 1] += from_h * a + from_l * bq;
            nl[c] += from_h * (1 - a) + from_l * (1 - bq);
          }
          ph.swap(nh), pl.swap(nl);
        }
        const double sw = swing_var(k);
        for (size_t c = 0; c <= kk; ++c) {
          const double pmf = ph[c] + pl[c];
          if (pmf < 1e-7) continue;
          const double n = static_cast<double>(c);
          const double v = n * vh + (k - n) * vb + sw;
          terms.push_back({wj * pmf, k, n * mh + (k - n) * mb, v > 0 ? 1 / std::sqrt(v) : kInf});
        }
      }
      double wt = w_none;
      for (const Term& t : terms) wt += t.w;
      auto tpot_surv = [&](double x) {
        double s = 0;
        for (const Term& t : terms) {
          const double z = (x * t.k - t.mean) * t.isd;
          s += t.w * (std::isinf(t.isd) ? (z < 0 ? 1.0 : 0.0) : 0.5 * std::erfc(z * M_SQRT1_2));
        }
        return s / wt;
      };
      double* tqs[4] = {&out.tpot_p50_ms, &out.tpot_p90_ms, &out.tpot_p95_ms, &out.tpot_p99_ms};
      for (int i = 0; i < 4; ++i)
        *tqs[i] = need.tpot_q[i] ? MixtureQuantileFast(qv[i], 0, std::max(tmax, 1e-3), tpot_surv, need.quantile_tol) : kNaN;
    } else {
      out.tpot_p50_ms = out.tpot_p90_ms = out.tpot_p95_ms = out.tpot_p99_ms = kNaN;
    }
    out.throughput_tok_s = rate * (m.eo1 + 1);
  } else {
    out.itl_mean_ms = out.itl_p50_ms = out.itl_p90_ms = out.itl_p95_ms = out.itl_p99_ms = 0;
    out.tpot_p50_ms = out.tpot_p90_ms = out.tpot_p95_ms = out.tpot_p99_ms = 0;
    out.throughput_tok_s = rate;
  }
  // TTLT: TTFT plus (O-1) tokens at the mean ITL.
  out.ttlt_mean_ms = out.ttft_mean_ms + m.eo1 * out.itl_mean_ms;
  out.ttlt_p95_ms =
      need.ttlt_p95
          ? MixtureQuantile(0.95, 0, std::max(1.0, 4 * out.ttlt_mean_ms),
                            [&](double t) { return ttft_surv(t, out.itl_mean_ms); })
          : kNaN;
  return out;
}

}  // namespace

Prediction Predict(const ReplicaConfig& cfg, const Workload& w, double rate) {
  Model m(cfg, w);
  return PredictOn(m, rate, Needs(), nullptr);
}

Result<Prediction> MaxRate(const ReplicaConfig& cfg, const Workload& w,
                           const std::vector<SloTerm>& slo) {
  Model model(cfg, w);
  // Only the metrics the SLO names are computed while searching; the answer is
  // recomputed in full at the end.
  Needs need;
  for (bool& b : need.itl_q) b = false;
  for (bool& b : need.tpot_q) b = false;
  // The search compares quantiles with targets; the answer is recomputed exactly.
  need.quantile_tol = 5e-3;
  need.ttlt_p95 = false;
  for (bool& b : need.ttft_q) b = false;
  for (const SloTerm& t : slo) {
    if (t.percentile > 0 && t.metric == VARIANT_METRIC_TTFT) need.ttft_q[QuantileSlot(t.percentile)] = true;
    if (t.percentile > 0 && t.metric == VARIANT_METRIC_ITL) need.itl_q[QuantileSlot(t.percentile)] = true;
    if (t.percentile > 0 && t.metric == VARIANT_METRIC_TPOT) need.tpot_q[QuantileSlot(t.percentile)] = true;
    if (t.metric == VARIANT_METRIC_TTLT && t.percentile > 0) need.ttlt_p95 = true;
  }
  auto meets = [&](const Prediction& p) {
    if (!p.stable) return false;
    for (const SloTerm& t : slo) {
      if (cfg.role == VARIANT_ROLE_P && t.metric != VARIANT_METRIC_TTFT) continue;
      if (cfg.role == VARIANT_ROLE_D && t.metric == VARIANT_METRIC_TTFT) continue;
      if (!(p.Metric(t) <= t.target_ms)) return false;
    }
    return true;
  };
  // The lightest load: one request at a time.
  const double eps = 1e-4;
  Prediction lo = PredictOn(model, eps, need, nullptr);
  if (!meets(lo)) {
    lo = PredictOn(model, eps, Needs(), nullptr);
    std::string worst;
    for (const SloTerm& t : slo)
      if (!(lo.Metric(t) <= t.target_ms)) {
        std::ostringstream os;
        os << (t.metric == VARIANT_METRIC_TTFT  ? "TTFT"
               : t.metric == VARIANT_METRIC_ITL ? "ITL"
               : t.metric == VARIANT_METRIC_TPOT ? "TPOT"
                                                 : "TTLT")
           << (t.percentile == 0 ? std::string(" mean") : " p" + std::to_string(static_cast<int>(t.percentile)))
           << " is " << lo.Metric(t) << " ms even at zero load, above the target "
           << t.target_ms << " ms";
        worst = os.str();
        break;
      }
    return Status(VARIANT_E_SLO_UNATTAINABLE, "no arrival rate meets the SLOs: " + worst);
  }
  // Bracket: start from the throughput bound — the rate at which the prefill lane
  // alone, packed into full iterations, is saturated — and halve until the SLOs hold
  // (or double, should the bound be met).
  double a = eps, b = 1;
  Hint hint;
  {
    const double tau0 = model.Full(0) / model.Room(0);
    if (cfg.role != VARIANT_ROLE_D && tau0 > 0 && model.ep > 0) {
      b = 1000.0 / (model.ep * tau0);
    } else if (model.eo1 > 0) {
      const double nm = std::max(1.0, std::floor(model.n_max));
      b = 1000.0 * nm / (model.eo1 * model.Dec(nm));
    }
  }
  // Margin of an unstable point: unknown, taken as +1 (metric at twice its target) so
  // that interpolation still has a slope; the bracket stays valid either way.
  auto margin = [&](const Prediction& p) {
    if (!p.stable) return 1.0;
    double g = -kInf;
    for (const SloTerm& t : slo) {
      if (cfg.role == VARIANT_ROLE_P && t.metric != VARIANT_METRIC_TTFT) continue;
      if (cfg.role == VARIANT_ROLE_D && t.metric == VARIANT_METRIC_TTFT) continue;
      g = std::max(g, p.Metric(t) / t.target_ms - 1);
    }
    return std::min(g, 1.0);
  };
  double ga = margin(lo), gb = kNaN;
  {
    const Prediction pb = PredictOn(model, b, need, &hint);
    if (meets(pb)) {
      ga = margin(pb);
      for (int i = 0; i < 40; ++i) {
        a = b;
        b *= 2;
        const Prediction p2 = PredictOn(model, b, need, &hint);
        if (!meets(p2)) {
          gb = margin(p2);
          break;
        }
        ga = margin(p2);
      }
    } else {
      gb = margin(pb);
      for (int i = 0; i < 40; ++i) {
        const double h = 0.5 * b;
        hint = Hint();
        const Prediction ph = PredictOn(model, h, need, &hint);
        if (meets(ph)) {
          a = h;
          ga = margin(ph);
          break;
        }
        b = h;
        gb = margin(ph);
      }
    }
  }
  // Shrink [a, b] to 0.2 %: regula falsi on the SLO margin g = max(metric/target) − 1
  // (Illinois variant, so both ends move).
  Hint n_a = hint;
  int side = 0;  // which end the last step moved: +1 a, -1 b
  double width2 = kInf, width1 = b - a;  // bracket widths one and two steps ago
  for (int i = 0; i < 60 && (b - a) > 2e-3 * b; ++i) {
    double x = 0.5 * (a + b);
    // Interpolate unless it failed to halve the bracket over the last two steps (the
    // margin is a step function where ITL p95 jumps, and flat up to a wall).
    const bool stalled = (b - a) > 0.5 * width2;
    width2 = width1;
    width1 = b - a;
    if (!stalled && std::isfinite(ga) && std::isfinite(gb) && gb > ga) {
      x = a + (b - a) * (-ga) / (gb - ga);
      const double w = b - a;
      x = std::clamp(x, a + 0.02 * w, b - 0.02 * w);
    }
    Hint h = n_a;
    const Prediction px = PredictOn(model, x, need, &h);
    const double gx = margin(px);
    if (meets(px)) {
      a = x;
      ga = gx;
      n_a = h;
      if (side > 0) gb *= 0.5;  // Illinois: b kept twice, halve its margin
      side = 1;
    } else {
      b = x;
      gb = gx;
      if (side < 0) ga *= 0.5;
      side = -1;
    }
  }
  return PredictOn(model, a, Needs(), nullptr);
}

}  // namespace variant
