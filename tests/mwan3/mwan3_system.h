// The stand-in's side effects: running ip/iptables/ipset/ping, reading and
// writing mwan3's files, hotplug-call. Everything here touches the namespace
// and the (private) file system the stand-in runs in.
#ifndef TSWATCHDOG_TESTS_MWAN3_MWAN3_SYSTEM_H_
#define TSWATCHDOG_TESTS_MWAN3_MWAN3_SYSTEM_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/mwan3/mwan3_config.h"

namespace mwan3 {

// mwan3's paths (lib/mwan3/common.sh).
inline const char kStatusDir[] = "/var/run/mwan3";
inline const char kTrackStatusDir[] = "/var/run/mwan3track";
inline const char kConfigFile[] = "/etc/config/mwan3";
inline const char kNetworkFile[] = "/etc/config/network";
inline const char kHotplugDir[] = "/etc/hotplug.d/iface";
inline const char kUserScript[] = "/etc/mwan3.user";

// Runs argv (PATH lookup) with `input` on stdin and, if `output` is set, its
// stdout captured there; returns the exit status (-1 if it could not run).
// `env` replaces the environment when non-null (like `env -i`).
int Run(const Argv& argv, const std::string& input = "",
        std::string* output = nullptr,
        const std::map<std::string, std::string>* env = nullptr);
// Runs argv and logs a failure, ", ignoring" (mwan3 logs and goes on too).
void RunLogged(const Argv& argv, const std::string& input = "");
std::vector<std::string> Lines(const std::string& text);

// `iptables -t mangle -w -S` (or ip6tables).
Current ReadCurrent(Family f);
// Prefs of `ip -4 rule` (or -6); with `marked_only`, only rules with a fwmark.
std::vector<int> RulePrefs(Family f, bool marked_only = false);
// iptables-restore -T mangle -w -n (or ip6tables-restore), logged on error.
void Restore(Family f, const std::string& text, const std::string& what);

// /etc/config/mwan3 and /etc/config/network; exits 2 with the error.
Config LoadConfigOrDie();
bool WriteFile(const std::string& path, const std::string& text);
std::optional<std::string> ReadFile(const std::string& path);
std::string Uptime();
// Whether this network namespace has the device (/sys may be another
// namespace's).
bool DeviceExists(
    const std::string& name);  // whole seconds of /proc/uptime, like get_uptime

// iface_state/<iface> (mwan3_set_iface_hotplug_state / get).
void SetIfaceState(const std::string& iface, const std::string& state);
std::map<std::string, bool> OnlineStates(const Config& c);

// hotplug-call iface: every script of /etc/hotplug.d/iface, sorted, sourced
// by /bin/sh in its own process with `env` (plus HOTPLUG_TYPE and PATH).
void HotplugCall(const std::map<std::string, std::string>& env);

}  // namespace mwan3

#endif  // TSWATCHDOG_TESTS_MWAN3_MWAN3_SYSTEM_H_
