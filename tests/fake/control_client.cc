#include "tests/fake/control_client.h"

namespace fake {

using Json = nlohmann::ordered_json;
using std::chrono::seconds;

ControlClient::ControlClient(watchdog::EventLoop& loop, const TimeScale& scale,
                             EventLog& log, SockAddr server, DialOptions dial,
                             Hooks hooks)
    : loop_(loop),
      scale_(scale),
      log_(log),
      server_(server),
      dial_(dial),
      hooks_(std::move(hooks)) {}

ControlClient::~ControlClient() {
  loop_.CancelTimer(watchdog_);
  loop_.CancelTimer(retry_);
}

void ControlClient::Start() {
  running_ = true;
  paused_ = false;
  failures_ = 0;
  Poll();
}

void ControlClient::Shutdown(const std::string& why) {
  running_ = false;
  loop_.CancelTimer(retry_);
  loop_.CancelTimer(watchdog_);
  streaming_ = false;
  DropConnection(why);
  EndPoll(why);
}

void ControlClient::CloseConnection(const std::string& why) {
  if (conn_) Lost(why);
}

void ControlClient::Pause() {
  if (paused_) return;
  paused_ = true;
  loop_.CancelTimer(retry_);
  loop_.CancelTimer(watchdog_);
  CancelStream();
  EndPoll("paused");
}

void ControlClient::Resume() {
  if (!paused_) return;
  paused_ = false;
  failures_ = 0;
  Poll();
}

bool ControlClient::SendEndpoints(const nlohmann::json& endpoints) {
  if (!running_ || paused_ || !conn_ || !conn_->connected()) return false;
  conn_->Send(Json{
      {"type", "map"},
      {"stream", false},
      {"seq", ++seq_},
      {"endpoints",
       endpoints}}.dump());
  return true;
}

void ControlClient::Poll() {
  if (!running_ || paused_) return;
  streaming_ = true;
  ArmWatchdog();  // also covers the dial and the first response
  if (conn_) {
    if (conn_->connected()) SendMapRequest();
  } else if (!Dial()) {
    streaming_ = false;
    loop_.CancelTimer(watchdog_);
    ScheduleRetry();
  }
}

bool ControlClient::Dial() {
  std::string error;
  UniqueFd fd = StartDial(server_, dial_, &error);
  if (!fd) {
    log_.Write("control-dial-failed",
               {{"remote", FormatSockAddr(server_)}, {"why", error}});
    return false;
  }
  dialed_ms_ = UnixMillis();
  conn_ = std::make_unique<LineConn>(
      loop_, std::move(fd), true,
      LineConn::Callbacks{[this] {
                            log_.Write("control-connected",
                                       {{"local", conn_->local()},
                                        {"remote", conn_->remote()}});
                            if (streaming_) SendMapRequest();
                          },
                          [this](const std::string& line) { OnLine(line); },
                          [this](const std::string& why) { Lost(why); }});
  log_.Write("control-dial", {{"local", conn_->local()},
                              {"remote", FormatSockAddr(server_)},
                              {"socket", SocketOptions(conn_->fd())}});
  return true;
}

void ControlClient::SendMapRequest() {
  conn_->Send(Json{{"type", "map"}, {"stream", true}, {"seq", ++seq_}}.dump());
}

void ControlClient::OnLine(const std::string& line) {
  const Json message = Json::parse(line, nullptr, false);
  if (!message.is_object() || !streaming_) return;
  // The reply to a non-streaming request, or a response of a cancelled
  // stream, is not part of this long poll.
  if (message.value("stream", true) == false) return;
  if (message.value("seq", seq_) != seq_) return;
  last_response_ms_ = UnixMillis();
  failures_ = 0;
  ArmWatchdog();
  in_poll_ = true;
  if (hooks_.map_response) hooks_.map_response();
}

// The connection is gone (closed under us, or by the kernel): the poll ends
// and, if one was running, its retry dials anew.
void ControlClient::Lost(const std::string& why) {
  loop_.CancelTimer(watchdog_);
  const bool was_streaming = streaming_;
  streaming_ = false;
  DropConnection(why);
  EndPoll(why);
  if (running_ && !paused_ && was_streaming) ScheduleRetry();
}

void ControlClient::OnWatchdog() {
  watchdog_ = 0;
  // direct.go: "map response long-poll timed out!" cancels the request;
  // a dial still in progress is abandoned with it.
  log_.Write("control-watchdog",
             {{"local", local()}, {"remote", FormatSockAddr(server_)}});
  streaming_ = false;
  if (conn_ && !conn_->connected()) {
    DropConnection("dial timed out (watchdog)");
  } else {
    CancelStream();
  }
  EndPoll("watchdog");
  ScheduleRetry();
}

void ControlClient::EndPoll(const std::string& why) {
  if (!in_poll_) return;
  in_poll_ = false;
  if (hooks_.poll_ended) hooks_.poll_ended(why);
}

void ControlClient::CancelStream() {
  // HTTP/2 RST_STREAM: one more write on the connection.
  if (conn_ && conn_->connected()) {
    conn_->Send(Json{{"type", "cancel"}, {"seq", seq_}}.dump());
  }
  streaming_ = false;
}

void ControlClient::DropConnection(const std::string& why) {
  if (!conn_) return;
  log_.Write("control-closed",
             ClosedFields(*conn_, FormatSockAddr(server_), why, dialed_ms_));
  conn_->Close();
  DestroyLater(loop_, std::move(conn_));
}

void ControlClient::ScheduleRetry() {
  loop_.CancelTimer(retry_);
  ++failures_;
  const auto delay = TailscaleBackoff(failures_, seconds(30), scale_);
  retry_ = loop_.AddTimerAfter(delay, [this] {
    retry_ = 0;
    Poll();
  });
}

void ControlClient::ArmWatchdog() {
  loop_.CancelTimer(watchdog_);
  watchdog_ =
      loop_.AddTimerAfter(scale_(seconds(120)), [this] { OnWatchdog(); });
}

Json ControlClient::Describe() const {
  Json out = DescribeConn(conn_.get());
  out["running"] = running_;
  out["paused"] = paused_;
  out["in_poll"] = in_poll_;
  out["streaming"] = streaming_;
  out["seq"] = seq_;
  out["failures"] = failures_;
  out["last_response_age_ms"] =
      last_response_ms_ ? Json(UnixMillis() - last_response_ms_) : Json();
  return out;
}

}  // namespace fake
