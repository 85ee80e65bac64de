// The allocation problem in solver form (docs/decision.md, "Formulation") and the two
// solvers over it: an exact MILP through lp_solve and a fast Lagrangian/greedy solver.
// An Instance holds flat arrays only (no names needed to solve), so tests and the
// solver benchmark build instances directly. Solvers are pure functions of the
// instance; thread-safe on distinct instances.
#ifndef VARIANT_SRC_OPT_SOLVER_H_
#define VARIANT_SRC_OPT_SOLVER_H_

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "status.h"

namespace variant::opt {

struct Instance {
  struct Accel {
    std::string name;
    double cost = 0;    // per accelerator-hour
    double count = -1;  // available accelerators; < 0 = unlimited
  };
  // A further global cap: Σ_v tp_v · amount[accel(v)] · n_v <= total.
  struct Cap {
    std::string name;
    std::vector<double> amount;  // per accelerator
    double total = 0;
  };
  struct Var {
    int model = 0, accel = 0, tp = 1, role = 0;  // role: variant_role
    int min = 0, max = -1;  // max < 0: unbounded
    int cur = 0;            // current replicas (including starting)
    bool fixed = false;     // pinned to cur (stability); min = max = cur
  };
  // One (model, class, bucket) slice of demand.
  struct Dem {
    int model = 0, cls = 0, bucket = 0;
    double rate = 0;     // rps
    double penalty = 0;  // per rps-hour left unserved
    int priority = 0;
  };
  struct Pair {
    int var = 0;
    double cap = 0;  // rps one replica of var sustains on this slice
  };

  std::vector<Accel> accels;
  std::vector<Cap> caps;
  std::vector<Var> vars;
  std::vector<Dem> dems;
  // Per demand: aggregated (role PD) pairs, prefill (P) pairs, decode (D) pairs.
  std::vector<std::vector<Pair>> pd, p, d;
  int n_models = 0;
  double transition = 0;  // × price per replica added or removed
  double time_limit_s = 10;
  // Fast solver: on small instances (<= 2,000 pairs, <= 200 variants) also run the
  // MILP for at most 100 ms and keep the better answer (and its bound).
  bool fast_exact_small = true;

  double Price(int v) const { return vars[v].tp * accels[vars[v].accel].cost; }
  // Sets penalties from priorities so that higher priority is always served first
  // (docs/decision.md, "Priorities"). Call after pairs and rates are set.
  void SetPenalties();
  Status Validate() const;
};

struct Solution {
  std::string solver;
  std::string status;  // "optimal", "feasible" (time limit or heuristic), ...
  std::vector<int> n;  // replicas per variant
  // Per demand: fractions assigned to (pair index in pd / p / d) and unserved.
  std::vector<std::vector<double>> x_pd, x_p, x_d;
  std::vector<double> unserved;  // fraction of the demand's rate
  double cost = 0;        // Σ price · n (per hour)
  double penalty = 0;     // Σ penalty · rate · unserved
  double transition = 0;  // transition cost term
  double objective = 0;   // cost + penalty + transition
  double lower_bound = 0; // valid lower bound on the optimal objective
  double lp_bound = NAN;  // LP relaxation (MILP only)
  double gap = 0;         // (objective - lower_bound) / objective
  double solve_ms = 0;
  bool proven_optimal = false;
};

// Recomputes cost/penalty/transition/objective/gap of s from n and unserved.
void Evaluate(const Instance& in, Solution* s);

// lower_bound bounds the objective (cost + unserved penalty + transition), so it can
// lie above the cost alone (examples/basic.yaml: every replica is new, transition
// 2.97 on cost 29.65). The bound on the cost's footing, reported as the decision's
// `lower_bound`: any allocation whose penalty + transition terms are no larger than
// s's costs at least lower_bound - (objective - cost), which is <= s.cost exactly when
// lower_bound <= objective (the tests check both solvers).
inline double CostLowerBound(const Solution& s) {
  return std::max(0.0, s.lower_bound - (s.objective - s.cost));
}
// (cost - CostLowerBound) / cost: the same absolute gap as `gap`, relative to the cost.
inline double CostGap(const Solution& s) {
  return s.cost > 0 ? std::max(0.0, (s.cost - CostLowerBound(s)) / s.cost) : 0.0;
}
// Exact MILP; VARIANT_E_TIMEOUT if the time limit passed with no integer solution,
// VARIANT_E_INFEASIBLE if none exists (only possible when minimum replicas exceed caps).
Result<Solution> SolveMilp(const Instance& in);
// Fast solver: Lagrangian dual bound on the accelerator caps + priority-ordered greedy
// with consolidation; always returns a feasible answer when one exists.
Result<Solution> SolveFast(const Instance& in);

// Checks a solution: caps, bounds, assignment sums, per-variant load <= replicas.
// Returns the first violation or OK. tol is relative.
Status CheckSolution(const Instance& in, const Solution& s, double tol = 1e-6);

}  // namespace variant::opt

#endif  // VARIANT_SRC_OPT_SOLVER_H_
