// Ground truth for the performance model: a discrete-event simulation of one
// continuous-batching model-server replica (vLLM-v1-like), stepping iteration by
// iteration on a virtual clock. Each step's time is StepModel::StepMs of the step's
// actual shape (the measured operator tables), never the queueing model.
//
// Scheduling, per step (docs/simulator.md has the long form):
//  1. Running sequences, in admission order, each get the tokens they still need:
//     one for a decoding sequence, min(rest of the prompt, budget left) for one whose
//     prefill is incomplete (chunked prefill; partial progress is kept). Each step has
//     a token budget of max_tokens_per_step.
//  2. The KV cache is counted in blocks of block_tokens (16) tokens, bounded by
//     StepModel::KvCapacityTokens(gpu_memory_util). When a running sequence cannot
//     get the blocks its tokens need, the most recently admitted running sequence is
//     preempted (recompute: its KV is freed, it keeps the tokens it generated and goes
//     back to the front of the waiting queue), until the blocks fit.
//  3. If nobody was preempted this step, waiting requests are admitted in FCFS order
//     while fewer than max_batch sequences run, budget is left and the KV blocks for
//     their first chunk are free (the head of the queue blocks the rest).
//  4. Prefix-cache hits: a fraction prefix_hit_ratio of each prompt (whole blocks, at
//     most all but one token) is already cached at admission and only counted as
//     `past` of the prefill chunks. Their blocks are charged to the request.
//  5. The step's tokens come out at its end; a sequence whose known tokens are all in
//     the KV cache emits one token (the first one at the end of its prefill).
// Roles: PD (both); P (prefill only: after its first token the request leaves, its KV
// shipped at kv_link_gbps per request; the first-token and finish times include the
// transfer, and its blocks stay held until the transfer is done); D (decode only: a
// request arrives with its prompt and first token already produced, its prompt's KV
// already in the cache; the first token this replica emits is its "first token").
//
// Usable standalone (enqueue a whole arrival list, Drain) or incrementally inside a
// cluster simulator (Enqueue as requests arrive, AdvanceTo the cluster clock, read
// the vLLM-like counters and gauges, SetDraining before removing a replica).
// Not thread-safe: one thread per instance.
#ifndef VARIANT_BRIDGE_SIM_SERVER_SIM_H_
#define VARIANT_BRIDGE_SIM_SERVER_SIM_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <queue>
#include <vector>

#include "perf/queue_model.h"
#include "perf/step_model.h"
#include "status.h"

namespace variant::sim {

struct SimRequest {
  uint64_t id = 0;
  double arrival_s = 0;
  int input_tokens = 1;   // >= 1
  int output_tokens = 1;  // >= 1 (for role D: counting the first token made by P)
  int tag = 0;            // opaque (e.g. service class), copied into the result
};

struct ServerConfig {
  const StepModel* step = nullptr;  // not owned; outlives the ServerSim
  int max_batch = 256;              // max running sequences (vLLM max_num_seqs)
  int max_tokens_per_step = 8192;   // token budget per step (max_num_batched_tokens)
  int role = VARIANT_ROLE_PD;
  double kv_link_gbps = 100;        // P role: KV transfer link, Gbit/s per replica
  double gpu_memory_util = 0.9;
  double prefix_hit_ratio = 0;      // fraction of each prompt found in the prefix cache
  int block_tokens = 16;
  // > 0: the KV capacity in tokens, instead of step->KvCapacityTokens (tests).
  double kv_capacity_tokens = 0;
  // Every step's time is multiplied by this: a server slower (> 1) or faster than the
  // tables say, e.g. the "real" server an online correction has to learn.
  double time_factor = 1;

  // The same replica as the queueing model sees it (its correction factors are the
  // model's business and are not applied here).
  static ServerConfig FromReplica(const ReplicaConfig& r, double prefix_hit_ratio);
  Status Validate() const;
};

// Log-spaced histogram of positive values (milliseconds), 1% wide bins from 1e-3 to
// 1e8; values outside are clamped into the end bins. Quantiles interpolate
// geometrically inside a bin (relative error < 1%).
class LogHistogram {
 public:
  LogHistogram();
  void Add(double v, uint64_t n = 1);
  void Merge(const LogHistogram& o);
  // Removes an earlier snapshot of this histogram (counts and sum; max is kept).
  void Subtract(const LogHistogram& earlier);
  void Clear();
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }
  double max() const { return max_; }
  // q in [0, 1]; 0 when empty.
  double Quantile(double q) const;
  // Number of values <= le (to the bin's resolution): Prometheus-style buckets.
  uint64_t CountAtMost(double le) const;

 private:
  static int Bin(double v);
  std::vector<uint64_t> bins_;
  uint64_t count_ = 0;
  double sum_ = 0, max_ = 0;
};

struct RequestResult {
  uint64_t id = 0;
  int tag = 0;
  double arrival_s = 0;
  double scheduled_s = 0;    // first admitted into the running batch
  double first_token_s = 0;  // P role: after the KV transfer
  double finish_s = 0;
  int input_tokens = 0, output_tokens = 0;
  int itl_count = 0;  // token gaps observed on this replica
  double itl_sum_ms = 0, itl_max_ms = 0;
  int preemptions = 0;
  double ttft_ms() const { return (first_token_s - arrival_s) * 1e3; }
  double ttlt_ms() const { return (finish_s - arrival_s) * 1e3; }
  double itl_mean_ms() const { return itl_count ? itl_sum_ms / itl_count : 0; }
};

