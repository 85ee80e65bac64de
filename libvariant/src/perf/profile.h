// Offline profiles: a user's own measurements of a variant (docs/profiles.md).
// Placeholder until the profile part lands.
#ifndef VARIANT_SRC_PERF_PROFILE_H_
#define VARIANT_SRC_PERF_PROFILE_H_

namespace variant {
class ProfileSet {};
}  // namespace variant

#endif  // VARIANT_SRC_PERF_PROFILE_H_
