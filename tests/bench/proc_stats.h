// What the benchmarks read about a process from /proc: CPU time, wake-ups and
// memory. A "wake-up" here is a context switch: voluntary (the process blocked
// in epoll_wait/read and was woken) plus involuntary (preempted), summed over
// all of the process's threads (/proc/PID/task/*/status).
#ifndef TSWATCHDOG_TESTS_BENCH_PROC_STATS_H_
#define TSWATCHDOG_TESTS_BENCH_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace bench {

struct ProcSample {
  double cpu_ms =
      0;  // utime + stime (/proc/PID/stat), all threads; 10 ms ticks
  // Time on a CPU (/proc/PID/task/*/schedstat, first field), in ns precision.
  double on_cpu_ms = 0;
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
  uint64_t wakeups() const { return voluntary + involuntary; }
};

struct ProcMemory {
  uint64_t rss_kib = 0;   // VmRSS
  uint64_t hwm_kib = 0;   // VmHWM: peak RSS
  uint64_t anon_kib = 0;  // RssAnon: the private part of VmRSS (heap, stacks)
};

// Nullopt when the process is gone.
std::optional<ProcSample> SampleProcess(pid_t pid);
std::optional<ProcMemory> ProcessMemory(pid_t pid);

// Waits until the process's CPU time has not moved for `quiet_ms` (it has
// finished the work it was given), at most `timeout_ms`. Returns whether it
// went quiet.
bool WaitUntilIdle(pid_t pid, int quiet_ms, int timeout_ms);

}  // namespace bench

#endif  // TSWATCHDOG_TESTS_BENCH_PROC_STATS_H_
