// mwan3_standin: a test stand-in for OpenWrt's mwan3 2.12.2 (README.md beside
// this file, docs/mwan3.md). It installs what mwan3 installs — ipsets, the
// mangle chains, ip rules and per-interface tables — tracks each WAN with
// real pings like mwan3track, and runs the hotplug scripts on each event.
// Run it as root inside a private network and mount namespace.
//
//   mwan3_standin start                  like `/etc/init.d/mwan3 start`, minus
//   trackers mwan3_standin run [--time-scale S]   start, then one tracker per
//   interface mwan3_standin track IFACE [--time-scale S]   one mwan3track
//   mwan3_standin hotplug                /etc/hotplug.d/iface/15-mwan3 (env
//   ACTION...) mwan3_standin user-hotplug /etc/hotplug.d/iface/16-mwan3-user
//   mwan3_standin tailscale-rules [--base auto|N] [--replace]   tailscaled's
//   rules
#include "tests/mwan3/mwan3_standin.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/mwan3/mwan3_system.h"

namespace {

using namespace mwan3;

double ParseScale(const std::vector<std::string>& args) {
  for (size_t k = 0; k + 1 < args.size(); ++k) {
    if (args[k] == "--time-scale") {
      const double s = std::strtod(args[k + 1].c_str(), nullptr);
      if (s > 0) return s;
      std::fprintf(stderr, "mwan3_standin: bad --time-scale %s\n",
                   args[k + 1].c_str());
      std::exit(2);
    }
  }
  return 1.0;
}

std::string Option(const std::vector<std::string>& args,
                   const std::string& name, const std::string& fallback) {
  for (size_t k = 0; k + 1 < args.size(); ++k) {
    if (args[k] == name) return args[k + 1];
  }
  return fallback;
}

volatile sig_atomic_t g_stop = 0;
void OnTerm(int) { g_stop = 1; }

// `run`: start, then one tracker process per interface with track IPs (as
// procd runs one mwan3track instance each); SIGTERM ends them all.
int RunAll(const std::string& self, double scale) {
  Config c = LoadConfigOrDie();
  if (int rc = Start(self); rc != 0) return rc;
  std::vector<pid_t> trackers;
  for (const auto& i : c.interfaces) {
    if (!i.enabled || i.track_ips.empty()) continue;
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      std::exit(Track(i.name, scale));
    }
    if (pid > 0) trackers.push_back(pid);
  }
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::printf("mwan3_standin: running, %zu trackers\n", trackers.size());
  std::fflush(stdout);
  while (!g_stop) pause();
  for (pid_t pid : trackers) kill(pid, SIGTERM);
  for (pid_t pid : trackers) waitpid(pid, nullptr, 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::printf(
        "usage: mwan3_standin start | run [--time-scale S] | track IFACE "
        "[--time-scale S] | hotplug | user-hotplug | tailscale-rules "
        "[--base auto|N] [--replace]\n");
    return args.empty() ? 2 : 0;
  }
  std::error_code ec;
  const std::string self =
      std::filesystem::canonical("/proc/self/exe", ec).string();
  const std::string& cmd = args[0];
  if (cmd == "start") return Start(self);
  if (cmd == "run") return RunAll(self, ParseScale(args));
  if (cmd == "track" && args.size() >= 2) {
    return Track(args[1], ParseScale(args));
  }
  if (cmd == "hotplug") return Hotplug();
  if (cmd == "user-hotplug") return UserHotplug();
  if (cmd == "tailscale-rules") {
    const bool replace =
        std::find(args.begin(), args.end(), "--replace") != args.end();
    return TailscaleRules(Option(args, "--base", "auto"), replace);
  }
  std::fprintf(stderr, "mwan3_standin: unknown command '%s'\n", cmd.c_str());
  return 2;
}
