// LocalApiServer: the endpoints and the IPN bus streams.
#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "tests/fake/localapi_server.h"

namespace fake {

using Json = nlohmann::ordered_json;

namespace {

std::string Garbage() { return "{\"BackendState\": \"Runn\x01ing\",, \n"; }

}  // namespace

LocalApiServer::Response LocalApiServer::StatusEndpoint() {
  if (opt_.garbage) return {200, "application/json", Garbage(), false};
  if (!opt_.status_file.empty()) {
    std::ifstream in(opt_.status_file);
    std::stringstream ss;
    ss << in.rdbuf();
    return {200, "application/json", ss.str(), false};
  }
  return {200, "application/json", backend_.Status().dump(1, '\t') + "\n",
          false};
}

LocalApiServer::Response LocalApiServer::PrefsEndpoint(const HttpRequest& req,
                                                       uid_t uid) {
  if (req.method == "GET" || req.method == "HEAD") {
    if (opt_.garbage) return {200, "application/json", Garbage(), false};
    return {200, "application/json", backend_.Prefs().dump(1, '\t') + "\n",
            false};
  }
  if (req.method != "PATCH") return Error(405, "unsupported method");
  if (!CanWrite(uid)) return Error(403, "prefs write access denied");
  // servePrefs: a body that does not decode is http.Error (plain text);
  // only EditPrefsAs refusals are {"Error":...}.
  Json masked = Json::parse(req.body, nullptr, false);
  if (req.body.empty()) return Error(400, "EOF");
  if (masked.is_discarded() || !masked.is_object()) {
    return Error(400, "invalid character in JSON body");
  }
  if (masked.value("WantRunningSet", false)) {
    const bool want = masked.value("WantRunning", true);
    const std::string error = backend_.SetWantRunning(want);
    if (!error.empty()) {
      return {400, "application/json", Json{{"Error", error}}.dump() + "\n",
              false};
    }
  }
  return {200, "application/json", backend_.Prefs().dump(1, '\t') + "\n",
          false};
}

LocalApiServer::Response LocalApiServer::StartEndpoint(const HttpRequest& req,
                                                       uid_t uid) {
  // serveStart: permission first, then the method.
  if (!CanWrite(uid)) return Error(403, "access denied");
  if (req.method != "POST") return Error(400, "want POST");
  if (req.body.empty()) return Error(400, "EOF");
  Json options = Json::parse(req.body, nullptr, false);
  if (options.is_discarded()) return Error(400, "invalid JSON");
  backend_.Start();
  return {204, "", "", false};
}

LocalApiServer::Response LocalApiServer::DebugEndpoint(const HttpRequest& req,
                                                       uid_t uid) {
  if (!CanWrite(uid)) return Error(403, "debug access denied");
  if (req.method != "POST") return Error(405, "POST required");
  if (!req.HasQueryParam("action")) {
    return Error(400, "missing parameter 'action'");
  }
  const std::string action = req.QueryParam("action");
  static const std::set<std::string> known = {
      "rebind",          "restun",           "notify",
      "break-tcp-conns", "break-derp-conns", "force-netmap-update",
      "control-knobs",   "pick-new-derp"};
  if (!known.count(action)) {
    return Error(400, "unknown action \"" + action + "\"");
  }
  backend_.DebugAction(action);
  return {200, "text/plain; charset=utf-8", "done\n", false};
}

LocalApiServer::Response LocalApiServer::WatchBus(const HttpRequest& req,
                                                  uid_t uid) {
  // serveWatchIPNBus: an empty or absent mask is 0.
  const std::string mask_text = req.QueryParam("mask");
  uint64_t mask = 0;
  if (!mask_text.empty()) {
    char* end = nullptr;
    errno = 0;
    mask = std::strtoull(mask_text.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || mask_text[0] == '-') {
      return Error(400, "bad mask");
    }
  }
  if (mask & 65536) {
    return Error(400,
                 "NotifyInProcessNoDisconnect is only valid for in-process "
                 "IPN bus subscribers");
  }
  // ipn.ValidateNotifyWatchOpt (>= 1.100).
  if ((mask & 256) && (mask & (4096 | 8192 | 16384 | 32768)) &&
      VersionAtLeast(backend_.version(), 1, 100)) {
    return Error(400,
                 "NotifyRateLimit is incompatible with new-style IPN bus "
                 "subscription bits");
  }
  if (opt_.require_npk && !CanWrite(uid) && !(mask & 16)) {
    return Error(403,
                 "watch IPN bus access denied, must set "
                 "ipn.NotifyNoPrivateKeys when not running as admin/root or "
                 "operator");
  }
  return {200, "application/json", "", true};
}

// --- the bus ---------------------------------------------------------------

std::string LocalApiServer::CurrentStateName() const {
  if (opt_.status_file.empty()) return backend_.StateName();
  std::ifstream in(opt_.status_file);
  Json status = Json::parse(in, nullptr, false);
  if (status.is_object() && status.contains("BackendState") &&
      status["BackendState"].is_string()) {
    return status["BackendState"].get<std::string>();
  }
  return backend_.StateName();
}

std::vector<std::string> LocalApiServer::InitialBusLines(uint64_t mask) const {
  std::vector<std::string> lines;
  if (opt_.garbage) {
    lines.push_back("{\"Version\":\"1.102.3\",\"State\":\x01garbage\n");
  }
  // WatchNotificationsAs: an initial Notify only for its initial bits
  // (NotifyInitialHealthState alone is not one of them).
  const uint64_t initial_bits =
      2 | 4 | 8 | 32 | 1024 | 2048 | 16384 | 131072 | 262144;
  if (mask & initial_bits) {
    static const std::vector<std::string> names = {
        "NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
        "Stopped", "Starting",       "Running"};
    Json fields = Json::object();
    if (mask & 2) {
      const auto it = std::find(names.begin(), names.end(), CurrentStateName());
      fields["State"] =
          it == names.end() ? 0 : static_cast<int>(it - names.begin());
    }
    if (mask & 4) fields["Prefs"] = backend_.Prefs();
    if ((mask & 128) && backend_.structured_health()) {
      fields["Health"] = backend_.HealthState();
    }
    lines.push_back(backend_.NotifyLine(fields, (mask & 2) != 0));
  }
  for (const auto& line : bus_file_lines_) lines.push_back(line + "\n");
  return lines;
}

void LocalApiServer::StartStream(Conn* c,
                                 const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    Send(c, Chunk(line));
    if (c->dead) return;
  }
  if (opt_.oversized > 0) {
    std::string pad(opt_.oversized, 'x');
    Json big = {{"Version", backend_.version()},
                {"NetMap", {{"Padding", pad}}}};
    Send(c, Chunk(big.dump() + "\n"));
    if (c->dead) return;
  }
  if (opt_.cut_stream) {
    CutMidLine(c);
    return;
  }
  if (!opt_.fault.empty()) {
    SendFault(c, "{\"Version\":\"" + backend_.version() + "\",\"Pad\":\"",
              Chunk("\"}\n"));
  }
}

