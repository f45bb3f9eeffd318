#include "tests/mwan3/mwan3_tracker.h"

namespace mwan3 {

TrackerScore::TrackerScore(const Interface& iface)
    : iface_(iface), score_(iface.down + iface.up) {}

void TrackerScore::WriteStatus(TrackerRound* r, const std::string& status) {
  status_file_ = status;
  r->files.push_back({"STATUS", status});
}

void TrackerScore::Disconnecting(TrackerRound* r) {
  if (status_ == "disconnecting") return;
  status_ = "disconnecting";
  WriteStatus(r, status_);
  r->events.push_back("disconnecting");
}

void TrackerScore::Disconnected(TrackerRound* r, bool first) {
  const std::string before = status_file_;
  status_ = "offline";
  WriteStatus(r, status_);
  r->files.push_back({"OFFLINE", "uptime"});
  r->files.push_back({"ONLINE", "0"});
  score_ = 0;
  if (first) return;
  // "Only execute disconnectd action if status was online or disconnecting".
  if (before == "online" || before == "disconnecting") {
    r->events.push_back("disconnected");
  }
}

void TrackerScore::Connecting(TrackerRound* r) {
  if (status_ == "connecting") return;
  status_ = "connecting";
  WriteStatus(r, status_);
  r->events.push_back("connecting");
}

void TrackerScore::Connected(TrackerRound* r) {
  status_ = "online";
  WriteStatus(r, status_);
  r->files.push_back({"OFFLINE", "0"});
  r->files.push_back({"ONLINE", "uptime"});
  score_ = iface_.down + iface_.up;
  lost_ = 0;
  r->events.push_back("connected");
}

TrackerRound TrackerScore::FirstConnect() {
  TrackerRound r;
  if (status_ != "online") status_ = iface_.initial_state;
  if (status_ == "offline") {
    Disconnected(&r, true);
  } else {
    Connected(&r);
  }
  return r;
}

TrackerRound TrackerScore::AfterRound(int hosts_up, int failed) {
  TrackerRound r;
  r.sleep_s = iface_.interval_s;
  lost_ += failed;
  if (hosts_up < iface_.reliability) {
    --score_;
    if (score_ < iface_.up) {
      score_ = 0;
      if (iface_.keep_failure_interval) r.sleep_s = iface_.failure_interval_s;
    } else if (score_ == iface_.up) {
      Disconnecting(&r);
      r.sleep_s = iface_.failure_interval_s;
      Disconnected(&r, false);
    } else {
      Disconnecting(&r);
      r.sleep_s = iface_.failure_interval_s;
    }
  } else {
    ++score_;
    lost_ = 0;
    if (score_ < iface_.up) {
      Connecting(&r);
      r.sleep_s = iface_.recovery_interval_s;
    } else if (score_ == iface_.up) {
      Connecting(&r);
      r.sleep_s = iface_.recovery_interval_s;
      Connected(&r);
    } else {
      // Written to the file only: the variable keeps what it was.
      status_file_ = "online";
      r.files.push_back({"STATUS", "online"});
      score_ = iface_.down + iface_.up;
    }
  }
  ++turn_;
  return r;
}

}  // namespace mwan3
