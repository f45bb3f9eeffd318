#include "tests/lab/world_run.h"

#include <fstream>
#include <sstream>
#include <utility>

namespace lab {

using nlohmann::json;
using std::chrono::milliseconds;

int64_t UnixNowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TswatchdogDefaultConfig(double scale, const std::string& socket,
                                    const std::string& state_file,
                                    const std::string& restart_shell) {
  std::ostringstream c;
  c << "socket = \"" << socket << "\"\nstate_file = \"" << state_file
    << "\"\nrestart_command = [\"/bin/sh\", \"-c\", \"" << restart_shell
    << "\"]\n";
  if (scale != 1.0) {
    const std::pair<const char*, double> defaults[] = {
        {"debounce", 5},         {"settle_max", 60},
        {"grace", 20},           {"verify", 15},
        {"unhealthy_after", 90}, {"start_timeout", 60},
        {"backoff_initial", 10}, {"backoff_max", 600},
        {"probe_interval", 15}};
    for (const auto& [key, s] : defaults) {
      c << key << " = \"" << static_cast<int64_t>(s * scale * 1000) << "ms\"\n";
    }
  }
  return c.str();
}

TailscaledInWorld::TailscaledInWorld(World& world, const Scenario& scenario,
                                     double scale, std::string dir)
    : scale_(scale), dir_(std::move(dir)), events_(dir_ + "/events.jsonl") {
  const std::string scale_text = std::to_string(scale);
  const std::string control =
      std::string(kControlIp) + ":" + std::to_string(kControlPort);
  const std::string derp =
      std::string(kDerpIp) + ":" + std::to_string(kDerpPort);
  internet_ = std::make_unique<Child>(std::vector<std::string>{
      "/usr/bin/nsenter", "-t", std::to_string(world.internet().pid()), "-n",
      fake::FakeTailscaledProcess::BinaryPath(), "internet", "--control",
      control, "--derp", derp, "--time-scale", scale_text, "--events",
      dir_ + "/internet.jsonl"});
  std::vector<std::string> args = {
      "--control-server", control,    "--derp-server", derp,
      "--time-scale",     scale_text, "--events",      events_};
  args.insert(args.end(), scenario.tailscaled_args.begin(),
              scenario.tailscaled_args.end());
  fake_ = std::make_unique<fake::FakeTailscaledProcess>(args);
}

TailscaledInWorld::~TailscaledInWorld() {
  if (tswatchdog_) tswatchdog_->Stop(std::chrono::seconds(10));
}

std::vector<json> TailscaledInWorld::Events() const {
  return bench::ReadEvents(events_);
}

bool TailscaledInWorld::Online() const {
  return bench::CurrentOnline(Events());
}

std::string TailscaledInWorld::RestartShell(const ScenarioContext& ctx) const {
  // A restarted tailscaled is a new process: a hung one answers again.
  return "date +%s%3N >> " + dir_ + "/restarts; " + ctx.OnTailscaledRestart() +
         fake::FakeTailscaledProcess::BinaryPath() + " ctl --control " +
         fake_->control_path() + " hang off >/dev/null; kill -HUP " +
         std::to_string(fake_->pid());
}

Child& TailscaledInWorld::StartTswatchdog(const std::string& tswatchdog,
                                          const ScenarioContext& ctx) {
  const std::string config = dir_ + "/tswatchdog.toml";
  std::ofstream(config) << TswatchdogDefaultConfig(
      scale_, fake_->socket_path(), state_path(), RestartShell(ctx));
  // The connection verdicts' thresholds at the fake's scale (lab only).
  tswatchdog_ = std::make_unique<Child>(
      std::vector<std::string>{
          "/usr/bin/env", "TSWATCHDOG_LAB_TIME_SCALE=" + std::to_string(scale_),
          tswatchdog, "run", "--config", config, "--log-style", "plain"},
      /*merge_stderr=*/true);
  return *tswatchdog_;
}

json TailscaledInWorld::State() const {
  std::ifstream in(state_path());
  json state = json::parse(in, nullptr, false);
  return state.is_object() ? state : json::object();
}

std::optional<int64_t> TailscaledInWorld::HealedAt(int64_t t0,
                                                   milliseconds confirm) const {
  return bench::HealedAt(Events(), t0, UnixNowMs() - confirm.count());
}

bench::Steps TailscaledInWorld::StepsSince(int64_t t0) const {
  return bench::CountSteps(fake_->Requests(), dir_ + "/restarts", t0);
}

}  // namespace lab
