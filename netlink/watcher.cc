#include "netlink/watcher.h"

#include <linux/rtnetlink.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "netlink/filter.h"
#include "netlink/parser.h"

namespace netlink {
namespace {

// Dump replies can be up to 32 KiB per datagram on current kernels.
constexpr size_t kQueryBufferSize = 64 * 1024;
// Notifications come one per datagram and are small, but IFLA_* link messages
// with many attributes reach a few KiB.
constexpr size_t kEventBufferSize = 64 * 1024;
constexpr int kMaxDumpAttempts = 5;

constexpr unsigned kEventGroups[] = {
    RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
    RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,  RTNLGRP_IPV4_RULE,
    RTNLGRP_IPV6_RULE,
};

std::vector<uint8_t> DumpRequest(uint16_t type, uint8_t family, uint32_t seq) {
  // nlmsghdr followed by a family-only payload; every rtnetlink dump accepts
  // a struct that starts with the family byte. rtgenmsg is padded to 4 bytes.
  struct {
    nlmsghdr header;
    rtmsg payload;  // the largest of the fixed headers we dump with
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = type;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = seq;
  request.payload.rtm_family = family;
  const auto* bytes = reinterpret_cast<const uint8_t*>(&request);
  return std::vector<uint8_t>(bytes, bytes + sizeof request);
}

}  // namespace

Watcher::Watcher(WatcherOptions options)
    : options_(std::move(options)),
      events_(RtnlSocket::Open(/*nonblocking=*/true)),
      queries_(RtnlSocket::Open(/*nonblocking=*/false)),
      model_(options_.ignore),
      event_buffer_(kEventBufferSize),
      query_buffer_(kQueryBufferSize) {
  // A lookup or dump that does not answer within this is a kernel problem;
  // fail loudly rather than hang the loop.
  queries_.SetReceiveTimeout(std::chrono::seconds(5));
  stats_.receive_buffer = events_.SetReceiveBuffer(options_.receive_buffer);
  if (options_.kernel_route_filter) {
    events_.AttachFilter(BuildUplinkEventFilter());
  }
  // Subscribe first, then dump: a change that lands between the two is then
  // queued on the event socket instead of lost.
  for (unsigned group : kEventGroups) events_.JoinGroup(group);
  if (!DumpInto(&model_)) {
    throw std::system_error(EIO, std::generic_category(),
                            "netlink: initial dump failed");
  }
  view_ = Resolve();
}

bool Watcher::DumpInto(Model* model) {
  for (int attempt = 1; attempt <= kMaxDumpAttempts; ++attempt) {
    model->Clear();
    DumpStatus status = DumpOnce(model);
    if (status == DumpStatus::kComplete) return true;
    if (status == DumpStatus::kFailed) return false;
    spdlog::debug(
        "netlink: dump interrupted by a concurrent change (attempt {}), "
        "dumping again",
        attempt);
  }
  spdlog::warn(
      "netlink: dump kept being interrupted after {} attempts; using "
      "the last one, events will correct it",
      kMaxDumpAttempts);
  return true;
}

// One full dump, one request at a time (a second request before the first
// reply is read gets EBUSY). kInterrupted: the kernel flagged the dump as
// inconsistent (NLM_F_DUMP_INTR), which calls for another attempt.
Watcher::DumpStatus Watcher::DumpOnce(Model* model) {
  struct Request {
    uint16_t type;
    uint8_t family;
  };
  constexpr Request kRequests[] = {
      {RTM_GETLINK, AF_UNSPEC}, {RTM_GETADDR, AF_UNSPEC},
      {RTM_GETROUTE, AF_INET},  {RTM_GETROUTE, AF_INET6},
      {RTM_GETRULE, AF_INET},   {RTM_GETRULE, AF_INET6},
  };
  bool consistent = true;
  for (const Request& request : kRequests) {
    const uint32_t seq = next_seq_++;
    if (!SendQuery(DumpRequest(request.type, request.family, seq), "dump")) {
      return DumpStatus::kFailed;
    }
    bool done = false;
    while (!done) {
      std::optional<ParseResult> parsed = ReceiveReply("dump");
      if (!parsed) return DumpStatus::kFailed;
      for (const Message& msg : parsed->messages) {
        if (msg.seq != seq) continue;  // a stale reply to an earlier request
        if (msg.flags & NLM_F_DUMP_INTR) consistent = false;
        if (std::holds_alternative<DoneMessage>(msg.body)) {
          done = true;
        } else if (auto* err = std::get_if<ErrorMessage>(&msg.body)) {
          // IPv6 disabled gives EAFNOSUPPORT for the v6 dumps; that family is
          // then simply empty.
          if (err->error != 0) {
            spdlog::debug("netlink: dump type {} family {}: {}", request.type,
                          request.family,
                          std::strerror(ErrnoFromNetlinkError(err->error)));
          }
          done = true;
        } else {
          model->Apply(msg.body);
        }
      }
    }
  }
  return consistent ? DumpStatus::kComplete : DumpStatus::kInterrupted;
}

std::optional<ParseResult> Watcher::ReceiveReply(std::string_view what) {
  for (;;) {
    ssize_t n = queries_.Receive(query_buffer_);
    if (n == -EPERM) continue;
    if (n < 0) {
      spdlog::error("netlink: reading {} reply: {}", what,
                    std::strerror(static_cast<int>(-n)));
      return std::nullopt;
    }
    ParseResult parsed = ParseDatagram({query_buffer_.data(), size_t(n)});
    if (parsed.error) {
      ++stats_.parse_errors;
      spdlog::warn("netlink: {} reply: {}, ignoring the rest of the datagram",
                   what, parsed.error->ToString());
    }
    return parsed;
  }
}

bool Watcher::SendQuery(std::span<const uint8_t> request,
                        std::string_view what) {
  try {
    queries_.Send(request);
    return true;
  } catch (const std::system_error& e) {
    spdlog::error("netlink: sending {} request: {}", what, e.what());
    return false;
  }
}

std::optional<Egress> Watcher::RouteTo(const IpAddress& destination) {
  const uint32_t seq = next_seq_++;
  if (SendQuery(BuildRouteQuery(destination, options_.fwmark, seq),
                "route lookup")) {
    while (auto parsed = ReceiveReply("route lookup")) {
      if (auto lookup = FindRouteReply(parsed->messages, seq)) {
        return MakeEgress(*lookup, model_);
      }
    }
  }
  return std::nullopt;
}

Egress Watcher::ResolveFamily(Family family) {
  const IpAddress& probe =
      family == Family::kV4 ? options_.probe_v4 : options_.probe_v6;
  // The kernel did not answer: we know nothing new, so keep what we had
  // rather than report a loss that did not happen.
  return RouteTo(probe).value_or(view_.Get(family));
}

UplinkView Watcher::Resolve() {
  ++stats_.resolves;
  UplinkView view;
  for (Family family : kFamilies) view.Get(family) = ResolveFamily(family);
  return view;
}

std::optional<UplinkChange> Watcher::Update(UplinkView next) {
  // The view always follows the kernel, even when nothing that matters changed
  // (so the next diff starts from the truth).
  std::optional<UplinkChange> change = ComputeUplinkChange(view_, next);
  view_ = std::move(next);
  return change;
}

void Watcher::DrainAndDiscard() {
  while (events_.Receive(event_buffer_) != -EAGAIN) {
  }
}

std::optional<UplinkChange> Watcher::Resync(std::string_view why) {
  ++stats_.resyncs;
  spdlog::info("netlink: resync ({}): dumping links, addresses, routes, rules",
               why);
  // What is still queued predates the dump; the dump supersedes it.
  DrainAndDiscard();
  Model fresh(options_.ignore);
  if (DumpInto(&fresh)) {
    model_ = std::move(fresh);
  } else {
    spdlog::error("netlink: resync dump failed; keeping the old model");
  }
  return Update(Resolve());
}

std::optional<UplinkChange> Watcher::HandleReadable() {
  bool hinted = false;
  for (;;) {
    ssize_t n = events_.Receive(event_buffer_);
    if (n == -EAGAIN || n == -EWOULDBLOCK) break;
    if (n == -EPERM) continue;
    if (n == -ENOBUFS) {
      // The kernel dropped notifications: our model is unknown now.
      ++stats_.overruns;
      const int wanted = std::min(std::max(stats_.receive_buffer, 1 << 16) * 2,
                                  options_.max_receive_buffer);
      stats_.receive_buffer = events_.SetReceiveBuffer(wanted);
      spdlog::warn(
          "netlink: receive buffer overrun, notifications were lost; "
          "receive buffer now {} bytes, resyncing",
          stats_.receive_buffer);
      return Resync("receive buffer overrun");
    }
    if (n < 0) {
      spdlog::warn("netlink: reading events: {}, ignoring", std::strerror(-n));
      break;
    }
    ++stats_.datagrams;
    ParseResult parsed = ParseDatagram({event_buffer_.data(), size_t(n)});
    if (parsed.error) {
      ++stats_.parse_errors;
      spdlog::warn("netlink: event datagram: {}; re-resolving to be safe",
                   parsed.error->ToString());
      hinted = true;
    }
    for (const Message& msg : parsed.messages) {
      ++stats_.messages;
      Relevance relevance = model_.Apply(msg.body);
      if (relevance == Relevance::kChanged) {
        ++stats_.hints;
        hinted = true;
      }
      if (on_message) on_message(msg, relevance);
    }
  }
  if (!hinted) return std::nullopt;
  return Update(Resolve());
}

}  // namespace netlink
