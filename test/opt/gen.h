// Small random instances for the optimizer tests: every variant can serve every slice
// of its model (so priority and brute-force properties are clean), accelerator counts
// drawn tight.
#ifndef VARIANT_TEST_OPT_GEN_H_
#define VARIANT_TEST_OPT_GEN_H_

#include <cstdint>
#include <random>

#include "opt/solver.h"

namespace variant::opt::test {

struct GenSpec {
  int models = 2, variants = 3, accels = 2, slices = 2, classes = 1;
  bool disaggregated = false;
  double tightness = 1.0;  // accelerator count / accelerators an all-served answer needs
  int max_tp = 2;
  double transition = 0;
};

Instance Generate(const GenSpec& g, std::mt19937_64& rng);

}  // namespace variant::opt::test

#endif  // VARIANT_TEST_OPT_GEN_H_
