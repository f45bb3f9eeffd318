#include "tests/fake/health_tracker.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>

namespace fake {
namespace {

using Json = nlohmann::ordered_json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Args = HealthTracker::Args;

struct Warnable {
  const char* title;
  const char* severity;
  std::function<std::string(const Args&)> text;
  std::vector<std::string> depends_on;
  HealthTracker::Duration time_to_visible{};
  bool impacts_connectivity = false;
};

std::string Arg(const Args& args, const char* key) {
  auto it = args.find(key);
  return it == args.end() ? "" : it->second;
}

std::function<std::string(const Args&)> Static(const char* text) {
  return [text](const Args&) { return std::string(text); };
}

// health/warnings.go at 1.103.0: the warnables the fake can raise.
const std::map<std::string, Warnable>& Warnables() {
  static const std::map<std::string, Warnable> table = {
      {"network-status",
       {"Network down",
        "medium",
        Static("Tailscale cannot connect because the network is down. Check "
               "your Internet connection."),
        {},
        seconds(5),
        true}},
      {"wantrunning-false",
       {"Tailscale off",
        "low",
        Static("Tailscale is stopped."),
        {},
        {},
        false}},
      {"not-in-map-poll",
       {"Out of sync",
        "medium",
        Static("Unable to connect to the Tailscale coordination server to "
               "synchronize the state of your tailnet. Peer reachability "
               "might degrade over time."),
        {"network-status", "wantrunning-false"},
        minutes(8),
        false}},
      {"no-derp-home",
       {"No home relay server",
        "medium",
        Static("Tailscale could not connect to any relay server. Check your "
               "Internet connection."),
        {"network-status"},
        seconds(10),
        true}},
      {"no-derp-connection",
       {"Relay server unavailable",
        "medium",
        [](const Args& a) {
          return "Tailscale could not connect to the '" +
                 Arg(a, "derp-region-name") +
                 "' relay server. Your Internet connection might be down, or "
                 "the server might be temporarily unavailable.";
        },
        {"network-status", "no-derp-home"},
        seconds(10),
        true}},
      {"derp-timed-out",
       {"Relay server timed out",
        "medium",
        [](const Args& a) {
          return "Tailscale hasn't heard from the '" +
                 Arg(a, "derp-region-name") + "' relay server in " +
                 Arg(a, "duration") +
                 ". The server might be temporarily unavailable, or your "
                 "Internet connection might be down.";
        },
        {"network-status", "no-derp-connection", "no-derp-home"},
        {},
        false}},
      {"mapresponse-timeout",
       {"Network map response timeout",
        "medium",
        [](const Args& a) {
          return "Tailscale hasn't received a network map from the "
                 "coordination server in " +
                 Arg(a, "duration") + ".";
        },
        {"network-status", "wantrunning-false"},
        {},
        false}},
      {"magicsock-receive-func-error",
       {"MagicSock function not running",
        "medium",
        [](const Args& a) {
          return "The MagicSock function " + Arg(a, "magicsock-function-name") +
                 " is not running. You might experience connectivity issues.";
        },
        {},
        {},
        false}},
      {"warming-up",
       {"Tailscale is starting",
        "low",
        Static("Tailscale is starting. Please wait."),
        {},
        {},
        false}},
      // A legacy subsystem (health.SysRouter): empty title, the error text.
      {"router",
       {"",
        "medium",
        [](const Args& a) { return Arg(a, "LegacyError"); },
        {},
        {},
        false}},
  };
  return table;
}

// Go's time.Duration.String() for whole seconds: "2m5s", "9m12s", "45s".
std::string GoDuration(HealthTracker::Duration d) {
  const int64_t total = duration_cast<seconds>(d).count();
  const int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  std::string out;
  if (h > 0) out += std::to_string(h) + "h";
  if (h > 0 || m > 0) out += std::to_string(m) + "m";
  return out + std::to_string(s) + "s";
}

std::string Rfc3339(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[96];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf,
                static_cast<long long>(unix_ms % 1000));
  return out;
}

// An opaque, stable ETag: equal contents, equal tag (state.go only promises
// that). tailscaled hashes with SHA-256; four FNV-1a rounds give the same
// 64-hex shape without a crypto library.
std::string ETag(const std::string& content) {
  std::string out;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    uint64_t h = 1469598103934665603ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
    for (unsigned char c : content) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    char part[17];
    std::snprintf(part, sizeof part, "%016llx",
                  static_cast<unsigned long long>(h));
    out += part;
  }
  return out;
}

