#include "tests/mwan3/mwan3_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace mwan3 {

const char* FamilyName(Family f) {
  return f == Family::kIpv4 ? "ipv4" : "ipv6";
}

namespace {

int CountBits(uint32_t n) {
  int count = 0;
  for (; n != 0; n &= n - 1) ++count;
  return count;
}

double GetSeconds(const UciSection& s, const std::string& key,
                  double fallback) {
  const std::string text = s.Get(key, "");
  if (text.empty()) return fallback;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  return end == text.c_str() ? fallback : value;
}

// mwan3track's options (usr/sbin/mwan3track, main()), with its defaults.
bool LoadTracking(const UciSection& s, Interface* i, std::string* error) {
  if (s.Get("track_method", "ping") != "ping" ||
      s.GetBool("check_quality", false)) {
    *error = "interface '" + s.name +
             "': the stand-in tracks with ping only, without check_quality";
    return false;
  }
  i->track_ips = s.List("track_ip");
  i->reliability = s.GetInt("reliability", 1);
  i->count = s.GetInt("count", 1);
  i->size = s.GetInt("size", 56);
  i->max_ttl = s.GetInt("max_ttl", 60);
  i->timeout_s = GetSeconds(s, "timeout", 4);
  i->interval_s = GetSeconds(s, "interval", 10);
  i->failure_interval_s = GetSeconds(s, "failure_interval", i->interval_s);
  i->recovery_interval_s = GetSeconds(s, "recovery_interval", i->interval_s);
  i->keep_failure_interval = s.GetBool("keep_failure_interval", false);
  i->down = s.GetInt("down", 5);
  i->up = s.GetInt("up", 5);
  return true;
}

std::string NetifdDevice(const UciFile& network, const std::string& name) {
  for (const UciSection* s : network.OfType("interface")) {
    if (s->name == name) return s->Get("device", s->Get("ifname", ""));
  }
  return "";
}

}  // namespace

int Config::MmDefault() const { return (1 << CountBits(mmx_mask)) - 1; }
int Config::MmBlackhole() const { return MmDefault() - 2; }
int Config::MmUnreachable() const { return MmDefault() - 1; }

uint32_t Config::IdMask(int id) const {
  uint32_t result = 0;
  int bit_val = 0;
  for (int bit = 0; bit < 32; ++bit) {
    if ((mmx_mask >> bit) & 1u) {
      if ((static_cast<uint32_t>(id) >> bit_val) & 1u) result |= 1u << bit;
      ++bit_val;
    }
  }
  return result;
}

