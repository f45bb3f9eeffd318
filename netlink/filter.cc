#include "netlink/filter.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstddef>

#include "netlink/model.h"

namespace netlink {

std::vector<sock_filter> BuildUplinkEventFilter() {
  // BPF loads are big-endian while netlink headers are in host order, so the
  // 16-bit message type is compared against its byte-swapped value.
  const uint32_t new_route = htons(RTM_NEWROUTE);
  const uint32_t del_route = htons(RTM_DELROUTE);
  constexpr uint32_t kType = offsetof(nlmsghdr, nlmsg_type);
  constexpr uint32_t kFamily = NLMSG_HDRLEN + offsetof(rtmsg, rtm_family);
  constexpr uint32_t kDstLen = NLMSG_HDRLEN + offsetof(rtmsg, rtm_dst_len);
  constexpr uint32_t kAccept = 0xffffffff;  // keep the whole datagram
  constexpr uint32_t kDrop = 0;
  // Jump offsets count instructions after the current one.
  return {
      /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kType),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, new_route, 1, 0),
      /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, del_route, 0, 6),  // -> 9
      /* 3 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kFamily),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 0, 2),  // -> 7
      /* 5 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kDstLen),
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, kMaxUplinkPrefixV4, 3, 2),
      /* 7 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kDstLen),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, kMaxUplinkPrefixV6, 1, 0),
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, kAccept),
      /* 10 */ BPF_STMT(BPF_RET | BPF_K, kDrop),
  };
}

}  // namespace netlink
