#include "watchdog/localapi/tailscale_json.h"

#include <strings.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "netlink/utf8.h"
#include "watchdog/core/text.h"

namespace watchdog {
namespace {

using nlohmann::json;

// Field readers: a missing, null or wrongly typed field gives the default, so
// a daemon version that changes an unrelated field cannot break us.
std::string StringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool BoolField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

// IDs go up to 2^63: read them as integers, never through a double.
int64_t Int64Field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  return 0;
}

std::vector<std::string> StringListField(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& item : *it) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// Parses `text` as one JSON object; `what` names it in the error.
Parsed<json> ParseObject(std::string_view text, const char* what) {
  if (JsonNestedDeeperThan(text, kMaxJsonDepth)) {
    return Parsed<json>::Error(std::string(what) + ": nested deeper than " +
                               std::to_string(kMaxJsonDepth) + " levels");
  }
  json doc = json::parse(text.begin(), text.end(), nullptr,
                         /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return Parsed<json>::Error(std::string(what) + ": invalid JSON");
  }
  if (!doc.is_object()) {
    return Parsed<json>::Error(std::string(what) + ": not a JSON object");
  }
  return doc;
}

HealthState HealthFromJson(const json& obj) {
  HealthState state;
  auto warnings = obj.find("Warnings");
  if (warnings == obj.end() || !warnings->is_object()) return state;
  for (const auto& [code, item] : warnings->items()) {
    if (!item.is_object()) continue;
    HealthWarning warning;
    warning.code = StringField(item, "WarnableCode");
    if (warning.code.empty()) warning.code = code;
    warning.severity = StringField(item, "Severity");
    warning.title = StringField(item, "Title");
    warning.text = StringField(item, "Text");
    warning.depends_on = StringListField(item, "DependsOn");
    warning.impacts_connectivity = BoolField(item, "ImpactsConnectivity");
    if (auto args = item.find("Args");
        args != item.end() && args->is_object()) {
      for (const auto& [name, value] : args->items()) {
        if (value.is_string()) warning.args[name] = value.get<std::string>();
      }
    }
    state.warnings[code] = std::move(warning);
  }
  return state;
}

Prefs PrefsFromJson(const json& obj) {
  Prefs prefs;
  prefs.want_running = BoolField(obj, "WantRunning");
  prefs.logged_out = BoolField(obj, "LoggedOut");
  prefs.control_url = StringField(obj, "ControlURL");
  prefs.operator_user = StringField(obj, "OperatorUser");
  return prefs;
}

}  // namespace

bool JsonNestedDeeperThan(std::string_view json_text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced input is the parser's to reject
    }
  }
  return false;
}

Parsed<Status> ParseStatus(std::string_view json_text) {
  auto doc = ParseObject(json_text, "status");
  if (!doc) return Parsed<Status>::Error(doc.error());
  const json& obj = *doc;
  Status status;
  status.version = StringField(obj, "Version");
  status.backend_state_name = StringField(obj, "BackendState");
  if (status.backend_state_name.empty()) {
    return Parsed<Status>::Error("status: no BackendState");
  }
  status.backend_state = BackendStateFromName(status.backend_state_name);
  status.have_node_key = BoolField(obj, "HaveNodeKey");
  status.tailscale_ips = StringListField(obj, "TailscaleIPs");
  if (auto self = obj.find("Self"); self != obj.end() && self->is_object()) {
    status.self_online = BoolField(*self, "Online");
    status.self_relay = StringField(*self, "Relay");
    status.self_host_name = StringField(*self, "HostName");
    status.self_node_id = Int64Field(*self, "NodeID");
  }
  auto health = obj.find("Health");
  status.health_was_null = health == obj.end() || health->is_null();
  status.health = StringListField(obj, "Health");
  return status;
}

Parsed<Prefs> ParsePrefs(std::string_view json_text) {
  auto doc = ParseObject(json_text, "prefs");
  if (!doc) return Parsed<Prefs>::Error(doc.error());
  return PrefsFromJson(*doc);
}

Parsed<HealthState> ParseHealthState(std::string_view json_text) {
  auto doc = ParseObject(json_text, "health");
  if (!doc) return Parsed<HealthState>::Error(doc.error());
  return HealthFromJson(*doc);
}

