#include "tests/lab/lab.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lab {

std::string EnterFreshNetns() {
  if (unshare(CLONE_NEWNET) != 0) {
    return std::string(
               "lab tests need CAP_NET_ADMIN to create a network "
               "namespace (run as root): unshare: ") +
           std::strerror(errno);
  }
  if (Sh("ip link set lo up") != 0) return "lab tests need iproute2 (`ip`)";
  return "";
}

int Sh(const std::string& command) {
  int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::string ShellWaitUntil(const std::string& condition) {
  return "tries=0\nuntil " + condition +
         "; do\n"
         "  tries=$((tries + 1))\n"
         "  if [ $tries -gt 500 ]; then echo 'not after 10 s: " +
         condition +
         "' >&2; exit 1; fi\n"
         "  sleep 0.02\n"
         "done\n";
}

void CreateDualWan() {
  const std::string script = R"sh(set -e
ip link add wan0 type veth peer name isp0
ip link add wan1 type veth peer name isp1
for d in wan0 wan1 isp0 isp1; do
  sysctl -qw net.ipv6.conf.$d.accept_ra=0
  sysctl -qw net.ipv6.conf.$d.accept_dad=0
done
ip addr add 198.51.100.2/24 dev wan0
ip addr add 203.0.113.2/24 dev wan1
ip link set isp0 up
ip link set isp1 up
ip link set wan0 up
ip link set wan1 up
ip -6 addr add 2001:db8:a::2/64 dev wan0 nodad
ip -6 addr add 2001:db8:b::2/64 dev wan1 nodad
# Wait until the kernel is done with the links: their carrier comes through
# linkwatch, a deferred work item, and IPv6 only then adds the link-local
# addresses and runs DAD. On a loaded machine that can come after the test's
# watcher is open and show up as an event of the test's own (a hint, a
# carrier change, a datagram a kernel filter should have dropped).
settled() {
  for d in wan0 wan1 isp0 isp1; do
    ip link show dev $d | grep -q LOWER_UP || return 1
    ip -6 addr show dev $d scope link | grep -q inet6 || return 1
  done
  [ -z "$(ip -6 addr show tentative)" ]
}
)sh";
  if (Sh(script + ShellWaitUntil("settled")) != 0) {
    throw std::runtime_error("CreateDualWan failed");
  }
}

