// One knob for every tailscaled constant the fake models: `--time-scale S`
// multiplies keep-alive intervals and jitter, the 120 s watchdogs, health
// warning delays, the health timer, backoffs and TCP keep-alive timers by S
// (0.05: 20 times faster), so tests run in seconds and the benchmark (S = 1)
// at real scale. The lab's other stand-ins (mwan3_standin) read it the same
// way. What the
// kernel decides alone (SYN and data retransmission timers, tcp_retries2) is
// not scaled: docs/tailscaled-behaviour.md, "Time scale".
#ifndef TSWATCHDOG_TESTS_FAKE_TIME_SCALE_H_
#define TSWATCHDOG_TESTS_FAKE_TIME_SCALE_H_

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace fake {

using std::chrono::milliseconds;

class TimeScale {
 public:
  explicit TimeScale(double factor = 1.0)
      : factor_(factor > 0 ? factor : 1.0) {}

  double factor() const { return factor_; }

  // A real-time constant at this scale (never below 1 ms).
  milliseconds operator()(milliseconds real) const {
    const double ms = static_cast<double>(real.count()) * factor_;
    return milliseconds(std::max<int64_t>(1, std::llround(ms)));
  }

  // A scaled constant for a kernel option that takes whole seconds (TCP
  // keep-alive): rounded up like Go's roundDurationUp, at least 1 s.
  int KernelSeconds(std::chrono::seconds real) const {
    const double s = static_cast<double>(real.count()) * factor_;
    return std::max(1, static_cast<int>(std::ceil(s - 1e-9)));
  }

  // `base` plus a uniformly random part of `jitter`, both scaled.
  milliseconds WithJitter(milliseconds base, milliseconds jitter) const {
    std::uniform_real_distribution<double> part(0.0, 1.0);
    const auto extra = milliseconds(
        std::llround(static_cast<double>(jitter.count()) * part(Random())));
    return (*this)(base + extra);
  }

  static std::mt19937_64& Random() {
    static std::mt19937_64 rng{std::random_device{}()};
    return rng;
  }

 private:
  double factor_;
};

// tailscale util/backoff: after the n-th consecutive failure wait
// min(n² · 10 ms, max) × a random factor in [0.5, 1.5).
inline milliseconds TailscaleBackoff(int failures, milliseconds max,
                                     const TimeScale& scale) {
  const int64_t n = std::max(1, failures);
  const milliseconds base = std::min(milliseconds(n * n * 10), max);
  std::uniform_real_distribution<double> factor(0.5, 1.5);
  const double ms =
      static_cast<double>(base.count()) * factor(TimeScale::Random());
  return scale(milliseconds(std::llround(ms)));
}

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_TIME_SCALE_H_
