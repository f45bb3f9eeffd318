#include "netlink/model.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <algorithm>

namespace netlink {

std::vector<Prefix> IgnorePolicy::DefaultTailscalePrefixes() {
  return {Prefix{*IpAddress::Parse("100.64.0.0"), 10},
          Prefix{*IpAddress::Parse("fd7a:115c:a1e0::"), 48}};
}

bool Link::IsUp() const { return (flags & IFF_UP) != 0; }
bool Link::HasCarrier() const { return (flags & IFF_LOWER_UP) != 0; }

bool Address::IsUsableSource() const {
  return (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) == 0;
}

Model::Model(IgnorePolicy policy) : policy_(std::move(policy)) {}

void Model::Clear() {
  links_.clear();
  addresses_.clear();
  routes_.clear();
  rules_.clear();
}

const Link* Model::FindLink(int32_t index) const {
  auto it = links_.find(index);
  return it == links_.end() ? nullptr : &it->second;
}

const Address* Model::FindAddress(int32_t index,
                                  const IpAddress& address) const {
  auto it = addresses_.find({index, address});
  return it == addresses_.end() ? nullptr : &it->second;
}

std::vector<Address> Model::AddressesOn(int32_t index) const {
  std::vector<Address> out;
  for (auto it = addresses_.lower_bound({index, IpAddress()});
       it != addresses_.end() && std::get<0>(it->first) == index; ++it) {
    out.push_back(it->second);
  }
  return out;
}

int32_t Model::FindLinkIndex(const std::string& name) const {
  for (const auto& [index, link] : links_) {
    if (link.name == name) return index;
  }
  return 0;
}

bool Model::IsTailscaleName(const std::string& name) const {
  return std::find(policy_.tailscale_interfaces.begin(),
                   policy_.tailscale_interfaces.end(),
                   name) != policy_.tailscale_interfaces.end();
}

bool Model::IsTailscaleLink(int32_t index) const {
  const Link* link = FindLink(index);
  return link != nullptr && IsTailscaleName(link->name);
}

bool Model::IsTailscaleAddress(const IpAddress& address) const {
  return std::any_of(policy_.tailscale_prefixes.begin(),
                     policy_.tailscale_prefixes.end(),
                     [&](const Prefix& p) { return p.Contains(address); });
}

Relevance Model::Apply(const MessageBody& body) {
  if (auto* link = std::get_if<LinkMessage>(&body)) return ApplyLink(*link);
  if (auto* addr = std::get_if<AddressMessage>(&body))
    return ApplyAddress(*addr);
  if (auto* route = std::get_if<RouteMessage>(&body)) return ApplyRoute(*route);
  if (auto* rule = std::get_if<RuleMessage>(&body)) return ApplyRule(*rule);
  return Relevance::kIgnored;
}

Relevance Model::ApplyLink(const LinkMessage& msg) {
  if (msg.wireless_only) return Relevance::kIgnored;
  auto it = links_.find(msg.index);
  // A RTM_DELLINK may arrive for a link we already forgot; the name is in it.
  const bool tailscale =
      IsTailscaleName(msg.name) ||
      (it != links_.end() && IsTailscaleName(it->second.name));
  Relevance changed = Relevance::kUnchanged;
  if (msg.deleted) {
    if (it != links_.end()) {
      links_.erase(it);
      changed = Relevance::kChanged;
    }
  } else {
    Link link{msg.index, msg.name, msg.kind, msg.flags};
    // Link notifications do not always repeat IFLA_LINKINFO.
    if (link.kind.empty() && it != links_.end()) link.kind = it->second.kind;
    if (it == links_.end()) {
      links_.emplace(msg.index, std::move(link));
      changed = Relevance::kChanged;
    } else if (it->second.name != link.name || it->second.flags != link.flags) {
      it->second = std::move(link);
      changed = Relevance::kChanged;
    }
  }
  return tailscale ? Relevance::kIgnored : changed;
}

Relevance Model::ApplyAddress(const AddressMessage& msg) {
  const AddressKey key{msg.index, msg.address};
  auto it = addresses_.find(key);
  Relevance changed = Relevance::kUnchanged;
  if (msg.deleted) {
    if (it != addresses_.end()) {
      addresses_.erase(it);
      changed = Relevance::kChanged;
    }
  } else {
    Address addr{msg.index, msg.address, msg.prefix_len, msg.scope, msg.flags};
    // IPv6 re-announces addresses on every RA with new lifetimes only; those
    // compare equal here and are no hint (tailscale netmon #4282 does the
    // same).
    if (it == addresses_.end()) {
      addresses_.emplace(key, addr);
      changed = Relevance::kChanged;
    } else if (it->second.prefix_len != addr.prefix_len ||
               it->second.flags != addr.flags ||
               it->second.scope != addr.scope) {
      it->second = addr;
      changed = Relevance::kChanged;
    }
  }
  if (IsTailscaleLink(msg.index) || IsTailscaleAddress(msg.address)) {
    return Relevance::kIgnored;
  }
  return changed;
}

Relevance Model::ApplyRoute(const RouteMessage& msg) {
  const uint8_t max_len =
      msg.family == Family::kV4 ? kMaxUplinkPrefixV4 : kMaxUplinkPrefixV6;
  // Cached clones, multicast, and the local table (its routes follow the
  // addresses, which we see as address messages) cannot move the uplink.
  if (msg.dst_len > max_len || (msg.flags & RTM_F_CLONED) != 0 ||
      msg.type == RTN_MULTICAST || msg.table == RT_TABLE_LOCAL) {
    return Relevance::kIgnored;
  }
  IpAddress dst = msg.dst.value_or(
      *IpAddress::Parse(msg.family == Family::kV4 ? "0.0.0.0" : "::"));
  const RouteKey key{msg.family,  msg.table, dst,
                     msg.dst_len, msg.tos,   msg.priority};
  auto it = routes_.find(key);
  Relevance changed = Relevance::kUnchanged;
  if (msg.deleted) {
    if (it != routes_.end()) {
      routes_.erase(it);
      changed = Relevance::kChanged;
    }
  } else if (it == routes_.end()) {
    routes_.emplace(key, msg);
    changed = Relevance::kChanged;
  } else if (it->second.oif != msg.oif || it->second.gateway != msg.gateway ||
             it->second.prefsrc != msg.prefsrc || it->second.type != msg.type ||
             it->second.flags != msg.flags ||
             it->second.protocol != msg.protocol) {
    it->second = msg;
    changed = Relevance::kChanged;
  }
  const bool tailscale =
      std::find(policy_.tailscale_tables.begin(),
                policy_.tailscale_tables.end(),
                msg.table) != policy_.tailscale_tables.end() ||
      IsTailscaleLink(msg.oif) ||
      (msg.dst && msg.dst_len > 0 && IsTailscaleAddress(*msg.dst));
  return tailscale ? Relevance::kIgnored : changed;
}

Relevance Model::ApplyRule(const RuleMessage& msg) {
  const RuleKey key{msg.family, msg.priority,           msg.table,
                    msg.action, msg.fwmark.value_or(0), msg.fwmask.value_or(0),
                    msg.iifname};
  Relevance changed = Relevance::kUnchanged;
  if (msg.deleted ? rules_.erase(key) > 0
                  : rules_.try_emplace(key, msg).second) {
    changed = Relevance::kChanged;
  }
  const bool tailscale = std::find(policy_.tailscale_tables.begin(),
                                   policy_.tailscale_tables.end(),
                                   msg.table) != policy_.tailscale_tables.end();
  return tailscale ? Relevance::kIgnored : changed;
}

std::vector<RuleMessage> Model::rules() const {
  std::vector<RuleMessage> out;
  out.reserve(rules_.size());
  for (const auto& entry : rules_) out.push_back(entry.second);
  return out;
}

std::vector<RouteMessage> Model::routes() const {
  std::vector<RouteMessage> out;
  out.reserve(routes_.size());
  for (const auto& entry : routes_) out.push_back(entry.second);
  return out;
}

}  // namespace netlink
