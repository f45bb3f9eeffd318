// A tiny rtnetlink message builder for tests (after Chromium's
// address_tracker_linux_test_util): build messages, append several to one
// datagram, feed the bytes to the parser.
#ifndef TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_
#define TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_

#include <cstdint>
#include <cstring>
#include <optional>
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
                           uint32_t fwmark = 0, uint32_t fwmask = 0,
                           std::string_view iifname = "",
                           uint8_t action = 1 /* FR_ACT_TO_TBL */);
MessageBuilder DoneMessage(uint32_t seq = 0);

// A sock_diag reply (struct inet_diag_msg).
struct SocketSpec {
  std::string_view local = "198.51.100.2";  // v6 when it contains ':'
  uint16_t local_port = 41234;
  std::string_view remote = "192.0.2.10";
  uint16_t remote_port = 80;
  uint8_t state = 1;  // TCP_ESTABLISHED
  uint32_t inode = 4242;
  uint32_t uid = 0;
  std::optional<uint32_t> mark = 0x80000;
  // INET_DIAG_INFO payload (struct tcp_info bytes), if any.
  std::optional<std::vector<uint8_t>> tcp_info;
  // The reply's type is the request's: TCPDIAG_GETSOCK (18) for the dump
  // of both families in one.
  uint16_t type = 20;  // SOCK_DIAG_BY_FAMILY
};
MessageBuilder SocketMessage(const SocketSpec& spec, uint32_t seq = 0);
MessageBuilder ErrorMessage(int error, uint32_t seq = 0);

}  // namespace netlink::test

#endif  // TSWATCHDOG_TESTS_NETLINK_NETLINK_BUILDER_H_
