// `tswatchdog check`: asks tailscaled once (status?peers=false and prefs),
// classifies its health and prints a one-line verdict.
//
// Exit status: 0 healthy; 1 not healthy (degraded, still starting after
// --start-timeout, or switched off by the user: Stopped / NeedsLogin /
// NeedsMachineAuth / WantRunning=false is not broken, but it is not healthy
// either, and the verdict says why); 2 nothing answers, or an error.
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
#include "watchdog/core/health.h"
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
// (config::ParseDuration); the message says which flag is wrong and why.
std::optional<std::string> ApplyDurations(
    const std::string& start_timeout_text, const std::string& timeout_text,
    std::chrono::milliseconds* start_timeout, LocalApiOptions* options) {
  auto parsed_start = config::ParseDuration(start_timeout_text);
  if (!parsed_start) return "--start-timeout: " + parsed_start.error().message;
  auto parsed_timeout = config::ParseDuration(timeout_text);
  if (!parsed_timeout) return "--timeout: " + parsed_timeout.error().message;
  if (parsed_timeout.value().count() == 0) return "--timeout: must be > 0";
  *start_timeout = parsed_start.value();
  options->call_timeout = parsed_timeout.value();
  options->connect_timeout =
      std::min(options->connect_timeout, parsed_timeout.value());
  return std::nullopt;
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
    if (auto bad = ApplyDurations(start_timeout_text, timeout_text,
                                  &start_timeout, &options)) {
      std::fprintf(stderr, "tswatchdog check: %s\n", bad->c_str());
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

  std::string line = verdict->Describe();
  if (verdict->healthy()) line += " (" + Summary(*last_status) + ")";
  if (verdict->kind == HealthKind::kUserIntentOff) {
    line += " -- switched off on purpose, not broken";
  }
  std::printf("%s\n", line.c_str());
  return verdict->healthy() ? kExitOk : kExitProblem;
}

}  // namespace watchdog
