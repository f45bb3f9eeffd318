// IPv4/IPv6 address value type used throughout netlink/.
#ifndef TSWATCHDOG_NETLINK_ADDRESS_H_
#define TSWATCHDOG_NETLINK_ADDRESS_H_

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace netlink {

enum class Family : uint8_t { kV4, kV6 };
inline constexpr Family kFamilies[] = {Family::kV4, Family::kV6};
std::string_view FamilyName(Family family);  // "v4" / "v6"
int ToAf(Family family);                     // AF_INET / AF_INET6

class IpAddress {
 public:
  IpAddress() = default;
  // `bytes` must be 4 (IPv4) or 16 (IPv6) bytes long; anything else gives
  // nullopt.
  static std::optional<IpAddress> FromBytes(std::span<const uint8_t> bytes);
  static std::optional<IpAddress> Parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  size_t size() const { return is_v4() ? 4 : 16; }
  const uint8_t* data() const { return bytes_.data(); }
  std::string ToString() const;
  // True when the first `prefix_len` bits equal those of `prefix` (same
  // family).
  bool InPrefix(const IpAddress& prefix, int prefix_len) const;

  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

struct Prefix {
  IpAddress address;
  int length = 0;
  bool Contains(const IpAddress& ip) const {
    return ip.family() == address.family() && ip.InPrefix(address, length);
  }
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_ADDRESS_H_
