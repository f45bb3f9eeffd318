// Route changes for the benchmarks, written in-process over rtnetlink (libmnl
// through netlink::RtnlSocket, messages from the tests' MessageBuilder), so
// that the time taken right before a change is sent is the time of the change
// and a storm is as fast as the kernel can take it.
#ifndef TSWATCHDOG_TESTS_BENCH_ROUTE_WRITER_H_
#define TSWATCHDOG_TESTS_BENCH_ROUTE_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "netlink/socket.h"

namespace bench {

// One uplink's default route: via `gateway` on `dev`.
struct Uplink {
  std::string dev;
  std::string gateway;
};

class RouteWriter {
 public:
  RouteWriter();

  // `ip route replace default via <gateway> dev <dev>` in the main table;
  // waits for the kernel's acknowledgement and throws on an error.
  // Returns CLOCK_REALTIME in ns taken right before the request was sent.
  int64_t ReplaceDefault(const Uplink& uplink);

  // Appends host routes (/32 for IPv4, /128 for IPv6) on `dev` to `batch`,
  // without acknowledgements: a storm sends them with Flush().
  void AppendHostRoute(bool add, const std::string& address, int oif,
                       std::vector<uint8_t>* batch) const;
  // Sends `batch` in datagrams of at most `datagram_bytes` (whole messages)
  // and counts the kernel's error replies (none expected).
  void Flush(const std::vector<uint8_t>& batch, size_t datagram_bytes = 32768);
  uint64_t errors() const { return errors_; }

 private:
  void DrainErrors();
  netlink::RtnlSocket socket_;
  uint32_t seq_ = 1;
  uint64_t errors_ = 0;
};

// CLOCK_REALTIME in ns (comparable with the fake tailscaled's request log).
int64_t RealtimeNs();

// if_nametoindex that throws.
int InterfaceIndex(const std::string& name);

}  // namespace bench

#endif  // TSWATCHDOG_TESTS_BENCH_ROUTE_WRITER_H_
