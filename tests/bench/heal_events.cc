#include "tests/bench/heal_events.h"

#include <fstream>

namespace bench {

using nlohmann::json;

std::vector<json> ReadEvents(const std::string& path) {
  std::vector<json> events;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    json event = json::parse(line, nullptr, false);
    if (event.is_object()) events.push_back(std::move(event));
  }
  return events;
}

std::string Kind(const json& event) {
  if (event.contains("event") && event["event"].is_string()) {
    return event["event"].get<std::string>();
  }
  return event.value("type", "");
}

namespace {

int64_t TimeOf(const json& event) { return event.value("unix_ms", int64_t{0}); }

bool OnlineValue(const json& event) {
  return event.contains("value") && event["value"].is_boolean() &&
         event["value"].get<bool>();
}

std::string LocalOf(const json& event) {
  return event.contains("local") ? event["local"].dump() : "";
}

}  // namespace

bool CurrentOnline(const std::vector<json>& events) {
  bool online = false;
  for (const auto& e : events) {
    if (Kind(e) == "online") online = OnlineValue(e);
  }
  return online;
}

namespace {

bool HasRouterWarning(const json& health_event) {
  if (!health_event.contains("visible") ||
      !health_event["visible"].is_array()) {
    return false;
  }
  for (const auto& code : health_event["visible"]) {
    if (code == "router") return true;
  }
  return false;
}

}  // namespace

std::optional<int64_t> HealedAt(const std::vector<json>& events, int64_t t0,
                                int64_t confirmed_before) {
  std::optional<int64_t> conn;  // the newest connection since t0 still open
  std::string conn_local;
  std::optional<int64_t> online_after_conn;
  bool online = false, router_warning = false;
  int64_t router_cleared = 0;
  for (const auto& e : events) {
    const std::string kind = Kind(e);
    if (kind == "online") {
      online = OnlineValue(e);
      if (online && conn && !online_after_conn) online_after_conn = TimeOf(e);
    } else if (kind == "health") {
      const bool warning = HasRouterWarning(e);
      if (router_warning && !warning) router_cleared = TimeOf(e);
      router_warning = warning;
    }
    if (TimeOf(e) < t0) continue;
    if (kind == "control-connected") {
      conn = TimeOf(e);
      conn_local = LocalOf(e);
      online_after_conn.reset();
    } else if (kind == "control-closed" && conn && LocalOf(e) == conn_local) {
      conn.reset();
    }
  }
  if (!online || router_warning || !conn || *conn > confirmed_before) {
    return std::nullopt;
  }
  int64_t at = std::max(*conn, router_cleared);
  if (online_after_conn) at = std::max(at, *online_after_conn);
  return at;
}

Steps CountSteps(const std::vector<json>& requests, const std::string& restarts,
                 int64_t t0) {
  Steps steps;
  for (const auto& r : requests) {
    if (r.value("unix_ms", int64_t{0}) < t0) continue;
    const std::string method = r.value("method", "");
    const std::string path = r.value("path", "");
    if (method == "POST" && path == "/localapi/v0/start") ++steps.start;
    if (method == "PATCH" && path == "/localapi/v0/prefs" &&
        r.value("body", "").find("\"WantRunning\":false") !=
            std::string::npos) {
      ++steps.reup;
    }
  }
  std::ifstream in(restarts);
  for (int64_t ms; in >> ms;) steps.restart += ms >= t0;
  return steps;
}

}  // namespace bench
