// fake_tailscaled: a test stand-in for tailscaled's LocalAPI on a real Unix
// socket, with byte-level control over the wire for failure injection.
// Behaviour follows /work/shared/localapi.md. Single-threaded poll() loop.
//
//   fake_tailscaled serve --socket S --control C [--log L] [options]
//   fake_tailscaled ctl --control C <command> [args...]
//
// The control channel (a second Unix socket, never the LocalAPI one) takes one
// command per line and answers one line: "ok" or "ok <json>", or
// "error <text>". Commands are listed in kControlHelp below. SIGHUP restarts
// the fake tailscaled (socket replaced); SIGTERM/SIGINT stop it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <cxxopts.hpp>
#include <fstream>
#include <functional>
#include <iostream>
#include <list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"

namespace fake {
namespace {

using netlink::UniqueFd;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kControlHelp = R"(control commands:
  ping                          answers ok
  get                           ok {"backend_state":..,"online":..,"stuck_until":..,"watchers":N,...}
  stuck <rebind|start|reup|restart>  WAN-failover stuck: Running, Self.Online false,
                                derp-timed-out + not-in-map-poll, until that step is called
  heal                          back to healthy Running, pushes the bus lines
  state <BackendStateName>      sets BackendState and pushes {"State":N}
  online <true|false>           sets Self.Online
  relay <code|->                sets Self.Relay ("-" = empty)
  warn <code>                   adds a structured warning (canned text), pushes Health
  unwarn <code> | clear-warnings
  down | up                     like `tailscale down` / `tailscale up`
  hang <on|off>                 accept and read requests, never answer
  slow <ms>                     delay every answer by ms
  start-delay <ms>              start/reup stay in Starting this long (0: instant)
  garbage <on|off>              status/prefs bodies and bus lines are broken JSON
  oversized <bytes>             each new bus stream sends one line of this size (0 = off)
  cut-stream <on|off>           new bus streams are closed mid-line after the first line
  cut-now                       close every bus stream now, mid-line
  fault <mode|off>              byte-level faults of status bodies and new bus streams
                                (after their first line): cut-chunk-data (connection
                                dropped inside a chunk's data), cut-chunk-size (inside
                                a chunk-size line), endless (a body/line that never
                                ends: one byte every 50 ms), huge:<bytes> (a body/line
                                of that size, generated as it is sent)
  fell-behind                   send "IPN bus consumer fell behind" and end every stream
  eof                           end every bus stream cleanly (final chunk)
  push <json>                   send one raw line to every bus stream
  restart [delay_ms]            like a tailscaled restart: socket removed, recreated later
  socket-down | socket-up       remove / recreate the LocalAPI socket
  write-uids <uid,uid,...|->    who may call write endpoints ("-" = nobody)
  status-file <path|->          serve this file verbatim as status ("-" = generated)
  bus-file <path|->             send these lines after each stream's first line
  omit-debug <on|off>           debug endpoint absent (404), like ts_omit_debug
  require-npk <on|off>          1.54-1.91: 403 for non-writers without mask bit 16
  always-on <on|off>            policy forbids WantRunning=false (400 {"Error":..})
)";

std::string ErrnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

std::string RandomHex(size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[rng() % 16];
  return out;
}

std::string NowRfc3339() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%09ldZ", buf, ts.tv_nsec);
  return out;
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::vector<std::string>& StateNames() {
  static const std::vector<std::string> names = {
      "NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
      "Stopped", "Starting",       "Running"};
  return names;
}

int StateInt(const std::string& name) {
  const auto& names = StateNames();
  auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? 0 : static_cast<int>(it - names.begin());
}

// Canned warnings with tailscaled's texts (health/warnings.go via localapi.md).
Json CannedWarning(const std::string& code) {
  struct Canned {
    const char* title;
    const char* text;
    std::vector<std::string> depends_on;
    bool impacts;
  };
  static const std::map<std::string, Canned> canned = {
      {"network-status",
       {"Network down",
        "Tailscale cannot connect because the network is down. Check your "
        "Internet connection.",
        {"warming-up"},
        true}},
      {"no-derp-home",
       {"No home relay server",
        "Tailscale could not connect to any relay server. Check your Internet "
        "connection.",
        {"network-status", "warming-up"},
        true}},
      {"no-derp-connection",
       {"Relay server unavailable",
        "Tailscale could not connect to the 'Frankfurt' relay server. Your "
        "Internet connection might be down, or the server might be "
        "temporarily unavailable.",
        {"network-status", "no-derp-home", "warming-up"},
        true}},
      {"derp-timed-out",
       {"Relay server timed out",
        "Tailscale hasn't heard from the 'Frankfurt' relay server in 9m12s. "
        "The server might be temporarily unavailable, or your Internet "
        "connection might be down.",
        {"network-status", "no-derp-connection", "no-derp-home", "warming-up"},
        false}},
      {"not-in-map-poll",
       {"Out of sync",
        "Unable to connect to the Tailscale coordination server to "
        "synchronize the state of your tailnet. Peer reachability might "
        "degrade over time.",
        {"network-status", "wantrunning-false", "warming-up"},
        false}},
      {"mapresponse-timeout",
       {"Network map response timeout",
        "Tailscale hasn't received a network map from the coordination "
        "server in 2m30s.",
        {"network-status", "wantrunning-false", "warming-up"},
        false}},
      {"wantrunning-false",
       {"Tailscale off", "Tailscale is stopped.", {}, false}},
      {"warming-up",
       {"Tailscale is starting",
        "Tailscale is starting. Please wait.",
        {},
        false}},
      {"update-available",
       {"Update available",
        "An update from version 1.102.3 to 1.104.0 is available.",
        {"warming-up"},
        false}},
  };
  Json w;
  w["WarnableCode"] = code;
  w["Severity"] = "medium";
  auto it = canned.find(code);
  if (it != canned.end()) {
    w["Title"] = it->second.title;
    w["Text"] = it->second.text;
    w["BrokenSince"] = NowRfc3339();
    if (code.rfind("derp-", 0) == 0 || code == "no-derp-connection") {
      w["Args"] = {{"derp-region-id", "4"}, {"derp-region-name", "Frankfurt"}};
    }
    if (!it->second.depends_on.empty()) w["DependsOn"] = it->second.depends_on;
    if (it->second.impacts) w["ImpactsConnectivity"] = true;
  } else {
    w["Title"] = code;
    w["Text"] = "fake warning " + code;
    w["BrokenSince"] = NowRfc3339();
  }
  w["ETag"] = RandomHex(64);
  return w;
}

struct Options {
  std::string socket_path;
  std::string control_path;
  std::string log_path;
  std::string pid_file;
  std::string version = "1.102.3-t53a0d659a";
  std::string state = "Running";
  bool online = true;
  std::string relay = "fra";
  bool want_running = true;
  std::string stuck_until;
  std::optional<std::set<uid_t>> write_uids;
  std::string status_file;
  std::string health_file;
  std::string bus_file;
  bool hang = false;
  int slow_ms = 0;
  bool garbage = false;
  size_t oversized = 0;
  bool cut_stream = false;
  std::string fault;  // see `fault` in kControlHelp; empty: none
  int socket_delay_ms = 0;
  int restart_delay_ms = 100;
  int start_delay_ms = 0;
  bool omit_debug = false;
  bool require_npk = false;
  bool always_on = false;
  std::vector<std::string> warnings;
};

// The modes of `fault` (kControlHelp); "off" clears it.
bool ValidFault(const std::string& mode) {
  return mode == "off" || mode == "cut-chunk-data" ||
         mode == "cut-chunk-size" || mode == "endless" ||
         (mode.rfind("huge:", 0) == 0 && mode.size() > 5 &&
          mode.find_first_not_of("0123456789", 5) == std::string::npos);
}

struct HttpRequest {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  std::string version;
  std::multimap<std::string, std::string> headers;  // lowercase names
  std::string body;

