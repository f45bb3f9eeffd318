// The one event loop of tswatchdog: epoll over file descriptors plus a single
// timerfd (CLOCK_MONOTONIC) that multiplexes every timer. Single-threaded, in
// the style of OpenWrt's uloop: callbacks run on the loop thread and must not
// block.
#ifndef TSWATCHDOG_WATCHDOG_IO_EVENT_LOOP_H_
#define TSWATCHDOG_WATCHDOG_IO_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>

#include "netlink/unique_fd.h"
#include "watchdog/core/time.h"
#include "watchdog/io/timers.h"

namespace watchdog {

class EventLoop final : public Timers {
 public:
  using FdCallback = std::function<void(uint32_t epoll_events)>;

  // Throws std::system_error if epoll or timerfd cannot be created.
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop() override;

  // Registers `fd` (not owned) for `events` (EPOLLIN, EPOLLOUT, ...). Replaces
  // any earlier registration of the same fd. Safe to call from inside a
  // callback.
  void WatchFd(int fd, uint32_t events, FdCallback callback);
  // Changes the interest set of a watched fd.
  void ModifyFd(int fd, uint32_t events);
  // Stops watching `fd`; a pending dispatch for it in this iteration is
  // dropped.
  void UnwatchFd(int fd);
  bool IsWatching(int fd) const { return fds_.count(fd) != 0; }

  MonoTime Now() const override { return MonoClock::now(); }
  // One-shot timer at `deadline` (monotonic). Returns an id for CancelTimer.
  TimerId AddTimer(MonoTime deadline, TimerCallback callback) override;
  TimerId AddTimerAfter(MonoClock::duration delay, TimerCallback callback) {
    return AddTimer(MonoClock::now() + delay, std::move(callback));
  }
  // Cancels a timer; unknown or already fired ids are ignored.
  void CancelTimer(TimerId id) override;
  size_t PendingTimers() const { return timers_.size(); }

  // Runs until Stop() is called.
  void Run();
  // Waits at most `timeout_ms` (-1: forever) for one batch of events and
  // dispatches it. Returns the number of callbacks run.
  int RunOnce(int timeout_ms);
  void Stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  // How often the loop has woken up from epoll_wait (for wake-up accounting).
  uint64_t wakeups() const { return wakeups_; }

 private:
  struct FdEntry {
    FdCallback callback;
    uint32_t events = 0;
  };
  struct TimerEntry {
    MonoTime deadline;
    TimerCallback callback;
  };

  void ArmTimerFd();
  int RunDueTimers();

  netlink::UniqueFd epoll_fd_;
  netlink::UniqueFd timer_fd_;
  std::unordered_map<int, std::shared_ptr<FdEntry>> fds_;
  std::multimap<MonoTime, TimerId> timer_order_;
  std::unordered_map<TimerId, TimerEntry> timers_;
  TimerId next_timer_id_ = 1;
  bool stopped_ = false;
  uint64_t wakeups_ = 0;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_IO_EVENT_LOOP_H_
