#include "watchdog/daemon/run.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <system_error>

#include "netlink/conntrack.h"
#include "netlink/unique_fd.h"
#include "watchdog/daemon/actuator.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/daemon.h"
#include "watchdog/daemon/logging.h"
#include "watchdog/daemon/mwan3_agent.h"
#include "watchdog/daemon/mwan3_flows.h"
#include "watchdog/daemon/publisher.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/io/process_runner.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {
namespace {

// The signals we handle arrive through a signalfd, in the loop. A write to
// a closed LocalAPI connection must be an error, not death: SIGPIPE is
// ignored.
netlink::UniqueFd HandledSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&signals, sig);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) < 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
  netlink::UniqueFd fd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category(), "signalfd");
  signal(SIGPIPE, SIG_IGN);
  return fd;
}

LocalApiOptions ClientOptionsFor(const config::Config& config) {
  LocalApiOptions options;
  options.socket_path = config.socket;
  return options;
}

// Lab only (README "Tests"): the fake tailscaled's timers run this much
// faster, and so must the connection verdicts' thresholds. Not a config key:
// on a real host tailscaled's timers are its own.
double LabTimeScale() {
  const char* text = std::getenv("TSWATCHDOG_LAB_TIME_SCALE");
  if (text == nullptr) return 1.0;
  const double scale = std::strtod(text, nullptr);
  if (scale <= 0 || scale >= 1) return 1.0;
  spdlog::warn(
      "TSWATCHDOG_LAB_TIME_SCALE={}: thresholds for a lab's "
      "tailscaled, not a real one",
      scale);
  return scale;
}

std::string LadderText(const std::vector<LadderStep>& ladder) {
  std::string steps;
  for (LadderStep s : ladder) {
    steps += (steps.empty() ? "" : ", ") + std::string(StepName(s));
  }
  return steps;
}

// The daemon over the real ports, and the loop that drives them.
class Process {
 public:
  Process(const config::Config& config, DaemonOptions options)
      : options_(std::move(options)),
        signal_fd_(HandledSignals()),
        uplink_(loop_, config.tailscale_interface, options_.debug),
        client_(loop_, ClientOptionsFor(config)),
        processes_(loop_),
        publisher_(SystemdNotifier::FromEnvironment()),
        live_(Ports()),
        dry_run_(Ports()),
        service_probe_(processes_),
        mwan3_({route_table_, CleanTailscaledFlows, EstablishedTailscaledTcp,
                Mwan3Paths{}, [this] { return loop_.Now(); }},
               Mwan3SettingsFromConfig(config)),
        daemon_(config,
                {options_.restart_timeout, options_.hook_timeout,
                 std::random_device{}(), LabTimeScale()},
                {loop_, uplink_, client_, publisher_, live_, dry_run_,
                 connections_, service_probe_, &mwan3_}) {}

  int Run();

 private:
  ActuatorPorts Ports() {
    return {client_, processes_, netlink::DeleteConntrackBoundTo,
            ListHookPrograms, UnitRestartCommand};
  }
  void OnSignal();
  void Reload();

  DaemonOptions options_;
  EventLoop loop_;
  netlink::UniqueFd signal_fd_;
  WatcherUplinkSource uplink_;
  LocalApiClient client_;
  ProcessRunner processes_;
  StatePublisher publisher_;
  LiveActuator live_;
  DryRunActuator dry_run_;
  KernelConnectionSource connections_;
  SystemctlServiceProbe service_probe_;
  KernelRouteTable route_table_;
  Mwan3Agent mwan3_;
  Daemon daemon_;
};

int Process::Run() {
  const config::Config& config = daemon_.config();
  spdlog::info(
      "tswatchdog {} starting: socket {}, ladder [{}]{}", TSWATCHDOG_VERSION,
      config.socket.empty() ? "auto" : config.socket, LadderText(config.ladder),
      config.dry_run ? ", dry run (no action is taken)" : "");
  loop_.WatchFd(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignal(); });
  if (mwan3_.status_fd() >= 0) {
    loop_.WatchFd(mwan3_.status_fd(), EPOLLIN,
                  [this](uint32_t) { daemon_.OnMwan3Files(); });
  }
  daemon_.Start();
  daemon_.FlushIfDirty();
  publisher_.StartWatchdogPings(loop_);
  while (!loop_.stopped()) {
    try {
      loop_.RunOnce(-1);
      // Whatever this iteration changed, written once: state file, metrics
      // and sd_notify STATUS=.
      daemon_.FlushIfDirty();
    } catch (const std::exception& e) {
      // A bug of ours must not take the watchdog down with it: say so loudly
      // and go on (the state machine is consistent between events).
      spdlog::critical("internal error, going on: {}", e.what());
    }
  }
  publisher_.Stopping();
  spdlog::info("stopping");
  daemon_.Stop();
  live_.StopHooks();
  if (processes_.running() > 0) {
    spdlog::info("waiting for {} child process(es) to end",
                 processes_.running());
  }
  processes_.TerminateAll(std::chrono::seconds(5));
  return 0;
}

void Process::OnSignal() {
  signalfd_siginfo info;
  while (read(signal_fd_.get(), &info, sizeof info) == sizeof info) {
    switch (info.ssi_signo) {
      case SIGTERM:
      case SIGINT:
        spdlog::info("{} received",
                     strsignal(static_cast<int>(info.ssi_signo)));
        loop_.Stop();
        return;
      case SIGHUP:
        Reload();
        break;
      case SIGUSR1:
        daemon_.OnUplinkHint();
        break;
    }
  }
}

void Process::Reload() {
  if (!options_.reload) return;
  config::Result<config::Config> fresh = options_.reload();
  if (!fresh.ok()) {
    spdlog::error("SIGHUP: config not reloaded, keeping the running one: {}",
                  fresh.error().ToString());
    return;
  }
  if (!options_.debug) spdlog::set_level(SpdlogLevel(fresh.value().log_level));
  daemon_.Reconfigure(std::move(fresh).value());
}

}  // namespace

int RunDaemon(const config::Config& config, DaemonOptions options) {
  Process process(config, std::move(options));
  return process.Run();
}

}  // namespace watchdog
