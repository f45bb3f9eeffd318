#include "watchdog/doctor/checks.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "netlink/address.h"
#include "netlink/model.h"

namespace watchdog {
namespace {

using std::chrono::microseconds;

// Sets a single-valued setting: edit the drop-in that sets it last (a new
// drop-in sorting before it would lose), else a new drop-in.
void SetScalar(const LoadedUnit& unit, const UnitEntry* last,
               const std::string& section, const std::string& key,
               const std::string& value, std::string_view dropin,
               DoctorFinding* finding) {
  if (last != nullptr && unit.IsDropIn(last->file)) {
    finding->steps.push_back("in " + Where(*last) + " change `" +
                             Assignment(*last) + "` to `" + key + "=" + value +
                             "`");
    return;
  }
  finding->files.push_back({DropInPath(unit.name, dropin),
                            "[" + section + "]\n" + key + "=" + value + "\n"});
}

std::string Plural(size_t n, const std::string& what) {
  return n == 0 ? "" : " + " + std::to_string(n) + what + (n > 1 ? "s" : "");
}

// An address token of a listen value or command line, without its port,
// brackets, prefix length or zone.
std::optional<std::string> TailscaleAddressIn(std::string token) {
  if (token.empty()) return std::nullopt;
  if (token.front() == '[') {  // [v6]:port
    const size_t close = token.find(']');
    if (close == std::string::npos) return std::nullopt;
    token = token.substr(1, close - 1);
  } else if (std::count(token.begin(), token.end(), ':') == 1) {  // v4:port
    token = token.substr(0, token.find(':'));
  }
  token = token.substr(0, token.find_first_of("/%"));
  const std::optional<netlink::IpAddress> ip = netlink::IpAddress::Parse(token);
  if (!ip) return std::nullopt;
  for (const netlink::Prefix& prefix :
       netlink::IgnorePolicy::DefaultTailscalePrefixes()) {
    if (prefix.Contains(*ip)) return token;
  }
  return std::nullopt;
}

}  // namespace

std::string DropInPath(const std::string& unit, std::string_view file) {
  return "/etc/systemd/system/" + unit + ".d/" + std::string(file);
}

std::optional<std::string> FindTailscaleAddress(std::string_view text) {
  std::string token;
  for (char c : std::string(text) + " ") {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' ||
        c == ',' || c == '=' || c == ';') {
      if (auto found = TailscaleAddressIn(token)) return found;
      token.clear();
    } else {
      token += c;
    }
  }
  return std::nullopt;
}

void NoteTailscaled(const SystemView& view, const DoctorInputs& /*in*/,
                    DoctorReport* report) {
  if (!view.tailscaled) {
    report->notes.push_back(
        std::string(kTailscaledUnit) + " " + view.tailscaled_absent +
        ": tailscaled's ordering and start limits not checked");
    return;
  }
  const LoadedUnit& ts = *view.tailscaled;
  report->notes.push_back(
      "tailscaled.service: " +
      (ts.fragment.empty() ? std::string("(no fragment)") : ts.fragment) +
      Plural(ts.dropins.size(), " drop-in"));
}

// --- network-online.target
// -----------------------------------------------------

namespace {

void CheckOrderedAfterNetworkOnline(const LoadedUnit& ts,
                                    DoctorReport* report) {
  const bool after = ts.ListHas("Unit", "After", "network-online.target");
  const bool wants = ts.ListHas("Unit", "Wants", "network-online.target") ||
                     ts.ListHas("Unit", "Requires", "network-online.target");
  if (after && wants) return;
  DoctorFinding f;
  f.id = "tailscaled-network-online";
  f.unit = kTailscaledUnit;
  f.what = std::string(kTailscaledUnit) + " is not ordered after " +
           "network-online.target (" +
           (after   ? "After= but no Wants="
            : wants ? "Wants= but no After="
                    : "neither Wants= nor After=") +
           ")";
  f.why =
      "at boot tailscaled can start before the uplink is configured "
      "(\"magicsock: SetNetworkUp(false)\", \"could not connect to any "
      "relay server\") and stay offline until it is restarted.";
  f.files.push_back({DropInPath(kTailscaledUnit, kWaitOnlineDropInName),
                     std::string(kWaitOnlineDropIn)});
  f.commands.push_back("systemctl daemon-reload");
  report->findings.push_back(std::move(f));
}

}  // namespace

void CheckNetworkOnline(const SystemView& view, const DoctorInputs& /*in*/,
                        DoctorReport* report) {
  if (!view.tailscaled) return;
  CheckOrderedAfterNetworkOnline(*view.tailscaled, report);
  // network-online.target means something only with a wait-online service.
  if (!view.network_online_providers.empty()) {
    std::string list;
    for (const auto& p : view.network_online_providers) {
      list += (list.empty() ? "" : ", ") + p;
    }
    report->notes.push_back("network-online.target is reached through " + list);
    return;
  }
  DoctorFinding f;
  f.id = "network-online-empty";
  f.unit = "network-online.target";
  f.what =
      "nothing is enabled in network-online.target (no wait-online service)";
  f.why =
      "the target is reached at once, so ordering tailscaled after it does "
      "not wait for the network and the boot race stays.";
  if (view.wait_online_candidate.empty()) {
    f.steps.push_back(
        "enable the wait-online service of your network manager "
        "(NetworkManager-wait-online.service, "
        "systemd-networkd-wait-online.service or "
        "ifupdown-wait-online.service)");
  } else {
    f.commands.push_back("systemctl enable " + view.wait_online_candidate);
  }
  report->findings.push_back(std::move(f));
}

// --- Start limits
// ---------------------------------------------------------------

