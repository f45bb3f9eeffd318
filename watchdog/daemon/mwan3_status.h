// mwan3's files, read and watched (the side effects; the decisions are in
// watchdog/core/mwan3.h).
//
// ReadMwan3Files reads /etc/config/mwan3 (for the interface order, which
// gives the ids) and each interface's status files; a missing, unreadable or
// oversized file is "unknown" and named in `problems`, never a crash.
//
// Mwan3StatusWatcher follows /var/run/mwan3/iface_state with inotify. mwan3's
// hotplug script writes there only on connected/disconnected/ifup/ifdown, so
// a stable router wakes us never (mwan3track rewrites its own STATUS every
// round: that one is read along, not watched). The directory may appear late
// (mwan3 starts after us) or vanish (mwan3 stopped): until it exists, its
// nearest existing ancestor is watched for it.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_STATUS_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_STATUS_H_

#include <map>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"
#include "watchdog/core/mwan3.h"

namespace watchdog {

struct Mwan3Paths {
  std::string config = "/etc/config/mwan3";
  std::string iface_state_dir = "/var/run/mwan3/iface_state";
  std::string track_dir = "/var/run/mwan3track";
  // The same layout under `root` (tests).
  static Mwan3Paths Under(const std::string& root);
};

struct Mwan3Files {
  std::vector<std::string> interface_order;
  std::map<std::string, Mwan3StatusFiles> status;
  // "PATH: error" for each file that exists but could not be read.
  std::vector<std::string> problems;
};

Mwan3Files ReadMwan3Files(const Mwan3Paths& paths);

// Watches one directory that may not exist yet.
class Mwan3StatusWatcher {
 public:
  // Throws std::system_error when inotify is unavailable.
  explicit Mwan3StatusWatcher(std::string directory);

  int fd() const { return inotify_.get(); }
  // Call when fd() is readable: drains the events and returns whether the
  // directory or a file in it changed (appeared, written, removed), so the
  // files should be read again.
  bool HandleReadable();
  // The path watched now: the directory, or the ancestor it waits in.
  const std::string& watching() const { return watching_; }

 private:
  void Arm();

  std::string directory_;
  netlink::UniqueFd inotify_;
  int wd_ = -1;
  std::string watching_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_STATUS_H_
