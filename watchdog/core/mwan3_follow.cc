#include "watchdog/core/mwan3_follow.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace watchdog {
namespace {

std::string Hex(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", value);
  return text;
}

std::string ModeText(TailscaleRuleMode mode, uint32_t base) {
  std::string text = TailscaleRuleModeName(mode);
  if (mode != TailscaleRuleMode::kNone) {
    text += " (rule " + std::to_string(base + 10) + ")";
  }
  return text;
}

// Whether the rules hold mwan3's rules for the interface with `id` and
// `family`.
bool HasRules(const Mwan3Rules& rules, uint32_t id, netlink::Family family) {
  return std::any_of(rules.interfaces.begin(), rules.interfaces.end(),
                     [&](const Mwan3RuleSet& set) {
                       return set.id == id && set.family == family &&
                              set.lookup_rule;
                     });
}

// mwan3's presence, and tailscaled's mode while mwan3 is present (without
// mwan3, 5210 is simply where tailscaled's rules always are).
void FollowPresence(const Mwan3View& view, Mwan3Memory* memory,
                    Mwan3Follow* out) {
  const Mwan3Rules& rules = view.rules;
  if (rules.present != memory->present) {
    out->changes.push_back(
        std::string("mwan3: ") + (memory->present ? "present" : "not present") +
        " -> " +
        (rules.present ? "present: its rules are in the kernel"
                       : "not present: its rules are gone"));
  }
  const TailscaleRuleMode mode =
      rules.present ? rules.mode : TailscaleRuleMode::kNone;
  const uint32_t base = rules.present ? rules.tailscale_base : 0;
  if (mode == memory->mode && base == memory->tailscale_base) return;
  if (rules.present) {
    out->changes.push_back(
        "mwan3: tailscaled's rules: mode " +
        ModeText(memory->mode, memory->tailscale_base) + " -> " +
        ModeText(mode, base) +
        (mode == TailscaleRuleMode::kA
             ? ": its traffic goes by the main table, before mwan3's rules"
         : mode == TailscaleRuleMode::kB
             ? ": behind mwan3's rules, its new flows follow mwan3's policy"
             : ""));
  }
  memory->mode = mode;
  memory->tailscale_base = base;
}

// A cleanup for `wan`, which just went offline (or was offline when mode B
// began, or at our start).
std::optional<FlowCleanupOrder> CleanupFor(const Mwan3View& view,
                                           const Mwan3Wan& wan,
                                           const std::string& why) {
  if (wan.id == 0) return std::nullopt;
  FlowCleanupOrder order;
  order.wan = wan.Label();
  order.id = wan.id;
  order.mask = view.rules.mask;
  order.mark = Mwan3IdToMark(wan.id, view.rules.mask);
  order.why = why;
  return order;
}

}  // namespace

std::string Mwan3Key(const Mwan3Wan& wan) {
  return wan.name.empty() ? "id " + std::to_string(wan.id) : wan.name;
}

Mwan3Follow FollowMwan3(const Mwan3View& view, const Mwan3Settings& settings,
                        Mwan3Memory* memory) {
  Mwan3Follow out;
  const bool was_mode_b = memory->mode == TailscaleRuleMode::kB;
  FollowPresence(view, memory, &out);
  const bool mode_b =
      view.rules.present && view.rules.mode == TailscaleRuleMode::kB;
  for (const Mwan3Wan& wan : view.wans) {
    const std::string key = Mwan3Key(wan);
    auto known = memory->known.find(key);
    const WanState before =
        known == memory->known.end() ? WanState::kUnknown : known->second;
    if (wan.state == WanState::kUnknown) continue;  // keeps the last known
    if (wan.state != before) {
      out.changes.push_back("mwan3: " + wan.Label() + " " +
                            WanStateName(before) + " -> " +
                            WanStateName(wan.state) + " (mwan3's iface_state)");
    }
    memory->known[key] = wan.state;
    if (!mode_b || !settings.flow_cleanup || wan.state != WanState::kOffline) {
      continue;
    }
    std::string why;
    if (before != WanState::kOffline) {
      why = wan.Label() +
            (before == WanState::kUnknown ? " is offline" : " went offline");
    } else if (!was_mode_b) {
      why = wan.Label() + " is offline and tailscaled is in mode B";
    } else {
      continue;  // cleaned when it went offline
    }
    if (auto order = CleanupFor(view, wan, why)) {
      out.cleanups.push_back(std::move(*order));
    }
  }
  memory->seen = true;
  memory->present = view.rules.present;
  return out;
}

