#include "sim/server_sim.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace variant::sim {

// ---------------------------------------------------------------- LogHistogram

namespace {
constexpr double kHistLo = 1e-3;
constexpr double kHistRatio = 1.01;
const double kLogRatio = std::log(kHistRatio);
const int kHistBins = static_cast<int>(std::ceil(std::log(1e8 / kHistLo) / kLogRatio)) + 1;
}  // namespace

LogHistogram::LogHistogram() : bins_(static_cast<size_t>(kHistBins), 0) {}

int LogHistogram::Bin(double v) {
  if (!(v > kHistLo)) return 0;
  const int b = static_cast<int>(std::log(v / kHistLo) / kLogRatio);
  return std::min(b, kHistBins - 1);
}

void LogHistogram::Add(double v, uint64_t n) {
  if (n == 0 || std::isnan(v)) return;
  bins_[static_cast<size_t>(Bin(v))] += n;
  count_ += n;
  sum_ += v * static_cast<double>(n);
  if (v > max_) max_ = v;
}

void LogHistogram::Merge(const LogHistogram& o) {
  for (size_t i = 0; i < bins_.size(); ++i) bins_[i] += o.bins_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

void LogHistogram::Subtract(const LogHistogram& e) {
  for (size_t i = 0; i < bins_.size(); ++i) bins_[i] -= std::min(bins_[i], e.bins_[i]);
  count_ -= std::min(count_, e.count_);
  sum_ = std::max(0.0, sum_ - e.sum_);
}

void LogHistogram::Clear() {
  std::fill(bins_.begin(), bins_.end(), 0);
  count_ = 0;
  sum_ = 0;
  max_ = 0;
}

double LogHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double target = q * static_cast<double>(count_);
  double cum = 0;
  for (size_t b = 0; b < bins_.size(); ++b) {
    if (bins_[b] == 0) continue;
    const double c = static_cast<double>(bins_[b]);
    if (cum + c >= target) {
      const double frac = std::clamp((target - cum) / c, 0.0, 1.0);
      const double v = kHistLo * std::exp((static_cast<double>(b) + frac) * kLogRatio);
      return std::min(v, max_);
    }
    cum += c;
  }
  return max_;
}

uint64_t LogHistogram::CountAtMost(double le) const {
  if (!(le > 0)) return 0;
  const int last = Bin(le);
  uint64_t n = 0;
  for (int b = 0; b <= last; ++b) n += bins_[static_cast<size_t>(b)];
  return n;
}

// ---------------------------------------------------------------- ServerConfig

ServerConfig ServerConfig::FromReplica(const ReplicaConfig& r, double prefix_hit_ratio) {
  ServerConfig c;
  c.step = r.step;
  c.max_batch = r.max_batch;
  c.max_tokens_per_step = r.max_tokens_per_step;
  c.role = r.role;
  c.kv_link_gbps = r.kv_link_gbps;
  c.gpu_memory_util = r.gpu_memory_util;
  c.prefix_hit_ratio = prefix_hit_ratio;
  return c;
}

Status ServerConfig::Validate() const {
  if (step == nullptr) return InvalidArgument("server config has no step model");
  if (max_batch < 1) return InvalidArgument("max_batch " + std::to_string(max_batch) + " < 1");
  if (max_tokens_per_step < 1)
    return InvalidArgument("max_tokens_per_step " + std::to_string(max_tokens_per_step) + " < 1");
  if (role != VARIANT_ROLE_PD && role != VARIANT_ROLE_P && role != VARIANT_ROLE_D)
    return InvalidArgument("role " + std::to_string(role) + " is not PD, P or D");
  if (!(kv_link_gbps > 0) || !std::isfinite(kv_link_gbps))
    return InvalidArgument("kv_link_gbps must be a positive number");
  if (!(gpu_memory_util > 0 && gpu_memory_util <= 1))
    return InvalidArgument("gpu_memory_util must be in (0, 1]");
  if (!(prefix_hit_ratio >= 0 && prefix_hit_ratio < 1))
    return InvalidArgument("prefix_hit_ratio must be in [0, 1)");
  if (block_tokens < 1) return InvalidArgument("block_tokens must be >= 1");
  if (!(time_factor > 0) || !std::isfinite(time_factor))
    return InvalidArgument("time_factor must be a positive number");
  if (std::isnan(kv_capacity_tokens) || kv_capacity_tokens < 0)
    return InvalidArgument("kv_capacity_tokens must be >= 0");
  return Status::Ok();
}

// ---------------------------------------------------------------- ServerSim

