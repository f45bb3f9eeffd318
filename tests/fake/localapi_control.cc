// LocalApiServer: the control channel. One command per line, one answer
// line: "ok", "ok <json>" or "error <text>".
#include <sstream>

#include "tests/fake/localapi_server.h"

namespace fake {

using Json = nlohmann::ordered_json;

const char* const kControlHelp = R"(control commands:
  ping                          answers ok
  get                           ok {"backend_state":..,"online":..,"warnings":[..],...}
                                (network mode adds "network": control, DERP, netmon)
  state <BackendStateName>      sets BackendState and pushes {"State":N}
  relay <code|->                sets Self.Relay ("-" = empty)
  warn <code>                   adds a warning with tailscaled's text, pushes Health
  unwarn <code> | clear-warnings
  down | up                     like `tailscale down` / `tailscale up`
  always-on <on|off>            policy forbids WantRunning=false (400 {"Error":..})
  start-delay <ms>              LocalAPI-only: start/reup stay Starting this long
  LocalAPI-only mode (no --control-server), faults as tailscaled has them:
  stuck <control|derp|router|engine>
                                control: map poll ended long ago (Online false,
                                not-in-map-poll); healed by start or a restart.
                                derp: home DERP gone (no-derp-connection); healed
                                by rebind, reup or a restart. router: route
                                programming failed ("router"); healed by reup or a
                                restart. engine: a magicsock receive function died;
                                only a restart heals it. (stuck start|rebind|reup|
                                restart name the fault that step heals.)
  heal [fault]                  clears one fault or all
  online <true|false>           sets Self.Online
  the wire:
  hang <on|off>                 accept and read requests, never answer
  slow <ms>                     delay every answer by ms
  garbage <on|off>              status/prefs bodies and bus lines are broken JSON
  oversized <bytes>             each new bus stream sends one line of this size (0 = off)
  cut-stream <on|off>           new bus streams are closed mid-line after the first line
  cut-now                       close every bus stream now, mid-line
  fault <mode|off>              byte-level faults of status bodies and new bus streams
                                (after their first line): cut-chunk-data (connection
                                dropped inside a chunk's data), cut-chunk-size (inside
                                a chunk-size line), endless (a body/line that never
                                ends: one byte every 50 ms), huge:<bytes> (a body/line
                                of that size, generated as it is sent)
  fell-behind                   send "IPN bus consumer fell behind" and end every stream
  eof                           end every bus stream cleanly (final chunk)
  push <json>                   send one raw line to every bus stream
  restart [delay_ms]            like a tailscaled restart: socket removed, recreated later
  socket-down | socket-up       remove / recreate the LocalAPI socket
  write-uids <uid,uid,...|->    who may call write endpoints ("-" = nobody)
  status-file <path|->          serve this file verbatim as status ("-" = generated)
  bus-file <path|->             send these lines after each stream's first line
  omit-debug <on|off>           debug endpoint absent (404), like ts_omit_debug
  require-npk <on|off>          1.54-1.91: 403 for non-writers without mask bit 16
)";

void LocalApiServer::HandleControlInput(Conn* c) {
  size_t nl;
  while (!c->dead && (nl = c->in.find('\n')) != std::string::npos) {
    std::string line = c->in.substr(0, nl);
    c->in.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    Send(c, Control(line) + "\n");
  }
}

std::string LocalApiServer::Get() {
  int watchers = 0, api_conns = 0;
  for (const auto& c : conns_) {
    if (c->dead || c->control) continue;
    ++api_conns;
    if (c->stream) ++watchers;
  }
  Json out = backend_.Snapshot();
  out["backend_state"] = CurrentStateName();
  out["watchers"] = watchers;
  out["connections"] = api_conns;
  out["listening"] = api_listener_.valid();
  return "ok " + out.dump();
}

std::string LocalApiServer::Control(const std::string& line) {
  std::istringstream words(line);
  std::string cmd, arg;
  words >> cmd;
  std::getline(words, arg);
  arg.erase(0, arg.find_first_not_of(' '));
  if (cmd == "ping") return "ok";
  if (cmd == "help") return "ok " + Json(kControlHelp).dump();
  if (cmd == "get") return Get();
  if (auto reply = WireControl(cmd, arg)) return *reply;
  if (auto reply = backend_.Control(cmd, arg)) return *reply;
  return "error unknown or malformed command '" + line + "' (try help)";
}

std::optional<std::string> LocalApiServer::WireControl(const std::string& cmd,
                                                       const std::string& arg) {
  if (cmd == "hang" && ParseOnOff(arg, &opt_.hang)) return "ok";
  if (cmd == "garbage" && ParseOnOff(arg, &opt_.garbage)) return "ok";
  if (cmd == "cut-stream" && ParseOnOff(arg, &opt_.cut_stream)) return "ok";
  if (cmd == "omit-debug" && ParseOnOff(arg, &opt_.omit_debug)) return "ok";
  if (cmd == "require-npk" && ParseOnOff(arg, &opt_.require_npk)) return "ok";
  if (cmd == "fault" && ValidFault(arg)) {
    opt_.fault = arg == "off" ? "" : arg;
    return "ok";
  }
  if (cmd == "slow") {
    opt_.slow_ms = std::atoi(arg.c_str());
    return "ok";
  }
  if (cmd == "oversized") {
    opt_.oversized = std::strtoull(arg.c_str(), nullptr, 10);
    return "ok";
  }
  if (cmd == "cut-now") {
    for (auto& c : conns_) {
      if (c->stream && !c->dead) CutMidLine(c.get());
    }
    return "ok";
  }
  if (cmd == "fell-behind") {
    Json err = {{"ErrMessage", "IPN bus consumer fell behind; closing watch"}};
    EndStreams(backend_.NotifyLine(err));
    return "ok";
  }
  if (cmd == "eof") {
    EndStreams("");
    return "ok";
  }
  if (cmd == "push" && !arg.empty()) {
    Broadcast(arg + "\n");
    return "ok";
  }
  if (cmd == "restart") {
    Restart(arg.empty() ? opt_.restart_delay_ms : std::atoi(arg.c_str()));
    return "ok";
  }
  if (cmd == "socket-down") {
    StopListeningApi();
    return "ok";
  }
  if (cmd == "socket-up") {
    return ListenApi() ? "ok" : "error cannot listen on " + opt_.socket_path;
  }
  if (cmd == "write-uids") {
    write_uids_.clear();
    std::stringstream ss(arg == "-" ? "" : arg);
    std::string uid;
    while (std::getline(ss, uid, ',')) {
      if (!uid.empty()) write_uids_.insert(std::stoul(uid));
    }
    return "ok";
  }
  if (cmd == "status-file") {
    opt_.status_file = arg == "-" ? "" : arg;
    return "ok";
  }
  if (cmd == "bus-file") {
    if (arg == "-") {
      bus_file_lines_.clear();
    } else {
      LoadBusFile(arg);
    }
    return "ok";
  }
  return std::nullopt;
}

}  // namespace fake