  std::optional<std::string> Header(const std::string& name) const {
    auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
  std::string QueryParam(const std::string& name) const {
    std::stringstream ss(query);
    std::string part;
    while (std::getline(ss, part, '&')) {
      auto eq = part.find('=');
      if (part.substr(0, eq) == name) {
        return eq == std::string::npos ? "" : part.substr(eq + 1);
      }
    }
    return "";
  }
  bool HasQueryParam(const std::string& name) const {
    return ("&" + query + "&").find("&" + name + "=") != std::string::npos;
  }
};

// Parses one request from the front of `in`. Returns false if incomplete;
// sets `error` on a malformed request.
bool ParseRequest(std::string& in, HttpRequest* req, std::string* error) {
  const size_t header_end = in.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    if (in.size() > 1 << 20) *error = "request header too large";
    return false;
  }
  std::istringstream head(in.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::istringstream request_line(line);
  if (!(request_line >> req->method >> req->target >> req->version)) {
    *error = "malformed request line";
    return false;
  }
  const size_t q = req->target.find('?');
  req->path = req->target.substr(0, q);
  req->query = q == std::string::npos ? "" : req->target.substr(q + 1);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    req->headers.emplace(name, value);
  }
  size_t pos = header_end + 4;
  if (auto te = req->Header("transfer-encoding"); te && *te == "chunked") {
    std::string body;
    while (true) {
      const size_t eol = in.find("\r\n", pos);
      if (eol == std::string::npos) return false;
      const size_t size = std::strtoul(in.c_str() + pos, nullptr, 16);
      if (size == 0) {
        if (in.find("\r\n", eol + 2) == std::string::npos) return false;
        pos = in.find("\r\n", eol + 2) + 2;
        break;
      }
      if (in.size() < eol + 2 + size + 2) return false;
      body.append(in, eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    req->body = std::move(body);
  } else if (auto cl = req->Header("content-length")) {
    const size_t length = std::strtoul(cl->c_str(), nullptr, 10);
    if (in.size() < pos + length) return false;
    req->body = in.substr(pos, length);
    pos += length;
  }
  in.erase(0, pos);
  return true;
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

struct Conn {
  uint64_t id = 0;
  UniqueFd fd;
  std::string in;
  std::string out;
  uid_t uid = 0;
  bool control = false;
  bool stream = false;  // a watch-ipn-bus response in progress
  bool close_after_write = false;
  bool busy = false;  // waiting for a delayed (slow) answer
  bool dead = false;
  // Refills `out` once it is sent (huge bodies are generated as they go, so
  // the fake never holds them); returns false once nothing is left.
  std::function<bool(std::string*)> more;
};

struct Timer {
  Clock::time_point deadline;
  std::function<void()> fire;
};

class FakeTailscaled {
 public:
  explicit FakeTailscaled(Options options) : opt_(std::move(options)) {
    state_ = opt_.state;
    online_ = opt_.online;
    relay_ = opt_.relay;
    want_running_ = opt_.want_running;
    session_id_ = RandomHex(16);
    if (opt_.write_uids) {
      write_uids_ = *opt_.write_uids;
    } else {
      // Like tailscaled: root, and tailscaled's own uid.
      write_uids_ = {0, ::geteuid()};
    }
    for (const auto& code : opt_.warnings)
      warnings_[code] = CannedWarning(code);
    if (!opt_.health_file.empty()) LoadHealthFile(opt_.health_file);
    if (!opt_.stuck_until.empty()) EnterStuck(opt_.stuck_until, false);
    if (!opt_.bus_file.empty()) LoadBusFile(opt_.bus_file);
  }

  int Run() {
    if (!opt_.log_path.empty()) {
      log_ = std::fopen(opt_.log_path.c_str(), "a");
      if (!log_) {
        std::cerr << ErrnoText("fake_tailscaled: open " + opt_.log_path)
                  << "\n";
        return 1;
      }
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signal_fd_ = UniqueFd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!opt_.pid_file.empty()) {
      std::ofstream(opt_.pid_file) << ::getpid() << "\n";
    }
    if (opt_.socket_delay_ms > 0) {
      AddTimer(opt_.socket_delay_ms, [this] { ListenApi(); });
    } else if (!ListenApi()) {
      return 1;
    }
    // The control socket comes last: once it accepts, the fake is ready.
    control_listener_ = Listen(opt_.control_path, 0600);
    if (!control_listener_) return 1;
    while (!stopping_) Poll();
    StopListeningApi();
    ::unlink(opt_.control_path.c_str());
    if (!opt_.pid_file.empty()) ::unlink(opt_.pid_file.c_str());
    return 0;
  }

 private:
  // --- sockets -------------------------------------------------------------
  UniqueFd Listen(const std::string& path, mode_t mode) {
    ::unlink(path.c_str());
    UniqueFd fd(
        ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      std::cerr << "fake_tailscaled: socket path too long: " << path << "\n";
      return {};
    }
    std::strcpy(addr.sun_path, path.c_str());
    if (!fd ||
        ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::listen(fd.get(), 64) < 0) {
      std::cerr << ErrnoText("fake_tailscaled: listen " + path) << "\n";
      return {};
    }
    ::chmod(path.c_str(), mode);
    return fd;
  }

  bool ListenApi() {
    if (api_listener_) return true;
    // Like safesocket: 0666, peers are told apart by SO_PEERCRED.
    api_listener_ = Listen(opt_.socket_path, 0666);
    return api_listener_.valid();
  }

  void StopListeningApi() {
    if (api_listener_) {
      api_listener_.Reset();
      ::unlink(opt_.socket_path.c_str());
    }
    for (auto& c : conns_) {
      if (!c->control) c->dead = true;  // abrupt close, like a dying process
    }
  }

  void Accept(int listener, bool control) {
    while (true) {
      UniqueFd fd(
          ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd) return;
      auto conn = std::make_unique<Conn>();
      conn->id = next_conn_id_++;
      conn->control = control;
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        conn->uid = cred.uid;
      }
      conn->fd = std::move(fd);
      conns_.push_back(std::move(conn));
    }
  }

  void AddTimer(int delay_ms, std::function<void()> fire) {
    timers_.push_back(
        {Clock::now() + std::chrono::milliseconds(delay_ms), std::move(fire)});
  }

  Conn* FindConn(uint64_t id) {
    for (auto& c : conns_) {
      if (c->id == id && !c->dead) return c.get();
    }
    return nullptr;
  }

  void Poll() {
    std::vector<pollfd> fds;
    std::vector<Conn*> polled;
    fds.push_back({signal_fd_.get(), POLLIN, 0});
    fds.push_back({control_listener_.get(), POLLIN, 0});
    fds.push_back(
        {api_listener_.valid() ? api_listener_.get() : -1, POLLIN, 0});
    for (auto& c : conns_) {
      short events = POLLIN;
      if (!c->out.empty()) events |= POLLOUT;
      fds.push_back({c->fd.get(), events, 0});
      polled.push_back(c.get());
    }
    int timeout = -1;
    const auto now = Clock::now();
    for (const auto& t : timers_) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          t.deadline - now)
                          .count();
      const int clamped = static_cast<int>(std::max<int64_t>(0, ms + 1));
      timeout = timeout < 0 ? clamped : std::min(timeout, clamped);
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      std::cerr << ErrnoText("fake_tailscaled: poll") << "\n";
      stopping_ = true;
      return;
    }
    if (fds[0].revents & POLLIN) HandleSignal();
    if (fds[1].revents & POLLIN) Accept(control_listener_.get(), true);
    if (fds[2].fd >= 0 && (fds[2].revents & POLLIN)) {
      Accept(api_listener_.get(), false);
    }
    for (size_t i = 0; i < polled.size(); ++i) {
      Conn* c = polled[i];
      const short revents = fds[i + 3].revents;
      if (c->dead) continue;
      if (revents & POLLOUT) Flush(c);
      if (revents & (POLLIN | POLLHUP | POLLERR)) Read(c);
    }
    RunTimers();
    conns_.remove_if([](const auto& c) { return c->dead; });
  }

