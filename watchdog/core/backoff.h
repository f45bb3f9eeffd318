// The one backoff of the project: exponential, capped, with ±20% jitter so
// that many hosts behind one failed uplink (or many clients of one
// restarted tailscaled) do not retry in lockstep. Used for the ladder's
// pauses and cooldowns, the bus reconnects and the state file retries.
#ifndef TSWATCHDOG_WATCHDOG_CORE_BACKOFF_H_
#define TSWATCHDOG_WATCHDOG_CORE_BACKOFF_H_

#include <chrono>
#include <cstdint>

namespace watchdog {

// initial·2^exponent, at most `max` (an exponent below 1 gives `initial`).
std::chrono::milliseconds ExponentialDelay(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max,
                                           int exponent);

// Deterministic per seed (SplitMix64): tests fix the seed, the daemon takes
// it from std::random_device.
class Jitter {
 public:
  explicit Jitter(uint64_t seed) : state_(seed) {}
  // `base` ±20%, at most `max` (the longest pause the operator allows).
  std::chrono::milliseconds Apply(std::chrono::milliseconds base,
                                  std::chrono::milliseconds max);

 private:
  uint64_t Next();
  uint64_t state_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_BACKOFF_H_
