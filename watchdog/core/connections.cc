#include "watchdog/core/connections.h"

#include <algorithm>

namespace watchdog {
namespace {

constexpr uint16_t kControlHttpPort = 80;
constexpr uint16_t kControlHttpsPort = 443;

}  // namespace

const char* ConnectionKindName(ConnectionKind kind) {
  switch (kind) {
    case ConnectionKind::kControl:
      return "control";
    case ConnectionKind::kDerp:
      return "DERP";
    case ConnectionKind::kOther:
      return "other";
  }
  return "?";
}

const DerpServer* FindDerpServer(const netlink::SocketEndpoint& remote,
                                 std::span<const DerpServer> derp) {
  for (const DerpServer& server : derp) {
    if (server.port != remote.port) continue;
    if (server.ipv4 == remote.address || server.ipv6 == remote.address) {
      return &server;
    }
  }
  return nullptr;
}

std::vector<ClassifiedConnection> ClassifyConnections(
    std::span<const netlink::SocketRecord> sockets,
    std::span<const DerpServer> derp) {
  std::vector<ClassifiedConnection> out;
  out.reserve(sockets.size());
  bool any_port80 = false;
  for (const netlink::SocketRecord& socket : sockets) {
    ClassifiedConnection c{socket, ConnectionKind::kOther, ""};
    if (socket.protocol == netlink::kIpProtocolTcp) {
      if (const DerpServer* server = FindDerpServer(socket.remote, derp)) {
        c.kind = ConnectionKind::kDerp;
        c.derp_node = server->name;
      } else if (socket.remote.port == kControlHttpPort) {
        c.kind = ConnectionKind::kControl;
        any_port80 = true;
      } else if (socket.remote.port == kControlHttpsPort) {
        c.kind = ConnectionKind::kControl;  // unless a port-80 one exists
      }
    }
    out.push_back(std::move(c));
  }
  if (any_port80) {
    for (ClassifiedConnection& c : out) {
      if (c.kind == ConnectionKind::kControl &&
          c.socket.remote.port == kControlHttpsPort) {
        c.kind = ConnectionKind::kOther;
      }
    }
  }
  return out;
}

}  // namespace watchdog
