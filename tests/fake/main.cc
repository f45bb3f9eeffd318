// fake_tailscaled: a test stand-in for tailscaled (tests/fake/README.md).
//
//   fake_tailscaled serve --socket S --control C [--log L] [options]
//       the LocalAPI on a Unix socket; with --control-server/--derp-server
//       its health comes from real TCP connections (network mode)
//   fake_tailscaled internet --control IP:PORT --derp IP:PORT [...]
//       the control and DERP servers, for an "internet" namespace
//   fake_tailscaled ctl --control C <command> [args...]
//       one control command (`ctl help` lists them)
//
// SIGHUP restarts the fake tailscaled (socket replaced); SIGTERM/SIGINT
// stop it.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <cxxopts.hpp>
#include <iostream>
#include <sstream>

#include "tests/fake/internet.h"
#include "tests/fake/localapi_server.h"
#include "tests/fake/net_util.h"

namespace fake {
namespace {

int RunCtl(int argc, char** argv) {
  std::string control;
  std::string command;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--control" && i + 1 < argc) {
      control = argv[++i];
    } else if (arg.rfind("--control=", 0) == 0) {
      control = arg.substr(10);
    } else {
      command += (command.empty() ? "" : " ") + arg;
    }
  }
  if (control.empty() || command.empty()) {
    std::cerr << "usage: fake_tailscaled ctl --control PATH <command>\n"
              << kControlHelp;
    return 2;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, control.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) <
      0) {
    std::cerr << ErrnoText("fake_tailscaled ctl: connect " + control, errno)
              << "\n";
    return 2;
  }
  command += "\n";
  if (::write(fd.get(), command.data(), command.size()) < 0) return 2;
  std::string reply;
  char c;
  while (::read(fd.get(), &c, 1) == 1 && c != '\n') reply += c;
  std::cout << reply << "\n";
  return reply.rfind("ok", 0) == 0 ? 0 : 1;
}

std::set<uid_t> ParseUids(const std::string& text) {
  std::set<uid_t> uids;
  std::stringstream ss(text == "-" ? "" : text);
  std::string uid;
  while (std::getline(ss, uid, ',')) {
    if (!uid.empty()) uids.insert(std::stoul(uid));
  }
  return uids;
}

void AddServeOptions(cxxopts::Options& parser, ServerOptions& s,
                     BackendOptions& b) {
  // clang-format off
  parser.add_options()
      ("socket", "LocalAPI socket path", cxxopts::value(s.socket_path))
      ("control", "control socket path", cxxopts::value(s.control_path))
      ("log", "request log (JSON lines)", cxxopts::value(s.log_path))
      ("pid-file", "write our pid here", cxxopts::value(s.pid_file))
      ("version", "Tailscale version string", cxxopts::value(b.version))
      ("state", "initial BackendState (LocalAPI-only)", cxxopts::value(b.state))
      ("offline", "Self.Online false (LocalAPI-only)", cxxopts::value<bool>())
      ("relay", "Self.Relay", cxxopts::value(b.relay))
      ("down", "WantRunning false (Stopped)", cxxopts::value<bool>())
      ("stuck", "LocalAPI-only fault: control|derp|router|engine",
       cxxopts::value(b.stuck))
      ("stuck-until", "old name of --stuck: start|rebind|reup|restart name "
                      "the fault that step heals", cxxopts::value(b.stuck))
      ("warn", "initial warning codes, comma-separated",
       cxxopts::value<std::string>())
      ("health-file", "initial warnings from a health.State or Notify JSON "
                      "file (e.g. tests/data/localapi/...)",
       cxxopts::value(b.health_file))
      ("write-uids", "uids with write access, comma-separated ('-': none)",
       cxxopts::value<std::string>())
      ("status-file", "serve this file as status",
       cxxopts::value(s.status_file))
      ("bus-file", "bus lines sent after the first", cxxopts::value(s.bus_file))
      ("hang", "never answer", cxxopts::value(s.hang))
      ("slow-ms", "delay every answer", cxxopts::value(s.slow_ms))
      ("garbage", "broken JSON", cxxopts::value(s.garbage))
      ("oversized-line", "one bus line of this many bytes",
       cxxopts::value(s.oversized))
      ("cut-stream", "close bus streams mid-line", cxxopts::value(s.cut_stream))
      ("fault", "status/bus fault: cut-chunk-data, cut-chunk-size, endless, "
                "huge:<bytes> (see `ctl help`)", cxxopts::value(s.fault))
      ("socket-delay-ms", "create the LocalAPI socket only after this delay",
       cxxopts::value(s.socket_delay_ms))
      ("restart-delay-ms", "socket absence during a restart",
       cxxopts::value(s.restart_delay_ms))
      ("start-delay-ms", "LocalAPI-only: how long start/reup stay Starting",
       cxxopts::value(b.start_delay_ms))
      ("omit-debug", "no debug endpoint (404)", cxxopts::value(s.omit_debug))
      ("require-npk", "1.54-1.91 mask bit 16 rule",
       cxxopts::value(s.require_npk))
      ("always-on", "policy forbids WantRunning=false",
       cxxopts::value(b.always_on))
      ("control-server", "network mode: the control server, ip:port",
       cxxopts::value(b.engine.control_server))
      ("derp-server", "network mode: the home DERP server, ip:port",
       cxxopts::value(b.engine.derp_server))
      ("tun", "network mode: program tailscaled's table-52 routes on this "
              "device (a failure is the router warning)",
       cxxopts::value(b.engine.tun))
      ("time-scale", "multiply every tailscaled constant by this (0.05: 20 times faster)",
       cxxopts::value(b.time_scale))
      ("events", "JSON-lines log of every state change",
       cxxopts::value(b.events_path))
      ("h,help", "help");
  // clang-format on
}

