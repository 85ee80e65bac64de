// Random but realistic cluster instances for the solver benchmark and the tests
// (docs/decision.md, "Benchmark"): catalog models and accelerators plus synthetic
// accelerator types, mixed length distributions, capacities from a roofline-style
// formula, and accelerator counts set below the unconstrained optimum's usage so that
// the caps bind. Deterministic for a seed.
#ifndef VARIANT_SRC_OPT_SYNTH_H_
#define VARIANT_SRC_OPT_SYNTH_H_

#include <cstdint>

#include "opt/solver.h"

namespace variant::opt {

struct SynthSpec {
  int models = 10;
  int variants_per_model = 8;
  int accelerator_types = 4;
  int buckets = 4;    // length buckets per (model, class)
  int classes = 2;    // service classes (priority = index)
  double scale = 1;   // demand multiplier
  double tightness = 0.85;  // binding accelerator counts = this × unconstrained usage
  bool disaggregated = true;  // include P/D variants
  uint64_t seed = 1;
};

Instance Synthesize(const SynthSpec& s);

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_SYNTH_H_
