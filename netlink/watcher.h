// netlink::Watcher knows, at every moment, which uplink tailscaled's own
// packets would leave through, and says exactly what changed when that moves.
//
// Sockets: an event socket subscribed to link, address, route and rule groups
// (with the BPF filter of filter.h), and a query socket for dumps and egress
// lookups (unfiltered, blocking with a timeout; one request at a time).
//
// Netlink messages are only hints: HandleReadable() drains the event socket,
// applies every message to the model, and after the burst re-resolves the
// egress once and diffs it against the previous view. An overrun (ENOBUFS)
// means the model is unknown: grow the buffer, dump again, diff.
//
// Single-threaded: call everything from the event loop's thread.
#ifndef TSWATCHDOG_NETLINK_WATCHER_H_
#define TSWATCHDOG_NETLINK_WATCHER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "netlink/egress.h"
#include "netlink/messages.h"
#include "netlink/model.h"
#include "netlink/socket.h"
#include "netlink/uplink.h"

namespace netlink {

struct WatcherOptions {
  IgnorePolicy ignore;
  IpAddress probe_v4 = DefaultProbe(Family::kV4);
  IpAddress probe_v6 = DefaultProbe(Family::kV6);
  uint32_t fwmark = kTailscaleBypassMark;
  // Initial SO_RCVBUF of the event socket; doubled on every overrun up to the
  // maximum. Tests shrink it to force ENOBUFS.
  int receive_buffer = 1 << 20;
  int max_receive_buffer = 64 << 20;
  bool kernel_route_filter = true;
};

struct WatcherStats {
  uint64_t datagrams = 0;  // read from the event socket
  uint64_t messages = 0;   // parsed from those datagrams
  uint64_t hints = 0;      // messages that changed the model
  uint64_t resolves = 0;   // egress re-resolutions
  uint64_t resyncs = 0;    // full re-dumps
  uint64_t overruns = 0;   // ENOBUFS seen
  uint64_t parse_errors = 0;
  int receive_buffer = 0;  // current SO_RCVBUF of the event socket
};

class Watcher {
 public:
  // Subscribes, dumps links, addresses, routes and rules, and resolves the
  // egress. Throws std::system_error when the sockets cannot be set up.
  explicit Watcher(WatcherOptions options = {});

  int event_fd() const { return events_.fd(); }

  // Call when event_fd() is readable. Drains it (nonblocking) and returns the
  // uplink change, if the burst moved the uplink.
  std::optional<UplinkChange> HandleReadable();

  // Dumps everything again into a fresh model and diffs. `why` is logged.
  std::optional<UplinkChange> Resync(std::string_view why);

  // The way one of tailscaled's packets to `destination` would leave now
  // (RTM_GETROUTE with its mark; nothing is sent). nullopt when the kernel
  // did not answer.
  std::optional<Egress> RouteTo(const IpAddress& destination);

  const UplinkView& view() const { return view_; }
  const Model& model() const { return model_; }
  const WatcherStats& stats() const { return stats_; }

  // Observer for every parsed event message and what the model made of it
  // (the `--debug` log uses it).
  std::function<void(const Message&, Relevance)> on_message;

 private:
  enum class DumpStatus { kComplete, kInterrupted, kFailed };
  bool DumpInto(Model* model);  // false: the kernel did not answer
  DumpStatus DumpOnce(Model* model);
  bool SendQuery(std::span<const uint8_t> request, std::string_view what);
  std::optional<ParseResult> ReceiveReply(std::string_view what);
  UplinkView Resolve();
  Egress ResolveFamily(Family family);
  std::optional<UplinkChange> Update(UplinkView next);
  void DrainAndDiscard();

  WatcherOptions options_;
  RtnlSocket events_;
  RtnlSocket queries_;
  Model model_;
  UplinkView view_;
  WatcherStats stats_;
  uint32_t next_seq_ = 1;
  std::vector<uint8_t> event_buffer_;
  std::vector<uint8_t> query_buffer_;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_WATCHER_H_
