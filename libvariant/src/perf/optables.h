// Measured per-operator latency tables (NVIDIA AIConfigurator, vLLM 0.14.0, bf16) for
// one accelerator, with interpolation. Immutable after Load; safe to share across
// threads for reading.
//
// Interpolation rules (docs/model.md, "Operator tables"):
//  - GEMM: trilinear over the (m, n, k) grid in log2 coordinates; beyond the grid the
//    latency is scaled proportionally in the overflowing dimension (work is linear in
//    each of m, n, k once the kernel is saturated).
//  - Attention: per (heads, kv_heads) slice, bilinear over (batch, length) in log2
//    coordinates where all four corners were measured; beyond the last measured batch
//    at a length, proportional in batch; beyond the longest length, quadratic
//    (prefill) or linear (decode) in length. Head counts with no slice are scaled
//    from the nearest measured slice: prefill by query heads, decode by KV heads.
//  - All-reduce: piecewise linear in message size per GPU count and backend; beyond
//    the largest message, proportional.
#ifndef VARIANT_SRC_PERF_OPTABLES_H_
#define VARIANT_SRC_PERF_OPTABLES_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace variant {

// A 2-D table over (x, y) axes with missing cells (NaN).
struct Grid2 {
  std::vector<double> xs, ys;  // ascending
  std::vector<double> v;       // v[i * ys.size() + j], NaN = not measured
  double at(size_t i, size_t j) const { return v[i * ys.size() + j]; }
};

class OpTables {
 public:
  // Loads <dir>/<prefix>_{gemm,context_attention,generation_attention,allreduce}.csv.
  static Result<std::unique_ptr<OpTables>> Load(const std::string& dir,
                                                const std::string& prefix);

  // Milliseconds for C[m×n] = A[m×k]·B[k×n] in bf16.
  double GemmMs(double m, double n, double k) const;
  // Prefill attention: `batch` sequences of `len` tokens each, heads/kv_heads per GPU.
  double ContextAttnMs(double batch, double len, int heads, int kv_heads) const;
  // Decode attention: `batch` sequences each attending over `ctx` cached tokens.
  double GenerationAttnMs(double batch, double ctx, int heads, int kv_heads) const;
  // The attention slice used for (heads, kv_heads) and its scale factor; resolve once
  // and call the *At variants in hot loops.
  const Grid2* ContextSlice(int heads, int kv, double* scale) const {
    return Nearest(ctx_, heads, kv, false, scale);
  }
  const Grid2* GenerationSlice(int heads, int kv, double* scale) const {
    return Nearest(gen_, heads, kv, true, scale);
  }
  static double ContextAttnAt(const Grid2& g, double batch, double len) {
    return (batch > 0 && len > 0) ? Interp2(g, batch, len, true) : 0;
  }
  static double GenerationAttnAt(const Grid2& g, double batch, double ctx) {
    return batch > 0 ? Interp2(g, batch, ctx < 1 ? 1 : ctx, false) : 0;
  }
  // All-reduce of `bytes` across `gpus` GPUs (1 → 0). graph: CUDA-graph captured.
  double AllReduceMs(double bytes, int gpus, bool graph) const;

  // Loads only an all-reduce table (num_gpus,message_size,latency), e.g. NCCL
  // measurements; AllReduceMs(bytes, gpus, false) then reads it.
  static Result<std::unique_ptr<OpTables>> LoadAllReduceOnly(const std::string& path);

  const std::string& prefix() const { return prefix_; }

 private:
  std::string prefix_;
  // GEMM
  std::vector<double> gm_, gn_, gk_;
  std::vector<double> gv_;  // [im][in][ik]
  double GemmAt(size_t i, size_t j, size_t l) const {
    return gv_[(i * gn_.size() + j) * gk_.size() + l];
  }
  double GemmGrid(double m, double n, double k) const;
  // attention slices keyed by (heads, kv_heads)
  std::map<std::pair<int, int>, Grid2> ctx_, gen_;
  // all-reduce: (gpus, graph) -> sorted (bytes, ms)
  std::map<std::pair<int, bool>, std::vector<std::pair<double, double>>> ar_;

  static double Interp2(const Grid2& g, double x, double y, bool quadratic_y);
  static const Grid2* Nearest(const std::map<std::pair<int, int>, Grid2>& m, int heads,
                              int kv, bool by_kv, double* scale);
};

}  // namespace variant

#endif  // VARIANT_SRC_PERF_OPTABLES_H_