int64_t WallMillisAt(HealthTracker::Time t) {
  const auto mono = std::chrono::steady_clock::now();
  const auto wall = std::chrono::system_clock::now();
  return duration_cast<milliseconds>(wall.time_since_epoch()).count() -
         duration_cast<milliseconds>(mono - t).count();
}

}  // namespace

HealthTracker::Duration HealthTracker::Scaled(Duration real) const {
  const auto ms = duration_cast<milliseconds>(real).count();
  return milliseconds(
      std::max<int64_t>(1, std::llround(static_cast<double>(ms) * scale_)));
}

void HealthTracker::SetUnhealthy(const std::string& code, Args args, Time now) {
  auto it = set_.find(code);
  if (it != set_.end()) {
    it->second.args = std::move(args);  // BrokenSince is kept
    return;
  }
  set_[code] = Warning{now, WallMillisAt(now), std::move(args)};
}

bool HealthTracker::Visible(const std::string& code, const Warning& w,
                            Time now) const {
  auto it = Warnables().find(code);
  if (it == Warnables().end() || it->second.time_to_visible == Duration{}) {
    return true;
  }
  return now - w.since >= Scaled(it->second.time_to_visible);
}

bool HealthTracker::EffectivelyHealthy(const std::string& code) const {
  if (!set_.count(code)) return true;
  for (const auto& dep : Warnables().at(code).depends_on) {
    if (!EffectivelyHealthy(dep)) return true;
  }
  return false;
}

void HealthTracker::CheckDerp(Time now) {
  const Inputs& in = inputs_;
  const Duration too_idle = Scaled(minutes(2) + seconds(5));
  const bool recently_on =
      in.want_running_last_true &&
      now - *in.want_running_last_true < Scaled(seconds(5));
  const int home = in.derp_home_region;
  const Args region = {{"derp-region-id", std::to_string(home)},
                       {"derp-region-name", in.derp_home_name}};
  if (recently_on || !in.in_map_poll) {
    SetHealthy("no-derp-home");
    SetHealthy("no-derp-connection");
    SetHealthy("derp-timed-out");
  } else if (!in.want_running || home != 0) {
    SetHealthy("no-derp-home");
  } else {
    SetUnhealthy("no-derp-home", {}, now);
  }
  // Evaluated whether in a map poll or not (health.go, as at 1.103.0).
  if (home != 0 && in.derp_connected) {
    SetHealthy("no-derp-connection");
    const Duration idle =
        in.derp_last_frame ? now - *in.derp_last_frame : Duration::max() / 2;
    if (idle < too_idle) {
      SetHealthy("derp-timed-out");
    } else {
      Args args = region;
      args["duration"] = GoDuration(idle);
      SetUnhealthy("derp-timed-out", args, now);
    }
  } else if (home != 0) {
    SetUnhealthy("no-derp-connection", region, now);
  } else {
    SetHealthy("no-derp-connection");
  }
}

void HealthTracker::CheckControl(Time now) {
  const Inputs& in = inputs_;
  if (!in.want_running) {
    SetUnhealthy("wantrunning-false", {{"State", in.ipn_state}}, now);
    return;
  }
  SetHealthy("wantrunning-false");
  if (!in.in_map_poll &&
      (!in.last_map_poll_ended ||
       now - *in.last_map_poll_ended > Scaled(seconds(10)))) {
    SetUnhealthy("not-in-map-poll", {}, now);
    return;
  }
  SetHealthy("not-in-map-poll");
  const Duration idle = in.last_streamed_map_response
                            ? now - *in.last_streamed_map_response
                            : Duration::max() / 2;
  if (idle > Scaled(minutes(2) + seconds(5))) {
    SetUnhealthy("mapresponse-timeout", {{"duration", GoDuration(idle)}}, now);
    return;
  }
  SetHealthy("mapresponse-timeout");
  if (!in.magicsock_func_error.empty()) {
    SetUnhealthy("magicsock-receive-func-error",
                 {{"magicsock-function-name", in.magicsock_func_error}}, now);
  } else {
    SetHealthy("magicsock-receive-func-error");
  }
}