int RunServe(int argc, char** argv) {
  cxxopts::Options parser(
      "fake_tailscaled serve",
      "A fake tailscaled for tests.\n" + std::string(kControlHelp));
  ServerOptions s;
  BackendOptions b;
  AddServeOptions(parser, s, b);
  try {
    auto args = parser.parse(argc, argv);
    if (args.count("help")) {
      std::cout << parser.help() << "\n";
      return 0;
    }
    if (s.socket_path.empty() || s.control_path.empty()) {
      std::cerr << "fake_tailscaled: --socket and --control are required\n";
      return 2;
    }
    if (!s.fault.empty() && !ValidFault(s.fault)) {
      std::cerr << "fake_tailscaled: unknown --fault " << s.fault << "\n";
      return 2;
    }
    if (b.engine.control_server.empty() != b.engine.derp_server.empty()) {
      std::cerr << "fake_tailscaled: --control-server and --derp-server go "
                   "together\n";
      return 2;
    }
    if (s.fault == "off") s.fault.clear();
    if (args.count("offline")) b.online = false;
    if (args.count("down")) {
      b.want_running = false;
      b.state = "Stopped";
      b.online = false;
    }
    if (args.count("write-uids")) {
      s.write_uids = ParseUids(args["write-uids"].as<std::string>());
    }
    if (args.count("warn")) {
      std::stringstream ws(args["warn"].as<std::string>());
      for (std::string code; std::getline(ws, code, ',');) {
        if (!code.empty()) b.warnings.push_back(code);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "fake_tailscaled: " << e.what() << "\n";
    return 2;
  }
  return LocalApiServer(std::move(s), std::move(b)).Run();
}

int RunInternetCommand(int argc, char** argv) {
  cxxopts::Options parser("fake_tailscaled internet",
                          "The control and DERP servers of the lab.");
  InternetOptions o;
  // clang-format off
  parser.add_options()
      ("control", "control server address ip:port", cxxopts::value(o.control))
      ("derp", "DERP server address ip:port", cxxopts::value(o.derp))
      ("time-scale", "multiply every keep-alive interval by this",
       cxxopts::value(o.time_scale))
      ("events", "JSON-lines log of connections", cxxopts::value(o.events_path))
      ("pid-file", "write our pid here", cxxopts::value(o.pid_file))
      ("reset-unknown", "accepted and ignored (the far side's firewall is "
                        "the lab's)", cxxopts::value<bool>())
      ("h,help", "help");
  // clang-format on
  try {
    auto args = parser.parse(argc, argv);
    if (args.count("help")) {
      std::cout << parser.help() << "\n";
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "fake_tailscaled internet: " << e.what() << "\n";
    return 2;
  }
  if (o.control.empty() && o.derp.empty()) {
    std::cerr << "fake_tailscaled internet: --control and/or --derp\n";
    return 2;
  }
  return RunInternet(o);
}

}  // namespace
}  // namespace fake

int main(int argc, char** argv) {
  const std::string command = argc >= 2 ? argv[1] : "";
  if (command == "ctl") return fake::RunCtl(argc - 1, argv + 1);
  if (command == "internet")
    return fake::RunInternetCommand(argc - 1, argv + 1);
  if (command == "serve") return fake::RunServe(argc - 1, argv + 1);
  return fake::RunServe(argc, argv);
}
