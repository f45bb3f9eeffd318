// Policy chains and user rules (mwan3_config.h):
// mwan3_create_policies_iptables, mwan3_set_policy and
// mwan3_set_user_iptables_rule of mwan3.sh.
#include <arpa/inet.h>

#include <algorithm>

#include "tests/mwan3/mwan3_config.h"

namespace mwan3 {
namespace {

constexpr int kDefaultLowestMetric = 256;  // DEFAULT_LOWEST_METRIC

struct ChainRule {
  std::string text;
  bool member = false;  // carries an "iface weight total" comment
};

ChainRule LastResort(const Config& c, const std::string& last_resort) {
  if (last_resort == "blackhole") {
    return {Mark0(c) + " -m comment --comment blackhole " +
            SetXmark(c, c.IdMask(c.MmBlackhole()))};
  }
  if (last_resort == "default") {
    return {Mark0(c) + " -m comment --comment default " +
            SetXmark(c, c.IdMask(c.MmDefault()))};
  }
  return {Mark0(c) + " -m comment --comment unreachable " +
          SetXmark(c, c.IdMask(c.MmUnreachable()))};
}

// "weight*1000/total" printed the way mwan3_set_policy prints it.
std::string Probability(int weight, int total) {
  const int p = weight * 1000 / total;
  if (p < 10) return "0.00" + std::to_string(p);
  if (p < 100) return "0.0" + std::to_string(p);
  if (p < 1000) return "0." + std::to_string(p);
  return "1";
}

// The chain's rules after mwan3_create_policies_iptables and one
// mwan3_set_policy per member, in use_member order.
std::vector<ChainRule> PolicyChain(const Config& c, const Policy& policy,
                                   Family f,
                                   const std::map<std::string, bool>& online) {
  std::vector<ChainRule> chain = {LastResort(c, policy.last_resort)};
  int lowest = kDefaultLowestMetric, total = 0;
  for (const auto& member_name : policy.members) {
    const Member* m = c.FindMember(member_name);
    const Interface* i = m ? c.FindInterface(m->interface) : nullptr;
    if (!i || m->metric > kDefaultLowestMetric || i->family != f) continue;
    auto it = online.find(i->name);
    const bool is_online = it != online.end() && it->second;
    const std::string comment =
        "\"" + i->name + " " + std::to_string(m->weight) + " ";
    if (is_online && m->metric < lowest) {
      lowest = m->metric;
      total = m->weight;
      chain = {{Mark0(c) + " -m comment --comment " + comment +
                    std::to_string(m->weight) + "\" " +
                    SetXmark(c, c.IdMask(i->id)),
                true}};
    } else if (is_online && m->metric == lowest) {
      total += m->weight;
      chain.insert(
          chain.begin(),
          {Mark0(c) + " -m statistic --mode random --probability " +
               Probability(m->weight, total) + " -m comment --comment " +
               comment + std::to_string(total) + "\" " +
               SetXmark(c, c.IdMask(i->id)),
           true});
    } else if (!is_online && !i->device.empty()) {
      bool has_member = false;
      for (const auto& r : chain) has_member |= r.member;
      if (!has_member) {
        chain.insert(chain.begin(), {"-o " + i->device + " " + Mark0(c) +
                                     " -m comment --comment \"out " + i->name +
                                     " " + i->device + "\" " +
                                     SetXmark(c, c.IdMask(c.MmDefault()))});
      }
    }
  }
  return chain;
}

bool MatchesFamily(const std::string& address, Family f) {
  if (address.empty()) return true;
  std::string a = address.substr(0, address.find('/'));
  unsigned char buf[16];
  return inet_pton(f == Family::kIpv4 ? AF_INET : AF_INET6, a.c_str(), buf) ==
         1;
}

}  // namespace

std::string PoliciesIptables(const Config& c, Family f, const Current& cur,
                             const std::map<std::string, bool>& online) {
  std::string out = "*mangle\n";
  for (const auto& policy : c.policies) {
    if (policy.name.size() > 15) continue;  // "exceeds max of 15 chars"
    const std::string chain = "mwan3_policy_" + policy.name;
    if (!cur.HasChain(chain)) out += "-N " + chain + "\n";
    out += "-F " + chain + "\n";
    for (const auto& rule : PolicyChain(c, policy, f, online)) {
      out += "-A " + chain + " " + rule.text + "\n";
    }
  }
  return out + "COMMIT\n";
}

std::string UserRulesIptables(const Config& c, Family f, const Current& cur) {
  std::string out = "*mangle\n";
  if (!cur.HasChain("mwan3_rules")) out += "-N mwan3_rules\n";
  out += "-F mwan3_rules\n";
  std::vector<std::string> created;
  for (const auto& r : c.rules) {
    if ((r.family == "ipv4" && f != Family::kIpv4) ||
        (r.family == "ipv6" && f != Family::kIpv6) ||
        !MatchesFamily(r.src_ip, f) || !MatchesFamily(r.dest_ip, f) ||
        r.use_policy.empty() || r.name.size() > 15) {
      continue;
    }
    std::string target;
    if (r.use_policy == "default") {
      target = "MARK --set-xmark " + Hex(c.IdMask(c.MmDefault())) + "/" +
               Hex(c.mmx_mask);
    } else if (r.use_policy == "unreachable") {
      target = "MARK --set-xmark " + Hex(c.IdMask(c.MmUnreachable())) + "/" +
               Hex(c.mmx_mask);
    } else if (r.use_policy == "blackhole") {
      target = "MARK --set-xmark " + Hex(c.IdMask(c.MmBlackhole())) + "/" +
               Hex(c.mmx_mask);
    } else {
      target = "mwan3_policy_" + r.use_policy;
      if (!cur.HasChain(target) &&
          std::find(created.begin(), created.end(), target) == created.end()) {
        out += "-N " + target + "\n";
        created.push_back(target);
      }
    }
    const bool ports = r.proto == "tcp" || r.proto == "udp";
    std::string line = "-A mwan3_rules -p " + r.proto;
    if (!r.src_ip.empty()) line += " -s " + r.src_ip;
    if (!r.dest_ip.empty()) line += " -d " + r.dest_ip;
    if (!r.ipset.empty()) line += " -m set --match-set " + r.ipset + " dst";
    if (ports && !r.src_port.empty()) {
      line += " -m multiport --sports " + r.src_port;
    }
    if (ports && !r.dest_port.empty()) {
      line += " -m multiport --dports " + r.dest_port;
    }
    out +=
        line + " -m mark --mark 0/" + Hex(c.mmx_mask) + " -j " + target + "\n";
  }
  return out + "COMMIT\n";
}

}  // namespace mwan3
