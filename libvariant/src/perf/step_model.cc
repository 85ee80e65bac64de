#include "perf/step_model.h"

#include <algorithm>
#include <cmath>

namespace variant {

Result<std::unique_ptr<StepModel>> StepModel::Create(const ModelArch& arch,
                                                     const Accelerator& acc,
                                                     const OpTables& tables, int tp,
                                                     const Engine& engine,
                                                     const OpTables* comm) {
  if (tp != 1 && tp != 2 && tp != 4 && tp != 8 && tp != 16)
    return InvalidArgument("tp " + std::to_string(tp) + " is not one of 1, 2, 4, 8, 16");
  if (arch.heads % tp != 0)
    return InvalidArgument("model '" + arch.name + "' has " + std::to_string(arch.heads) +
                           " attention heads, not divisible by tp " + std::to_string(tp));
  std::unique_ptr<StepModel> s(new StepModel(arch, acc, tables, tp));
  s->heads_per_gpu_ = arch.heads / tp;
  s->kv_per_gpu_ = std::max(1, arch.kv_heads / tp);
  s->engine_ = engine;
  s->ctx_slice_ = tables.ContextSlice(s->heads_per_gpu_, s->kv_per_gpu_, &s->ctx_scale_);
  s->gen_slice_ = tables.GenerationSlice(s->heads_per_gpu_, s->kv_per_gpu_, &s->gen_scale_);
  if (s->ctx_slice_ == nullptr || s->gen_slice_ == nullptr)
    return Status(VARIANT_E_NO_DATA, "no attention measurements in '" + tables.prefix() + "'");
  s->comm_nccl_ = engine.allreduce == "nccl" && comm != nullptr;
  s->comm_ = s->comm_nccl_ ? comm : &tables;
  s->overhead_ms_ = engine.step_overhead_ms;
  s->compute_scale_ = engine.compute_scale;
  if (auto it = engine.cpu_layer_ms.find(acc.name); it != engine.cpu_layer_ms.end())
    s->cpu_layer_ms_ = it->second;
  if (auto it = engine.cpu_seq_ms.find(acc.name); it != engine.cpu_seq_ms.end())
    s->cpu_seq_ms_ = it->second;
  if (auto it = engine.allreduce_gbps.find(acc.name); it != engine.allreduce_gbps.end())
    s->allreduce_gbps_ = it->second;
  // Token-parallel part on a grid over m: the GEMM table's own m points are where its
  // interpolation bends, so a grid at least that fine loses nothing.
  for (double m = 1; m <= 262144; m *= 2) {
    s->m_grid_.push_back(m);
    if (m >= 2) s->m_grid_.push_back(m * 1.5);
  }
  for (double m : {48.0, 80.0, 96.0, 160.0, 192.0, 384.0, 768.0}) s->m_grid_.push_back(m);
  std::sort(s->m_grid_.begin(), s->m_grid_.end());
  s->m_grid_.erase(std::unique(s->m_grid_.begin(), s->m_grid_.end()), s->m_grid_.end());
  for (double m : s->m_grid_) {
    s->lin_graph_.push_back(s->LinearDirectMs(m, true));
    s->lin_eager_.push_back(s->LinearDirectMs(m, false));
    s->lm_grid_.push_back(s->LmHeadDirectMs(m));
  }
  return s;
}

double StepModel::LinearDirectMs(double m, bool graph) const {
  const OpTables& t = *tables_;
  const double h = arch_.hidden, hd = arch_.head_dim();
  const double I = arch_.intermediate;
  const double qkv_n = (heads_per_gpu_ + 2.0 * kv_per_gpu_) * hd;
  double per_layer = t.GemmMs(m, qkv_n, h) + t.GemmMs(m, h, heads_per_gpu_ * hd);
  if (arch_.experts <= 1) {
    per_layer += t.GemmMs(m, 2 * I / tp_, h) + t.GemmMs(m, h, I / tp_);
  } else {
    // Router, then each token's rows go to active_experts of the experts; at small m
    // only m·k experts are touched, each at least one row (weight-read bound).
    const double routed = m * arch_.active_experts;
    const double touched = std::min<double>(arch_.experts, routed);
    const double rows = std::max(1.0, routed / touched);
    per_layer += t.GemmMs(m, arch_.experts, h);
    per_layer += touched * (t.GemmMs(rows, 2 * I / tp_, h) + t.GemmMs(rows, h, I / tp_));
  }
  per_layer *= compute_scale_;
  if (tp_ > 1) per_layer += 2 * AllReduce(m * h * arch_.dtype_bytes, graph);
  if (acc_.memory_bw_gbs > 0) {
    // Elementwise traffic: 2 RMSNorms and 2 residual adds over hidden (read+write),
    // rope over q and k, SiLU·mul over the intermediate activations.
    const double act_i = (arch_.experts <= 1 ? I : I * arch_.active_experts) / tp_;
    const double bytes = m * arch_.dtype_bytes * (8 * h + 2 * qkv_n + 3 * act_i);
    per_layer += bytes / (acc_.memory_bw_gbs * 1e9 * 0.8) * 1e3;
  }
  return arch_.layers * per_layer;
}

double StepModel::Lookup(const std::vector<double>& v, double m) const {
  if (m <= m_grid_.front()) return v.front();
  if (m >= m_grid_.back()) return v.back() * m / m_grid_.back();
  const size_t hi =
      static_cast<size_t>(std::upper_bound(m_grid_.begin(), m_grid_.end(), m) - m_grid_.begin());
  const size_t lo = hi - 1;
  return v[lo] + (v[hi] - v[lo]) * (m - m_grid_[lo]) / (m_grid_[hi] - m_grid_[lo]);
}

double StepModel::LinearMs(double m, bool graph) const {
  if (!(m > 0)) return 0;
  return Lookup(graph ? lin_graph_ : lin_eager_, m);
}

double StepModel::AllReduce(double bytes, bool graph) const {
  const double table = comm_nccl_ ? comm_->AllReduceMs(bytes, tp_, false)
                                  : comm_->AllReduceMs(bytes, tp_, graph && engine_.cuda_graphs);
  if (allreduce_gbps_ > 0) return std::max(table, bytes / (allreduce_gbps_ * 1e9) * 1e3);
  return table;
}

double StepModel::LmHeadDirectMs(double rows) const {
  if (!(rows > 0)) return 0;
  double ms = compute_scale_ *
              tables_->GemmMs(rows, static_cast<double>(arch_.vocab) / tp_, arch_.hidden);
  // Gathering the vocab-sharded logits is one all-gather, about an all-reduce's cost.
  if (tp_ > 1) ms += AllReduce(rows * arch_.vocab / tp_ * 4, true);
  return ms;
}

double StepModel::LmHeadMs(double rows) const {
  if (!(rows > 0)) return 0;
  return Lookup(lm_grid_, rows);
}

double StepModel::CtxAttnMs(double batch, double len) const {
  return compute_scale_ * ctx_scale_ * arch_.layers * OpTables::ContextAttnAt(*ctx_slice_, batch, len);
}

double StepModel::GenAttnMs(double batch, double ctx) const {
  return compute_scale_ * gen_scale_ * arch_.layers *
         OpTables::GenerationAttnAt(*gen_slice_, batch, ctx);
}

double StepModel::StepMs(const StepShape& s) const {
  double m = s.decode_seqs, rows = s.decode_seqs;
  // Prefill attention: a chunk of c tokens over p cached ones does c·(p + c/2) work,
  // the same as a fresh prompt of sqrt(2cp + c²); chunks run as one batched kernel at
  // their root-mean-square equivalent length.
  double sum_sq = 0;
  for (size_t i = 0; i < s.n_chunks; ++i) {
    const PrefillChunk& c = s.chunks[i];
    m += c.tokens;
    if (c.completes) rows += 1;
    sum_sq += 2 * c.tokens * c.past + c.tokens * c.tokens;
  }
  if (!(m > 0)) return 0;
  const bool graph = s.n_chunks == 0 && m <= kGraphMaxTokens;
  double gpu = LinearMs(m, graph) + LmHeadMs(rows);
  if (s.n_chunks > 0) {
    const double n = static_cast<double>(s.n_chunks);
    gpu += CtxAttnMs(n, std::sqrt(sum_sq / n));
  }
  if (s.decode_seqs > 0)
    gpu += GenAttnMs(s.decode_seqs, s.decode_ctx_sum / s.decode_seqs);
  return overhead_ms_ + std::max(gpu, CpuMs(s.decode_seqs + static_cast<double>(s.n_chunks)));
}

double StepModel::PrefillMs(int batch, double input) const {
  if (batch <= 0 || !(input > 0)) return 0;
  const double gpu = LinearMs(batch * input, false) + LmHeadMs(batch) + CtxAttnMs(batch, input);
  return overhead_ms_ + std::max(gpu, CpuMs(batch));
}

double StepModel::DecodeStepMs(int batch, double ctx) const {
  if (batch <= 0) return 0;
  const double gpu =
      LinearMs(batch, batch <= kGraphMaxTokens) + LmHeadMs(batch) + GenAttnMs(batch, ctx);
  return overhead_ms_ + std::max(gpu, CpuMs(batch));
}

double StepModel::WeightGiBPerGpu() const {
  return arch_.WeightBytesPerGpu(tp_) / (1024.0 * 1024.0 * 1024.0);
}

double StepModel::KvCapacityTokens(double util) const {
  // Reserve for activations, CUDA graphs and the NCCL/custom all-reduce buffers.
  const double reserve_gib = 1.5 + (tp_ > 1 ? 0.4 : 0.0);
  const double free_gib = acc_.memory_gib * util - WeightGiBPerGpu() - reserve_gib;
  if (free_gib <= 0) return 0;
  return free_gib * 1024.0 * 1024.0 * 1024.0 / arch_.KvBytesPerTokenPerGpu(tp_);
}

}  // namespace variant