  void RunTimers() {
    const auto now = Clock::now();
    std::vector<Timer> due;
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->deadline <= now) {
        due.push_back(std::move(*it));
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& t : due) t.fire();
  }

  void HandleSignal() {
    signalfd_siginfo info{};
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGHUP) {
        Restart(opt_.restart_delay_ms);
      } else {
        stopping_ = true;
      }
    }
  }

  void Read(Conn* c) {
    char buf[65536];
    while (true) {
      const ssize_t n = ::read(c->fd.get(), buf, sizeof buf);
      if (n > 0) {
        c->in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->dead = true;
        return;
      }
      break;
    }
    if (c->control) {
      HandleControlInput(c);
    } else {
      HandleApiInput(c);
    }
  }

  void Send(Conn* c, const std::string& data) {
    c->out += data;
    Flush(c);
  }

  void Flush(Conn* c) {
    for (;;) {
      if (c->out.empty() && c->more && !c->more(&c->out)) c->more = nullptr;
      if (c->out.empty()) break;
      const ssize_t n = ::write(c->fd.get(), c->out.data(), c->out.size());
      if (n > 0) {
        c->out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      c->dead = true;
      return;
    }
    if (c->close_after_write) c->dead = true;
  }

  // --- LocalAPI ------------------------------------------------------------
  void HandleApiInput(Conn* c) {
    while (!c->dead && !c->busy && !c->stream) {
      HttpRequest req;
      std::string error;
      if (!ParseRequest(c->in, &req, &error)) {
        if (!error.empty()) {
          Send(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
          c->close_after_write = true;
        }
        return;
      }
      HandleRequest(c, req);
    }
  }

  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    bool stream = false;
  };

  void LogRequest(const HttpRequest& req, const Conn& conn, int status) {
    if (!log_) return;
    Json entry;
    entry["time"] = NowRfc3339();
    entry["unix_ms"] = UnixMillis();
    entry["method"] = req.method;
    entry["path"] = req.path;
    entry["query"] = req.query;
    entry["target"] = req.target;
    entry["body"] = req.body;
    entry["uid"] = conn.uid;
    entry["conn"] = conn.id;  // same id: the same (kept-alive) connection
    entry["host"] = req.Header("host").value_or("");
    Json headers = Json::object();
    for (const auto& [name, value] : req.headers) headers[name] = value;
    entry["headers"] = headers;
    entry["status"] = status;  // 0: never answered (hang)
    std::fprintf(
        log_, "%s\n",
        entry.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
    std::fflush(log_);
  }

  void HandleRequest(Conn* c, const HttpRequest& req) {
    const bool close = req.version == "HTTP/1.0" ||
                       req.Header("connection").value_or("") == "close";
    if (opt_.hang) {
      LogRequest(req, *c, 0);
      c->busy = true;  // never answered; the connection stays open
      return;
    }
    if (!opt_.fault.empty() && req.path == "/localapi/v0/status") {
      LogRequest(req, *c, 200);
      c->busy = true;  // nothing else is read from this connection
      Send(c,
           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           "Tailscale-Version: " +
               opt_.version +
               "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
      SendFault(c, "{\"BackendState\":\"Running\",\"Pad\":\"",
                "\"}" + Chunk("\n") + "0\r\n\r\n");
      return;
    }
    Response resp = Route(req, c->uid);
    LogRequest(req, *c, resp.status);
    std::string bytes = "HTTP/1.1 " + std::to_string(resp.status) + " " +
                        ReasonPhrase(resp.status) + "\r\n";
    bytes +=
        "Content-Security-Policy: default-src 'none'; frame-ancestors "
        "'none'; script-src 'none'; script-src-elem 'none'; "
        "script-src-attr 'none'\r\n";
    bytes +=
        "Tailscale-Cap: 130\r\nTailscale-Version: " + opt_.version + "\r\n";
    bytes += "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n";
    if (resp.status != 204) {
      bytes += "Content-Type: " + resp.content_type + "\r\n";
    }
    std::vector<std::string> stream_lines;
    if (resp.stream) {
      bytes += "Transfer-Encoding: chunked\r\n\r\n";
      stream_lines = InitialBusLines(req);
    } else if (resp.status == 204) {
      bytes += close ? "Connection: close\r\n\r\n" : "\r\n";
    } else if (resp.body.size() > 2048) {
      // Go's net/http switches to chunked once its 2 KiB buffer overflows.
      bytes += close ? "Connection: close\r\n" : "";
      bytes += "Transfer-Encoding: chunked\r\n\r\n";
      for (size_t i = 0; i < resp.body.size(); i += 4096) {
        bytes += Chunk(resp.body.substr(i, 4096));
      }
      bytes += "0\r\n\r\n";
    } else {
      bytes += close ? "Connection: close\r\n" : "";
      bytes += "Content-Length: " + std::to_string(resp.body.size()) +
               "\r\n\r\n" + resp.body;
    }
    const bool delayed = opt_.slow_ms > 0;
    auto deliver = [this, id = c->id, bytes = std::move(bytes),
                    stream = resp.stream, close, delayed,
                    lines = std::move(stream_lines)] {
      Conn* conn = FindConn(id);
      if (!conn) return;
      conn->busy = false;
      if (stream) {
        conn->stream = true;
        Send(conn, bytes);
        StartStream(conn, lines);
        return;
      }
      Send(conn, bytes);
      if (close) {
        conn->close_after_write = true;
        Flush(conn);
      }
      // Requests that queued up behind a delayed answer.
      if (delayed && !conn->dead) HandleApiInput(conn);
    };
    if (delayed) {
      c->busy = true;
      AddTimer(opt_.slow_ms, std::move(deliver));
    } else {
      deliver();
    }
  }

  static Response Error(int status, const std::string& text) {
    return {status, "text/plain; charset=utf-8", text + "\n", false};
  }

  bool CanWrite(uid_t uid) const { return write_uids_.count(uid) != 0; }

  Response Route(const HttpRequest& req, uid_t uid) {
    // Handler.validHost + CSRF checks (ipn/localapi/localapi.go).
    const auto host = req.Header("host");
    const bool host_ok =
        host ? *host == "local-tailscaled.sock" : req.version == "HTTP/1.0";
    if (!host_ok || req.Header("origin") || req.Header("referer")) {
      return Error(403, "invalid localapi request");
    }
    const std::string prefix = "/localapi/v0/";
    if (req.path.rfind(prefix, 0) != 0) {
      if (req.path == "/")
        return {200, "text/html; charset=utf-8",
                "<html><body><h1>tailscaled</h1></body></html>\n", false};
      return Error(404, "404 page not found");
    }
    const std::string name = req.path.substr(prefix.size());
    if (name == "status") return Status();
    if (name == "watch-ipn-bus") return WatchBus(req, uid);
    if (name == "prefs") return PrefsEndpoint(req, uid);
    if (name == "start") return StartEndpoint(req, uid);
    if (name == "debug" && !opt_.omit_debug) return Debug(req, uid);
    return Error(404, "404 page not found");
  }

  Json PrefsJson() const {
    Json prefs;
    prefs["ControlURL"] = "https://controlplane.tailscale.com";
    prefs["RouteAll"] = false;
    prefs["ExitNodeID"] = "";
    prefs["ExitNodeIP"] = "";
    prefs["CorpDNS"] = true;
    prefs["RunSSH"] = false;
    prefs["WantRunning"] = want_running_;
    prefs["LoggedOut"] = false;
    prefs["ShieldsUp"] = false;
    prefs["AdvertiseTags"] = nullptr;
    prefs["Hostname"] = "";
    prefs["NotepadURLs"] = false;
    prefs["AdvertiseRoutes"] = nullptr;
    prefs["NoSNAT"] = false;
    prefs["NetfilterMode"] = 2;
    prefs["OperatorUser"] = "";
    prefs["Config"] = {
        {"PrivateNodeKey",
         "privkey:"
         "0000000000000000000000000000000000000000000000000000000000000000"},
        {"NodeID", "nRtr8a2Kp11CNTRL"}};
    return prefs;
  }

  std::string Garbage() const {
    return "{\"BackendState\": \"Runn\x01ing\",, \n";
  }

  Response Status() {
    if (opt_.garbage) return {200, "application/json", Garbage(), false};
    if (!opt_.status_file.empty()) {
      std::ifstream in(opt_.status_file);
      std::stringstream ss;
      ss << in.rdbuf();
      return {200, "application/json", ss.str(), false};
    }
    Json self;
    self["ID"] = "nRtr8a2Kp11CNTRL";
    self["NodeID"] = 4981177045226314LL;
    self["PublicKey"] =
        "nodekey:"
        "5b6f0e2d9a4c7b18e3f2a1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e";
    self["HostName"] = "fake";
    self["DNSName"] = "fake.tail4a5b6c.ts.net.";
    self["OS"] = "linux";
    self["UserID"] = 3158410902316752LL;
    self["TailscaleIPs"] = {"100.101.12.34", "fd7a:115c:a1e0::b901:c22"};
    self["Addrs"] = {"198.51.100.23:41641"};
    self["CurAddr"] = "";
    self["Relay"] = relay_;
    self["PeerRelay"] = "";
    self["RxBytes"] = 0;
    self["TxBytes"] = 0;
    self["Created"] = "2025-11-03T09:12:44.118302461Z";
    self["LastWrite"] = "0001-01-01T00:00:00Z";
    self["LastSeen"] = "0001-01-01T00:00:00Z";
    self["LastHandshake"] = "0001-01-01T00:00:00Z";
    self["Online"] = online_;
    self["ExitNode"] = false;
    self["ExitNodeOption"] = false;
    self["Active"] = false;
    self["PeerAPIURL"] = {"http://100.101.12.34:49582"};
    self["TaildropTarget"] = 0;
    self["NoFileSharingReason"] = "";
    self["InNetworkMap"] = true;
    self["InMagicSock"] = false;
    self["InEngine"] = false;
    Json status;
    status["Version"] = opt_.version;
    status["TUN"] = true;
    status["BackendState"] = state_;
    status["HaveNodeKey"] = true;
    status["AuthURL"] = "";
    status["TailscaleIPs"] = self["TailscaleIPs"];
    status["Self"] = self;
    Json health = Json::array();
    for (const auto& [code, w] : warnings_) health.push_back(w["Text"]);
    status["Health"] = health;
    status["MagicDNSSuffix"] = "tail4a5b6c.ts.net";
    status["CurrentTailnet"] = {{"Name", "alice@example.com"},
                                {"MagicDNSSuffix", "tail4a5b6c.ts.net"},
                                {"MagicDNSEnabled", true}};
    status["CertDomains"] = nullptr;
    status["ExtraRecords"] = nullptr;
    status["Peer"] = nullptr;
    status["User"] = nullptr;
    status["ClientVersion"] = nullptr;
    return {200, "application/json", status.dump(1, '\t') + "\n", false};
  }

  Response PrefsEndpoint(const HttpRequest& req, uid_t uid) {
    if (req.method == "GET") {
      if (opt_.garbage) return {200, "application/json", Garbage(), false};
      return {200, "application/json", PrefsJson().dump(1, '\t') + "\n", false};
    }
    if (req.method != "PATCH") return Error(405, "unsupported method");
    if (!CanWrite(uid)) return Error(403, "prefs write access denied");
    Json masked = Json::parse(req.body, nullptr, false);
    if (masked.is_discarded() || !masked.is_object()) {
      return {400, "application/json", "{\"Error\":\"invalid JSON body\"}\n",
              false};
    }
    if (masked.value("WantRunningSet", false)) {
      const bool want = masked.value("WantRunning", want_running_);
      if (!want && opt_.always_on) {
        return {400, "application/json",
                "{\"Error\":\"changing WantRunning is not allowed by system "
                "policy (AlwaysOn)\"}\n",
                false};
      }
      SetWantRunning(want);
    }
    return {200, "application/json", PrefsJson().dump(1, '\t') + "\n", false};
  }

  Response StartEndpoint(const HttpRequest& req, uid_t uid) {
    if (!CanWrite(uid)) return Error(403, "access denied");
    if (req.method != "POST") return Error(405, "want POST");
    Json options = Json::parse(req.body, nullptr, false);
    if (req.body.empty()) return Error(400, "EOF");
    if (options.is_discarded()) return Error(400, "invalid JSON");
    // Start: new control client; NoState -> Starting -> Running.
    Broadcast(NotifyLine({{"Prefs", PrefsJson()}}));
    if (!want_running_) return {204, "", "", false};
    // The new control client has no map poll until it has logged in.
    if (opt_.start_delay_ms > 0) online_ = false;
    RunStartSequence([this] {
      if (stuck_until_ == "start") Heal();
      if (stuck_until_.empty()) online_ = true;
    });
    return {204, "", "", false};
  }

  Response Debug(const HttpRequest& req, uid_t uid) {
    if (!CanWrite(uid)) return Error(403, "debug access denied");
    if (req.method != "POST") return Error(405, "POST required");
    if (!req.HasQueryParam("action")) {
      return Error(400, "missing parameter 'action'");
    }
    const std::string action = req.QueryParam("action");
    static const std::set<std::string> known = {
        "rebind",          "restun",           "notify",
        "break-tcp-conns", "break-derp-conns", "force-netmap-update",
        "control-knobs",   "pick-new-derp"};
    if (!known.count(action)) {
      return Error(400, "unknown action \"" + action + "\"");
    }
    if (action == "rebind" && stuck_until_ == "rebind") Heal();
    return {200, "text/plain; charset=utf-8", "done\n", false};
  }

  Response WatchBus(const HttpRequest& req, uid_t uid) {
    const std::string mask_text = req.QueryParam("mask");
    char* end = nullptr;
    errno = 0;
    const uint64_t mask = std::strtoull(mask_text.c_str(), &end, 10);
    if (mask_text.empty() || *end != '\0' || errno != 0) {
      return Error(400, "bad mask");
    }
    if (mask & 65536) {
      return Error(400, "NotifyInProcessNoDisconnect is not allowed");
    }
    if (opt_.require_npk && !CanWrite(uid) && !(mask & 16)) {
      return Error(403,
                   "watch IPN bus access denied, must set "
                   "ipn.NotifyNoPrivateKeys when not running as admin/root or "
                   "operator");
    }
    return {200, "application/json", "", true};
  }

  // --- the bus ---------------------------------------------------------------
  Json HealthJson() const {
    Json warnings = nullptr;
    for (const auto& [code, w] : warnings_) warnings[code] = w;
    return {{"Warnings", warnings}};
  }

  // A compact Notify line with Go's field order and nulls.
  std::string NotifyLine(const Json& fields, bool with_session = false) const {
    Json n;
    n["Version"] = opt_.version;
    if (with_session) n["SessionID"] = session_id_;
    for (const char* key : {"ErrMessage", "LoginFinished", "State", "Prefs",
                            "NetMap", "Engine", "BrowseToURL", "DriveShares"}) {
      n[key] = fields.contains(key) ? fields[key] : Json(nullptr);
    }
    if (fields.contains("Health")) n["Health"] = fields["Health"];
    return n.dump() + "\n";
  }

  std::vector<std::string> InitialBusLines(const HttpRequest& req) const {
    const uint64_t mask =
        std::strtoull(req.QueryParam("mask").c_str(), nullptr, 10);
    std::vector<std::string> lines;
    if (opt_.garbage)
      lines.push_back("{\"Version\":\"1.102.3\",\"State\":\x01garbage\n");
    Json fields = Json::object();
    if (mask & 2) fields["State"] = StateInt(CurrentStateName());
    if (mask & 4) fields["Prefs"] = PrefsJson();
    if (mask & 128) fields["Health"] = HealthJson();
    // Without an initial bit nothing is sent until the first event.
    if (mask & (2 | 4 | 128))
      lines.push_back(NotifyLine(fields, (mask & 2) != 0));
    for (const auto& line : bus_file_lines_) lines.push_back(line + "\n");
    return lines;
  }

  std::string CurrentStateName() const {
    if (opt_.status_file.empty()) return state_;
    std::ifstream in(opt_.status_file);
    Json status = Json::parse(in, nullptr, false);
    if (status.is_object() && status.contains("BackendState") &&
        status["BackendState"].is_string()) {
      return status["BackendState"].get<std::string>();
    }
    return state_;
  }

  void StartStream(Conn* c, const std::vector<std::string>& lines) {
    for (const auto& line : lines) Send(c, Chunk(line));
    if (opt_.oversized > 0) {
      std::string pad(opt_.oversized, 'x');
      Json big = {{"Version", opt_.version}, {"NetMap", {{"Padding", pad}}}};
      Send(c, Chunk(big.dump() + "\n"));
    }
    if (opt_.cut_stream) CutMidLine(c);
    if (!opt_.fault.empty()) {
      SendFault(c, "{\"Version\":\"" + opt_.version + "\",\"Pad\":\"",
                Chunk("\"}\n"));
    }
  }

  // opt_.fault after the response head: `opening` starts the body or line,
  // `closing` (raw bytes) ends it where the fault lets it end.
  void SendFault(Conn* c, const std::string& opening,
                 const std::string& closing) {
    const std::string& fault = opt_.fault;
    if (fault == "cut-chunk-data") {
      // A chunk announced with 4096 bytes; the connection drops after 64.
      char size[16];
      std::snprintf(size, sizeof size, "%x\r\n", 4096);
      Send(c, size + opening + std::string(64, 'x'));
      c->close_after_write = true;
    } else if (fault == "cut-chunk-size") {
      // Half of a chunk-size line ("1" of "1000\r\n"), then the drop.
      Send(c, Chunk(opening) + "1");
      c->close_after_write = true;
    } else if (fault == "endless") {
      Send(c, Chunk(opening));
      Trickle(c->id);
    } else if (fault.rfind("huge:", 0) == 0) {
      size_t left = std::strtoull(fault.c_str() + 5, nullptr, 10);
      bool closed = false;
      c->more = [left, closed, closing](std::string* out) mutable {
        if (left > 0) {
          const size_t n = std::min<size_t>(left, 64 << 10);
          left -= n;
          *out = Chunk(std::string(n, 'x'));
        } else if (!closed) {
          closed = true;
          *out = closing;
        }
        return !out->empty();
      };
      Send(c, Chunk(opening));
    }
    Flush(c);
  }

  // One more byte every 50 ms, for as long as the connection lives.
  void Trickle(uint64_t id) {
    AddTimer(50, [this, id] {
      if (Conn* c = FindConn(id)) {
        Send(c, Chunk("x"));
        Trickle(id);
      }
    });
  }

  void CutMidLine(Conn* c) {
    // Half a Notify line, then the connection drops: no final chunk.
    const std::string half = "{\"Version\":\"" + opt_.version + "\",\"Err";
    Send(c, Chunk(half));
    c->close_after_write = true;
    Flush(c);
  }

  void Broadcast(const std::string& line) {
    for (auto& c : conns_) {
      if (c->stream && !c->dead) Send(c.get(), Chunk(line));
    }
  }

  // Ends every bus stream cleanly (final chunk), after `last_line` if any.
  void EndStreams(const std::string& last_line) {
    for (auto& c : conns_) {
      if (!c->stream || c->dead) continue;
      Send(c.get(), (last_line.empty() ? "" : Chunk(last_line)) + "0\r\n\r\n");
      c->close_after_write = true;
      Flush(c.get());
    }
  }

  // --- the model -------------------------------------------------------------
  void SetState(const std::string& name) {
    state_ = name;
    Broadcast(NotifyLine({{"State", StateInt(name)}}));
  }

  void PushHealth() { Broadcast(NotifyLine({{"Health", HealthJson()}})); }

  void EnterStuck(const std::string& step, bool push) {
    stuck_until_ = step;
    state_ = "Running";
    online_ = false;
    warnings_["derp-timed-out"] = CannedWarning("derp-timed-out");
    warnings_["not-in-map-poll"] = CannedWarning("not-in-map-poll");
    if (push) PushHealth();
  }

  void Heal() {
    stuck_until_.clear();
    online_ = true;
    if (relay_.empty()) relay_ = "fra";
    warnings_.clear();
    PushHealth();
  }

  void SetWantRunning(bool want) {
    if (want == want_running_) return;
    want_running_ = want;
    Broadcast(NotifyLine({{"Prefs", PrefsJson()}}));
    if (!want) {
      // tailscale down: Stopped, the wantrunning-false warnable.
      saw_down_while_stuck_ = stuck_until_ == "reup";
      warnings_.erase("derp-timed-out");
      warnings_.erase("not-in-map-poll");
      warnings_["wantrunning-false"] = CannedWarning("wantrunning-false");
      online_ = false;
      SetState("Stopped");
      PushHealth();
      return;
    }
    warnings_.erase("wantrunning-false");
    RunStartSequence([this] {
      if (stuck_until_ == "reup" && saw_down_while_stuck_) {
        Heal();
      } else if (!stuck_until_.empty()) {
        EnterStuck(stuck_until_, true);
      } else {
        online_ = true;
        PushHealth();
      }
    });
  }

  // Starting, then after --start-delay-ms `settle` and Running. A later
  // transition (down, restart) cancels the rest.
  void RunStartSequence(std::function<void()> settle) {
    SetState("Starting");
    auto finish = [this, settle = std::move(settle)] {
      if (state_ != "Starting") return;
      settle();
      SetState("Running");
    };
    if (opt_.start_delay_ms > 0) {
      AddTimer(opt_.start_delay_ms, std::move(finish));
    } else {
      finish();
    }
  }

  void Restart(int delay_ms) {
    ++restarts_;
    StopListeningApi();
    // A fresh process: whatever was stuck is gone.
    stuck_until_.clear();
    warnings_.clear();
    online_ = want_running_;
    if (relay_.empty()) relay_ = "fra";
    state_ = want_running_ ? "Running" : "Stopped";
    session_id_ = RandomHex(16);
    AddTimer(delay_ms, [this] { ListenApi(); });
  }

  // Takes the warnings of a health.State, or of a Notify's Health, verbatim.
  void LoadHealthFile(const std::string& path) {
    std::ifstream in(path);
    Json doc = Json::parse(in, nullptr, false);
    if (doc.is_object() && doc.contains("Health")) doc = doc["Health"];
    if (!doc.is_object() || !doc.contains("Warnings")) {
      std::cerr << "fake_tailscaled: no health.State in " << path << "\n";
      return;
    }
    if (!doc["Warnings"].is_object()) return;
    for (const auto& [code, warning] : doc["Warnings"].items()) {
      warnings_[code] = warning;
    }
  }

  void LoadBusFile(const std::string& path) {
    bus_file_lines_.clear();
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) bus_file_lines_.push_back(line);
    }
  }

  // --- control channel
  // ---------------------------------------------------------
  void HandleControlInput(Conn* c) {
    size_t nl;
    while ((nl = c->in.find('\n')) != std::string::npos) {
      std::string line = c->in.substr(0, nl);
      c->in.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string reply = Control(line);
      Send(c, reply + "\n");
    }
  }

  static bool OnOff(const std::string& arg, bool* out) {
    if (arg == "on" || arg == "true" || arg == "1") {
      *out = true;
    } else if (arg == "off" || arg == "false" || arg == "0") {
      *out = false;
    } else {
      return false;
    }
    return true;
  }

  std::string Control(const std::string& line) {
    std::istringstream words(line);
    std::string cmd, arg;
    words >> cmd;
    std::getline(words, arg);
    arg.erase(0, arg.find_first_not_of(' '));
    static const std::set<std::string> steps = {"rebind", "start", "reup",
                                                "restart"};
    bool flag = false;
    if (cmd == "ping") return "ok";
    if (cmd == "help") return "ok " + Json(kControlHelp).dump();
    if (cmd == "get") {
      int watchers = 0, api_conns = 0;
      for (const auto& c : conns_) {
        if (c->dead || c->control) continue;
        ++api_conns;
        if (c->stream) ++watchers;
      }
      Json out = {{"backend_state", CurrentStateName()},
                  {"online", online_},
                  {"relay", relay_},
                  {"want_running", want_running_},
                  {"stuck_until", stuck_until_},
                  {"watchers", watchers},
                  {"connections", api_conns},
                  {"restarts", restarts_},
                  {"listening", api_listener_.valid()},
                  {"session_id", session_id_}};
      Json codes = Json::array();
      for (const auto& [code, w] : warnings_) codes.push_back(code);
      out["warnings"] = codes;
      return "ok " + out.dump();
    }
    if (cmd == "stuck" && steps.count(arg)) {
      EnterStuck(arg, true);
      return "ok";
    }
    if (cmd == "heal") {
      Heal();
      return "ok";
    }
    if (cmd == "state") {
      const auto& names = StateNames();
      if (std::find(names.begin(), names.end(), arg) == names.end()) {
        return "error unknown state '" + arg + "'";
      }
      SetState(arg);
      return "ok";
    }
    if (cmd == "online" && OnOff(arg, &flag)) {
      online_ = flag;
      return "ok";
    }
    if (cmd == "relay") {
      relay_ = arg == "-" ? "" : arg;
      return "ok";
    }
    if (cmd == "warn" && !arg.empty()) {
      warnings_[arg] = CannedWarning(arg);
      PushHealth();
      return "ok";
    }
    if (cmd == "unwarn" && !arg.empty()) {
      warnings_.erase(arg);
      PushHealth();
      return "ok";
    }
    if (cmd == "clear-warnings") {
      warnings_.clear();
      PushHealth();
      return "ok";
    }
    if (cmd == "down" || cmd == "up") {
      SetWantRunning(cmd == "up");
      return "ok";
    }
    if (cmd == "hang" && OnOff(arg, &opt_.hang)) return "ok";
    if (cmd == "garbage" && OnOff(arg, &opt_.garbage)) return "ok";
    if (cmd == "cut-stream" && OnOff(arg, &opt_.cut_stream)) return "ok";
    if (cmd == "fault" && ValidFault(arg)) {
      opt_.fault = arg == "off" ? "" : arg;
      return "ok";
    }
    if (cmd == "omit-debug" && OnOff(arg, &opt_.omit_debug)) return "ok";
    if (cmd == "require-npk" && OnOff(arg, &opt_.require_npk)) return "ok";
    if (cmd == "always-on" && OnOff(arg, &opt_.always_on)) return "ok";
    if (cmd == "start-delay") {
      opt_.start_delay_ms = std::atoi(arg.c_str());
      return "ok";
    }
    if (cmd == "slow") {
      opt_.slow_ms = std::atoi(arg.c_str());
      return "ok";
    }
    if (cmd == "oversized") {
      opt_.oversized = std::strtoull(arg.c_str(), nullptr, 10);
      return "ok";
    }
    if (cmd == "cut-now") {
      for (auto& c : conns_) {
        if (c->stream && !c->dead) CutMidLine(c.get());
      }
      return "ok";
    }
    if (cmd == "fell-behind") {
      Json err = {
          {"ErrMessage", "IPN bus consumer fell behind; closing watch"}};
      EndStreams(NotifyLine(err));
      return "ok";
    }
    if (cmd == "eof") {
      EndStreams("");
      return "ok";
    }
    if (cmd == "push" && !arg.empty()) {
      Broadcast(arg + "\n");
      return "ok";
    }
    if (cmd == "restart") {
      Restart(arg.empty() ? opt_.restart_delay_ms : std::atoi(arg.c_str()));
      return "ok";
    }
    if (cmd == "socket-down") {
      StopListeningApi();
      return "ok";
    }
    if (cmd == "socket-up") {
      return ListenApi() ? "ok" : "error cannot listen on " + opt_.socket_path;
    }
    if (cmd == "write-uids") {
      write_uids_.clear();
      std::stringstream ss(arg == "-" ? "" : arg);
      std::string uid;
      while (std::getline(ss, uid, ',')) {
        if (!uid.empty()) write_uids_.insert(std::stoul(uid));
      }
      return "ok";
    }
    if (cmd == "status-file") {
      opt_.status_file = arg == "-" ? "" : arg;
      return "ok";
    }
    if (cmd == "bus-file") {
      if (arg == "-") {
        bus_file_lines_.clear();
      } else {
        LoadBusFile(arg);
      }
      return "ok";
    }
    return "error unknown or malformed command '" + line + "' (try help)";
  }

  Options opt_;
  std::FILE* log_ = nullptr;
  UniqueFd signal_fd_;
  UniqueFd api_listener_;
  UniqueFd control_listener_;
  std::list<std::unique_ptr<Conn>> conns_;
  std::vector<Timer> timers_;
  uint64_t next_conn_id_ = 1;
  bool stopping_ = false;

  std::string state_;
  bool online_ = true;
  std::string relay_;
  bool want_running_ = true;
  std::string stuck_until_;
  bool saw_down_while_stuck_ = false;
  std::string session_id_;
  std::set<uid_t> write_uids_;
  std::map<std::string, Json> warnings_;
  std::vector<std::string> bus_file_lines_;
  int restarts_ = 0;
};

