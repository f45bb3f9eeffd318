// Asynchronous client for tailscaled's LocalAPI: HTTP/1.1 over its Unix socket,
// one non-blocking connection per call, driven by watchdog::EventLoop (socket
// and timer callbacks), so no call ever blocks the loop. The response is
// framed by core/http_response.h. Callbacks run on the loop thread, after the
// transfer is gone, so they may start new calls or stop the bus watch. Do not
// destroy the client from inside one of its callbacks. The protocol:
// docs/tailscaled-behaviour.md (section 7), the wire samples in
// tests/data/localapi, and tailscale ipn/localapi/localapi.go (the handlers),
// client/local/local.go (the Go client this one follows).
#ifndef TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_CLIENT_H_
#define TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "watchdog/core/backoff.h"
#include "watchdog/core/expected.h"
#include "watchdog/core/http_response.h"
#include "watchdog/core/tailscale_types.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {

// `configured` if set; else the first default path that is a socket now; else
// the first default (so the error names the expected place).
std::string ResolveTailscaledSocket(const std::string& configured);

struct LocalApiError {
  enum class Kind {
    kConnect,    // socket missing, refused, not ours to use, queue full
    kTimeout,    // no (complete) answer in time
    kHttp,       // an HTTP status other than 2xx
    kBadReply,   // answered, but not what the endpoint returns (bad JSON, ...)
    kTooLarge,   // the response (or one bus line) exceeded its size cap
    kTransport,  // anything else on the wire (connection reset mid-body, ...)
  };
  Kind kind = Kind::kTransport;
  std::string endpoint;  // e.g. "POST /localapi/v0/debug?action=rebind"
  long http_status = 0;  // 0 when there was no HTTP response
  std::string message;   // the server's message or the transport error
  // A write call got 403: we are neither root nor tailscaled's operator.
  bool write_access_denied = false;

  std::string ToString() const;
};

struct ApiDone {};

// A call's value or its error (core/expected.h).
template <typename T>
using ApiResult = Expected<T, LocalApiError>;

struct LocalApiOptions {
  std::string socket_path;  // empty: ResolveTailscaledSocket("") per call
  std::chrono::milliseconds call_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(3)};
  size_t max_response_bytes = 8 << 20;
  // Bus lines carry a full NetMap on daemons < 1.100: hundreds of KB.
  size_t max_bus_line_bytes = 8 << 20;
  // With mask bit 2 the first line comes at once; a stream that stays silent
  // this long after connecting is treated as hung.
  std::chrono::milliseconds bus_first_line_timeout{std::chrono::seconds(10)};
  // tailscaled writes each Notify line at once; a line still unfinished this
  // long after its first byte (a peer trickling a line that never ends) is a
  // hung stream.
  std::chrono::milliseconds bus_line_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds reconnect_initial{std::chrono::milliseconds(500)};
  std::chrono::milliseconds reconnect_max{std::chrono::seconds(30)};
  // NotifyInitialState | NotifyNoPrivateKeys | NotifyInitialHealthState; bit
  // 16 keeps 1.54-1.91 from refusing read-only watchers.
  uint64_t bus_mask = 146;
};

struct BusEvent {
  enum class Kind { kConnected, kDisconnected };
  Kind kind = Kind::kConnected;
  LocalApiError error;                   // why it disconnected
  std::chrono::milliseconds retry_in{};  // when the next attempt starts
  // Consecutive failed attempts, counting streams after the first that
  // ended within reconnect_max of their first line.
  int failures = 0;
};

// The calls the daemon makes to tailscaled, as a port (the executor tests
// fake it). Every callback runs later, on the loop, never inside the call.
class TailscaleApi {
 public:
  template <typename T>
  using Callback = std::function<void(ApiResult<T>)>;
  using NotifyCallback = std::function<void(const Notify&)>;
  using BusEventCallback = std::function<void(const BusEvent&)>;

  virtual ~TailscaleApi() = default;
  // GET status?peers=false
  virtual void GetStatus(Callback<Status> done) = 0;
  // GET prefs
  virtual void GetPrefs(Callback<Prefs> done) = 0;
  // POST debug?action=rebind / action=restun
  virtual void Rebind(Callback<ApiDone> done) = 0;
  virtual void ReStun(Callback<ApiDone> done) = 0;
  // POST start with body {}: replaces the control client (204).
  virtual void Start(Callback<ApiDone> done) = 0;
  // PATCH prefs {"WantRunning":b,"WantRunningSet":true}; yields the new
  // prefs.
  virtual void SetWantRunning(bool want_running, Callback<Prefs> done) = 0;
  // GET derpmap: where the DERP servers listen (`null`, before the first
  // netmap, is an empty map).
  virtual void GetDerpMap(Callback<DerpMap> done) = 0;
  // POST bugreport?note=NOTE: tailscaled logs a marker (and the note) and
  // flushes its logs; yields the marker, "BUG-<logid>-<time>-<hex>"
  // (ipn/localapi/localapi.go serveBugReport).
  virtual void BugReport(const std::string& note,
                         Callback<std::string> done) = 0;
  // Streams GET watch-ipn-bus?mask=<bus_mask> for ever: `on_notify` per
  // line, `on_event` on connect and on each disconnect (EOF, error, "fell
  // behind", oversized line, hung), after which it reconnects with
  // exponential backoff and jitter (streams dropped soon after their first
  // line, in a row, back off too). Replaces an earlier watch.
  virtual void WatchBus(NotifyCallback on_notify,
                        BusEventCallback on_event) = 0;
  virtual void StopWatchingBus() = 0;
};

