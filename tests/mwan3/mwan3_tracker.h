// mwan3track's scoring (openwrt/packages net/mwan3/files/usr/sbin/mwan3track,
// the main loop and disconnecting/disconnected/connecting/connected), as a
// pure state machine: one round of probes in, the hotplug events it fires,
// the status it writes and how long it sleeps out. Shell quirks kept on
// purpose: the STATUS variable and the STATUS file can differ (a success
// while `disconnecting` writes "online" to the file but leaves the variable,
// so a new failure fires no second `disconnecting`).
#ifndef TSWATCHDOG_TESTS_MWAN3_MWAN3_TRACKER_H_
#define TSWATCHDOG_TESTS_MWAN3_MWAN3_TRACKER_H_

#include <string>
#include <vector>

#include "tests/mwan3/mwan3_config.h"

namespace mwan3 {

struct TrackerRound {
  // Hotplug iface actions, in order: "disconnecting", "disconnected",
  // "connecting", "connected".
  std::vector<std::string> events;
  // Files to (re)write under /var/run/mwan3track/<iface>/ besides LOST,
  // SCORE, TURN and TIME: "STATUS" always; "ONLINE"/"OFFLINE" hold either
  // "0" or "uptime" (the caller writes the uptime).
  std::vector<std::pair<std::string, std::string>> files;
  double sleep_s = 0;
};

class TrackerScore {
 public:
  explicit TrackerScore(const Interface& iface);

  // firstconnect(): initial_state "offline" -> disconnected(1) (no event),
  // else connected(1): a `connected` event with FIRSTCONNECT=1, which
  // mwan3's own hotplug script ignores.
  TrackerRound FirstConnect();
  // The end of one round: `hosts_up` track IPs answered (the loop stops
  // probing once `reliability` answered), `failed` did not.
  TrackerRound AfterRound(int hosts_up, int failed);

  int score() const { return score_; }
  int lost() const { return lost_; }
  int turn() const { return turn_; }
  const std::string& status_file() const { return status_file_; }

 private:
  void Disconnecting(TrackerRound* r);
  void Disconnected(TrackerRound* r, bool first);
  void Connecting(TrackerRound* r);
  void Connected(TrackerRound* r);
  void WriteStatus(TrackerRound* r, const std::string& status);

  Interface iface_;
  int score_;
  int lost_ = 0;
  int turn_ = 0;
  std::string status_;       // the shell variable STATUS
  std::string status_file_;  // what STATUS holds on disk
};

}  // namespace mwan3

#endif  // TSWATCHDOG_TESTS_MWAN3_MWAN3_TRACKER_H_
