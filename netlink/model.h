// An in-memory model of the kernel's links, addresses, routes and rules, built
// from a dump and kept current by events. It answers what the egress resolver
// cannot: whether a device has carrier and whether a source address is usable.
// Apply() also classifies each message as a hint: only a message that changed
// something tailscaled did not do itself is worth re-resolving the egress for.
#ifndef TSWATCHDOG_NETLINK_MODEL_H_
#define TSWATCHDOG_NETLINK_MODEL_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "netlink/address.h"
#include "netlink/messages.h"

namespace netlink {

// What tailscaled changes by itself. Reacting to it would make the watchdog
// react to its own kicks (a rebind re-programs tailscale0 and table 52).
struct IgnorePolicy {
  std::vector<std::string> tailscale_interfaces = {"tailscale0"};
  std::vector<uint32_t> tailscale_tables = {52};
  std::vector<Prefix> tailscale_prefixes = DefaultTailscalePrefixes();

  static std::vector<Prefix>
  DefaultTailscalePrefixes();  // CGNAT + Tailscale ULA
};

// Routes longer than these cannot plausibly carry the uplink (a default route,
// a split default like 0.0.0.0/1, or a VPN's short prefixes). They are neither
// stored nor hints, and the event socket's BPF filter drops them in the kernel
// (see filter.h), so a routing daemon's full table does not wake us.
inline constexpr uint8_t kMaxUplinkPrefixV4 = 8;
inline constexpr uint8_t kMaxUplinkPrefixV6 = 16;

enum class Relevance {
  kIgnored,    // tailscaled's own change, or noise that cannot move the egress
  kUnchanged,  // a duplicate of what the model already had
  kChanged,    // the model changed: re-resolve the egress
};

struct Link {
  int32_t index = 0;
  std::string name;
  std::string kind;
  uint32_t flags = 0;
  bool IsUp() const;
  bool HasCarrier() const;  // IFF_LOWER_UP
};

struct Address {
  int32_t index = 0;
  IpAddress address;
  uint8_t prefix_len = 0;
  uint8_t scope = 0;
  uint32_t flags = 0;
  // Tentative (DAD running) or DAD-failed addresses cannot source packets.
  bool IsUsableSource() const;
};

class Model {
 public:
  explicit Model(IgnorePolicy policy = {});

  Relevance Apply(const MessageBody& body);
  void Clear();

  const Link* FindLink(int32_t index) const;
  const Address* FindAddress(int32_t index, const IpAddress& address) const;
  // Every address on the link with `index`.
  std::vector<Address> AddressesOn(int32_t index) const;
  // The index of the link called `name`, or 0.
  int32_t FindLinkIndex(const std::string& name) const;
  // True for tailscaled's own interfaces (by name).
  bool IsTailscaleLink(int32_t index) const;
  bool IsTailscaleName(const std::string& name) const;

  const std::map<int32_t, Link>& links() const { return links_; }
  size_t address_count() const { return addresses_.size(); }
  size_t route_count() const { return routes_.size(); }
  size_t rule_count() const { return rules_.size(); }
  // Every rule, v4 then v6, by priority (mwan3 detection reads them).
  std::vector<RuleMessage> rules() const;
  // The stored routes (those short enough to carry the uplink, see
  // kMaxUplinkPrefixV4): default routes of every table among them.
  std::vector<RouteMessage> routes() const;
  const IgnorePolicy& policy() const { return policy_; }

 private:
  using AddressKey = std::tuple<int32_t, IpAddress>;
  // What identifies a route to the kernel's FIB.
  using RouteKey =
      std::tuple<Family, uint32_t /*table*/, IpAddress /*dst*/,
                 uint8_t /*dst_len*/, uint8_t /*tos*/, uint32_t /*priority*/>;
  using RuleKey = std::tuple<Family, uint32_t /*priority*/, uint32_t /*table*/,
                             uint8_t /*action*/, uint32_t /*fwmark*/,
                             uint32_t /*fwmask*/, std::string /*iifname*/>;

  Relevance ApplyLink(const LinkMessage& msg);
  Relevance ApplyAddress(const AddressMessage& msg);
  Relevance ApplyRoute(const RouteMessage& msg);
  Relevance ApplyRule(const RuleMessage& msg);
  bool IsTailscaleAddress(const IpAddress& address) const;

  IgnorePolicy policy_;
  std::map<int32_t, Link> links_;
  std::map<AddressKey, Address> addresses_;
  std::map<RouteKey, RouteMessage> routes_;
  std::map<RuleKey, RuleMessage> rules_;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_MODEL_H_
