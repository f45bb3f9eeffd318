#include "watchdog/core/mwan3.h"

#include <algorithm>
#include <tuple>

namespace watchdog {
namespace {

constexpr uint32_t kTailscaleMark = 0x80000;
constexpr uint32_t kTailscaleMask = 0xff0000;
constexpr uint32_t kMainTable = 254;

using Key = std::pair<uint32_t, netlink::Family>;

Mwan3RuleSet& Entry(std::map<Key, Mwan3RuleSet>* sets, uint32_t id,
                    netlink::Family family) {
  Mwan3RuleSet& set = (*sets)[{id, family}];
  set.id = id;
  set.family = family;
  return set;
}

// One of mwan3's mark rules at `base`+id: its id, if the mark is the id's.
std::optional<uint32_t> MarkRuleId(const netlink::RuleMessage& rule,
                                   uint32_t base) {
  if (rule.priority <= base || rule.priority >= base + 1000) {
    return std::nullopt;
  }
  if (!rule.fwmark || !rule.fwmask || *rule.fwmask == 0) return std::nullopt;
  const uint32_t id = rule.priority - base;
  if (*rule.fwmark != Mwan3IdToMark(id, *rule.fwmask)) return std::nullopt;
  return id;
}

void ReadTailscaleRule(const netlink::RuleMessage& rule, Mwan3Rules* out) {
  if (rule.fwmark != kTailscaleMark || rule.fwmask != kTailscaleMask ||
      rule.table != kMainTable || rule.action != netlink::kRuleActionToTable ||
      rule.priority < 10) {
    return;
  }
  const uint32_t base = rule.priority - 10;
  // Both families carry the rule; the lower base wins if they disagree.
  if (out->mode != TailscaleRuleMode::kNone && base >= out->tailscale_base) {
    return;
  }
  out->tailscale_base = base;
  out->mode = base == 1300   ? TailscaleRuleMode::kA
              : base == 5200 ? TailscaleRuleMode::kB
                             : TailscaleRuleMode::kOther;
}

void ReadMwan3Rule(const netlink::RuleMessage& rule,
                   std::map<Key, Mwan3RuleSet>* sets, Mwan3Rules* out) {
  if (auto id = MarkRuleId(rule, 2000);
      id && rule.action == netlink::kRuleActionToTable && rule.table == *id) {
    Mwan3RuleSet& set = Entry(sets, *id, rule.family);
    set.lookup_rule = true;
    set.table = rule.table;
    out->mask = *rule.fwmask;
    out->present = true;
  } else if (auto uid = MarkRuleId(rule, 3000);
             uid && rule.action == netlink::kRuleActionUnreachable) {
    Entry(sets, *uid, rule.family).unreachable_rule = true;
  } else if (rule.priority > 1000 && rule.priority < 2000 &&
             !rule.iifname.empty() &&
             rule.action == netlink::kRuleActionToTable &&
             rule.table == rule.priority - 1000) {
    Entry(sets, rule.priority - 1000, rule.family).device = rule.iifname;
  }
}

std::string_view Trim(std::string_view s) {
  const char* kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// The next UCI word of `line` (quoted or bare); advances `line`.
std::string NextWord(std::string_view* line) {
  *line = Trim(*line);
  if (line->empty()) return {};
  const char quote = line->front();
  if (quote == '\'' || quote == '"') {
    const size_t end = line->find(quote, 1);
    std::string word(line->substr(
        1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    *line = end == std::string_view::npos ? std::string_view()
                                          : line->substr(end + 1);
    return word;
  }
  const size_t end = line->find_first_of(" \t");
  std::string word(line->substr(0, end));
  *line =
      end == std::string_view::npos ? std::string_view() : line->substr(end);
  return word;
}

}  // namespace

uint32_t Mwan3IdToMark(uint32_t id, uint32_t mask) {
  uint32_t result = 0;
  int bit = 0;
  for (int mask_bit = 0; mask_bit < 32; ++mask_bit) {
    if (!(mask >> mask_bit & 1)) continue;
    if (bit < 32 && (id >> bit & 1)) result |= 1u << mask_bit;
    ++bit;
  }
  return result;
}

const char* TailscaleRuleModeName(TailscaleRuleMode mode) {
  switch (mode) {
    case TailscaleRuleMode::kNone:
      return "none";
    case TailscaleRuleMode::kA:
      return "A";
    case TailscaleRuleMode::kB:
      return "B";
    case TailscaleRuleMode::kOther:
      return "other";
  }
  return "?";
}

Mwan3Rules DetectMwan3(std::span<const netlink::RuleMessage> rules) {
  Mwan3Rules out;
  std::map<Key, Mwan3RuleSet> sets;
  for (const netlink::RuleMessage& rule : rules) {
    if (rule.deleted) continue;
    ReadTailscaleRule(rule, &out);
    ReadMwan3Rule(rule, &sets, &out);
  }
  if (!out.present) sets.clear();  // iif rules alone are not mwan3's
  for (auto& [key, set] : sets) out.interfaces.push_back(std::move(set));
  return out;
}

std::vector<std::string> Mwan3InterfaceOrder(std::string_view uci) {
  std::vector<std::string> names;
  while (!uci.empty()) {
    const size_t eol = uci.find('\n');
    std::string_view line = uci.substr(0, eol);
    uci = eol == std::string_view::npos ? std::string_view()
                                        : uci.substr(eol + 1);
    if (NextWord(&line) != "config") continue;
    if (NextWord(&line) != "interface") continue;
    std::string name = NextWord(&line);
    names.push_back(name.starts_with('#') ? std::string() : name);
  }
  return names;
}

const char* WanStateName(WanState state) {
  switch (state) {
    case WanState::kUnknown:
      return "unknown";
    case WanState::kOnline:
      return "online";
    case WanState::kOffline:
      return "offline";
    case WanState::kConnecting:
      return "connecting";
    case WanState::kDisconnecting:
      return "disconnecting";
    case WanState::kDisabled:
      return "disabled";
  }
  return "?";
}

WanState ParseMwan3Status(std::string_view content) {
  const std::string_view word = Trim(content);
  for (WanState state :
       {WanState::kOnline, WanState::kOffline, WanState::kConnecting,
        WanState::kDisconnecting, WanState::kDisabled}) {
    if (word == WanStateName(state)) return state;
  }
  return WanState::kUnknown;
}

const Mwan3Wan* Mwan3View::FindByDevice(std::string_view device,
                                        netlink::Family family) const {
  for (const Mwan3Wan& wan : wans) {
    if (!device.empty() && wan.device == device && wan.family == family) {
      return &wan;
    }
  }
  return nullptr;
}

std::string Mwan3Wan::Label() const {
  std::string label = name.empty() ? "id " + std::to_string(id) : name;
  return device.empty() ? label : label + " (" + device + ")";
}

std::string Mwan3View::Describe() const {
  if (!rules.present) return "mwan3: not present";
  std::string text = std::string("mwan3: tailscaled mode ") +
                     TailscaleRuleModeName(rules.mode);
  if (rules.mode != TailscaleRuleMode::kNone) {
    text += " (rule " + std::to_string(rules.tailscale_base + 10) + ")";
  }
  const char* sep = "; ";
  for (const Mwan3Wan& wan : wans) {
    text += sep + (wan.name.empty() ? "?" : wan.name) + " (id " +
            std::to_string(wan.id) +
            (wan.device.empty() ? "" : ", " + wan.device) + ") " +
            WanStateName(wan.state);
    sep = ", ";
  }
  return text;
}

Mwan3View BuildMwan3View(Mwan3Rules rules,
                         std::span<const std::string> interface_order,
                         const std::map<std::string, Mwan3StatusFiles>& files) {
  Mwan3View view;
  auto add = [&](const std::string& name, uint32_t id) -> Mwan3Wan& {
    Mwan3Wan& wan = view.wans.emplace_back();
    wan.name = name;
    wan.id = id;
    if (auto it = files.find(name); !name.empty() && it != files.end()) {
      if (it->second.iface_state)
        wan.state = ParseMwan3Status(*it->second.iface_state);
      if (it->second.track_status)
        wan.track = ParseMwan3Status(*it->second.track_status);
    }
    return wan;
  };
  for (const Mwan3RuleSet& set : rules.interfaces) {
    const std::string name = set.id <= interface_order.size()
                                 ? interface_order[set.id - 1]
                                 : std::string();
    Mwan3Wan& wan = add(name, set.id);
    wan.family = set.family;
    wan.device = set.device;
  }
  // Interfaces with status files but no rules (mwan3 stopped, or not up).
  for (const auto& entry : files) {
    const std::string& name = entry.first;
    const bool known =
        std::any_of(view.wans.begin(), view.wans.end(),
                    [&](const Mwan3Wan& w) { return w.name == name; });
    if (known) continue;
    auto pos = std::find(interface_order.begin(), interface_order.end(), name);
    add(name, pos == interface_order.end()
                  ? 0
                  : static_cast<uint32_t>(pos - interface_order.begin() + 1));
  }
  view.rules = std::move(rules);
  return view;
}

}  // namespace watchdog
