// Transition planning (docs/decision.md, "Plan"): ordered make-before-break steps from
// the current to the target allocation. Pure function; thread-safe.
#ifndef VARIANT_SRC_OPT_PLAN_H_
#define VARIANT_SRC_OPT_PLAN_H_

#include <string>
#include <vector>

#include "opt/solver.h"

namespace variant::opt {

struct PlanStep {
  enum Kind { kAdd, kRemove, kFlip } kind = kAdd;
  int var = 0;      // variant added/removed, or flipped from
  int to_var = -1;  // kFlip: flipped to (same model, accelerator and tp; other role)
  int count = 0;
  bool safe = true;  // false: no safe step existed (caps too tight); capacity dips
};

// Steps from `from` to `to` (replicas per variant of `in`). Invariants, checked after
// every step: accelerator counts and further caps hold (unless `from` itself broke
// them); every model either dominates a convex combination of its `from` and `to`
// replicas (the fractional assignment mixes linearly, so it serves what both serve)
// or is shown by an explicit assignment over the fixed replicas (an LP; the greedy
// for models with more than 64 variants) to serve all of its demand. Flips are used
// where a replica changes role on the same hardware.
std::vector<PlanStep> MakePlan(const Instance& in, const std::vector<int>& from,
                               const std::vector<int>& to);

// True if state s dominates some θ·from + (1−θ)·to on every model.
bool PlanStateSafe(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
                   const std::vector<int>& s);
// True if s fits every accelerator count and further cap.
bool WithinCaps(const Instance& in, const std::vector<int>& s);

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_PLAN_H_
