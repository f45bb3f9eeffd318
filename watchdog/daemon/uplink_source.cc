#include "watchdog/daemon/uplink_source.h"

#include <spdlog/spdlog.h>

#include "netlink/describe.h"

namespace watchdog {
namespace {

netlink::WatcherOptions WatcherOptionsFor(const std::string& interface) {
  netlink::WatcherOptions options;
  options.ignore.tailscale_interfaces = {interface};
  return options;
}

}  // namespace

WatcherUplinkSource::WatcherUplinkSource(EventLoop& loop,
                                         std::string tailscale_interface,
                                         bool debug)
    : loop_(loop),
      tailscale_interface_(std::move(tailscale_interface)),
      watcher_(WatcherOptionsFor(tailscale_interface_)) {
  if (debug) {
    watcher_.on_message = [](const netlink::Message& msg,
                             netlink::Relevance relevance) {
      spdlog::debug("netlink: {} ({})", netlink::DescribeMessage(msg),
                    netlink::RelevanceName(relevance));
    };
  }
}

WatcherUplinkSource::~WatcherUplinkSource() {
  if (loop_.IsWatching(watcher_.event_fd())) {
    loop_.UnwatchFd(watcher_.event_fd());
  }
}

void WatcherUplinkSource::Watch(BurstCallback on_burst) {
  loop_.WatchFd(watcher_.event_fd(), EPOLLIN,
                [this, on_burst = std::move(on_burst)](uint32_t) {
                  on_burst(watcher_.HandleReadable());
                });
}

bool WatcherUplinkSource::HasTailscaleAddress() const {
  const netlink::Model& model = watcher_.model();
  const int32_t index = model.FindLinkIndex(tailscale_interface_);
  if (index == 0) return false;
  for (const auto& addr : model.AddressesOn(index)) {
    for (const auto& prefix : model.policy().tailscale_prefixes) {
      if (prefix.Contains(addr.address)) return true;
    }
  }
  return false;
}

}  // namespace watchdog
