#include "tests/fake/net_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>
#include <cstring>

namespace fake {

std::optional<SockAddr> ParseHostPort(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const unsigned long number = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || number > 65535) return std::nullopt;
  SockAddr out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(number));
    out.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(number));
    out.length = sizeof(sockaddr_in6);
  } else {
    return std::nullopt;
  }
  return out;
}

std::string FormatIp(const SockAddr& addr) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (addr.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr.storage);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
  } else if (addr.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string FormatSockAddr(const SockAddr& addr) {
  if (addr.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr.storage);
    return FormatIp(addr) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  if (addr.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
    return "[" + FormatIp(addr) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  return "";
}

std::string LocalAddress(int fd) {
  SockAddr addr;
  addr.length = sizeof addr.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr.storage),
                    &addr.length) != 0) {
    return "";
  }
  return FormatSockAddr(addr);
}

std::string PeerAddress(int fd) {
  SockAddr addr;
  addr.length = sizeof addr.storage;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr.storage),
                    &addr.length) != 0) {
    return "";
  }
  return FormatSockAddr(addr);
}

namespace {

void SetInt(int fd, int level, int name, int value) {
  // Like tailscaled's controlC: option errors are not fatal (not root).
  ::setsockopt(fd, level, name, &value, sizeof value);
}

}  // namespace

UniqueFd StartDial(const SockAddr& to, const DialOptions& options,
                   std::string* error) {
  UniqueFd fd(
      ::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = ErrnoText("socket", errno);
    return {};
  }
  if (options.mark != 0) {
    SetInt(fd.get(), SOL_SOCKET, SO_MARK, static_cast<int>(options.mark));
  }
  // Go: setNoDelay(true) on every TCPConn; keep-alive per KeepAliveConfig.
  SetInt(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1);
  SetInt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, 1);
  SetInt(fd.get(), IPPROTO_TCP, TCP_KEEPIDLE, options.keepalive_idle_s);
  SetInt(fd.get(), IPPROTO_TCP, TCP_KEEPINTVL, options.keepalive_interval_s);
  SetInt(fd.get(), IPPROTO_TCP, TCP_KEEPCNT, options.keepalive_count);
  if (::connect(fd.get(), to.get(), to.length) != 0 && errno != EINPROGRESS) {
    *error = ErrnoText("connect " + FormatSockAddr(to), errno);
    return {};
  }
  return fd;
}

UniqueFd ListenTcp(const SockAddr& at, std::string* error) {
  UniqueFd fd(
      ::socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = ErrnoText("socket", errno);
    return {};
  }
  SetInt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
  if (::bind(fd.get(), at.get(), at.length) != 0 ||
      ::listen(fd.get(), 128) != 0) {
    *error = ErrnoText("listen on " + FormatSockAddr(at), errno);
    return {};
  }
  return fd;
}

void SetServerKeepAlive(int fd, int idle_s, int interval_s, int count) {
  SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, interval_s);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
}

nlohmann::json SocketOptions(int fd) {
  auto get = [fd](int level, int name) {
    int value = -1;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, level, name, &value, &len) != 0) return -1;
    return value;
  };
  char mark[16];
  std::snprintf(mark, sizeof mark, "0x%x",
                static_cast<unsigned>(get(SOL_SOCKET, SO_MARK)));
  return {{"mark", mark},
          {"keepalive", get(SOL_SOCKET, SO_KEEPALIVE) == 1},
          {"keepidle_s", get(IPPROTO_TCP, TCP_KEEPIDLE)},
          {"keepintvl_s", get(IPPROTO_TCP, TCP_KEEPINTVL)},
          {"keepcnt", get(IPPROTO_TCP, TCP_KEEPCNT)},
          {"user_timeout_ms", get(IPPROTO_TCP, TCP_USER_TIMEOUT)}};
}

std::string ReadErrorName(int err) {
  switch (err) {
    case 0:
      return "eof";
    case ECONNRESET:
      return "reset";
    case ETIMEDOUT:
      return "timeout";
    default:
      return std::strerror(err);
  }
}

std::string ErrnoText(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

}  // namespace fake
