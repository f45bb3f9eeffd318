#include "tests/fake/derp_client.h"

namespace fake {

using Json = nlohmann::ordered_json;
using std::chrono::seconds;

DerpClient::DerpClient(watchdog::EventLoop& loop, const TimeScale& scale,
                       EventLog& log, SockAddr server, DialOptions dial,
                       Hooks hooks)
    : loop_(loop),
      scale_(scale),
      log_(log),
      server_(server),
      dial_(dial),
      hooks_(std::move(hooks)) {}

DerpClient::~DerpClient() {
  loop_.CancelTimer(deadline_);
  loop_.CancelTimer(retry_);
  loop_.CancelTimer(ping_timer_);
}

void DerpClient::Start() {
  if (running_) return;
  running_ = true;
  failures_ = 0;
  Connect();
}

void DerpClient::Stop(const std::string& why) {
  running_ = false;
  loop_.CancelTimer(retry_);
  Close(why);
}

void DerpClient::Reconnect(const std::string& why) {
  Close(why);
  if (!running_) return;
  loop_.CancelTimer(retry_);
  Connect();
}

void DerpClient::Ping() {
  if (!conn_ || !conn_->connected() || awaiting_pong_) return;
  awaiting_pong_ = ++ping_id_;
  conn_->Send(Json{{"type", "ping"}, {"id", awaiting_pong_}}.dump());
  ping_timer_ = loop_.AddTimerAfter(scale_(seconds(3)), [this] {
    ping_timer_ = 0;
    awaiting_pong_ = 0;
    log_.Write("derp-ping-failed", {{"local", local()}});
    Reconnect("rebind-ping-fail");
  });
}

void DerpClient::Connect() {
  std::string error;
  UniqueFd fd = StartDial(server_, dial_, &error);
  if (!fd) {
    OnFailure(error);
    return;
  }
  dialed_ms_ = UnixMillis();
  conn_ = std::make_unique<LineConn>(
      loop_, std::move(fd), true,
      LineConn::Callbacks{
          [this] {
            conn_->Send(Json{{"type", "hello"}}.dump());
          },
          [this](const std::string& line) { OnLine(line); },
          [this](const std::string& why) { OnFailure("recv: " + why); }});
  log_.Write("derp-dial", {{"local", conn_->local()},
                           {"remote", FormatSockAddr(server_)},
                           {"socket", SocketOptions(conn_->fd())}});
  // derphttp: DNS + TCP + TLS + upgrade within 10 s; then Recv's deadline.
  loop_.CancelTimer(deadline_);
  deadline_ = loop_.AddTimerAfter(scale_(seconds(10)), [this] {
    deadline_ = 0;
    OnFailure("dial: timed out");
  });
}

void DerpClient::OnLine(const std::string& line) {
  const Json message = Json::parse(line, nullptr, false);
  if (!message.is_object()) return;
  last_frame_ms_ = UnixMillis();
  failures_ = 0;
  ArmReadDeadline();
  const std::string type = message.value("type", "");
  if (type == "server-info") {
    connected_ = true;
    log_.Write("derp-connected",
               {{"local", conn_->local()}, {"remote", conn_->remote()}});
    if (hooks_.connected) hooks_.connected(true);
  } else if (type == "pong" && message.value("id", 0) == awaiting_pong_) {
    awaiting_pong_ = 0;
    loop_.CancelTimer(ping_timer_);
  }
  if (hooks_.frame) hooks_.frame();
}

void DerpClient::OnFailure(const std::string& why) {
  Close(why);
  if (hooks_.recv_error) hooks_.recv_error();
  if (!running_) return;
  ++failures_;
  loop_.CancelTimer(retry_);
  retry_ = loop_.AddTimerAfter(TailscaleBackoff(failures_, seconds(5), scale_),
                               [this] {
                                 retry_ = 0;
                                 if (running_ && !conn_) Connect();
                               });
}

void DerpClient::Close(const std::string& why) {
  loop_.CancelTimer(deadline_);
  loop_.CancelTimer(ping_timer_);
  deadline_ = ping_timer_ = 0;
  awaiting_pong_ = 0;
  if (conn_) {
    log_.Write("derp-closed",
               ClosedFields(*conn_, FormatSockAddr(server_), why, dialed_ms_));
    conn_->Close();
    DestroyLater(loop_, std::move(conn_));
  }
  connected_ = false;
  // runDerpReader reports "not connected" on every receive error.
  if (hooks_.connected) hooks_.connected(false);
}

void DerpClient::ArmReadDeadline() {
  loop_.CancelTimer(deadline_);
  deadline_ = loop_.AddTimerAfter(scale_(seconds(120)), [this] {
    deadline_ = 0;
    OnFailure("recv: read deadline (120 s) exceeded");
  });
}

Json DerpClient::Describe() const {
  Json out = DescribeConn(conn_.get());
  out["running"] = running_;
  out["connected"] = connected_;
  out["failures"] = failures_;
  out["last_frame_age_ms"] =
      last_frame_ms_ ? Json(UnixMillis() - last_frame_ms_) : Json();
  return out;
}

}  // namespace fake