Result<std::unique_ptr<ServerSim>> ServerSim::Create(const ServerConfig& cfg) {
  VARIANT_RETURN_IF_ERROR(cfg.Validate());
  std::unique_ptr<ServerSim> s(new ServerSim(cfg));
  const double cap = cfg.kv_capacity_tokens > 0 ? cfg.kv_capacity_tokens
                                                 : cfg.step->KvCapacityTokens(cfg.gpu_memory_util);
  s->blocks_total_ = static_cast<int>(std::min(2e9, std::floor(cap / cfg.block_tokens)));
  if (s->blocks_total_ < 1)
    return Status(VARIANT_E_DOES_NOT_FIT,
                  "no KV-cache memory left on " + cfg.step->accelerator().name + " for " +
                      cfg.step->arch().name + " at tp " + std::to_string(cfg.step->tp()));
  s->blocks_free_ = s->blocks_total_;
  s->kv_bytes_per_token_ = cfg.step->arch().KvBytesPerTokenPerGpu(cfg.step->tp()) * cfg.step->tp();
  s->seqs_.reserve(static_cast<size_t>(std::min(cfg.max_batch, 4096)) * 2);
  return s;
}

Status ServerSim::Enqueue(const SimRequest& r) {
  if (draining_) return InvalidArgument("request " + std::to_string(r.id) + ": the server is draining");
  if (!std::isfinite(r.arrival_s))
    return InvalidArgument("request " + std::to_string(r.id) + ": arrival time is not finite");
  if (r.input_tokens < 1 || r.output_tokens < 1)
    return InvalidArgument("request " + std::to_string(r.id) + ": input and output tokens must be >= 1");
  if (r.arrival_s < last_arrival_)
    return InvalidArgument("request " + std::to_string(r.id) + ": arrivals go backwards");
  if (r.arrival_s < last_step_start_)
    return InvalidArgument("request " + std::to_string(r.id) +
                           ": arrives before the step already started (advance the clock later)");
  const int need = cfg_.role == VARIANT_ROLE_P ? r.input_tokens : r.input_tokens + r.output_tokens - 1;
  if (BlocksFor(need) > blocks_total_)
    return Status(VARIANT_E_DOES_NOT_FIT, "request " + std::to_string(r.id) + " needs " +
                                              std::to_string(need) + " KV tokens, the replica holds " +
                                              std::to_string(blocks_total_ * cfg_.block_tokens));
  last_arrival_ = r.arrival_s;
  ++counters_.requests_arrived;
  if (cfg_.role == VARIANT_ROLE_D && r.output_tokens == 1) {
    // Nothing left to decode: it leaves as it comes.
    RequestResult res;
    res.id = r.id;
    res.tag = r.tag;
    res.arrival_s = res.scheduled_s = res.first_token_s = res.finish_s = r.arrival_s;
    res.input_tokens = r.input_tokens;
    res.output_tokens = r.output_tokens;
    ++counters_.requests_finished;
    finished_.push_back(res);
    return Status::Ok();
  }
  pending_.push_back(r);
  return Status::Ok();
}

int ServerSim::NewSlot() {
  if (!free_slots_.empty()) {
    const int i = free_slots_.back();
    free_slots_.pop_back();
    seqs_[static_cast<size_t>(i)] = Seq();
    return i;
  }
  seqs_.emplace_back();
  return static_cast<int>(seqs_.size() - 1);
}

void ServerSim::AdmitArrivals(double t) {
  while (!pending_.empty() && pending_.front().arrival_s <= t) {
    const SimRequest& r = pending_.front();
    const int i = NewSlot();
    Seq& s = seqs_[static_cast<size_t>(i)];
    s.req = r;
    if (cfg_.role == VARIANT_ROLE_D) {
      s.total = r.input_tokens + 1;  // the prompt and the first token, made by a P replica
      s.computed = r.input_tokens;   // the prompt's KV came with it
      s.generated = 1;
    } else {
      s.total = r.input_tokens;
    }
    counters_.waiting_integral += t - r.arrival_s;
    waiting_.push_back(i);
    pending_.pop_front();
  }
}

void ServerSim::ReleaseTransfers(double t) {
  while (!transfers_.empty() && transfers_.top().done_s <= t) {
    blocks_free_ += transfers_.top().blocks;
    transfers_.pop();
  }
}

void ServerSim::Preempt(int idx) {
  Seq& s = seqs_[static_cast<size_t>(idx)];
  blocks_free_ += s.blocks;
  s.blocks = 0;
  s.computed = 0;  // recompute: prompt and generated tokens are prefilled again
  ++s.preemptions;
  ++counters_.preemptions;
  waiting_.push_front(idx);
}

