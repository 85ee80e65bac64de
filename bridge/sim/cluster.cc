#include "sim/cluster.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <random>
#include <tuple>

#include "variant/collector/derive.h"
#include "variant/collector/vllm_source.h"

namespace variant::sim {
namespace {

using collector::Exposition;
using collector::Family;
using collector::MetricType;
using collector::Sample;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Prometheus bucket bounds of the simulated servers' histograms.
const std::vector<double> kLenLe = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
const std::vector<double> kTtftLe = {0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32};
const std::vector<double> kItlLe = {0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.5, 1};

struct Replica {
  int model = 0, variant = 0;
  std::unique_ptr<ServerSim> sim;
  std::string pod;
  double added_s = 0, ready_s = 0;
  bool ready = false, draining = false;
  uint64_t enqueued = 0;
  size_t life = 0;
  // Cumulative length histograms over finished requests (the exposition's
  // vllm:request_prompt_tokens / vllm:request_generation_tokens).
  std::vector<uint64_t> in_le, out_le;
  double in_sum = 0, out_sum = 0;
  uint64_t done = 0;
  uint64_t Outstanding() const { return enqueued - sim->counters().requests_finished; }
  // Requests held but not running (waiting, preempted or arrived during the step).
  int Queued() const {
    return static_cast<int>(Outstanding()) - sim->gauges().running;
  }
};

struct ReqState {
  double dispatch_s = -1;
  double ttft_ms = NAN, itl_mean_ms = NAN, ttlt_ms = NAN;
  bool done = false, refused = false;
  int variant = -1;
};

void AddFamily(Exposition* e, const std::string& name, MetricType t) {
  e->families[name] = Family{name, t, ""};
}

Exposition Prototype() {
  Exposition e;
  AddFamily(&e, "vllm:num_requests_running", MetricType::kGauge);
  AddFamily(&e, "vllm:num_requests_waiting", MetricType::kGauge);
  AddFamily(&e, "vllm:kv_cache_usage_perc", MetricType::kGauge);
  AddFamily(&e, "vllm:request_success", MetricType::kCounter);
  AddFamily(&e, "vllm:prompt_tokens", MetricType::kCounter);
  AddFamily(&e, "vllm:generation_tokens", MetricType::kCounter);
  AddFamily(&e, "vllm:request_prompt_tokens", MetricType::kHistogram);
  AddFamily(&e, "vllm:request_generation_tokens", MetricType::kHistogram);
  AddFamily(&e, "vllm:time_to_first_token_seconds", MetricType::kHistogram);
  AddFamily(&e, "vllm:inter_token_latency_seconds", MetricType::kHistogram);
  return e;
}

std::string LeText(double le) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", le);
  return buf;
}

void PutHist(Exposition* e, const std::string& name, const std::string& model,
             const std::vector<double>& les, const std::vector<uint64_t>& cum, uint64_t count,
             double sum) {
  for (size_t i = 0; i < les.size(); ++i) {
    e->samples.push_back(Sample{name + "_bucket", {{"le", LeText(les[i])}, {"model_name", model}},
                                static_cast<double>(cum[i]), std::nullopt});
  }
  e->samples.push_back(Sample{name + "_bucket", {{"le", "+Inf"}, {"model_name", model}},
                              static_cast<double>(count), std::nullopt});
  e->samples.push_back(
      Sample{name + "_count", {{"model_name", model}}, static_cast<double>(count), std::nullopt});
  e->samples.push_back(Sample{name + "_sum", {{"model_name", model}}, sum, std::nullopt});
}

// What a vLLM server of this replica would serve on /metrics now.
Exposition Scrape(const Replica& r, const std::string& model, const Exposition& proto) {
  Exposition e = proto;
  const ServerCounters& c = r.sim->counters();
  ServerGauges g = r.sim->gauges();
  auto put = [&](const std::string& n, double v) {
    e.samples.push_back(Sample{n, {{"model_name", model}}, v, std::nullopt});
  };
  put("vllm:num_requests_running", g.running);
  put("vllm:num_requests_waiting", g.waiting);
  put("vllm:kv_cache_usage_perc", g.kv_usage);
  put("vllm:request_success_total", static_cast<double>(c.requests_finished));
  put("vllm:prompt_tokens_total", static_cast<double>(c.prompt_tokens + c.prefix_hit_tokens));
  put("vllm:generation_tokens_total", static_cast<double>(c.generation_tokens));
  PutHist(&e, "vllm:request_prompt_tokens", model, kLenLe, r.in_le, r.done, r.in_sum);
  PutHist(&e, "vllm:request_generation_tokens", model, kLenLe, r.out_le, r.done, r.out_sum);
  std::vector<uint64_t> cum(kTtftLe.size());
  for (size_t i = 0; i < kTtftLe.size(); ++i) cum[i] = c.ttft_ms.CountAtMost(kTtftLe[i] * 1e3);
  PutHist(&e, "vllm:time_to_first_token_seconds", model, kTtftLe, cum, c.ttft_ms.count(),
          c.ttft_ms.sum() / 1e3);
  cum.assign(kItlLe.size(), 0);
  for (size_t i = 0; i < kItlLe.size(); ++i) cum[i] = c.itl_ms.CountAtMost(kItlLe[i] * 1e3);
  PutHist(&e, "vllm:inter_token_latency_seconds", model, kItlLe, cum, c.itl_ms.count(),
          c.itl_ms.sum() / 1e3);
  return e;
}

std::vector<double> LogEdges(double lo, double hi, int n) {
  std::vector<double> e(n + 1);
  for (int i = 0; i <= n; ++i) e[i] = lo * std::pow(hi / lo, static_cast<double>(i) / n);
  return e;
}

Histogram FromLog(const LogHistogram& h, const std::vector<double>& edges) {
  Histogram out{edges, std::vector<uint64_t>(edges.size() - 1, 0)};
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    uint64_t hi = h.CountAtMost(edges[i + 1]), lo = i == 0 ? 0 : h.CountAtMost(edges[i]);
    out.counts[i] = hi >= lo ? hi - lo : 0;
  }
  // Values outside the range land in the end bins (the plots show them there).
  uint64_t total = 0;
  for (uint64_t c : out.counts) total += c;
  if (h.count() > total) out.counts.back() += h.count() - total;
  return out;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())) - (q > 0 ? 1 : 0));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

