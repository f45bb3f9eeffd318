#include "watchdog/core/diagnosis.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace watchdog {
namespace {

using FindingKind = Finding::Kind;

// tailscaled's own words for "out of the map poll" and for DERP trouble
// (health codes, core/health.h).
constexpr std::array<std::string_view, 3> kControlCodes = {
    "offline", "not-in-map-poll", "mapresponse-timeout"};
constexpr std::array<std::string_view, 3> kDerpCodes = {
    "no-derp-home", "no-derp-connection", "derp-timed-out"};
constexpr std::array<std::string_view, 1> kRouterCodes = {"router"};

template <size_t N>
const HealthReason* FirstReason(const std::optional<HealthVerdict>& verdict,
                                const std::array<std::string_view, N>& codes) {
  if (!verdict) return nullptr;
  for (const HealthReason& reason : verdict->reasons) {
    if (std::find(codes.begin(), codes.end(), reason.code) != codes.end()) {
      return &reason;
    }
  }
  return nullptr;
}

std::string Said(const HealthReason& reason) {
  return "tailscaled says " + reason.code +
         (reason.detail.empty() ? "" : " (" + reason.detail + ")");
}

// The connections of one kind: the first dead one's evidence when none is
// live (a dead one beside a live one is the old one lingering after a
// redial), and whether one dialed since the change is live.
struct KindState {
  const JudgedConnection* dead = nullptr;
  const JudgedConnection* fresh_live = nullptr;
  bool any_live = false;
};

KindState StateOf(const Evidence& evidence, ConnectionKind kind) {
  KindState state;
  if (!evidence.known) return state;
  for (const JudgedConnection& c : evidence.connections) {
    if (c.kind != kind) continue;
    if (c.verdict == Verdict::kLive) {
      state.any_live = true;
      if (c.new_since_change && !state.fresh_live) state.fresh_live = &c;
    } else if (c.verdict == Verdict::kDead && !state.dead) {
      state.dead = &c;
    }
  }
  if (state.any_live) state.dead = nullptr;
  return state;
}

const Finding* FindingOf(const Evidence& evidence, FindingKind kind) {
  for (const Finding& f : evidence.findings) {
    if (f.kind == kind) return &f;
  }
  return nullptr;
}

std::string FromFinding(const Finding& finding) {
  return finding.source + ": " + finding.evidence;
}

// Rules 2 to 5 of Diagnose (header), without the LocalAPI.
Diagnosis FromConnections(const Evidence& evidence,
                          const std::optional<HealthVerdict>& verdict) {
  const KindState control = StateOf(evidence, ConnectionKind::kControl);
  const KindState derp = StateOf(evidence, ConnectionKind::kDerp);
  const bool healthy = verdict && verdict->healthy();
  Diagnosis d;
  if (const Finding* f = FindingOf(evidence, FindingKind::kHandling)) {
    d.handling = true;
    d.why = "handling: " + FromFinding(*f);
  } else if (control.fresh_live && !healthy) {
    d.handling = true;
    d.why =
        "handling: tailscaled redialed its control connection since the "
        "uplink change: " +
        control.fresh_live->evidence;
  }
  auto set = [&d](Fault fault, bool confirmed, const std::string& why) {
    d.fault = fault;
    d.confirmed = confirmed;
    d.why = d.why.empty() ? why : why + "; " + d.why;
  };
  if (const Finding* f = FindingOf(evidence, FindingKind::kControlPathDead)) {
    set(Fault::kControl, true, FromFinding(*f));
  } else if (control.dead) {
    set(Fault::kControl, true, control.dead->evidence);
  } else if (const HealthReason* r = FirstReason(verdict, kRouterCodes)) {
    // A redialed control connection does not program routes: it handles a
    // control fault, not this one (late WAN at boot, scenario (g)).
    if (d.handling && !FindingOf(evidence, FindingKind::kHandling)) {
      d.handling = false;
      d.why.clear();
    }
    set(Fault::kRouter, false, Said(*r));
  } else if (const HealthReason* r = FirstReason(verdict, kControlCodes)) {
    if (!d.handling) set(Fault::kControl, false, Said(*r));
  } else if (const Finding* f =
                 FindingOf(evidence, FindingKind::kDerpPathDead)) {
    set(Fault::kDerp, true, FromFinding(*f));
  } else if (derp.dead) {
    set(Fault::kDerp, true, derp.dead->evidence);
  } else if (const HealthReason* r = FirstReason(verdict, kDerpCodes)) {
    set(Fault::kDerp, false, Said(*r));
  }
  return d;
}

}  // namespace

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kLocalApi:
      return "localapi";
    case Fault::kControl:
      return "control";
    case Fault::kRouter:
      return "router";
    case Fault::kDerp:
      return "derp";
  }
  return "?";
}

std::string Diagnosis::Describe() const {
  std::string text;
  if (fault) {
    text = std::string(FaultName(*fault)) + (confirmed ? " (confirmed)" : "");
  } else {
    text = handling ? "tailscaled is handling it" : "no fault found";
  }
  return why.empty() ? text : text + ": " + why;
}

Diagnosis Diagnose(const Evidence& evidence,
                   const std::optional<HealthVerdict>& verdict) {
  if (verdict && verdict->kind == HealthKind::kUnreachable) {
    Diagnosis d;
    d.fault = Fault::kLocalApi;
    d.why = verdict->reasons.empty()
                ? "the LocalAPI does not answer"
                : "the LocalAPI does not answer: " + verdict->reasons[0].detail;
    return d;
  }
  return FromConnections(evidence, verdict);
}

std::optional<std::string> WhyStepCannotFix(LadderStep step, Fault fault) {
  if (step == LadderStep::kRestart || step == LadderStep::kConntrack) {
    return std::nullopt;
  }
  if (fault == Fault::kLocalApi) {
    return std::string(StepName(step)) +
           " needs the LocalAPI, which does not answer: only restart helps";
  }
  switch (step) {
    case LadderStep::kRebind:
      if (fault == Fault::kDerp) return std::nullopt;
      return std::string("rebind re-checks DERP only, not ") +
             (fault == Fault::kControl ? "the control connection"
                                       : "route programming");
    case LadderStep::kStart:
      if (fault == Fault::kControl) return std::nullopt;
      return std::string("start replaces the control connection only, not ") +
             (fault == Fault::kDerp ? "DERP" : "route programming");
    case LadderStep::kReup:
      if (fault != Fault::kControl) return std::nullopt;
      return std::string(
          "reup resumes the control client on the same connection");
    default:
      return std::nullopt;
  }
}

}  // namespace watchdog
