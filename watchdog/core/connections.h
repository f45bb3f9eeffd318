// Which of tailscaled's TCP connections is which (pure): the control
// connection, DERP connections, or something else (logtail, netcheck's HTTPS
// probes, DNS over TCP), from the remote address and port and the DERP map.
//
// tailscale control/controlhttp/client.go: the control connection dials port
// 80 first and races port 443 only when 80 is slow or broken (or with
// TS_FORCE_NOISE_443). DERP servers listen on their node's DERPPort (443 when
// zero; tailcfg.DERPNode). So: to a DERP server's address and port → DERP; to
// port 80 → control; to port 443 and not DERP → control only when no
// port-80 connection exists (else it is logtail or the like).
#ifndef TSWATCHDOG_WATCHDOG_CORE_CONNECTIONS_H_
#define TSWATCHDOG_WATCHDOG_CORE_CONNECTIONS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netlink/address.h"
#include "netlink/sock_diag.h"

namespace watchdog {

// One DERP node from `GET derpmap` (tailcfg.DERPNode), as far as it tells
// where its DERP server listens. A node without an address literal (DNS
// only) cannot be recognised by address.
struct DerpServer {
  std::string name;  // "1a"
  int64_t region_id = 0;
  std::string host;  // HostName
  std::optional<netlink::IpAddress> ipv4;
  std::optional<netlink::IpAddress> ipv6;
  uint16_t port = 443;  // DERPPort; 0 on the wire means 443
  bool operator==(const DerpServer&) const = default;
};

enum class ConnectionKind { kControl, kDerp, kOther };
const char* ConnectionKindName(ConnectionKind kind);  // "control", "DERP", ...

struct ClassifiedConnection {
  netlink::SocketRecord socket;
  ConnectionKind kind = ConnectionKind::kOther;
  std::string derp_node;  // for kDerp: the node's name
};

// The DERP node listening at `remote`, if any.
const DerpServer* FindDerpServer(const netlink::SocketEndpoint& remote,
                                 std::span<const DerpServer> derp);

// Classifies each TCP socket (UDP sockets are kOther).
std::vector<ClassifiedConnection> ClassifyConnections(
    std::span<const netlink::SocketRecord> sockets,
    std::span<const DerpServer> derp);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_CONNECTIONS_H_
