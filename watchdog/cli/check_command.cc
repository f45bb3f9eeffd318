// `tswatchdog check`: asks tailscaled once (status?peers=false and prefs),
// classifies its health and prints a one-line verdict; then the daemon's
// diagnosis from tailscaled's connections (one socket dump; connections
// that are not live and the fault, one line each).
//
// Exit status: 0 healthy; 1 not healthy (degraded, still starting after
// --start-timeout, or switched off by the user: Stopped / NeedsLogin /
// NeedsMachineAuth / WantRunning=false is not broken, but it is not healthy
// either, and the verdict says why; or a control connection seen dead from
// the kernel's side while tailscaled still says healthy); 2 nothing
// answers, or an error.
// The uplink is assumed usable (check does not read netlink), so a
// `network-status` warning counts.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <optional>
#include <string>
#include <thread>

#include "config/duration.h"
#include "watchdog/cli/commands.h"
#include "watchdog/cli/options.h"
#include "watchdog/core/diagnosis.h"
#include "watchdog/core/health.h"
#include "watchdog/daemon/connection_check.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {
namespace {

std::string Summary(const Status& status) {
  std::string out = status.backend_state_name;
  out += status.self_online ? ", online" : ", offline";
  if (!status.self_relay.empty()) out += ", relay " + status.self_relay;
  if (!status.version.empty()) out += ", " + status.version;
  return out;
}

// --start-timeout and --timeout, spelt as in the config file
// (config::ParseDuration); the error says which flag is wrong and why.
config::Result<void> ApplyDurations(const std::string& start_timeout_text,
                                    const std::string& timeout_text,
                                    std::chrono::milliseconds* start_timeout,
                                    LocalApiOptions* options) {
  auto at_flag = [](const char* flag, config::ConfigError error) {
    error.flag = flag;
    return error;
  };
  auto parsed_start = config::ParseDuration(start_timeout_text);
  if (!parsed_start) {
    return at_flag("--start-timeout", std::move(parsed_start).error());
  }
  auto parsed_timeout = config::ParseDuration(timeout_text);
  if (!parsed_timeout) {
    return at_flag("--timeout", std::move(parsed_timeout).error());
  }
  if (parsed_timeout.value().count() == 0) {
    config::ConfigError error;
    error.message = "must be > 0";
    return at_flag("--timeout", std::move(error));
  }
  *start_timeout = parsed_start.value();
  options->call_timeout = parsed_timeout.value();
  options->connect_timeout =
      std::min(options->connect_timeout, parsed_timeout.value());
  return {};
}

// Asks for status and prefs, and again every 500 ms while tailscaled is
// starting (until start_timeout). nullopt when it does not answer (said).
std::optional<HealthVerdict> AskUntilNotStarting(
    LocalApiSync& api, std::chrono::milliseconds start_timeout,
    std::optional<Status>* last_status) {
  HealthInputs inputs;
  inputs.start_timeout = start_timeout;
  inputs.uplink_usable = true;
  StartingClock starting_clock;
  while (true) {
    inputs.now = MonoClock::now();
    auto status = api.GetStatus();
    if (!status.ok()) {
      // No answer, or an answer we cannot read: either way an error.
      std::printf("unreachable: %s\n", status.error().ToString().c_str());
      return std::nullopt;
    }
    auto prefs = api.GetPrefs();
    if (prefs.ok()) {
      inputs.prefs = *prefs;
    } else {
      inputs.prefs.reset();
      spdlog::debug("no prefs: {}", prefs.error().ToString());
    }
    *last_status = *status;
    inputs.status = std::move(status).value();
    HealthVerdict verdict = starting_clock.Classify(inputs);
    if (verdict.kind != HealthKind::kStarting) return verdict;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

// An uplink source for one look: no netlink model, no route lookups (the
// daemon's watcher has them; `check` judges from tcp_info alone).
class NoUplinkModel final : public UplinkSource {
 public:
  void Watch(BurstCallback) override {}
  const netlink::UplinkView& view() const override { return view_; }
  std::optional<netlink::UplinkChange> Resync(std::string_view) override {
    return std::nullopt;
  }
  bool HasTailscaleAddress() const override { return false; }

 private:
  netlink::UplinkView view_;
};

// The daemon's diagnosis, once (issue 12 item 6): tailscaled's connections
// from the kernel (thresholds of tailscaled's own timers), told apart by
// its DERP map, and the fault from them and `verdict`. Prints the
// connections that are not live and the diagnosis.
Diagnosis DiagnoseOnce(LocalApiSync& api, const HealthVerdict& verdict,
                       const std::string& socket_path) {
  KernelConnectionSource source;
  NoUplinkModel uplink;
  ConnectionCheck check(source, uplink, VerdictThresholds{});
  const Expected<pid_t, SystemError> peer = source.LocalApiPeer(socket_path);
  check.SetPid(peer ? *peer : 0);
  auto derp = api.GetDerpMap();
  if (derp.ok()) check.SetDerpServers(std::move(derp->servers));
  const CheckReport report = check.Run();
  if (!report.problem.empty()) {
    std::printf("connections: unknown: %s\n", report.problem.c_str());
  }
  for (const JudgedConnection& c : report.evidence.connections) {
    if (c.kind == ConnectionKind::kOther || c.verdict == Verdict::kLive) {
      continue;
    }
    std::printf("connection %s: %s\n", VerdictName(c.verdict),
                c.evidence.c_str());
  }
  return Diagnose(report.evidence, verdict);
}

// Prints the verdict line and the diagnosis; the exit status.
int Report(LocalApiSync& api, const HealthVerdict& verdict,
           const Status& last_status, const std::string& socket_path) {
  std::string line = verdict.Describe();
  if (verdict.healthy()) line += " (" + Summary(last_status) + ")";
  if (verdict.kind == HealthKind::kUserIntentOff) {
    line += " -- switched off on purpose, not broken";
  }
  std::printf("%s\n", line.c_str());
  const Diagnosis diagnosis = DiagnoseOnce(api, verdict, socket_path);
  std::printf("diagnosis: %s\n", diagnosis.Describe().c_str());
  // As the daemon: a control connection seen dead is not healthy, whatever
  // tailscaled says (Machine::LooksHealthy).
  const bool dead_control =
      diagnosis.confirmed && diagnosis.fault == Fault::kControl;
  return verdict.healthy() && !dead_control ? kExitOk : kExitProblem;
}

}  // namespace

int RunCheckCommand(int argc, char** argv) {
  cxxopts::Options parser(
      "tswatchdog check",
      "Evaluate tailscaled's health once. Exit 0 healthy, 1 not healthy "
      "(degraded, stuck starting, or switched off by the user), 2 no answer "
      "or error.");
  std::string socket;
  std::string start_timeout_text;
  std::string timeout_text;
  // clang-format off
  parser.add_options()
      ("socket", "tailscaled socket (default: /var/run/tailscale/"
                 "tailscaled.sock, then /run/tailscale/tailscaled.sock)",
       cxxopts::value(socket))
      ("start-timeout", "how long NoState/Starting may last before it counts "
                        "as stuck; check waits that long for Running",
       cxxopts::value(start_timeout_text)->default_value("0s"))
      ("timeout", "timeout of each LocalAPI call",
       cxxopts::value(timeout_text)->default_value("5s"))
      ("debug", "log every LocalAPI call")
      ("h,help", "show this help");
  // clang-format on
  LocalApiOptions options;
  std::chrono::milliseconds start_timeout{0};
  try {
    auto args = parser.parse(argc, argv);
    if (args.count("help")) {
      std::printf("%s\n", parser.help().c_str());
      return kExitOk;
    }
    if (auto applied = ApplyDurations(start_timeout_text, timeout_text,
                                      &start_timeout, &options);
        !applied) {
      std::fprintf(stderr, "tswatchdog check: %s\n",
                   applied.error().ToString().c_str());
      return kExitError;
    }
    spdlog::set_level(args.count("debug") ? spdlog::level::debug
                                          : spdlog::level::err);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tswatchdog check: %s\n", e.what());
    return kExitError;
  }
  options.socket_path = ResolveTailscaledSocket(socket);
  LocalApiSync api(options);
  std::optional<Status> last_status;
  const std::optional<HealthVerdict> verdict =
      AskUntilNotStarting(api, start_timeout, &last_status);
  if (!verdict) return kExitError;

  return Report(api, *verdict, *last_status, options.socket_path);
}

}  // namespace watchdog
