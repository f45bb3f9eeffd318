// The lab's world: a router (the calling process's network namespace, where
// tailscaled and tswatchdog run) with two WANs, two ISPs that NAT, a backup
// router for VRRP-style failover, and an "internet" holding tailscaled's
// control and DERP servers. Every namespace but the router's is unnamed and
// held by a PDEATHSIG child (lab.h), so nothing outlives the test. Addresses
// are documentation ranges only:
//
//   router  wan0 198.51.100.2/24 --- seg0 (a switch: bridge br0) --- isp_a lan0
//                                     gateway 198.51.100.1, VRRP MAC
//                                     00:00:5e:00:01:01; isp_b's vrrp0 takes
//                                     it over in a failover (down until then)
//                                     or, for (b), is a backup router with
//                                     its own address 198.51.100.3
//           wan1 203.0.113.2/24  --- isp_b isp1 203.0.113.1
//           lan 192.0.2.65/27    --- lan eth0 192.0.2.66 (a LAN host)
//   isp_a   up0 192.0.2.1/28 (public; 192.0.2.2 after a renumbering)
//                             --- internet isp-a 192.0.2.14/28
//   isp_b   up0 192.0.2.17/28 --- internet isp-b 192.0.2.30/28
//   internet srv0: control 192.0.2.100 (:80), DERP 192.0.2.101 (:443), the
//           WANs' track IP 192.0.2.102 (answers pings)
//
// Both ISPs masquerade out of up0 (carrier-grade NAT); the backup router
// (isp_b's vrrp0) drops packets of TCP flows it does not know (a stateful
// firewall); the router masquerades out of wan0 and wan1 like OpenWrt's
// firewall. The internet's firewall in
// front of the servers drops packets of TCP flows it does not know, or answers
// them with a reset (SetFarSide). Nothing is routed by default: the
// scenarios (scenarios.h) add the router's routes.
#ifndef TSWATCHDOG_TESTS_LAB_WORLD_H_
#define TSWATCHDOG_TESTS_LAB_WORLD_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "netlink/unique_fd.h"
#include "tests/lab/lab.h"

namespace lab {

inline constexpr char kControlIp[] = "192.0.2.100";
inline constexpr int kControlPort = 80;
inline constexpr char kDerpIp[] = "192.0.2.101";
inline constexpr int kDerpPort = 443;
inline constexpr char kTrackIp[] = "192.0.2.102";
inline constexpr char kIspAPublic[] = "192.0.2.1";
inline constexpr char kIspAPublicRenumbered[] = "192.0.2.2";
inline constexpr char kIspBPublic[] = "192.0.2.17";
inline constexpr char kWan0Gateway[] = "198.51.100.1";
inline constexpr char kWan1Gateway[] = "203.0.113.1";
inline constexpr char kWan0Address[] = "198.51.100.2";
inline constexpr char kBackupRouter[] = "198.51.100.3";
inline constexpr char kWan0Renumbered[] = "198.51.100.66";
inline constexpr char kLanHost[] = "192.0.2.66";
inline constexpr unsigned kTailscaleMark = 0x80000;  // SO_MARK of tailscaled

// A private mount namespace for the calling process: / made private, and a
// writable overlay over /etc and over /run (so /var/run too), backed by a
// tmpfs mounted on `scratch_dir` (an empty directory). Nothing on the host
// changes; everything goes with the process. Returns "" or what failed.
// Call before any thread is started (unshare(CLONE_NEWNS) needs that).
std::string EnterPrivateMounts(const std::string& scratch_dir);

// How the internet's firewall treats packets of TCP flows it does not know.
enum class FarSide { kDrop, kReset };

class World {
 public:
  // Builds the topology around the calling process's namespace (which must
  // be fresh: EnterFreshNetns). Throws std::runtime_error naming the step.
  World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  Netns& seg0() { return *seg0_; }
  Netns& isp_a() { return *isp_a_; }
  Netns& isp_b() { return *isp_b_; }
  Netns& internet() { return *internet_; }
  Netns& lan() { return *lan_; }

  // Routes as netifd installs them for two WANs with metrics 10 and 20.
  void AddMainDefaults() const;

  // --- Failures (each made where the scenario says, upstream unless noted).
  // isp_a stops forwarding (a drop rule there): silent for the router.
  void KillIspAUpstream() const;
  void RestoreIspAUpstream() const;
  // (a) what netifd does when wan0 dies visibly: carrier lost (seg0 unplugs
  // the router's port) and wan0's default route deleted.
  void FailOverMainDefaultToWan1() const;
  // (b) setup: isp_b's vrrp0 up as a second router on wan0's segment, with
  // its own address (kBackupRouter) and MAC.
  void BringUpBackupRouter() const;
  // (b) next-hop failover: isp_a's gateway port goes down and the router's
  // main default moves to the backup router, on the same device (what a
  // gateway health check or a routing daemon does): the router sees
  // `gateway-changed`, tailscaled's netmon nothing (same interface, same
  // addresses).
  void NextHopFailoverToBackup() const;
  // (b-vrrp) VRRP: isp_a's gateway port goes down, isp_b's vrrp0 takes over
  // the gateway address and MAC. The router sees nothing.
  void VrrpFailoverToBackup() const;
  // (e) wan0 gets a new address (a new DHCP lease): the new one is added
  // with the default route through it, then the old one removed.
  void RenumberWan0() const;
  // (f) isp_a's NAT moves to another public address and forgets its
  // mappings (the kernel drops masqueraded entries of a removed address).
  void RenumberIspANat() const;
  // The internet's firewall for unknown TCP flows (kDrop at creation).
  void SetFarSide(FarSide mode) const;
  // wan0 carrier down (seg0 unplugs the router's port) and up again.
  void SetWan0Carrier(bool up) const;

  // Packets the named drop counter of a namespace counted: "isp_a"
  // (KillIspAUpstream), "backup" (isp_b's unknown-flow drop on vrrp0),
  // "far" (the internet's unknown-flow drop or reset).
  long DropCount(const std::string& which) const;

 private:
  void BuildLinks() const;
  void ConfigureIsps() const;
  void ConfigureInternet() const;

  std::unique_ptr<Netns> seg0_, isp_a_, isp_b_, internet_, lan_;
};

// A socket created inside `ns` (the calling thread enters it and comes back).
netlink::UniqueFd SocketIn(const Netns& ns, int domain, int type);
// A TCP listener on ip:port inside `ns`.
netlink::UniqueFd ListenIn(const Netns& ns, const std::string& ip, int port);
// A TCP connection from this namespace (or from `from`), with SO_MARK `mark`
// (0: none); invalid when it does not connect within `timeout` (errno set).
netlink::UniqueFd ConnectTcp(const std::string& ip, int port, unsigned mark,
                             std::chrono::milliseconds timeout,
                             const Netns* from = nullptr);
// accept() with a deadline; `peer` gets the address the far side sees.
netlink::UniqueFd AcceptWithin(int listener, std::chrono::milliseconds timeout,
                               std::string* peer);
// What a TCP socket shows within `timeout`: data to read, nothing, the
// peer's FIN, or an error (a reset: ECONNRESET).
enum class ReadState { kData, kTimeout, kEof, kError };
ReadState WaitReadable(int fd, std::chrono::milliseconds timeout,
                       int* error = nullptr);
// Writes all of `data` (the socket may be non-blocking); false on an error.
bool SendAll(int fd, const std::string& data);

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_WORLD_H_
