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

std::optional<int64_t> HealedAt(const std::vector<json>& events, int64_t t0,
                                int64_t confirmed_before) {
  std::optional<int64_t> dial;  // the newest dial since t0 still open
  std::string dial_local;
  std::optional<int64_t> online_after_dial;
  bool online = false;
  for (const auto& e : events) {
    const std::string kind = Kind(e);
    if (kind == "online") {
      online = OnlineValue(e);
      if (online && dial && !online_after_dial) online_after_dial = TimeOf(e);
    }
    if (TimeOf(e) < t0) continue;
    if (kind == "control-dial") {
      dial = TimeOf(e);
      dial_local = LocalOf(e);
      online_after_dial.reset();
    } else if (kind == "control-closed" && dial && LocalOf(e) == dial_local) {
      dial.reset();
    }
  }
  if (!online || !dial || *dial > confirmed_before) return std::nullopt;
  return online_after_dial ? std::max(*dial, *online_after_dial) : *dial;
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