void ServerSim::Finish(int idx, double t) {
  Seq& s = seqs_[static_cast<size_t>(idx)];
  RequestResult res;
  res.id = s.req.id;
  res.tag = s.req.tag;
  res.arrival_s = s.req.arrival_s;
  res.scheduled_s = s.scheduled_s;
  res.first_token_s = s.first_token_s;
  res.finish_s = t;
  res.input_tokens = s.req.input_tokens;
  res.output_tokens = s.req.output_tokens;
  res.itl_count = s.itl_count;
  res.itl_sum_ms = s.itl_sum_ms;
  res.itl_max_ms = s.itl_max_ms;
  res.preemptions = s.preemptions;
  finished_.push_back(res);
  ++counters_.requests_finished;
  counters_.e2e_ms.Add(res.ttlt_ms());
  if (cfg_.role == VARIANT_ROLE_P) {
    transfers_.push({t, s.blocks});  // the KV stays until it has been shipped
  } else {
    blocks_free_ += s.blocks;
  }
  s.blocks = 0;
  s.done = true;
  free_slots_.push_back(idx);
}

bool ServerSim::Step() {
  const double start = now_;
  ReleaseTransfers(start);
  AdmitArrivals(start);
  last_step_start_ = start;
  int budget = cfg_.max_tokens_per_step;
  chunks_.clear();
  sched_.clear();
  int preempted = 0;

  // 1. Running sequences, oldest admission first.
  for (size_t i = 0; i < running_.size(); ++i) {
    const int idx = running_[i];
    Seq& s = seqs_[static_cast<size_t>(idx)];
    const int n = std::min(s.total - s.computed, budget);
    if (n <= 0) continue;
    const int extra = BlocksFor(s.computed + n) - s.blocks;
    bool self = false;
    while (extra > blocks_free_) {
      const int victim = running_.back();
      running_.pop_back();
      Preempt(victim);
      ++preempted;
      if (victim == idx) {
        self = true;
        break;
      }
    }
    if (self) break;
    blocks_free_ -= extra;
    s.blocks += extra;
    budget -= n;
    sched_.emplace_back(idx, n);
  }

  // 2. Waiting requests, FCFS, unless this step had to preempt.
  if (preempted == 0) {
    while (!waiting_.empty() && static_cast<int>(running_.size()) < cfg_.max_batch && budget > 0) {
      const int idx = waiting_.front();
      Seq& s = seqs_[static_cast<size_t>(idx)];
      int comp = s.computed;
      if (comp == 0 && cfg_.prefix_hit_ratio > 0) {
        const int p = s.req.input_tokens;
        const int hit = static_cast<int>(std::floor(cfg_.prefix_hit_ratio * p / cfg_.block_tokens)) *
                        cfg_.block_tokens;
        comp = std::max(0, std::min(hit, p - 1));
      }
      const int n = std::min(s.total - comp, budget);
      const int need = BlocksFor(comp + n) - s.blocks;
      if (need > blocks_free_) break;
      waiting_.pop_front();
      counters_.prefix_hit_tokens += static_cast<uint64_t>(comp - s.computed);
      s.computed = comp;
      blocks_free_ -= need;
      s.blocks += need;
      if (s.scheduled_s < 0) {
        s.scheduled_s = start;
        counters_.queue_ms.Add((start - s.req.arrival_s) * 1e3);
      }
      budget -= n;
      running_.push_back(idx);
      sched_.emplace_back(idx, n);
    }
  }
  if (sched_.empty()) return false;

  // 3. The step's shape and time.
  int decode = 0, tokens = 0;
  double ctx_sum = 0;
  for (const auto& [idx, n] : sched_) {
    const Seq& s = seqs_[static_cast<size_t>(idx)];
    tokens += n;
    if (n == 1 && s.generated > 0 && s.total - s.computed == 1) {
      ++decode;
      ctx_sum += s.computed + 1;
    } else {
      chunks_.push_back({static_cast<double>(n), static_cast<double>(s.computed),
                         s.computed + n == s.total});
      counters_.prompt_tokens += static_cast<uint64_t>(n);
    }
  }
  StepShape shape;
  shape.chunks = chunks_.data();
  shape.n_chunks = chunks_.size();
  shape.decode_seqs = decode;
  shape.decode_ctx_sum = ctx_sum;
  const double dt = cfg_.step->StepMs(shape) * 1e-3 * cfg_.time_factor;
  const double end = start + dt;
  ++counters_.steps;
  counters_.busy_s += dt;
  counters_.waiting_integral += static_cast<double>(waiting_.size()) * dt;
  counters_.running_integral += static_cast<double>(running_.size()) * dt;
  counters_.kv_used_integral += static_cast<double>(blocks_total_ - blocks_free_) / blocks_total_ * dt;
  StepRecord rec;
  if (observer_) {
    rec.start_s = start;
    rec.end_s = end;
    rec.decode_seqs = decode;
    rec.prefill_seqs = static_cast<int>(chunks_.size());
    rec.tokens = tokens;
    rec.running = static_cast<int>(running_.size());
    rec.kv_blocks_used = blocks_total_ - blocks_free_;
    rec.kv_blocks_total = blocks_total_;
    rec.preempted = preempted;
  }

  // 4. Tokens come out at the end of the step.
  uint64_t contiguous = 0;
  int emitted = 0;
  bool any_finished = false;
  for (const auto& [idx, n] : sched_) {
    Seq& s = seqs_[static_cast<size_t>(idx)];
    s.computed += n;
    if (s.computed < s.total) continue;
    ++s.generated;
    ++s.total;
    ++emitted;
    if (s.first_token_s < 0) {
      double t = end;
      if (cfg_.role == VARIANT_ROLE_P)
        t += s.computed * kv_bytes_per_token_ * 8.0 / (cfg_.kv_link_gbps * 1e9);
      s.first_token_s = t;
      counters_.ttft_ms.Add((t - s.req.arrival_s) * 1e3);
    } else {
      const double gap_ms = (end - s.last_token_s) * 1e3;
      if (s.last_token_s == start) {
        ++contiguous;  // the usual case: one step's time, counted in bulk below
      } else {
        counters_.itl_ms.Add(gap_ms);
      }
      s.itl_sum_ms += gap_ms;
      s.itl_max_ms = std::max(s.itl_max_ms, gap_ms);
      ++s.itl_count;
    }
    s.last_token_s = end;
    if (cfg_.role == VARIANT_ROLE_P || s.generated >= s.req.output_tokens) {
      Finish(idx, cfg_.role == VARIANT_ROLE_P ? s.first_token_s : end);
      any_finished = true;
    }
  }
  if (contiguous) counters_.itl_ms.Add(dt * 1e3, contiguous);
  counters_.generation_tokens += static_cast<uint64_t>(emitted);
  if (any_finished) {
    // Finished slots went to free_slots_; drop them from running_, order kept.
    size_t w = 0;
    for (size_t r = 0; r < running_.size(); ++r) {
      const bool done = seqs_[static_cast<size_t>(running_[r])].done;
      if (!done) running_[w++] = running_[r];
    }
    running_.resize(w);
  }
  now_ = end;
  if (observer_) {
    rec.emitted = emitted;
    observer_(rec);
  }
  return true;
}

