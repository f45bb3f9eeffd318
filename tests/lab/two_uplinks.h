// A small two-namespace lab for the fake tailscaled in network mode: the
// router is the test process's own namespace (lab.h: EnterFreshNetns), the
// "internet" a namespace held by a child, linked twice:
//   wan0 198.51.100.2/24 <-> isp0 198.51.100.1 (and .254, a second gateway)
//   wan1 203.0.113.2/24  <-> isp1 203.0.113.1
// The servers (`fake_tailscaled internet`) listen on the internet's
// loopback: control 192.0.2.10:80, DERP 192.0.2.20:443. The main table has
// a default via wan0 (metric 100) and via wan1 (metric 200). No NAT.
#ifndef TSWATCHDOG_TESTS_LAB_TWO_UPLINKS_H_
#define TSWATCHDOG_TESTS_LAB_TWO_UPLINKS_H_

#include <memory>
#include <string>
#include <vector>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"

namespace lab {

class TwoUplinks {
 public:
  static constexpr const char* kControl = "192.0.2.10:80";
  static constexpr const char* kDerp = "192.0.2.20:443";

  // Builds the links and routes and starts the servers at `time_scale`.
  // Throws std::runtime_error when a step fails.
  explicit TwoUplinks(double time_scale);

  // The arguments that make `fake_tailscaled serve` use these servers.
  std::vector<std::string> FakeArgs() const;

  // Drops every packet of one uplink at its far end, both ways, without a
  // word (no ICMP, no reset): a silent path death. "wan0" or "wan1".
  void KillPath(const std::string& wan) const;
  void RevivePath(const std::string& wan) const;

  const Netns& internet() const { return *internet_; }
  fake::FakeInternetProcess& servers() { return *servers_; }

 private:
  double time_scale_;
  std::unique_ptr<Netns> internet_;
  std::unique_ptr<fake::FakeInternetProcess> servers_;
};

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_TWO_UPLINKS_H_
