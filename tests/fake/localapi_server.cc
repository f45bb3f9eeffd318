#include "tests/fake/localapi_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "tests/fake/event_log.h"
#include "tests/fake/health_tracker.h"
#include "tests/fake/net_util.h"

namespace fake {

using Json = nlohmann::ordered_json;
using netlink::UniqueFd;

bool ValidFault(const std::string& mode) {
  return mode == "off" || mode == "cut-chunk-data" ||
         mode == "cut-chunk-size" || mode == "endless" ||
         (mode.rfind("huge:", 0) == 0 && mode.size() > 5 &&
          mode.find_first_not_of("0123456789", 5) == std::string::npos);
}

LocalApiServer::LocalApiServer(ServerOptions options, BackendOptions backend)
    : opt_(std::move(options)),
      backend_(loop_, std::move(backend),
               [this](const std::string& line) { Broadcast(line); }) {
  if (opt_.write_uids) {
    write_uids_ = *opt_.write_uids;
  } else {
    // Like tailscaled: root, and tailscaled's own uid.
    write_uids_ = {0, ::geteuid()};
  }
  if (!opt_.bus_file.empty()) LoadBusFile(opt_.bus_file);
}

LocalApiServer::~LocalApiServer() {
  for (auto& c : conns_) {
    if (c->fd) loop_.UnwatchFd(c->fd.get());
  }
  if (log_) std::fclose(log_);
}

int LocalApiServer::Run() {
  if (!opt_.log_path.empty()) {
    log_ = std::fopen(opt_.log_path.c_str(), "a");
    if (!log_) {
      std::cerr << ErrnoText("fake_tailscaled: open " + opt_.log_path, errno)
                << "\n";
      return 1;
    }
  }
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = UniqueFd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  loop_.WatchFd(signal_fd_.get(), EPOLLIN, [this](uint32_t) {
    signalfd_siginfo info{};
    while (::read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGHUP) {
        Restart(opt_.restart_delay_ms);
      } else {
        loop_.Stop();
      }
    }
  });
  std::string error;
  if (!backend_.Init(&error)) {
    std::cerr << "fake_tailscaled: " << error << "\n";
    return 1;
  }
  if (!opt_.pid_file.empty()) {
    std::ofstream(opt_.pid_file) << ::getpid() << "\n";
  }
  if (opt_.socket_delay_ms > 0) {
    loop_.AddTimerAfter(std::chrono::milliseconds(opt_.socket_delay_ms),
                        [this] { ListenApi(); });
  } else if (!ListenApi()) {
    return 1;
  }
  // The control socket comes last: once it accepts, the fake is ready.
  control_listener_ = Listen(opt_.control_path, 0600);
  if (!control_listener_) return 1;
  loop_.WatchFd(control_listener_.get(), EPOLLIN,
                [this](uint32_t) { Accept(control_listener_.get(), true); });
  loop_.Run();
  StopListeningApi();
  loop_.UnwatchFd(control_listener_.get());
  ::unlink(opt_.control_path.c_str());
  if (!opt_.pid_file.empty()) ::unlink(opt_.pid_file.c_str());
  return 0;
}

// --- sockets -------------------------------------------------------------

UniqueFd LocalApiServer::Listen(const std::string& path, mode_t mode) {
  ::unlink(path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
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
    std::cerr << ErrnoText("fake_tailscaled: listen " + path, errno) << "\n";
    return {};
  }
  ::chmod(path.c_str(), mode);
  return fd;
}

bool LocalApiServer::ListenApi() {
  if (api_listener_) return true;
  // Like safesocket: 0666, peers are told apart by SO_PEERCRED.
  api_listener_ = Listen(opt_.socket_path, 0666);
  if (!api_listener_) return false;
  loop_.WatchFd(api_listener_.get(), EPOLLIN,
                [this](uint32_t) { Accept(api_listener_.get(), false); });
  return true;
}

