// The uplink as the daemon sees it, as a port: the view (egress per
// family), its changes, and whether tailscaled's interface holds a
// Tailscale address. The real one is netlink::Watcher on the event loop.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_SOURCE_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_SOURCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "netlink/uplink.h"
#include "netlink/watcher.h"
#include "watchdog/io/event_loop.h"

namespace watchdog {

class UplinkSource {
 public:
  // After each burst of kernel messages: the change, or nullopt when the
  // uplink did not move (the Tailscale address may have).
  using BurstCallback =
      std::function<void(const std::optional<netlink::UplinkChange>&)>;

  virtual ~UplinkSource() = default;
  virtual void Watch(BurstCallback on_burst) = 0;
  virtual const netlink::UplinkView& view() const = 0;
  // Reads everything again (SIGUSR1); `why` is logged.
  virtual std::optional<netlink::UplinkChange> Resync(std::string_view why) = 0;
  // Whether the Tailscale interface has an address in Tailscale's prefixes.
  virtual bool HasTailscaleAddress() const = 0;
  // The way tailscaled's packets to `destination` would leave now
  // (RTM_GETROUTE with its mark); nullopt when not known.
  virtual std::optional<netlink::Egress> RouteTo(
      const netlink::IpAddress& /*destination*/) {
    return std::nullopt;
  }
  // The kernel's links, routes and rules as the watcher keeps them (mwan3's
  // agent reads them); nullptr where there is no kernel model (fakes).
  virtual const netlink::Model* kernel() const { return nullptr; }
};

class WatcherUplinkSource final : public UplinkSource {
 public:
  // Throws std::system_error when netlink cannot be set up. `debug`: log
  // every parsed message and what the model made of it.
  WatcherUplinkSource(EventLoop& loop, std::string tailscale_interface,
                      bool debug);
  ~WatcherUplinkSource() override;

  void Watch(BurstCallback on_burst) override;
  const netlink::UplinkView& view() const override { return watcher_.view(); }
  std::optional<netlink::UplinkChange> Resync(std::string_view why) override {
    return watcher_.Resync(why);
  }
  bool HasTailscaleAddress() const override;
  std::optional<netlink::Egress> RouteTo(
      const netlink::IpAddress& destination) override {
    return watcher_.RouteTo(destination);
  }
  const netlink::Model* kernel() const override { return &watcher_.model(); }

 private:
  EventLoop& loop_;
  std::string tailscale_interface_;
  netlink::Watcher watcher_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_UPLINK_SOURCE_H_
