// The Backend's control commands and the LocalAPI-only mode's faults: each
// fault is healed by what heals it in tailscaled (docs/tailscaled-
// behaviour.md, "What each step fixes"), never by anything else.
#include <algorithm>

#include "tests/fake/backend.h"

namespace fake {
namespace {

using Json = Backend::Json;
using std::chrono::minutes;
using SteadyClock = std::chrono::steady_clock;

// `stuck STEP` (the old scripted model) names the step that heals; it maps
// to the fault that step really heals.
std::string FaultName(const std::string& name) {
  if (name == "start") return "control";
  if (name == "rebind") return "derp";
  if (name == "reup") return "router";
  if (name == "restart") return "engine";
  return name;
}

bool KnownFault(const std::string& fault) {
  return fault == "control" || fault == "derp" || fault == "router" ||
         fault == "engine";
}

}  // namespace

bool ParseOnOff(const std::string& arg, bool* out) {
  if (arg == "on" || arg == "true" || arg == "1") {
    *out = true;
  } else if (arg == "off" || arg == "false" || arg == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// A fault as a LocalAPI client sees it minutes later:
//  control: the map poll ended long ago (not-in-map-poll visible, Online
//    false); healed by start (a new control client) or a restart;
//  derp: the home DERP connection is gone (no-derp-connection); healed by
//    rebind, reup (the engine redials) or a restart;
//  router: route programming failed ("router"); healed by reup or restart;
//  engine: a magicsock receive function died; only a restart heals it.
void Backend::Stuck(const std::string& name, bool push) {
  const std::string fault = FaultName(name);
  faults_.insert(fault);
  auto& in = health_.inputs();
  const auto now = SteadyClock::now();
  if (fault == "control") {
    in.in_map_poll = false;
    in.last_map_poll_ended = now - minutes(10);
    in.last_streamed_map_response = now - minutes(10);
    SetOnline(false, "stuck control");
  } else if (fault == "derp") {
    in.derp_connected = false;
  } else if (fault == "router") {
    in.router_error = "2 add route failures; first was: network is down";
  } else if (fault == "engine") {
    in.magicsock_func_error = "ReceiveIPv4";
  }
  health_.SelfCheck(now);
  for (const char* code : {"not-in-map-poll", "no-derp-connection"}) {
    health_.Backdate(code, minutes(9));
  }
  if (push) {
    UpdateHealth();
  } else {
    last_health_ = HealthState().dump();
  }
}

void Backend::Heal(const std::string& fault) {
  if (!faults_.erase(fault)) return;
  auto& in = health_.inputs();
  if (fault == "control") {
    // A new control client whose first MapResponse arrived.
    in.last_streamed_map_response = SteadyClock::now();
    SetOnline(want_running_, "healed");
  } else if (fault == "derp") {
    in.derp_connected = true;
  } else if (fault == "router") {
    in.router_error.clear();
  } else if (fault == "engine") {
    in.magicsock_func_error.clear();
  }
  UpdateHealth();
}

void Backend::SimStart() {
  // The new control client has no map poll until it has logged in.
  if (options_.start_delay_ms > 0) SetOnline(false, "start");
  SetState("Starting");
  auto settle = [this] {
    start_timer_ = 0;
    if (state_ != "Starting") return;
    Heal("control");
    if (!faults_.count("control")) SetOnline(true, "start");
    SetState("Running");
  };
  loop_.CancelTimer(start_timer_);
  if (options_.start_delay_ms > 0) {
    start_timer_ = loop_.AddTimerAfter(
        std::chrono::milliseconds(options_.start_delay_ms), settle);
  } else {
    settle();
  }
}

void Backend::SimWantRunning(bool want) {
  loop_.CancelTimer(start_timer_);
  if (!want) {
    // SetOutOfPollNetMap: only a poll that was on ends.
    if (health_.inputs().in_map_poll) {
      health_.inputs().last_map_poll_ended = SteadyClock::now();
    }
    SetOnline(false, "paused");
    SetState("Stopped");
    return;
  }
  SetState("Starting");
  auto settle = [this] {
    start_timer_ = 0;
    if (state_ != "Starting") return;
    // The engine is rebuilt (routes, DERP); the control client resumes on
    // the connection it had: a dead one stays dead.
    Heal("router");
    Heal("derp");
    if (!faults_.count("control")) SetOnline(true, "resumed");
    SetState("Running");
  };
  if (options_.start_delay_ms > 0) {
    start_timer_ = loop_.AddTimerAfter(
        std::chrono::milliseconds(options_.start_delay_ms), settle);
  } else {
    settle();
  }
}

std::optional<std::string> Backend::SimControl(const std::string& cmd,
                                               const std::string& arg) {
  if (engine_) {
    return "error '" + cmd +
           "' is for the LocalAPI-only mode: in network mode break the path "
           "instead";
  }
  bool flag = false;
  if (cmd == "stuck" && KnownFault(FaultName(arg))) {
    Stuck(arg, true);
    return "ok";
  }
  if (cmd == "heal") {
    const std::vector<std::string> all(faults_.begin(), faults_.end());
    for (const auto& fault : all) {
      if (arg.empty() || FaultName(arg) == fault) Heal(fault);
    }
    return "ok";
  }
  if (cmd == "online" && ParseOnOff(arg, &flag)) {
    SetOnline(flag, "ctl");
    return "ok";
  }
  return std::nullopt;
}

std::optional<std::string> Backend::Control(const std::string& cmd,
                                            const std::string& arg) {
  if (cmd == "stuck" || cmd == "heal" || cmd == "online") {
    auto reply = SimControl(cmd, arg);
    if (reply) return reply;
    return "error malformed '" + cmd + " " + arg + "'";
  }
  bool flag = false;
  if (cmd == "state") {
    const std::vector<std::string> names = {
        "NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
        "Stopped", "Starting",       "Running"};
    if (std::find(names.begin(), names.end(), arg) == names.end()) {
      return "error unknown state '" + arg + "'";
    }
    SetState(arg);
    return "ok";
  }
  if (cmd == "relay") {
    relay_ = arg == "-" ? "" : arg;
    return "ok";
  }
  if (cmd == "warn" && !arg.empty()) {
    health_.SetExtra(arg, HealthTracker::Canned(arg));
    UpdateHealth();
    return "ok";
  }
  if (cmd == "unwarn" && !arg.empty()) {
    health_.ClearExtra(arg);
    UpdateHealth();
    return "ok";
  }
  if (cmd == "clear-warnings") {
    health_.ClearAllExtra();
    UpdateHealth();
    return "ok";
  }
  if (cmd == "down" || cmd == "up") {
    const std::string error = SetWantRunning(cmd == "up");
    return error.empty() ? "ok" : "error " + error;
  }
  if (cmd == "always-on" && ParseOnOff(arg, &flag)) {
    options_.always_on = flag;
    return "ok";
  }
  if (cmd == "start-delay") {
    options_.start_delay_ms = std::atoi(arg.c_str());
    return "ok";
  }
  return std::nullopt;
}

}  // namespace fake