Parsed<Notify> ParseNotify(std::string_view json_line) {
  auto doc = ParseObject(json_line, "notify");
  if (!doc) return Parsed<Notify>::Error(doc.error());
  const json& obj = *doc;
  Notify notify;
  notify.version = StringField(obj, "Version");
  notify.session_id = StringField(obj, "SessionID");
  if (auto it = obj.find("ErrMessage"); it != obj.end() && it->is_string()) {
    notify.err_message = it->get<std::string>();
  }
  if (auto it = obj.find("State"); it != obj.end() && !it->is_null()) {
    if (!it->is_number_integer()) {
      return Parsed<Notify>::Error("notify: State is not an integer");
    }
    notify.state = BackendStateFromInt(it->get<int64_t>());
  }
  if (auto it = obj.find("Prefs"); it != obj.end() && it->is_object()) {
    notify.prefs = PrefsFromJson(*it);
  }
  if (auto it = obj.find("Engine"); it != obj.end() && it->is_object()) {
    notify.engine =
        EngineStatus{Int64Field(*it, "NumLive"), Int64Field(*it, "LiveDERPs")};
  }
  if (auto it = obj.find("Health"); it != obj.end() && it->is_object()) {
    notify.health = HealthFromJson(*it);
  }
  return notify;
}

namespace {

std::optional<netlink::IpAddress> AddressOfFamily(const json& node,
                                                  const char* key,
                                                  netlink::Family family) {
  auto ip = netlink::IpAddress::Parse(StringField(node, key));
  if (!ip || ip->family() != family) return std::nullopt;
  return ip;
}

// One tailcfg.DERPNode; nullopt for a STUN-only or malformed node.
std::optional<DerpServer> DerpNodeFromJson(const json& node, bool* malformed) {
  *malformed = !node.is_object();
  if (*malformed || BoolField(node, "STUNOnly")) return std::nullopt;
  DerpServer server;
  server.name = StringField(node, "Name");
  server.region_id = Int64Field(node, "RegionID");
  server.host = StringField(node, "HostName");
  server.ipv4 = AddressOfFamily(node, "IPv4", netlink::Family::kV4);
  server.ipv6 = AddressOfFamily(node, "IPv6", netlink::Family::kV6);
  const int64_t port = Int64Field(node, "DERPPort");
  if (port < 0 || port > 65535) {
    *malformed = true;
    return std::nullopt;
  }
  server.port = port == 0 ? 443 : static_cast<uint16_t>(port);
  return server;
}

}  // namespace

Parsed<DerpMap> ParseDerpMap(std::string_view json_text) {
  auto doc = ParseObject(json_text, "derpmap");
  if (!doc) return Parsed<DerpMap>::Error(doc.error());
  auto regions = doc->find("Regions");
  if (regions == doc->end() || regions->is_null()) return DerpMap{};
  if (!regions->is_object()) {
    return Parsed<DerpMap>::Error("derpmap: Regions is not an object");
  }
  // JSON object keys are region IDs as strings: order them numerically.
  std::vector<std::pair<int64_t, const json*>> ordered;
  for (const auto& [key, region] : regions->items()) {
    ordered.emplace_back(std::strtoll(key.c_str(), nullptr, 10), &region);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  DerpMap map;
  for (const auto& [id, region] : ordered) {
    auto nodes = region->is_object() ? region->find("Nodes") : region->end();
    if (!region->is_object() || nodes == region->end() || !nodes->is_array()) {
      ++map.skipped;
      continue;
    }
    for (const json& node : *nodes) {
      bool malformed = false;
      if (auto server = DerpNodeFromJson(node, &malformed)) {
        map.servers.push_back(std::move(*server));
      }
      map.skipped += malformed ? 1 : 0;
    }
  }
  return map;
}

namespace {

constexpr size_t kMaxMessageChars = 300;

// A server message as it may enter the daemon's state: trimmed, at most
// kMaxMessageChars bytes (never cutting a character in half) and valid
// UTF-8, since it ends up in the state file's JSON. Control characters are
// kept here; the log sink escapes them (logging.h).
std::string MessageText(std::string_view message) {
  const std::string_view text = Trim(message);
  // Cut, make valid (a bad byte becomes three), cut again.
  const std::string valid =
      netlink::ToValidUtf8(netlink::Utf8Prefix(text, kMaxMessageChars));
  std::string trimmed(netlink::Utf8Prefix(valid, kMaxMessageChars));
  if (text.size() > kMaxMessageChars || trimmed.size() < valid.size()) {
    trimmed += "...";
  }
  return trimmed;
}

}  // namespace

// Error bodies come as text/plain (http.Error), {"error":..} (WriteErrorJSON)
// or {"Error":..} (prefs); like the Go client, match the key
// case-insensitively and fall back to the raw text.

std::string ServerMessageFromBody(const std::string& body) {
  if (!JsonNestedDeeperThan(body, kMaxJsonDepth)) {
    auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_object()) {
      for (const auto& [key, value] : doc.items()) {
        if (value.is_string() && key.size() == 5 &&
            strncasecmp(key.c_str(), "error", 5) == 0) {
          return MessageText(value.get<std::string>());
        }
      }
    }
  }
  std::string text = MessageText(body);
  return text.empty() ? "(empty body)" : text;
}

}  // namespace watchdog
