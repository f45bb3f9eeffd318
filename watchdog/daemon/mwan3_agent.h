// Follows mwan3 for `tswatchdog run`: detects it and tailscaled's mode from
// the kernel's rules (at start and after every netlink burst), follows its
// verdict per WAN from its status files (inotify on iface_state; SIGUSR1
// re-reads at once), and acts:
//   mode A: steers tailscaled's own traffic to a WAN mwan3 says is online
//           with one route of ours (watchdog/core/steering.h), removed when
//           the WAN under the main default is back, at exit, and at start
//           (a crash leaves it behind: the next start removes it unless it
//           is exactly what is wanted then);
//   mode B: on a WAN's `disconnected`, deletes the conntrack entries of
//           tailscaled's flows that carry that WAN's mark (never the whole
//           table), and reports its TCP connections that were on it.
// The decisions are pure (core/mwan3_follow.h, core/steering.h); this class
// reads, logs (old -> new, and why) and carries them out through its ports.
// Dry run: it logs what it would do and changes nothing.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_AGENT_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_AGENT_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "netlink/model.h"
#include "watchdog/core/mwan3_follow.h"
#include "watchdog/core/time.h"
#include "watchdog/daemon/mwan3_status.h"
#include "watchdog/daemon/route_steerer.h"

namespace watchdog {

// The side effects of following mwan3.
struct Mwan3AgentPorts {
  RouteTablePort& routes;
  // Mode B's cleanup for one dead WAN (Mwan3FlowCleaner, mwan3_flows.h).
  std::function<FlowCleanupReport(const FlowCleanupOrder&, bool dry_run)>
      clean_flows;
  // tailscaled's established TCP connections now (EstablishedTailscaledTcp,
  // mwan3_flows.h); nullopt when they cannot be listed.
  std::function<std::optional<std::vector<MovedConnection>>()> established_tcp;
  Mwan3Paths paths;
  std::function<MonoTime()> now;
};

// What one look found, for the daemon.
struct Mwan3Report {
  bool changed = false;  // the view, our routes or a cleanup: publish
  // Mode A: our steering route was added or removed (tailscaled's default
  // route interface changes; it redials by itself).
  std::vector<std::string> steering;
  // Mode B: the cleanups this look ran (or, dry run, counted).
  std::vector<FlowCleanupReport> cleanups;
};

class Mwan3Agent {
 public:
  Mwan3Agent(Mwan3AgentPorts ports, Mwan3Settings settings);
  ~Mwan3Agent();
  Mwan3Agent(const Mwan3Agent&) = delete;
  Mwan3Agent& operator=(const Mwan3Agent&) = delete;

  // The status directory's inotify descriptor (-1 without inotify: then
  // mwan3's verdict is read only at netlink bursts and SIGUSR1). Call
  // OnStatusReadable when it is readable.
  int status_fd() const;
  Mwan3Report OnStatusReadable(const netlink::Model& kernel);

  // Reads mwan3's files and the kernel's rules and routes, and acts: at
  // start (the first look), on SIGUSR1. `why` is logged with each change.
  Mwan3Report Look(const netlink::Model& kernel, std::string_view why);
  // After a netlink burst: the rules and routes again, with the files as
  // last read (they have their own watch).
  Mwan3Report OnKernel(const netlink::Model& kernel);
  // SIGHUP. Switching to dry run withdraws our route first (nothing would
  // maintain it).
  Mwan3Report Reconfigure(const Mwan3Settings& settings,
                          const netlink::Model& kernel);
  // At exit: removes our routes (in a dry run there are none of ours).
  void Stop(const netlink::Model& kernel);

  // What the state file, status and metrics show; nullopt where mwan3 has
  // never been seen (no rules, no status files).
  std::optional<Mwan3Status> status() const;

  // The findings for the diagnosis (core/diagnosis.h): tailscaled handling
  // a steering change (until handling_until()), and its connections on a
  // WAN that went offline in mode B while they are still established
  // (`judged`: the last connection check, to tell control from DERP).
  std::vector<Finding> Findings(std::span<const JudgedConnection> judged) const;
  std::optional<MonoTime> handling_until() const { return handling_until_; }
  // Lists tailscaled's connections again while some of the last cleanup's
  // are established; true when some of those are gone (closed by a step,
  // or by tailscaled): the findings changed.
  bool RecheckMovedConnections();

 private:
  void ReadFiles();
  Mwan3Report Evaluate(const netlink::Model& kernel, std::string_view why);
  void LogProblems(const std::vector<std::string>& problems);
  void Steer(const netlink::Model& kernel, bool at_start, Mwan3Report* out);
  void SteerFamily(const netlink::Model& kernel, netlink::Family family,
                   bool at_start, Mwan3Report* out);
  void CleanUp(const FlowCleanupOrder& order, Mwan3Report* out);
  void UpdateOurRoutes(const netlink::Model& kernel);

  Mwan3AgentPorts ports_;
  Mwan3Settings settings_;
  std::unique_ptr<Mwan3StatusWatcher> watcher_;
  Mwan3Files files_;
  Mwan3Memory memory_;
  Mwan3Status status_;
  bool started_ = false;
  bool ever_seen_ = false;
  std::set<std::string> logged_problems_;
  // Per family: the last plan's reason and, in a dry run, the last change
  // it would have made (each logged once).
  std::map<netlink::Family, std::string> last_why_;
  std::map<netlink::Family, std::string> last_dry_change_;
  // The last steering change, and until when tailscaled is handling it.
  std::string handling_change_;
  std::optional<MonoTime> handling_until_;
  // The last cleanup's TCP connections still established.
  std::vector<MovedConnection> moved_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_MWAN3_AGENT_H_
