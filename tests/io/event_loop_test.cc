#include "watchdog/io/event_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

namespace watchdog {
namespace {

// Timers in these tests are due already (deadline in the past or now), so the
// loop never waits on the wall clock.
TEST(EventLoop, DueTimersRunInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> order;
  const MonoTime base = MonoClock::now() - std::chrono::seconds(10);
  loop.AddTimer(base + std::chrono::seconds(3), [&] { order.push_back(3); });
  loop.AddTimer(base + std::chrono::seconds(1), [&] { order.push_back(1); });
  loop.AddTimer(base + std::chrono::seconds(2), [&] { order.push_back(2); });
  while (order.size() < 3) loop.RunOnce(1000);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loop.PendingTimers(), 0u);
}

TEST(EventLoop, CancelledTimerNeverRuns) {
  EventLoop loop;
  bool cancelled_ran = false, other_ran = false;
  auto id = loop.AddTimer(MonoClock::now(), [&] { cancelled_ran = true; });
  loop.AddTimer(MonoClock::now(), [&] { other_ran = true; });
  loop.CancelTimer(id);
  loop.CancelTimer(id);  // twice is harmless
  while (!other_ran) loop.RunOnce(1000);
  EXPECT_FALSE(cancelled_ran);
}

TEST(EventLoop, FarTimerDoesNotFireEarly) {
  EventLoop loop;
  bool ran = false;
  loop.AddTimerAfter(std::chrono::hours(1), [&] { ran = true; });
  EXPECT_EQ(loop.RunOnce(0), 0);
  EXPECT_FALSE(ran);
  EXPECT_EQ(loop.PendingTimers(), 1u);
}

TEST(EventLoop, FdCallbackAndUnwatchFromInsideACallback) {
  EventLoop loop;
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  int a_calls = 0, b_calls = 0;
  // Whichever runs first unwatches the other; the other must not run.
  loop.WatchFd(a[0], EPOLLIN, [&](uint32_t) {
    ++a_calls;
    loop.UnwatchFd(b[0]);
  });
  loop.WatchFd(b[0], EPOLLIN, [&](uint32_t) {
    ++b_calls;
    loop.UnwatchFd(a[0]);
  });
  ASSERT_EQ(write(a[1], "x", 1), 1);
  ASSERT_EQ(write(b[1], "x", 1), 1);
  EXPECT_EQ(loop.RunOnce(1000), 1);
  EXPECT_EQ(a_calls + b_calls, 1);
  for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

TEST(EventLoop, StopEndsRun) {
  EventLoop loop;
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks == 5) {
      loop.Stop();
    } else {
      loop.AddTimer(MonoClock::now(), tick);
    }
  };
  loop.AddTimer(MonoClock::now(), tick);
  loop.Run();
  EXPECT_EQ(ticks, 5);
}

}  // namespace
}  // namespace watchdog
