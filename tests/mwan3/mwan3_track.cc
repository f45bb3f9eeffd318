// `mwan3_standin track IFACE`: mwan3track (usr/sbin/mwan3track) with real
// pings through the kernel, its status files and its hotplug events; the
// scoring is TrackerScore (mwan3_tracker.h).
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tests/mwan3/mwan3_standin.h"
#include "tests/mwan3/mwan3_system.h"
#include "tests/mwan3/mwan3_tracker.h"

namespace mwan3 {
namespace {

volatile sig_atomic_t g_stop = 0;
void OnTerm(int) { g_stop = 1; }

// Sleeps `seconds`, returning early on SIGTERM.
void Sleep(double seconds) {
  timespec left{static_cast<time_t>(seconds),
                static_cast<long>(std::fmod(seconds, 1.0) * 1e9)};
  while (!g_stop && nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

std::string Seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", s);
  return text;
}

class Tracker {
 public:
  Tracker(const Config& c, const Interface& i, double scale)
      : c_(c),
        i_(i),
        scale_(scale),
        score_(i),
        dir_(std::string(kTrackStatusDir) + "/" + i.name + "/") {}

  int Run() {
    WriteFile(dir_ + "PID", std::to_string(getpid()) + "\n");
    Write("STARTED", "0");
    if (i_.device.empty() || !DeviceExists(i_.device)) {
      Write("STATUS", "disabled");  // disabled(): waits for an ifup
      while (!g_stop) pause();
      return 0;
    }
    Write("STARTED", "1");
    Apply(score_.FirstConnect(), "1");
    while (!g_stop) {
      int up = 0, failed = 0;
      for (const auto& ip : i_.track_ips) {
        if (up >= i_.reliability) {
          Write("TRACK_" + ip, "skipped");
          continue;
        }
        const bool ok = Ping(ip);
        (ok ? up : failed) += 1;
        Write("TRACK_" + ip, ok ? "up" : "down");
      }
      const TrackerRound round = score_.AfterRound(up, failed);
      Apply(round, "");
      Write("LOST", std::to_string(score_.lost()));
      Write("SCORE", std::to_string(score_.score()));
      Write("TURN", std::to_string(score_.turn()));
      Write("TIME", Uptime());
      Sleep(round.sleep_s * scale_);
    }
    std::fprintf(stderr,
                 "mwan3track: Stopping mwan3track for interface \"%s\". "
                 "Status was \"%s\"\n",
                 i_.name.c_str(), score_.status_file().c_str());
    return 0;
  }

 private:
  void Write(const std::string& name, const std::string& value) {
    WriteFile(dir_ + name, value + "\n");
  }

  // WRAP ping ... : mwan3's LD_PRELOAD wrapper binds the socket to the
  // device and marks it with MMX_DEFAULT; ping -I and -m do the same.
  bool Ping(const std::string& ip) {
    std::string discard;
    const int status = mwan3::Run(
        {"ping", i_.family == Family::kIpv4 ? "-4" : "-6", "-n", "-c",
         std::to_string(i_.count), "-W", Seconds(i_.timeout_s * scale_), "-s",
         std::to_string(i_.size), "-t", std::to_string(i_.max_ttl), "-q", "-I",
         i_.device, "-m", std::to_string(c_.IdMask(c_.MmDefault())), ip},
        "", &discard);
    return status == 0;
  }

  void Apply(const TrackerRound& round, const std::string& firstconnect) {
    for (const auto& [name, value] : round.files) {
      Write(name, value == "uptime" ? Uptime() : value);
    }
    for (const auto& action : round.events) {
      std::fprintf(stderr, "mwan3track: Interface %s (%s) is %s\n",
                   i_.name.c_str(), i_.device.c_str(), action.c_str());
      std::map<std::string, std::string> env = {
          {"ACTION", action}, {"INTERFACE", i_.name}, {"DEVICE", i_.device}};
      if (action == "connected") env["FIRSTCONNECT"] = firstconnect;
      HotplugCall(env);
    }
  }

  const Config& c_;
  Interface i_;
  double scale_;
  TrackerScore score_;
  std::string dir_;
};

}  // namespace

int Track(const std::string& iface, double scale) {
  Config c = LoadConfigOrDie();
  const Interface* i = c.FindInterface(iface);
  if (i == nullptr) {
    std::fprintf(stderr, "mwan3track: no interface '%s' in %s\n", iface.c_str(),
                 kConfigFile);
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnTerm;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  return Tracker(c, *i, scale).Run();
}

}  // namespace mwan3