// One run's mutable state.
class Run {
 public:
  Run(const ClusterSpec& spec, const std::vector<ClusterRequest>& reqs, Controller* ctl,
      uint64_t seed)
      : spec_(spec), reqs_(reqs), ctl_(ctl), rng_(seed), proto_(Prototype()) {}

  Result<RunResult> Go(const std::function<void(double)>& progress);

 private:
  Status Actuate(double t);
  Status AddReplica(int m, int v, double t, bool warm);
  void RemoveReplica(size_t idx, double t);
  void Activate(double upto);
  void AdvanceAll(double t);
  void Collect(Replica& r);
  void Route(size_t i, double t);
  bool Dispatch(size_t i, double t);
  Status Tick(double t);
  void Sample(double t);
  double ChargeEnd(double t) const { return std::min(t, duration_); }

  const ClusterSpec& spec_;
  const std::vector<ClusterRequest>& reqs_;
  Controller* ctl_;
  std::mt19937_64 rng_;
  Exposition proto_;
  collector::Deriver deriver_;

  double duration_ = 0;
  std::vector<std::unique_ptr<Replica>> reps_;
  std::vector<ReqState> state_;
  std::vector<std::deque<size_t>> gateway_;  // [model] requests waiting for any ready replica
  std::vector<int> used_;                    // accelerators in use per type
  Desired desired_;
  bool have_desired_ = false;
  std::vector<std::vector<int>> last_count_;  // [model][variant] after the last actuation
  std::vector<std::tuple<double, int, int>> changes_;
  int pod_seq_ = 0;
  uint64_t rr_ = 0;

  // Gateway accounting per model.
  std::vector<uint64_t> win_arrivals_;
  std::vector<double> win_in_, win_out_;
  std::vector<uint64_t> sample_arrivals_;
  std::vector<std::deque<const ClusterRequest*>> recent_;
  double last_scrape_ = 0, last_decision_ = -kInf;
  std::vector<double> decided_rate_;
  uint64_t bus_seq_ = 0;

  RunResult res_;
  LogHistogram itl_all_;
  std::vector<LogHistogram> itl_model_;  // per model (index = model)
  double busy_acc_s_ = 0, paid_acc_s_ = 0;  // for utilization (whole run)
  double next_sample_ = 0;
  double retry_at_ = 0;
};

