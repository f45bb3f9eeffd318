#include "watchdog/localapi/localapi_client.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "netlink/unique_fd.h"
#include "netlink/utf8.h"
#include "watchdog/core/bus_line_splitter.h"
#include "watchdog/core/http_response.h"
#include "watchdog/core/text.h"
#include "watchdog/localapi/localapi_transfer.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

// tailscaled's Handler.validHost accepts exactly this Host (no port), and
// refuses a request with an Origin or Referer (ipn/localapi/localapi.go).
constexpr const char* kHost = "local-tailscaled.sock";
constexpr const char* kPathPrefix = "/localapi/v0/";
// Bytes read per read(2), and reads per readiness event: a 100 MB reply
// leaves the loop every 128 KiB.
constexpr size_t kReadBytes = 16 * 1024;
constexpr int kReadsPerEvent = 8;

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string Millis(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + "ms";
}

// The request's bytes: HTTP/1.1, one call per connection.
std::string RequestBytes(const char* method, const std::string& target,
                         const std::string& body, bool has_body) {
  std::string out = std::string(method) + " " + target + " HTTP/1.1\r\n";
  out += std::string("Host: ") + kHost + "\r\n";
  out += "Tailscale-Cap: 1\r\nConnection: close\r\n";
  if (has_body) out += "Content-Type: application/json\r\n";
  if (has_body || std::strcmp(method, "GET") != 0) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

// What a connect(2) error on tailscaled's socket means, for `tswatchdog
// check` and the daemon's log, which print it.
std::string_view ConnectHint(int err) {
  switch (err) {
    case ENOENT:
      return " (no socket there: is tailscaled running, and is this its "
             "socket?)";
    case ECONNREFUSED:
      // A socket file left behind by a tailscaled that died (or any other
      // file at that path).
      return " (nothing listens there: tailscaled is not running)";
    case EACCES:
    case EPERM:
      return " (this user may not use the socket or its directory)";
    case EAGAIN:
      // unix(7): a non-blocking connect to a listener whose queue is full.
      return " (its listen queue is full: tailscaled accepts no "
             "connections; hung?)";
    case ENAMETOOLONG:
      return " (a Unix socket path holds at most 107 bytes)";
    default:
      return "";
  }
}

}  // namespace

std::string ResolveTailscaledSocket(const std::string& configured) {
  if (!configured.empty()) return configured;
  for (std::string_view path : kDefaultSocketPaths) {
    if (IsSocket(std::string(path))) return std::string(path);
  }
  return std::string(kDefaultSocketPaths[0]);
}

std::string LocalApiError::ToString() const {
  std::string out = endpoint + ": ";
  if (http_status != 0) out += "HTTP " + std::to_string(http_status) + ": ";
  out += message;
  return out;
}

LocalApiClient::LocalApiClient(EventLoop& loop, LocalApiOptions options)
    : loop_(loop), options_(std::move(options)) {}

LocalApiClient::~LocalApiClient() {
  // No loop callback may outlive us.
  for (auto& transfer : transfers_) {
    if (transfer->fd) loop_.UnwatchFd(transfer->fd.get());
    if (transfer->deadline) loop_.CancelTimer(*transfer->deadline);
  }
  transfers_.clear();
  if (bus_timer_) loop_.CancelTimer(*bus_timer_);
  CancelLineTimer();
}

LocalApiClient::Transfer* LocalApiClient::StartTransfer(const Request& request,
                                                        RawCallback done,
                                                        bool stream) {
  auto transfer = std::make_unique<Transfer>();
  Transfer* t = transfer.get();
  const std::string target = kPathPrefix + request.path_and_query;
  t->endpoint = std::string(request.method) + " " + target;
  t->socket_path = ResolveTailscaledSocket(options_.socket_path);
  t->request =
      RequestBytes(request.method, target, request.body, request.has_body);
  t->write_call = request.write_call;
  t->stream = stream;
  t->cap = stream ? options_.max_bus_line_bytes : options_.max_response_bytes;
  if (stream) t->bus_lines = BusLineSplitter(t->cap);
  t->done = std::move(done);
  t->id = next_transfer_id_++;
  transfers_.push_back(std::move(transfer));
  if (auto connected = Connect(*t); !connected) {
    t->fd.Reset();
    ReportLater(*t, std::move(connected).error());
    return t;
  }
  ArmDeadline(*t);
  loop_.WatchFd(
      t->fd.get(), EPOLLOUT | EPOLLIN,
      [this, id = t->id](uint32_t events) { OnSocketEvent(id, events); });
  spdlog::debug("localapi: {} via {}", t->endpoint, t->socket_path);
  return t;
}

