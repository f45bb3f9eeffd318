// The stand-in's commands (mwan3_standin.h). Each mirrors an mwan3 file:
// etc/init.d/mwan3, usr/sbin/mwan3track, usr/sbin/mwan3rtmon (its start-up
// copy of the routes only), etc/hotplug.d/iface/15-mwan3 and 16-mwan3-user.
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tests/mwan3/mwan3_standin.h"
#include "tests/mwan3/mwan3_system.h"
#include "tests/mwan3/mwan3_tracker.h"

namespace mwan3 {
namespace {

namespace fs = std::filesystem;

const Family kFamilies[] = {Family::kIpv4, Family::kIpv6};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

void SetPolicies(const Config& c) {
  const auto online = OnlineStates(c);
  for (Family f : kFamilies) {
    Restore(f, PoliciesIptables(c, f, ReadCurrent(f), online), "set_policies");
  }
}

void RouteLines(Family f, const char* table, std::vector<std::string>* out) {
  std::string text;
  Argv argv = {"ip", f == Family::kIpv4 ? "-4" : "-6", "route", "list"};
  if (table) argv.insert(argv.end(), {"table", table});
  Run(argv, "", &text);
  *out = Lines(text);
}

// mwan3rtmon's start-up: the connected ipsets, then every main-table route
// into the tables of the interfaces that have their chain.
void CopyRoutes(const Config& c) {
  std::vector<std::string> main_v4, all_v4, main_v6;
  RouteLines(Family::kIpv4, nullptr, &main_v4);
  RouteLines(Family::kIpv4, "0", &all_v4);
  RouteLines(Family::kIpv6, nullptr, &main_v6);
  RunLogged({"ipset", "restore"}, IpsetRestore(main_v4, all_v4, main_v6));
  for (Family f : kFamilies) {
    const Current cur = ReadCurrent(f);
    std::vector<int> active;
    for (const auto& i : c.interfaces) {
      if (i.family == f && cur.HasChain("mwan3_iface_in_" + i.name)) {
        active.push_back(i.id);
      }
    }
    std::vector<std::string> routes;
    RouteLines(f, "main", &routes);
    for (const auto& argv : TableRoutes(c, f, routes, active)) Run(argv);
  }
}

void IfaceUp(const Config& c, const Interface& i, const std::string& status) {
  Restore(i.family, IfaceIptables(c, i, ReadCurrent(i.family)),
          "create_iface_iptables-" + i.name);
  for (const auto& argv : IfaceRules(c, i, RulePrefs(i.family))) {
    RunLogged(argv);
  }
  SetIfaceState(i.name, status);
}

void InstallScripts(const std::string& self) {
  const std::string dir = kHotplugDir;
  if (!fs::exists(dir + "/15-mwan3")) {
    WriteFile(dir + "/15-mwan3", "#!/bin/sh\nexec " + self + " hotplug\n");
  }
  if (!fs::exists(dir + "/16-mwan3-user")) {
    WriteFile(dir + "/16-mwan3-user",
              "#!/bin/sh\nexec " + self + " user-hotplug\n");
  }
  if (!fs::exists(kUserScript)) {
    WriteFile(kUserScript,
              "#!/bin/sh\n# mwan3's default: ACTION, INTERFACE and DEVICE "
              "of every event.\n");
    chmod(kUserScript, 0755);
  }
}

std::string InitialStatus(const Interface& i) {
  if (i.initial_state != "offline") return "online";
  auto status =
      ReadFile(std::string(kTrackStatusDir) + "/" + i.name + "/STATUS");
  return status && status->rfind("online", 0) == 0 ? "online" : "offline";
}

}  // namespace

int Start(const std::string& self) {
  Config c = LoadConfigOrDie();
  fs::create_directories(std::string(kStatusDir) + "/iface_state");
  fs::create_directories(std::string(kStatusDir) + "/iptables_log");
  WriteFile(std::string(kStatusDir) + "/mmx_mask", Hex(c.mmx_mask) + "\n");
  InstallScripts(self);
  std::vector<std::string> none;
  RunLogged({"ipset", "restore"}, IpsetRestore(none, none, none));
  for (Family f : kFamilies) {
    for (const auto& argv : GeneralRules(c, f, RulePrefs(f))) RunLogged(argv);
    Restore(f, GeneralIptables(c, f, ReadCurrent(f)), "set_general_iptables");
  }
  // mwan3_ifup "init" for each interface that is up (has its device).
  for (const auto& i : c.interfaces) {
    if (!i.enabled || i.device.empty() || !DeviceExists(i.device)) {
      continue;
    }
    IfaceUp(c, i, InitialStatus(i));
  }
  CopyRoutes(c);
  SetPolicies(c);
  for (Family f : kFamilies) {
    Restore(f, UserRulesIptables(c, f, ReadCurrent(f)), "set_user_rules");
  }
  return 0;
}

int Hotplug() {
  const std::string action = Env("ACTION"), iface = Env("INTERFACE");
  const std::string device = Env("DEVICE");
  if (action != "ifup" && action != "ifdown" && action != "connected" &&
      action != "disconnected") {
    return 1;
  }
  if (iface.empty()) return 2;
  if (Env("FIRSTCONNECT") == "1" || Env("MWAN3_SHUTDOWN") == "1") return 0;
  if ((action == "ifup" || action == "connected") && device.empty()) return 3;
  Config c = LoadConfigOrDie();
  if (!fs::exists(kStatusDir)) return 0;  // "globally disabled"
  if (!ReadCurrent(Family::kIpv4).HasChain("mwan3_hook")) return 0;
  const Interface* found = c.FindInterface(iface);
  if (found == nullptr || !found->enabled) return 0;
  Interface i = *found;
  if (!device.empty()) i.device = device;
  std::fprintf(stderr, "mwan3-hotplug: Execute %s event on interface %s (%s)\n",
               action.c_str(), iface.c_str(),
               device.empty() ? "unknown" : device.c_str());
  if (action == "connected" || action == "disconnected") {
    SetIfaceState(iface, action == "connected" ? "online" : "offline");
  } else if (action == "ifup") {
    IfaceUp(c, i, InitialStatus(i));
    CopyRoutes(c);
    for (const auto& argv : GeneralRules(c, i.family, RulePrefs(i.family))) {
      RunLogged(argv);
    }
  } else {
    SetIfaceState(iface, "offline");
    for (const auto& argv : DeleteIfaceRules(c, i, RulePrefs(i.family))) {
      RunLogged(argv);
    }
    Run({"ip", i.family == Family::kIpv4 ? "-4" : "-6", "route", "flush",
         "table", std::to_string(i.id)});
    Restore(i.family, DeleteIfaceIptables(c, i), "delete_iface_iptables");
  }
  SetPolicies(c);
  for (const auto& flush_on : i.flush_conntrack) {
    if (flush_on == action && fs::exists("/proc/net/nf_conntrack")) {
      WriteFile("/proc/net/nf_conntrack", "f");
    }
  }
  return 0;
}

int UserHotplug() {
  if (!fs::exists(kUserScript) || !fs::exists(kStatusDir)) return 0;
  Config c = LoadConfigOrDie();
  const Interface* i = c.FindInterface(Env("INTERFACE"));
  if (i == nullptr || !i->enabled) return 0;
  chmod(kUserScript, 0755);
  const std::map<std::string, std::string> env = {
      {"ACTION", Env("ACTION")},
      {"INTERFACE", Env("INTERFACE")},
      {"DEVICE", Env("DEVICE")}};
  Run({kUserScript}, "", nullptr, &env);
  return 0;
}

int TailscaleRules(const std::string& base_arg, bool replace) {
  if (replace) {
    // A restart: the old tailscaled deleted its rules when it stopped
    // (delIPRules at its own base); the new one decides its base afresh.
    for (const char* ip : {"-4", "-6"}) {
      for (int old_base : {1300, 5200}) {
        for (int offset : {10, 30, 50, 70}) {
          std::string discard;
          Run({"ip", ip, "rule", "del", "pref",
               std::to_string(old_base + offset)},
              "", &discard);
        }
      }
    }
  }
  int base = 5200;
  if (base_arg != "auto") {
    base = std::atoi(base_arg.c_str());
  } else if (fs::exists("/etc/openwrt_version") && fs::exists(kConfigFile)) {
    // checkOpenWRTUsingMWAN3: a v4 rule at 2001..2004 with a mark.
    for (int pref : RulePrefs(Family::kIpv4, true)) {
      if (pref >= 2001 && pref <= 2004) base = 1300;
    }
  }
  const std::string mark = "0x80000/0xff0000";
  for (const char* ip : {"-4", "-6"}) {
    auto pref = [&](int offset) { return std::to_string(base + offset); };
    RunLogged({"ip", ip, "rule", "add", "pref", pref(10), "fwmark", mark,
               "table", "main"});
    RunLogged({"ip", ip, "rule", "add", "pref", pref(30), "fwmark", mark,
               "table", "default"});
    RunLogged({"ip", ip, "rule", "add", "pref", pref(50), "fwmark", mark,
               "unreachable"});
    RunLogged({"ip", ip, "rule", "add", "pref", pref(70), "table", "52"});
  }
  std::printf("%d\n", base);
  return 0;
}

}  // namespace mwan3
