#include "tests/lab/two_uplinks.h"

#include <sstream>
#include <stdexcept>

namespace lab {

TwoUplinks::TwoUplinks(double time_scale)
    : time_scale_(time_scale), internet_(std::make_unique<Netns>()) {
  const std::string inet = std::to_string(internet_->pid());
  const std::string router =
      "set -e\n"
      "ip link add wan0 type veth peer name isp0 netns " +
      inet + "\n" + "ip link add wan1 type veth peer name isp1 netns " + inet +
      "\n" +
      "for d in wan0 wan1; do sysctl -qw net.ipv6.conf.$d.disable_ipv6=1; "
      "done\n"
      "ip addr add 198.51.100.2/24 dev wan0\n"
      "ip addr add 203.0.113.2/24 dev wan1\n"
      "ip link set wan0 up\nip link set wan1 up\n";
  const std::string far =
      "ip addr add 198.51.100.1/24 dev isp0\n"
      "ip addr add 198.51.100.254/24 dev isp0\n"
      "ip addr add 203.0.113.1/24 dev isp1\n"
      "ip link set isp0 up\nip link set isp1 up\n"
      "ip addr add 192.0.2.10/32 dev lo\nip addr add 192.0.2.20/32 dev lo\n";
  const std::string routes =
      "set -e\n"
      "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
      "ip route add default via 203.0.113.1 dev wan1 metric 200\n";
  if (Sh(router) != 0 || internet_->Sh(far) != 0 || Sh(routes) != 0) {
    throw std::runtime_error("TwoUplinks: links or routes failed");
  }
  std::ostringstream scale;
  scale << time_scale_;
  servers_ = std::make_unique<fake::FakeInternetProcess>(
      kControl, kDerp, std::vector<std::string>{"--time-scale", scale.str()},
      internet_->pid());
}

std::vector<std::string> TwoUplinks::FakeArgs() const {
  std::ostringstream scale;
  scale << time_scale_;
  return {"--control-server", kControl,   "--derp-server", kDerp,
          "--time-scale",     scale.str()};
}

namespace {

std::string FarEnd(const std::string& wan) {
  return wan == "wan0" ? "isp0" : "isp1";
}

}  // namespace

void TwoUplinks::KillPath(const std::string& wan) const {
  const std::string table = "kill_" + wan, dev = FarEnd(wan);
  const std::string script =
      "nft add table inet " + table + "\n" + "nft add chain inet " + table +
      " in '{ type filter hook prerouting priority -300; }'\n" +
      "nft add chain inet " + table +
      " out '{ type filter hook output priority -300; }'\n" +
      "nft add rule inet " + table + " in iifname " + dev + " drop\n" +
      "nft add rule inet " + table + " out oifname " + dev + " drop\n";
  if (internet_->Sh(script) != 0) {
    throw std::runtime_error("TwoUplinks: cannot kill " + wan);
  }
}

void TwoUplinks::RevivePath(const std::string& wan) const {
  internet_->Sh("nft delete table inet kill_" + wan);
}

}  // namespace lab
