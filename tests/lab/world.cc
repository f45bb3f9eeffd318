#include "tests/lab/world.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace lab {
namespace {

using netlink::UniqueFd;

void MustSh(const std::string& what, const std::string& script) {
  if (Sh("set -e\n" + script) != 0) {
    throw std::runtime_error("world: " + what + " failed");
  }
}

void MustShIn(const Netns& ns, const std::string& what,
              const std::string& script) {
  if (ns.Sh(script) != 0)
    throw std::runtime_error("world: " + what + " failed");
}

std::string OutputIn(const Netns& ns, const std::string& command) {
  return ShOutput("nsenter -t " + std::to_string(ns.pid()) + " -n " + command);
}

// The stateful drop of unknown TCP flows: a packet that conntrack sees as
// the first of a flow but that is not a SYN (conntrack picks up mid-stream
// flows as new: nf_conntrack_tcp_loose).
const char kUnknownFlow[] = "tcp flags & (fin|syn|rst|ack) != syn ct state new";

}  // namespace

std::string EnterPrivateMounts(const std::string& scratch) {
  if (unshare(CLONE_NEWNS) != 0) {
    return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private: ") + std::strerror(errno);
  }
  if (mount("tmpfs", scratch.c_str(), "tmpfs", 0, "mode=0755") != 0) {
    return "tmpfs on " + scratch + ": " + std::strerror(errno);
  }
  for (const char* dir : {"etc", "run"}) {
    const std::string upper = scratch + "/" + dir + ".upper";
    const std::string work = scratch + "/" + dir + ".work";
    if (Sh("mkdir -p " + upper + " " + work) != 0) return "mkdir " + upper;
    const std::string options = std::string("lowerdir=/") + dir +
                                ",upperdir=" + upper + ",workdir=" + work;
    if (mount("overlay", (std::string("/") + dir).c_str(), "overlay", 0,
              options.c_str()) != 0) {
      return std::string("overlay on /") + dir + ": " + std::strerror(errno);
    }
  }
  return "";
}

World::World()
    : seg0_(std::make_unique<Netns>()),
      isp_a_(std::make_unique<Netns>()),
      isp_b_(std::make_unique<Netns>()),
      internet_(std::make_unique<Netns>()),
      lan_(std::make_unique<Netns>()) {
  BuildLinks();
  ConfigureIsps();
  ConfigureInternet();
  AddMasquerade();
}

void World::BuildLinks() const {
  const std::string seg = std::to_string(seg0_->pid());
  const std::string a = std::to_string(isp_a_->pid());
  const std::string b = std::to_string(isp_b_->pid());
  const std::string net = std::to_string(internet_->pid());
  MustSh("router links",
         "ip link add wan0 type veth peer name r0 netns " + seg +
             "\nip link add wan1 type veth peer name isp1 netns " + b +
             "\nsysctl -qw net.ipv4.conf.wan0.promote_secondaries=1"
             "\nsysctl -qw net.ipv6.conf.wan0.accept_dad=0"
             "\nsysctl -qw net.ipv6.conf.wan1.accept_dad=0"
             "\nip addr add 198.51.100.2/24 dev wan0"
             "\nip addr add 203.0.113.2/24 dev wan1"
             "\nip link set wan0 up\nip link set wan1 up");
  MustSh("router LAN",
         "ip link add lan type veth peer name eth0 netns " +
             std::to_string(lan_->pid()) +
             "\nsysctl -qw net.ipv6.conf.lan.accept_dad=0"
             "\nip addr add 192.0.2.65/27 dev lan\nip link set lan up"
             "\nsysctl -qw net.ipv4.ip_forward=1");
  MustShIn(*lan_, "LAN host",
           "ip addr add 192.0.2.66/27 dev eth0; ip link set eth0 up;"
           "ip route add default via 192.0.2.65");
  MustShIn(*seg0_, "seg0 switch",
           "ip link add br0 type bridge; ip link set br0 up;"
           "ip link set r0 master br0 up;"
           "ip link add a0 type veth peer name lan0 netns " +
               a +
               "; ip link set a0 master br0 up;"
               "ip link add b0 type veth peer name vrrp0 netns " +
               b + "; ip link set b0 master br0 up");
  MustShIn(*isp_a_, "isp_a uplink",
           "ip link add up0 type veth peer name isp-a netns " + net);
  MustShIn(*isp_b_, "isp_b uplink",
           "ip link add up0 type veth peer name isp-b netns " + net);
}

