// The stand-in's commands (mwan3_standin.cc's main dispatches to these).
#ifndef TSWATCHDOG_TESTS_MWAN3_MWAN3_STANDIN_H_
#define TSWATCHDOG_TESTS_MWAN3_MWAN3_STANDIN_H_

#include <string>

namespace mwan3 {

// /etc/init.d/mwan3 start_service without the trackers and rtmon's watch:
// status dirs, ipsets, general rules and chains, each interface's chain,
// rules and table routes, policies, user rules. Installs the hotplug scripts
// (15-mwan3 and 16-mwan3-user run `self`) and a default /etc/mwan3.user.
int Start(const std::string& self);
// mwan3track for one interface; every duration multiplied by `scale`.
int Track(const std::string& iface, double scale);
// /etc/hotplug.d/iface/15-mwan3 (ACTION, INTERFACE, DEVICE from the env).
int Hotplug();
// /etc/hotplug.d/iface/16-mwan3-user: /etc/mwan3.user with ACTION,
// INTERFACE and DEVICE only, for enabled interfaces.
int UserHotplug();
// tailscaled's policy rules (wgengine/router/osrouter/router_linux.go,
// baseIPRules) for v4 and v6 at `base` ("auto": 1300 when
// checkOpenWRTUsingMWAN3 would say so, else 5200). Prints the base. With
// `replace`, first deletes tailscaled's rules at either base, as a restart
// of tailscaled does (so a restart after mwan3 came up moves mode B to A).
int TailscaleRules(const std::string& base, bool replace);

}  // namespace mwan3

#endif  // TSWATCHDOG_TESTS_MWAN3_MWAN3_STANDIN_H_