Status Run::AddReplica(int m, int v, double t, bool warm) {
  const ClusterVariant& var = spec_.models[m].variants[v];
  const ClusterAccelerator& acc = spec_.accelerators[var.accelerator];
  if (acc.count > 0 && used_[var.accelerator] + var.tp > acc.count) {
    return Status(VARIANT_E_INFEASIBLE, "cap");
  }
  ReplicaConfig rc;
  rc.step = var.step;
  rc.max_batch = var.max_batch;
  rc.max_tokens_per_step = var.max_tokens_per_step;
  rc.gpu_memory_util = var.gpu_memory_util;
  ServerConfig sc = ServerConfig::FromReplica(rc, 0);
  auto sim = ServerSim::Create(sc);
  if (!sim.ok()) return sim.status();
  auto r = std::make_unique<Replica>();
  r->model = m;
  r->variant = v;
  r->sim = std::move(*sim);
  r->sim->AdvanceTo(t);
  r->pod = spec_.models[m].name + "/" + var.name + "/" + std::to_string(++pod_seq_);
  r->added_s = t;
  r->ready_s = (warm || ctl_->NoColdStart()) ? t : t + spec_.cold_start_s;
  r->ready = r->ready_s <= t;
  r->in_le.assign(kLenLe.size(), 0);
  r->out_le.assign(kLenLe.size(), 0);
  used_[var.accelerator] += var.tp;
  res_.max_accelerators_used_over_cap =
      std::max(res_.max_accelerators_used_over_cap,
               acc.count > 0 ? used_[var.accelerator] - acc.count : 0);
  r->life = res_.lives.size();
  res_.lives.push_back({m, v, t, r->ready_s, -1, -1});
  reps_.push_back(std::move(r));
  return Status::Ok();
}

void Run::RemoveReplica(size_t idx, double t) {
  Replica& r = *reps_[idx];
  Collect(r);
  const ClusterVariant& var = spec_.models[r.model].variants[r.variant];
  double price = spec_.accelerators[var.accelerator].cost_per_hour;
  double paid = std::max(0.0, ChargeEnd(t) - ChargeEnd(r.added_s));
  res_.cost_usd += paid * var.tp * price / 3600;
  res_.gpu_hours += paid * var.tp / 3600;
  res_.per_model[r.model].cost_usd += paid * var.tp * price / 3600;
  busy_acc_s_ += r.sim->counters().busy_s * var.tp;
  paid_acc_s_ += std::max(0.0, t - r.added_s) * var.tp;
  itl_all_.Merge(r.sim->counters().itl_ms);
  itl_model_[r.model].Merge(r.sim->counters().itl_ms);
  used_[var.accelerator] -= var.tp;
  res_.lives[r.life].removed_s = t;
  deriver_.Forget(r.pod);
  reps_.erase(reps_.begin() + static_cast<long>(idx));
}

void Run::Collect(Replica& r) {
  auto& fin = r.sim->finished();
  for (const RequestResult& f : fin) {
    ReqState& s = state_[f.id];
    const ClusterRequest& q = reqs_[f.id];
    s.done = true;
    s.ttft_ms = (f.first_token_s - q.arrival_s) * 1e3;
    s.ttlt_ms = (f.finish_s - q.arrival_s) * 1e3;
    s.itl_mean_ms = f.itl_mean_ms();
    for (size_t i = 0; i < kLenLe.size(); ++i) {
      if (f.input_tokens <= kLenLe[i]) r.in_le[i]++;
      if (f.output_tokens <= kLenLe[i]) r.out_le[i]++;
    }
    r.in_sum += f.input_tokens;
    r.out_sum += f.output_tokens;
    r.done++;
  }
  fin.clear();
}

void Run::AdvanceAll(double t) {
  for (auto& r : reps_) {
    if (r->ready) r->sim->AdvanceTo(t);
  }
}

