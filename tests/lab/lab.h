// Lab helpers for tests on the real kernel.
//
// Every lab test runs in a network namespace of its own: EnterFreshNetns()
// unshares the test process's network namespace, so the namespace (and every
// veth, route and rule in it) disappears with the process, even when a test
// crashes. ctest runs each test in its own process; nothing is named, so
// parallel runs cannot collide and nothing can be left behind.
#ifndef TSWATCHDOG_TESTS_LAB_LAB_H_
#define TSWATCHDOG_TESTS_LAB_LAB_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace lab {

// Unshares into a new network namespace with lo up. Returns an empty string
// on success, or why the lab cannot run (no CAP_NET_ADMIN, no `ip`).
std::string EnterFreshNetns();

// Runs `command` with /bin/sh; returns its exit status. Output goes to stderr.
int Sh(const std::string& command);

// Runs `command` with /bin/sh; returns what it wrote to stdout, whatever its
// exit status ("" when it cannot run).
std::string ShOutput(const std::string& command);

// Shell lines that wait until `condition` (a shell command) succeeds, and
// fail the script after 10 s. For kernel work done after the command that
// caused it has returned (linkwatch's carrier, netfilter's cleanup worker).
std::string ShellWaitUntil(const std::string& condition);

// Two uplinks, each a veth pair whose far end plays the ISP side:
//   wan0 198.51.100.2/24 (gw .1), 2001:db8:a::2/64 (gw 2001:db8:a::1)
//   wan1 203.0.113.2/24  (gw .1), 2001:db8:b::2/64 (gw 2001:db8:b::1)
// Links are created and up with carrier; no routes are added.
void CreateDualWan();

// A network namespace held by a child process of the test (it dies with the
// test process: PR_SET_PDEATHSIG), for the far ends of the lab's links.
class Netns {
 public:
  Netns();
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  pid_t pid() const { return pid_; }
  // Runs a shell script inside the namespace (nsenter); returns its status.
  int Sh(const std::string& script) const;

 private:
  pid_t pid_ = -1;
};

// A dual-WAN router: this process's namespace is the router, with wan0 and
// wan1 whose peers isp0/isp1 live in two ISP namespaces (198.51.100.1 and
// 203.0.113.1), each linked on to an "internet" namespace. Routes are left to
// the test. Returns the three namespaces (isp_a, isp_b, internet).
struct DualWanRouter {
  std::unique_ptr<Netns> isp_a, isp_b, internet;
};
DualWanRouter CreateDualWanRouter();

// The router NATs like OpenWrt's firewall: nftables masquerade (inet, so v4
// and v6) out of wan0 and wan1. It also makes the kernel track connections
// in this namespace.
void AddMasquerade();

// How many entries `conntrack -L <filter>` lists (conntrack-tools); -1 when
// it cannot run.
int ConntrackCount(const std::string& filter);

// Renames onto `name` in `dir` (each atomic write of a file is one), counted
// with inotify from the moment of construction. Also watches IN_CREATE:
// inotify(7) coalesces identical successive events while the older one is
// unread, and two renames onto the same name are (seen on 6.18: three writes
// between two reads counted one); the temporary file's creation in between
// keeps them apart.
class RenameCounter {
 public:
  RenameCounter(const std::string& dir, std::string name);
  ~RenameCounter();
  RenameCounter(const RenameCounter&) = delete;
  RenameCounter& operator=(const RenameCounter&) = delete;
  // The renames so far; -1 when inotify could not watch `dir`.
  long long Count();

 private:
  int fd_ = -1;
  std::string name_;
  long long count_ = 0;
};

// A child process with its stdout on a pipe (used for `tswatchdog monitor`).
class Child {
 public:
  // With `merge_stderr`, the child's stderr (its log) goes to the same pipe.
  explicit Child(const std::vector<std::string>& argv,
                 bool merge_stderr = false);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads the next line; false on timeout or EOF.
  bool ReadLine(std::string* line, std::chrono::milliseconds timeout);
  // Reads lines until one contains `text`; false on timeout or EOF.
  bool WaitForLine(const std::string& text, std::chrono::milliseconds timeout,
                   std::string* line = nullptr);
  void Signal(int sig);
  // Waits for exit; returns the exit status (128 + signal when killed) or -1
  // on timeout. Once it has exited, returns that status again.
  int Wait(std::chrono::milliseconds timeout);
  // SIGCONT (if it was stopped) and SIGTERM, then Wait(timeout). A sanitizer
  // build reports leaks at exit (LeakSanitizer: status 1 under ASan, 23 alone),
  // so check this for 0.
  int Stop(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool exited_ = false;
  bool stdout_eof_ = false;
  int status_ = -1;
};

}  // namespace lab

// Skips the calling test (with the reason) when the lab cannot run here.
#define LAB_ENTER_NETNS_OR_SKIP()                          \
  do {                                                     \
    std::string lab_problem = ::lab::EnterFreshNetns();    \
    if (!lab_problem.empty()) GTEST_SKIP() << lab_problem; \
  } while (0)

// Runs a shell script with `set -e` and fails the test if any command fails.
#define LAB_RUN(script) \
  ASSERT_EQ(::lab::Sh(std::string("set -e\n") + (script)), 0) << (script)

#endif  // TSWATCHDOG_TESTS_LAB_LAB_H_
