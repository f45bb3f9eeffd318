// A tiny rtnetlink message builder for tests (after Chromium's
// address_tracker_linux_test_util): build messages, append several to one
// datagram, feed the bytes to the parser.
#ifndef TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_
#define TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace netlink::test {

class MessageBuilder {
 public:
  explicit MessageBuilder(uint16_t type, uint16_t flags = 0, uint32_t seq = 0);

  template <typename T>
  MessageBuilder& Payload(const T& fixed) {
    return Raw(&fixed, sizeof fixed);
  }
  MessageBuilder& Raw(const void* data, size_t len);  // appended, then padded
  MessageBuilder& Attr(uint16_t type, const void* data, size_t len);
  MessageBuilder& AttrU32(uint16_t type, uint32_t value);
  MessageBuilder& AttrString(uint16_t type, std::string_view value);
  MessageBuilder& AttrIp(uint16_t type, std::string_view ip);
  // Starts/ends a nested attribute (IFLA_LINKINFO and the like).
  MessageBuilder& BeginNested(uint16_t type);
  MessageBuilder& EndNested();

  std::vector<uint8_t> Bytes() const;
  MessageBuilder& AppendTo(std::vector<uint8_t>* datagram);

 private:
  std::vector<uint8_t> bytes_;
  std::vector<size_t> open_nests_;
};

MessageBuilder LinkMessage(bool add, int index, std::string_view name,
                           uint32_t flags, std::string_view kind = "");
MessageBuilder AddressMessage(bool add, int index, std::string_view ip,
                              int prefix_len, uint32_t flags = 0);
MessageBuilder RouteMessage(bool add, std::string_view dst, int dst_len,
                            int oif, std::string_view gateway,
                            uint32_t table = 254, uint32_t priority = 0);
MessageBuilder RuleMessage(bool add, bool v6, uint32_t priority, uint32_t table,
                           uint32_t fwmark = 0, uint32_t fwmask = 0);
MessageBuilder DoneMessage(uint32_t seq = 0);
MessageBuilder ErrorMessage(int error, uint32_t seq = 0);

}  // namespace netlink::test

#endif  // TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_
