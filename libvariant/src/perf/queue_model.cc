#include "perf/queue_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

namespace variant {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The KV cache holds each running sequence's prompt and generated tokens; near full,
// vLLM preempts. Keep the mean occupancy below this fraction of the capacity.
constexpr double kKvHeadroom = 0.92;

// Normal quantiles and weights of a 5-point discretization of the decode batch size
// (Poisson fluctuation around its mean).
constexpr std::array<double, 5> kZ = {-1.4, -0.6, 0.0, 0.6, 1.4};
constexpr std::array<double, 5> kZw = {0.1, 0.2, 0.4, 0.2, 0.1};

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
double MixtureQuantile(double q, double lo, double hi, Surv&& surv) {
  const double tail = 1 - q;
  if (surv(lo) <= tail) return lo;
  for (int i = 0; i < 60 && surv(hi) > tail; ++i) hi *= 2;
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (lo + hi);
    (surv(mid) > tail ? lo : hi) = mid;
    if (hi - lo < 1e-4 * hi) break;
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
      t.metric = VARIANT_METRIC_ITL;
      rest = name.substr(5);
    } else {
      return ParseError("SLO term '" + name + "': metric must be ttft, itl or ttlt");
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

double Prediction::Metric(const SloTerm& t) const {
  if (!stable) return kInf;
  switch (t.metric) {
    case VARIANT_METRIC_TTFT:
      if (t.percentile == 0) return ttft_mean_ms;
      if (t.percentile <= 50) return ttft_p50_ms;
      if (t.percentile <= 90) return ttft_p90_ms;
      if (t.percentile <= 95) return ttft_p95_ms;
      return ttft_p99_ms;
    case VARIANT_METRIC_ITL:
      return t.percentile == 0 ? itl_mean_ms : itl_p95_ms;
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

  Model(const ReplicaConfig& c, const Workload& w) : cfg(c), sm(*c.step) {
    double sw = 0;
    for (double x : w.weight) sw += x;
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
  }

  double Dec(double n) const {
    if (n <= 0) return 0;
    return cfg.decode_factor * sm.DecodeStepMs(static_cast<int>(std::lround(std::max(1.0, n))),
                                               ctx);
  }
  // A decode iteration of n sequences that also carries `chunk` prefill tokens.
  double Mixed(double chunk, double past, double n) const {
    PrefillChunk c{chunk, past, true};
    StepShape s;
    s.chunks = &c;
    s.n_chunks = 1;
    const int ni = static_cast<int>(std::lround(std::max(0.0, n)));
    s.decode_seqs = ni;
    s.decode_ctx_sum = ni * ctx;
    const double total = sm.StepMs(s);
    const double dec = ni > 0 ? sm.DecodeStepMs(ni, ctx) : 0;
    return cfg.decode_factor * dec + cfg.prefill_factor * std::max(0.0, total - dec);
  }
  // Time of request k's whole prefill, chunked to the budget left by n decodes, alone.
  double Alone(const Bucket& k, double n) const {
    const double room = std::max(1.0, budget - n);
    double t = 0, done = 0;
    while (done < k.p) {
      const double c = std::min(room, k.p - done);
      t += Mixed(c, k.past + done, n);
      done += c;
    }
    return t;
  }
};

}  // namespace

Prediction Predict(const ReplicaConfig& cfg, const Workload& w, double rate) {
  Prediction out;
  out.rate_rps = rate;
  Model m(cfg, w);
  out.kv_capacity_tokens = m.kv_cap;
  out.max_concurrency = static_cast<int>(std::floor(m.n_max));
  auto unstable = [&] {
    out.stable = false;
    out.ttft_p50_ms = out.ttft_p90_ms = out.ttft_p95_ms = out.ttft_p99_ms = kInf;
    out.ttft_mean_ms = out.itl_mean_ms = out.itl_p95_ms = out.ttlt_p95_ms = kInf;
    out.ttlt_mean_ms = kInf;
    out.utilization = 1;
    out.queue_len = kInf;
    return out;
  };
  if (m.b.empty() || !(rate >= 0) || m.n_max < 1) return unstable();
  const double lam = rate / 1000.0;  // per ms
  const bool has_prefill = cfg.role != VARIANT_ROLE_D;
  const bool has_decode = cfg.role != VARIANT_ROLE_P;

  // Fixed point for the mean decode batch n: tokens/ms generated = λ·E[O-1] = n / T̄,
  // where T̄ is the mean iteration length, a mix of decode-only and prefill iterations.
  double n = has_decode ? std::max(0.0, lam * m.eo1 * 10) : 0;
  double u = 0, up = 0, t_full = 0, tau = 0, t_dec = 0, e_alone = 0, e_chunks = 0;
  for (int it = 0; it < 40; ++it) {
    t_dec = has_decode ? m.Dec(n) : 0;
    const double room = std::max(1.0, m.budget - n);
    t_full = has_prefill ? m.Mixed(room, 0, n) : 0;
    tau = has_prefill ? t_full / room : 0;
    e_alone = 0;
    e_chunks = 0;
    if (has_prefill)
      for (const Bucket& k : m.b) {
        e_alone += k.w * m.Alone(k, n);
        e_chunks += k.w * std::ceil(k.p / room);
      }
    up = lam * m.ep * tau;           // prefill-lane load if every iteration were full
    const double ua = lam * e_alone;  // ... if every prompt ran alone
    u = std::max(up, ua * (1 - up) + up * up);
    if (up >= 1 || u >= 1) return unstable();
    double n_new = 0;
    if (has_decode) {
      // Iterations per ms: decode-only ones fill the time the prefill lane leaves idle.
      const double iters = (1 - u) / std::max(t_dec, 1e-6) + lam * e_chunks * (1 - up) +
                           up / std::max(t_full, 1e-6);
      n_new = lam * m.eo1 / iters;
    }
    if (n_new > m.n_max) return unstable();
    if (std::fabs(n_new - n) < 2e-3 * std::max(1.0, n)) {
      n = n_new;
      break;
    }
    n = 0.5 * (n + n_new);
  }
  out.mean_batch = n;
  // Busy unless no sequence decodes (≈ Poisson(n) empty) and no prefill is pending.
  out.utilization = has_decode ? 1 - (1 - u) * std::exp(-n) : u;
  if (rate == 0) out.utilization = 0;

  // TTFT: M/G/1 waiting on the prefill lane, with each request's service a blend of
  // running alone (light load) and packed into full iterations (heavy load).
  std::vector<double> own(m.b.size(), 0), serv(m.b.size(), 0);
  double es = 0, es2 = 0;
  if (has_prefill) {
    const double room = std::max(1.0, m.budget - n);
    for (size_t j = 0; j < m.b.size(); ++j) {
      const Bucket& k = m.b[j];
      const double alone = m.Alone(k, n);
      serv[j] = alone * (1 - up) + k.p * tau * up;
      own[j] = alone * (1 - up) + std::ceil(k.p / room) * t_full * up;
      es += k.w * serv[j];
      es2 += k.w * serv[j] * serv[j];
    }
  }
  const double rho = std::min(u, 0.999999);
  const double ew = rho > 0 ? lam * es2 / (2 * (1 - rho)) : 0;
  const double theta = rho > 0 ? ew / rho : 0;
  // A request that finds the lane idle still waits for the running decode iteration.
  const double resid = has_decode ? t_dec / 2 : 0;
  std::vector<double> kvx(m.b.size(), 0);
  if (cfg.role == VARIANT_ROLE_P) {
    const double bytes_per_tok = m.sm.arch().KvBytesPerTokenPerGpu(m.sm.tp()) * m.sm.tp();
    for (size_t j = 0; j < m.b.size(); ++j)
      kvx[j] = m.b[j].input * bytes_per_tok / (cfg.kv_link_gbps * 1e9) * 1e3;
  }
  if (cfg.role == VARIANT_ROLE_D) {
    // A decode replica admits a transferred request at the next iteration boundary.
    for (size_t j = 0; j < m.b.size(); ++j) own[j] = t_dec;
  }
  auto ttft_surv = [&](double t, double shift_per_token) {
    double s = 0;
    for (size_t j = 0; j < m.b.size(); ++j) {
      const double base = own[j] + kvx[j] + shift_per_token * (m.b[j].o - 1);
      const double idle = (t < base + resid) ? 1.0 : 0.0;
      const double busy = (t < base) ? 1.0 : std::exp(-(t - base) / std::max(theta, 1e-9));
      s += m.b[j].w * ((1 - rho) * idle + rho * busy);
    }
    return s;
  };
  double mean_own = 0;
  for (size_t j = 0; j < m.b.size(); ++j) mean_own += m.b[j].w * (own[j] + kvx[j]);
  out.ttft_mean_ms = mean_own + ew + (1 - rho) * resid;
  auto ttft_q = [&](double q) {
    return MixtureQuantile(q, 0, std::max(1.0, 4 * out.ttft_mean_ms),
                           [&](double t) { return ttft_surv(t, 0); });
  };
  out.ttft_p50_ms = ttft_q(0.50);
  out.ttft_p90_ms = ttft_q(0.90);
  out.ttft_p95_ms = ttft_q(0.95);
  out.ttft_p99_ms = ttft_q(0.99);
  out.queue_len = lam * ew;

  // ITL: every iteration gives each running sequence one token; iterations are
  // decode-only (time t_dec at a fluctuating batch) or carry a prefill chunk.
  if (has_decode && n > 0) {
    struct Atom {
      double t, w;
    };
    std::vector<Atom> atoms;
    const double room = std::max(1.0, m.budget - n);
    const double it_dec = (1 - u) / std::max(t_dec, 1e-6);
    const double it_alone = has_prefill ? lam * e_chunks * (1 - up) : 0;
    const double it_full = has_prefill ? up / std::max(t_full, 1e-6) : 0;
    const double it_total = it_dec + it_alone + it_full;
    const double sd = std::sqrt(std::max(n, 1.0));
    for (size_t z = 0; z < kZ.size(); ++z) {
      const double nz = std::clamp(n + kZ[z] * sd, 1.0, std::max(1.0, m.n_max));
      atoms.push_back({m.Dec(nz), kZw[z] * it_dec / it_total});
    }
    if (it_alone > 0)
      for (const Bucket& k : m.b) {
        const double chunks = std::ceil(k.p / room);
        const double per = m.Alone(k, n) / chunks;
        atoms.push_back({per, it_alone / it_total * k.w * chunks / std::max(e_chunks, 1e-9)});
      }
    if (it_full > 0) atoms.push_back({t_full, it_full / it_total});
    double mean = 0, wsum = 0;
    for (const Atom& a : atoms) mean += a.t * a.w, wsum += a.w;
    out.itl_mean_ms = mean / wsum;
    std::sort(atoms.begin(), atoms.end(), [](const Atom& a, const Atom& b) { return a.t < b.t; });
    double acc = 0;
    out.itl_p95_ms = atoms.back().t;
    for (const Atom& a : atoms) {
      acc += a.w / wsum;
      if (acc >= 0.95) {
        out.itl_p95_ms = a.t;
        break;
      }
    }
    out.throughput_tok_s = rate * (m.eo1 + 1);
  } else {
    out.itl_mean_ms = out.itl_p95_ms = 0;
    out.throughput_tok_s = rate;
  }
  // TTLT: TTFT plus (O-1) tokens at the mean ITL.
  out.ttlt_mean_ms = out.ttft_mean_ms + m.eo1 * out.itl_mean_ms;
  out.ttlt_p95_ms = MixtureQuantile(0.95, 0, std::max(1.0, 4 * out.ttlt_mean_ms), [&](double t) {
    return ttft_surv(t, out.itl_mean_ms);
  });
  return out;
}

Result<Prediction> MaxRate(const ReplicaConfig& cfg, const Workload& w,
                           const std::vector<SloTerm>& slo) {
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
  Prediction lo = Predict(cfg, w, eps);
  if (!meets(lo)) {
    std::string worst;
    for (const SloTerm& t : slo)
      if (!(lo.Metric(t) <= t.target_ms)) {
        std::ostringstream os;
        os << (t.metric == VARIANT_METRIC_TTFT ? "TTFT" : t.metric == VARIANT_METRIC_ITL ? "ITL" : "TTLT")
           << (t.percentile == 0 ? std::string(" mean") : " p" + std::to_string(static_cast<int>(t.percentile)))
           << " is " << lo.Metric(t) << " ms even at zero load, above the target "
           << t.target_ms << " ms";
        worst = os.str();
        break;
      }
    return Status(VARIANT_E_SLO_UNATTAINABLE, "no arrival rate meets the SLOs: " + worst);
  }
  // Bracket: grow until the SLOs fail.
  double a = eps, b = 1;
  Prediction pa = lo;
  for (int i = 0; i < 40; ++i) {
    Prediction pb = Predict(cfg, w, b);
    if (!meets(pb)) break;
    a = b;
    pa = pb;
    b *= 2;
  }
  for (int i = 0; i < 30 && (b - a) > 2e-3 * b; ++i) {
    const double mid = 0.5 * (a + b);
    Prediction pm = Predict(cfg, w, mid);
    if (meets(pm)) {
      a = mid;
      pa = pm;
    } else {
      b = mid;
    }
  }
  return pa;
}

}  // namespace variant
