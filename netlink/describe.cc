#include "netlink/describe.h"

#include <fmt/format.h>

#include <type_traits>

namespace netlink {

std::string DescribeMessage(const Message& msg) {
  return std::visit(
      [&](const auto& body) -> std::string {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, LinkMessage>) {
          return fmt::format("{} link {} index {} flags {:#x}",
                             body.deleted ? "del" : "new", body.name,
                             body.index, body.flags);
        } else if constexpr (std::is_same_v<T, AddressMessage>) {
          return fmt::format("{} addr {}/{} index {} flags {:#x}",
                             body.deleted ? "del" : "new",
                             body.address.ToString(), body.prefix_len,
                             body.index, body.flags);
        } else if constexpr (std::is_same_v<T, RouteMessage>) {
          return fmt::format("{} route {}/{} table {} oif {} via {} metric {}",
                             body.deleted ? "del" : "new",
                             body.dst ? body.dst->ToString() : "default",
                             body.dst_len, body.table, body.oif,
                             body.gateway ? body.gateway->ToString() : "-",
                             body.priority);
        } else if constexpr (std::is_same_v<T, RuleMessage>) {
          return fmt::format("{} rule pref {} table {} fwmark {:#x}",
                             body.deleted ? "del" : "new", body.priority,
                             body.table, body.fwmark.value_or(0));
        } else {
          return fmt::format("message type {}", msg.type);
        }
      },
      msg.body);
}

const char* RelevanceName(Relevance relevance) {
  switch (relevance) {
    case Relevance::kIgnored:
      return "ignored";
    case Relevance::kUnchanged:
      return "duplicate";
    case Relevance::kChanged:
      return "hint";
  }
  return "?";
}

}  // namespace netlink