const Interface* Config::FindInterface(const std::string& name) const {
  for (const auto& i : interfaces) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

const Member* Config::FindMember(const std::string& name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::optional<Config> LoadConfig(const UciFile& mwan3, const UciFile& network,
                                 std::string* error) {
  Config c;
  if (const UciSection* g = mwan3.Find("globals")) {
    c.mmx_mask = static_cast<uint32_t>(
        std::strtoul(g->Get("mmx_mask", "0x3F00").c_str(), nullptr, 0));
  }
  int id = 0;
  for (const UciSection* s : mwan3.OfType("interface")) {
    Interface i;
    i.name = s->name;
    i.id = ++id;
    i.enabled = s->GetBool("enabled", false);
    i.family =
        s->Get("family", "ipv4") == "ipv6" ? Family::kIpv6 : Family::kIpv4;
    i.device = NetifdDevice(network, s->name);
    i.initial_state = s->Get("initial_state", "online");
    i.flush_conntrack = s->List("flush_conntrack");
    if (!LoadTracking(*s, &i, error)) return std::nullopt;
    c.interfaces.push_back(std::move(i));
  }
  for (const UciSection* s : mwan3.OfType("member")) {
    c.members.push_back({s->name, s->Get("interface", ""),
                         s->GetInt("metric", 1), s->GetInt("weight", 1)});
  }
  for (const UciSection* s : mwan3.OfType("policy")) {
    c.policies.push_back(
        {s->name, s->List("use_member"), s->Get("last_resort", "unreachable")});
  }
  for (const UciSection* s : mwan3.OfType("rule")) {
    if (s->GetBool("sticky", false) || !s->Get("src_iface", "").empty()) {
      *error = "rule '" + s->name +
               "': the stand-in does not implement sticky or src_iface";
      return std::nullopt;
    }
    c.rules.push_back({s->name, s->Get("proto", "all"), s->Get("src_ip", ""),
                       s->Get("src_port", ""), s->Get("dest_ip", ""),
                       s->Get("dest_port", ""), s->Get("ipset", ""),
                       s->Get("use_policy", ""), s->Get("family", "any")});
  }
  return c;
}

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", value);
  return text;
}

std::string Mark0(const Config& c) {
  return "-m mark --mark 0x0/" + Hex(c.mmx_mask);
}

std::string SetXmark(const Config& c, uint32_t value) {
  return "-j MARK --set-xmark " + Hex(value) + "/" + Hex(c.mmx_mask);
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool Current::HasChain(const std::string& chain) const {
  return HasLine("-N " + chain);
}

bool Current::HasLine(const std::string& line) const {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

namespace {

bool IsAddress(std::string token, int af) {
  const size_t slash = token.find('/');
  if (slash != std::string::npos) token.resize(slash);
  unsigned char buf[16];
  return inet_pton(af, token.c_str(), buf) == 1;
}

void AddSet(std::string* out, const std::string& name, const char* type) {
  *out += "-! create " + name + " " + type + "\nflush " + name + "\n";
}

}  // namespace

std::string IpsetRestore(const std::vector<std::string>& main_v4,
                         const std::vector<std::string>& all_v4,
                         const std::vector<std::string>& main_v6) {
  std::string out;
  AddSet(&out, "mwan3_dynamic_ipv4", "list:set");
  AddSet(&out, "mwan3_dynamic_ipv6", "hash:net family inet6");
  AddSet(&out, "mwan3_custom_ipv4", "hash:net");
  AddSet(&out, "mwan3_custom_ipv6", "hash:net family inet6");
  AddSet(&out, "mwan3_connected_ipv4", "hash:net");
  // mwan3_set_connected_ipv4: destinations of the main table, and the
  // addresses of local/broadcast routes (second word of `table 0` lines).
  for (const auto& line : main_v4) {
    auto w = Words(line);
    if (!w.empty() && IsAddress(w[0], AF_INET)) {
      out += "-! add mwan3_connected_ipv4 " + w[0] + "\n";
    }
  }
  for (const auto& line : all_v4) {
    auto w = Words(line);
    if (w.size() > 1 && IsAddress(w[1], AF_INET)) {
      out += "-! add mwan3_connected_ipv4 " + w[1] + "\n";
    }
  }
  out += "-! add mwan3_connected_ipv4 224.0.0.0/3\n";
  AddSet(&out, "mwan3_connected_ipv6", "hash:net family inet6");
  for (const auto& line : main_v6) {
    auto w = Words(line);
    if (!w.empty() && IsAddress(w[0], AF_INET6)) {
      out += "-! add mwan3_connected_ipv6 " + w[0] + "\n";
    }
  }
  return out;
}

std::vector<Argv> GeneralRules(const Config& c, Family f,
                               const std::vector<int>& existing_prefs) {
  const std::string ip = f == Family::kIpv4 ? "-4" : "-6";
  const std::string mask = Hex(c.mmx_mask);
  std::vector<Argv> out;
  const std::pair<int, const char*> rules[] = {
      {c.MmBlackhole(), "blackhole"}, {c.MmUnreachable(), "unreachable"}};
  for (const auto& [mm, type] : rules) {
    const int pref = 2000 + mm;
    if (std::count(existing_prefs.begin(), existing_prefs.end(), pref)) {
      continue;
    }
    out.push_back({"ip", ip, "rule", "add", "pref", std::to_string(pref),
                   "fwmark", Hex(c.IdMask(mm)) + "/" + mask, type});
  }
  return out;
}

}  // namespace mwan3