void LocalApiClient::ArmDeadline(Transfer& t) {
  if (t.deadline) loop_.CancelTimer(*t.deadline);
  t.deadline.reset();
  // The bus never ends: its liveness is checked by the first-line timer.
  if (t.stream && !t.connecting) return;
  const auto limit =
      t.connecting ? options_.connect_timeout : options_.call_timeout;
  t.deadline = loop_.AddTimerAfter(limit, [this, id = t.id, limit] {
    Transfer* late = FindTransfer(id);
    if (!late) return;
    late->deadline.reset();
    Abort(late, {LocalApiError::Kind::kTimeout, late->endpoint, 0,
                 (late->connecting ? "cannot connect to " : "no answer from ") +
                     late->socket_path + " within " + Millis(limit)});
  });
}

LocalApiError LocalApiClient::ConnectError(const Transfer& t, int err) {
  return {LocalApiError::Kind::kConnect, t.endpoint, 0,
          "cannot connect to " + t.socket_path + ": " + std::strerror(err) +
              std::string(ConnectHint(err))};
}

Expected<void, LocalApiError> LocalApiClient::Connect(Transfer& t) {
  const auto fail = [&](int err) { return ConnectError(t, err); };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (t.socket_path.size() >= sizeof(address.sun_path)) {
    return fail(ENAMETOOLONG);
  }
  std::memcpy(address.sun_path, t.socket_path.data(), t.socket_path.size());
  // Close-on-exec: a hook's child must not hold tailscaled's connections.
  t.fd = netlink::UniqueFd(
      ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!t.fd) return fail(errno);
  if (::connect(t.fd.get(), reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) == 0) {
    return {};
  }
  // A Unix socket connects at once or fails (EAGAIN: the listener's backlog
  // is full); EINPROGRESS is kept for the general case.
  if (errno == EINPROGRESS) {
    t.connecting = true;
    return {};
  }
  return fail(errno);
}

void LocalApiClient::NoteWriteDenied(LocalApiError& error) {
  error.write_access_denied = true;
  error.message +=
      " -- tswatchdog lacks write access to tailscaled: run it as root or as "
      "tailscaled's operator user (tailscale set --operator=USER)";
  if (!write_denied_reported_) {
    write_denied_reported_ = true;
    spdlog::error("localapi: {}", error.ToString());
  }
}

void LocalApiClient::ReportLater(Transfer& t, LocalApiError error) {
  // Reported on the loop, like every other result, never from the caller's
  // own stack; by the transfer's own timer, so that the destructor cancels
  // it like any other (a bare timer ran the bus's callback on a freed
  // client).
  t.deadline = loop_.AddTimerAfter(
      std::chrono::milliseconds(0),
      [this, id = t.id, error = std::move(error)]() mutable {
        Transfer* failed = FindTransfer(id);
        if (!failed) return;
        failed->deadline.reset();
        Complete(failed, std::move(error));
      });
}