void ServerSim::AdvanceTo(double t) {
  for (;;) {
    ReleaseTransfers(now_);
    const bool idle = running_.empty() && waiting_.empty();
    double start = now_;
    if (idle) {
      if (pending_.empty()) break;
      start = std::max(now_, pending_.front().arrival_s);
    }
    if (!(start < t)) break;
    now_ = start;
    if (Step()) continue;
    // Nothing fits until a KV transfer completes (P role): wait for it.
    if (transfers_.empty()) break;  // cannot happen: Enqueue refuses requests that never fit
    const double next = std::min(transfers_.top().done_s, t);
    counters_.waiting_integral += static_cast<double>(waiting_.size()) * (next - now_);
    now_ = next;
    if (!(next < t)) break;
  }
  if (std::isfinite(t) && t > now_ && running_.empty() && waiting_.empty()) now_ = t;
}

void ServerSim::Drain() { AdvanceTo(std::numeric_limits<double>::infinity()); }

bool ServerSim::Empty() const {
  return pending_.empty() && waiting_.empty() && running_.empty() && transfers_.empty();
}

ServerGauges ServerSim::gauges() const {
  ServerGauges g;
  g.running = static_cast<int>(running_.size());
  g.waiting = static_cast<int>(waiting_.size());
  for (const SimRequest& r : pending_) {
    if (r.arrival_s > now_) break;
    ++g.waiting;
  }
  g.transferring = static_cast<int>(transfers_.size());
  g.kv_usage = static_cast<double>(blocks_total_ - blocks_free_) / blocks_total_;
  return g;
}

}  // namespace variant::sim
