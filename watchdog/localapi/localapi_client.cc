#include "watchdog/localapi/localapi_client.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "netlink/utf8.h"
#include "watchdog/core/backoff.h"
#include "watchdog/core/bus_line_splitter.h"
#include "watchdog/core/text.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

// tailscaled's Handler.validHost accepts exactly this Host (no port); curl
// derives it from the URL and adds no Origin/Referer.
constexpr const char* kUrlPrefix = "http://local-tailscaled.sock/localapi/v0/";

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

namespace {

// libcurl's sockets are not close-on-exec (children would inherit
// tailscaled's connections): open them with SOCK_CLOEXEC.
curl_socket_t OpenSocket(void* /*client*/, curlsocktype /*purpose*/,
                         curl_sockaddr* address) {
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC,
                  address->protocol);
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

struct LocalApiClient::Transfer {
  uint64_t id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string endpoint;
  std::string socket_path;
  std::string request_body;  // must outlive the transfer (POSTFIELDS)
  bool write_call = false;
  bool stream = false;
  size_t cap = 0;
  std::string response;  // the whole body (a stream's only if not 200)
  bool too_large = false;
  BusLineSplitter bus_lines{0};  // a 200 stream's lines not yet dispatched
  bool got_line = false;
  bool headers_done = false;  // the blank line after a response's headers
  char error_buffer[CURL_ERROR_SIZE] = {};
  RawCallback done;

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* self) {
    const std::string_view line(data, size * count);
    if (line == "\r\n" || line == "\n") {
      static_cast<Transfer*>(self)->headers_done = true;
    }
    return size * count;
  }

  static size_t OnData(char* data, size_t size, size_t count, void* self) {
    auto* t = static_cast<Transfer*>(self);
    const size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!t->stream || status != 200) {
      if (t->response.size() + n > t->cap) {
        t->too_large = true;
        return 0;  // aborts with CURLE_WRITE_ERROR
      }
      t->response.append(data, n);
      return n;
    }
    // Bus: split into lines; lines are dispatched after curl returns.
    if (!t->bus_lines.Feed(std::string_view(data, n))) {
      t->too_large = true;
      return 0;
    }
    return n;
  }
};

LocalApiClient::LocalApiClient(EventLoop& loop, LocalApiOptions options)
    : loop_(loop), options_(std::move(options)) {
  InitCurlOnce();
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &SocketCallback);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &TimerCallback);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

LocalApiClient::~LocalApiClient() {
  // Removing handles makes curl call back (sockets, timer): let it, then drop
  // whatever it armed, so no loop callback can outlive us.
  for (auto& transfer : transfers_) {
    curl_multi_remove_handle(multi_, transfer->easy);
  }
  transfers_.clear();
  curl_multi_cleanup(multi_);
  if (curl_timer_) loop_.CancelTimer(*curl_timer_);
  if (bus_timer_) loop_.CancelTimer(*bus_timer_);
  CancelLineTimer();
  for (int fd : watched_fds_) loop_.UnwatchFd(fd);
}

LocalApiClient::Transfer* LocalApiClient::StartTransfer(const Request& request,
                                                        RawCallback done,
                                                        bool stream) {
  auto transfer = std::make_unique<Transfer>();
  Transfer* t = transfer.get();
  t->endpoint =
      std::string(request.method) + " /localapi/v0/" + request.path_and_query;
  t->socket_path = ResolveTailscaledSocket(options_.socket_path);
  t->write_call = request.write_call;
  t->stream = stream;
  t->cap = stream ? options_.max_bus_line_bytes : options_.max_response_bytes;
  if (stream) t->bus_lines = BusLineSplitter(t->cap);
  t->request_body = request.body;
  t->done = std::move(done);
  t->easy = curl_easy_init();
  if (!t->easy) {
    FailLater(std::move(t->done), {LocalApiError::Kind::kTransport, t->endpoint,
                                   0, "curl_easy_init failed"});
    return nullptr;
  }
  const std::string url = kUrlPrefix + request.path_and_query;
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, t->socket_path.c_str());
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_buffer);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnData);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  // The bus never ends: its liveness is checked by the first-line timer.
  curl_easy_setopt(
      e, CURLOPT_TIMEOUT_MS,
      stream ? 0L : static_cast<long>(options_.call_timeout.count()));
  SetRequestOptions(*t, request);

  t->id = next_transfer_id_++;
  transfers_.push_back(std::move(transfer));
  if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
    FailLater(std::move(t->done), {LocalApiError::Kind::kTransport, t->endpoint,
                                   0, "curl_multi_add_handle failed"});
    transfers_.pop_back();
    return nullptr;
  }
  spdlog::debug("localapi: {} via {}", t->endpoint, t->socket_path);
  return t;
}

