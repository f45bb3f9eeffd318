#include "netlink/route_control.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <system_error>

#include "netlink/parser.h"

namespace netlink {

std::vector<uint8_t> BuildRouteChange(bool add, const RouteMessage& route,
                                      uint32_t seq) {
  alignas(nlmsghdr) uint8_t buf[512] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (add) nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
  nlh->nlmsg_seq = seq;
  auto* rtm =
      static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<uint8_t>(ToAf(route.family));
  rtm->rtm_dst_len = route.dst_len;
  rtm->rtm_tos = route.tos;
  rtm->rtm_protocol = route.protocol;
  rtm->rtm_scope = route.scope;
  rtm->rtm_type = route.type;
  rtm->rtm_table = route.table < 256 ? static_cast<uint8_t>(route.table)
                                     : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  mnl_attr_put_u32(nlh, RTA_TABLE, route.table);
  if (route.dst && route.dst_len > 0) {
    mnl_attr_put(nlh, RTA_DST, route.dst->size(), route.dst->data());
  }
  if (route.gateway) {
    mnl_attr_put(nlh, RTA_GATEWAY, route.gateway->size(),
                 route.gateway->data());
  }
  if (route.oif != 0) {
    mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(route.oif));
  }
  mnl_attr_put_u32(nlh, RTA_PRIORITY, route.priority);
  return std::vector<uint8_t>(buf, buf + nlh->nlmsg_len);
}

RouteControl::RouteControl(std::chrono::milliseconds timeout)
    : socket_(RtnlSocket::Open(/*nonblocking=*/false)), buffer_(16 * 1024) {
  socket_.SetReceiveTimeout(timeout);
}

int RouteControl::Add(const RouteMessage& route) { return Change(true, route); }

int RouteControl::Delete(const RouteMessage& route) {
  return Change(false, route);
}

int RouteControl::Change(bool add, const RouteMessage& route) {
  const uint32_t seq = ++seq_;
  try {
    socket_.Send(BuildRouteChange(add, route, seq));
  } catch (const std::system_error& e) {
    return e.code().value();
  }
  for (;;) {
    ssize_t n = socket_.Receive(buffer_);
    if (n == -EPERM) continue;  // not from the kernel
    if (n < 0) return static_cast<int>(-n);
    ParseResult parsed = ParseDatagram({buffer_.data(), size_t(n)});
    for (const Message& msg : parsed.messages) {
      if (msg.seq != seq) continue;  // the ack of an abandoned request
      if (const auto* err = std::get_if<ErrorMessage>(&msg.body)) {
        return ErrnoFromNetlinkError(err->error);
      }
    }
    if (parsed.error) return EPROTO;
  }
}

}  // namespace netlink
