#include "watchdog/daemon/snapshot.h"

#include "watchdog/daemon/mwan3_json.h"
#include "watchdog/daemon/state_file.h"
#include "watchdog/daemon/uplink_json.h"

namespace watchdog {
namespace {

using nlohmann::json;

int64_t UnixMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             time.time_since_epoch())
      .count();
}

json TailscaleJson(const TailscaleView& view) {
  json tailscale = {
      {"backend_state",
       view.backend_state ? json(*view.backend_state) : json(nullptr)},
      {"online", view.online ? json(*view.online) : json(nullptr)},
      {"warnings", view.warnings},
      {"verdict", view.verdict
                      ? json(std::string(HealthKindName(view.verdict->kind)))
                      : json(nullptr)},
      {"reasons", json::array()},
      {"error", view.error.empty() ? json(nullptr) : json(view.error)}};
  if (view.version) tailscale["version"] = *view.version;
  if (view.verdict) {
    for (const auto& reason : view.verdict->reasons) {
      tailscale["reasons"].push_back(reason.code);
    }
  }
  return tailscale;
}

json LastActionJson(const std::optional<LastAction>& action,
                    const ClockPair& clocks) {
  if (!action) return nullptr;
  const auto at = clocks.ToWall(action->at);
  return {{"step", StepName(action->step)},
          {"at", FormatWallTime(at)},
          {"at_unix_ms", UnixMs(at)},
          {"finished", action->finished},
          {"ok", action->ok},
          {"error", action->error}};
}

// tailscaled's connections as judged at the last check, and the diagnosis
// (README, "State file").
json ConnectionsJson(const Evidence& evidence) {
  json list = json::array();
  for (const JudgedConnection& c : evidence.connections) {
    if (c.kind == ConnectionKind::kOther) continue;
    list.push_back(
        {{"kind", c.kind == ConnectionKind::kControl ? "control" : "derp"},
         {"verdict", VerdictName(c.verdict)},
         {"local", c.local.ToString()},
         {"remote", c.remote.ToString()},
         {"new_since_change", c.new_since_change},
         {"evidence", c.evidence}});
  }
  json findings = json::array();
  for (const Finding& f : evidence.findings) {
    findings.push_back({{"source", f.source}, {"evidence", f.evidence}});
  }
  return {{"known", evidence.known},
          {"list", std::move(list)},
          {"findings", std::move(findings)}};
}

json DiagnosisJson(const Diagnosis& d) {
  return {{"fault", d.fault ? json(FaultName(*d.fault)) : json(nullptr)},
          {"confirmed", d.confirmed},
          {"handling", d.handling},
          {"summary", d.Describe()}};
}

json MarkerJson(const std::optional<SupportMarker>& marker,
                const ClockPair& clocks) {
  if (!marker) return nullptr;
  const auto at = clocks.ToWall(marker->at);
  return {{"marker", marker->marker},
          {"note", marker->note},
          {"at", FormatWallTime(at)},
          {"at_unix_ms", UnixMs(at)}};
}

}  // namespace

json StateJson(const Snapshot& snapshot, const ClockPair& clocks, int pid) {
  const auto since = clocks.ToWall(snapshot.since);
  const Counters& counters = snapshot.counters;
  return {
      {"state", StateName(snapshot.state)},
      {"since", FormatWallTime(since)},
      {"since_unix_ms", UnixMs(since)},
      {"updated", FormatWallTime(clocks.wall)},
      {"updated_unix_ms", UnixMs(clocks.wall)},
      {"pid", pid},
      {"dry_run", snapshot.dry_run},
      {"uplink", UplinkViewToJson(snapshot.uplink)},
      {"tailscale", TailscaleJson(snapshot.tailscale)},
      {"last_action", LastActionJson(snapshot.last_action, clocks)},
      {"ladder_step", snapshot.ladder_step
                          ? json(std::string(StepName(*snapshot.ladder_step)))
                          : json(nullptr)},
      {"counters",
       {{"uplink_changes", counters.uplink_changes},
        {"actions", counters.actions},
        {"recoveries", counters.recoveries},
        {"disruptive_skipped", counters.disruptive_skipped},
        {"gave_up", counters.gave_up}}},
      {"exhausted_passes", snapshot.exhausted_passes},
      {"disruptive_last_hour", snapshot.disruptive_last_hour},
      {"max_disruptive_per_hour", snapshot.max_disruptive_per_hour},
      {"last_time_to_recover_ms",
       snapshot.last_time_to_recover
           ? json(snapshot.last_time_to_recover->count())
           : json(nullptr)},
      {"mwan3", snapshot.mwan3 ? Mwan3StatusToJson(*snapshot.mwan3, clocks)
                               : json(nullptr)},
      {"connections", ConnectionsJson(snapshot.evidence)},
      {"diagnosis", DiagnosisJson(snapshot.diagnosis)},
      {"support_marker", MarkerJson(snapshot.support_marker, clocks)},
  };
}

std::string StatusLine(const Snapshot& snapshot) {
  std::string status(StateName(snapshot.state));
  if (snapshot.tailscale.verdict) {
    status += "; tailscale " +
              std::string(HealthKindName(snapshot.tailscale.verdict->kind));
  }
  const netlink::UplinkView& view = snapshot.uplink;
  if (view.AnyUsable()) {
    status += "; uplink " + (view.v4.usable() ? view.v4.dev : view.v6.dev);
  } else {
    status += "; no uplink";
  }
  return status;
}

}  // namespace watchdog