// static
void LocalApiClient::SetRequestOptions(Transfer& t, const Request& request) {
  t.headers = curl_slist_append(t.headers, "Tailscale-Cap: 1");
  if (request.has_body) {
    t.headers = curl_slist_append(t.headers, "Content-Type: application/json");
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(t.request_body.size()));
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDS, t.request_body.c_str());
  } else if (std::strcmp(request.method, "POST") == 0) {
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(t.easy, CURLOPT_POSTFIELDS, "");
  }
  if (std::strcmp(request.method, "PATCH") == 0) {
    curl_easy_setopt(t.easy, CURLOPT_CUSTOMREQUEST, "PATCH");
  }
  t.headers = curl_slist_append(t.headers, "Expect:");
  curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, t.headers);
}

LocalApiError LocalApiClient::ErrorFor(const Transfer& t, int code) const {
  LocalApiError error;
  error.endpoint = t.endpoint;
  const auto curl_code = static_cast<CURLcode>(code);
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  if (t.too_large) {
    error.kind = LocalApiError::Kind::kTooLarge;
    error.message =
        t.stream ? "bus line larger than " + std::to_string(t.cap) + " bytes"
                 : "response larger than " + std::to_string(t.cap) + " bytes";
    return error;
  }
  if (curl_code == CURLE_OK) {
    error.kind = LocalApiError::Kind::kHttp;
    error.http_status = status;
    error.message = ServerMessageFromBody(t.response);
    return error;
  }
  DescribeCurlFailure(t, code, error);
  error.http_status = status;
  return error;
}

// static
void LocalApiClient::DescribeCurlFailure(const Transfer& t, int code,
                                         LocalApiError& error) {
  const auto curl_code = static_cast<CURLcode>(code);
  // libcurl's error text can quote the server's bytes.
  std::string detail = netlink::ToValidUtf8(
      t.error_buffer[0] ? t.error_buffer : curl_easy_strerror(curl_code));
  switch (curl_code) {
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(t.easy, CURLINFO_OS_ERRNO, &os_errno);
      error.kind = LocalApiError::Kind::kConnect;
      error.message =
          "cannot connect to " + t.socket_path + ": " +
          (os_errno ? std::strerror(static_cast<int>(os_errno)) : detail);
      break;
    }
    case CURLE_OPERATION_TIMEDOUT:
      error.kind = LocalApiError::Kind::kTimeout;
      error.message = "no answer from " + t.socket_path + " (" + detail + ")";
      break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
      error.kind = LocalApiError::Kind::kBadReply;
      error.message = detail;
      break;
    case CURLE_OUT_OF_MEMORY:
      // libcurl's answer to a header line over CURL_MAX_HTTP_HEADER (100
      // KB), with no error text (lib/http.c, 7.88): while the headers are
      // still coming, that is what it means.
      if (!t.headers_done && t.error_buffer[0] == '\0') {
        error.kind = LocalApiError::Kind::kBadReply;
        error.message = "a response header line longer than " +
                        std::to_string(CURL_MAX_HTTP_HEADER) +
                        " bytes (libcurl's limit)";
        break;
      }
      error.kind = LocalApiError::Kind::kTransport;
      error.message = detail;
      break;
    default:
      error.kind = LocalApiError::Kind::kTransport;
      error.message = detail;
      break;
  }
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

void LocalApiClient::FailLater(RawCallback done, LocalApiError error) {
  // Reported on the loop, like every other result, never from the caller's
  // own stack.
  loop_.AddTimerAfter(std::chrono::milliseconds(0),
                      [done = std::move(done), error = std::move(error)] {
                        if (done) done(ApiResult<std::string>::Failure(error));
                      });
}

void LocalApiClient::Finish(Transfer* t, int code) {
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  ApiResult<std::string> result;
  if (code == CURLE_OK && status >= 200 && status < 300 && !t->too_large) {
    result.value = std::move(t->response);
  } else {
    result.error = ErrorFor(*t, code);
    if (t->write_call && result.error.http_status == 403) {
      NoteWriteDenied(result.error);
    }
  }
  Complete(t, std::move(result));
}

