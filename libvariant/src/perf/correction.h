// Online correction of the a-priori model from live observations (docs/model.md,
// "Online correction"). Per variant (model, accelerator, TP) two independent scalar
// Kalman filters track the log of the ratio observed/predicted: one for prefill time
// (from TTFT), one for decode-step time (from ITL). The state is a random walk (process
// noise kQ per observation); each observation is a noisy measurement of it (kR).
// Innovation gate: a sample more than kGate standard deviations from the estimate is
// rejected, so one bad sample does not move it; kStreak consecutive rejections on the
// same side are taken as a real shift and the filter is re-opened (variance reset).
// Not thread-safe: owned by one Context.
#ifndef VARIANT_SRC_PERF_CORRECTION_H_
#define VARIANT_SRC_PERF_CORRECTION_H_

#include <map>
#include <string>
#include <tuple>

namespace variant {

class ScalarKalman {
 public:
  static constexpr double kQ = 1e-4;       // random-walk variance per step (log units)
  static constexpr double kR = 4e-3;       // measurement variance (≈ 6 % noise)
  static constexpr double kP0 = 0.25;      // prior variance: ±50 % before any data
  static constexpr double kGate = 3.0;     // reject beyond 3 sigma
  static constexpr int kStreak = 3;

  // Feeds log(observed/predicted); returns whether the sample passed the gate.
  bool Update(double z);
  double factor() const;
  double log_factor() const { return x_; }
  int rejected() const { return rejected_; }

 private:
  double x_ = 0, p_ = kP0;
  int streak_ = 0, streak_sign_ = 0, rejected_ = 0;
};

class Corrector {
 public:
  using Key = std::tuple<std::string, std::string, int>;
  struct Entry {
    ScalarKalman prefill, decode;
  };
  Entry& At(const Key& k) { return entries_[k]; }
  const Entry* Find(const Key& k) const {
    auto it = entries_.find(k);
    return it == entries_.end() ? nullptr : &it->second;
  }

 private:
  std::map<Key, Entry> entries_;
};

}  // namespace variant

#endif  // VARIANT_SRC_PERF_CORRECTION_H_