void HealthTracker::SetIPNState(const std::string& state, bool want_running,
                                Time now) {
  const bool previous = inputs_.want_running;
  inputs_.ipn_state = state;
  inputs_.want_running = want_running;
  if (state == "Running") {
    SetHealthy("warming-up");
  } else if (want_running && !previous && !inputs_.want_running_last_true) {
    inputs_.want_running_last_true = now;
    SetUnhealthy("warming-up", {}, now);
  } else if (!want_running) {
    inputs_.want_running_last_true.reset();
  }
  SelfCheck(now);
}

void HealthTracker::SelfCheck(Time now) {
  const Inputs& in = inputs_;
  // updateWarmingUpWarnableLocked and SetIPNState: warming up from the
  // first WantRunning=true until Running, at most 5 s.
  if (in.ipn_state == "Running" ||
      (in.want_running_last_true &&
       now - *in.want_running_last_true > Scaled(seconds(5)))) {
    SetHealthy("warming-up");
  }
  if (in.any_interface_up && !*in.any_interface_up) {
    SetUnhealthy("network-status", {}, now);
  } else {
    SetHealthy("network-status");
  }
  if (in.router_error.empty()) {
    SetHealthy("router");
  } else {
    SetUnhealthy("router", {{"LegacyError", in.router_error}}, now);
  }
  CheckDerp(now);
  CheckControl(now);
}

void HealthTracker::Backdate(const std::string& code, Duration by) {
  auto it = set_.find(code);
  if (it == set_.end()) return;
  it->second.since -= by;
  it->second.since_unix_ms -= duration_cast<milliseconds>(by).count();
}

nlohmann::ordered_json HealthTracker::Canned(const std::string& code) {
  if (!Warnables().count(code)) {
    Json u = {{"WarnableCode", code},
              {"Severity", "medium"},
              {"Title", code},
              {"Text", "fake warning " + code},
              {"DependsOn", {"warming-up"}}};
    u["ETag"] = ETag(u.dump());
    return u;
  }
  Args args;
  if (code.find("derp-") != std::string::npos) {
    args = {{"derp-region-id", "4"}, {"derp-region-name", "Frankfurt"}};
  }
  if (code == "derp-timed-out" || code == "mapresponse-timeout") {
    args["duration"] = "9m12s";
  }
  if (code == "router") {
    args["LegacyError"] = "2 add route failures; first was: network is down";
  }
  if (code == "magicsock-receive-func-error") {
    args["magicsock-function-name"] = "ReceiveIPv4";
  }
  HealthTracker t;
  const Time now = std::chrono::steady_clock::now();
  t.SetUnhealthy(code, args, now);
  t.Backdate(code, minutes(10));
  return t.CurrentState(now)["Warnings"][code];
}

void HealthTracker::SetExtra(const std::string& code,
                             const nlohmann::ordered_json& state) {
  extra_[code] = state;
}

void HealthTracker::ClearExtra(const std::string& code) { extra_.erase(code); }

