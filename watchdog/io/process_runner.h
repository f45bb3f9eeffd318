// Runs child processes (restart_command, hooks, systemctl) from the event
// loop: argv only (no shell), a timeout after which the child is killed,
// stdout+stderr captured (the tail is kept for the log), and the exit status
// delivered through a callback. The loop never blocks on a child: exits are
// seen through a pidfd (Linux >= 5.3), or a short poll timer where pidfd_open
// is missing. The destructor kills and reaps every child still running.
// A child gets stdin from /dev/null, stdout and stderr on a blocking pipe
// (the daemon's end does not block), no other descriptor of the daemon, and
// a clean environment (PATH, LANG, LC_ALL, TZ, plus what the caller adds).
#ifndef TSWATCHDOG_WATCHDOG_IO_PROCESS_RUNNER_H_
#define TSWATCHDOG_WATCHDOG_IO_PROCESS_RUNNER_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"
#include "watchdog/io/event_loop.h"

namespace watchdog {

struct ProcessResult {
  int exit_code = -1;       // valid when exited
  int signal = 0;           // the signal that ended it, if any
  bool exited = false;      // ended with exit()
  bool timed_out = false;   // we killed it at the timeout
  std::string spawn_error;  // non-empty: it never ran (exec failed, ...)
  std::string output;       // the last few KiB of stdout+stderr
  std::chrono::milliseconds runtime{0};

  bool ok() const { return exited && exit_code == 0 && spawn_error.empty(); }
  // "exited 0 after 120ms", "killed by SIGKILL after timeout 30s", ...
  std::string Describe() const;
};

// Starting a command, as a port (tests record what would run).
class ProcessSpawner {
 public:
  using Callback = std::function<void(const ProcessResult&)>;

  virtual ~ProcessSpawner() = default;
  // Starts argv[0] with a clean environment plus `extra_env`, killed
  // after `timeout`; `done` gets the result. Returns the pid, or -1 when it
  // could not start (`done` may then have run already).
  virtual pid_t Run(const std::vector<std::string>& argv,
                    std::chrono::milliseconds timeout,
                    const std::map<std::string, std::string>& extra_env,
                    Callback done) = 0;
};

class ProcessRunner final : public ProcessSpawner {
 public:
  explicit ProcessRunner(EventLoop& loop);
  ~ProcessRunner() override;
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // Starts argv[0] (looked up in PATH when it has no slash) with PATH,
  // LANG, LC_ALL and TZ from the daemon's environment, plus `extra_env`.
  // `done` runs on the loop when the child has been reaped. Returns the pid,
  // or -1 when it could not start (`done` has then already run).
  pid_t Run(const std::vector<std::string>& argv,
            std::chrono::milliseconds timeout,
            const std::map<std::string, std::string>& extra_env,
            Callback done) override;

  size_t running() const { return children_.size(); }
  // SIGTERM, then SIGKILL after `grace`, then reap: used at shutdown.
  void TerminateAll(std::chrono::milliseconds grace);

 private:
  struct Child;
  // Watches a started child's output, exit and timeout.
  void Watch(std::unique_ptr<Child> child);
  void OnTimeout(pid_t pid);
  void OnOutput(pid_t pid);
  void OnExit(pid_t pid);
  void Reap(pid_t pid, int wait_status);
  void PollExits();

  EventLoop& loop_;
  std::map<pid_t, std::unique_ptr<Child>> children_;
  EventLoop::TimerId poll_timer_ = 0;
  bool have_pidfd_ = true;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_IO_PROCESS_RUNNER_H_
