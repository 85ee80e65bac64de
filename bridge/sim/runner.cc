#include "sim/runner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace variant::sim {
namespace {

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double x = std::clamp(p / 100.0, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(x);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (sorted[i + 1] - sorted[i]) * (x - static_cast<double>(i));
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Least-squares slope of y over x.
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

int RoundRandom(double x, std::mt19937_64& rng) {
  const double f = std::floor(x);
  int v = static_cast<int>(f);
  if (x > f) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    if (u < x - f) ++v;
  }
  return std::max(1, v);
}

std::vector<SimRequest> MakePoisson(const LengthSampler& lengths, double rate, size_t n,
                                    uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> unit(1.0);
  std::vector<SimRequest> reqs(n);
  double t = 0;
  for (size_t i = 0; i < n; ++i) {
    t += unit(rng) / rate;
    reqs[i].id = i;
    reqs[i].arrival_s = t;
    lengths.Draw(rng, &reqs[i].input_tokens, &reqs[i].output_tokens);
  }
  return reqs;
}

}  // namespace

// ---------------------------------------------------------------- LengthSampler

Result<LengthSampler> LengthSampler::FromWorkload(const Workload& w) {
  if (w.input.empty() || w.input.size() != w.output.size() || w.input.size() != w.weight.size())
    return InvalidArgument("workload: input, output and weight must be non-empty and of one length");
  if (!(w.prefix_hit_ratio >= 0 && w.prefix_hit_ratio < 1))
    return InvalidArgument("workload: prefix_hit_ratio must be in [0, 1)");
  LengthSampler s;
  double total = 0, si = 0, so = 0;
  for (size_t i = 0; i < w.input.size(); ++i) {
    if (!(w.input[i] >= 1) || !(w.output[i] >= 1) || !std::isfinite(w.input[i]) ||
        !std::isfinite(w.output[i]))
      return InvalidArgument("workload bucket " + std::to_string(i) +
                             ": input and output must be numbers >= 1");
    if (!(w.weight[i] >= 0) || !std::isfinite(w.weight[i]))
      return InvalidArgument("workload bucket " + std::to_string(i) + ": weight must be >= 0");
    total += w.weight[i];
    si += w.weight[i] * w.input[i];
    so += w.weight[i] * w.output[i];
    s.cum_.push_back(total);
    s.in_.push_back(w.input[i]);
    s.out_.push_back(w.output[i]);
  }
  if (!(total > 0)) return InvalidArgument("workload: the weights sum to 0");
  s.mean_in_ = si / total;
  s.mean_out_ = so / total;
  s.prefix_hit_ratio_ = w.prefix_hit_ratio;
  return s;
}

Result<LengthSampler> LengthSampler::FromTrace(const std::vector<TraceRequest>& t) {
  if (t.empty()) return InvalidArgument("trace has no requests");
  LengthSampler s;
  for (const TraceRequest& r : t) {
    s.in_.push_back(r.input_tokens);
    s.out_.push_back(r.output_tokens);
  }
  s.mean_in_ = Mean(s.in_);
  s.mean_out_ = Mean(s.out_);
  return s;
}

void LengthSampler::Draw(std::mt19937_64& rng, int* input, int* output) const {
  const double u = std::uniform_real_distribution<double>(0, 1)(rng);
  size_t i;
  if (cum_.empty()) {
    i = std::min(in_.size() - 1, static_cast<size_t>(u * static_cast<double>(in_.size())));
    *input = static_cast<int>(in_[i]);
    *output = static_cast<int>(out_[i]);
    return;
  }
  i = static_cast<size_t>(std::upper_bound(cum_.begin(), cum_.end(), u * cum_.back()) - cum_.begin());
  i = std::min(i, cum_.size() - 1);
  *input = RoundRandom(in_[i], rng);
  *output = RoundRandom(out_[i], rng);
}

// ---------------------------------------------------------------- SimStats

double SimStats::Metric(const SloTerm& t) const {
  switch (t.metric) {
    case VARIANT_METRIC_TTFT:
      return t.percentile > 0 ? Percentile(ttft_ms, t.percentile) : ttft_mean_ms;
    case VARIANT_METRIC_ITL:
      return t.percentile > 0 ? itl_ms.Quantile(t.percentile / 100.0) : itl_mean_ms;
    case VARIANT_METRIC_TPOT:
      return t.percentile > 0 ? Percentile(tpot_ms, t.percentile) : itl_mean_ms;
    case VARIANT_METRIC_TTLT:
      return t.percentile > 0 ? Percentile(ttlt_ms, t.percentile) : ttlt_mean_ms;
    default:
      return std::numeric_limits<double>::infinity();
  }
}

bool MeetsSlo(const SimStats& s, const std::vector<SloTerm>& slo) {
  if (!s.stable) return false;
  for (const SloTerm& t : slo)
    if (!(s.Metric(t) <= t.target_ms)) return false;
  return true;
}

