// libFuzzer target: one rtnetlink datagram (the bytes a netlink socket read
// returns) through netlink::ParseDatagram, then every parsed message into the
// model, the egress resolver and the log formatter, as the watcher does.
// Invariants that must hold for any input abort the run when violated.
#include <linux/netlink.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "netlink/describe.h"
#include "netlink/egress.h"
#include "netlink/model.h"
#include "netlink/parser.h"
#include "netlink/utf8.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// Whether `needle` occurs in the datagram: everything the parser decodes
// (names, addresses) must have been copied out of the input.
bool InInput(std::span<const uint8_t> input, const void* needle, size_t n) {
  return n == 0 || memmem(input.data(), input.size(), needle, n) != nullptr;
}

void CheckAddress(std::span<const uint8_t> input,
                  const netlink::IpAddress& address) {
  Check(InInput(input, address.data(), address.size()));
}

void CheckRouteAddress(std::span<const uint8_t> input, netlink::Family family,
                       const std::optional<netlink::IpAddress>& address) {
  if (!address) return;
  Check(address->family() == family);
  CheckAddress(input, *address);
}

// Checks a parsed message against the input bytes.
void CheckMessage(std::span<const uint8_t> input, const netlink::Message& msg) {
  if (const auto* link = std::get_if<netlink::LinkMessage>(&msg.body)) {
    for (const std::string* text : {&link->name, &link->kind}) {
      Check(text->find('\0') == std::string::npos);
      // Names reach JSON and logs: always valid UTF-8 (issue 13), copied
      // from the input unless a bad sequence became U+FFFD.
      Check(netlink::IsValidUtf8(*text));
      if (text->find("\xEF\xBF\xBD") == std::string::npos) {
        Check(InInput(input, text->data(), text->size()));
      }
    }
  } else if (const auto* addr =
                 std::get_if<netlink::AddressMessage>(&msg.body)) {
    CheckAddress(input, addr->address);
  } else if (const auto* route =
                 std::get_if<netlink::RouteMessage>(&msg.body)) {
    CheckRouteAddress(input, route->family, route->dst);
    CheckRouteAddress(input, route->family, route->gateway);
    CheckRouteAddress(input, route->family, route->prefsrc);
  }
}

// An independent walk over the nlmsghdr chain: the message headers the
// parser must have reported, in order, up to the first bad length.
std::vector<nlmsghdr> WalkHeaders(std::span<const uint8_t> input) {
  std::vector<nlmsghdr> headers;
  size_t offset = 0;
  while (input.size() - offset >= sizeof(nlmsghdr)) {
    nlmsghdr header;
    std::memcpy(&header, input.data() + offset, sizeof header);
    if (header.nlmsg_len < sizeof header ||
        header.nlmsg_len > input.size() - offset) {
      break;
    }
    headers.push_back(header);
    offset += NLMSG_ALIGN(header.nlmsg_len);
    if (offset > input.size()) break;
  }
  return headers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  const netlink::ParseResult result = netlink::ParseDatagram(input);

  // Messages: at most one per header, each one a header of the chain.
  const std::vector<nlmsghdr> headers = WalkHeaders(input);
  Check(result.messages.size() <= headers.size());
  if (!result.error) Check(result.messages.size() == headers.size());
  for (size_t i = 0; i < result.messages.size(); ++i) {
    const netlink::Message& msg = result.messages[i];
    Check(msg.type == headers[i].nlmsg_type);
    Check(msg.flags == headers[i].nlmsg_flags);
    Check(msg.seq == headers[i].nlmsg_seq);
    Check(msg.port == headers[i].nlmsg_pid);
    CheckMessage(input, msg);
  }
  if (result.error) {
    Check(result.error->offset < size);
    Check(!result.error->ToString().empty());
  }

  // The parser copies what it reads: a misaligned copy parses the same.
  std::vector<uint8_t> shifted(size + 1);
  if (size) std::memcpy(shifted.data() + 1, data, size);
  const netlink::ParseResult again =
      netlink::ParseDatagram(std::span(shifted).subspan(1));
  Check(again.messages.size() == result.messages.size());
  Check(again.error.has_value() == result.error.has_value());

  // The consumers: the model (applying a message twice changes nothing the
  // second time), the log line of each message, the egress resolver.
  netlink::Model model;
  for (size_t i = 0; i < result.messages.size(); ++i) {
    const netlink::Message& msg = result.messages[i];
    Check(netlink::DescribeMessage(msg) ==
          netlink::DescribeMessage(again.messages[i]));
    const netlink::Relevance relevance = model.Apply(msg.body);
    Check(netlink::RelevanceName(relevance) != nullptr);
    Check(model.Apply(msg.body) != netlink::Relevance::kChanged);
  }
  for (const auto& [index, link] : model.links()) {
    Check(link.index == index);
    Check(model.FindLink(index) == &link);
    for (const netlink::Address& address : model.AddressesOn(index)) {
      Check(address.index == index);
      Check(model.FindAddress(index, address.address) != nullptr);
    }
  }
  for (const netlink::Message& msg : result.messages) {
    if (auto lookup = netlink::FindRouteReply(result.messages, msg.seq)) {
      const netlink::Egress egress = netlink::MakeEgress(*lookup, model);
      (void)egress.usable();
    }
  }
  return 0;
}
