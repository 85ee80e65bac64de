// Online correction of the a-priori step model from live observations (docs/model.md,
// "Online correction"). Placeholder until the learning part lands.
#ifndef VARIANT_SRC_PERF_CORRECTION_H_
#define VARIANT_SRC_PERF_CORRECTION_H_

namespace variant {
class Corrector {};
}  // namespace variant

#endif  // VARIANT_SRC_PERF_CORRECTION_H_