int RunCtl(int argc, char** argv) {
  std::string control;
  std::string command;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--control" && i + 1 < argc) {
      control = argv[++i];
    } else if (arg.rfind("--control=", 0) == 0) {
      control = arg.substr(10);
    } else {
      command += (command.empty() ? "" : " ") + arg;
    }
  }
  if (control.empty() || command.empty()) {
    std::cerr << "usage: fake_tailscaled ctl --control PATH <command>\n"
              << kControlHelp;
    return 2;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, control.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) <
      0) {
    std::cerr << ErrnoText("fake_tailscaled ctl: connect " + control) << "\n";
    return 2;
  }
  command += "\n";
  if (::write(fd.get(), command.data(), command.size()) < 0) return 2;
  std::string reply;
  char c;
  while (::read(fd.get(), &c, 1) == 1 && c != '\n') reply += c;
  std::cout << reply << "\n";
  return reply.rfind("ok", 0) == 0 ? 0 : 1;
}

int RunServe(int argc, char** argv) {
  cxxopts::Options parser(
      "fake_tailscaled serve",
      "A fake tailscaled LocalAPI for tests.\n" + std::string(kControlHelp));
  Options o;
  std::string write_uids = "default";
  std::string warnings;
  // clang-format off
  parser.add_options()
      ("socket", "LocalAPI socket path", cxxopts::value(o.socket_path))
      ("control", "control socket path", cxxopts::value(o.control_path))
      ("log", "request log (JSON lines)", cxxopts::value(o.log_path))
      ("pid-file", "write our pid here", cxxopts::value(o.pid_file))
      ("version", "Tailscale version string", cxxopts::value(o.version))
      ("state", "initial BackendState", cxxopts::value(o.state))
      ("offline", "Self.Online false", cxxopts::value<bool>())
      ("relay", "Self.Relay", cxxopts::value(o.relay))
      ("down", "WantRunning false (Stopped)", cxxopts::value<bool>())
      ("stuck-until", "stuck until rebind|start|reup|restart",
       cxxopts::value(o.stuck_until))
      ("warn", "initial warning codes, comma-separated",
       cxxopts::value(warnings))
      ("health-file", "initial warnings from a health.State or Notify JSON "
                      "file (e.g. a shared fixture)",
       cxxopts::value(o.health_file))
      ("write-uids", "uids with write access, comma-separated ('-': none)",
       cxxopts::value(write_uids))
      ("status-file", "serve this file as status",
       cxxopts::value(o.status_file))
      ("bus-file", "bus lines sent after the first", cxxopts::value(o.bus_file))
      ("hang", "never answer", cxxopts::value(o.hang))
      ("slow-ms", "delay every answer", cxxopts::value(o.slow_ms))
      ("garbage", "broken JSON", cxxopts::value(o.garbage))
      ("oversized-line", "one bus line of this many bytes",
       cxxopts::value(o.oversized))
      ("cut-stream", "close bus streams mid-line",
       cxxopts::value(o.cut_stream))
      ("fault", "status/bus fault: cut-chunk-data, cut-chunk-size, endless, "
                "huge:<bytes> (see `ctl help`)", cxxopts::value(o.fault))
      ("socket-delay-ms", "create the LocalAPI socket only after this delay",
       cxxopts::value(o.socket_delay_ms))
      ("restart-delay-ms", "socket absence during a restart",
       cxxopts::value(o.restart_delay_ms))
      ("start-delay-ms", "how long start/reup stay in Starting",
       cxxopts::value(o.start_delay_ms))
      ("omit-debug", "no debug endpoint (404)", cxxopts::value(o.omit_debug))
      ("require-npk", "1.54-1.91 mask bit 16 rule",
       cxxopts::value(o.require_npk))
      ("always-on", "policy forbids WantRunning=false",
       cxxopts::value(o.always_on))
      ("h,help", "help");
  // clang-format on
  try {
    auto args = parser.parse(argc, argv);
    if (args.count("help")) {
      std::cout << parser.help() << "\n";
      return 0;
    }
    if (o.socket_path.empty() || o.control_path.empty()) {
      std::cerr << "fake_tailscaled: --socket and --control are required\n";
      return 2;
    }
    if (!o.fault.empty() && !ValidFault(o.fault)) {
      std::cerr << "fake_tailscaled: unknown --fault " << o.fault << "\n";
      return 2;
    }
    if (o.fault == "off") o.fault.clear();
    if (args.count("offline")) o.online = false;
    if (args.count("down")) {
      o.want_running = false;
      o.state = "Stopped";
      o.online = false;
    }
    if (write_uids != "default") {
      std::set<uid_t> uids;
      std::stringstream ss(write_uids == "-" ? "" : write_uids);
      std::string uid;
      while (std::getline(ss, uid, ',')) {
        if (!uid.empty()) uids.insert(std::stoul(uid));
      }
      o.write_uids = uids;
    }
    std::stringstream ws(warnings);
    std::string code;
    while (std::getline(ws, code, ',')) {
      if (!code.empty()) o.warnings.push_back(code);
    }
  } catch (const std::exception& e) {
    std::cerr << "fake_tailscaled: " << e.what() << "\n";
    return 2;
  }
  return FakeTailscaled(std::move(o)).Run();
}

}  // namespace
}  // namespace fake

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "ctl") {
    return fake::RunCtl(argc - 1, argv + 1);
  }
  if (argc >= 2 && std::string(argv[1]) == "serve") {
    return fake::RunServe(argc - 1, argv + 1);
  }
  return fake::RunServe(argc, argv);
}
