// TCP socket helpers of the fake tailscaled and its servers: addresses,
// non-blocking dials with tailscaled's socket options, listeners, and what
// the kernel says about a socket.
#ifndef TSWATCHDOG_TESTS_FAKE_NET_UTIL_H_
#define TSWATCHDOG_TESTS_FAKE_NET_UTIL_H_

#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "netlink/unique_fd.h"

namespace fake {

using netlink::UniqueFd;

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  int family() const { return storage.ss_family; }
};

// "192.0.2.10:80" or "[2001:db8::10]:443"; nullopt when malformed.
std::optional<SockAddr> ParseHostPort(const std::string& text);
// "ip:port" ("[ip]:port" for IPv6); "" for an empty address.
std::string FormatSockAddr(const SockAddr& addr);
// The IP part alone.
std::string FormatIp(const SockAddr& addr);
std::string LocalAddress(int fd);
std::string PeerAddress(int fd);

// tailscaled's dialer (net/netns/netns_linux.go, net/netknob, Go's
// net.Dialer): SO_MARK 0x80000 (the bypass mark) and SO_KEEPALIVE with
// idle 30 s, interval 15 s (Go's default), 9 probes (Go's default); never
// TCP_USER_TIMEOUT.
struct DialOptions {
  uint32_t mark = 0x80000;
  int keepalive_idle_s = 30;
  int keepalive_interval_s = 15;
  int keepalive_count = 9;
};

// A non-blocking TCP socket with `options` whose connect() to `to` has
// started (EINPROGRESS); invalid on error, with `*error` set. Socket option
// failures are ignored like tailscaled ignores them when not root.
UniqueFd StartDial(const SockAddr& to, const DialOptions& options,
                   std::string* error);

// A non-blocking listener on `at` (SO_REUSEADDR); invalid on error.
UniqueFd ListenTcp(const SockAddr& at, std::string* error);

// Go's accepted-connection defaults (net.ListenConfig KeepAlive 0: idle and
// interval 15 s, 9 probes), each already scaled by the caller.
void SetServerKeepAlive(int fd, int idle_s, int interval_s, int count);

// The options the kernel holds for `fd`: mark, keepalive, keepidle,
// keepintvl, keepcnt, user_timeout_ms.
nlohmann::json SocketOptions(int fd);

// "eof", "reset", "timeout" or strerror for a failed read (errno).
std::string ReadErrorName(int err);

std::string ErrnoText(const std::string& what, int err);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_NET_UTIL_H_
