// Records rtnetlink datagrams from the real kernel as hex, one datagram per
// line, for the parser's recorded-input tests (tests/data/netlink/).
//   netlink_recorder dump links|addrs|routes-v4|routes-v6|rules
//   netlink_recorder events COUNT     (waits for COUNT notifications)
#include <linux/rtnetlink.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "netlink/parser.h"
#include "netlink/socket.h"

namespace {

void PrintHex(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) std::printf("%02x", data[i]);
  std::printf("\n");
  std::fflush(stdout);
}

int Dump(const std::string& what) {
  uint16_t type;
  uint8_t family = AF_UNSPEC;
  if (what == "links") {
    type = RTM_GETLINK;
  } else if (what == "addrs") {
    type = RTM_GETADDR;
  } else if (what == "routes-v4" || what == "routes-v6") {
    type = RTM_GETROUTE;
    family = what == "routes-v4" ? AF_INET : AF_INET6;
  } else if (what == "rules") {
    type = RTM_GETRULE;
  } else {
    std::fprintf(stderr, "unknown dump '%s'\n", what.c_str());
    return 2;
  }
  auto socket = netlink::RtnlSocket::Open(false);
  struct {
    nlmsghdr header;
    rtmsg payload;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = type;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = 1;
  request.payload.rtm_family = family;
  socket.Send({reinterpret_cast<const uint8_t*>(&request), sizeof request});
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    ssize_t n = socket.Receive(buffer);
    if (n < 0) {
      std::fprintf(stderr, "recv: %s\n", std::strerror(static_cast<int>(-n)));
      return 1;
    }
    PrintHex(buffer.data(), static_cast<size_t>(n));
    auto parsed =
        netlink::ParseDatagram({buffer.data(), static_cast<size_t>(n)});
    for (const auto& msg : parsed.messages) {
      if (std::holds_alternative<netlink::DoneMessage>(msg.body) ||
          std::holds_alternative<netlink::ErrorMessage>(msg.body)) {
        return 0;
      }
    }
  }
}

int Events(int count) {
  auto socket = netlink::RtnlSocket::Open(false);
  for (unsigned group :
       {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
        RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_RULE}) {
    socket.JoinGroup(group);
  }
  std::fprintf(stderr, "ready\n");
  std::vector<uint8_t> buffer(64 * 1024);
  for (int i = 0; i < count;) {
    ssize_t n = socket.Receive(buffer);
    if (n < 0) continue;
    PrintHex(buffer.data(), static_cast<size_t>(n));
    ++i;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "dump") return Dump(argv[2]);
  if (argc == 3 && std::string(argv[1]) == "events") {
    return Events(std::stoi(argv[2]));
  }
  std::fprintf(
      stderr,
      "usage: netlink_recorder dump links|addrs|routes-v4|routes-v6|rules\n"
      "       netlink_recorder events COUNT\n");
  return 2;
}
