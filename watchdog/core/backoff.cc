#include "watchdog/core/backoff.h"

#include <algorithm>

namespace watchdog {

std::chrono::milliseconds ExponentialDelay(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max,
                                           int exponent) {
  std::chrono::milliseconds delay = initial;
  for (int i = 0; i < exponent && delay < max; ++i) delay *= 2;
  return std::min(delay, max);
}

std::chrono::milliseconds Jitter::Apply(std::chrono::milliseconds base,
                                        std::chrono::milliseconds max) {
  const double unit =
      static_cast<double>(Next() >> 11) / static_cast<double>(1ULL << 53);
  const double factor = 0.8 + 0.4 * unit;
  const std::chrono::milliseconds jittered(
      static_cast<int64_t>(static_cast<double>(base.count()) * factor));
  return std::min(jittered, max);
}

// splitmix64: a tiny, well-mixed deterministic generator.
uint64_t Jitter::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace watchdog
