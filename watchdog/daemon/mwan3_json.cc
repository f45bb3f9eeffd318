#include "watchdog/daemon/mwan3_json.h"

#include <fmt/format.h>

#include "watchdog/daemon/state_file.h"

namespace watchdog {
namespace {

using nlohmann::json;

std::string HexText(uint32_t value) { return fmt::format("{:#x}", value); }

json CleanupJson(const FlowCleanupReport& r, const ClockPair& clocks) {
  const auto at = clocks.ToWall(r.at);
  json tcp = json::array();
  for (const MovedConnection& c : r.tcp_on_dead_wan) {
    tcp.push_back(c.local.ToString() + " -> " + c.remote.ToString());
  }
  return {{"wan", r.order.wan},
          {"id", r.order.id},
          {"mark", HexText(r.order.mark) + "/" + HexText(r.order.mask)},
          {"at", FormatWallTime(at)},
          {"at_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                             at.time_since_epoch())
                             .count()},
          {"dry_run", r.dry_run},
          {"sockets", r.sockets},
          {"matched", r.matched},
          {"deleted", r.deleted},
          {"error", r.error.empty() ? json(nullptr) : json(r.error)},
          {"tcp_on_dead_wan", tcp},
          {"why", r.order.why},
          {"summary", r.Describe()}};
}

// Reads without throwing (a state file of another version may differ).
const json& Member(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string Str(const json& value, const char* fallback = "?") {
  return value.is_string() ? value.get<std::string>() : fallback;
}

double Num(const json& value) {
  return value.is_number() ? value.get<double>() : 0;
}

void Help(std::string* out, const char* name, const char* type,
          const char* help) {
  *out += fmt::format("# HELP tswatchdog_mwan3_{} {}\n", name, help);
  *out += fmt::format("# TYPE tswatchdog_mwan3_{} {}\n", name, type);
}

}  // namespace

json Mwan3ViewToJson(const Mwan3View& view) {
  json wans = json::array();
  for (const Mwan3Wan& wan : view.wans) {
    wans.push_back({{"name", wan.name},
                    {"id", wan.id},
                    {"family", std::string(netlink::FamilyName(wan.family))},
                    {"device", wan.device},
                    {"state", WanStateName(wan.state)},
                    {"tracker", WanStateName(wan.track)}});
  }
  const Mwan3Rules& rules = view.rules;
  return {{"present", rules.present},
          {"tailscale_mode", TailscaleRuleModeName(rules.mode)},
          {"tailscale_rule", rules.mode == TailscaleRuleMode::kNone
                                 ? json(nullptr)
                                 : json(rules.tailscale_base + 10)},
          {"mask", HexText(rules.mask)},
          {"wans", wans}};
}

json Mwan3StatusToJson(const Mwan3Status& status, const ClockPair& clocks) {
  json out = Mwan3ViewToJson(status.view);
  json routes = json::array();
  for (const SteeringRoute& route : status.steering) {
    routes.push_back(route.ToString());
  }
  json why = json::object();
  for (const auto& [family, text] : status.steering_why) {
    why[std::string(netlink::FamilyName(family))] = text;
  }
  out["steering"] = {
      {"enabled", status.settings.steering}, {"routes", routes}, {"why", why}};
  out["flow_cleanup"] = {
      {"enabled", status.settings.flow_cleanup},
      {"last", status.last_cleanup ? CleanupJson(*status.last_cleanup, clocks)
                                   : json(nullptr)}};
  out["dry_run"] = status.settings.dry_run;
  out["counters"] = {{"routes_added", status.routes_added},
                     {"routes_removed", status.routes_removed},
                     {"flow_cleanups", status.cleanups},
                     {"flow_entries_deleted", status.entries_deleted}};
  out["problems"] = status.problems;
  return out;
}

void RenderMwan3Metrics(const json& state, std::string* out) {
  const json& m = Member(state, "mwan3");
  if (!m.is_object()) return;
  Help(out, "present", "gauge", "1 when mwan3's rules are in the kernel.");
  *out += fmt::format("tswatchdog_mwan3_present {}\n",
                      Member(m, "present") == true ? 1 : 0);
  Help(out, "tailscale_mode", "gauge",
       "1 for where tailscaled's rules sit: A (1310, before mwan3's), B "
       "(5210, behind them), none, other.");
  for (const char* mode : {"none", "A", "B", "other"}) {
    *out += fmt::format("tswatchdog_mwan3_tailscale_mode{{mode=\"{}\"}} {}\n",
                        mode, Str(Member(m, "tailscale_mode")) == mode ? 1 : 0);
  }
  Help(out, "wan_state", "gauge",
       "1 for mwan3's verdict on each WAN (its iface_state file).");
  for (const json& wan : Member(m, "wans")) {
    for (const char* state : {"online", "offline", "unknown"}) {
      *out += fmt::format(
          "tswatchdog_mwan3_wan_state{{wan=\"{}\",id=\"{}\",device=\"{}\","
          "state=\"{}\"}} {}\n",
          Str(Member(wan, "name"), ""), Num(Member(wan, "id")),
          Str(Member(wan, "device"), ""), state,
          Str(Member(wan, "state")) == state ? 1 : 0);
    }
  }
  Help(out, "steering_routes", "gauge",
       "Steering routes of ours in the main table (mode A).");
  *out += fmt::format("tswatchdog_mwan3_steering_routes {}\n",
                      Member(Member(m, "steering"), "routes").size());
  const json& counters = Member(m, "counters");
  for (const auto& [key, help] :
       {std::pair{"routes_added", "Steering routes added (mode A)."},
        std::pair{"flow_cleanups", "Mode-B cleanups run."},
        std::pair{
            "flow_entries_deleted",
            "Conntrack entries of tailscaled's flows deleted (mode B)."}}) {
    const std::string name = std::string(key) + "_total";
    Help(out, name.c_str(), "counter", help);
    *out += fmt::format("tswatchdog_mwan3_{} {}\n", name,
                        Num(Member(counters, key)));
  }
}

std::vector<std::string> Mwan3StatusLines(const json& state) {
  const json& m = Member(state, "mwan3");
  if (!m.is_object()) return {};
  std::vector<std::string> lines;
  const json& steering = Member(m, "steering");
  const json& cleanup = Member(m, "flow_cleanup");
  std::string mode = Str(Member(m, "tailscale_mode"));
  if (Member(m, "tailscale_rule").is_number()) {
    mode += fmt::format(" (rule {})", Num(Member(m, "tailscale_rule")));
  }
  lines.push_back(fmt::format(
      "mwan3:      {}, tailscaled mode {}; steering {}, flow cleanup {}{}",
      Member(m, "present") == true ? "present" : "not present", mode,
      Member(steering, "enabled") == true ? "on" : "off",
      Member(cleanup, "enabled") == true ? "on" : "off",
      Member(m, "dry_run") == true ? " (dry run)" : ""));
  for (const json& wan : Member(m, "wans")) {
    lines.push_back(fmt::format(
        "            {} id {} {} {}: {} (tracker {})",
        Str(Member(wan, "name"), "-"), Num(Member(wan, "id")),
        Str(Member(wan, "family"), ""), Str(Member(wan, "device"), "-"),
        Str(Member(wan, "state")), Str(Member(wan, "tracker"))));
  }
  for (const json& route : Member(steering, "routes")) {
    lines.push_back("steering:   " + Str(route) + " (ours, proto 122)");
  }
  const json& last = Member(cleanup, "last");
  if (last.is_object()) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    lines.push_back(fmt::format(
        "cleanup:    {} ago: {}",
        FormatAgo(now - std::chrono::milliseconds(static_cast<int64_t>(
                            Num(Member(last, "at_unix_ms"))))),
        Str(Member(last, "summary"))));
  }
  for (const json& problem : Member(m, "problems")) {
    lines.push_back("            problem: " + Str(problem));
  }
  return lines;
}

}  // namespace watchdog
