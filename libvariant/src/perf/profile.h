// Offline profiles: a user's own measurements of a variant (docs/model.md, "Offline
// profiles"), as CSV rows
//   model,accelerator,tp,kind,batch,input,context,ms
// kind "prefill": a closed batch of `batch` prompts of `input` tokens prefilled in one
// step took `ms`; kind "decode": one decode step of `batch` sequences with `context`
// cached tokens each took `ms`. For each variant (model, accelerator, tp) with rows, a
// calibration of the a-priori step model is fitted: per kind, measured ≈ add + scale ×
// a-priori (weighted least squares on relative error; scale only when fewer than three
// distinct points or when the fit would need a negative constant). Variants without
// rows keep the a-priori estimate. Not thread-safe: owned by one Context.
#ifndef VARIANT_SRC_PERF_PROFILE_H_
#define VARIANT_SRC_PERF_PROFILE_H_

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "status.h"

namespace variant {

class Context;

struct ProfilePoint {
  bool prefill = true;
  int batch = 0;
  double input = 0, context = 0, ms = 0;
  int line = 0;
};

// measured ≈ add_ms + scale × a-priori, per kind.
struct ProfileFit {
  double prefill_scale = 1, prefill_add_ms = 0;
  double decode_scale = 1, decode_add_ms = 0;
  int prefill_points = 0, decode_points = 0;
};

class ProfileSet {
 public:
  using Key = std::tuple<std::string, std::string, int>;  // model, accelerator, tp

  // Parses `text` (`source` names it in errors), checks every row against the catalog
  // and the step model, fits each variant it names, and adds the fits (replacing
  // earlier fits of the same variants). On error nothing is added.
  Status Load(Context& ctx, const std::string& text, const std::string& source);

  const ProfileFit* Find(const Key& k) const {
    auto it = fits_.find(k);
    return it == fits_.end() ? nullptr : &it->second;
  }
  size_t size() const { return fits_.size(); }

 private:
  std::map<Key, ProfileFit> fits_;
};

// Fits measured ≈ add + scale × predicted over (predicted, measured) pairs.
void FitAffine(const std::vector<std::pair<double, double>>& pts, double* scale, double* add);

}  // namespace variant

#endif  // VARIANT_SRC_PERF_PROFILE_H_
