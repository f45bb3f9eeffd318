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
    SleepScaled(ctx, 3);
  }
}

std::vector<Scenario> Build() {
  std::vector<Scenario> c;
  auto add = [&](Scenario s) { c.push_back(std::move(s)); };
  add({.id = "a",
       .title = "failover tailscaled notices: the main default moves to wan1",
       .setup = MainDefaults,
       .fail = [](ScenarioContext& x) { x.world->FailOverMainDefaultToWan1(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "far",
       .router_sees_it = true,
       .new_flow_public = kIspBPublic,
       .heals_by =
           "tailscaled itself (netmon: default-route interface change)"});
  add({.id = "b",
       .title =
           "next-hop failover on wan0 (VRRP backup NATs elsewhere): silent",
       .setup = MainDefaults,
       .fail = [](ScenarioContext& x) { x.world->VrrpFailoverToBackup(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "backup",
       .new_flow_public = kIspBPublic,
       .heals_by = "start (a fresh control connection)"});
  add({.id = "c",
       .title =
           "mwan3 mode A (tailscaled's rules at 1300): wan's upstream dies",
       .setup =
           [](ScenarioContext& x) {
             MainDefaults(x);
             StartMwan3(x, 'A');
           },
       .fail = [](ScenarioContext& x) { x.world->KillIspAUpstream(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "isp_a",
       .wait_mwan3_offline = true,
       .lan_flow_public = kIspBPublic,
       .heals_by = "nothing while wan is dead: rule 1310 keeps tailscaled on "
                   "main, whose default stays on wan0"});
  add({.id = "d",
       .title = "mwan3 mode B (rules at 5200, the boot race): upstream dies",
       .setup =
           [](ScenarioContext& x) {
             MainDefaults(x);
             StartMwan3(x, 'B');
           },
       .fail = [](ScenarioContext& x) { x.world->KillIspAUpstream(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "isp_a",
       .wait_mwan3_offline = true,
       .new_flow_public = kIspBPublic,
       .lan_flow_public = kIspBPublic,
       .heals_by = "start (new flows get wanb's mark; the old one keeps "
                   "wan's ct mark)"});
  add({.id = "e",
       .title = "wan0 renumbered (a new DHCP lease on the same device)",
       .setup = MainDefaults,
       .fail = [](ScenarioContext& x) { x.world->RenumberWan0(); },
       .old_flow = OldFlow::kSilentlyDead,
       .router_sees_it = true,
       .new_flow_public = kIspAPublic,
       .heals_by = "tailscaled itself (netmon: its socket's address is gone)"});
  add({.id = "f",
       .title =
           "ISP NAT renumbered, mappings lost; far side drops unknown flows",
       .setup = MainDefaults,
       .fail = [](ScenarioContext& x) { x.world->RenumberIspANat(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "far",
       .new_flow_public = kIspAPublicRenumbered,
       .heals_by = "start"});
  add({.id = "f-reset",
       .title = "ISP NAT renumbered, mappings lost; far side resets",
       .setup =
           [](ScenarioContext& x) {
             MainDefaults(x);
             x.world->SetFarSide(FarSide::kReset);
           },
       .fail = [](ScenarioContext& x) { x.world->RenumberIspANat(); },
       .old_flow = OldFlow::kReset,
       .drop_counter = "far",
       .new_flow_public = kIspAPublicRenumbered,
       .heals_by = "tailscaled itself (the reset closes the connection)"});
  add({.id = "g",
       .title = "late WAN at boot: no uplink when tailscaled starts",
       .setup =
           [](ScenarioContext&) {
             Must("WANs down", "ip link set wan0 down\nip link set wan1 down");
           },
       .fail =
           [](ScenarioContext&) {
             Must("wan0 up",
                  "ip link set wan0 up\n"
                  "ip route add default via 198.51.100.1 dev wan0 metric 10");
           },
       .old_flow = OldFlow::kNone,
       .router_sees_it = true,
       .new_flow_public = kIspAPublic,
       .heals_by = "reup (routes programmed again)"});
  add({.id = "h",
       .title = "hung tailscaled (LocalAPI never answers)",
       .setup = MainDefaults,
       .fail = [](ScenarioContext&) {},
       .new_flow_public = kIspAPublic,
       .tailscaled_ctl = "hang on",
       .heals_by = "restart"});
  add({.id = "i",
       .title = "`tailscale down`, then a failover: never act",
       .setup = MainDefaults,
       .fail = [](ScenarioContext& x) { x.world->FailOverMainDefaultToWan1(); },
       .old_flow = OldFlow::kSilentlyDead,
       .drop_counter = "far",
       .router_sees_it = true,
       .new_flow_public = kIspBPublic,
       .tailscaled_args = {"--down"},
       .heals_by = "nothing (the user's choice)"});
  add({.id = "j",
       .title = "wan0 flaps ten times in a minute",
       .setup = MainDefaults,
       .fail = Flap,
       .old_flow = OldFlow::kUnchecked,
       .router_sees_it = false,  // it ends as it began
       .new_flow_public = kIspAPublic,
       .heals_by = "tailscaled itself, after the last flap"});
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