nlohmann::ordered_json HealthTracker::CurrentState(Time now) const {
  Json warnings = nullptr;
  for (const auto& [code, w] : set_) {
    if (!Visible(code, w, now) || EffectivelyHealthy(code)) continue;
    const Warnable& def = Warnables().at(code);
    Json u;
    u["WarnableCode"] = code;
    u["Severity"] = def.severity;
    u["Title"] = def.title;
    u["Text"] = def.text(w.args);
    u["BrokenSince"] = Rfc3339(w.since_unix_ms);
    if (!w.args.empty()) u["Args"] = w.args;
    Json depends = def.depends_on;
    if (code != "warming-up") depends.push_back("warming-up");
    u["DependsOn"] = depends;
    if (def.impacts_connectivity) u["ImpactsConnectivity"] = true;
    u["ETag"] = ETag(u.dump());
    warnings[code] = u;
  }
  for (const auto& [code, state] : extra_) warnings[code] = state;
  return {{"Warnings", warnings}};
}

std::vector<std::string> HealthTracker::Strings(Time now) const {
  std::vector<std::string> out;
  const Json state = CurrentState(now);
  if (!state["Warnings"].is_object()) return out;
  for (const auto& [code, w] : state["Warnings"].items()) {
    out.push_back(w.value("Text", ""));
  }
  return out;
}

std::vector<std::string> HealthTracker::LegacyStrings(Time now) const {
  const Inputs& in = inputs_;
  const Duration too_idle = Scaled(minutes(2) + seconds(5));
  std::vector<std::string> out;
  if (!in.router_error.empty()) out.push_back(in.router_error);
  auto idle = [&](const std::optional<Time>& since) {
    return since ? now - *since : Duration::max() / 2;
  };
  const std::string region = std::to_string(in.derp_home_region);
  if (in.any_interface_up && !*in.any_interface_up) {
    out.push_back("network down");
  } else if (!in.want_running) {
    out.push_back("state=" + in.ipn_state + ", wantRunning=false");
  } else if (!in.in_map_poll &&
             (!in.last_map_poll_ended ||
              now - *in.last_map_poll_ended > Scaled(seconds(10)))) {
    out.push_back("not in map poll");
  } else if (idle(in.last_streamed_map_response) > too_idle) {
    out.push_back("no map response in " +
                  GoDuration(idle(in.last_streamed_map_response)));
  } else if (in.derp_home_region == 0) {
    out.push_back("no DERP home");
  } else if (!in.derp_connected) {
    out.push_back("not connected to home DERP region " + region);
  } else if (idle(in.derp_last_frame) > too_idle) {
    out.push_back("haven't heard from home DERP region " + region + " in " +
                  GoDuration(idle(in.derp_last_frame)));
  }
  for (const auto& [code, state] : extra_) {
    out.push_back(state.value("Text", code));
  }
  return out;
}

std::vector<std::string> HealthTracker::SetCodes() const {
  std::vector<std::string> out;
  for (const auto& [code, w] : set_) out.push_back(code);
  for (const auto& [code, state] : extra_) out.push_back(code);
  return out;
}

std::optional<HealthTracker::Time> HealthTracker::NextVisibility(
    Time now) const {
  std::optional<Time> next;
  for (const auto& [code, w] : set_) {
    if (Visible(code, w, now)) continue;
    const Time at = w.since + Scaled(Warnables().at(code).time_to_visible);
    if (!next || at < *next) next = at;
  }
  return next;
}

namespace {

// major, minor of "1.102.3-t53a0d659a" / "1.98.3-1 (OpenWrt)"; 0, 0 if
// unparsable.
std::pair<int, int> MajorMinor(const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

}  // namespace

bool VersionAtLeast(const std::string& version, int major, int minor) {
  return MajorMinor(version) >= std::make_pair(major, minor);
}

int CapabilityVersion(const std::string& version) {
  // tailcfg.CurrentCapabilityVersion at each release tag.
  static const std::vector<std::pair<std::pair<int, int>, int>> table = {
      {{1, 103}, 145}, {{1, 102}, 142}, {{1, 100}, 141},
      {{1, 98}, 138},  {{1, 92}, 131},  {{1, 80}, 113},
      {{1, 70}, 102},  {{1, 66}, 95},   {{1, 58}, 85}};
  const auto mm = MajorMinor(version);
  for (const auto& [at, cap] : table) {
    if (mm >= at) return cap;
  }
  return 85;
}

}  // namespace fake
