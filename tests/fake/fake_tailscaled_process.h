// Test harness for fake_tailscaled: starts it as a real process on a real Unix
// socket in a private temp directory, talks to its control channel and reads
// its request log and its event log. Used by tests/localapi, the lab tests
// and the benchmarks. FakeInternetProcess runs the control and DERP servers
// (`fake_tailscaled internet`), optionally inside another network namespace.
#ifndef TSWATCHDOG_TESTS_FAKE_FAKE_TAILSCALED_PROCESS_H_
#define TSWATCHDOG_TESTS_FAKE_FAKE_TAILSCALED_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"

namespace fake {

// A connected stream socket to the Unix socket at `path`; invalid on error
// (errno set).
netlink::UniqueFd ConnectUnixSocket(const std::string& path);

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The lines of a JSON-lines file (`--events`, `--log`), parsed; unparsable
// lines are skipped.
std::vector<nlohmann::json> ReadJsonLines(const std::string& path);

// Waits until an event of the JSON-lines file at `path` satisfies `match`;
// returns it (null on timeout). Only events at or after line `from` count.
nlohmann::json WaitForEventIn(
    const std::string& path,
    const std::function<bool(const nlohmann::json&)>& match,
    std::chrono::milliseconds timeout, size_t from = 0);

class FakeTailscaledProcess {
 public:
  // Runs `fake_tailscaled serve --socket <dir>/tailscaled.sock --control
  // <dir>/control.sock --log <dir>/requests.jsonl --events
  // <dir>/events.jsonl --pid-file <dir>/pid <extra_args...>` (an --events
  // in `extra_args` replaces the default one) and waits (5 s)
  // until the control channel answers. Throws std::runtime_error if it does
  // not come up.
  explicit FakeTailscaledProcess(std::vector<std::string> extra_args = {});
  FakeTailscaledProcess(const FakeTailscaledProcess&) = delete;
  FakeTailscaledProcess& operator=(const FakeTailscaledProcess&) = delete;
  // SIGTERM, reap, remove the temp directory.
  ~FakeTailscaledProcess();

  static std::string BinaryPath();

  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& control_path() const { return control_path_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& events_path() const { return events_path_; }
  pid_t pid() const { return pid_; }

  // Sends one control command; returns the reply line ("ok ...", "error ...").
  std::string Control(const std::string& command) const;
  // Control() that must answer "ok"; throws otherwise.
  void MustControl(const std::string& command) const;
  // The `get` snapshot: backend_state, online, stuck_until, watchers, ...
  nlohmann::json Get() const;

  // Every request logged so far, one JSON object per line of the log:
  // {time (RFC 3339 UTC), unix_ms, method, path, query, target, body, uid
  // (SO_PEERCRED), conn (connection id), host, headers {lowercase name:
  // value}, status (0 = never answered)}.
  std::vector<nlohmann::json> Requests() const;
  // Requests whose method and target ("/localapi/v0/debug?action=rebind")
  // match.
  size_t CountRequests(const std::string& method,
                       const std::string& target) const;
  bool WaitForRequest(
      const std::string& method, const std::string& target, size_t count = 1,
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  // The event log (`--events`): {"unix_ms", "event", ...} per line.
  std::vector<nlohmann::json> Events() const;
  // Waits for an event named `name` whose fields include every field of
  // `fields` (e.g. {{"value", true}}); only events after the first `from`
  // count. Returns the event, or null after `timeout`.
  nlohmann::json WaitForEvent(
      const std::string& name, const nlohmann::json& fields = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10),
      size_t from = 0) const;
  size_t EventCount() const { return Events().size(); }

  void Signal(int signo) const;
  // SIGKILL and reap, like a crash: the socket file stays behind (stale) and
  // every connection drops mid-whatever-it-was-sending.
  void Kill();
  // Kill() if still running, then a new process on the same paths (and the
  // same request log) with `extra_args`.
  void Respawn(std::vector<std::string> extra_args = {});

 private:
  void Spawn();

  std::vector<std::string> extra_args_;
  std::string dir_;
  std::string socket_path_;
  std::string control_path_;
  std::string log_path_;
  std::string events_path_;
  pid_t pid_ = -1;
};

// `fake_tailscaled internet --control <control> --derp <derp> --events
// <dir>/internet.jsonl <extra_args...>`, run in the network namespace of
// `netns_pid` (nsenter) or in ours (0). Waits until it logs "ready".
class FakeInternetProcess {
 public:
  FakeInternetProcess(const std::string& control, const std::string& derp,
                      std::vector<std::string> extra_args = {},
                      pid_t netns_pid = 0);
  FakeInternetProcess(const FakeInternetProcess&) = delete;
  FakeInternetProcess& operator=(const FakeInternetProcess&) = delete;
  // SIGTERM, reap, remove the temp directory.
  ~FakeInternetProcess();

  const std::string& events_path() const { return events_path_; }
  pid_t pid() const { return pid_; }
  std::vector<nlohmann::json> Events() const;
  nlohmann::json WaitForEvent(
      const std::string& name, const nlohmann::json& fields = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10),
      size_t from = 0) const;

 private:
  std::string dir_;
  std::string events_path_;
  pid_t pid_ = -1;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_FAKE_TAILSCALED_PROCESS_H_