void LocalApiClient::Abort(Transfer* t, LocalApiError error) {
  Complete(t, ApiResult<std::string>::Failure(std::move(error)));
}

void LocalApiClient::Complete(Transfer* t, ApiResult<std::string> result) {
  RawCallback done = std::move(t->done);
  curl_multi_remove_handle(multi_, t->easy);
  transfers_.remove_if([t](const auto& p) { return p.get() == t; });
  if (done) done(std::move(result));
}

void LocalApiClient::Dispatch() {
  // Collect first: user callbacks may add or remove transfers. Bus lines
  // that arrived before an EOF are dispatched before the EOF is reported.
  std::vector<std::pair<uint64_t, int>> completed;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    if (t) completed.emplace_back(t->id, msg->data.result);
  }
  DispatchBusLines();
  for (auto [id, code] : completed) {
    if (Transfer* t = FindTransfer(id)) Finish(t, code);
  }
  WatchUnfinishedLine();
}

void LocalApiClient::CancelLineTimer() {
  if (bus_line_timer_) loop_.CancelTimer(*bus_line_timer_);
  bus_line_timer_.reset();
}

// Arms a timer when a bus line starts and leaves it armed while no line
// completes: a line that never ends (or stalls half-sent) ends the stream.
void LocalApiClient::WatchUnfinishedLine() {
  Transfer* t = bus_transfer_;
  if (!t || t->bus_lines.partial_size() == 0) return CancelLineTimer();
  const std::pair<uint64_t, uint64_t> mark{t->id,
                                           t->bus_lines.lines_terminated()};
  if (bus_line_timer_ && bus_line_timer_mark_ == mark) return;
  CancelLineTimer();
  bus_line_timer_mark_ = mark;
  bus_line_timer_ = loop_.AddTimerAfter(
      options_.bus_line_timeout,
      [this, id = t->id, mark = t->bus_lines.lines_terminated()] {
        bus_line_timer_.reset();
        Transfer* stuck = FindTransfer(id);
        if (!stuck || stuck != bus_transfer_ ||
            stuck->bus_lines.lines_terminated() != mark ||
            stuck->bus_lines.partial_size() == 0) {
          return;
        }
        Abort(stuck,
              {LocalApiError::Kind::kTimeout, stuck->endpoint, 0,
               "bus line unfinished after " +
                   std::to_string(options_.bus_line_timeout.count()) + "ms (" +
                   std::to_string(stuck->bus_lines.partial_size()) +
                   " bytes so far)"});
      });
}

LocalApiClient::Transfer* LocalApiClient::FindTransfer(uint64_t id) const {
  for (const auto& t : transfers_) {
    if (t->id == id) return t.get();
  }
  return nullptr;
}

void LocalApiClient::DispatchBusLines() {
  while (bus_transfer_ && bus_transfer_->bus_lines.has_lines()) {
    Transfer* t = bus_transfer_;
    std::string line = *t->bus_lines.NextLine();
    auto notify = ParseNotify(line);
    if (!notify) {
      spdlog::warn("localapi: {}: bad line ({}), ignoring: {}", t->endpoint,
                   notify.error(), netlink::Utf8Prefix(line, 120));
      continue;
    }
    if (!t->got_line) {
      t->got_line = true;
      bus_connected_ = true;
      bus_failures_ = 0;
      if (bus_timer_) loop_.CancelTimer(*bus_timer_);
      bus_timer_.reset();
      spdlog::info(
          "localapi: watching the IPN bus ({})",
          notify->version.empty() ? "unknown version" : notify->version);
      if (on_bus_event_) on_bus_event_(BusEvent{});
      if (bus_transfer_ != t) return;
    }
    if (on_notify_) on_notify_(*notify);
    if (bus_transfer_ != t) return;
    if (IsFellBehind(*notify)) {
      Abort(t, {LocalApiError::Kind::kTransport, t->endpoint, 0,
                *notify->err_message});
      return;
    }
  }
}

void LocalApiClient::WatchBus(NotifyCallback on_notify,
                              BusEventCallback on_event) {
  StopWatchingBus();
  on_notify_ = std::move(on_notify);
  on_bus_event_ = std::move(on_event);
  bus_wanted_ = true;
  bus_failures_ = 0;
  StartBusAttempt();
}

