#include "watchdog/daemon/snapshot.h"

#include "watchdog/daemon/mwan3_json.h"
#include "watchdog/daemon/state_file.h"
#include "watchdog/daemon/uplink_json.h"

namespace watchdog {
namespace {

using nlohmann::json;

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

// {"rebind": 3, "start": 1}: the steps issued at least once, by name.
json ActionsJson(const std::map<LadderStep, uint64_t>& actions) {
  json out = json::object();
  for (const auto& [step, count] : actions) out[StepName(step)] = count;
  return out;
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

// tailscaled's connections as judged at the last check (`checked`), and the
// diagnosis (README, "State file").
json ConnectionsJson(const Evidence& evidence,
                     const std::optional<MonoTime>& checked,
                     const ClockPair& clocks) {
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
  json out = {{"known", evidence.known},
              {"list", std::move(list)},
              {"findings", std::move(findings)}};
  if (checked) {
    const auto at = clocks.ToWall(*checked);
    out["checked"] = FormatWallTime(at);
    out["checked_unix_ms"] = UnixMs(at);
  }
  return out;
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
        {"actions", ActionsJson(counters.actions)},
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
      {"connections",
       ConnectionsJson(snapshot.evidence, snapshot.evidence_checked, clocks)},
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

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A character that continues a word or a number ("wan0", "10.0.0.1:80").
bool ContinuesWord(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         c == '.' || c == ':' || c == '_';
}

// The length of the duration at the start of `text` ("1.5 s", "250 ms"), 0
// when there is none.
size_t DurationAt(std::string_view text) {
  size_t end = 0;
  while (end < text.size() && IsDigit(text[end])) ++end;
  if (end == 0) return 0;
  if (end + 1 < text.size() && text[end] == '.' && IsDigit(text[end + 1])) {
    for (++end; end < text.size() && IsDigit(text[end]);) ++end;
  }
  for (std::string_view unit : {" ms", " s"}) {
    const std::string_view rest = text.substr(end);
    if (rest.starts_with(unit) &&
        (rest.size() == unit.size() || !ContinuesWord(rest[unit.size()]))) {
      return end + unit.size();
    }
  }
  return 0;
}

void MaskTextField(json& object, const char* key) {
  auto it = object.find(key);
  if (it != object.end() && it->is_string()) {
    *it = MaskDurations(it->get<std::string>());
  }
}

}  // namespace

std::string MaskDurations(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const bool starts_word = i == 0 || !ContinuesWord(text[i - 1]);
    const size_t length = starts_word ? DurationAt(text.substr(i)) : 0;
    if (length > 0) {
      out += '#';
      i += length;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string StableContent(const Snapshot& snapshot) {
  // Wall times from the monotonic clock alone: ToWall(t) is t's offset from
  // the monotonic epoch, the same at every rendering.
  const ClockPair monotonic{std::chrono::system_clock::time_point{},
                            MonoTime{}};
  json state = StateJson(snapshot, monotonic, /*pid=*/0);
  state.erase("updated");
  state.erase("updated_unix_ms");
  json& connections = state["connections"];
  connections.erase("checked");
  connections.erase("checked_unix_ms");
  for (json& c : connections["list"]) MaskTextField(c, "evidence");
  for (json& f : connections["findings"]) MaskTextField(f, "evidence");
  MaskTextField(state["diagnosis"], "summary");
  return state.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace watchdog
