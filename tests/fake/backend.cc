#include "tests/fake/backend.h"

#include <fstream>
#include <iostream>

namespace fake {
namespace {

using Json = Backend::Json;
using std::chrono::minutes;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

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

std::string RandomHex(size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[TimeScale::Random()() % 16];
  return out;
}

}  // namespace

Backend::Backend(watchdog::EventLoop& loop, BackendOptions options,
                 std::function<void(const std::string&)> broadcast)
    : loop_(loop),
      options_(std::move(options)),
      broadcast_(std::move(broadcast)),
      scale_(options_.time_scale),
      health_(options_.time_scale),
      state_(options_.state),
      want_running_(options_.want_running),
      relay_(options_.relay),
      session_id_(RandomHex(16)),
      log_id_(RandomHex(64)) {}

Backend::~Backend() {
  loop_.CancelTimer(health_timer_);
  loop_.CancelTimer(visibility_timer_);
  loop_.CancelTimer(start_timer_);
}

bool Backend::Init(std::string* error) {
  if (!log_.Open(options_.events_path)) {
    *error = "cannot open --events " + options_.events_path;
    return false;
  }
  auto& in = health_.inputs();
  const auto now = SteadyClock::now();
  if (!options_.engine.control_server.empty()) {
    engine_ = std::make_unique<Engine>(loop_, scale_, log_, *this);
    if (!engine_->Init(options_.engine, error)) return false;
    state_ = want_running_ ? "NoState" : "Stopped";
    in.in_map_poll = false;
    in.derp_connected = false;
    network_up_ = engine_->net_state().AnyInterfaceUp();
    in.any_interface_up = network_up_;
  } else {
    in.in_map_poll = options_.online && want_running_;
    in.last_streamed_map_response = now;
    in.derp_connected = true;
    in.derp_last_frame = now;
    for (const auto& code : options_.warnings) {
      health_.SetExtra(code, HealthTracker::Canned(code));
    }
    if (!options_.health_file.empty()) LoadHealthFile(options_.health_file);
    if (!options_.stuck.empty()) Stuck(options_.stuck, false);
  }
  online_reported_ = in.in_map_poll;
  health_.SetIPNState(state_, want_running_, now);
  last_health_ = HealthState().dump();
  log_.Write("started", {{"mode", network_mode() ? "network" : "localapi"},
                         {"state", state_},
                         {"time_scale", scale_.factor()}});
  if (engine_) ApplyEngineRunState();
  ArmHealthTimer();
  return true;
}

bool Backend::structured_health() const {
  return VersionAtLeast(options_.version, 1, 70);
}

Json Backend::HealthState() const {
  if (!structured_health()) return nullptr;
  return health_.CurrentState(SteadyClock::now());
}

std::string Backend::NotifyLine(const Json& fields, bool with_session) const {
  Json n;
  n["Version"] = options_.version;
  if (with_session) n["SessionID"] = session_id_;
  for (const char* key : {"ErrMessage", "LoginFinished", "State", "Prefs",
                          "NetMap", "Engine", "BrowseToURL", "DriveShares"}) {
    n[key] = fields.contains(key) ? fields[key] : Json(nullptr);
  }
  if (fields.contains("Health")) n["Health"] = fields["Health"];
  return n.dump() + "\n";
}

// --- state, online, health ---------------------------------------------

void Backend::SetState(const std::string& name) {
  if (name == state_) return;
  log_.Write("state", {{"from", state_}, {"to", name}});
  state_ = name;
  broadcast_(NotifyLine({{"State", StateInt(name)}}));
  health_.SetIPNState(state_, want_running_, SteadyClock::now());
  UpdateHealth();
}

// nextStateLocked: Starting -> Running once the engine has a live DERP
// connection (LiveDERPs > 0). It runs on netmap and engine updates.
void Backend::MaybeRunning() {
  if (state_ == "Starting" && want_running_ &&
      health_.inputs().derp_connected) {
    SetState("Running");
  }
}

void Backend::SetOnline(bool online, const std::string& why) {
  health_.inputs().in_map_poll = online;
  if (online == online_reported_) return;
  online_reported_ = online;
  log_.Write("online", {{"value", online}, {"why", why}});
}

void Backend::UpdateHealth() {
  const auto now = SteadyClock::now();
  auto& in = health_.inputs();
  if (!engine_) {
    // LocalAPI-only: what is not broken keeps sending keep-alives.
    if (!faults_.count("control")) in.last_streamed_map_response = now;
    if (!faults_.count("derp")) in.derp_last_frame = now;
  }
  health_.SelfCheck(now);
  const Json state = HealthState();
  const std::string text = state.dump();
  if (structured_health() && text != last_health_) {
    last_health_ = text;
    Json codes = Json::array();
    if (state["Warnings"].is_object()) {
      for (const auto& [code, w] : state["Warnings"].items()) {
        codes.push_back(code);
      }
    }
    log_.Write("health", {{"visible", codes}});
    broadcast_(NotifyLine({{"Health", state}}));
  }
  loop_.CancelTimer(visibility_timer_);
  visibility_timer_ = 0;
  if (auto next = health_.NextVisibility(now)) {
    visibility_timer_ = loop_.AddTimer(*next, [this] {
      visibility_timer_ = 0;
      UpdateHealth();
    });
  }
}

// health.Tracker's timerSelfCheck: every minute.
void Backend::ArmHealthTimer() {
  health_timer_ = loop_.AddTimerAfter(scale_(minutes(1)), [this] {
    UpdateHealth();
    ArmHealthTimer();
  });
}

// LocalBackend pauses the control client while WantRunning is false or no
// interface is up; magicsock closes DERP then (SetNetworkUp(false), the
// engine reconfigured empty) and dials it again after.
void Backend::ApplyEngineRunState() {
  auto& control = engine_->control();
  auto& derp = engine_->derp();
  if (want_running_ && network_up_) {
    if (!control.running()) {
      control.Start();
    } else {
      control.Resume();
    }
    derp.Start();
  } else {
    control.Pause();
    derp.Stop(want_running_ ? "network down" : "WantRunning false");
  }
}

// --- engine events -------------------------------------------------------

void Backend::OnMapResponse() {
  auto& in = health_.inputs();
  in.last_streamed_map_response = SteadyClock::now();
  SetOnline(true, "map response");
  if (state_ == "NoState") SetState("Starting");  // the first netmap
  if (router_pending_) {
    router_pending_ = false;
    engine_->ApplyRouter(true);
  }
  MaybeRunning();
  UpdateHealth();
}

void Backend::OnPollEnded(const std::string& why) {
  health_.inputs().last_map_poll_ended = SteadyClock::now();
  SetOnline(false, why);
  UpdateHealth();
}

void Backend::OnDerpConnected(bool connected) {
  auto& in = health_.inputs();
  in.derp_connected = connected;
  if (connected) in.derp_last_frame = SteadyClock::now();
  MaybeRunning();
  UpdateHealth();
}

void Backend::OnDerpFrame() {
  health_.inputs().derp_last_frame = SteadyClock::now();
  UpdateHealth();
}

void Backend::OnRouterHealth(const std::string& error) {
  health_.inputs().router_error = error;
  UpdateHealth();
}

void Backend::OnNetworkUp(bool up) {
  health_.inputs().any_interface_up = up;
  if (up != network_up_) {
    network_up_ = up;
    ApplyEngineRunState();
  }
  UpdateHealth();
}

// --- steps ---------------------------------------------------------------

void Backend::Start() {
  log_.Write("step", {{"step", "start"}});
  broadcast_(NotifyLine({{"Prefs", Prefs()}}));
  if (!want_running_) return;
  if (!engine_) {
    SimStart();
    return;
  }
  // startLocked: Direct.Close of the old client, a new one, NoState; the
  // netmap is kept, so the state machine says Starting.
  engine_->control().Shutdown("start: Direct.Close");
  SetState("Starting");
  engine_->control().Start();
  ApplyEngineRunState();
}

std::string Backend::SetWantRunning(bool want) {
  if (want == want_running_) return "";
  if (!want && options_.always_on) {
    return "changing WantRunning is not allowed by system policy (AlwaysOn)";
  }
  want_running_ = want;
  log_.Write("step", {{"step", want ? "reup" : "down"}});
  broadcast_(NotifyLine({{"Prefs", Prefs()}}));
  if (!engine_) {
    SimWantRunning(want);
    return "";
  }
  if (!want) {
    ApplyEngineRunState();
    engine_->ApplyRouter(false);
    SetState("Stopped");
    return "";
  }
  // The engine is rebuilt from the netmap it has: routes programmed again.
  SetState("Starting");
  engine_->ApplyRouter(true);
  router_pending_ = false;
  ApplyEngineRunState();
  return "";
}

void Backend::DebugAction(const std::string& action) {
  if (action == "rebind" || action == "restun") {
    log_.Write("step", {{"step", action}});
  }
  if (!engine_) {
    if (action == "rebind" || action == "break-derp-conns") Heal("derp");
    return;
  }
  if (action == "rebind") {
    engine_->Rebind("explicit-debug");
  } else if (action == "restun") {
    // Ignored while stopped (no private key).
    if (want_running_) engine_->ReStun("explicit-debug");
  } else if (action == "break-derp-conns") {
    engine_->derp().Reconnect("break-derp-conns");
  } else if (action == "break-tcp-conns") {
    engine_->control().CloseConnection("break-tcp-conns");
    engine_->derp().Reconnect("break-tcp-conns");
  }
}

void Backend::RestartBegin() {
  ++restarts_;
  log_.Write("step", {{"step", "restart"}});
  loop_.CancelTimer(start_timer_);
  session_id_ = RandomHex(16);
  faults_.clear();
  if (relay_.empty()) relay_ = "fra";
  // A new process: a new health tracker.
  health_ = HealthTracker(scale_.factor());
  auto& in = health_.inputs();
  const auto now = SteadyClock::now();
  if (engine_) {
    engine_->control().Shutdown("restart");
    engine_->derp().Stop("restart");
    in.any_interface_up = network_up_;
    state_ = want_running_ ? "NoState" : "Stopped";
    router_pending_ = true;
    SetOnline(false, "restart");
  } else {
    in.last_streamed_map_response = in.derp_last_frame = now;
    in.derp_connected = true;
    state_ = want_running_ ? "Running" : "Stopped";
    SetOnline(want_running_, "restart");
  }
  health_.SetIPNState(state_, want_running_, now);
  last_health_ = HealthState().dump();
}

void Backend::RestartEnd() {
  if (engine_) ApplyEngineRunState();
  UpdateHealth();
}

// --- views ---------------------------------------------------------------

Json Backend::Prefs() const {
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
  prefs["Config"] = {{"PrivateNodeKey",
                      "privkey:0000000000000000000000000000000000000000000000"
                      "000000000000000000"},
                     {"NodeID", "nRtr8a2Kp11CNTRL"}};
  return prefs;
}

Json Backend::Status() const {
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
  // ipnlocal: Self.Online = health.GetInPollNetMap().
  self["Online"] = health_.inputs().in_map_poll;
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
  status["Version"] = options_.version;
  status["TUN"] = true;
  status["BackendState"] = state_;
  status["HaveNodeKey"] = true;
  status["AuthURL"] = "";
  status["TailscaleIPs"] = self["TailscaleIPs"];
  status["Self"] = self;
  const auto now = SteadyClock::now();
  status["Health"] =
      structured_health() ? health_.Strings(now) : health_.LegacyStrings(now);
  status["MagicDNSSuffix"] = "tail4a5b6c.ts.net";
  status["CurrentTailnet"] = {{"Name", "alice@example.com"},
                              {"MagicDNSSuffix", "tail4a5b6c.ts.net"},
                              {"MagicDNSEnabled", true}};
  status["CertDomains"] = nullptr;
  status["ExtraRecords"] = nullptr;
  status["Peer"] = nullptr;
  status["User"] = nullptr;
  status["ClientVersion"] = nullptr;
  return status;
}

Json Backend::Snapshot() const {
  const auto now = SteadyClock::now();
  Json visible = Json::array();
  const Json state = health_.CurrentState(now);
  if (state["Warnings"].is_object()) {
    for (const auto& [code, w] : state["Warnings"].items()) {
      visible.push_back(code);
    }
  }
  Json out = {{"mode", network_mode() ? "network" : "localapi"},
              {"backend_state", state_},
              {"online", health_.inputs().in_map_poll},
              {"relay", relay_},
              {"want_running", want_running_},
              {"stuck", Json(faults_)},
              {"warnings", visible},
              {"warnings_set", health_.SetCodes()},
              {"restarts", restarts_},
              {"session_id", session_id_},
              {"time_scale", scale_.factor()}};
  if (engine_) out["network"] = engine_->Describe();
  return out;
}

void Backend::LoadHealthFile(const std::string& path) {
  std::ifstream in(path);
  Json doc = Json::parse(in, nullptr, false);
  if (doc.is_object() && doc.contains("Health")) doc = doc["Health"];
  if (!doc.is_object() || !doc.contains("Warnings")) {
    std::cerr << "fake_tailscaled: no health.State in " << path << "\n";
    return;
  }
  if (!doc["Warnings"].is_object()) return;
  for (const auto& [code, warning] : doc["Warnings"].items()) {
    health_.SetExtra(code, warning);
  }
}

}  // namespace fake