// Cumulative, like a vLLM server's /metrics counters and histograms.
struct ServerCounters {
  uint64_t requests_arrived = 0;    // enqueued and accepted
  uint64_t requests_finished = 0;
  uint64_t prompt_tokens = 0;       // prompt tokens computed (prefix hits excluded)
  uint64_t prefix_hit_tokens = 0;   // prompt tokens found in the prefix cache
  uint64_t generation_tokens = 0;   // tokens emitted
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  double busy_s = 0;                // Σ step time
  double waiting_integral = 0;      // ∫ waiting requests dt (request·s)
  double running_integral = 0;      // ∫ running sequences dt
  double kv_used_integral = 0;      // ∫ KV blocks used / total dt
  LogHistogram ttft_ms, itl_ms, e2e_ms, queue_ms;  // per request / per token gap
};

struct ServerGauges {
  int running = 0;
  int waiting = 0;       // arrived (by now()) and not admitted, including preempted
  int transferring = 0;  // P role: KV transfers in flight
  double kv_usage = 0;   // fraction of KV blocks in use
};

// One step as it ran (tests and tracing).
struct StepRecord {
  double start_s = 0, end_s = 0;
  int decode_seqs = 0, prefill_seqs = 0;
  int tokens = 0;  // tokens computed (decode + prefill chunks)
  int running = 0;
  int kv_blocks_used = 0, kv_blocks_total = 0;
  int preempted = 0;
  int emitted = 0;  // tokens that came out at the end
};

class ServerSim {
 public:
  static Result<std::unique_ptr<ServerSim>> Create(const ServerConfig& cfg);

  // Adds a request. Arrivals must not go backwards and must not precede the start of
  // the step already running (the caller advanced the clock past them); a request
  // arriving during a step waits for the next one. Errors: VARIANT_E_INVALID_ARGUMENT
  // (bad lengths, out-of-order arrival, draining), VARIANT_E_DOES_NOT_FIT (the
  // request's prompt + output cannot fit in the whole KV cache: vLLM refuses it).
  Status Enqueue(const SimRequest& r);
  // Runs every step that starts before t; an idle server's clock moves to t.
  void AdvanceTo(double t);
  // Runs until every accepted request has finished.
  void Drain();
  // A draining server accepts nothing new and finishes what it holds.
  void SetDraining(bool d) { draining_ = d; }
  bool draining() const { return draining_; }
  // No request held (arrived, waiting, running or transferring).
  bool Empty() const;

  double now() const { return now_; }  // virtual clock, s (end of the last step)
  ServerGauges gauges() const;
  const ServerCounters& counters() const { return counters_; }
  // Requests finished so far, in finishing order; the caller may move them out.
  std::vector<RequestResult>& finished() { return finished_; }

  int kv_blocks_total() const { return blocks_total_; }
  int kv_blocks_used() const { return blocks_total_ - blocks_free_; }
  const ServerConfig& config() const { return cfg_; }
  void SetStepObserver(std::function<void(const StepRecord&)> f) { observer_ = std::move(f); }

 private:
  struct Seq {
    SimRequest req;
    int total = 0;      // tokens known (prompt + generated)
    int computed = 0;   // tokens in the KV cache
    int generated = 0;
    int blocks = 0;
    double scheduled_s = -1, first_token_s = -1, last_token_s = -1;
    double itl_sum_ms = 0, itl_max_ms = 0;
    int itl_count = 0, preemptions = 0;
    bool done = false;  // finished; its slot is free once it leaves running_
  };
  struct Transfer {
    double done_s;
    int blocks;
    bool operator>(const Transfer& o) const { return done_s > o.done_s; }
  };

  explicit ServerSim(const ServerConfig& cfg) : cfg_(cfg) {}
  bool Step();  // one iteration at now_; false when nothing could be scheduled
  void Preempt(int idx);
  void Finish(int idx, double t);
  void ReleaseTransfers(double t);
  void AdmitArrivals(double t);
  int BlocksFor(int tokens) const { return (tokens + cfg_.block_tokens - 1) / cfg_.block_tokens; }
  int NewSlot();

  ServerConfig cfg_;
  int blocks_total_ = 0, blocks_free_ = 0;
  double kv_bytes_per_token_ = 0;  // whole replica (all TP ranks)
  double now_ = 0, last_step_start_ = -std::numeric_limits<double>::infinity();
  double last_arrival_ = -std::numeric_limits<double>::infinity();
  bool draining_ = false;

  std::vector<Seq> seqs_;         // slots
  std::vector<int> free_slots_;
  std::deque<SimRequest> pending_;  // enqueued, arrival in the future of the last step
  std::deque<int> waiting_;
  std::vector<int> running_;      // admission order
  std::priority_queue<Transfer, std::vector<Transfer>, std::greater<Transfer>> transfers_;

  // Per-step scratch, kept to avoid allocation.
  std::vector<PrefillChunk> chunks_;
  std::vector<std::pair<int, int>> sched_;  // (slot, tokens)

  ServerCounters counters_;
  std::vector<RequestResult> finished_;
  std::function<void(const StepRecord&)> observer_;
};

}  // namespace variant::sim

#endif  // VARIANT_BRIDGE_SIM_SERVER_SIM_H_