void LocalApiServer::StopListeningApi() {
  if (api_listener_) {
    loop_.UnwatchFd(api_listener_.get());
    api_listener_.Reset();
    ::unlink(opt_.socket_path.c_str());
  }
  for (auto& c : conns_) {
    if (!c->control) Kill(c.get());  // abrupt close, like a dying process
  }
}

void LocalApiServer::Accept(int listener, bool control) {
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
    Conn* c = conn.get();
    conns_.push_back(std::move(conn));
    loop_.WatchFd(c->fd.get(), EPOLLIN,
                  [this, c](uint32_t events) { OnConnEvents(c, events); });
  }
}

void LocalApiServer::OnConnEvents(Conn* c, uint32_t events) {
  if (c->dead) return;
  if (events & EPOLLOUT) Flush(c);
  if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) Read(c);
  if (c->dead) Kill(c);
}

LocalApiServer::Conn* LocalApiServer::FindConn(uint64_t id) {
  for (auto& c : conns_) {
    if (c->id == id && !c->dead) return c.get();
  }
  return nullptr;
}

void LocalApiServer::Kill(Conn* c) {
  c->dead = true;
  if (c->fd) {
    loop_.UnwatchFd(c->fd.get());
    c->fd.Reset();
  }
  if (!sweep_pending_) {
    sweep_pending_ = true;
    loop_.AddTimerAfter(std::chrono::milliseconds(0), [this] { Sweep(); });
  }
}

void LocalApiServer::Sweep() {
  sweep_pending_ = false;
  conns_.remove_if([](const auto& c) { return c->dead; });
}

