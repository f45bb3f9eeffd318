#include "tests/fake/internet.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "tests/fake/event_log.h"
#include "tests/fake/line_conn.h"
#include "tests/fake/net_util.h"
#include "tests/fake/stun.h"
#include "tests/fake/time_scale.h"
#include "watchdog/io/event_loop.h"

namespace fake {
namespace {

using Json = nlohmann::ordered_json;
using std::chrono::seconds;

// One listening server: control or DERP.
class Server {
 public:
  enum class Kind { kControl, kDerp };

  Server(watchdog::EventLoop& loop, EventLog& log, const TimeScale& scale,
         Kind kind)
      : loop_(loop), log_(log), scale_(scale), kind_(kind) {}
  ~Server() {
    if (listener_) loop_.UnwatchFd(listener_.get());
  }

  bool Listen(const std::string& address) {
    auto at = ParseHostPort(address);
    std::string error = "bad address " + address;
    if (at) listener_ = ListenTcp(*at, &error);
    if (!listener_) {
      std::cerr << "internet: " << name() << ": " << error << "\n";
      return false;
    }
    loop_.WatchFd(listener_.get(), EPOLLIN, [this](uint32_t) { Accept(); });
    log_.Write("listen", {{"server", name()}, {"address", address}});
    return true;
  }

 private:
  struct Client {
    std::unique_ptr<LineConn> conn;
    watchdog::EventLoop::TimerId keepalive = 0;
    int64_t accepted_ms = 0;
    int lines_in = 0;
    int lines_out = 0;
    std::string peer;
  };

  const char* name() const {
    return kind_ == Kind::kControl ? "control" : "derp";
  }

  void Accept() {
    for (;;) {
      UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) return;
      // Go's net/http and derper accept with ListenConfig's default
      // keep-alive (15 s idle and interval, 9 probes).
      SetServerKeepAlive(fd.get(), scale_.KernelSeconds(seconds(15)),
                         scale_.KernelSeconds(seconds(15)), 9);
      const uint64_t id = next_id_++;
      auto& client = clients_[id];
      client.accepted_ms = UnixMillis();
      client.conn = std::make_unique<LineConn>(
          loop_, std::move(fd), false,
          LineConn::Callbacks{
              nullptr, [this, id](const std::string& l) { OnLine(id, l); },
              [this, id](const std::string& why) { Drop(id, why); }});
      client.peer = client.conn->remote();
      log_.Write("accept", {{"server", name()},
                            {"peer", client.peer},
                            {"local", client.conn->local()}});
      if (kind_ == Kind::kDerp) ScheduleKeepAlive(id);
    }
  }

  void Send(uint64_t id, const Json& message) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    ++it->second.lines_out;
    it->second.conn->Send(message.dump());
  }

  void OnLine(uint64_t id, const std::string& line) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    ++it->second.lines_in;
    const Json request = Json::parse(line, nullptr, false);
    const std::string type =
        request.is_object() ? request.value("type", "") : "";
    if (kind_ == Kind::kControl && type == "map") {
      const bool stream = request.value("stream", false);
      Send(id, {{"type", "map"},
                {"seq", request.value("seq", 0)},
                {"stream", stream},
                {"observed", it->second.peer}});
      // A new streaming request replaces the previous stream (the client
      // cancels it), and restarts the keep-alive schedule.
      if (stream) ScheduleKeepAlive(id);
    } else if (kind_ == Kind::kDerp && type == "hello") {
      Send(id, {{"type", "server-info"}, {"observed", it->second.peer}});
    } else if (kind_ == Kind::kDerp && type == "ping") {
      Send(id, {{"type", "pong"}, {"id", request.value("id", 0)}});
    }
  }

  // control: tailscale's test control server sends a keep-alive every
  // 50 s + rand(8 s) (tstest/integration/testcontrol); DERP: the server
  // sends one every 60 s + rand(5 s) (derp/derpserver).
  void ScheduleKeepAlive(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    loop_.CancelTimer(it->second.keepalive);
    const auto delay = kind_ == Kind::kControl
                           ? scale_.WithJitter(seconds(50), seconds(8))
                           : scale_.WithJitter(seconds(60), seconds(5));
    it->second.keepalive = loop_.AddTimerAfter(delay, [this, id] {
      Send(id, kind_ == Kind::kControl ? Json{{"KeepAlive", true}}
                                       : Json{{"type", "keepalive"}});
      ScheduleKeepAlive(id);
    });
  }

  void Drop(uint64_t id, const std::string& why) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    loop_.CancelTimer(it->second.keepalive);
    log_.Write("close", {{"server", name()},
                         {"peer", it->second.peer},
                         {"why", why},
                         {"lived_ms", UnixMillis() - it->second.accepted_ms},
                         {"lines_in", it->second.lines_in},
                         {"lines_out", it->second.lines_out}});
    // Destroyed later: we are inside its callback.
    DestroyLater(loop_, std::move(it->second.conn));
    clients_.erase(it);
  }

  watchdog::EventLoop& loop_;
  EventLog& log_;
  const TimeScale& scale_;
  Kind kind_;
  UniqueFd listener_;
  std::map<uint64_t, Client> clients_;
  uint64_t next_id_ = 1;
};

}  // namespace

int RunInternet(const InternetOptions& options) {
  EventLog log;
  log.set_prefix("internet");
  if (!log.Open(options.events_path)) {
    std::cerr << ErrnoText("internet: open " + options.events_path, errno)
              << "\n";
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signals(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  watchdog::EventLoop loop;
  loop.WatchFd(signals.get(), EPOLLIN, [&loop](uint32_t) { loop.Stop(); });
  const TimeScale scale(options.time_scale);
  Server control(loop, log, scale, Server::Kind::kControl);
  Server derp(loop, log, scale, Server::Kind::kDerp);
  if ((!options.control.empty() && !control.Listen(options.control)) ||
      (!options.derp.empty() && !derp.Listen(options.derp))) {
    return 1;
  }
  // derper runs STUN beside DERP (cmd/derper: -stun, port 3478).
  StunServer stun(loop);
  if (!options.derp.empty()) {
    std::string error;
    const auto at = ParseHostPort(options.derp);
    if (!at || !stun.Listen(FormatIp(*at), &error)) {
      std::cerr << "internet: " << error << "\n";
      return 1;
    }
    log.Write("listen",
              {{"server", "stun"},
               {"address", FormatIp(*at) + ":" + std::to_string(kStunPort)}});
  }
  if (!options.pid_file.empty()) {
    std::ofstream(options.pid_file) << ::getpid() << "\n";
  }
  log.Write("ready", {{"time_scale", options.time_scale}});
  loop.Run();
  loop.UnwatchFd(signals.get());
  if (!options.pid_file.empty()) ::unlink(options.pid_file.c_str());
  return 0;
}

}  // namespace fake
