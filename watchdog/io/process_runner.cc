#include "watchdog/io/process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace watchdog {
namespace {

constexpr size_t kKeptOutput = 4096;
constexpr auto kExitPollInterval = std::chrono::milliseconds(50);

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// What a child inherits from the daemon's environment: a clean, documented
// set (README, "Hooks"). Everything else stays behind: systemd's
// NOTIFY_SOCKET and WATCHDOG_* (a child taken for us), JOURNAL_STREAM (the
// child's stdout is our pipe, not the journal), credentials, LD_* and
// whatever the service manager or a shell put there.
constexpr const char* kInherited[] = {"PATH", "LANG", "LC_ALL", "TZ"};
// systemd's default PATH, for a daemon started without one.
constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::vector<std::string> ChildEnvironment(
    const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> env;
  for (const char* name : kInherited) {
    if (extra_env.count(name) != 0) continue;
    const char* value = std::getenv(name);
    if (value == nullptr && std::strcmp(name, "PATH") == 0)
      value = kDefaultPath;
    if (value != nullptr) env.push_back(std::string(name) + "=" + value);
  }
  for (const auto& [name, value] : extra_env) env.push_back(name + "=" + value);
  return env;
}

// A child gets stdin, stdout and stderr and no other descriptor of ours.
// Ours are close-on-exec, but a library's need not be (libcurl's sockets,
// when the LocalAPI client used it, were not: a hook's background child kept
// tailscaled's bus connection open after the daemon exited). So every
// descriptor above 2 that would survive exec is closed in the child (posix_spawn_file_actions_addclose: portable to
// musl, which has no addclosefrom).
void CloseInheritedDescriptors(posix_spawn_file_actions_t* actions) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd <= STDERR_FILENO ||
        fd == own) {
      continue;
    }
    const int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) {
      posix_spawn_file_actions_addclose(actions, static_cast<int>(fd));
    }
  }
  closedir(dir);
}

// Starts argv with stdin on /dev/null, stdout and stderr on `output`, the
// environment of ChildEnvironment, and no descriptor of ours. Returns 0 and
// sets `pid`, or posix_spawn's error number.
int Spawn(const std::vector<std::string>& argv,
          const std::map<std::string, std::string>& extra_env, int output,
          pid_t& pid) {
  std::vector<std::string> env_storage = ChildEnvironment(extra_env);
  std::vector<char*> envp, args;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO);
  CloseInheritedDescriptors(&actions);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The daemon blocks the signals it reads through signalfd; the child must
  // start with a clean mask and default handlers, in its own process group.
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  const int rc =
      posix_spawnp(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

}  // namespace

struct ProcessRunner::Child {
  pid_t pid = -1;
  netlink::UniqueFd pidfd;
  netlink::UniqueFd output;
  std::string tail;
  std::string name;
  MonoTime started;
  EventLoop::TimerId timeout_timer = 0;
  bool timed_out = false;
  std::chrono::milliseconds timeout{0};
  Callback done;
};

std::string ProcessResult::Describe() const {
  std::string runtime_text = std::to_string(runtime.count()) + "ms";
  if (!spawn_error.empty()) return "did not start: " + spawn_error;
  if (timed_out) return "killed after its timeout (" + runtime_text + ")";
  if (exited) {
    return "exited " + std::to_string(exit_code) + " after " + runtime_text;
  }
  return std::string("killed by ") + strsignal(signal) + " after " +
         runtime_text;
}

ProcessRunner::ProcessRunner(EventLoop& loop) : loop_(loop) {}

ProcessRunner::~ProcessRunner() {
  // Owners may be half destroyed by now: reap without calling back.
  for (auto& [pid, child] : children_) child->done = nullptr;
  TerminateAll(std::chrono::milliseconds(0));
  if (poll_timer_) loop_.CancelTimer(poll_timer_);
}

pid_t ProcessRunner::Run(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& extra_env,
                         Callback done) {
  ProcessResult failed;
  if (argv.empty()) {
    failed.spawn_error = "empty command";
    done(failed);
    return -1;
  }
  // The child's end blocks, as a pipe a program writes to should (on a
  // non-blocking one, writing more than the pipe holds fails with EAGAIN);
  // only our end, read from the loop, is non-blocking.
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0 ||
      fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK) != 0) {
    failed.spawn_error = std::string("pipe: ") + std::strerror(errno);
    done(failed);
    return -1;
  }
  netlink::UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  pid_t pid = -1;
  if (int rc = Spawn(argv, extra_env, write_end.get(), pid); rc != 0) {
    failed.spawn_error = argv[0] + ": " + std::strerror(rc);
    done(failed);
    return -1;
  }
  write_end.Reset();

  auto child = std::make_unique<Child>();
  child->pid = pid;
  child->name = argv[0];
  child->started = MonoClock::now();
  child->timeout = timeout;
  child->done = std::move(done);
  child->output = std::move(read_end);
  Watch(std::move(child));
  return pid;
}

