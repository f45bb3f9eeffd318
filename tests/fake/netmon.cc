#include "tests/fake/netmon.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fake {
namespace {

// Calls `each` for every netlink message in `buf[0, len)` until it returns
// false (NLMSG_OK/NLMSG_NEXT without their signed/unsigned comparisons).
template <typename F>
void ForEachMessage(const char* buf, size_t len, F each) {
  size_t offset = 0;
  while (len - offset >= sizeof(nlmsghdr)) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(buf + offset);
    if (h->nlmsg_len < sizeof(nlmsghdr) || h->nlmsg_len > len - offset) return;
    if (!each(h)) return;
    offset += NLMSG_ALIGN(h->nlmsg_len);
  }
}

bool IsTailscaleInterface(const std::string& name) {
  return name.rfind("tailscale", 0) == 0 || name.rfind("wg", 0) == 0;
}

// "ip" of a usable address; "" for loopback and link-local ones, which
// never carry tailscaled's connections.
std::string UsableIp(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(addr);
    const uint32_t a = ntohl(v4->sin_addr.s_addr);
    if ((a >> 24) == 127 || (a >> 16) == 0xa9fe) return "";
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr) ||
        IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
      return "";
    }
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

// defaultRouteInterfaceProcNet (net/netmon/interfaces_linux.go).
std::string DefaultFromProcNetRoute() {
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >>
          metric >> mask)) {
      continue;
    }
    if (IsTailscaleInterface(iface)) continue;
    if (dest == "00000000" && mask == "00000000") return iface;
  }
  return "";
}

// The output interface of a default route with a gateway; "" otherwise.
std::string DefaultRouteInterface(const nlmsghdr* h) {
  const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
  if (rt->rtm_dst_len != 0) return "";
  bool gateway = false, dst = false;
  int oif = 0;
  int attr_len = static_cast<int>(RTM_PAYLOAD(h));
  for (auto* a = RTM_RTA(rt); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
    if (a->rta_type == RTA_GATEWAY) gateway = true;
    if (a->rta_type == RTA_DST) dst = true;
    if (a->rta_type == RTA_OIF) std::memcpy(&oif, RTA_DATA(a), sizeof oif);
  }
  char name[IF_NAMESIZE] = "";
  if (gateway && !dst && oif != 0 &&
      if_indextoname(static_cast<unsigned>(oif), name)) {
    return name;
  }
  return "";
}

// defaultRouteFromNetlink: the first route of a dump (all tables) with a
// gateway, no destination and an output interface.
std::string DefaultFromNetlinkDump() {
  netlink::UniqueFd fd(
      ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return "";
  struct {
    nlmsghdr header;
    rtmsg body;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_GETROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.body.rtm_family = AF_UNSPEC;
  if (::send(fd.get(), &request, sizeof request, 0) < 0) return "";
  alignas(nlmsghdr) char buf[32768];
  std::string found;
  bool done = false;
  while (!done) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    ForEachMessage(buf, static_cast<size_t>(n), [&](const nlmsghdr* h) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        return false;
      }
      if (h->nlmsg_type == RTM_NEWROUTE && found.empty()) {
        found = DefaultRouteInterface(h);
      }
      return true;
    });
  }
  return found;
}

// Whether a notification can matter to netmon (netmon_linux.go ignores
// new rules and routes in tailscaled's own table 52).
bool Interesting(const nlmsghdr* h) {
  if (h->nlmsg_type == RTM_NEWRULE) return false;
  if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) {
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    uint32_t table = rt->rtm_table;
    int attr_len = static_cast<int>(RTM_PAYLOAD(h));
    for (auto* a = RTM_RTA(rt); RTA_OK(a, attr_len);
         a = RTA_NEXT(a, attr_len)) {
      if (a->rta_type == RTA_TABLE) std::memcpy(&table, RTA_DATA(a), 4);
    }
    if (table == 52) return false;
  }
  return true;
}

}  // namespace

bool NetState::AnyInterfaceUp() const {
  for (const auto& [name, ips] : interface_ips) {
    if (!ips.empty()) return true;
  }
  return false;
}

std::set<std::string> NetState::DefaultInterfaceIps() const {
  auto it = interface_ips.find(default_interface);
  return it == interface_ips.end() ? std::set<std::string>{} : it->second;
}

