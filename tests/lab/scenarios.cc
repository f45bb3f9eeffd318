#include "tests/lab/scenarios.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace lab {
namespace {

void Must(const std::string& what, const std::string& script) {
  if (Sh("set -e\n" + script) != 0) {
    throw std::runtime_error("scenario: " + what + " failed");
  }
}

void MainDefaults(ScenarioContext& ctx) { ctx.world->AddMainDefaults(); }

void SleepScaled(const ScenarioContext& ctx, double seconds) {
  std::this_thread::sleep_for(
      std::chrono::duration<double>(seconds * ctx.time_scale));
}

// (g): once the uplink is there, tailscaled programs its routes on the TUN,
// still down, and fails (the fake logs a `router` event with an error);
// only then does the TUN come up. Without a fake (world tests) no wait.
void WaitForRouterError(const ScenarioContext& ctx) {
  if (ctx.tailscaled_events.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(60 * ctx.time_scale + 5);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(ctx.tailscaled_events);
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"event\":\"router\"") != std::string::npos &&
          line.find("\"error\":\"\"") == std::string::npos) {
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// (j): wan0 loses its carrier and netifd deletes its default, then both come
// back; ten times in a minute (scaled).
void Flap(ScenarioContext& ctx) {
  for (int k = 0; k < 10; ++k) {
    ctx.world->SetWan0Carrier(false);
    Must("flap down", "ip route del default dev wan0 metric 10");
    SleepScaled(ctx, 3);
    ctx.world->SetWan0Carrier(true);
    Must("flap up",
         "ip route replace default via 198.51.100.1 dev wan0 metric 10");
    // The failure ends with the last flap: measured from there.
    if (k < 9) SleepScaled(ctx, 3);
  }
}

using Action = std::function<void(ScenarioContext&)>;

Scenario Make(std::string id, std::string title, Action setup, Action fail,
              OldFlow old_flow, std::string drop_counter, bool router_sees_it,
              std::string new_flow_public, std::string heals_by) {
  Scenario s;
  s.id = std::move(id);
  s.title = std::move(title);
  s.setup = std::move(setup);
  s.fail = std::move(fail);
  s.old_flow = old_flow;
  s.drop_counter = std::move(drop_counter);
  s.router_sees_it = router_sees_it;
  s.new_flow_public = std::move(new_flow_public);
  s.heals_by = std::move(heals_by);
  return s;
}

// (c) and (d): mwan3 on the router, wan's upstream dies silently; mwan3's
// policy moves LAN traffic to wanb once its tracker says `disconnected`.
Scenario Mwan3(std::string id, char mode, std::string title,
               std::string new_flow_public, std::string heals_by) {
  Scenario s = Make(
      std::move(id), std::move(title),
      [mode](ScenarioContext& x) {
        MainDefaults(x);
        StartMwan3(x, mode);
      },
      [](ScenarioContext& x) { x.world->KillIspAUpstream(); },
      OldFlow::kSilentlyDead, "isp_a", false, std::move(new_flow_public),
      std::move(heals_by));
  s.wait_mwan3_offline = true;
  s.lan_flow_public = kIspBPublic;
  return s;
}

void FailOver(ScenarioContext& x) { x.world->FailOverMainDefaultToWan1(); }

std::vector<Scenario> Build() {
  const auto dead = OldFlow::kSilentlyDead;
  std::vector<Scenario> c;
  c.push_back(Make("a",
                   "failover tailscaled notices: the main default moves to "
                   "wan1",
                   MainDefaults, FailOver, dead, "far", true, kIspBPublic,
                   "tailscaled itself (netmon: default-route interface "
                   "change)"));
  c.push_back(Make(
      "b",
      "next-hop failover on wan0: the default moves to a backup router "
      "(NATs elsewhere); netmon sees nothing",
      [](ScenarioContext& x) {
        MainDefaults(x);
        x.world->BringUpBackupRouter();
      },
      [](ScenarioContext& x) { x.world->NextHopFailoverToBackup(); }, dead,
      "backup", true, kIspBPublic, "start (a fresh control connection)"));
  c.push_back(Make(
      "b-vrrp", "VRRP takeover on wan0 (the backup NATs elsewhere): silent",
      MainDefaults, [](ScenarioContext& x) { x.world->VrrpFailoverToBackup(); },
      dead, "backup", false, kIspBPublic,
      "start (a fresh control connection)"));
  c.push_back(Mwan3("c", 'A',
                    "mwan3 mode A (tailscaled's rules at 1300): wan's "
                    "upstream dies",
                    "",
                    "nothing while wan is dead: rule 1310 keeps tailscaled "
                    "on main, whose default stays on wan0"));
  c.push_back(Mwan3("d", 'B',
                    "mwan3 mode B (rules at 5200, the boot race): upstream "
                    "dies",
                    kIspBPublic,
                    "start (new flows get wanb's mark; the old one keeps "
                    "wan's ct mark); a restart brings mode A"));
  c.push_back(Make(
      "e", "wan0 renumbered (a new DHCP lease on the same device)",
      MainDefaults, [](ScenarioContext& x) { x.world->RenumberWan0(); }, dead,
      "", true, kIspAPublic,
      "tailscaled itself (netmon: its socket's address is "
      "gone)"));
  const Action renumber_nat = [](ScenarioContext& x) {
    x.world->RenumberIspANat();
  };
  c.push_back(Make("f",
                   "ISP NAT renumbered, mappings lost; far side drops "
                   "unknown flows",
                   MainDefaults, renumber_nat, dead, "far", false,
                   kIspAPublicRenumbered, "start"));
  c.push_back(Make(
      "f-reset", "ISP NAT renumbered, mappings lost; far side resets",
      [](ScenarioContext& x) {
        MainDefaults(x);
        x.world->SetFarSide(FarSide::kReset);
      },
      renumber_nat, OldFlow::kReset, "far", false, kIspAPublicRenumbered,
      "tailscaled itself (the reset closes the connection)"));
  // tailscaled's TUN is down while it programs its routes at boot ("add
  // route failures ... network is down": its `router` warning); it and the
  // WAN come up later. The fake programs table 52 on it (`--tun`).
  Scenario late = Make(
      "g", "late WAN at boot: routes fail to program, then the WAN comes up",
      [](ScenarioContext&) {
        Must("WANs down, TUN down",
             "ip link set wan0 down\nip link set wan1 down\n"
             "ip tuntap add dev tailscale0 mode tun");
      },
      [](ScenarioContext& x) {
        Must("wan0 up",
             "ip link set wan0 up\n"
             "ip route add default via 198.51.100.1 dev wan0 metric 10");
        WaitForRouterError(x);
        Must("the TUN up", "ip link set tailscale0 up");
      },
      OldFlow::kNone, "", true, kIspAPublic, "reup (routes programmed again)");
  late.tailscaled_args = {"--tun", "tailscale0"};
  c.push_back(std::move(late));
  Scenario hung = Make(
      "h", "hung tailscaled (LocalAPI never answers)", MainDefaults,
      [](ScenarioContext&) {}, OldFlow::kAlive, "", false, kIspAPublic,
      "restart");
  hung.tailscaled_ctl = "hang on";
  c.push_back(std::move(hung));
  Scenario down = Make("i", "`tailscale down`, then a failover: never act",
                       MainDefaults, FailOver, dead, "far", true, kIspBPublic,
                       "nothing (the user's choice)");
  down.tailscaled_args = {"--down"};
  c.push_back(std::move(down));
  // It ends as it began: the router's state is the same after the flaps.
  Scenario flaps = Make("j", "wan0 flaps ten times in a minute", MainDefaults,
                        Flap, OldFlow::kUnchecked, "", false, kIspAPublic,
                        "tailscaled itself, after the last flap");
  flaps.measure_from_end = true;
  c.push_back(std::move(flaps));
  return c;
}

std::string Capture(const std::string& command) {
  FILE* out = popen(command.c_str(), "r");
  if (out == nullptr) return "";
  std::string text;
  char buf[256];
  for (size_t n; (n = fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
  return pclose(out) == 0 ? text : "";
}

// Two WANs tracked by pinging the internet's track IP; LAN and router
// traffic fails over from wan to wanb (mwan3's "wan_wanb" policy).
const char kMwan3Config[] = R"(config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'wan'
	option enabled '1'
	list track_ip '192.0.2.102'
	option family 'ipv4'
	option reliability '1'

config interface 'wanb'
	option enabled '1'
	list track_ip '192.0.2.102'
	option family 'ipv4'
	option reliability '1'

config member 'wan_m1_w3'
	option interface 'wan'
	option metric '1'
	option weight '3'

config member 'wanb_m2_w2'
	option interface 'wanb'
	option metric '2'
	option weight '2'

config policy 'wan_wanb'
	list use_member 'wan_m1_w3'
	list use_member 'wanb_m2_w2'

config rule 'default_rule_v4'
	option dest_ip '0.0.0.0/0'
	option use_policy 'wan_wanb'
	option family 'ipv4'
)";

const char kNetworkConfig[] = R"(config interface 'wan'
	option device 'wan0'
	option metric '10'

config interface 'wanb'
	option device 'wan1'
	option metric '20'
)";

int TailscaleRules(const ScenarioContext& ctx) {
  const std::string out =
      Capture(ctx.mwan3_binary + " tailscale-rules --base auto");
  if (out.empty()) throw std::runtime_error("mwan3_standin tailscale-rules");
  return std::stoi(out);
}

}  // namespace

const std::vector<Scenario>& Catalogue() {
  static const std::vector<Scenario> catalogue = Build();
  return catalogue;
}

const Scenario* FindScenario(const std::string& id) {
  for (const auto& s : Catalogue()) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

std::string ScenarioContext::OnTailscaledRestart() const {
  if (!mwan3) return "";
  return mwan3_binary + " tailscale-rules --replace >/dev/null; ";
}

void StartMwan3(ScenarioContext& ctx, char mode) {
  Must("/etc/config", "mkdir -p /etc/config\ntouch /etc/openwrt_version");
  std::ofstream(std::string("/etc/config/mwan3")) << kMwan3Config;
  std::ofstream(std::string("/etc/config/network")) << kNetworkConfig;
  if (mode == 'B') ctx.tailscale_rule_base = TailscaleRules(ctx);
  ctx.mwan3 = std::make_unique<Child>(std::vector<std::string>{
      ctx.mwan3_binary, "run", "--time-scale", std::to_string(ctx.time_scale)});
  if (!ctx.mwan3->WaitForLine("running", std::chrono::seconds(30))) {
    throw std::runtime_error("mwan3_standin run did not start");
  }
  if (mode == 'A') ctx.tailscale_rule_base = TailscaleRules(ctx);
}

bool WaitIfaceState(const std::string& iface, const std::string& state,
                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    std::ifstream in("/var/run/mwan3/iface_state/" + iface);
    std::string text;
    if (in >> text && text == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace lab
