#include "tests/netlink/netlink_builder.h"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include <stdexcept>
#include <string>

namespace netlink::test {
namespace {

void Pad(std::vector<uint8_t>* bytes) {
  while (bytes->size() % 4) bytes->push_back(0);
}

bool IsV6(std::string_view ip) {
  return ip.find(':') != std::string_view::npos;
}

}  // namespace

MessageBuilder::MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq) {
  nlmsghdr header{};
  header.nlmsg_type = type;
  header.nlmsg_flags = flags;
  header.nlmsg_seq = seq;
  Raw(&header, sizeof header);
}

MessageBuilder& MessageBuilder::Raw(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_.insert(bytes_.end(), p, p + len);
  Pad(&bytes_);
  return *this;
}

MessageBuilder& MessageBuilder::Attr(uint16_t type, const void* data,
                                     size_t len) {
  nlattr attr{};
  attr.nla_len = static_cast<uint16_t>(sizeof attr + len);
  attr.nla_type = type;
  const auto* a = reinterpret_cast<const uint8_t*>(&attr);
  bytes_.insert(bytes_.end(), a, a + sizeof attr);
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_.insert(bytes_.end(), p, p + len);
  Pad(&bytes_);
  return *this;
}

MessageBuilder& MessageBuilder::AttrU32(uint16_t type, uint32_t value) {
  return Attr(type, &value, sizeof value);
}

MessageBuilder& MessageBuilder::AttrString(uint16_t type,
                                           std::string_view value) {
  std::string with_nul(value);
  return Attr(type, with_nul.c_str(), with_nul.size() + 1);
}

MessageBuilder& MessageBuilder::AttrIp(uint16_t type, std::string_view ip) {
  uint8_t buf[16];
  std::string text(ip);
  const int af = IsV6(ip) ? AF_INET6 : AF_INET;
  if (inet_pton(af, text.c_str(), buf) != 1) {
    throw std::invalid_argument("bad IP in test: " + text);
  }
  return Attr(type, buf, af == AF_INET ? 4 : 16);
}

MessageBuilder& MessageBuilder::BeginNested(uint16_t type) {
  open_nests_.push_back(bytes_.size());
  return Attr(type, nullptr, 0);
}

MessageBuilder& MessageBuilder::EndNested() {
  const size_t start = open_nests_.back();
  open_nests_.pop_back();
  const uint16_t len = static_cast<uint16_t>(bytes_.size() - start);
  std::memcpy(bytes_.data() + start, &len, sizeof len);
  return *this;
}

std::vector<uint8_t> MessageBuilder::Bytes() const {
  std::vector<uint8_t> out = bytes_;
  const uint32_t len = static_cast<uint32_t>(out.size());
  std::memcpy(out.data(), &len, sizeof len);  // nlmsg_len
  return out;
}

MessageBuilder& MessageBuilder::AppendTo(std::vector<uint8_t>* datagram) {
  auto bytes = Bytes();
  datagram->insert(datagram->end(), bytes.begin(), bytes.end());
  return *this;
}

MessageBuilder LinkMessage(bool add, int index, std::string_view name,
                           uint32_t flags, std::string_view kind) {
  MessageBuilder b(add ? RTM_NEWLINK : RTM_DELLINK);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  info.ifi_flags = flags;
  b.Payload(info).AttrString(IFLA_IFNAME, name).AttrU32(IFLA_MTU, 1500);
  if (!kind.empty()) {
    b.BeginNested(IFLA_LINKINFO).AttrString(IFLA_INFO_KIND, kind).EndNested();
  }
  return b;
}

MessageBuilder AddressMessage(bool add, int index, std::string_view ip,
                              int prefix_len, uint32_t flags) {
  MessageBuilder b(add ? RTM_NEWADDR : RTM_DELADDR);
  ifaddrmsg info{};
  info.ifa_family = IsV6(ip) ? AF_INET6 : AF_INET;
  info.ifa_prefixlen = static_cast<uint8_t>(prefix_len);
  info.ifa_flags = static_cast<uint8_t>(flags & 0xff);
  info.ifa_index = static_cast<uint32_t>(index);
  b.Payload(info).AttrIp(IFA_ADDRESS, ip);
  if (!IsV6(ip)) b.AttrIp(IFA_LOCAL, ip);
  b.AttrU32(IFA_FLAGS, flags);
  return b;
}

