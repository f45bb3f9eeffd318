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
  {
    Scenario s;
    s.id = "a";
    s.title = "failover tailscaled notices: the main default moves to wan1";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext& x) { x.world->FailOverMainDefaultToWan1(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "far";
    s.router_sees_it = true;
    s.new_flow_public = kIspBPublic;
    s.heals_by = "tailscaled itself (netmon: default-route interface change)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "b";
    s.title = "next-hop failover on wan0 (VRRP backup NATs elsewhere): silent";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext& x) { x.world->VrrpFailoverToBackup(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "backup";
    s.new_flow_public = kIspBPublic;
    s.heals_by = "start (a fresh control connection)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "c";
    s.title = "mwan3 mode A (tailscaled's rules at 1300): wan's upstream dies";
    s.setup = [](ScenarioContext& x) {
      MainDefaults(x);
      StartMwan3(x, 'A');
    };
    s.fail = [](ScenarioContext& x) { x.world->KillIspAUpstream(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "isp_a";
    s.wait_mwan3_offline = true;
    s.lan_flow_public = kIspBPublic;
    s.heals_by =
        "nothing while wan is dead: rule 1310 keeps tailscaled on "
        "main, whose default stays on wan0";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "d";
    s.title = "mwan3 mode B (rules at 5200, the boot race): upstream dies";
    s.setup = [](ScenarioContext& x) {
      MainDefaults(x);
      StartMwan3(x, 'B');
    };
    s.fail = [](ScenarioContext& x) { x.world->KillIspAUpstream(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "isp_a";
    s.wait_mwan3_offline = true;
    s.new_flow_public = kIspBPublic;
    s.lan_flow_public = kIspBPublic;
    s.heals_by =
        "start (new flows get wanb's mark; the old one keeps "
        "wan's ct mark)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "e";
    s.title = "wan0 renumbered (a new DHCP lease on the same device)";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext& x) { x.world->RenumberWan0(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.router_sees_it = true;
    s.new_flow_public = kIspAPublic;
    s.heals_by = "tailscaled itself (netmon: its socket's address is gone)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "f";
    s.title = "ISP NAT renumbered, mappings lost; far side drops unknown flows";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext& x) { x.world->RenumberIspANat(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "far";
    s.new_flow_public = kIspAPublicRenumbered;
    s.heals_by = "start";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "f-reset";
    s.title = "ISP NAT renumbered, mappings lost; far side resets";
    s.setup = [](ScenarioContext& x) {
      MainDefaults(x);
      x.world->SetFarSide(FarSide::kReset);
    };
    s.fail = [](ScenarioContext& x) { x.world->RenumberIspANat(); };
    s.old_flow = OldFlow::kReset;
    s.drop_counter = "far";
    s.new_flow_public = kIspAPublicRenumbered;
    s.heals_by = "tailscaled itself (the reset closes the connection)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "g";
    s.title = "late WAN at boot: no uplink when tailscaled starts";
    s.setup = [](ScenarioContext&) {
      Must("WANs down", "ip link set wan0 down\nip link set wan1 down");
    };
    s.fail = [](ScenarioContext&) {
      Must("wan0 up",
           "ip link set wan0 up\n"
           "ip route add default via 198.51.100.1 dev wan0 metric 10");
    };
    s.old_flow = OldFlow::kNone;
    s.router_sees_it = true;
    s.new_flow_public = kIspAPublic;
    s.heals_by = "reup (routes programmed again)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "h";
    s.title = "hung tailscaled (LocalAPI never answers)";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext&) {};
    s.new_flow_public = kIspAPublic;
    s.tailscaled_ctl = "hang on";
    s.heals_by = "restart";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "i";
    s.title = "`tailscale down`, then a failover: never act";
    s.setup = MainDefaults;
    s.fail = [](ScenarioContext& x) { x.world->FailOverMainDefaultToWan1(); };
    s.old_flow = OldFlow::kSilentlyDead;
    s.drop_counter = "far";
    s.router_sees_it = true;
    s.new_flow_public = kIspBPublic;
    s.tailscaled_args = std::vector<std::string>{"--down"};
    s.heals_by = "nothing (the user's choice)";
    add(std::move(s));
  }
  {
    Scenario s;
    s.id = "j";
    s.title = "wan0 flaps ten times in a minute";
    s.setup = MainDefaults;
    s.fail = Flap;
    s.old_flow = OldFlow::kUnchecked;
    s.router_sees_it = false;  // it ends as it began
    s.new_flow_public = kIspAPublic;
    s.heals_by = "tailscaled itself, after the last flap";
    add(std::move(s));
  }
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