void World::ConfigureIsps() const {
  // The VRRP virtual MAC of VRID 1 (RFC 5798): the router's neighbour entry
  // for its gateway stays right when the backup takes over.
  MustShIn(*isp_a_, "isp_a",
           "sysctl -qw net.ipv4.ip_forward=1;"
           "ip link set lan0 address 00:00:5e:00:01:01;"
           "ip addr add 198.51.100.1/24 dev lan0; ip link set lan0 up;"
           "ip addr add 192.0.2.1/28 dev up0; ip link set up0 up;"
           "ip route add default via 192.0.2.14;"
           "nft 'table inet world { counter dead {}; "
           "chain dead_rules {}; chain forward_hook { type filter hook forward "
           "priority 0; jump dead_rules; }; chain postrouting { type nat hook "
           "postrouting priority srcnat; oifname up0 masquerade; }; }'");
  MustShIn(
      *isp_b_, "isp_b",
      std::string("sysctl -qw net.ipv4.ip_forward=1;"
                  "ip addr add 203.0.113.1/24 dev isp1; ip link set isp1 "
                  "up;"
                  "ip link set vrrp0 address 00:00:5e:00:01:01;"
                  "ip addr add 192.0.2.17/28 dev up0; ip link set up0 up;"
                  "ip route add default via 192.0.2.30;"
                  "nft 'table inet world { counter unknown {}; "
                  "chain forward_hook { type filter hook forward priority 0; "
                  "iifname vrrp0 ") +
          kUnknownFlow +
          " counter name unknown drop; }; chain postrouting { type nat hook "
          "postrouting priority srcnat; oifname up0 masquerade; }; }'");
}

void World::ConfigureInternet() const {
  MustShIn(
      *internet_, "internet",
      "ip addr add 192.0.2.14/28 dev isp-a; ip link set isp-a up;"
      "ip addr add 192.0.2.30/28 dev isp-b; ip link set isp-b up;"
      "ip addr add 192.0.2.100/32 dev lo; ip addr add 192.0.2.101/32 dev "
      "lo; ip addr add 192.0.2.102/32 dev lo;"
      "nft 'table inet world { counter far {}; chain far_rules {}; "
      "chain input_hook { type filter hook input priority 0; jump far_rules; "
      "}; }'");
  SetFarSide(FarSide::kDrop);
}

void World::AddMainDefaults() const {
  MustSh("main defaults",
         "ip route add default via 198.51.100.1 dev wan0 metric 10\n"
         "ip route add default via 203.0.113.1 dev wan1 metric 20");
}

void World::KillIspAUpstream() const {
  MustShIn(*isp_a_, "killing isp_a's upstream",
           "nft add rule inet world dead_rules counter name dead drop");
}

void World::RestoreIspAUpstream() const {
  MustShIn(*isp_a_, "restoring isp_a's upstream",
           "nft flush chain inet world dead_rules");
}

void World::FailOverMainDefaultToWan1() const {
  KillIspAUpstream();
  SetWan0Carrier(false);
  MustSh("wan0's default route", "ip route del default dev wan0 metric 10");
}

void World::BringUpBackupRouter() const {
  // A locally administered MAC of its own: not VRRP's.
  MustShIn(*isp_b_, "the backup router on seg0",
           std::string("ip link set vrrp0 address 02:00:00:00:01:03;"
                       "ip addr add ") +
               kBackupRouter + "/24 dev vrrp0; ip link set vrrp0 up");
}

void World::NextHopFailoverToBackup() const {
  MustShIn(*isp_a_, "isp_a's gateway port", "ip link set lan0 down");
  MustSh("the main default to the backup router",
         std::string("ip route replace default via ") + kBackupRouter +
             " dev wan0 metric 10");
}

void World::VrrpFailoverToBackup() const {
  MustShIn(*isp_a_, "isp_a's gateway port", "ip link set lan0 down");
  MustShIn(*isp_b_, "the backup's gateway port",
           "ip link set vrrp0 up; ip addr add 198.51.100.1/24 dev vrrp0");
}

void World::RenumberWan0() const {
  MustSh("renumbering wan0",
         "ip addr add 198.51.100.66/24 dev wan0\n"
         "ip addr del 198.51.100.2/24 dev wan0\n"
         "ip route replace default via 198.51.100.1 dev wan0 metric 10");
}