namespace {

// tailscaled's effective start limit and restart settings, and the
// assignments that set them (nullptr: a default).
struct StartLimits {
  microseconds interval;
  int burst;
  const UnitEntry* interval_entry;
  const UnitEntry* burst_entry;
  std::string restart;
  microseconds restart_sec{100000};  // systemd's default
  const UnitEntry* restart_sec_entry;

  std::string Text() const {
    return "StartLimitIntervalSec=" + FormatSpan(interval) +
           ", StartLimitBurst=" + std::to_string(burst);
  }
};

StartLimits EffectiveStartLimits(const LoadedUnit& ts,
                                 const ManagerDefaults& defaults) {
  StartLimits l{defaults.start_limit_interval,
                defaults.start_limit_burst,
                ts.Last("Unit", "StartLimitIntervalSec"),
                ts.Last("Unit", "StartLimitBurst"),
                "no",
                microseconds(100000),
                ts.Last("Service", "RestartSec")};
  if (!l.interval_entry) {
    l.interval_entry = ts.Last("Service", "StartLimitInterval");
  }
  if (!l.burst_entry) l.burst_entry = ts.Last("Service", "StartLimitBurst");
  if (l.interval_entry) {
    if (auto span = ParseTimeSpan(l.interval_entry->value)) l.interval = *span;
  }
  if (l.burst_entry) l.burst = std::atoi(l.burst_entry->value.c_str());
  if (const UnitEntry* restart = ts.Last("Service", "Restart")) {
    l.restart = restart->value;
  }
  if (l.restart_sec_entry) {
    if (auto span = ParseTimeSpan(l.restart_sec_entry->value)) {
      l.restart_sec = *span;
    }
  }
  return l;
}

// The limit is off: only a fast automatic restart makes that a problem.
void CheckDisabledStartLimit(const LoadedUnit& ts, const StartLimits& l,
                             DoctorReport* report) {
  if (l.restart == "no" || l.restart_sec >= std::chrono::seconds(1)) {
    report->notes.push_back(
        "tailscaled's start limit is off but restarts are " +
        std::string(l.restart == "no" ? "off" : "spaced") +
        " (Restart=" + l.restart + ", RestartSec=" + FormatSpan(l.restart_sec) +
        "): no restart storm");
    return;
  }
  DoctorFinding f;
  f.id = "start-limit-disabled";
  f.unit = kTailscaledUnit;
  const UnitEntry* culprit =
      l.interval.count() == 0 ? l.interval_entry : l.burst_entry;
  f.what = std::string(kTailscaledUnit) + " has its start limit disabled (" +
           (culprit ? "`" + Assignment(*culprit) + "` at " + Where(*culprit)
                    : l.Text()) +
           ") with Restart=" + l.restart +
           " and RestartSec=" + FormatSpan(l.restart_sec);
  f.why =
      "a tailscaled that keeps failing at start (no network yet, a bad state "
      "file) is restarted every " +
      FormatSpan(l.restart_sec) +
      " for ever, flooding the journal and burning CPU, and never reaches "
      "the failed state that would make the problem visible.";
  SetScalar(ts, l.restart_sec_entry, "Service", "RestartSec", "5s",
            "10-restart-delay.conf", &f);
  f.commands.push_back("systemctl daemon-reload");
  report->findings.push_back(std::move(f));
}

// Starts inside one window: the boot (or manual) start, one automatic
// Restart=, and tswatchdog's restart steps: all of its hourly budget for a
// window over a minute; at most one in a shorter one (a restart comes only
// after a full ladder pass, minutes apart).
void CheckTightStartLimit(const LoadedUnit& ts, const StartLimits& l,
                          const DoctorInputs& in, DoctorReport* report) {
  const int ours = in.ladder_has_restart ? in.max_disruptive_per_hour : 0;
  const int needed =
      2 + (l.interval > std::chrono::seconds(60) ? ours : std::min(ours, 1));
  if (l.burst >= needed) {
    report->notes.push_back("tailscaled's start limit " + l.Text() +
                            " leaves room for tswatchdog's restarts");
    return;
  }
  DoctorFinding f;
  f.id = "start-limit-tight";
  f.unit = kTailscaledUnit;
  f.what = std::string(kTailscaledUnit) + " allows only " +
           std::to_string(l.burst) + " start" + (l.burst == 1 ? "" : "s") +
           " per " + FormatSpan(l.interval) + " (" +
           (l.burst_entry ? "`" + Assignment(*l.burst_entry) + "` at " +
                                Where(*l.burst_entry)
                          : l.Text()) +
           ")";
  f.why =
      "a start plus one automatic restart plus tswatchdog's restart step (up "
      "to " +
      std::to_string(ours) + " per hour, max_disruptive_per_hour) need " +
      std::to_string(needed) +
      " starts in that window; beyond the limit systemd refuses \"start "
      "request repeated too quickly\" and tailscaled stays down until "
      "`systemctl reset-failed tailscaled`.";
  SetScalar(ts, l.burst_entry, l.burst_entry ? l.burst_entry->section : "Unit",
            "StartLimitBurst", std::to_string(needed), "10-start-limit.conf",
            &f);
  f.commands.push_back("systemctl daemon-reload");
  report->findings.push_back(std::move(f));
}

}  // namespace

void CheckStartLimits(const SystemView& view, const DoctorInputs& in,
                      DoctorReport* report) {
  if (!view.tailscaled) return;
  const StartLimits limits =
      EffectiveStartLimits(*view.tailscaled, view.manager);
  if (limits.interval.count() == 0 || limits.burst <= 0) {
    CheckDisabledStartLimit(*view.tailscaled, limits, report);
  } else {
    CheckTightStartLimit(*view.tailscaled, limits, in, report);
  }
}

}  // namespace watchdog
