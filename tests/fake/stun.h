// STUN as far as the fake needs it: what tailscaled's netcheck learns from
// the DERP servers' STUN port (3478), namely the address the far side sees
// its UDP packets come from (after every NAT on the way). A one-line text
// protocol instead of RFC 5389: "stun" -> "observed IP:PORT". The client
// sends from one long-lived UDP socket with tailscaled's mark, bound to
// magicsock's port 41641 (another if it is taken), as magicsock does
// (wgengine/magicsock/magicsock.go: netcheck sends STUN from its sockets).
#ifndef TSWATCHDOG_TESTS_FAKE_STUN_H_
#define TSWATCHDOG_TESTS_FAKE_STUN_H_

#include <chrono>
#include <functional>
#include <string>

#include "tests/fake/net_util.h"
#include "watchdog/io/event_loop.h"

namespace fake {

inline constexpr int kStunPort = 3478;

// The internet side: answers every request with the sender's address.
class StunServer {
 public:
  explicit StunServer(watchdog::EventLoop& loop) : loop_(loop) {}
  ~StunServer();
  // Listens on `ip`:3478; false (and *error) when it cannot.
  bool Listen(const std::string& ip, std::string* error);

 private:
  void Answer();
  watchdog::EventLoop& loop_;
  UniqueFd fd_;
};

// tailscaled's side: one probe at a time; `done` gets the observed address,
// or "" when no answer came within `timeout` (or the send failed).
class StunClient {
 public:
  using Done = std::function<void(const std::string& observed)>;

  explicit StunClient(watchdog::EventLoop& loop) : loop_(loop) {}
  ~StunClient();
  bool Open(std::string* error);
  void Probe(const SockAddr& server, std::chrono::milliseconds timeout,
             Done done);
  bool busy() const { return static_cast<bool>(done_); }

 private:
  void OnReadable();
  void Finish(const std::string& observed);

  watchdog::EventLoop& loop_;
  UniqueFd fd_;
  Done done_;
  watchdog::EventLoop::TimerId timer_ = 0;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_STUN_H_