// opt_.fault after the response head: `opening` starts the body or line,
// `closing` (raw bytes) ends it where the fault lets it end.
void LocalApiServer::SendFault(Conn* c, const std::string& opening,
                               const std::string& closing) {
  const std::string& fault = opt_.fault;
  if (fault == "cut-chunk-data") {
    // A chunk announced with 4096 bytes; the connection drops after 64.
    char size[16];
    std::snprintf(size, sizeof size, "%x\r\n", 4096);
    c->close_after_write = true;
    Send(c, size + opening + std::string(64, 'x'));
  } else if (fault == "cut-chunk-size") {
    // Half of a chunk-size line ("1" of "1000\r\n"), then the drop.
    c->close_after_write = true;
    Send(c, Chunk(opening) + "1");
  } else if (fault == "endless") {
    Send(c, Chunk(opening));
    Trickle(c->id);
  } else if (fault.rfind("huge:", 0) == 0) {
    size_t left = std::strtoull(fault.c_str() + 5, nullptr, 10);
    bool closed = false;
    c->more = [left, closed, closing](std::string* out) mutable {
      if (left > 0) {
        const size_t n = std::min<size_t>(left, 64 << 10);
        left -= n;
        *out = Chunk(std::string(n, 'x'));
      } else if (!closed) {
        closed = true;
        *out = closing;
      }
      return !out->empty();
    };
    Send(c, Chunk(opening));
  }
}

// One more byte every 50 ms, for as long as the connection lives.
void LocalApiServer::Trickle(uint64_t id) {
  loop_.AddTimerAfter(std::chrono::milliseconds(50), [this, id] {
    if (Conn* c = FindConn(id)) {
      Send(c, Chunk("x"));
      Trickle(id);
    }
  });
}

void LocalApiServer::CutMidLine(Conn* c) {
  // Half a Notify line, then the connection drops: no final chunk.
  const std::string half = "{\"Version\":\"" + backend_.version() + "\",\"Err";
  c->close_after_write = true;
  Send(c, Chunk(half));
}

void LocalApiServer::Broadcast(const std::string& line) {
  for (auto& c : conns_) {
    if (c->stream && !c->dead) Send(c.get(), Chunk(line));
  }
}

// Ends every bus stream cleanly (final chunk), after `last_line` if any.
void LocalApiServer::EndStreams(const std::string& last_line) {
  for (auto& c : conns_) {
    if (!c->stream || c->dead) continue;
    c->close_after_write = true;
    Send(c.get(), (last_line.empty() ? "" : Chunk(last_line)) + "0\r\n\r\n");
  }
}

void LocalApiServer::LoadBusFile(const std::string& path) {
  bus_file_lines_.clear();
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) bus_file_lines_.push_back(line);
  }
}

}  // namespace fake