class LocalApiClient final : public TailscaleApi {
 public:
  LocalApiClient(EventLoop& loop, LocalApiOptions options);
  LocalApiClient(const LocalApiClient&) = delete;
  LocalApiClient& operator=(const LocalApiClient&) = delete;
  // Aborts every call; no callback runs afterwards.
  ~LocalApiClient() override;

  void GetStatus(Callback<Status> done) override;
  void GetPrefs(Callback<Prefs> done) override;
  void Rebind(Callback<ApiDone> done) override;
  void ReStun(Callback<ApiDone> done) override;
  void Start(Callback<ApiDone> done) override;
  void SetWantRunning(bool want_running, Callback<Prefs> done) override;
  void GetDerpMap(Callback<DerpMap> done) override;
  void BugReport(const std::string& note, Callback<std::string> done) override;
  void WatchBus(NotifyCallback on_notify, BusEventCallback on_event) override;
  void StopWatchingBus() override;
  bool bus_connected() const { return bus_connected_; }

  const LocalApiOptions& options() const { return options_; }
  size_t in_flight() const { return transfers_.size(); }

 private:
  struct Transfer;
  struct Request {
    const char* method;
    std::string path_and_query;  // after /localapi/v0/
    std::string body;
    bool write_call = false;
    bool has_body = false;

    static Request Read(std::string path_and_query) {
      return {"GET", std::move(path_and_query), {}, false, false};
    }
    static Request Write(const char* method, std::string path_and_query) {
      return {method, std::move(path_and_query), {}, true, false};
    }
    static Request Write(const char* method, std::string path_and_query,
                         std::string json_body) {
      return {method, std::move(path_and_query), std::move(json_body), true,
              true};
    }
  };
  using RawCallback = std::function<void(ApiResult<std::string>)>;

  Transfer* StartTransfer(const Request& request, RawCallback done,
                          bool stream);
  static LocalApiError ConnectError(const Transfer& transfer, int err);
  // Connects the transfer's socket; an error is the call's result.
  Expected<void, LocalApiError> Connect(Transfer& transfer);
  // The connect timeout while connecting, then the call timeout (none for
  // the bus).
  void ArmDeadline(Transfer& transfer);
  void Abort(Transfer* transfer, LocalApiError error);
  // Removes the transfer, then reports `result` to its callback.
  void Complete(Transfer* transfer, ApiResult<std::string> result);
  // Completes the transfer with `error` from the loop, soon.
  void ReportLater(Transfer& transfer, LocalApiError error);
  Transfer* FindTransfer(uint64_t id) const;
  // The bus's transfer is the one with this id (not just at its address).
  bool IsBus(uint64_t id) const;
  void EmitBusEvent(const BusEvent& event);
  void DispatchBusLines();
  void OnSocketEvent(uint64_t id, uint32_t epoll_events);
  // Sends what is left of the request; false when the transfer ended.
  bool SendRequest(Transfer& transfer);
  // Reads and parses what the socket has; the response's end, if it came.
  std::optional<ApiResult<std::string>> ReceiveResponse(Transfer& transfer);
  ApiResult<std::string> ResultOf(Transfer& transfer,
                                  HttpResponseParser::Outcome outcome);
  void StartBusAttempt();
  void BusFailed(LocalApiError error);
  void WatchUnfinishedLine();
  void CancelLineTimer();
  void NoteWriteDenied(LocalApiError& error);

  EventLoop& loop_;
  LocalApiOptions options_;
  std::list<std::unique_ptr<Transfer>> transfers_;
  uint64_t next_transfer_id_ = 1;
  bool write_denied_reported_ = false;

  // Shared, so that a callback that replaces the watch does not destroy
  // itself while it runs.
  std::shared_ptr<const NotifyCallback> on_notify_;
  std::shared_ptr<const BusEventCallback> on_bus_event_;
  Transfer* bus_transfer_ = nullptr;
  bool bus_wanted_ = false;
  bool bus_connected_ = false;
  int bus_failures_ = 0;
  int bus_quick_drops_ = 0;  // streams in a row dropped soon after a line
  MonoTime bus_up_since_{};  // the current stream's first line
  std::optional<EventLoop::TimerId> bus_timer_;       // first-line or reconnect
  std::optional<EventLoop::TimerId> bus_line_timer_;  // unfinished line
  // (transfer id, lines_seen) when it was armed.
  std::pair<uint64_t, uint64_t> bus_line_timer_mark_{0, 0};
  Jitter jitter_{std::random_device{}()};
};

// Blocking wrapper for one-shot commands (`tswatchdog check`): runs a private
// event loop until the call finishes; every call is bounded by its timeout.
class LocalApiSync {
 public:
  explicit LocalApiSync(LocalApiOptions options);
  ApiResult<Status> GetStatus();
  ApiResult<Prefs> GetPrefs();
  ApiResult<ApiDone> Rebind();
  ApiResult<ApiDone> ReStun();
  ApiResult<ApiDone> Start();
  ApiResult<Prefs> SetWantRunning(bool want_running);
  ApiResult<DerpMap> GetDerpMap();

 private:
  template <typename T, typename StartFn>
  ApiResult<T> Wait(StartFn start);

  EventLoop loop_;
  LocalApiClient client_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_CLIENT_H_
