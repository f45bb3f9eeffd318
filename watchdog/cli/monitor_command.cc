// `tswatchdog monitor [--json]`: the uplink view and each change, live.
// Touches nothing and needs no tailscaled.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>

#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>

#include "netlink/describe.h"
#include "netlink/watcher.h"
#include "watchdog/cli/commands.h"
#include "watchdog/cli/options.h"
#include "watchdog/core/mwan3.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/mwan3_json.h"
#include "watchdog/daemon/mwan3_status.h"
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

  // mwan3's view (each time it changes), where mwan3 is or was.
  void Mwan3(const Mwan3View& view) {
    if (json_) {
      nlohmann::json line = {{"event", "mwan3"},
                             {"time", WallClockNow()},
                             {"mwan3", Mwan3ViewToJson(view)}};
      Emit(line.dump());
      return;
    }
    Emit(fmt::format("{} {}", WallClockNow(), view.Describe()));
  }

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

// mwan3's view from the kernel's rules and its status files, printed when
// it changes (and first where mwan3 is there at all).
class Mwan3Follower {
 public:
  Mwan3Follower(const netlink::Watcher& watcher, MonitorPrinter& printer)
      : watcher_(watcher), printer_(printer) {
    try {
      status_ = std::make_unique<Mwan3StatusWatcher>(paths_.iface_state_dir);
    } catch (const std::system_error& e) {
      spdlog::warn("mwan3: {}, ignoring", e.what());
    }
  }
  int fd() const { return status_ ? status_->fd() : -1; }
  void OnReadable() {
    if (status_ && status_->HandleReadable()) Look(true);
  }
  // `reread`: the status files too (else only the rules).
  void Look(bool reread) {
    if (reread) files_ = ReadMwan3Files(paths_);
    Mwan3View view = BuildMwan3View(DetectMwan3(watcher_.model().rules()),
                                    files_.interface_order, files_.status);
    const bool there = view.rules.present || !files_.status.empty();
    if ((last_ && view == *last_) || (!last_ && !there)) return;
    printer_.Mwan3(view);
    last_ = std::move(view);
  }

 private:
  const netlink::Watcher& watcher_;
  MonitorPrinter& printer_;
  Mwan3Paths paths_;
  std::unique_ptr<Mwan3StatusWatcher> status_;
  Mwan3Files files_;
  std::optional<Mwan3View> last_;
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
  Mwan3Follower mwan3(watcher, printer);
  mwan3.Look(true);
  if (mwan3.fd() >= 0) {
    loop.WatchFd(mwan3.fd(), EPOLLIN, [&](uint32_t) { mwan3.OnReadable(); });
  }
  auto report = [&](const std::optional<netlink::UplinkChange>& change) {
    if (change) printer.Change(*change);
    mwan3.Look(false);
  };
  loop.WatchFd(watcher.event_fd(), EPOLLIN,
               [&](uint32_t) { report(watcher.HandleReadable()); });
  loop.WatchFd(signal_fd.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info;
    while (read(signal_fd.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGUSR1) {
        // An external hint (mwan3 hotplug): re-read everything.
        report(watcher.Resync("SIGUSR1"));
        mwan3.Look(true);
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
