// The scenario catalogue of issue 10 (README, "The world and its
// scenarios"): how tailscaled's uplink fails in the real world, each as a
// reusable lab setup on World (world.h). A scenario says how to set the
// world up before tailscaled starts, how to make it fail, what the world
// then shows (world_lab_test.cc checks that with plain TCP flows), and what
// the fake tailscaled needs (flags, a control command at the failure).
#ifndef TSWATCHDOG_TESTS_LAB_SCENARIOS_H_
#define TSWATCHDOG_TESTS_LAB_SCENARIOS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/lab/lab.h"
#include "tests/lab/world.h"

namespace lab {

// What a scenario needs besides the world: the time scale (every duration
// is multiplied by it, like the fake tailscaled's `--time-scale`: 1 = real
// timings, 0.05 = twenty times faster) and, for the mwan3 scenarios, the
// stand-in.
struct ScenarioContext {
  World* world = nullptr;
  double time_scale = 1.0;
  std::string mwan3_binary;       // tests/mwan3: mwan3_standin
  std::unique_ptr<Child> mwan3;   // `mwan3_standin run`, while it runs
  int tailscale_rule_base = 0;    // 1300 (mode A) or 5200 (mode B)
  std::string tailscaled_events;  // the fake's --events file, once it runs

  // Shell commands a restart_command runs before it restarts tailscaled:
  // with mwan3, tailscaled's rules are decided afresh (a restart in mode B
  // comes back in mode A, since mwan3's rules exist by then). "" otherwise.
  std::string OnTailscaledRestart() const;
};

// What happens to a TCP flow that was open before the failure.
enum class OldFlow {
  kAlive,         // keeps working
  kSilentlyDead,  // packets vanish, no error at either end
  kReset,         // the client gets a reset
  kNone,          // no flow could exist before (no uplink yet)
  kUnchecked,     // depends on timing (a flapping WAN)
};

struct Scenario {
  std::string id;     // "a" ... "j", "b-vrrp", "f-reset"
  std::string title;  // one line
  // Before tailscaled starts: routes, mwan3.
  std::function<void(ScenarioContext&)> setup;
  // The failure (may take time: a flapping WAN flaps for its minute).
  std::function<void(ScenarioContext&)> fail;

  // What the world shows after `fail` (tailscaled's bypass mark on the flows).
  OldFlow old_flow = OldFlow::kAlive;
  std::string drop_counter;     // World::DropCount name counting the old flow
  bool router_sees_it = false;  // links, addresses, routes or rules change
  bool wait_mwan3_offline = false;  // mwan3's wan goes offline first
  std::string new_flow_public;      // the far side sees a new flow from here;
                                    // "" = a new flow gets nowhere
  // Same, for a flow from the LAN host and an unmarked one of the router's
  // (checked only when set).
  std::string lan_flow_public;

  // The fake tailscaled (tests/fake): extra `serve` flags, and a `ctl`
  // command sent at the failure ("" = none).
  std::vector<std::string> tailscaled_args;
  std::string tailscaled_ctl;
  std::string heals_by;  // what brings tailscaled back (docs; bench notes)
  // Benchmark 5 measures from the start of `fail`, or from its end for a
  // failure that lasts (a flapping WAN: from the last flap).
  bool measure_from_end = false;
};

const std::vector<Scenario>& Catalogue();
const Scenario* FindScenario(const std::string& id);

// mwan3 on the router: writes /etc/config/{network,mwan3} and
// /etc/openwrt_version (in the private mounts: EnterPrivateMounts), then
// `mwan3_standin run` and tailscaled's rules: after mwan3 (mode A, base
// 1300) or before it (mode B, base 5200: the boot race).
void StartMwan3(ScenarioContext& ctx, char mode);
// Waits (deadline) until /var/run/mwan3/iface_state/IFACE holds `state`.
bool WaitIfaceState(const std::string& iface, const std::string& state,
                    std::chrono::milliseconds timeout);

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_SCENARIOS_H_