void World::RenumberIspANat() const {
  MustShIn(*isp_a_, "renumbering isp_a's NAT",
           "ip addr del 192.0.2.1/28 dev up0; ip addr add 192.0.2.2/28 dev "
           "up0; ip route replace default via 192.0.2.14");
  // The kernel forgets the masqueraded entries of the removed address in a
  // deferred work item (netfilter nf_nat_masquerade.c), not before `ip`
  // returns: on a loaded machine the old flow's next segment still went out
  // as 192.0.2.1 and reached the far side. Wait (10 s) for the forgetting.
  MustShIn(*isp_a_, "isp_a's NAT forgetting its mappings",
           lab::ShellWaitUntil("! conntrack -L --reply-dst 192.0.2.1 "
                               "2>/dev/null | grep -q ."));
}

void World::SetFarSide(FarSide mode) const {
  MustShIn(*internet_, "the far side's firewall",
           std::string("nft flush chain inet world far_rules; nft 'add rule "
                       "inet world far_rules ") +
               kUnknownFlow + " counter name far " +
               (mode == FarSide::kDrop ? "drop'" : "reject with tcp reset'"));
}

void World::SetWan0Carrier(bool up) const {
  MustShIn(*seg0_, "wan0's carrier",
           std::string("ip link set r0 ") + (up ? "up" : "down"));
}

long World::DropCount(const std::string& which) const {
  const Netns* ns = which == "isp_a"    ? isp_a_.get()
                    : which == "backup" ? isp_b_.get()
                                        : internet_.get();
  const std::string name = which == "isp_a"    ? "dead"
                           : which == "backup" ? "unknown"
                                               : "far";
  const std::string text = OutputIn(*ns, "nft list counter inet world " + name);
  const size_t at = text.find("packets ");
  return at == std::string::npos ? -1 : std::atol(text.c_str() + at + 8);
}

UniqueFd SocketIn(const Netns& ns, int domain, int type) {
  UniqueFd self(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  UniqueFd target(
      open(("/proc/" + std::to_string(ns.pid()) + "/ns/net").c_str(),
           O_RDONLY | O_CLOEXEC));
  if (!self || !target || setns(target.get(), CLONE_NEWNET) != 0) {
    return UniqueFd();
  }
  UniqueFd fd(socket(domain, type | SOCK_CLOEXEC, 0));
  const int saved = errno;
  if (setns(self.get(), CLONE_NEWNET) != 0) {
    throw std::runtime_error("could not return to the router's namespace");
  }
  errno = saved;
  return fd;
}

namespace {

sockaddr_in Address(const std::string& ip, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  return sa;
}

}  // namespace

UniqueFd ListenIn(const Netns& ns, const std::string& ip, int port) {
  UniqueFd fd = SocketIn(ns, AF_INET, SOCK_STREAM);
  const int one = 1;
  sockaddr_in sa = Address(ip, port);
  if (!fd || setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      listen(fd.get(), 16) != 0) {
    return UniqueFd();
  }
  return fd;
}

UniqueFd ConnectTcp(const std::string& ip, int port, unsigned mark,
                    std::chrono::milliseconds timeout, const Netns* from) {
  UniqueFd fd =
      from ? SocketIn(*from, AF_INET, SOCK_STREAM | SOCK_NONBLOCK)
           : UniqueFd(socket(AF_INET,
                             SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fd;
  if (mark != 0 &&
      setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    return UniqueFd();
  }
  sockaddr_in sa = Address(ip, port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 &&
      errno != EINPROGRESS) {
    return UniqueFd();
  }
  pollfd p{fd.get(), POLLOUT, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    errno = ETIMEDOUT;
    return UniqueFd();
  }
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
  if (error != 0) {
    errno = error;
    return UniqueFd();
  }
  return fd;
}

UniqueFd AcceptWithin(int listener, std::chrono::milliseconds timeout,
                      std::string* peer) {
  pollfd p{listener, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return UniqueFd();
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  UniqueFd fd(accept4(listener, reinterpret_cast<sockaddr*>(&sa), &len,
                      SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (fd && peer) {
    char text[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
    *peer = text;
  }
  return fd;
}

ReadState WaitReadable(int fd, std::chrono::milliseconds timeout, int* error) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    return ReadState::kTimeout;
  }
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return ReadState::kData;
  if (n == 0) return ReadState::kEof;
  if (error) *error = errno;
  return ReadState::kError;
}

bool SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 100);
      continue;
    }
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace lab
