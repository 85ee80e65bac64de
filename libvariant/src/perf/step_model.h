// The time of one continuous-batching iteration ("step") of one replica, composed from
// measured per-operator tables for a fixed (model architecture, accelerator, TP).
// This is the a-priori estimate: it needs no profiling of the model itself.
//
// A step runs the model once over m tokens: the prefill chunks scheduled this step
// plus one token per decoding sequence. Its time is the sum of
//   per layer: QKV, O, gate_up, down GEMMs (m rows; MoE: per active expert),
//              prefill attention of each chunk against its cached past,
//              decode attention of the decoding sequences at their context length,
//              2 all-reduces of m×hidden activations when TP > 1,
//              elementwise ops (norms, rope, activation, residual) at HBM bandwidth;
//   lm_head GEMM for the rows that produce a token;
//   a fixed framework overhead per step (scheduler, sampling, launch).
// Immutable after Create; thread-safe for reading. StepMs costs a few table lookups
// (the token-parallel part is precomputed on a grid over m).
#ifndef VARIANT_SRC_PERF_STEP_MODEL_H_
#define VARIANT_SRC_PERF_STEP_MODEL_H_

#include <memory>
#include <vector>

#include "catalog.h"
#include "perf/optables.h"
#include "status.h"

namespace variant {

// `tokens` new prompt tokens of one sequence computed this step, whose first `past`
// tokens are already in the KV cache (earlier chunks, or prefix-cache hits).
struct PrefillChunk {
  double tokens = 0;
  double past = 0;
  bool completes = true;  // this chunk ends the prompt: it produces a token (lm_head)
};

struct StepShape {
  const PrefillChunk* chunks = nullptr;
  size_t n_chunks = 0;
  int decode_seqs = 0;        // sequences generating one token this step
  double decode_ctx_sum = 0;  // Σ KV length over the decoding sequences
};

class StepModel {
 public:
  // `comm` is the all-reduce table when the engine uses NCCL (nullptr: the operator
  // tables' custom all-reduce). Both tables must outlive the StepModel.
  static Result<std::unique_ptr<StepModel>> Create(const ModelArch& arch,
                                                   const Accelerator& acc,
                                                   const OpTables& tables, int tp,
                                                   const Engine& engine = Engine(),
                                                   const OpTables* comm = nullptr);

  // Milliseconds for one step of the given shape.
  double StepMs(const StepShape& s) const;
  // A closed batch: `batch` prompts of `input` tokens prefilled in one step.
  double PrefillMs(int batch, double input) const;
  // One decode step of `batch` sequences each with `ctx` cached tokens.
  double DecodeStepMs(int batch, double ctx) const;

  // Pieces, exposed for the queueing model's fitted form and for tests.
  double LinearMs(double m, bool graph) const;  // token-parallel ops for m tokens
  double LmHeadMs(double rows) const;
  double CtxAttnMs(double batch, double len) const;
  double GenAttnMs(double batch, double ctx) const;
  double overhead_ms() const { return overhead_ms_; }
  // Host-side floor of a step with `seqs` sequences (0 for graph-captured engines).
  double CpuMs(double seqs) const { return cpu_layer_ms_ * arch_.layers + cpu_seq_ms_ * seqs; }
  const Engine& engine() const { return engine_; }

  // Memory: KV-cache capacity in tokens of one replica at a memory-utilization
  // fraction; <= 0 when the weights do not fit.
  double KvCapacityTokens(double gpu_memory_util) const;
  double WeightGiBPerGpu() const;

  const ModelArch& arch() const { return arch_; }
  const Accelerator& accelerator() const { return acc_; }
  int tp() const { return tp_; }

  // Largest m for which vLLM runs a pure-decode step as a captured CUDA graph.
  static constexpr int kGraphMaxTokens = 512;

 private:
  StepModel(const ModelArch& a, const Accelerator& acc, const OpTables& t, int tp)
      : arch_(a), acc_(acc), tables_(&t), tp_(tp) {}
  double LinearDirectMs(double m, bool graph) const;
  double LmHeadDirectMs(double rows) const;
  double AllReduce(double bytes, bool graph) const;
  double Lookup(const std::vector<double>& v, double m) const;

  ModelArch arch_;
  Accelerator acc_;
  const OpTables* tables_;  // owned by the Context; outlives this
  int tp_;
  int heads_per_gpu_ = 0, kv_per_gpu_ = 0;
  Engine engine_;
  const OpTables* comm_ = nullptr;  // all-reduce source
  bool comm_nccl_ = false;
  double overhead_ms_ = 0.6, compute_scale_ = 1, cpu_layer_ms_ = 0, cpu_seq_ms_ = 0;
  double allreduce_gbps_ = 0;
  std::vector<double> lm_grid_;  // lm_head time on m_grid_
  const Grid2* ctx_slice_ = nullptr;
  const Grid2* gen_slice_ = nullptr;
  double ctx_scale_ = 1, gen_scale_ = 1;
  std::vector<double> m_grid_, lin_graph_, lin_eager_;
};

}  // namespace variant

#endif  // VARIANT_SRC_PERF_STEP_MODEL_H_
