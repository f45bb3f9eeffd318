// mwan3 2.12.2's configuration model and the rules it derives from it, as
// pure functions: UCI sections in, `iptables-restore` text and `ip` argument
// lists out. The stand-in (mwan3_standin.cc) runs what these return. Each
// function names the mwan3 shell function it mirrors (openwrt/packages
// net/mwan3/files/lib/mwan3/mwan3.sh unless said otherwise); docs/mwan3.md
// describes the result.
#ifndef TSWATCHDOG_TESTS_MWAN3_MWAN3_CONFIG_H_
#define TSWATCHDOG_TESTS_MWAN3_MWAN3_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/mwan3/uci.h"

namespace mwan3 {

enum class Family { kIpv4, kIpv6 };
const char* FamilyName(Family f);  // "ipv4" / "ipv6"

struct Interface {
  std::string name;
  int id = 0;  // 1-based position among all `interface` sections
  bool enabled = false;
  Family family = Family::kIpv4;
  std::string device;  // netifd's device (/etc/config/network); "" if none
  std::vector<std::string> track_ips;
  std::string initial_state = "online";
  std::vector<std::string> flush_conntrack;  // actions that flush conntrack
  // mwan3track's options and defaults (usr/sbin/mwan3track, main()).
  int reliability = 1, count = 1, size = 56, max_ttl = 60;
  double timeout_s = 4, interval_s = 10;
  double failure_interval_s = 10, recovery_interval_s = 10;
  bool keep_failure_interval = false;
  int down = 5, up = 5;
};

struct Member {
  std::string name, interface;
  int metric = 1, weight = 1;
};

struct Policy {
  std::string name;
  std::vector<std::string> members;
  std::string last_resort = "unreachable";
};

struct UserRule {
  std::string name, proto = "all", src_ip, src_port, dest_ip, dest_port, ipset,
                    use_policy, family = "any";
};

struct Config {
  uint32_t mmx_mask = 0x3F00;
  std::vector<Interface> interfaces;
  std::vector<Member> members;
  std::vector<Policy> policies;
  std::vector<UserRule> rules;

  // mwan3_init (common.sh): the mark constants for mmx_mask.
  int MmDefault() const;      // (1 << bits) - 1: 63 for 0x3F00
  int MmBlackhole() const;    // MmDefault - 2
  int MmUnreachable() const;  // MmDefault - 1
  // mwan3_id2mask: spreads `id`'s bits over the mask's set bits.
  uint32_t IdMask(int id) const;
  const Interface* FindInterface(const std::string& name) const;
  const Member* FindMember(const std::string& name) const;
};

// Reads /etc/config/mwan3 (and netifd's device names from /etc/config/network,
// `config interface NAME` + `option device` or the older `option ifname`).
// Options the stand-in does not implement (sticky rules, track methods other
// than ping, check_quality) are errors naming the section.
std::optional<Config> LoadConfig(const UciFile& mwan3, const UciFile& network,
                                 std::string* error);

std::string Hex(uint32_t value);  // "0x3f00", like mwan3's printf "0x%x"
// iptables match "mark 0 under the mask" and target "set the mask's bits to
// `value`", as mwan3.sh spells them.
std::string Mark0(const Config& c);
std::string SetXmark(const Config& c, uint32_t value);
// `line` split at whitespace.
std::vector<std::string> Words(const std::string& line);

using Argv = std::vector<std::string>;

// `iptables -S` output of the mangle table, as mwan3 reads it ("current").
struct Current {
  std::string text;
  bool HasChain(const std::string& chain) const;
  bool HasLine(const std::string& line) const;
};

// ipset restore input for the custom, connected and dynamic sets
// (mwan3_set_custom_ipset, mwan3_set_connected_ipv4/6,
// mwan3_set_dynamic_ipset). `main_v4` = `ip -4 route` lines, `all_v4` = `ip -4
// route list table 0`, `main_v6` = `ip -6 route`.
std::string IpsetRestore(const std::vector<std::string>& main_v4,
                         const std::vector<std::string>& all_v4,
                         const std::vector<std::string>& main_v6);

// mwan3_set_general_rules: blackhole and unreachable rules at 2000+61/62
// (for the default mask), when absent (`existing_prefs` from `ip rule`).
std::vector<Argv> GeneralRules(const Config& c, Family f,
                               const std::vector<int>& existing_prefs);
// mwan3_set_general_iptables: mwan3_hook and its chains, hooked into
// PREROUTING and OUTPUT.
std::string GeneralIptables(const Config& c, Family f, const Current& cur);
// mwan3_create_iface_iptables: mwan3_iface_in_<iface>.
std::string IfaceIptables(const Config& c, const Interface& i,
                          const Current& cur);
// mwan3_delete_iface_iptables.
std::string DeleteIfaceIptables(const Config& c, const Interface& i);
// mwan3_create_iface_rules: 1000+id iif, 2000+id fwmark lookup, 3000+id
// fwmark unreachable (after deleting the interface's old ones, whose prefs
// are in `existing_prefs`).
std::vector<Argv> IfaceRules(const Config& c, const Interface& i,
                             const std::vector<int>& existing_prefs);
std::vector<Argv> DeleteIfaceRules(const Config& c, const Interface& i,
                                   const std::vector<int>& existing_prefs);
// mwan3rtmon's mwan3_add_all_routes: main-table routes copied into the
// tables of the `active` interfaces (those with an mwan3_iface_in_ chain).
std::vector<Argv> TableRoutes(const Config& c, Family f,
                              const std::vector<std::string>& main_routes,
                              const std::vector<int>& active_ids);
// mwan3_set_policies_iptables: every policy chain rebuilt from the online
// members (`online`: interface name -> iface_state is "online").
std::string PoliciesIptables(const Config& c, Family f, const Current& cur,
                             const std::map<std::string, bool>& online);
// mwan3_set_user_rules: the mwan3_rules chain.
std::string UserRulesIptables(const Config& c, Family f, const Current& cur);

}  // namespace mwan3

#endif  // TSWATCHDOG_TESTS_MWAN3_MWAN3_CONFIG_H_