void LocalApiClient::StopWatchingBus() {
  bus_wanted_ = false;
  bus_connected_ = false;
  if (bus_timer_) loop_.CancelTimer(*bus_timer_);
  bus_timer_.reset();
  CancelLineTimer();
  if (Transfer* t = bus_transfer_) {
    bus_transfer_ = nullptr;
    t->done = nullptr;  // stopping is not a failure to report
    Complete(t, {});
  }
}

void LocalApiClient::StartBusAttempt() {
  bus_timer_.reset();
  if (!bus_wanted_) return;
  const Request request =
      Request::Read("watch-ipn-bus?mask=" + std::to_string(options_.bus_mask));
  Transfer* t = StartTransfer(
      request,
      [this, endpoint = "GET /localapi/v0/" +
                        request.path_and_query](ApiResult<std::string> result) {
        bus_transfer_ = nullptr;
        LocalApiError error = std::move(result.error);
        if (result.ok()) {
          // A clean end of the chunked body: tailscaled never does that
          // on its own, but a restart or proxy might.
          error = {LocalApiError::Kind::kTransport, endpoint, 0,
                   "stream ended (EOF)"};
        }
        BusFailed(std::move(error));
      },
      /*stream=*/true);
  bus_transfer_ = t;
  if (!t) return;
  bus_timer_ = loop_.AddTimerAfter(options_.bus_first_line_timeout, [this, t] {
    bus_timer_.reset();
    if (bus_transfer_ != t || t->got_line) return;
    Abort(t, {LocalApiError::Kind::kTimeout, t->endpoint, 0,
              "no bus message within " +
                  std::to_string(options_.bus_first_line_timeout.count()) +
                  "ms of connecting"});
  });
}

void LocalApiClient::BusFailed(LocalApiError error) {
  if (!bus_wanted_) return;
  bus_connected_ = false;
  ++bus_failures_;
  // Exponential backoff with +-20% jitter, so a crowd of clients does not
  // reconnect in lockstep after tailscaled restarts.
  const auto delay =
      jitter_.Apply(ExponentialDelay(options_.reconnect_initial,
                                     options_.reconnect_max, bus_failures_ - 1),
                    options_.reconnect_max);
  spdlog::warn("localapi: IPN bus watch lost: {}; retry in {}ms",
               error.ToString(), delay.count());
  BusEvent event{BusEvent::Kind::kDisconnected, std::move(error), delay,
                 bus_failures_};
  bus_timer_ = loop_.AddTimerAfter(delay, [this] { StartBusAttempt(); });
  if (on_bus_event_) on_bus_event_(event);
}

void LocalApiClient::OnSocketEvent(int fd, uint32_t epoll_events) {
  int flags = 0;
  if (epoll_events & EPOLLIN) flags |= CURL_CSELECT_IN;
  if (epoll_events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
  if (epoll_events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  Dispatch();
}

void LocalApiClient::OnCurlTimer() {
  curl_timer_.reset();
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  Dispatch();
}

int LocalApiClient::SocketCallback(void* /*easy*/, int fd, int what,
                                   void* client, void* /*socket_data*/) {
  auto* self = static_cast<LocalApiClient*>(client);
  if (what == CURL_POLL_REMOVE) {
    self->loop_.UnwatchFd(fd);
    self->watched_fds_.erase(fd);
    return 0;
  }
  self->watched_fds_.insert(fd);
  uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EPOLLIN;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EPOLLOUT;
  self->loop_.WatchFd(fd, events, [self, fd](uint32_t ready) {
    self->OnSocketEvent(fd, ready);
  });
  return 0;
}

int LocalApiClient::TimerCallback(void* /*multi*/, long timeout_ms,
                                  void* client) {
  auto* self = static_cast<LocalApiClient*>(client);
  if (self->curl_timer_) self->loop_.CancelTimer(*self->curl_timer_);
  self->curl_timer_.reset();
  if (timeout_ms < 0) return 0;
  // Never call back into curl from its own callback: fire on the loop.
  self->curl_timer_ = self->loop_.AddTimerAfter(
      std::chrono::milliseconds(timeout_ms), [self] { self->OnCurlTimer(); });
  return 0;
}

}  // namespace watchdog