// ---------------------------------------------------------------- runs

Result<SimStats> RunArrivals(const ServerConfig& cfg, const std::vector<SimRequest>& reqs,
                             double warmup_fraction) {
  if (reqs.size() < 2) return InvalidArgument("a run needs at least 2 requests");
  if (!(warmup_fraction >= 0 && warmup_fraction < 1))
    return InvalidArgument("warmup_fraction must be in [0, 1)");
  auto made = ServerSim::Create(cfg);
  if (!made.ok()) return made.status();
  ServerSim& sim = **made;
  const size_t warm = std::min(reqs.size() - 2,
                               static_cast<size_t>(warmup_fraction * static_cast<double>(reqs.size())));
  for (size_t i = 0; i < reqs.size(); ++i) {
    SimRequest r = reqs[i];
    r.tag = i >= warm ? 1 : 0;  // runner's own use of the tag: 1 = measured
    Status st = sim.Enqueue(r);
    if (!st.ok()) return st;
  }
  const double t_warm = reqs[warm].arrival_s;
  const double t_end = reqs.back().arrival_s;
  sim.AdvanceTo(t_warm);
  const ServerCounters c0 = sim.counters();
  // Queue samples over the window, for the boundedness check.
  constexpr int kSamples = 200;
  std::vector<double> xs, ys;
  const double span = t_end - t_warm;
  for (int k = 1; k <= kSamples && span > 0; ++k) {
    const double t = t_warm + span * k / kSamples;
    sim.AdvanceTo(t);
    if (k > kSamples / 2) {
      xs.push_back(t);
      ys.push_back(sim.gauges().waiting);
    }
  }
  sim.AdvanceTo(t_end);
  const ServerCounters c1 = sim.counters();
  sim.Drain();
  const ServerCounters& c2 = sim.counters();

  SimStats s;
  s.window_s = span;
  double itl_sum = 0, itl_n = 0, first_arrival = t_warm, last_finish = t_warm;
  for (const RequestResult& r : sim.finished()) {
    if (r.tag != 1) continue;
    s.ttft_ms.push_back(r.ttft_ms());
    s.ttlt_ms.push_back(r.ttlt_ms());
    s.tpot_ms.push_back(r.itl_mean_ms());
    itl_sum += r.itl_sum_ms;
    itl_n += r.itl_count;
    last_finish = std::max(last_finish, r.finish_s);
  }
  s.measured = s.ttft_ms.size();
  if (s.measured != reqs.size() - warm) return Internal("simulated run lost requests");
  std::sort(s.ttft_ms.begin(), s.ttft_ms.end());
  std::sort(s.ttlt_ms.begin(), s.ttlt_ms.end());
  std::sort(s.tpot_ms.begin(), s.tpot_ms.end());
  s.ttft_p50_ms = Percentile(s.ttft_ms, 50);
  s.ttft_p90_ms = Percentile(s.ttft_ms, 90);
  s.ttft_p95_ms = Percentile(s.ttft_ms, 95);
  s.ttft_p99_ms = Percentile(s.ttft_ms, 99);
  s.ttft_mean_ms = Mean(s.ttft_ms);
  s.ttlt_p95_ms = Percentile(s.ttlt_ms, 95);
  s.ttlt_mean_ms = Mean(s.ttlt_ms);
  s.itl_mean_ms = itl_n > 0 ? itl_sum / itl_n : 0;
  // Token gaps after the warm-up: the final histogram less the one at t_warm.
  s.itl_ms = c2.itl_ms;
  s.itl_ms.Subtract(c0.itl_ms);
  s.itl_p95_ms = s.itl_ms.Quantile(0.95);
  if (span > 0) {
    s.rate_rps = static_cast<double>(reqs.size() - warm - 1) / span;
    s.throughput_tok_s = static_cast<double>(c1.generation_tokens - c0.generation_tokens) / span;
    s.utilization = std::min(1.0, (c1.busy_s - c0.busy_s) / span);
    s.queue_len = (c1.waiting_integral - c0.waiting_integral) / span;
    s.mean_batch = (c1.running_integral - c0.running_integral) / span;
    s.kv_usage = (c1.kv_used_integral - c0.kv_used_integral) / span;
  }
  if (last_finish > first_arrival)
    s.throughput_rps = static_cast<double>(s.measured) / (last_finish - first_arrival);
  s.preemptions = c2.preemptions - c0.preemptions;
  s.queue_growth = Slope(xs, ys) * span / 2;
  const double half_arrivals = s.rate_rps * span / 2;
  s.stable = s.queue_growth <= std::max(10.0, 0.05 * half_arrivals);
  return s;
}