std::optional<std::string> SteeringHold(const Mwan3View& view,
                                        netlink::Family family,
                                        const Mwan3Settings& settings) {
  if (!settings.steering || !view.rules.present ||
      view.rules.mode != TailscaleRuleMode::kA) {
    return std::nullopt;
  }
  for (const Mwan3Wan& wan : view.wans) {
    if (wan.family == family && wan.state == WanState::kUnknown &&
        HasRules(view.rules, wan.id, family)) {
      return wan.Label() +
             "'s state is unknown (its iface_state is missing, unreadable "
             "or being written): steering stays as it is";
    }
  }
  return std::nullopt;
}

std::string FlowCleanupReport::Describe() const {
  if (!error.empty()) return "cleanup for " + order.wan + " failed: " + error;
  std::string text = dry_run ? "would delete " + std::to_string(matched)
                     : deleted == matched
                         ? "deleted " + std::to_string(deleted)
                         : "deleted " + std::to_string(deleted) + " of " +
                               std::to_string(matched);
  text += " conntrack entries of tailscaled's flows (" +
          std::to_string(sockets) + " sockets) with " + order.wan + "'s mark " +
          Hex(order.mark) + "/" + Hex(order.mask);
  if (!tcp_on_dead_wan.empty()) {
    text +=
        "; its TCP connections on it (dead now, their next packets leave "
        "by another WAN with another address):";
    for (const MovedConnection& c : tcp_on_dead_wan) {
      text += " " + c.local.ToString() + " -> " + c.remote.ToString();
    }
  }
  return text;
}

namespace {

bool SameEndpoints(const netlink::SocketEndpoint& local,
                   const netlink::SocketEndpoint& remote,
                   const MovedConnection& c) {
  return local == c.local && remote == c.remote;
}

}  // namespace

std::vector<Finding> FlowCleanupFindings(
    const FlowCleanupReport& report,
    std::span<const MovedConnection> still_there,
    std::span<const JudgedConnection> judged) {
  std::string control, derp;
  for (const MovedConnection& c : still_there) {
    ConnectionKind kind = c.kind;
    for (const JudgedConnection& j : judged) {
      if (SameEndpoints(j.local, j.remote, c)) kind = j.kind;
    }
    if (kind == ConnectionKind::kOther) continue;
    std::string& text = kind == ConnectionKind::kControl ? control : derp;
    text += (text.empty() ? "" : ", ") + c.local.ToString() + " -> " +
            c.remote.ToString();
  }
  const std::string context =
      report.order.wan + " is offline per mwan3 (tailscaled in mode B); ";
  const std::string consequence =
      " carried its mark " + Hex(report.order.mark) +
      (report.dry_run
           ? ": dead with that WAN (dry run: its entry was left)"
           : ": its conntrack entry is gone, its next packets leave by "
             "another WAN with another address, which the far side drops or "
             "resets");
  std::vector<Finding> findings;
  if (!control.empty()) {
    findings.push_back(
        {Finding::Kind::kControlPathDead, "mwan3",
         context + "its control connection " + control + consequence});
  }
  if (!derp.empty()) {
    findings.push_back({Finding::Kind::kDerpPathDead, "mwan3",
                        context + "its DERP connection " + derp + consequence});
  }
  return findings;
}

std::vector<MovedConnection> DeadAfterCleanup(
    std::span<const MovedConnection> matched) {
  std::vector<MovedConnection> dead;
  std::copy_if(matched.begin(), matched.end(), std::back_inserter(dead),
               [](const MovedConnection& c) { return c.established; });
  return dead;
}

Finding SteeringFinding(const std::string& change) {
  return {Finding::Kind::kHandling, "mwan3",
          "steering " + change +
              "; tailscaled's default route interface moved, its netmon "
              "redials by itself"};
}

std::optional<Finding> ModeAWaitFinding(const Mwan3Status& status) {
  if (status.view.rules.mode != TailscaleRuleMode::kA ||
      !status.settings.steering || !status.steering.empty()) {
    return std::nullopt;
  }
  return Finding{Finding::Kind::kHandling, "mwan3",
                 "mwan3 mode A: tailscaled's traffic follows the main table, "
                 "a new control connection would take the same WAN; mwan3's "
                 "verdict and the steering route move it"};
}

std::vector<MovedConnection> StillEstablished(
    std::span<const MovedConnection> moved,
    std::span<const MovedConnection> established) {
  std::vector<MovedConnection> out;
  for (const MovedConnection& c : moved) {
    if (std::any_of(established.begin(), established.end(),
                    [&](const MovedConnection& e) {
                      return SameEndpoints(e.local, e.remote, c);
                    })) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace watchdog
