// One-shot timers on the monotonic clock, as a port: the event loop is the
// real one; tests drive a fake one by hand (no sleeps, no real time).
#ifndef TSWATCHDOG_WATCHDOG_IO_TIMERS_H_
#define TSWATCHDOG_WATCHDOG_IO_TIMERS_H_

#include <cstdint>
#include <functional>

#include "watchdog/core/time.h"

namespace watchdog {

class Timers {
 public:
  using TimerId = uint64_t;
  using TimerCallback = std::function<void()>;

  virtual ~Timers() = default;
  virtual MonoTime Now() const = 0;
  // Runs `callback` once at `deadline` (from the loop, never from inside
  // AddTimer). Returns an id for CancelTimer; never 0.
  virtual TimerId AddTimer(MonoTime deadline, TimerCallback callback) = 0;
  // Unknown or already fired ids are ignored.
  virtual void CancelTimer(TimerId id) = 0;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_IO_TIMERS_H_
