#include "tests/demo/report.h"

#include <algorithm>
#include <cstdio>

namespace demo {

using nlohmann::json;

std::chrono::milliseconds Scaled(const Options& o, double seconds) {
  return std::chrono::milliseconds(
      static_cast<int64_t>(seconds * o.scale * 1000));
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+6.1fs", ms / 1000.0);
  return buf;
}

void Title(const Options& o, const std::string& text) {
  if (o.styled) {
    std::printf("\n\033[1m== %s\033[0m\n", text.c_str());
  } else {
    std::printf("\n== %s\n", text.c_str());
  }
  std::fflush(stdout);
}

void Say(const std::string& text) {
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

namespace {

// The state file's verdict: its state, the diagnosis (issue 12, when the
// daemon has one) and its last step, timed from the failure.
void PrintState(const json& st, int64_t t0) {
  if (!st.is_object() || st.empty()) return;
  Say("  tswatchdog's state file: state " + st.value("state", "?"));
  if (st.contains("diagnosis") && st["diagnosis"].is_object()) {
    Say("    diagnosis now: " +
        st["diagnosis"].value("summary", std::string("?")));
  }
  const json& last = st["last_action"];
  if (last.is_object()) {
    Say("    last step: " + last.value("step", "?") + " at " +
        Seconds(last.value("at_unix_ms", int64_t{0}) - t0) +
        (last.value("ok", false) ? " (ok)" : " (failed)") +
        (last.value("at_unix_ms", int64_t{0}) < t0 ? ", before the failure"
                                                   : ""));
  }
}

}  // namespace

void PrintIntro(const Options& o, const lab::Scenario& s) {
  Say("tswatchdog demo: one silent failover, twice, on the lab's world "
      "(tests/lab/world.h)");
  Say("  router wan0 198.51.100.2 -> gateway 198.51.100.1 (ISP A) -> "
      "internet: control 192.0.2.100:80,");
  Say("  DERP 192.0.2.101:443; a backup router on wan0's segment NATs "
      "elsewhere and drops flows it does not know.");
  Say("  The failure, scenario (" + s.id + "): " + s.title + ".");
  char scale[96];
  std::snprintf(scale, sizeof scale, "time scale %g%s.", o.scale,
                o.scale == 1.0 ? " (tailscaled's real timing)" : "");
  Say(std::string("  tailscaled is the fake on real sockets (tests/fake), ") +
      scale);
  Say("  Two identical worlds side by side, failing at the same instant.");
  Title(o,
        "Starting both worlds: tailscaled online; tswatchdog run (default "
        "config) healthy");
}

void PrintAloneVerdict(const json& a) {
  const double s = a.value("stretch_ms", 0) / 1000.0;
  char head[160];
  std::snprintf(head, sizeof head,
                "  After %.*f s tailscaled is still offline: no control "
                "connection has got through since the failover",
                s < 10 ? 1 : 0, s);
  Say(head);
  Say(std::string("  (and it still says Online: ") +
      (a.value("online_says", false) ? "true" : "false") +
      "; its map-poll watchdog fires at 120 s, and only in GET status).");
  Say("  The kernel's evidence, which tswatchdog acts on:");
  for (const auto& v : a["evidence"]["verdicts"]) {
    Say("    " + v["evidence"].get<std::string>() + "  [" +
        v["verdict"].get<std::string>() + "]");
  }
  const json& now = a["evidence"]["routes"];
  const json& before = a["evidence"]["routes_before"];
  for (const auto& r : now) {
    const bool same =
        std::find(before.begin(), before.end(), r) != before.end();
    Say("    route to " + r.get<std::string>() +
        (same ? "  (as before the failure)" : "  (changed)"));
  }
  for (const auto& r : before) {
    if (std::find(now.begin(), now.end(), r) == now.end()) {
      Say("      before the failure: " + r.get<std::string>());
    }
  }
  Say("  Left alone, tailscaled does not heal within 5 minutes (README, "
      "\"Time to heal\", row " +
      a.value("scenario", std::string("?")) + ").");
}

void PrintWatched(const Options& o, const json& w) {
  Title(o, "2. The same failover, with tswatchdog run (default config)");
  if (w["timeline"].empty()) {
    Say("  (after the failure: nothing in tswatchdog's log, nothing asked of "
        "tailscaled)");
  }
  for (const auto& row : w["timeline"]) {
    Say("  " + Seconds(row[0].get<int64_t>()) + "  " +
        row[1].get<std::string>() + ": " + row[2].get<std::string>());
  }
  const json& steps = w["steps"];
  const bool healed = w.value("healed", false);
  char tail[200];
  std::snprintf(tail, sizeof tail,
                "  %s %.1f s after the failover; steps taken: rebind %d, "
                "start %d, reup %d, restart %d.",
                healed ? "Healed" : "NOT healed",
                w.value(healed ? "heal_ms" : "cap_ms", 0) / 1000.0,
                steps.value("rebind", 0), steps.value("start", 0),
                steps.value("reup", 0), steps.value("restart", 0));
  Say(tail);
  const std::string diagnosis = w.value("diagnosis", std::string());
  if (!diagnosis.empty()) Say("  Its diagnosis: " + diagnosis);
  PrintState(w["state"], w.value("t0_ms", int64_t{0}));
}

}  // namespace demo