// Tries replicas of the model in order of preference; false if none could take it.
bool Run::Dispatch(size_t i, double t) {
  const ClusterRequest& q = reqs_[i];
  // Candidates: ready, not draining replicas of the model, advanced to t.
  // Saturated replicas (spec_.max_queued requests queued) take nothing: the gateway
  // holds the request (flow control), so new replicas can take a backlog.
  std::vector<Replica*> cand;
  bool any = false;
  for (auto& r : reps_) {
    if (r->model == q.model && r->ready && !r->draining) {
      any = true;
      r->sim->AdvanceTo(t);
      if (r->Queued() < spec_.max_queued) cand.push_back(r.get());
    }
  }
  (void)any;
  if (cand.empty()) return false;
  int pick_variant = -1;
  if (have_desired_ && !desired_.routing.empty() && !desired_.routing[q.model].empty() &&
      !desired_.routing[q.model][q.cls].empty()) {
    const auto& buckets = desired_.routing[q.model][q.cls];
    const RoutingBucket* best = nullptr;
    double bd = kInf;
    for (const RoutingBucket& b : buckets) {
      double d = std::fabs(std::log(q.input_tokens / b.input)) +
                 std::fabs(std::log(q.output_tokens / b.output));
      if (d < bd) {
        bd = d;
        best = &b;
      }
    }
    if (best) {
      // Weighted draw over the variants that have a candidate replica.
      std::vector<double> w(best->weights.size(), 0);
      double tot = 0;
      for (Replica* r : cand) {
        if (r->variant < static_cast<int>(w.size()) && w[r->variant] == 0) {
          w[r->variant] = best->weights[r->variant];
          tot += w[r->variant];
        }
      }
      if (tot > 0) {
        double u = std::uniform_real_distribution<double>(0, tot)(rng_);
        for (size_t v = 0; v < w.size(); ++v) {
          if (w[v] <= 0) continue;
          pick_variant = static_cast<int>(v);
          u -= w[v];
          if (u <= 0) break;
        }
      }
    }
  }
  // Order: the picked variant first, then by outstanding requests relative to the
  // replica's batch size (least loaded), ties round robin.
  ++rr_;
  std::vector<std::pair<double, Replica*>> order;
  for (size_t k = 0; k < cand.size(); ++k) {
    Replica* r = cand[k];
    double load = static_cast<double>(r->Outstanding()) /
                  spec_.models[r->model].variants[r->variant].max_batch;
    double key = (r->variant == pick_variant ? 0 : 1e6) + load +
                 1e-9 * static_cast<double>((k + rr_) % cand.size());
    order.emplace_back(key, r);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  SimRequest sr;
  sr.id = i;
  sr.arrival_s = t;
  sr.input_tokens = q.input_tokens;
  sr.output_tokens = q.output_tokens;
  sr.tag = q.cls;
  for (auto& [k, r] : order) {
    Status s = r->sim->Enqueue(sr);
    if (s.ok()) {
      r->enqueued++;
      state_[i].dispatch_s = t;
      state_[i].variant = r->variant;
      if (res_.lives[r->life].first_work_s < 0) res_.lives[r->life].first_work_s = t;
      return true;
    }
  }
  state_[i].refused = true;  // fits no replica's KV cache
  res_.refused++;
  return true;
}

void Run::Route(size_t i, double t) {
  const ClusterRequest& q = reqs_[i];
  win_arrivals_[q.model]++;
  win_in_[q.model] += q.input_tokens;
  win_out_[q.model] += q.output_tokens;
  sample_arrivals_[q.model]++;
  recent_[q.model].push_back(&q);
  if (!gateway_[q.model].empty() || !Dispatch(i, t)) gateway_[q.model].push_back(i);
}

// Marks replicas whose cold start ends by `upto` ready, in time order, and hands them
// the requests the gateway held.
void Run::Activate(double upto) {
  for (;;) {
    Replica* next = nullptr;
    for (auto& r : reps_) {
      if (!r->ready && r->ready_s <= upto && (!next || r->ready_s < next->ready_s)) next = r.get();
    }
    if (!next) return;
    next->ready = true;
    next->sim->AdvanceTo(next->ready_s);
    auto& q = gateway_[next->model];
    while (!q.empty() && Dispatch(q.front(), next->ready_s)) q.pop_front();
  }
}

Status Run::Actuate(double t) {
  if (!have_desired_) return Status::Ok();
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    const ClusterModel& mod = spec_.models[m];
    bool starting_any = false;
    for (auto& r : reps_) starting_any |= (r->model == static_cast<int>(m) && !r->ready);
    for (size_t v = 0; v < mod.variants.size(); ++v) {
      int want = desired_.replicas[m][v];
      int cur = 0;
      for (auto& r : reps_) cur += (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v) && !r->draining);
      while (cur < want) {
        Status s = AddReplica(static_cast<int>(m), static_cast<int>(v), t, false);
        if (!s.ok()) {
          if (s.code() == VARIANT_E_INFEASIBLE) {
            res_.capped++;
            break;
          }
          return s;
        }
        ++cur;
        starting_any = true;
      }
    }
    for (size_t v = 0; v < mod.variants.size(); ++v) {
      int want = desired_.replicas[m][v];
      int cur = 0;
      for (auto& r : reps_) cur += (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v) && !r->draining);
      while (cur > want) {
        // A starting replica goes first (newest first), at once: it holds nothing.
        long pick = -1;
        for (long k = static_cast<long>(reps_.size()) - 1; k >= 0; --k) {
          const Replica& r = *reps_[k];
          if (r.model == static_cast<int>(m) && r.variant == static_cast<int>(v) && !r.ready) {
            pick = k;
            break;
          }
        }
        if (pick >= 0) {
          RemoveReplica(static_cast<size_t>(pick), t);
          --cur;
          continue;
        }
        if (desired_.make_before_break && starting_any) break;
        // Else the least loaded ready replica drains.
        Replica* best = nullptr;
        for (auto& r : reps_) {
          if (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v) && !r->draining &&
              (!best || r->Outstanding() < best->Outstanding()))
            best = r.get();
        }
        if (!best) break;
        best->sim->AdvanceTo(t);
        best->draining = true;
        best->sim->SetDraining(true);
        --cur;
      }
    }
    // Requests held at the gateway go to any replica that is now ready.
    auto& q = gateway_[m];
    while (!q.empty() && Dispatch(q.front(), t)) q.pop_front();
  }
  // Changes per variant (reversal counting).
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    for (size_t v = 0; v < spec_.models[m].variants.size(); ++v) {
      int cur = 0;
      for (auto& r : reps_) cur += (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v) && !r->draining);
      int prev = last_count_[m][v];
      if (cur != prev) {
        res_.scaling_actions++;
        changes_.emplace_back(t, static_cast<int>(m * 1000 + v), cur > prev ? 1 : -1);
      }
      last_count_[m][v] = cur;
    }
  }
  return Status::Ok();
}

