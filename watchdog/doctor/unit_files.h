// systemd unit files as systemd reads them, from the files under a root
// directory: fragments, drop-ins (in systemd's order), .wants/ links, time
// spans and booleans. Never runs systemctl.
#ifndef TSWATCHDOG_WATCHDOG_DOCTOR_UNIT_FILES_H_
#define TSWATCHDOG_WATCHDOG_DOCTOR_UNIT_FILES_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {

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
  // is an error (it says which and why).
  Expected<std::optional<LoadedUnit>, SystemError> Load(
      const std::string& name) const;
  // Unit names with this suffix (".socket") in any directory, templates
  // ("foo@.socket") excluded.
  std::vector<std::string> List(std::string_view suffix) const;
  // Entries of NAME.wants/ and NAME.requires/ in any directory.
  std::vector<std::string> WantedBy(const std::string& name) const;
  // The root-prefixed path of a system path.
  std::string Host(const std::string& system_path) const;

 private:
  Expected<bool, SystemError> LoadFragment(const std::string& name,
                                           const std::string& template_name,
                                           LoadedUnit* unit) const;
  Expected<void, SystemError> LoadDropIns(
      const std::vector<std::string>& dropin_dirs, LoadedUnit* unit) const;

  std::string root_;
};

// systemd time span ("0", "10s", "5min", "1h 30min", "100ms", "infinity");
// a bare number is seconds. nullopt when it is not one.
std::optional<std::chrono::microseconds> ParseTimeSpan(std::string_view text);

// A systemd boolean ("yes", "on", "1", "true", ... and their negations).
std::optional<bool> ParseSystemdBool(std::string_view text);
// "1min 30s" style, for messages: "90s", "5min", "infinity".
std::string FormatSpan(std::chrono::microseconds span);
// "/etc/systemd/system/x.service:3" and "Key=value", for messages.
std::string Where(const UnitEntry& entry);
std::string Assignment(const UnitEntry& entry);
bool EndsWith(std::string_view text, std::string_view suffix);
// Reads a whole file, or says why not (naming `shown`, with errno).
Expected<std::string, SystemError> ReadFile(const std::string& host_path,
                                            const std::string& shown);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DOCTOR_UNIT_FILES_H_
