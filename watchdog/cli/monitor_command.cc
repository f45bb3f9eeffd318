// `tswatchdog monitor [--json]`: the uplink view and each change, live.
// Touches nothing and needs no tailscaled.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>

#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <system_error>

#include "netlink/describe.h"
#include "netlink/watcher.h"
#include "watchdog/cli/commands.h"
#include "watchdog/cli/options.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/state_file.h"
#include "watchdog/daemon/uplink_json.h"
#include "watchdog/io/event_loop.h"

namespace watchdog {
namespace {

std::string WallClockNow() {
  return FormatWallTime(std::chrono::system_clock::now());
}

class MonitorPrinter {
 public:
  explicit MonitorPrinter(bool json) : json_(json) {}

  void Initial(const netlink::UplinkView& view) {
    if (json_) {
      nlohmann::json line = UplinkViewToJson(view);
      line["event"] = "initial";
      line["time"] = WallClockNow();
      Emit(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
    for (netlink::Family family : netlink::kFamilies) {
      Emit(fmt::format("{} uplink {}: {}", WallClockNow(),
                       netlink::FamilyName(family),
                       netlink::DescribeEgress(view.Get(family))));
    }
  }

  void Change(const netlink::UplinkChange& change) {
    if (json_) {
      nlohmann::json line = UplinkViewToJson(change.new_view);
      line["event"] = "change";
      line["time"] = WallClockNow();
      line["reasons"] = ReasonsToJson(change.reasons);
      Emit(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
    for (netlink::Family family : netlink::kFamilies) {
      std::string reasons;
      for (const auto& r : change.reasons) {
        if (r.family != family) continue;
        if (!reasons.empty()) reasons += ' ';
        reasons += netlink::ReasonName(r.reason);
      }
      if (reasons.empty()) continue;
      Emit(fmt::format("{} change {}: {}: {} -> {}", WallClockNow(),
                       netlink::FamilyName(family), reasons,
                       netlink::DescribeEgress(change.old_view.Get(family)),
                       netlink::DescribeEgress(change.new_view.Get(family))));
    }
  }

 private:
  // One line at a time, flushed: consumers read us through pipes.
  void Emit(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  bool json_;
};

// Prints the uplink, then every change, until SIGTERM/SIGINT; SIGUSR1
// re-reads everything. Throws std::system_error when netlink or the signals
// cannot be set up.
void WatchUplink(const std::string& tailscale_interface, bool json,
                 bool debug) {
  netlink::WatcherOptions watcher_options;
  watcher_options.ignore.tailscale_interfaces = {tailscale_interface};
  // Block the signals we handle so they arrive through signalfd.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&signals, sig);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) < 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
  netlink::UniqueFd signal_fd(
      signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }

  EventLoop loop;
  netlink::Watcher watcher(watcher_options);
  MonitorPrinter printer(json);
  if (debug) {
    watcher.on_message = [](const netlink::Message& msg,
                            netlink::Relevance relevance) {
      spdlog::debug("netlink: {} ({})", netlink::DescribeMessage(msg),
                    netlink::RelevanceName(relevance));
    };
  }
  printer.Initial(watcher.view());
  auto report = [&](const std::optional<netlink::UplinkChange>& change) {
    if (change) printer.Change(*change);
  };
  loop.WatchFd(watcher.event_fd(), EPOLLIN,
               [&](uint32_t) { report(watcher.HandleReadable()); });
  loop.WatchFd(signal_fd.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info;
    while (read(signal_fd.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGUSR1) {
        // An external hint (mwan3 hotplug): re-read everything.
        report(watcher.Resync("SIGUSR1"));
      } else {
        loop.Stop();
      }
    }
  });
  loop.Run();
}

}  // namespace

int RunMonitorCommand(int argc, char** argv) {
  cxxopts::Options options("tswatchdog monitor",
                           "Print the uplink tailscaled's packets would use, "
                           "then one line per change. Needs no tailscaled.");
  options.add_options()("json", "one JSON object per line")(
      "debug", "log every parsed netlink message to stderr")(
      "tailscale-interface",
      "tailscaled's tun device (its changes are ignored)",
      cxxopts::value<std::string>()->default_value("tailscale0"))(
      "h,help", "show this help");
  auto parsed = ParseOptions(options, argc, argv);
  if (const int* exit = std::get_if<int>(&parsed)) return *exit;
  const cxxopts::ParseResult& args = std::get<cxxopts::ParseResult>(parsed);
  SetupLogging(DetectLogStyle(), args.count("debug") ? spdlog::level::debug
                                                     : spdlog::level::info);

  try {
    WatchUplink(args["tailscale-interface"].as<std::string>(),
                args.count("json") > 0, args.count("debug") > 0);
  } catch (const std::system_error& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
  return 0;
}

}  // namespace watchdog
