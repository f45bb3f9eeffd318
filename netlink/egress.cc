#include "netlink/egress.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <cerrno>

namespace netlink {

IpAddress DefaultProbe(Family family) {
  return *IpAddress::Parse(family == Family::kV4 ? "192.0.2.1" : "2001:db8::1");
}

std::vector<uint8_t> BuildRouteQuery(const IpAddress& probe, uint32_t fwmark,
                                     uint32_t seq) {
  alignas(nlmsghdr) uint8_t buf[256] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = seq;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<uint8_t>(ToAf(probe.family()));
  rtm->rtm_dst_len = static_cast<uint8_t>(probe.size() * 8);
  // Without this flag the reply names the main table whatever rule matched;
  // with it, the table that really answered (mwan3's per-WAN tables).
  rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
  mnl_attr_put(nlh, RTA_DST, probe.size(), probe.data());
  mnl_attr_put_u32(nlh, RTA_MARK, fwmark);
  return std::vector<uint8_t>(buf, buf + nlh->nlmsg_len);
}

std::optional<RouteLookup> FindRouteReply(const std::vector<Message>& messages,
                                          uint32_t seq) {
  for (const Message& msg : messages) {
    if (msg.seq != seq) continue;
    if (auto* err = std::get_if<ErrorMessage>(&msg.body)) {
      // An ack (0) without a route would be odd; report it as "no route".
      return RouteLookup{err->error != 0 ? err->error : -ENOENT, std::nullopt};
    }
    if (auto* route = std::get_if<RouteMessage>(&msg.body);
        route != nullptr && !route->deleted) {
      return RouteLookup{0, *route};
    }
  }
  return std::nullopt;
}

namespace {

// With no global address the kernel still answers, with ::1 or a link-local
// source; neither reaches the internet.
bool IsUsableSource(const IpAddress& source, const Model& model) {
  static const Prefix kUnroutable[] = {
      {*IpAddress::Parse("127.0.0.0"), 8},
      {*IpAddress::Parse("169.254.0.0"), 16},
      {*IpAddress::Parse("0.0.0.0"), 8},
      {*IpAddress::Parse("::1"), 128},
      {*IpAddress::Parse("::"), 128},
      {*IpAddress::Parse("fe80::"), 10},
  };
  for (const Prefix& prefix : kUnroutable) {
    if (prefix.Contains(source)) return false;
  }
  for (const auto& [index, link] : model.links()) {
    if (const Address* addr = model.FindAddress(index, source)) {
      return addr->IsUsableSource() && addr->scope == RT_SCOPE_UNIVERSE;
    }
  }
  // Not in the model yet (its message is still in flight). The kernel never
  // picks a tentative IPv6 source, and IPv4 has no DAD: trust it.
  return true;
}

}  // namespace

Egress MakeEgress(const RouteLookup& lookup, const Model& model) {
  Egress egress;
  egress.lookup_error = ErrnoFromNetlinkError(lookup.error);
  if (!lookup.route) return egress;
  const RouteMessage& route = *lookup.route;
  // unreachable / prohibit / blackhole routes answer with an error, but be
  // explicit: only a unicast route through a device carries packets.
  if (route.type != RTN_UNICAST || route.oif == 0) return egress;
  egress.present = true;
  egress.ifindex = route.oif;
  egress.gateway = route.gateway;
  egress.source = route.prefsrc;
  egress.table = route.table;
  if (const Link* link = model.FindLink(route.oif)) {
    egress.dev = link->name;
    egress.link_up = link->IsUp();
    egress.carrier = link->HasCarrier();
    egress.via_tailscale = model.IsTailscaleName(link->name);
  } else {
    egress.dev = "if" + std::to_string(route.oif);
  }
  if (egress.source)
    egress.source_usable = IsUsableSource(*egress.source, model);
  return egress;
}

}  // namespace netlink