void Run::Sample(double t) {
  res_.t_s.push_back(t);
  double cph = 0;
  for (auto& r : reps_) cph += spec_.models[r->model].variants[r->variant].cost_per_hour;
  res_.cost_per_hour.push_back(cph);
  double dt = res_.t_s.size() > 1 ? t - res_.t_s[res_.t_s.size() - 2] : 0;
  for (size_t m = 0; m < spec_.models.size(); ++m) {
    res_.demand_rps[m].push_back(dt > 0 ? sample_arrivals_[m] / dt : 0);
    sample_arrivals_[m] = 0;
    for (size_t v = 0; v < spec_.models[m].variants.size(); ++v) {
      int n = 0;
      for (auto& r : reps_) n += (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v) && !r->draining);
      res_.replicas[m][v].push_back(n);
    }
  }
}

Status Run::Tick(double t) {
  AdvanceAll(t);
  for (auto& r : reps_) Collect(*r);
  for (size_t k = reps_.size(); k-- > 0;) {
    if (reps_[k]->draining && reps_[k]->sim->Empty()) RemoveReplica(k, t);
  }
  // Scrape and publish: collector per variant, gateway per model, through the codec.
  const size_t nm = spec_.models.size();
  Observed obs;
  obs.now_s = t;
  obs.gateway.resize(nm);
  obs.variants.resize(nm);
  obs.ready.resize(nm);
  obs.starting.resize(nm);
  obs.recent.resize(nm);
  double window = t - last_scrape_;
  std::vector<std::vector<std::vector<collector::Observation>>> groups(nm);
  for (size_t m = 0; m < nm; ++m) {
    size_t nv = spec_.models[m].variants.size();
    groups[m].resize(nv);
    obs.variants[m].resize(nv);
    obs.ready[m].assign(nv, 0);
    obs.starting[m].assign(nv, 0);
  }
  for (auto& r : reps_) {
    if (!r->ready) {
      if (!r->draining) obs.starting[r->model][r->variant]++;
      continue;
    }
    if (!r->draining) obs.ready[r->model][r->variant]++;
    for (auto& o : deriver_.Update(r->pod, t, Scrape(*r, spec_.models[r->model].name, proto_)))
      groups[r->model][r->variant].push_back(std::move(o));
  }
  auto through_bus = [&](const bus::Metrics& m, bus::Metrics* out) -> Status {
    bus::Header h;
    h.source = "sim";
    h.sequence = ++bus_seq_;
    h.timestamp = t;
    std::string hb = bus::EncodeHeader(h), bb = bus::EncodeMetrics(m);
    res_.bus_messages++;
    res_.bus_bytes += hb.size() + bb.size();
    bus::Header h2;
    bus::DecodeError err;
    if (!bus::DecodeHeader(hb.data(), hb.size(), &h2, &err) ||
        !bus::DecodeMetrics(bb.data(), bb.size(), out, &err))
      return Internal("bus codec rejected a simulated message: " + err.detail);
    return Status::Ok();
  };
  for (size_t m = 0; m < nm; ++m) {
    for (size_t v = 0; v < groups[m].size(); ++v) {
      int pods = static_cast<int>(groups[m][v].size());
      if (pods == 0) {
        obs.variants[m][v].model = spec_.models[m].name;
        obs.variants[m][v].variant = spec_.models[m].variants[v].name;
        continue;
      }
      collector::VariantGroupKey key{spec_.models[m].name, spec_.models[m].variants[v].name, ""};
      bus::Metrics msg = collector::Aggregate(key, groups[m][v], pods);
      VARIANT_RETURN_IF_ERROR(through_bus(msg, &obs.variants[m][v]));
    }
    bus::Metrics gw;
    gw.model = spec_.models[m].name;
    if (window > 0) {
      gw.arrival_rate_rps = win_arrivals_[m] / window;
      if (win_arrivals_[m] > 0) {
        gw.input_mean = win_in_[m] / win_arrivals_[m];
        gw.output_mean = win_out_[m] / win_arrivals_[m];
      }
    }
    VARIANT_RETURN_IF_ERROR(through_bus(gw, &obs.gateway[m]));
    win_arrivals_[m] = 0;
    win_in_[m] = win_out_[m] = 0;
    while (!recent_[m].empty() && recent_[m].front()->arrival_s < t - 600) recent_[m].pop_front();
    obs.recent[m].assign(recent_[m].begin(), recent_[m].end());
  }
  last_scrape_ = t;

  // Decide: on the period, or earlier when a model's demand moved enough.
  bool due = t - last_decision_ >= spec_.decision_interval_s - 1e-9;
  for (size_t m = 0; m < nm && !due; ++m) {
    double r = obs.gateway[m].arrival_rate_rps;
    if (std::isfinite(r) &&
        std::fabs(r - decided_rate_[m]) > spec_.trigger_threshold * std::max(decided_rate_[m], 1.0))
      due = true;
  }
  if (due) {
    Desired d;
    Status s = ctl_->Decide(obs, &d);
    res_.decisions++;
    last_decision_ = t;
    for (size_t m = 0; m < nm; ++m) {
      if (std::isfinite(obs.gateway[m].arrival_rate_rps)) decided_rate_[m] = obs.gateway[m].arrival_rate_rps;
    }
    if (s.ok()) {
      desired_ = std::move(d);
      have_desired_ = true;
    } else {
      res_.decide_errors++;
      res_.last_error = s.message();
    }
  }
  VARIANT_RETURN_IF_ERROR(Actuate(t));
  // The series cover the trace's duration (the drain after it is not plotted).
  if (t >= next_sample_ - 1e-9 && t <= duration_ + 1e-9) {
    Sample(t);
    next_sample_ += spec_.sample_interval_s;
  }
  return Status::Ok();
}

