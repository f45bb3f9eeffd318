// libFuzzer target: one LocalAPI JSON document (a status or prefs reply, a
// watch-ipn-bus line, a health.State, a DERP map) through every decoder, then whatever
// decodes into the health classifier, as the daemon combines them.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "netlink/utf8.h"
#include "watchdog/core/health.h"
#include "watchdog/localapi/localapi_client.h"
#include "watchdog/localapi/tailscale_json.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void CheckVerdict(const watchdog::HealthInputs& inputs) {
  const watchdog::HealthVerdict verdict = watchdog::ClassifyHealth(inputs);
  // Healthy exactly when nothing is wrong; anything else says why.
  Check(verdict.healthy() == verdict.reasons.empty());
  Check(verdict.healthy() ||
        verdict.kind != watchdog::HealthKind::kUnreachable || !inputs.status);
  for (const auto& reason : verdict.reasons) {
    Check(!reason.code.empty());
    Check(verdict.HasReason(reason.code));
  }
  Check(!verdict.Describe().empty());
  Check(!watchdog::HealthKindName(verdict.kind).empty());
}

// The classifier over `base`, on a usable and an unusable uplink, freshly
// started and long after the start timeout.
void Classify(watchdog::HealthInputs base) {
  base.now = watchdog::MonoTime(std::chrono::hours(1));
  for (bool uplink_usable : {true, false}) {
    for (auto since : {base.now, base.now - std::chrono::minutes(5)}) {
      base.uplink_usable = uplink_usable;
      base.starting_since = since;
      CheckVerdict(base);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto status = watchdog::ParseStatus(text);
  auto prefs = watchdog::ParsePrefs(text);
  auto notify = watchdog::ParseNotify(text);
  auto health = watchdog::ParseHealthState(text);
  // Nesting beyond the bound is refused before parsing (issue 13): nothing
  // deeper is ever built.
  if (watchdog::JsonNestedDeeperThan(text, watchdog::kMaxJsonDepth)) {
    Check(!status.ok() && !prefs.ok() && !notify.ok() && !health.ok());
  }
  // The text of an error body: valid UTF-8, trimmed to 300 bytes plus "...".
  const std::string message =
      watchdog::ServerMessageFromBody(std::string(text));
  Check(netlink::IsValidUtf8(message));
  Check(!message.empty() && message.size() <= 303);
  if (!status.ok()) Check(!status.error().empty());
  if (!prefs.ok()) Check(!prefs.error().empty());
  if (!notify.ok()) Check(!notify.error().empty());
  if (!health.ok()) Check(!health.error().empty());
  // GET derpmap: every server listens somewhere, addresses of their family.
  auto derp = watchdog::ParseDerpMap(text);
  if (!derp.ok()) Check(!derp.error().empty());
  if (derp) {
    for (const watchdog::DerpServer& server : derp->servers) {
      Check(server.port != 0);
      Check(!server.ipv4 || server.ipv4->is_v4());
      Check(!server.ipv6 || !server.ipv6->is_v4());
    }
  }

  watchdog::HealthInputs inputs;
  Classify(inputs);  // unreachable
  if (status && status->backend_state) {
    Check(watchdog::BackendStateFromName(watchdog::BackendStateName(
              *status->backend_state)) == status->backend_state);
  }
  // A bus line or prefs alone is classified with a healthy Running status.
  watchdog::Status running;
  running.backend_state = watchdog::BackendState::kRunning;
  running.backend_state_name = "Running";
  running.self_online = true;
  running.self_relay = "fra";
  inputs.status = status ? *status : running;
  Classify(inputs);
  if (prefs) {
    inputs.prefs = *prefs;
    Classify(inputs);
  }
  if (health) {
    inputs.bus_health = *health;
    Classify(inputs);
  }
  if (notify) {
    (void)watchdog::IsFellBehind(*notify);
    if (notify->state) inputs.bus_state = notify->state;
    if (notify->prefs) inputs.prefs = notify->prefs;
    if (notify->health) inputs.bus_health = notify->health;
    Classify(inputs);
  }
  return 0;
}
