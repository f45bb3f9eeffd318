// mwan3 (OpenWrt's multi-WAN manager, net/mwan3 2.12.2) and tailscaled on the
// same router, read natively and purely: from the kernel's rule dump, mwan3's
// config and its status files. No `ubus call mwan3 status` (it runs
// `iptables -S`), no polling.
//
// What mwan3 installs (lib/mwan3/mwan3.sh, mwan3_create_iface_rules), per
// interface id 1..N (the order of `config interface` sections in
// /etc/config/mwan3), with mark = mwan3_id2mask(id, mask) (id<<8 for the
// default mask 0x3f00):
//   1000+id  iif DEV lookup id
//   2000+id  fwmark mark/mask lookup id
//   3000+id  fwmark mark/mask unreachable
// Table `id` holds that WAN's routes. tailscaled's own rules
// (wgengine/router/osrouter/router_linux.go) start at B+10 with
// `fwmark 0x80000/0xff0000 lookup main`: B = 1300 when tailscaled started on
// OpenWrt with mwan3's rules already there (mode A: its traffic goes by the
// main table, before mwan3's rules), else B = 5200 (mode B: mwan3's marks in
// OUTPUT steer it).
//
// mwan3's verdict per WAN: /var/run/mwan3/iface_state/<if> holds "online" or
// "offline" (written by its hotplug script on connected/ifup and
// disconnected/ifdown); /var/run/mwan3track/<if>/STATUS holds the tracker's
// "online", "offline", "connecting", "disconnecting" or "disabled".
#ifndef TSWATCHDOG_WATCHDOG_CORE_MWAN3_H_
#define TSWATCHDOG_WATCHDOG_CORE_MWAN3_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/address.h"
#include "netlink/messages.h"

namespace watchdog {

inline constexpr uint32_t kMwan3DefaultMask = 0x3f00;

// mwan3_id2mask: spreads the bits of `id` over the set bits of `mask`.
uint32_t Mwan3IdToMark(uint32_t id, uint32_t mask);

enum class TailscaleRuleMode { kNone, kA, kB, kOther };
const char* TailscaleRuleModeName(TailscaleRuleMode mode);  // "A", "B", ...

// One mwan3 interface as its rules show it (one family each: mwan3's
// `family` option).
struct Mwan3RuleSet {
  uint32_t id = 0;
  netlink::Family family = netlink::Family::kV4;
  std::string device;  // from the 1000+id iif rule; "" if that rule is gone
  bool lookup_rule = false;       // 2000+id
  bool unreachable_rule = false;  // 3000+id
  uint32_t table = 0;             // what 2000+id looks up (= id)
  bool operator==(const Mwan3RuleSet&) const = default;
};

struct Mwan3Rules {
  bool present = false;  // at least one 2000+id mark rule
  uint32_t mask = kMwan3DefaultMask;
  std::vector<Mwan3RuleSet> interfaces;  // by id, then family
  TailscaleRuleMode mode = TailscaleRuleMode::kNone;
  uint32_t tailscale_base = 0;  // B: 1300, 5200, or another
  bool operator==(const Mwan3Rules&) const = default;
};

// Reads mwan3's and tailscaled's rules from a rule dump.
Mwan3Rules DetectMwan3(std::span<const netlink::RuleMessage> rules);

// The names of mwan3's `config interface` sections in /etc/config/mwan3
// (UCI), in order: the first is id 1. An unnamed section keeps its place
// with an empty name.
std::vector<std::string> Mwan3InterfaceOrder(std::string_view uci);

enum class WanState {
  kUnknown,  // no file, unreadable, empty (caught mid-write) or garbage
  kOnline,
  kOffline,
  kConnecting,
  kDisconnecting,
  kDisabled,
};
const char* WanStateName(WanState state);  // "online", ...

// The content of an iface_state or STATUS file ("offline\n").
WanState ParseMwan3Status(std::string_view content);

// The two status files of one mwan3 interface, as read.
struct Mwan3StatusFiles {
  std::optional<std::string> iface_state;  // nullopt: missing or unreadable
  std::optional<std::string> track_status;
};

struct Mwan3Wan {
  std::string name;  // mwan3's interface name ("wan", "wanb")
  uint32_t id = 0;   // 0: not in the config order
  netlink::Family family = netlink::Family::kV4;
  std::string device;
  WanState state = WanState::kUnknown;  // iface_state: mwan3's verdict
  WanState track = WanState::kUnknown;  // mwan3track's STATUS
  bool operator==(const Mwan3Wan&) const = default;
  // "wan (wan0)"; "id 3" for an interface not in the config order.
  std::string Label() const;
};

struct Mwan3View {
  Mwan3Rules rules;
  std::vector<Mwan3Wan> wans;  // one per interface seen in rules or files
  // The WAN of `family` whose rules name `device` (nullptr if none).
  const Mwan3Wan* FindByDevice(std::string_view device,
                               netlink::Family family) const;
  // "mwan3: tailscaled mode A (rule 1310); wan (id 1, wan0) offline, wanb
  // (id 2, wan1) online"
  std::string Describe() const;
  bool operator==(const Mwan3View&) const = default;
};

Mwan3View BuildMwan3View(Mwan3Rules rules,
                         std::span<const std::string> interface_order,
                         const std::map<std::string, Mwan3StatusFiles>& files);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_MWAN3_H_