Result<RunResult> Run::Go(const std::function<void(double)>& progress) {
  auto wall0 = std::chrono::steady_clock::now();
  const size_t nm = spec_.models.size();
  state_.assign(reqs_.size(), ReqState());
  gateway_.assign(nm, {});
  used_.assign(spec_.accelerators.size(), 0);
  win_arrivals_.assign(nm, 0);
  win_in_.assign(nm, 0);
  win_out_.assign(nm, 0);
  sample_arrivals_.assign(nm, 0);
  recent_.assign(nm, {});
  decided_rate_.assign(nm, 0);
  last_count_.resize(nm);
  res_.per_model.resize(nm);
  itl_model_.assign(nm, LogHistogram());
  res_.demand_rps.assign(nm, {});
  res_.replicas.resize(nm);
  for (size_t m = 0; m < nm; ++m) {
    last_count_[m].assign(spec_.models[m].variants.size(), 0);
    res_.replicas[m].assign(spec_.models[m].variants.size(), {});
    res_.per_model[m].model = spec_.models[m].name;
    res_.per_variant.emplace_back(spec_.models[m].variants.size());
  }
  duration_ = reqs_.empty() ? 0 : std::ceil(reqs_.back().arrival_s);
  ctl_->SetFuture(&reqs_);

  // Warm start: the controller's initial allocation, ready at t = 0.
  {
    // The cluster has been running: each model is sized for the busiest minute of
    // the first five (a cold cluster at a burst would only measure start-up).
    std::vector<std::vector<const ClusterRequest*>> first(nm);
    std::vector<std::vector<int>> per_min(nm, std::vector<int>(5, 0));
    for (const ClusterRequest& q : reqs_) {
      if (q.arrival_s >= 300) break;
      per_min[q.model][static_cast<int>(q.arrival_s / 60)]++;
    }
    for (size_t m = 0; m < nm; ++m) {
      int best = static_cast<int>(std::max_element(per_min[m].begin(), per_min[m].end()) - per_min[m].begin());
      for (const ClusterRequest& q : reqs_) {
        if (q.arrival_s >= 300) break;
        if (q.model == static_cast<int>(m) && static_cast<int>(q.arrival_s / 60) == best) first[m].push_back(&q);
      }
    }
    Desired d;
    VARIANT_RETURN_IF_ERROR(ctl_->Initial(first, &d));
    for (size_t m = 0; m < nm; ++m) {
      for (size_t v = 0; v < spec_.models[m].variants.size(); ++v) {
        for (int k = 0; k < d.replicas[m][v]; ++k) {
          Status s = AddReplica(static_cast<int>(m), static_cast<int>(v), 0, true);
          if (!s.ok() && s.code() != VARIANT_E_INFEASIBLE) return s;
          if (!s.ok()) res_.capped++;
        }
        int n = 0;  // what the warm start got (caps may have cut it)
        for (auto& r : reps_) n += (r->model == static_cast<int>(m) && r->variant == static_cast<int>(v));
        last_count_[m][v] = n;
      }
    }
    desired_ = std::move(d);
    have_desired_ = true;
  }
  Sample(0);
  next_sample_ = spec_.sample_interval_s;

  const double end = duration_ + spec_.drain_limit_s;
  double next_tick = spec_.scrape_interval_s;
  size_t i = 0, next_progress = 0;
  const size_t step = std::max<size_t>(1, reqs_.size() / 200);
  for (;;) {
    double ta = i < reqs_.size() ? reqs_[i].arrival_s : kInf;
    if (i >= reqs_.size()) {
      // After the last arrival: stop when every request is done.
      bool all = true;
      for (auto& g : gateway_) all = all && g.empty();
      for (auto& r : reps_) all = all && r->sim->Empty();
      if (all || next_tick > end) break;
    }
    bool held = false;
    for (auto& g : gateway_) held = held || !g.empty();
    double tr = held ? retry_at_ : kInf;
    if (tr < ta && tr < next_tick) {
      Activate(tr);
      for (size_t m = 0; m < gateway_.size(); ++m) {
        auto& g = gateway_[m];
        while (!g.empty() && Dispatch(g.front(), tr)) g.pop_front();
      }
      retry_at_ = tr + spec_.gateway_retry_s;
      continue;
    }
    if (!held) retry_at_ = std::min(ta, next_tick) + spec_.gateway_retry_s;
    if (next_tick <= ta) {
      Activate(next_tick);
      VARIANT_RETURN_IF_ERROR(Tick(next_tick));
      next_tick += spec_.scrape_interval_s;
    } else {
      Activate(ta);
      Route(i, ta);
      ++i;
      if (progress && i >= next_progress) {
        progress(static_cast<double>(i) / reqs_.size());
        next_progress = i + step;
      }
    }
  }
  double t_end = next_tick - spec_.scrape_interval_s;
  for (auto& r : reps_) r->sim->AdvanceTo(t_end);
  while (!reps_.empty()) RemoveReplica(reps_.size() - 1, t_end);

  // Figures.
  const size_t nc = spec_.classes.size();
  std::vector<uint64_t> cls_n(nc, 0), cls_ok(nc, 0), mod_n(nm, 0), mod_ok(nm, 0);
  std::vector<std::vector<double>> mod_ttft(nm);
  std::vector<double> ttft_all;
  ttft_all.reserve(reqs_.size());
  LogHistogram ttft_h;
  const size_t ns = res_.t_s.size();
  std::vector<std::vector<uint64_t>> win_n(nm, std::vector<uint64_t>(ns, 0)), win_ok = win_n;
  auto window = [&](double t) -> long {
    auto it = std::upper_bound(res_.t_s.begin(), res_.t_s.end(), t);
    return static_cast<long>(it - res_.t_s.begin()) - 1;
  };
  for (size_t k = 0; k < reqs_.size(); ++k) {
    const ClusterRequest& q = reqs_[k];
    const ReqState& s = state_[k];
    cls_n[q.cls]++;
    mod_n[q.model]++;
    res_.requests++;
    const long w = window(q.arrival_s);
    if (w >= 0) win_n[q.model][w]++;
    if (!s.done) {
      res_.unserved++;
      res_.per_model[q.model].unserved++;
      continue;
    }
    res_.finished++;
    ttft_all.push_back(s.ttft_ms);
    mod_ttft[q.model].push_back(s.ttft_ms);
    ttft_h.Add(std::max(s.ttft_ms, 1e-3));
    bool meets = RequestMeets(spec_.classes[q.cls].slo, s.ttft_ms, s.itl_mean_ms, s.ttlt_ms);
    if (meets) {
      cls_ok[q.cls]++;
      mod_ok[q.model]++;
      if (w >= 0) win_ok[q.model][w]++;
    }
    if (s.variant >= 0) {
      res_.per_variant[q.model][s.variant].first++;
      res_.per_variant[q.model][s.variant].second += meets;
    }
  }
  res_.attainment.assign(nm, std::vector<double>(ns, std::nan("")));
  for (size_t m = 0; m < nm; ++m)
    for (size_t k = 0; k < ns; ++k)
      if (win_n[m][k] > 0) res_.attainment[m][k] = static_cast<double>(win_ok[m][k]) / win_n[m][k];
  res_.served = res_.finished;
  uint64_t ok = 0;
  for (uint64_t c : cls_ok) ok += c;
  res_.slo_attainment = res_.requests ? static_cast<double>(ok) / res_.requests : 1;
  for (size_t c = 0; c < nc; ++c)
    res_.per_class_attainment.push_back(cls_n[c] ? static_cast<double>(cls_ok[c]) / cls_n[c] : 1);
  for (size_t m = 0; m < nm; ++m) {
    res_.per_model[m].requests = mod_n[m];
    res_.per_model[m].slo_attainment = mod_n[m] ? static_cast<double>(mod_ok[m]) / mod_n[m] : 1;
    res_.per_model[m].ttft_p95_ms = Percentile(mod_ttft[m], 0.95);
    res_.per_model[m].itl_p95_ms = itl_model_[m].Quantile(0.95);
  }
  res_.ttft_p95_ms = Percentile(ttft_all, 0.95);
  res_.itl_p95_ms = itl_all_.Quantile(0.95);
  res_.utilization = paid_acc_s_ > 0 ? busy_acc_s_ / paid_acc_s_ : 0;
  res_.ttft_ms = FromLog(ttft_h, LogEdges(10, 1e5, 40));
  res_.itl_ms = FromLog(itl_all_, LogEdges(1, 1e3, 40));
  res_.reversals = CountReversals(changes_, spec_.scale_down_window_s);
  res_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (progress) progress(1);
  return std::move(res_);
}

}  // namespace