Netns::Netns() {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char ok = unshare(CLONE_NEWNET) == 0 ? '1' : '0';
    if (ok == '1') ok = std::system("ip link set lo up") == 0 ? '1' : '0';
    if (write(ready[1], &ok, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(ready[1]);
  char ok = '0';
  ssize_t n = read(ready[0], &ok, 1);
  close(ready[0]);
  if (n != 1 || ok != '1') throw std::runtime_error("could not create a netns");
}

Netns::~Netns() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

int Netns::Sh(const std::string& script) const {
  std::string quoted;
  for (char c : script) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return lab::Sh("nsenter -t " + std::to_string(pid_) + " -n sh -ec '" +
                 quoted + "'");
}

DualWanRouter CreateDualWanRouter() {
  DualWanRouter lab{std::make_unique<Netns>(), std::make_unique<Netns>(),
                    std::make_unique<Netns>()};
  const std::string a = std::to_string(lab.isp_a->pid());
  const std::string b = std::to_string(lab.isp_b->pid());
  const std::string c = std::to_string(lab.internet->pid());
  std::string script =
      "set -e\n"
      "ip link add wan0 type veth peer name isp0 netns " +
      a +
      "\n"
      "ip link add wan1 type veth peer name isp1 netns " +
      b +
      "\n"
      "ip addr add 198.51.100.2/24 dev wan0\n"
      "ip addr add 203.0.113.2/24 dev wan1\n"
      "ip link set wan0 up\nip link set wan1 up\n";
  if (Sh(script) != 0) throw std::runtime_error("router links failed");
  if (lab.isp_a->Sh("ip addr add 198.51.100.1/24 dev isp0; ip link set isp0 up;"
                    "ip link add up0 type veth peer name isp-a netns " +
                    c +
                    ";"
                    "ip addr add 192.0.2.9/30 dev up0; ip link set up0 up") !=
          0 ||
      lab.isp_b->Sh("ip addr add 203.0.113.1/24 dev isp1; ip link set isp1 up;"
                    "ip link add up0 type veth peer name isp-b netns " +
                    c +
                    ";"
                    "ip addr add 192.0.2.13/30 dev up0; ip link set up0 up") !=
          0 ||
      lab.internet->Sh(
          "ip addr add 192.0.2.10/30 dev isp-a; ip link set isp-a up;"
          "ip addr add 192.0.2.14/30 dev isp-b; ip link set isp-b up") != 0) {
    throw std::runtime_error("ISP/internet links failed");
  }
  return lab;
}

void AddMasquerade() {
  if (Sh("nft 'table inet tswatchdog_lab { chain post { type nat hook "
         "postrouting priority srcnat; oifname { \"wan0\", \"wan1\" } "
         "masquerade; }; }'") != 0) {
    throw std::runtime_error("nft masquerade failed");
  }
}

std::string ShOutput(const std::string& command) {
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return "";
  std::string text;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
  pclose(out);
  return text;
}

int ConntrackCount(const std::string& filter) {
  const std::string command = "conntrack -L " + filter + " 2>/dev/null";
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return -1;
  int lines = 0;
  for (int c; (c = fgetc(out)) != EOF;) lines += c == '\n';
  return pclose(out) == 0 ? lines : -1;
}

Child::Child(const std::vector<std::string>& argv, bool merge_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    // Dies with the test process, even when the test crashes: a child left
    // running would keep the test's network namespace alive.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], STDOUT_FILENO);
    if (merge_stderr) dup2(fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  stdout_fd_ = fds[0];
}

RenameCounter::RenameCounter(const std::string& dir, std::string name)
    : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), name_(std::move(name)) {
  if (fd_ >= 0 &&
      inotify_add_watch(fd_, dir.c_str(), IN_MOVED_TO | IN_CREATE) < 0) {
    close(fd_);
    fd_ = -1;
  }
}

RenameCounter::~RenameCounter() {
  if (fd_ >= 0) close(fd_);
}

long long RenameCounter::Count() {
  if (fd_ < 0) return -1;
  alignas(inotify_event) char buf[4096];
  for (ssize_t n; (n = read(fd_, buf, sizeof buf)) > 0;) {
    for (ssize_t i = 0; i < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buf + i);
      if ((event->mask & IN_MOVED_TO) != 0 && event->len > 0 &&
          name_ == event->name) {
        ++count_;
      }
      i += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  return count_;
}

Child::~Child() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool Child::ReadLine(std::string* line, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      *line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

bool Child::WaitForLine(const std::string& text,
                        std::chrono::milliseconds timeout, std::string* found) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !ReadLine(&line, left)) return false;
    if (line.find(text) != std::string::npos) {
      if (found) *found = line;
      return true;
    }
  }
}

void Child::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

namespace {

std::string FileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// What a child that did not exit in time is doing, thread by thread: its
// state (R running, S sleeping, t traced...), the kernel function it waits
// in and its kernel stack. Said on stderr, so a failure explains itself.
void DescribeStuck(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::fprintf(stderr, "child %d did not exit in time; its threads:\n", pid);
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(proc + "/task", ec)) {
    const std::string dir = task.path().string();
    std::fprintf(
        stderr, "  %s\n    wchan %s\n    %s", FileText(dir + "/stat").c_str(),
        FileText(dir + "/wchan").c_str(), FileText(dir + "/stack").c_str());
  }
  std::fprintf(
      stderr, "  children: %s\n",
      FileText(proc + "/task/" + std::to_string(pid) + "/children").c_str());
}

}  // namespace

int Child::Stop(std::chrono::milliseconds timeout) {
  if (!exited_) {
    // SIGCONT first, in case a test left it stopped. Never after SIGTERM:
    // a SIGCONT discards a pending SIGSTOP, and the child may already be
    // exiting, with LeakSanitizer's tracer attaching to it (PTRACE_ATTACH
    // stops it with a SIGSTOP); the tracer then waits for ever for a stop
    // that never comes, and the child spins until it is killed.
    Signal(SIGCONT);
    Signal(SIGTERM);
  }
  const int status = Wait(timeout);
  if (status == -1) DescribeStuck(pid_);
  return status;
}

int Child::Wait(std::chrono::milliseconds timeout) {
  if (exited_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    // Wait a short slice for output, which is kept for ReadLine: a child
    // blocked on a full pipe could not exit. We wait for a condition (exit),
    // with a deadline, not for a fixed time.
    pollfd pfd{stdout_eof_ ? -1 : stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 5) > 0) {
      char buf[4096];
      ssize_t n = read(stdout_fd_, buf, sizeof buf);
      if (n > 0) {
        buffer_.append(buf, static_cast<size_t>(n));
      } else {
        stdout_eof_ = true;
      }
    }
  } while (std::chrono::steady_clock::now() < deadline);
  return -1;
}

}  // namespace lab