bool NetState::HasIp(const std::string& ip) const {
  for (const auto& [name, ips] : interface_ips) {
    if (ips.count(ip)) return true;
  }
  return false;
}

nlohmann::ordered_json NetState::ToJson() const {
  nlohmann::ordered_json ifs = nlohmann::ordered_json::object();
  for (const auto& [name, ips] : interface_ips) ifs[name] = ips;
  return {{"default_interface", default_interface}, {"interfaces", ifs}};
}

NetState ReadNetState() {
  NetState state;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a; a = a->ifa_next) {
      if (!a->ifa_addr || !(a->ifa_flags & IFF_UP) ||
          (a->ifa_flags & IFF_LOOPBACK) || IsTailscaleInterface(a->ifa_name)) {
        continue;
      }
      auto& ips = state.interface_ips[a->ifa_name];
      const std::string ip = UsableIp(a->ifa_addr);
      if (!ip.empty()) ips.insert(ip);
    }
    freeifaddrs(list);
  }
  state.default_interface = DefaultFromProcNetRoute();
  if (state.default_interface.empty()) {
    state.default_interface = DefaultFromNetlinkDump();
  }
  return state;
}

NetChange Compare(const NetState& old_state, const NetState& new_state) {
  NetChange change;
  change.old_state = old_state;
  change.new_state = new_state;
  change.default_interface_changed =
      old_state.default_interface != new_state.default_interface;
  std::string why;
  if (change.default_interface_changed) {
    why = "default-route-interface " +
          (old_state.default_interface.empty() ? "none"
                                               : old_state.default_interface) +
          " -> " +
          (new_state.default_interface.empty() ? "none"
                                               : new_state.default_interface);
  }
  for (const auto& [name, ips] : old_state.interface_ips) {
    for (const auto& ip : ips) {
      if (!new_state.HasIp(ip)) why += (why.empty() ? "" : ", ") + ip + " gone";
    }
  }
  for (const auto& [name, ips] : new_state.interface_ips) {
    for (const auto& ip : ips) {
      if (!old_state.HasIp(ip)) why += (why.empty() ? "" : ", ") + ip + " new";
    }
  }
  // netmon.ChangeDelta.RebindLikelyRequired (>= 1.94), reduced.
  change.major =
      !(old_state == new_state) && !new_state.default_interface.empty();
  change.why = why.empty() ? "interfaces changed" : why;
  return change;
}

Netmon::Netmon(watchdog::EventLoop& loop, const TimeScale& scale,
               std::function<void(const NetChange&)> on_change)
    : loop_(loop), scale_(scale), on_change_(std::move(on_change)) {}

Netmon::~Netmon() {
  loop_.CancelTimer(timer_);
  if (fd_) loop_.UnwatchFd(fd_.get());
}

bool Netmon::Start(std::string* error) {
  fd_ = netlink::UniqueFd(::socket(
      AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
                   RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_RULE;
  if (!fd_ ||
      ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = std::string("netmon: netlink socket: ") + std::strerror(errno);
    return false;
  }
  state_ = ReadNetState();
  loop_.WatchFd(fd_.get(), EPOLLIN, [this](uint32_t) { OnReadable(); });
  return true;
}

void Netmon::OnReadable() {
  alignas(nlmsghdr) char buf[32768];
  bool wake = false;
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS) wake = true;  // lost messages: look again
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno != ENOBUFS && errno != EINTR) break;
      continue;
    }
    ForEachMessage(buf, static_cast<size_t>(n), [&](const nlmsghdr* h) {
      wake = wake || Interesting(h);
      return true;
    });
  }
  if (wake) Wake();
}

void Netmon::Wake() {
  if (sleeping_) {
    pending_ = true;
    return;
  }
  Check();
  sleeping_ = true;
  timer_ = loop_.AddTimerAfter(scale_(std::chrono::seconds(1)), [this] {
    timer_ = 0;
    sleeping_ = false;
    if (pending_) {
      pending_ = false;
      Wake();
    }
  });
}

void Netmon::Check() {
  NetState now = ReadNetState();
  if (now == state_) return;
  NetChange change = Compare(state_, now);
  state_ = std::move(now);
  on_change_(change);
}

}  // namespace fake
