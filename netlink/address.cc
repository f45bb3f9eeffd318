#include "netlink/address.h"

#include <arpa/inet.h>

#include <cstring>

namespace netlink {

std::string_view FamilyName(Family family) {
  return family == Family::kV4 ? "v4" : "v6";
}

int ToAf(Family family) { return family == Family::kV4 ? AF_INET : AF_INET6; }

std::optional<IpAddress> IpAddress::FromBytes(std::span<const uint8_t> bytes) {
  IpAddress ip;
  if (bytes.size() == 4) {
    ip.family_ = Family::kV4;
  } else if (bytes.size() == 16) {
    ip.family_ = Family::kV6;
  } else {
    return std::nullopt;
  }
  std::memcpy(ip.bytes_.data(), bytes.data(), bytes.size());
  return ip;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string nul_terminated(text);
  uint8_t buf[16];
  if (inet_pton(AF_INET, nul_terminated.c_str(), buf) == 1) {
    return FromBytes({buf, 4});
  }
  if (inet_pton(AF_INET6, nul_terminated.c_str(), buf) == 1) {
    return FromBytes({buf, 16});
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(ToAf(family_), bytes_.data(), buf, sizeof buf) == nullptr) {
    return "?";
  }
  return buf;
}

bool IpAddress::InPrefix(const IpAddress& prefix, int prefix_len) const {
  if (family_ != prefix.family_) return false;
  const int max_bits = static_cast<int>(size()) * 8;
  if (prefix_len < 0 || prefix_len > max_bits) return false;
  const int full_bytes = prefix_len / 8;
  if (std::memcmp(bytes_.data(), prefix.bytes_.data(), full_bytes) != 0) {
    return false;
  }
  const int rest_bits = prefix_len % 8;
  if (rest_bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  return (bytes_[full_bytes] & mask) == (prefix.bytes_[full_bytes] & mask);
}

}  // namespace netlink
