// `tswatchdog doctor`, the pure part: a reader for systemd unit files under a
// root directory (fragments, drop-ins, .wants/ links) and the analysis of the
// boot-ordering problems DESIGN.md lists (2: tailscaled before the network is
// online; 3: units bound to the Tailscale address), tailscaled's start
// limits and tswatchdog's access to the LocalAPI. No systemctl, no D-Bus:
// everything comes from files, so tests run it on a tree they write.
#ifndef TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_
#define TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace watchdog {

// The drop-ins in contrib/systemd/, byte for byte (a test compares them).
// tailscaled after network-online.target (DESIGN problem 2).
inline constexpr std::string_view kWaitOnlineDropInName = "10-wait-online.conf";
inline constexpr std::string_view kWaitOnlineDropIn =
    "# Start tailscaled once the network is online, so it does not come up\n"
    "# with no uplink and stay stuck offline (installed by tswatchdog).\n"
    "[Unit]\n"
    "Wants=network-online.target\n"
    "After=network-online.target\n";
// A socket on the Tailscale address (DESIGN problem 3): bind before the
// address exists; no ordering on tailscaled, which would be a cycle.
inline constexpr std::string_view kFreeBindDropInName =
    "10-tailscale-freebind.conf";
inline constexpr std::string_view kFreeBindDropIn =
    "# Listen on the Tailscale address even before tailscaled has assigned\n"
    "# it. No BindsTo=/Requires=/After= on tailscaled.service: a socket is\n"
    "# ordered before sockets.target, so that would be an ordering cycle.\n"
    "# tswatchdog restarts this unit once the address is back:\n"
    "# restart_on_ip = [\"ssh.socket\"] (installed by tswatchdog).\n"
    "[Socket]\n"
    "FreeBind=yes\n";

// One `Key=Value` assignment and where it came from.
struct UnitEntry {
  std::string section;
  std::string key;
  std::string value;
  std::string file;  // path as the system sees it (without the root prefix)
  int line = 0;      // 1-based, the first line of a continued assignment
};

// Parses unit file text: [Section] headers, Key=Value (whitespace around
// both trimmed), `#`/`;` comments, a trailing `\` continues the line (the
// backslash becomes a space; comment lines inside a continuation are
// skipped). Assignments outside a section and lines without `=` are ignored,
// as systemd does (it only warns).
std::vector<UnitEntry> ParseUnitText(std::string_view text,
                                     const std::string& file);

// A unit as systemd loads it: the fragment, then its drop-ins in order.
struct LoadedUnit {
  std::string name;
  std::string fragment;              // system path; empty with drop-ins only
  std::string fragment_file;         // the file it links to (or itself)
  std::vector<std::string> dropins;  // in the order they apply
  bool masked = false;               // linked to /dev/null, or empty
  std::vector<UnitEntry> entries;    // fragment's, then each drop-in's

  // A word or line of a list setting, with its assignment.
  struct Item {
    std::string value;
    const UnitEntry* entry;
  };

  // The last assignment of a single-valued setting; nullptr when unset or
  // reset by an empty assignment (`Key=`).
  const UnitEntry* Last(std::string_view section, std::string_view key) const;
  // A list setting: every assignment in order, an empty one clears what came
  // before. `split_words`: dependency lists (After=a b) hold one unit per
  // word; Listen*= and Exec*= keep the whole value.
  std::vector<Item> List(std::string_view section, std::string_view key,
                         bool split_words) const;
  bool ListHas(std::string_view section, std::string_view key,
               std::string_view word) const;
  bool IsDropIn(const std::string& file) const;
};

// The unit search path under a root (a subset of systemd's, in priority
// order): /etc/systemd/system, /run/systemd/system,
// /usr/local/lib/systemd/system, /usr/lib/systemd/system, /lib/systemd/system.
const std::vector<std::string>& UnitSearchPath();

class UnitTree {
 public:
  explicit UnitTree(std::string root);

  const std::string& root() const { return root_; }
  // Any unit directory exists under the root.
  bool HasSystemd() const;
  // The fragment (first in search-path order; an instance falls back to its
  // template) and the drop-ins of NAME.d/, TEMPLATE@.TYPE.d/, PREFIX-.TYPE.d/
  // and TYPE.d/ in every directory: a file name in a higher-priority
  // directory hides the same name below it; all apply sorted by file name.
  // nullopt when neither a fragment nor a drop-in exists. An unreadable file
  // is an error (`error` says which and why).
  std::optional<LoadedUnit> Load(const std::string& name,
                                 std::string* error) const;
  // Unit names with this suffix (".socket") in any directory, templates
  // ("foo@.socket") excluded.
  std::vector<std::string> List(std::string_view suffix) const;
  // Entries of NAME.wants/ and NAME.requires/ in any directory.
  std::vector<std::string> WantedBy(const std::string& name) const;
  // The root-prefixed path of a system path.
  std::string Host(const std::string& system_path) const;

 private:
  std::string root_;
};

// systemd time span ("0", "10s", "5min", "1h 30min", "100ms", "infinity");
// a bare number is seconds. nullopt when it is not one.
std::optional<std::chrono::microseconds> ParseTimeSpan(std::string_view text);

// A Tailscale address (100.64.0.0/10, fd7a:115c:a1e0::/48) in a listen
// value or command line: "100.101.102.103:22", "[fd7a:115c:a1e0::1]:22",
// "--listen=100.101.102.103". The first one found, or nullopt.
std::optional<std::string> FindTailscaleAddress(std::string_view text);

struct FixFile {
  std::string path;  // system path
  std::string content;
};

struct Finding {
  std::string id;    // stable: "tailscaled-network-online", ...
  std::string unit;  // the unit it is about ("" when none)
  std::string what;
  std::string why;                 // one sentence: the consequence
  std::vector<std::string> steps;  // edits to existing files, in order
  std::vector<FixFile> files;      // files to create
  std::vector<std::string> commands;
};

// What doctor knows besides the unit files.
struct DoctorInputs {
  std::string root = "/";
  // From tswatchdog's config (or its defaults).
  std::string config_path = "/etc/tswatchdog/tswatchdog.toml";
  std::vector<std::string> restart_on_ip;
  int max_disruptive_per_hour = 3;
  bool ladder_has_restart = true;
  // Who runs `tswatchdog run` when no tswatchdog.service exists (doctor's
  // own effective user, for a daemon started by hand).
  std::string self_user = "root";
  unsigned self_uid = 0;
  // tailscaled's operator (`tailscale set --operator=USER`), when known.
  std::optional<std::string> operator_user;
};

struct DoctorReport {
  enum class System { kSystemd, kOpenWrt };
  System system = System::kSystemd;
  std::string root;
  std::vector<Finding> findings;
  std::vector<std::string> notes;  // what was checked or skipped, and why
};

// Reads the units under inputs.root and reports each problem with its fix.
// nullopt and `error` set when the root cannot be diagnosed (no systemd and
// no OpenWrt, an unreadable unit file).
std::optional<DoctorReport> Diagnose(const DoctorInputs& inputs,
                                     std::string* error);

// One block per finding: what, why, fix; then the notes.
std::string FormatReport(const DoctorReport& report);
nlohmann::json ReportJson(const DoctorReport& report);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DOCTOR_DOCTOR_H_
