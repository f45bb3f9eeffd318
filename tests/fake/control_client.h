// The control client of the fake tailscaled on a real TCP connection, as
// tailscale's controlclient does it (control/controlclient/direct.go,
// auto.go; control/ts2021/client.go):
//  - one connection, reused by every request until something closes it
//    (MaxConnsPerHost 1, no HTTP/2 pings; only Direct.Close replaces it);
//  - a streaming map request (the long poll) with a 120 s watchdog, reset
//    by every MapResponse, keep-alives included; "in map poll" (Self.Online)
//    from the first response until the poll ends;
//  - when the watchdog fires, the poll ends and the retry (backoff n²·10 ms,
//    at most 30 s) writes a new request on the same connection: on a dead
//    path that write stays unacknowledged, so the kernel's retransmission
//    timer, not keep-alive, decides when the connection dies;
//  - when the connection dies (read error, EOF), the retry dials anew and
//    the new socket follows the current route.
#ifndef TSWATCHDOG_TESTS_FAKE_CONTROL_CLIENT_H_
#define TSWATCHDOG_TESTS_FAKE_CONTROL_CLIENT_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/fake/event_log.h"
#include "tests/fake/line_conn.h"
#include "tests/fake/net_util.h"
#include "tests/fake/time_scale.h"
#include "watchdog/io/event_loop.h"

namespace fake {

class ControlClient {
 public:
  struct Hooks {
    // A MapResponse of the stream (GotStreamedMapResponse).
    std::function<void()> map_response;
    // The long poll ended (SetOutOfPollNetMap).
    std::function<void(const std::string& why)> poll_ended;
  };

  ControlClient(watchdog::EventLoop& loop, const TimeScale& scale,
                EventLog& log, SockAddr server, DialOptions dial, Hooks hooks);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // A new client logs in and starts the long poll (dials if needed).
  void Start();
  // Direct.Close: the connection is closed and nothing redials.
  void Shutdown(const std::string& why);
  // tsdial closing the connection under the client (link change): the poll
  // ends and its retry dials a new one.
  void CloseConnection(const std::string& why);
  // SetPaused(true/false) (WantRunning false/true): the poll is cancelled,
  // the connection kept; resuming writes a new request on it.
  void Pause();
  void Resume();
  // A non-streaming map request with new endpoints, on the open connection
  // (ReSTUN finding new endpoints). False when there is none to write on.
  bool SendEndpoints(const nlohmann::json& endpoints);

  bool in_poll() const { return in_poll_; }
  bool running() const { return running_; }
  // The local address of the connection ("" without one).
  std::string local() const { return conn_ ? conn_->local() : ""; }
  nlohmann::ordered_json Describe() const;

 private:
  void Poll();
  bool Dial();
  void SendMapRequest();
  void OnLine(const std::string& line);
  void Lost(const std::string& why);
  void OnWatchdog();
  void EndPoll(const std::string& why);
  void CancelStream();
  void DropConnection(const std::string& why);
  void ScheduleRetry();
  void ArmWatchdog();

  watchdog::EventLoop& loop_;
  const TimeScale& scale_;
  EventLog& log_;
  SockAddr server_;
  DialOptions dial_;
  Hooks hooks_;

  std::unique_ptr<LineConn> conn_;
  bool running_ = false;  // a client exists (Start .. Shutdown)
  bool paused_ = false;
  bool streaming_ = false;  // a streaming request is outstanding
  bool in_poll_ = false;
  int seq_ = 0;
  int failures_ = 0;
  int64_t last_response_ms_ = 0;
  int64_t dialed_ms_ = 0;
  watchdog::EventLoop::TimerId watchdog_ = 0;
  watchdog::EventLoop::TimerId retry_ = 0;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_CONTROL_CLIENT_H_
