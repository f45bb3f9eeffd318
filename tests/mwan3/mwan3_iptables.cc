// The iptables (mangle) and ip rule/route parts of mwan3_config.h.
#include <algorithm>
#include <sstream>

#include "tests/mwan3/mwan3_config.h"

namespace mwan3 {
namespace {

const char* const kSetChains[] = {"custom", "connected", "dynamic"};

// Collects iptables-restore lines for the mangle table.
class Update {
 public:
  Update() { text_ = "*mangle\n"; }
  void Add(const std::string& line) { text_ += line + "\n"; }
  std::string Commit() { return text_ + "COMMIT\n"; }

 private:
  std::string text_;
};

uint32_t MmxDefault(const Config& c) { return c.IdMask(c.MmDefault()); }

void AddHook(const Config& c, Family f, Update* u) {
  const std::string fam = FamilyName(f);
  const std::string mask = Hex(c.mmx_mask);
  u->Add("-N mwan3_hook");
  if (f == Family::kIpv6) {
    // Router solicitations/advertisements and neighbour discovery stay
    // unmarked (mwan3_set_general_iptables).
    for (int type = 133; type <= 137; ++type) {
      u->Add("-A mwan3_hook -p ipv6-icmp -m icmp6 --icmpv6-type " +
             std::to_string(type) + " -j RETURN");
    }
  }
  u->Add("-A mwan3_hook " + Mark0(c) + " -j CONNMARK --restore-mark --nfmask " +
         mask + " --ctmask " + mask);
  u->Add("-A mwan3_hook " + Mark0(c) + " -j mwan3_ifaces_in");
  for (const char* chain : kSetChains) {
    u->Add("-A mwan3_hook " + Mark0(c) + " -j mwan3_" + chain + "_" + fam);
  }
  u->Add("-A mwan3_hook " + Mark0(c) + " -j mwan3_rules");
  u->Add("-A mwan3_hook -j CONNMARK --save-mark --nfmask " + mask +
         " --ctmask " + mask);
  for (const char* chain : kSetChains) {
    u->Add("-A mwan3_hook -m mark ! --mark " + Hex(MmxDefault(c)) + "/" + mask +
           " -j mwan3_" + chain + "_" + fam);
  }
}

}  // namespace

std::string GeneralIptables(const Config& c, Family f, const Current& cur) {
  const std::string fam = FamilyName(f);
  Update u;
  if (!cur.HasChain("mwan3_ifaces_in")) u.Add("-N mwan3_ifaces_in");
  for (const char* chain : kSetChains) {
    const std::string name = std::string("mwan3_") + chain + "_" + fam;
    if (cur.HasChain(name)) continue;
    u.Add("-N " + name);
    u.Add("-A " + name + " -m set --match-set " + name + " dst " +
          SetXmark(c, MmxDefault(c)));
  }
  if (!cur.HasChain("mwan3_rules")) u.Add("-N mwan3_rules");
  if (!cur.HasChain("mwan3_hook")) AddHook(c, f, &u);
  for (const char* hook : {"PREROUTING", "OUTPUT"}) {
    const std::string line = std::string("-A ") + hook + " -j mwan3_hook";
    if (!cur.HasLine(line)) u.Add(line);
  }
  return u.Commit();
}

std::string IfaceIptables(const Config& c, const Interface& i,
                          const Current& cur) {
  const std::string fam = FamilyName(i.family);
  const std::string chain = "mwan3_iface_in_" + i.name;
  Update u;
  if (!cur.HasChain("mwan3_ifaces_in")) u.Add("-N mwan3_ifaces_in");
  u.Add((cur.HasChain(chain) ? "-F " : "-N ") + chain);
  for (const char* set : kSetChains) {
    u.Add("-A " + chain + " -i " + i.device + " -m set --match-set mwan3_" +
          set + "_" + fam + " src " + Mark0(c) +
          " -m comment --comment default " + SetXmark(c, MmxDefault(c)));
  }
  u.Add("-A " + chain + " -i " + i.device + " " + Mark0(c) +
        " -m comment --comment " + i.name + " " + SetXmark(c, c.IdMask(i.id)));
  const std::string jump = "-A mwan3_ifaces_in " + Mark0(c) + " -j " + chain;
  if (!cur.HasLine(jump)) u.Add(jump);
  return u.Commit();
}

std::string DeleteIfaceIptables(const Config& c, const Interface& i) {
  const std::string chain = "mwan3_iface_in_" + i.name;
  Update u;
  u.Add("-D mwan3_ifaces_in " + Mark0(c) + " -j " + chain);
  u.Add("-F " + chain);
  u.Add("-X " + chain);
  return u.Commit();
}

std::vector<Argv> DeleteIfaceRules(const Config&, const Interface& i,
                                   const std::vector<int>& existing_prefs) {
  const std::string ip = i.family == Family::kIpv4 ? "-4" : "-6";
  std::vector<Argv> out;
  for (int pref : existing_prefs) {
    if (pref % 1000 == i.id && pref > 1000 && pref < 4000) {
      out.push_back({"ip", ip, "rule", "del", "pref", std::to_string(pref)});
    }
  }
  return out;
}

std::vector<Argv> IfaceRules(const Config& c, const Interface& i,
                             const std::vector<int>& existing_prefs) {
  std::vector<Argv> out = DeleteIfaceRules(c, i, existing_prefs);
  const std::string ip = i.family == Family::kIpv4 ? "-4" : "-6";
  const std::string id = std::to_string(i.id);
  const std::string mark = Hex(c.IdMask(i.id)) + "/" + Hex(c.mmx_mask);
  out.push_back({"ip", ip, "rule", "add", "pref", std::to_string(1000 + i.id),
                 "iif", i.device, "lookup", id});
  out.push_back({"ip", ip, "rule", "add", "pref", std::to_string(2000 + i.id),
                 "fwmark", mark, "lookup", id});
  out.push_back({"ip", ip, "rule", "add", "pref", std::to_string(3000 + i.id),
                 "fwmark", mark, "unreachable"});
  return out;
}

std::vector<Argv> TableRoutes(const Config& c, Family f,
                              const std::vector<std::string>& main_routes,
                              const std::vector<int>& active_ids) {
  const std::string ip = f == Family::kIpv4 ? "-4" : "-6";
  std::vector<Argv> out;
  auto add = [&](int id, const std::vector<std::string>& route) {
    Argv argv = {"ip", ip, "route", "add", "table", std::to_string(id)};
    argv.insert(argv.end(), route.begin(), route.end());
    out.push_back(std::move(argv));
  };
  for (const auto& line : main_routes) {
    // MWAN3_ROUTE_LINE_EXP (mwan3_init): drop flags `ip route add` refuses.
    std::vector<std::string> route;
    const auto words = Words(line);
    for (size_t k = 0; k < words.size(); ++k) {
      if (words[k] == "linkdown" || words[k] == "offload") continue;
      if ((words[k] == "expires" || words[k] == "error") &&
          k + 1 < words.size()) {
        ++k;
        continue;
      }
      route.push_back(words[k]);
    }
    if (route.empty()) continue;
    std::string dev;
    auto it = std::find(route.begin(), route.end(), "dev");
    if (it != route.end() && it + 1 != route.end()) dev = *(it + 1);
    int tid = 0;
    for (const auto& i : c.interfaces) {
      if (i.family == f && i.enabled && !dev.empty() && i.device == dev) {
        tid = i.id;
      }
    }
    auto active = [&](int id) {
      return std::count(active_ids.begin(), active_ids.end(), id) > 0;
    };
    // mwan3_add_all_routes: a route of an inactive interface falls through to
    // the second branch, like one of no mwan3 interface.
    if (tid != 0 && active(tid)) {
      add(tid, route);
    } else if (route[0] != "default" && route[0] != "fe80::/64") {
      for (int id : active_ids) add(id, route);
    }
  }
  return out;
}

}  // namespace mwan3
