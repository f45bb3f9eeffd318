#include "tests/bench/route_writer.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <system_error>

#include "tests/netlink/netlink_builder.h"

namespace bench {
namespace {

std::vector<uint8_t> WithFlags(netlink::test::MessageBuilder builder,
                               uint16_t flags, uint32_t seq) {
  std::vector<uint8_t> bytes = builder.Bytes();
  auto* header = reinterpret_cast<nlmsghdr*>(bytes.data());
  header->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  header->nlmsg_seq = seq;
  return bytes;
}

}  // namespace

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int InterfaceIndex(const std::string& name) {
  const unsigned index = if_nametoindex(name.c_str());
  if (index == 0) {
    throw std::system_error(errno, std::generic_category(),
                            "if_nametoindex " + name);
  }
  return static_cast<int>(index);
}

RouteWriter::RouteWriter() : socket_(netlink::RtnlSocket::Open(true)) {
  socket_.SetReceiveBuffer(4 << 20);
}

int64_t RouteWriter::ReplaceDefault(const Uplink& uplink) {
  const uint32_t seq = ++seq_;
  const std::vector<uint8_t> message = WithFlags(
      netlink::test::RouteMessage(true, "0.0.0.0", 0,
                                  InterfaceIndex(uplink.dev), uplink.gateway),
      NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, seq);
  const int64_t sent_at = RealtimeNs();
  socket_.Send(message);
  // The kernel handles a request inside sendmsg(): the ack is already queued.
  uint8_t buffer[8192];
  for (;;) {
    pollfd pfd{socket_.fd(), POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0) throw std::runtime_error("no netlink ack");
    const ssize_t n = socket_.Receive(buffer);
    if (n == -EAGAIN || n == -EPERM) continue;
    if (n < 0) {
      throw std::system_error(static_cast<int>(-n), std::generic_category(),
                              "netlink ack");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      if (h->nlmsg_seq != seq) {
        if (error->error != 0) ++errors_;  // a storm's late error
        continue;
      }
      if (error->error != 0) {
        throw std::system_error(-error->error, std::generic_category(),
                                "replace default via " + uplink.gateway);
      }
      return sent_at;
    }
  }
}

void RouteWriter::AppendHostRoute(bool add, const std::string& address, int oif,
                                  std::vector<uint8_t>* batch) const {
  const bool v6 = address.find(':') != std::string::npos;
  const std::vector<uint8_t> message = WithFlags(
      netlink::test::RouteMessage(add, address, v6 ? 128 : 32, oif, ""),
      add ? NLM_F_CREATE | NLM_F_EXCL : 0, 0);
  batch->insert(batch->end(), message.begin(), message.end());
}

void RouteWriter::Flush(const std::vector<uint8_t>& batch,
                        size_t datagram_bytes) {
  size_t start = 0;
  while (start < batch.size()) {
    // Whole messages only: walk the headers up to the datagram size.
    size_t end = start;
    while (end < batch.size()) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(batch.data() + end);
      const size_t next = end + NLMSG_ALIGN(h->nlmsg_len);
      if (next - start > datagram_bytes && end > start) break;
      end = next;
    }
    socket_.Send({batch.data() + start, end - start});
    start = end;
    DrainErrors();
  }
}

void RouteWriter::DrainErrors() {
  uint8_t buffer[8192];
  for (;;) {
    const ssize_t n = socket_.Receive(buffer);
    if (n == -EAGAIN) return;
    if (n < 0) {
      ++errors_;  // ENOBUFS: so many errors that they overflowed
      continue;
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR &&
          static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error != 0) {
        ++errors_;
      }
    }
  }
}

}  // namespace bench
