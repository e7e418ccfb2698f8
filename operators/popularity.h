#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace streamrec::operators {

// An exponentially decayed count in event time ("trending"): value(t) = Σ w_k ·
// 0.5^((t − t_k) / half_life). With half_life_ms <= 0 it is a plain sum.
// Thread-compatible value type.
class DecayedCount {
 public:
  DecayedCount() = default;
  DecayedCount(double value, int64_t ts_ms) : value_(value), ts_ms_(ts_ms) {}

  // Adds weight w observed at ts_ms. An event older than the last one is decayed to the
  // current reference time instead of moving it backwards.
  void Add(double w, int64_t ts_ms, int64_t half_life_ms) {
    if (ts_ms >= ts_ms_) {
      value_ = ValueAt(ts_ms, half_life_ms) + w;
      ts_ms_ = ts_ms;
    } else {
      value_ += w * Factor(ts_ms_ - ts_ms, half_life_ms);
    }
  }
  // The value decayed to ts_ms (not before the last update).
  double ValueAt(int64_t ts_ms, int64_t half_life_ms) const {
    return ts_ms <= ts_ms_ ? value_ : value_ * Factor(ts_ms - ts_ms_, half_life_ms);
  }
  double value() const { return value_; }
  int64_t ts_ms() const { return ts_ms_; }

  std::string Serialize() const;
  static Result<DecayedCount> Parse(std::string_view bytes);

 private:
  static double Factor(int64_t dt_ms, int64_t half_life_ms) {
    if (half_life_ms <= 0) return 1.0;
    return std::exp2(-static_cast<double>(dt_ms) / static_cast<double>(half_life_ms));
  }
  double value_ = 0;
  int64_t ts_ms_ = 0;
};

}  // namespace streamrec::operators