void ProcessRunner::Watch(std::unique_ptr<Child> child) {
  const pid_t pid = child->pid;
  child->pidfd.Reset(PidfdOpen(pid));
  if (!child->pidfd && have_pidfd_) {
    have_pidfd_ = false;
    spdlog::debug("process: pidfd_open unavailable ({}), polling for exits",
                  std::strerror(errno));
  }
  loop_.WatchFd(child->output.get(), EPOLLIN,
                [this, pid](uint32_t) { OnOutput(pid); });
  if (child->pidfd) {
    loop_.WatchFd(child->pidfd.get(), EPOLLIN,
                  [this, pid](uint32_t) { OnExit(pid); });
  } else if (!poll_timer_) {
    poll_timer_ =
        loop_.AddTimerAfter(kExitPollInterval, [this] { PollExits(); });
  }
  child->timeout_timer =
      loop_.AddTimerAfter(child->timeout, [this, pid] { OnTimeout(pid); });
  children_.emplace(pid, std::move(child));
}

void ProcessRunner::OnTimeout(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  it->second->timeout_timer = 0;
  it->second->timed_out = true;
  spdlog::warn("process: {} (pid {}) still running after {}ms, killing it",
               it->second->name, pid, it->second->timeout.count());
  kill(-pid, SIGKILL);  // its whole process group
  kill(pid, SIGKILL);
}

void ProcessRunner::OnOutput(pid_t pid) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child& child = *it->second;
  char buf[4096];
  for (;;) {
    ssize_t n = read(child.output.get(), buf, sizeof buf);
    if (n > 0) {
      child.tail.append(buf, static_cast<size_t>(n));
      if (child.tail.size() > kKeptOutput) {
        child.tail.erase(0, child.tail.size() - kKeptOutput);
      }
      continue;
    }
    if (n == 0) {  // every writer closed: stop watching, the exit follows
      loop_.UnwatchFd(child.output.get());
      child.output.Reset();
    }
    return;
  }
}

void ProcessRunner::OnExit(pid_t pid) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) Reap(pid, status);
}

void ProcessRunner::PollExits() {
  poll_timer_ = 0;
  std::vector<pid_t> pids;
  for (const auto& [pid, child] : children_) {
    if (!child->pidfd) pids.push_back(pid);
  }
  for (pid_t pid : pids) OnExit(pid);
  for (const auto& [pid, child] : children_) {
    if (!child->pidfd) {
      poll_timer_ =
          loop_.AddTimerAfter(kExitPollInterval, [this] { PollExits(); });
      break;
    }
  }
}

void ProcessRunner::Reap(pid_t pid, int wait_status) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  std::unique_ptr<Child> child = std::move(it->second);
  children_.erase(it);
  if (child->output) {  // what the child wrote just before it exited
    char buf[4096];
    ssize_t n;
    while ((n = read(child->output.get(), buf, sizeof buf)) > 0) {
      child->tail.append(buf, static_cast<size_t>(n));
    }
    if (child->tail.size() > kKeptOutput) {
      child->tail.erase(0, child->tail.size() - kKeptOutput);
    }
    loop_.UnwatchFd(child->output.get());
  }
  if (child->pidfd) loop_.UnwatchFd(child->pidfd.get());
  if (child->timeout_timer) loop_.CancelTimer(child->timeout_timer);
  ProcessResult result;
  result.exited = WIFEXITED(wait_status);
  result.exit_code = result.exited ? WEXITSTATUS(wait_status) : -1;
  result.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  result.timed_out = child->timed_out;
  result.output = std::move(child->tail);
  result.runtime = std::chrono::duration_cast<std::chrono::milliseconds>(
      MonoClock::now() - child->started);
  if (child->done) child->done(result);
}

void ProcessRunner::TerminateAll(std::chrono::milliseconds grace) {
  for (const auto& [pid, child] : children_) {
    kill(-pid, SIGTERM);
    kill(pid, SIGTERM);
  }
  const MonoTime deadline = MonoClock::now() + grace;
  while (!children_.empty()) {
    bool reaped = false;
    for (const auto& [pid, child] : children_) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        Reap(pid, status);
        reaped = true;
        break;  // the map changed
      }
    }
    if (reaped) continue;
    if (MonoClock::now() >= deadline) {
      for (const auto& [pid, child] : children_) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
      }
      for (auto it = children_.begin(); it != children_.end();) {
        int status = 0;
        waitpid(it->first, &status, 0);
        pid_t pid = it->first;
        ++it;
        Reap(pid, status);
      }
      break;
    }
    // Shutdown only: wait for the children on their pidfds, with the deadline.
    std::vector<pollfd> fds;
    for (const auto& [pid, child] : children_) {
      if (child->pidfd) fds.push_back({child->pidfd.get(), POLLIN, 0});
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - MonoClock::now());
    poll(fds.data(), fds.size(),
         fds.empty() ? 10
                     : static_cast<int>(std::max<long long>(left.count(), 1)));
  }
}

}  // namespace watchdog