void LocalApiClient::OnSocketEvent(uint64_t id, uint32_t epoll_events) {
  Transfer* t = FindTransfer(id);
  if (!t) return;
  std::optional<ApiResult<std::string>> ended;
  if ((epoll_events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
      t->sent < t->request.size()) {
    if (!SendRequest(*t)) return;
  }
  if (((epoll_events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ||
       !t->send_error.empty()) &&
      !t->connecting) {
    ended = ReceiveResponse(*t);
  }
  // Lines that arrived before an EOF are dispatched before it is reported;
  // user callbacks may add or remove transfers.
  DispatchBusLines();
  if (ended) {
    if (Transfer* still = FindTransfer(id)) Complete(still, std::move(*ended));
  }
  WatchUnfinishedLine();
}

bool LocalApiClient::SendRequest(Transfer& t) {
  if (t.connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(t.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Complete(&t, ConnectError(t, err));
      return false;
    }
    t.connecting = false;
    ArmDeadline(t);
  }
  while (t.sent < t.request.size()) {
    const ssize_t n =
        ::send(t.fd.get(), t.request.data() + t.sent, t.request.size() - t.sent,
               MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0) {
      std::string error = "cannot send the request to " + t.socket_path + ": " +
                          std::strerror(errno);
      if (errno != EPIPE && errno != ECONNRESET) {
        Complete(&t, LocalApiError{LocalApiError::Kind::kTransport, t.endpoint,
                                   0, std::move(error)});
        return false;
      }
      // The peer closed its end, maybe after it answered (an error it sent
      // without reading the request): read what it said.
      t.send_error = std::move(error);
      t.sent = t.request.size();
      break;
    }
    t.sent += static_cast<size_t>(n);
  }
  loop_.ModifyFd(t.fd.get(), EPOLLIN);
  return true;
}

std::optional<ApiResult<std::string>> LocalApiClient::ReceiveResponse(
    Transfer& t) {
  const HttpResponseParser::BodySink sink = [&t](std::string_view bytes) {
    return t.TakeBody(bytes);
  };
  char buffer[kReadBytes];
  for (int reads = 0; reads < kReadsPerEvent; ++reads) {
    const ssize_t n = ::read(t.fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      return LocalApiError{
          LocalApiError::Kind::kTransport, t.endpoint, t.parser.status(),
          "cannot read from " + t.socket_path + ": " + std::strerror(errno)};
    }
    const auto outcome = n == 0
                             ? t.parser.FinishAtEof()
                             : t.parser.Feed(std::string_view(buffer, n), sink);
    if (outcome != HttpResponseParser::Outcome::kNeedMore) {
      return ResultOf(t, outcome);
    }
  }
  return std::nullopt;
}

ApiResult<std::string> LocalApiClient::ResultOf(
    Transfer& t, HttpResponseParser::Outcome outcome) {
  using Outcome = HttpResponseParser::Outcome;
  const long status = t.parser.status();
  LocalApiError error{LocalApiError::Kind::kTransport, t.endpoint, status,
                      t.parser.error()};
  switch (outcome) {
    case Outcome::kComplete:
      if (status >= 200 && status < 300) return std::move(t.response);
      error.kind = LocalApiError::Kind::kHttp;
      error.message = ServerMessageFromBody(t.response);
      if (t.write_call && status == 403) NoteWriteDenied(error);
      return error;
    case Outcome::kRefused:
      error.kind = LocalApiError::Kind::kTooLarge;
      error.http_status = 0;  // the reply's size is the fault, not its status
      error.message =
          t.stream && status == 200
              ? "bus line larger than " + std::to_string(t.cap) + " bytes"
              : "response larger than " + std::to_string(t.cap) + " bytes";
      return error;
    case Outcome::kMalformed:
      // The parser's words can quote the server's bytes.
      error.kind = LocalApiError::Kind::kBadReply;
      error.message = netlink::ToValidUtf8(error.message);
      return error;
    case Outcome::kCut:
    case Outcome::kNeedMore:
      break;
  }
  // kTransport: the connection ended mid-response, or before it: then, if
  // the request could not be sent either, that is the news.
  if (!t.send_error.empty() && status == 0) {
    error.message = t.send_error;
  }
  return error;
}

void LocalApiClient::Abort(Transfer* t, LocalApiError error) {
  Complete(t, std::move(error));
}

void LocalApiClient::Complete(Transfer* t, ApiResult<std::string> result) {
  RawCallback done = std::move(t->done);
  if (t->fd) loop_.UnwatchFd(t->fd.get());
  if (t->deadline) loop_.CancelTimer(*t->deadline);
  transfers_.remove_if([t](const auto& p) { return p.get() == t; });
  if (done) done(std::move(result));
}

LocalApiClient::Transfer* LocalApiClient::FindTransfer(uint64_t id) const {
  for (const auto& t : transfers_) {
    if (t->id == id) return t.get();
  }
  return nullptr;
}

}  // namespace watchdog
