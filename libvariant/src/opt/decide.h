// One decision (docs/decision.md): problem + current allocation (+ the state a previous
// decision carried) → stability filter and forecast → capacity table → solver(s) →
// change cap → plan → guidance → the decision document (JSON). Not thread-safe for one
// Context (it fills the context's step-model cache); see variant.h "Threads".
#ifndef VARIANT_SRC_OPT_DECIDE_H_
#define VARIANT_SRC_OPT_DECIDE_H_

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "opt/problem.h"
#include "opt/solver.h"
#include "status.h"

namespace variant {
class Context;
}

namespace variant::opt {

// Max rate (rps) one replica of models[mi].variants[vi] sustains on one length bucket
// under class ci's SLOs; 0 if the SLOs cannot be met. capacity_rps overrides it.
using CapacityFn =
    std::function<Result<double>(int mi, int vi, int ci, const Bucket& b, double prefix)>;

// The performance model's capacity (perf/queue_model.h MaxRate), for a context.
CapacityFn PerfCapacity(Context* ctx, const Problem& p);

// solver: "fast", "milp" or "both". capacity: NULL-equivalent {} uses PerfCapacity(ctx)
// (ctx may then not be NULL unless every variant has capacity_rps).
Result<nlohmann::json> Decide(Context* ctx, const Problem& p, const Current& cur,
                              const std::string& solver, CapacityFn capacity = {});

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_DECIDE_H_