bool RequestMeets(const std::vector<SloTerm>& slo, double ttft_ms, double itl_mean_ms,
                  double ttlt_ms) {
  for (const SloTerm& t : slo) {
    // A request's ITL and TPOT are both its mean gap (docs/simulator.md).
    double v = t.metric == VARIANT_METRIC_TTFT ? ttft_ms
               : t.metric == VARIANT_METRIC_TTLT ? ttlt_ms
                                                 : itl_mean_ms;
    if (!(v <= t.target_ms)) return false;
  }
  return true;
}

int CountReversals(const std::vector<std::tuple<double, int, int>>& changes, double window_s) {
  std::map<int, std::pair<double, int>> last;  // key -> (time, direction)
  int n = 0;
  for (const auto& [t, key, dir] : changes) {
    auto it = last.find(key);
    if (it != last.end() && it->second.second != dir && t - it->second.first <= window_s) ++n;
    last[key] = {t, dir};
  }
  return n;
}

Result<RunResult> RunCluster(const ClusterSpec& spec, const std::vector<ClusterRequest>& reqs,
                             Controller* ctl, uint64_t seed,
                             const std::function<void(double)>& progress) {
  for (size_t k = 1; k < reqs.size(); ++k) {
    if (reqs[k].arrival_s < reqs[k - 1].arrival_s)
      return InvalidArgument("cluster requests must be sorted by arrival (request " +
                             std::to_string(k) + ")");
  }
  for (const ClusterRequest& q : reqs) {
    if (q.model < 0 || q.model >= static_cast<int>(spec.models.size()) || q.cls < 0 ||
        q.cls >= static_cast<int>(spec.classes.size()))
      return InvalidArgument("cluster request names an unknown model or class index");
  }
  Run run(spec, reqs, ctl, seed);
  return run.Go(progress);
}

}  // namespace variant::sim
