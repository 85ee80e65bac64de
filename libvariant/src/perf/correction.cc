#include "perf/correction.h"

#include <cmath>

namespace variant {

bool ScalarKalman::Update(double z) {
  if (!std::isfinite(z)) return false;
  p_ += kQ;
  const double nu = z - x_;
  const double s = p_ + kR;
  if (nu * nu > kGate * kGate * s) {
    ++rejected_;
    const int sign = nu > 0 ? 1 : -1;
    streak_ = (sign == streak_sign_) ? streak_ + 1 : 1;
    streak_sign_ = sign;
    if (streak_ < kStreak) return false;
    // A persistent shift, not an outlier: widen the prior and take the sample.
    p_ = kP0;
  }
  streak_ = 0;
  streak_sign_ = 0;
  const double s2 = p_ + kR;
  const double k = p_ / s2;
  x_ += k * (z - x_);
  p_ *= (1 - k);
  return true;
}

double ScalarKalman::factor() const { return std::exp(x_); }

}  // namespace variant
