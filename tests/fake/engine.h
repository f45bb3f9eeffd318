// The network half of the fake tailscaled (`serve --control-server ...`):
// the control client, the home-DERP client, the link monitor and route
// programming, wired as tailscaled wires them:
//  - a link change (netmon) re-STUNs, rebinds on a major change, and tsdial
//    closes the control connection when the default-route interface changed
//    or its local address disappeared (net/tsdial/tsdial.go linkChanged);
//  - Rebind (debug action, major link change): every DERP connection whose
//    local IP is not on netmon's cached default-route interface is closed
//    and redialed, the others are pinged (3 s); control is never touched;
//  - ReSTUN (debug action, link change, DERP receive error): a STUN probe
//    to the DERP server (stun.h); when the endpoints (the local address and
//    the one STUN saw) differ from the last ones, they go to control as a
//    map request on the control connection;
//  - routes (with --tun DEV): tailscaled's routes in table 52 on DEV; a
//    failure is the router health error, kept until the router config is
//    applied again (WantRunning false -> true, restart).
#ifndef TSWATCHDOG_TESTS_FAKE_ENGINE_H_
#define TSWATCHDOG_TESTS_FAKE_ENGINE_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/fake/control_client.h"
#include "tests/fake/derp_client.h"
#include "tests/fake/event_log.h"
#include "tests/fake/netmon.h"
#include "tests/fake/stun.h"
#include "tests/fake/time_scale.h"
#include "watchdog/io/event_loop.h"

namespace fake {

// What the engine reports to the backend (LocalBackend and health).
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void OnMapResponse() = 0;
  virtual void OnPollEnded(const std::string& why) = 0;
  virtual void OnDerpConnected(bool connected) = 0;
  virtual void OnDerpFrame() = 0;
  virtual void OnRouterHealth(const std::string& error) = 0;
  virtual void OnNetworkUp(bool up) = 0;
};

struct EngineOptions {
  std::string control_server;  // ip:port
  std::string derp_server;     // ip:port
  std::string tun;             // device for table-52 routes; "" = none
};

class Engine {
 public:
  Engine(watchdog::EventLoop& loop, const TimeScale& scale, EventLog& log,
         EngineObserver& observer);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Parses the addresses and starts the link monitor (no dial yet).
  bool Init(const EngineOptions& options, std::string* error);

  // The control client: a new one (Start), Direct.Close (Shutdown), and
  // SetPaused (Pause/Resume).
  ControlClient& control() { return *control_; }
  DerpClient& derp() { return *derp_; }
  const NetState& net_state() const { return netmon_->state(); }

  // magicsock.Conn.Rebind's DERP part.
  void Rebind(const std::string& why);
  // magicsock.Conn.ReSTUN.
  void ReStun(const std::string& why);
  // router.Set with tailscaled's routes (true) or none (false).
  void ApplyRouter(bool routes);

  nlohmann::ordered_json Describe() const;

 private:
  void OnLinkChange(const NetChange& change);
  std::string Endpoints() const;
  void FinishReStun(const std::string& why, const std::string& observed);

  watchdog::EventLoop& loop_;
  const TimeScale& scale_;
  EventLog& log_;
  EngineObserver& observer_;
  EngineOptions options_;
  SockAddr control_addr_;
  SockAddr derp_addr_;
  std::unique_ptr<StunClient> stun_;
  std::string restun_again_;  // a ReSTUN asked for during one
  std::unique_ptr<ControlClient> control_;
  std::unique_ptr<DerpClient> derp_;
  std::unique_ptr<Netmon> netmon_;
  std::string last_endpoints_;
  std::string router_error_;
};

// Adds (or, with `add` false, deletes) tailscaled's routes in table 52 on
// `device` over rtnetlink; "" on success, else the error as tailscaled's
// router reports it (wgengine/router/osrouter: one failure is its own
// text, more are "N add route failures; first was: ...").
std::string ProgramRoutes(const std::string& device, bool add);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_ENGINE_H_