MessageBuilder RouteMessage(bool add, std::string_view dst, int dst_len,
                            int oif, std::string_view gateway, uint32_t table,
                            uint32_t priority) {
  MessageBuilder b(add ? RTM_NEWROUTE : RTM_DELROUTE);
  rtmsg info{};
  info.rtm_family = IsV6(dst) ? AF_INET6 : AF_INET;
  info.rtm_dst_len = static_cast<uint8_t>(dst_len);
  info.rtm_table = table < 256 ? static_cast<uint8_t>(table)
                               : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  info.rtm_protocol = RTPROT_STATIC;
  info.rtm_scope = gateway.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  info.rtm_type = RTN_UNICAST;
  b.Payload(info).AttrU32(RTA_TABLE, table);
  if (dst_len > 0) b.AttrIp(RTA_DST, dst);
  if (!gateway.empty()) b.AttrIp(RTA_GATEWAY, gateway);
  if (oif != 0) b.AttrU32(RTA_OIF, static_cast<uint32_t>(oif));
  if (priority != 0) b.AttrU32(RTA_PRIORITY, priority);
  return b;
}

MessageBuilder RuleMessage(bool add, bool v6, uint32_t priority, uint32_t table,
                           uint32_t fwmark, uint32_t fwmask,
                           std::string_view iifname, uint8_t action) {
  MessageBuilder b(add ? RTM_NEWRULE : RTM_DELRULE);
  fib_rule_hdr info{};
  info.family = v6 ? AF_INET6 : AF_INET;
  info.action = action;
  info.table = table < 256 ? static_cast<uint8_t>(table)
                           : static_cast<uint8_t>(RT_TABLE_UNSPEC);
  b.Payload(info).AttrU32(FRA_TABLE, table).AttrU32(FRA_PRIORITY, priority);
  if (fwmark != 0) b.AttrU32(FRA_FWMARK, fwmark).AttrU32(FRA_FWMASK, fwmask);
  if (!iifname.empty()) b.AttrString(FRA_IIFNAME, iifname);
  return b;
}

MessageBuilder DoneMessage(uint32_t seq) {
  MessageBuilder b(NLMSG_DONE, NLM_F_MULTI, seq);
  int32_t zero = 0;
  return b.Payload(zero);
}

MessageBuilder ErrorMessage(int error, uint32_t seq) {
  MessageBuilder b(NLMSG_ERROR, 0, seq);
  nlmsgerr err{};
  err.error = error;
  return b.Payload(err);
}

MessageBuilder SocketMessage(const SocketSpec& spec, uint32_t seq) {
  MessageBuilder b(spec.type, NLM_F_MULTI, seq);
  inet_diag_msg msg{};
  const bool v6 = IsV6(spec.local);
  const int af = v6 ? AF_INET6 : AF_INET;
  msg.idiag_family = static_cast<uint8_t>(af);
  msg.idiag_state = spec.state;
  msg.id.idiag_sport = htons(spec.local_port);
  msg.id.idiag_dport = htons(spec.remote_port);
  std::string local(spec.local), remote(spec.remote);
  if (inet_pton(af, local.c_str(), msg.id.idiag_src) != 1 ||
      inet_pton(af, remote.c_str(), msg.id.idiag_dst) != 1) {
    throw std::invalid_argument("bad IP in test: " + local + " " + remote);
  }
  msg.id.idiag_cookie[0] = spec.inode;
  msg.idiag_inode = spec.inode;
  msg.idiag_uid = spec.uid;
  b.Payload(msg);
  if (spec.mark) b.AttrU32(INET_DIAG_MARK, *spec.mark);
  if (spec.tcp_info) {
    b.Attr(INET_DIAG_INFO, spec.tcp_info->data(), spec.tcp_info->size());
  }
  return b;
}

}  // namespace netlink::test