Result<SimStats> RunPoisson(const ServerConfig& cfg, const LengthSampler& lengths,
                            double rate_rps, const RunOptions& opt) {
  if (!(rate_rps > 0) || !std::isfinite(rate_rps))
    return InvalidArgument("rate must be a positive number of requests/s");
  if (opt.num_requests < 10) return InvalidArgument("a run needs at least 10 requests");
  ServerConfig c = cfg;
  if (lengths.prefix_hit_ratio() > 0) c.prefix_hit_ratio = lengths.prefix_hit_ratio();
  return RunArrivals(c, MakePoisson(lengths, rate_rps, opt.num_requests, opt.seed),
                     opt.warmup_fraction);
}

Result<SimStats> RunTrace(const ServerConfig& cfg, const std::vector<TraceRequest>& trace,
                          const RunOptions& opt) {
  std::vector<SimRequest> reqs(trace.size());
  for (size_t i = 0; i < trace.size(); ++i) {
    reqs[i].id = i;
    reqs[i].arrival_s = trace[i].arrival_s;
    reqs[i].input_tokens = trace[i].input_tokens;
    reqs[i].output_tokens = trace[i].output_tokens;
  }
  return RunArrivals(cfg, reqs, opt.warmup_fraction);
}

Result<double> SaturationRate(const ServerConfig& cfg, const LengthSampler& lengths,
                              const RunOptions& opt) {
  ServerConfig c = cfg;
  if (lengths.prefix_hit_ratio() > 0) c.prefix_hit_ratio = lengths.prefix_hit_ratio();
  auto made = ServerSim::Create(c);
  if (!made.ok()) return made.status();
  ServerSim& sim = **made;
  const size_t n = std::max<size_t>(200, std::min<size_t>(opt.num_requests, 5000));
  std::vector<SimRequest> reqs = MakePoisson(lengths, 1.0, n, opt.seed);
  for (SimRequest& r : reqs) {
    r.arrival_s = 0;
    Status st = sim.Enqueue(r);
    if (!st.ok()) return st;
  }
  sim.Drain();
  std::vector<double> fin;
  for (const RequestResult& r : sim.finished()) fin.push_back(r.finish_s);
  std::sort(fin.begin(), fin.end());
  const size_t a = fin.size() / 10, b = fin.size() * 9 / 10;
  if (b <= a || !(fin[b] > fin[a])) return Internal("saturation run finished nothing");
  return static_cast<double>(b - a) / (fin[b] - fin[a]);
}

Result<SearchResult> SustainableRate(const ServerConfig& cfg, const LengthSampler& lengths,
                                     const std::vector<SloTerm>& slo, const SearchOptions& opt) {
  if (slo.empty()) return InvalidArgument("no SLO terms to search against");
  if (!(opt.rel_tol > 0)) return InvalidArgument("rel_tol must be > 0");
  SearchResult out;
  auto sat = SaturationRate(cfg, lengths, opt.run);
  if (!sat.ok()) return sat.status();
  out.saturation_rps = *sat;
  auto eval = [&](double rate, SimStats* st) -> Result<bool> {
    auto r = RunPoisson(cfg, lengths, rate, opt.run);
    if (!r.ok()) return r.status();
    const bool met = MeetsSlo(*r, slo);
    out.probes.emplace_back(rate, met);
    *st = std::move(r.value());
    return met;
  };
  SimStats st_lo, st;
  double lo = 0.02 * out.saturation_rps, hi = 1.25 * out.saturation_rps;
  auto m = eval(lo, &st_lo);
  if (!m.ok()) return m.status();
  if (!*m) {
    std::string what;
    for (const SloTerm& t : slo) {
      if (!(st_lo.Metric(t) <= t.target_ms))
        what += " " + std::string(MetricName(t.metric)) +
                (t.percentile > 0 ? "_p" + std::to_string(static_cast<int>(t.percentile)) : "_mean") +
                " is " + std::to_string(st_lo.Metric(t)) + " ms > " + std::to_string(t.target_ms) + ";";
    }
    return Status(VARIANT_E_SLO_UNATTAINABLE,
                  "even at " + std::to_string(lo) + " req/s (2% of saturation) the simulated server"
                  " misses the SLO:" + what);
  }
  // Make sure hi misses (it almost always does: it is above saturation).
  for (int k = 0; k < 4; ++k) {
    auto mh = eval(hi, &st);
    if (!mh.ok()) return mh.status();
    if (!*mh) break;
    lo = hi;
    st_lo = st;
    hi *= 2;
  }
  while (hi - lo > opt.rel_tol * lo) {
    const double mid = 0.5 * (lo + hi);
    auto mm = eval(mid, &st);
    if (!mm.ok()) return mm.status();
    if (*mm) {
      lo = mid;
      st_lo = std::move(st);
    } else {
      hi = mid;
    }
  }
  out.max_rate_rps = lo;
  out.at_max = std::move(st_lo);
  return out;
}

}  // namespace variant::sim
