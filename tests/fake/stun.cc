#include "tests/fake/stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace fake {
namespace {

constexpr int kMagicsockPort = 41641;
constexpr char kRequest[] = "stun";

std::string FromStorage(const sockaddr_storage& from, socklen_t length) {
  SockAddr addr;
  addr.storage = from;
  addr.length = length;
  return FormatSockAddr(addr);
}

}  // namespace

StunServer::~StunServer() {
  if (fd_) loop_.UnwatchFd(fd_.get());
}

bool StunServer::Listen(const std::string& ip, std::string* error) {
  auto at = ParseHostPort(ip.find(':') != std::string::npos
                              ? "[" + ip + "]:" + std::to_string(kStunPort)
                              : ip + ":" + std::to_string(kStunPort));
  if (!at) {
    *error = "bad STUN address " + ip;
    return false;
  }
  fd_ = UniqueFd(
      ::socket(at->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_ || ::bind(fd_.get(), at->get(), at->length) != 0) {
    *error = ErrnoText("STUN listen " + ip, errno);
    return false;
  }
  loop_.WatchFd(fd_.get(), EPOLLIN, [this](uint32_t) { Answer(); });
  return true;
}

void StunServer::Answer() {
  char buf[64];
  for (;;) {
    sockaddr_storage from{};
    socklen_t length = sizeof from;
    const ssize_t n = ::recvfrom(fd_.get(), buf, sizeof buf, 0,
                                 reinterpret_cast<sockaddr*>(&from), &length);
    if (n < 0) return;
    if (std::string(buf, static_cast<size_t>(n)) != kRequest) continue;
    const std::string reply = "observed " + FromStorage(from, length);
    ::sendto(fd_.get(), reply.data(), reply.size(), 0,
             reinterpret_cast<const sockaddr*>(&from), length);
  }
}

StunClient::~StunClient() {
  if (timer_) loop_.CancelTimer(timer_);
  if (fd_) loop_.UnwatchFd(fd_.get());
}

bool StunClient::Open(std::string* error) {
  fd_ =
      UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_) {
    *error = ErrnoText("STUN socket", errno);
    return false;
  }
  const int mark = 0x80000;
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kMagicsockPort);
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
    any.sin_port = 0;  // taken: magicsock too falls back to another port
    ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&any), sizeof any);
  }
  loop_.WatchFd(fd_.get(), EPOLLIN, [this](uint32_t) { OnReadable(); });
  return true;
}

void StunClient::Probe(const SockAddr& server,
                       std::chrono::milliseconds timeout, Done done) {
  done_ = std::move(done);
  if (::sendto(fd_.get(), kRequest, std::strlen(kRequest), 0, server.get(),
               server.length) < 0) {
    // No route (the uplink is gone): no answer, as netcheck would report.
    timer_ = loop_.AddTimerAfter(std::chrono::milliseconds(0), [this] {
      timer_ = 0;
      Finish("");
    });
    return;
  }
  timer_ = loop_.AddTimerAfter(timeout, [this] {
    timer_ = 0;
    Finish("");
  });
}

void StunClient::OnReadable() {
  char buf[128];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) return;
    const std::string reply(buf, static_cast<size_t>(n));
    const std::string prefix = "observed ";
    if (done_ && reply.rfind(prefix, 0) == 0) {
      Finish(reply.substr(prefix.size()));
    }
  }
}

void StunClient::Finish(const std::string& observed) {
  if (timer_) loop_.CancelTimer(timer_);
  timer_ = 0;
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(observed);
}

}  // namespace fake
