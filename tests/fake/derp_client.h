// The home-DERP connection of the fake tailscaled on a real TCP connection,
// as magicsock runs it (wgengine/magicsock/derp.go, derp/derp_client.go,
// derp/derphttp):
//  - connected once the server's ServerInfo arrives;
//  - Recv has a 120 s read deadline; on any receive error magicsock
//    re-STUNs, backs off (n²·10 ms, at most 5 s) and redials: a fresh
//    socket follows the current route, so DERP heals itself;
//  - a dial (TCP through DERP upgrade) gives up after 10 s;
//  - Rebind checks it: local address not on the default-route interface ->
//    closed and redialed; else a 3 s ping, redialed when it fails.
#ifndef TSWATCHDOG_TESTS_FAKE_DERP_CLIENT_H_
#define TSWATCHDOG_TESTS_FAKE_DERP_CLIENT_H_

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

class DerpClient {
 public:
  struct Hooks {
    // SetDERPRegionConnectedState (also false on every receive error).
    std::function<void(bool connected)> connected;
    // NoteDERPRegionReceivedFrame.
    std::function<void()> frame;
    // A receive error: magicsock calls ReSTUN("derp-recv-error").
    std::function<void()> recv_error;
  };

  DerpClient(watchdog::EventLoop& loop, const TimeScale& scale, EventLog& log,
             SockAddr server, DialOptions dial, Hooks hooks);
  ~DerpClient();
  DerpClient(const DerpClient&) = delete;
  DerpClient& operator=(const DerpClient&) = delete;

  // Connects to the home DERP (and keeps it connected).
  void Start();
  // Closes it; no reconnect (network down, WantRunning false, restart).
  void Stop(const std::string& why);
  // closeOrReconnectDERPLocked: closes it and reconnects at once.
  void Reconnect(const std::string& why);
  // The post-rebind check: a ping that must be answered within 3 s.
  void Ping();

  bool running() const { return running_; }
  bool connected() const { return connected_; }
  std::string local() const { return conn_ ? conn_->local() : ""; }
  nlohmann::ordered_json Describe() const;

 private:
  void Connect();
  void OnLine(const std::string& line);
  void OnFailure(const std::string& why);
  void Close(const std::string& why);
  void ArmReadDeadline();

  watchdog::EventLoop& loop_;
  const TimeScale& scale_;
  EventLog& log_;
  SockAddr server_;
  DialOptions dial_;
  Hooks hooks_;

  std::unique_ptr<LineConn> conn_;
  bool running_ = false;
  bool connected_ = false;
  int failures_ = 0;
  int ping_id_ = 0;
  int awaiting_pong_ = 0;
  int64_t last_frame_ms_ = 0;
  int64_t dialed_ms_ = 0;
  watchdog::EventLoop::TimerId deadline_ = 0;
  watchdog::EventLoop::TimerId retry_ = 0;
  watchdog::EventLoop::TimerId ping_timer_ = 0;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_DERP_CLIENT_H_