void LocalApiServer::Read(Conn* c) {
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

void LocalApiServer::Send(Conn* c, const std::string& data) {
  c->out += data;
  Flush(c);
  if (c->dead) Kill(c);
}

void LocalApiServer::Flush(Conn* c) {
  if (!c->fd) return;
  for (;;) {
    if (c->out.empty() && c->more && !c->more(&c->out)) c->more = nullptr;
    if (c->out.empty()) break;
    const ssize_t n = ::write(c->fd.get(), c->out.data(), c->out.size());
    if (n > 0) {
      c->out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      loop_.ModifyFd(c->fd.get(), EPOLLIN | EPOLLOUT);
      return;
    }
    c->dead = true;
    return;
  }
  loop_.ModifyFd(c->fd.get(), EPOLLIN);
  if (c->close_after_write) c->dead = true;
}

void LocalApiServer::Restart(int delay_ms) {
  StopListeningApi();
  backend_.RestartBegin();
  loop_.AddTimerAfter(std::chrono::milliseconds(delay_ms), [this] {
    ListenApi();
    backend_.RestartEnd();
  });
}

// --- HTTP ------------------------------------------------------------------

void LocalApiServer::HandleApiInput(Conn* c) {
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

void LocalApiServer::LogRequest(const HttpRequest& req, const Conn& conn,
                                int status) {
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

std::string LocalApiServer::ResponseHead(const Response& resp,
                                         bool tailscale_headers) {
  std::string bytes = "HTTP/1.1 " + std::to_string(resp.status) + " " +
                      ReasonPhrase(resp.status) + "\r\n";
  // ServeHTTP sets these after the host and CSRF checks only.
  if (tailscale_headers) {
    bytes +=
        "Content-Security-Policy: default-src 'none'; frame-ancestors "
        "'none'; script-src 'none'; script-src-elem 'none'; "
        "script-src-attr 'none'\r\n";
    bytes += "Tailscale-Cap: " +
             std::to_string(CapabilityVersion(backend_.version())) +
             "\r\nTailscale-Version: " + backend_.version() + "\r\n";
    bytes += "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n";
  }
  if (resp.status != 204) {
    bytes += "Content-Type: " + resp.content_type + "\r\n";
  }
  return bytes;
}

std::string LocalApiServer::ResponseBytes(const Response& resp, bool close,
                                          bool tailscale_headers) {
  std::string bytes = ResponseHead(resp, tailscale_headers);
  if (resp.stream) return bytes + "Transfer-Encoding: chunked\r\n\r\n";
  if (resp.status == 204)
    return bytes + (close ? "Connection: close\r\n\r\n" : "\r\n");
  bytes += close ? "Connection: close\r\n" : "";
  if (resp.body.size() > 2048) {
    // Go's net/http switches to chunked once its 2 KiB buffer overflows.
    bytes += "Transfer-Encoding: chunked\r\n\r\n";
    for (size_t i = 0; i < resp.body.size(); i += 4096) {
      bytes += Chunk(resp.body.substr(i, 4096));
    }
    return bytes + "0\r\n\r\n";
  }
  return bytes + "Content-Length: " + std::to_string(resp.body.size()) +
         "\r\n\r\n" + resp.body;
}

void LocalApiServer::HandleRequest(Conn* c, const HttpRequest& req) {
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
             backend_.version() +
             "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (!c->dead) {
      SendFault(c, "{\"BackendState\":\"Running\",\"Pad\":\"",
                "\"}" + Chunk("\n") + "0\r\n\r\n");
    }
    return;
  }
  const Response resp = Route(req, c->uid);
  LogRequest(req, *c, resp.status);
  const bool invalid =
      resp.status == 403 && resp.body == "invalid localapi request\n";
  std::string bytes = ResponseBytes(resp, close, !invalid);
  std::vector<std::string> lines;
  if (resp.stream) {
    lines = InitialBusLines(
        std::strtoull(req.QueryParam("mask").c_str(), nullptr, 10));
  }
  const bool delayed = opt_.slow_ms > 0;
  auto deliver = [this, id = c->id, bytes = std::move(bytes),
                  stream = resp.stream, close, delayed,
                  lines = std::move(lines)] {
    Conn* conn = FindConn(id);
    if (!conn) return;
    conn->busy = false;
    if (stream) conn->stream = true;
    Send(conn, bytes);
    if (conn->dead) return;
    if (stream) {
      StartStream(conn, lines);
      return;
    }
    if (close) {
      conn->close_after_write = true;
      Flush(conn);
      if (conn->dead) Kill(conn);
    }
    // Requests that queued up behind a delayed answer.
    if (delayed && !conn->dead) HandleApiInput(conn);
  };
  if (delayed) {
    c->busy = true;
    loop_.AddTimerAfter(std::chrono::milliseconds(opt_.slow_ms),
                        std::move(deliver));
  } else {
    deliver();
  }
}

LocalApiServer::Response LocalApiServer::Error(int status,
                                               const std::string& text) {
  return {status, "text/plain; charset=utf-8", text + "\n", false};
}

LocalApiServer::Response LocalApiServer::Route(const HttpRequest& req,
                                               uid_t uid) {
  // Handler.ServeHTTP: validHost + CSRF checks (ipn/localapi/localapi.go).
  const auto host = req.Header("host");
  const bool host_ok = host ? *host == "local-tailscaled.sock" || host->empty()
                            : req.version == "HTTP/1.0";
  if (!host_ok || req.Header("origin") || req.Header("referer")) {
    return Error(403, "invalid localapi request");
  }
  // serveLocalAPIRoot; Go sniffs the type of its body.
  if (req.path == "/") {
    return {200, "text/plain; charset=utf-8", "tailscaled\n", false};
  }
  const std::string prefix = "/localapi/v0/";
  if (req.path.rfind(prefix, 0) != 0) return Error(404, "404 page not found");
  const std::string name = req.path.substr(prefix.size());
  if (name == "status") return StatusEndpoint();
  if (name == "watch-ipn-bus") return WatchBus(req, uid);
  if (name == "prefs") return PrefsEndpoint(req, uid);
  if (name == "start") return StartEndpoint(req, uid);
  if (name == "debug" && !opt_.omit_debug) return DebugEndpoint(req, uid);
  if (name == "derpmap") return DerpMapEndpoint(req);
  if (name == "bugreport") return BugReportEndpoint(req);
  return Error(404, "404 page not found");
}

}  // namespace fake
