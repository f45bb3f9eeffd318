// The model behind the fake's LocalAPI: tailscaled's LocalBackend as far as
// a LocalAPI client can see it (backend state, prefs, Self.Online, health),
// and what each step does to it (tailscale ipn/ipnlocal/local.go).
//
// Two modes:
//  - network mode (--control-server/--derp-server): Self.Online and health
//    come from real TCP connections (engine.h); steps act on them as in
//    tailscaled, and only what heals a fault in tailscaled heals it here;
//  - LocalAPI-only mode (the default, for wire and client tests): the same
//    health rules fed by scripted faults (`stuck control|derp|router|
//    engine`), each healed only by what heals it in tailscaled.
#ifndef TSWATCHDOG_TESTS_FAKE_BACKEND_H_
#define TSWATCHDOG_TESTS_FAKE_BACKEND_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/fake/engine.h"
#include "tests/fake/event_log.h"
#include "tests/fake/health_tracker.h"
#include "tests/fake/time_scale.h"
#include "watchdog/io/event_loop.h"

namespace fake {

struct BackendOptions {
  std::string version = "1.102.3-t53a0d659a";
  std::string state = "Running";
  bool online = true;
  std::string relay = "fra";
  bool want_running = true;
  std::string stuck;  // LocalAPI-only: a fault (or a step name, see Stuck)
  std::vector<std::string> warnings;
  std::string health_file;
  int start_delay_ms = 0;
  bool always_on = false;
  double time_scale = 1.0;
  std::string events_path;
  EngineOptions engine;  // control_server set: network mode
};

// "on"/"true"/"1" and "off"/"false"/"0" (control commands); false if
// neither.
bool ParseOnOff(const std::string& arg, bool* out);

class Backend : public EngineObserver {
 public:
  using Json = nlohmann::ordered_json;

  // `broadcast` sends one Notify line to every bus watcher.
  Backend(watchdog::EventLoop& loop, BackendOptions options,
          std::function<void(const std::string& line)> broadcast);
  ~Backend() override;

  // Opens the event log; in network mode starts the engine and dials.
  bool Init(std::string* error);
  bool network_mode() const { return engine_ != nullptr; }

  // --- what the LocalAPI shows ---------------------------------------
  Json Status() const;
  Json Prefs() const;
  Json HealthState() const;  // Notify.Health; null before 1.70
  std::string StateName() const { return state_; }
  const std::string& session_id() const { return session_id_; }
  const std::string& version() const { return options_.version; }
  bool structured_health() const;  // >= 1.70
  // A compact Notify line with Go's field order and nulls.
  std::string NotifyLine(const Json& fields, bool with_session = false) const;

  // --- steps ---------------------------------------------------------
  void Start();                                 // POST start
  std::string SetWantRunning(bool want);        // PATCH prefs; "" or error
  void DebugAction(const std::string& action);  // rebind, restun, ...
  // A restart of tailscaled: everything torn down (`down_ms` while the
  // socket is gone, the caller's part), then up again.
  void RestartBegin();
  void RestartEnd();
  // GET derpmap (null before the first netmap) and POST bugreport (the
  // marker; the note goes to the event log with it).
  Json DerpMap() const;
  std::string BugReport(const std::string& note);

  // --- the control channel ----------------------------------------------
  // Handles a model command; nullopt when `cmd` is not one of them.
  std::optional<std::string> Control(const std::string& cmd,
                                     const std::string& arg);
  Json Snapshot() const;  // for `get`

 private:
  // EngineObserver.
  void OnMapResponse() override;
  void OnPollEnded(const std::string& why) override;
  void OnDerpConnected(bool connected) override;
  void OnDerpFrame() override;
  void OnRouterHealth(const std::string& error) override;
  void OnNetworkUp(bool up) override;

  void SetState(const std::string& name);
  void MaybeRunning();
  void SetOnline(bool online, const std::string& why);
  void UpdateHealth();
  void ArmHealthTimer();
  void ApplyEngineRunState();
  void Stuck(const std::string& fault, bool push);
  void Heal(const std::string& fault);
  void SimStart();
  void SimWantRunning(bool want);
  void LoadHealthFile(const std::string& path);
  std::optional<std::string> SimControl(const std::string& cmd,
                                        const std::string& arg);

  watchdog::EventLoop& loop_;
  BackendOptions options_;
  std::function<void(const std::string&)> broadcast_;
  TimeScale scale_;
  EventLog log_;
  HealthTracker health_;
  std::unique_ptr<Engine> engine_;

  std::string state_;
  bool want_running_;
  bool network_up_ = true;
  bool online_reported_ = false;
  bool router_pending_ = true;  // router config not applied since (re)start
  std::string relay_;
  std::string session_id_;
  std::string log_id_;  // the backend log ID in bugreport markers
  std::set<std::string> faults_;  // LocalAPI-only mode
  int restarts_ = 0;
  std::string last_health_;  // the last Notify.Health pushed
  watchdog::EventLoop::TimerId health_timer_ = 0;
  watchdog::EventLoop::TimerId visibility_timer_ = 0;
  watchdog::EventLoop::TimerId start_timer_ = 0;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_BACKEND_H_
