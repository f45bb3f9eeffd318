#include "watchdog/io/event_loop.h"

#include <sys/timerfd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace watchdog {
namespace {

[[noreturn]] void ThrowErrno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

EventLoop::EventLoop()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      timer_fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!epoll_fd_) ThrowErrno("epoll_create1");
  if (!timer_fd_) ThrowErrno("timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = timer_fd_.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, timer_fd_.get(), &ev) < 0) {
    ThrowErrno("epoll_ctl(timerfd)");
  }
}

EventLoop::~EventLoop() = default;

void EventLoop::WatchFd(int fd, uint32_t events, FdCallback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  const bool known = fds_.count(fd) != 0;
  if (::epoll_ctl(epoll_fd_.get(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
                  &ev) < 0) {
    ThrowErrno("epoll_ctl(add)");
  }
  auto entry = std::make_shared<FdEntry>();
  entry->callback = std::move(callback);
  entry->events = events;
  fds_[fd] = std::move(entry);
}

void EventLoop::ModifyFd(int fd, uint32_t events) {
  auto it = fds_.find(fd);
  if (it == fds_.end() || it->second->events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) < 0) {
    ThrowErrno("epoll_ctl(mod)");
  }
  it->second->events = events;
}

void EventLoop::UnwatchFd(int fd) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  // The fd may already be closed by its owner; EBADF/ENOENT are fine here.
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(it);
}

EventLoop::TimerId EventLoop::AddTimer(MonoTime deadline,
                                       TimerCallback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(id, TimerEntry{deadline, std::move(callback)});
  timer_order_.emplace(deadline, id);
  ArmTimerFd();
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = timer_order_.equal_range(it->second.deadline);
  for (auto o = range.first; o != range.second; ++o) {
    if (o->second == id) {
      timer_order_.erase(o);
      break;
    }
  }
  timers_.erase(it);
  ArmTimerFd();
}

void EventLoop::ArmTimerFd() {
  itimerspec spec{};
  if (!timer_order_.empty()) {
    auto since_epoch = timer_order_.begin()->first.time_since_epoch();
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch)
                  .count();
    if (ns <= 0) ns = 1;  // 0 would disarm the timer
    spec.it_value.tv_sec = ns / 1000000000;
    spec.it_value.tv_nsec = ns % 1000000000;
  }
  // steady_clock is CLOCK_MONOTONIC on Linux, so absolute deadlines line up.
  ::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

int EventLoop::RunDueTimers() {
  uint64_t expirations;
  while (::read(timer_fd_.get(), &expirations, sizeof expirations) > 0) {
  }
  int ran = 0;
  const MonoTime now = MonoClock::now();
  while (!timer_order_.empty() && timer_order_.begin()->first <= now &&
         !stopped_) {
    const TimerId id = timer_order_.begin()->second;
    timer_order_.erase(timer_order_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    TimerCallback callback = std::move(it->second.callback);
    timers_.erase(it);
    callback();
    ++ran;
  }
  ArmTimerFd();
  return ran;
}

int EventLoop::RunOnce(int timeout_ms) {
  epoll_event events[32];
  int n = ::epoll_wait(epoll_fd_.get(), events, 32, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    ThrowErrno("epoll_wait");
  }
  ++wakeups_;
  int ran = 0;
  // Collect first: a callback may unwatch another fd of this batch.
  std::vector<std::pair<std::weak_ptr<FdEntry>, uint32_t>> ready;
  bool timer_fired = false;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.fd == timer_fd_.get()) {
      timer_fired = true;
      continue;
    }
    auto it = fds_.find(events[i].data.fd);
    const uint32_t mask = events[i].events;
    if (it != fds_.end()) ready.emplace_back(it->second, mask);
  }
  for (auto& [weak, mask] : ready) {
    if (stopped_) break;
    if (auto entry = weak.lock()) {
      entry->callback(mask);
      ++ran;
    }
  }
  if (timer_fired && !stopped_) ran += RunDueTimers();
  return ran;
}

void EventLoop::Run() {
  stopped_ = false;
  while (!stopped_) RunOnce(-1);
}

}  // namespace watchdog
