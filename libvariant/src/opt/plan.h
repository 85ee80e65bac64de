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
  // Why a step is not safe (safe == false); kNone on safe steps.
  enum Blocked {
    kNone,
    kNoSafeOrder,  // proven: no ordering of adds, removes and flips through states that
                   // fit the caps and keep every model served reaches the target (the
                   // search below exhausted every such state reachable from here)
    kSearchLimit,  // the search ran out of budget before deciding; capacity may dip
    kAfterUnsafe,  // follows an unsafe step while a model it dipped is still short
  };
  int var = 0;      // variant added/removed, or flipped from
  int to_var = -1;  // kFlip: flipped to (same model, accelerator and tp)
  int count = 0;
  bool safe = true;  // false: see `blocked`; capacity dips
  Blocked blocked = kNone;
};

// "no_safe_order", "search_limit", "after_unsafe" ("" for kNone).
const char* BlockedName(PlanStep::Blocked b);

// Steps from `from` to `to` (replicas per variant of `in`). Invariants, checked after
// every step: accelerator counts and further caps hold (unless `from` itself broke
// them); every model either dominates a convex combination of its `from` and `to`
// replicas (the fractional assignment mixes linearly, so it serves what both serve)
// or is shown by an explicit assignment over the fixed replicas (an LP; the greedy
// for models with more than 64 variants) to serve all of its demand. Flips are used
// where a replica changes role on the same hardware. When the greedy rounds (flips,
// adds that fit, safe removes) stall, a bounded breadth-first search, per component of
// models linked by the accelerators they use, over states one move apart (±1 replica,
// or a flip between variants of one model on the same accelerator and tp; temporary
// replicas of variants in neither allocation on spare hardware included) looks for a
// safe path to `to`. Only where it finds none is a replica removed with safe = false
// and the reason: kNoSafeOrder when the search exhausted the component's reachable
// safe states (a proof), kSearchLimit when its budget ran out first.
std::vector<PlanStep> MakePlan(const Instance& in, const std::vector<int>& from,
                               const std::vector<int>& to);

// True if state s dominates some θ·from + (1−θ)·to on every model.
bool PlanStateSafe(const Instance& in, const std::vector<int>& from, const std::vector<int>& to,
                   const std::vector<int>& s);
// True if s fits every accelerator count and further cap.
bool WithinCaps(const Instance& in, const std::vector<int>& s);

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_PLAN_H_
