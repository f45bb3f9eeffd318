#include "watchdog/doctor/doctor.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace watchdog {
namespace {

namespace fs = std::filesystem;
using std::chrono::microseconds;

constexpr char kTailscaled[] = "tailscaled.service";
constexpr char kTswatchdog[] = "tswatchdog.service";
constexpr char kEtcUnitDir[] = "/etc/systemd/system";
// A unit ordered before one of these and after tailscaled.service (which has
// default dependencies, so it is after basic.target) is in a cycle.
constexpr std::string_view kEarlyTargets[] = {"sockets.target", "basic.target",
                                              "sysinit.target"};

std::string_view Trim(std::string_view s) {
  const char* ws = " \t\r\n";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string v(Trim(text));
  std::transform(v.begin(), v.end(), v.begin(), ::tolower);
  if (v == "1" || v == "yes" || v == "y" || v == "true" || v == "t" ||
      v == "on")
    return true;
  if (v == "0" || v == "no" || v == "n" || v == "false" || v == "f" ||
      v == "off")
    return false;
  return std::nullopt;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.substr(s.size() - suffix.size()) == suffix;
}

std::string Where(const UnitEntry& e) {
  return e.file + ":" + std::to_string(e.line);
}

std::string Assignment(const UnitEntry& e) { return e.key + "=" + e.value; }

// "1min 30s" for messages.
std::string FormatSpan(microseconds span) {
  if (span == microseconds::max()) return "infinity";
  const int64_t us = span.count();
  if (us == 0) return "0";
  if (us % 3600000000 == 0) return std::to_string(us / 3600000000) + "h";
  if (us % 60000000 == 0) return std::to_string(us / 60000000) + "min";
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + "s";
  return std::to_string(us / 1000) + "ms";
}

// Reads a whole file; false with `error` naming the file and errno text.
bool ReadFile(const std::string& host_path, const std::string& shown,
              std::string* out, std::string* error) {
  std::ifstream in(host_path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + shown + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + shown + ": " + std::strerror(errno);
    return false;
  }
  *out = text.str();
  return true;
}

}  // namespace

std::vector<UnitEntry> ParseUnitText(std::string_view text,
                                     const std::string& file) {
  std::vector<UnitEntry> entries;
  std::string section;
  auto process = [&](std::string_view line, int line_no) {
    line = Trim(line);
    if (line.empty()) return;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      return;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos || section.empty()) return;
    entries.push_back({section, std::string(Trim(line.substr(0, eq))),
                       std::string(Trim(line.substr(eq + 1))), file, line_no});
  };
  bool continuing = false;
  std::string pending;  // a continued line so far
  int pending_line = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    const bool comment =
        !line.empty() && (line.front() == '#' || line.front() == ';');
    if (comment || (!continuing && line.empty())) continue;
    const bool continues = !line.empty() && line.back() == '\\';
    if (continues) line.remove_suffix(1);
    if (!continuing) {
      pending.clear();
      pending_line = line_no;
    }
    pending += std::string(line);
    continuing = continues;
    if (continuing) {
      pending += ' ';
      continue;
    }
    process(pending, pending_line);
  }
  if (continuing) process(pending, pending_line);
  return entries;
}

const UnitEntry* LoadedUnit::Last(std::string_view section,
                                  std::string_view key) const {
  const UnitEntry* last = nullptr;
  for (const UnitEntry& e : entries) {
    if (e.section == section && e.key == key) {
      last = e.value.empty() ? nullptr : &e;
    }
  }
  return last;
}

std::vector<LoadedUnit::Item> LoadedUnit::List(std::string_view section,
                                               std::string_view key,
                                               bool split_words) const {
  std::vector<Item> items;
  for (const UnitEntry& e : entries) {
    if (e.section != section || e.key != key) continue;
    if (e.value.empty()) {
      items.clear();
      continue;
    }
    if (!split_words) {
      items.push_back({e.value, &e});
      continue;
    }
    std::istringstream words(e.value);
    for (std::string word; words >> word;) items.push_back({word, &e});
  }
  return items;
}

bool LoadedUnit::ListHas(std::string_view section, std::string_view key,
                         std::string_view word) const {
  for (const Item& item : List(section, key, true)) {
    if (item.value == word) return true;
  }
  return false;
}

bool LoadedUnit::IsDropIn(const std::string& file) const {
  return std::find(dropins.begin(), dropins.end(), file) != dropins.end();
}

const std::vector<std::string>& UnitSearchPath() {
  static const std::vector<std::string> kDirs = {
      "/etc/systemd/system", "/run/systemd/system",
      "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
      "/lib/systemd/system"};
  return kDirs;
}

UnitTree::UnitTree(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string UnitTree::Host(const std::string& system_path) const {
  return root_ == "/" ? system_path : root_ + system_path;
}

bool UnitTree::HasSystemd() const {
  std::error_code ec;
  for (const std::string& dir : UnitSearchPath()) {
    if (fs::is_directory(Host(dir), ec)) return true;
  }
  return false;
}

namespace {

enum class Resolved { kMissing, kFile, kMasked };

// Follows symlinks of a system path inside the root (an absolute target is
// taken relative to the root, as systemd in a chroot would see it).
Resolved Resolve(const UnitTree& tree, std::string* path) {
  for (int hops = 0; hops < 16; ++hops) {
    if (*path == "/dev/null") return Resolved::kMasked;
    std::error_code ec;
    const fs::file_status st = fs::symlink_status(tree.Host(*path), ec);
    if (ec || !fs::exists(st)) return Resolved::kMissing;
    if (!fs::is_symlink(st)) {
      return fs::is_regular_file(st) ? Resolved::kFile : Resolved::kMissing;
    }
    const fs::path target = fs::read_symlink(tree.Host(*path), ec);
    if (ec) return Resolved::kMissing;
    *path =
        (target.is_absolute() ? target : fs::path(*path).parent_path() / target)
            .lexically_normal()
            .string();
  }
  return Resolved::kMissing;
}

}  // namespace

std::optional<LoadedUnit> UnitTree::Load(const std::string& name,
                                         std::string* error) const {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) {
    *error = "not a unit name: " + name;
    return std::nullopt;
  }
  const std::string type = name.substr(dot + 1);
  const std::string base = name.substr(0, dot);
  std::string template_name;
  const size_t at = base.find('@');
  if (at != std::string::npos && at + 1 < base.size()) {
    template_name = base.substr(0, at + 1) + "." + type;
  }

  LoadedUnit unit;
  unit.name = name;
  std::error_code ec;
  bool found = false;
  for (const std::string& candidate : {name, template_name}) {
    if (candidate.empty() || found) continue;
    for (const std::string& dir : UnitSearchPath()) {
      std::string path = dir + "/" + candidate;
      if (!fs::exists(fs::symlink_status(Host(path), ec))) continue;
      found = true;
      const std::string link = path;
      switch (Resolve(*this, &path)) {
        case Resolved::kMasked:
          unit.masked = true;
          unit.fragment = link;
          break;
        case Resolved::kMissing:
          break;  // a dangling link: systemd skips it too
        case Resolved::kFile: {
          std::string text;
          if (!ReadFile(Host(path), link, &text, error)) return std::nullopt;
          unit.fragment = link;
          unit.fragment_file = path;
          if (Trim(text).empty()) unit.masked = true;
          unit.entries = ParseUnitText(text, link);
          break;
        }
      }
      break;
    }
  }

  // Drop-in directory names, least specific first.
  std::vector<std::string> dropin_dirs = {type + ".d"};
  for (size_t dash = base.find('-'); dash != std::string::npos;
       dash = base.find('-', dash + 1)) {
    if (at != std::string::npos && dash > at) break;
    dropin_dirs.push_back(base.substr(0, dash + 1) + "." + type + ".d");
  }
  if (!template_name.empty()) dropin_dirs.push_back(template_name + ".d");
  dropin_dirs.push_back(name + ".d");
  std::map<std::string, std::string> by_name;  // file name -> system path
  for (const std::string& dir : UnitSearchPath()) {
    for (const std::string& sub : dropin_dirs) {
      const std::string d = dir + "/" + sub;
      if (!fs::is_directory(Host(d), ec)) continue;
      for (const auto& item : fs::directory_iterator(Host(d), ec)) {
        const std::string file = item.path().filename().string();
        if (!EndsWith(file, ".conf")) continue;
        by_name.emplace(file, d + "/" + file);  // higher priority came first
      }
    }
  }
  for (const auto& [file, link] : by_name) {
    std::string path = link;
    if (Resolve(*this, &path) != Resolved::kFile) continue;  // masked
    std::string text;
    if (!ReadFile(Host(path), link, &text, error)) return std::nullopt;
    unit.dropins.push_back(link);
    for (UnitEntry& e : ParseUnitText(text, link)) {
      unit.entries.push_back(std::move(e));
    }
  }
  if (!found && unit.dropins.empty()) return std::nullopt;
  return unit;
}

std::vector<std::string> UnitTree::List(std::string_view suffix) const {
  std::set<std::string> names;
  std::error_code ec;
  for (const std::string& dir : UnitSearchPath()) {
    if (!fs::is_directory(Host(dir), ec)) continue;
    for (const auto& item : fs::directory_iterator(Host(dir), ec)) {
      const std::string file = item.path().filename().string();
      if (!EndsWith(file, suffix) || item.is_directory(ec)) continue;
      if (file.find("@.") != std::string::npos) continue;  // a template
      names.insert(file);
    }
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> UnitTree::WantedBy(const std::string& name) const {
  std::set<std::string> names;
  std::error_code ec;
  for (const std::string& dir : UnitSearchPath()) {
    for (const char* kind : {".wants", ".requires"}) {
      const std::string d = Host(dir + "/" + name + kind);
      if (!fs::is_directory(d, ec)) continue;
      for (const auto& item : fs::directory_iterator(d, ec)) {
        names.insert(item.path().filename().string());
      }
    }
  }
  return {names.begin(), names.end()};
}

std::optional<microseconds> ParseTimeSpan(std::string_view text) {
  text = Trim(text);
  if (text == "infinity") return microseconds::max();
  if (text.empty()) return std::nullopt;
  static const std::pair<std::string_view, int64_t> kUnits[] = {
      {"us", 1},
      {"usec", 1},
      {"ms", 1000},
      {"msec", 1000},
      {"s", 1000000},
      {"sec", 1000000},
      {"second", 1000000},
      {"seconds", 1000000},
      {"m", 60000000},
      {"min", 60000000},
      {"minute", 60000000},
      {"minutes", 60000000},
      {"h", 3600000000},
      {"hr", 3600000000},
      {"hour", 3600000000},
      {"hours", 3600000000},
      {"d", 86400000000},
      {"day", 86400000000},
      {"days", 86400000000},
      {"w", 604800000000},
      {"week", 604800000000},
      {"weeks", 604800000000}};
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    size_t digits = i;
    while (digits < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[digits])) ||
            text[digits] == '.'))
      ++digits;
    if (digits == i) return std::nullopt;
    const std::string digits_text(text.substr(i, digits - i));
    char* parsed_end = nullptr;
    const double number = std::strtod(digits_text.c_str(), &parsed_end);
    if (parsed_end != digits_text.c_str() + digits_text.size()) {
      return std::nullopt;  // "." or "1.2.3"
    }
    size_t unit_end = digits;
    while (unit_end < text.size() &&
           std::isalpha(static_cast<unsigned char>(text[unit_end])))
      ++unit_end;
    const std::string_view unit = text.substr(digits, unit_end - digits);
    int64_t scale = unit.empty() ? 1000000 : 0;
    for (const auto& [name, us] : kUnits) {
      if (unit == name) scale = us;
    }
    if (scale == 0) return std::nullopt;
    total += static_cast<int64_t>(number * static_cast<double>(scale));
    i = unit_end;
  }
  return microseconds(total);
}

std::optional<std::string> FindTailscaleAddress(std::string_view text) {
  std::string token;
  auto check = [](std::string t) -> std::optional<std::string> {
    if (t.empty()) return std::nullopt;
    if (t.front() == '[') {  // [v6]:port
      const size_t close = t.find(']');
      if (close == std::string::npos) return std::nullopt;
      t = t.substr(1, close - 1);
    } else if (std::count(t.begin(), t.end(), ':') == 1) {  // v4:port
      t = t.substr(0, t.find(':'));
    }
    if (const size_t slash = t.find('/'); slash != std::string::npos) {
      t = t.substr(0, slash);
    }
    if (const size_t pct = t.find('%'); pct != std::string::npos) {
      t = t.substr(0, pct);
    }
    unsigned char bytes[16];
    if (inet_pton(AF_INET, t.c_str(), bytes) == 1) {
      if (bytes[0] == 100 && (bytes[1] & 0xc0) == 64) return t;
    } else if (inet_pton(AF_INET6, t.c_str(), bytes) == 1) {
      static const unsigned char kPrefix[6] = {0xfd, 0x7a, 0x11,
                                               0x5c, 0xa1, 0xe0};
      if (std::memcmp(bytes, kPrefix, 6) == 0) return t;
    }
    return std::nullopt;
  };
  for (char c : std::string(text) + " ") {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' ||
        c == ',' || c == '=' || c == ';') {
      if (auto found = check(token)) return found;
      token.clear();
    } else {
      token += c;
    }
  }
  return std::nullopt;
}

namespace {

std::string DropInPath(const std::string& unit, std::string_view file) {
  return std::string(kEtcUnitDir) + "/" + unit + ".d/" + std::string(file);
}

// Sets a single-valued setting: edit the drop-in that sets it last (a new
// drop-in sorting before it would lose), else a new drop-in.
void SetScalar(const LoadedUnit& unit, const UnitEntry* last,
               const std::string& section, const std::string& key,
               const std::string& value, std::string_view dropin,
               Finding* finding) {
  if (last != nullptr && unit.IsDropIn(last->file)) {
    finding->steps.push_back("in " + Where(*last) + " change `" +
                             Assignment(*last) + "` to `" + key + "=" + value +
                             "`");
    return;
  }
  finding->files.push_back({DropInPath(unit.name, dropin),
                            "[" + section + "]\n" + key + "=" + value + "\n"});
}

std::string RestartOnIpStep(const DoctorInputs& in, const std::string& unit) {
  std::string list;
  for (const std::string& u : in.restart_on_ip) list += "\"" + u + "\", ";
  return "in " + in.config_path + " set `restart_on_ip = [" + list + "\"" +
         unit + "\"]` so tswatchdog restarts " + unit +
         " whenever the Tailscale address appears";
}

bool InRestartOnIp(const DoctorInputs& in, const std::string& unit) {
  for (const std::string& u : in.restart_on_ip) {
    if (u == unit || u + ".service" == unit) return true;
  }
  return false;
}

struct Manager {
  microseconds interval{std::chrono::seconds(10)};
  int burst = 5;
};

// DefaultStartLimit* from system.conf and system.conf.d (systemd's
// built-in 10s/5 otherwise).
Manager ManagerDefaults(const UnitTree& tree, std::string* error,
                        bool* failed) {
  Manager m;
  std::vector<std::string> files = {"/etc/systemd/system.conf"};
  std::error_code ec;
  std::set<std::string> dropins;
  for (const char* dir :
       {"/usr/lib/systemd/system.conf.d", "/etc/systemd/system.conf.d"}) {
    for (const auto& item : fs::directory_iterator(tree.Host(dir), ec)) {
      if (EndsWith(item.path().string(), ".conf")) {
        dropins.insert(std::string(dir) + "/" +
                       item.path().filename().string());
      }
    }
  }
  files.insert(files.end(), dropins.begin(), dropins.end());
  for (const std::string& file : files) {
    if (!fs::exists(tree.Host(file), ec)) continue;
    std::string text;
    if (!ReadFile(tree.Host(file), file, &text, error)) {
      *failed = true;
      return m;
    }
    for (const UnitEntry& e : ParseUnitText(text, file)) {
      if (e.section != "Manager") continue;
      if (e.key == "DefaultStartLimitIntervalSec") {
        if (auto span = ParseTimeSpan(e.value)) m.interval = *span;
      } else if (e.key == "DefaultStartLimitBurst") {
        m.burst = std::atoi(e.value.c_str());
      }
    }
  }
  return m;
}

class Doctor {
 public:
  Doctor(const DoctorInputs& in, const UnitTree& tree, DoctorReport* report)
      : in_(in), tree_(tree), report_(report) {}

  bool Run(std::string* error) {
    std::optional<LoadedUnit> tailscaled = tree_.Load(kTailscaled, error);
    if (!error->empty()) return false;
    if (!tailscaled || tailscaled->masked) {
      report_->notes.push_back(
          std::string(kTailscaled) +
          (tailscaled ? " is masked" : " not found") +
          ": tailscaled's ordering and start limits not checked");
      tailscaled.reset();
    } else {
      report_->notes.push_back("tailscaled.service: " +
                               (tailscaled->fragment.empty()
                                    ? std::string("(no fragment)")
                                    : tailscaled->fragment) +
                               Plural(tailscaled->dropins.size(), " drop-in"));
      CheckNetworkOnline(*tailscaled);
      if (!CheckStartLimits(*tailscaled, error)) return false;
    }
    if (!CheckBoundUnits(tailscaled ? &*tailscaled : nullptr, error)) {
      return false;
    }
    return CheckLocalApiAccess(tailscaled ? &*tailscaled : nullptr, error);
  }

 private:
  static std::string Plural(size_t n, const std::string& what) {
    return n == 0 ? "" : " + " + std::to_string(n) + what + (n > 1 ? "s" : "");
  }

  // DESIGN problem 2.
  void CheckNetworkOnline(const LoadedUnit& ts) {
    const bool after = ts.ListHas("Unit", "After", "network-online.target");
    const bool wants = ts.ListHas("Unit", "Wants", "network-online.target") ||
                       ts.ListHas("Unit", "Requires", "network-online.target");
    if (!after || !wants) {
      Finding f;
      f.id = "tailscaled-network-online";
      f.unit = kTailscaled;
      f.what = std::string(kTailscaled) + " is not ordered after " +
               "network-online.target (" +
               (after   ? "After= but no Wants="
                : wants ? "Wants= but no After="
                        : "neither Wants= nor After=") +
               ")";
      f.why =
          "at boot tailscaled can start before the uplink is configured "
          "(\"magicsock: SetNetworkUp(false)\", \"could not connect to any "
          "relay server\") and stay offline until it is restarted.";
      f.files.push_back({DropInPath(kTailscaled, kWaitOnlineDropInName),
                         std::string(kWaitOnlineDropIn)});
      f.commands.push_back("systemctl daemon-reload");
      report_->findings.push_back(std::move(f));
    }
    // network-online.target means something only with a wait-online service.
    const std::vector<std::string> providers =
        tree_.WantedBy("network-online.target");
    if (!providers.empty()) {
      std::string list;
      for (const auto& p : providers) list += (list.empty() ? "" : ", ") + p;
      report_->notes.push_back("network-online.target is reached through " +
                               list);
      return;
    }
    Finding f;
    f.id = "network-online-empty";
    f.unit = "network-online.target";
    f.what =
        "nothing is enabled in network-online.target (no wait-online service)";
    f.why =
        "the target is reached at once, so ordering tailscaled after it does "
        "not wait for the network and the boot race stays.";
    std::string candidate;
    std::string ignored;
    for (const char* name : {"NetworkManager-wait-online.service",
                             "systemd-networkd-wait-online.service",
                             "ifupdown-wait-online.service"}) {
      const std::string manager =
          std::string(name) == "NetworkManager-wait-online.service"
              ? "NetworkManager.service"
          : std::string(name) == "systemd-networkd-wait-online.service"
              ? "systemd-networkd.service"
              : "networking.service";
      if (candidate.empty() && tree_.Load(name, &ignored) &&
          tree_.Load(manager, &ignored)) {
        candidate = name;
      }
    }
    if (candidate.empty()) {
      f.steps.push_back(
          "enable the wait-online service of your network manager "
          "(NetworkManager-wait-online.service, "
          "systemd-networkd-wait-online.service or "
          "ifupdown-wait-online.service)");
    } else {
      f.commands.push_back("systemctl enable " + candidate);
    }
    report_->findings.push_back(std::move(f));
  }

  // Start limits: a crash loop when disabled with a fast Restart=, or a
  // limit tswatchdog's own restarts can run into.
  bool CheckStartLimits(const LoadedUnit& ts, std::string* error) {
    bool failed = false;
    const Manager defaults = ManagerDefaults(tree_, error, &failed);
    if (failed) return false;
    const UnitEntry* interval_entry = ts.Last("Unit", "StartLimitIntervalSec");
    if (interval_entry == nullptr) {
      interval_entry = ts.Last("Service", "StartLimitInterval");
    }
    const UnitEntry* burst_entry = ts.Last("Unit", "StartLimitBurst");
    if (burst_entry == nullptr) {
      burst_entry = ts.Last("Service", "StartLimitBurst");
    }
    microseconds interval = defaults.interval;
    if (interval_entry != nullptr) {
      if (auto span = ParseTimeSpan(interval_entry->value)) interval = *span;
    }
    int burst = defaults.burst;
    if (burst_entry != nullptr) burst = std::atoi(burst_entry->value.c_str());
    const UnitEntry* restart_entry = ts.Last("Service", "Restart");
    const std::string restart = restart_entry ? restart_entry->value : "no";
    const UnitEntry* restart_sec_entry = ts.Last("Service", "RestartSec");
    microseconds restart_sec{100000};  // systemd's default
    if (restart_sec_entry != nullptr) {
      if (auto span = ParseTimeSpan(restart_sec_entry->value)) {
        restart_sec = *span;
      }
    }
    const std::string limits = "StartLimitIntervalSec=" + FormatSpan(interval) +
                               ", StartLimitBurst=" + std::to_string(burst);
    if (interval.count() == 0 || burst <= 0) {
      if (restart != "no" && restart_sec < std::chrono::seconds(1)) {
        Finding f;
        f.id = "start-limit-disabled";
        f.unit = kTailscaled;
        const UnitEntry* culprit =
            (interval.count() == 0 ? interval_entry : burst_entry);
        f.what =
            std::string(kTailscaled) + " has its start limit disabled (" +
            (culprit ? "`" + Assignment(*culprit) + "` at " + Where(*culprit)
                     : limits) +
            ") with Restart=" + restart +
            " and RestartSec=" + FormatSpan(restart_sec);
        f.why =
            "a tailscaled that keeps failing at start (no network yet, a bad "
            "state file) is restarted every " +
            FormatSpan(restart_sec) +
            " for ever, flooding the journal and burning CPU, and never "
            "reaches the failed state that would make the problem visible.";
        SetScalar(ts, restart_sec_entry, "Service", "RestartSec", "5s",
                  "10-restart-delay.conf", &f);
        f.commands.push_back("systemctl daemon-reload");
        report_->findings.push_back(std::move(f));
      } else {
        report_->notes.push_back(
            "tailscaled's start limit is off but restarts are " +
            std::string(restart == "no" ? "off" : "spaced") +
            " (Restart=" + restart + ", RestartSec=" + FormatSpan(restart_sec) +
            "): no restart storm");
      }
      return true;
    }
    // Starts inside one window: the boot (or manual) start, one automatic
    // Restart=, and tswatchdog's restart steps: all of its hourly budget
    // for a window over a minute; at most one in a shorter one (a restart
    // comes only after a full ladder pass, minutes apart).
    const int ours = in_.ladder_has_restart ? in_.max_disruptive_per_hour : 0;
    const int needed =
        2 + (interval > std::chrono::seconds(60) ? ours : std::min(ours, 1));
    if (burst < needed) {
      Finding f;
      f.id = "start-limit-tight";
      f.unit = kTailscaled;
      f.what = std::string(kTailscaled) + " allows only " +
               std::to_string(burst) + " start" + (burst == 1 ? "" : "s") +
               " per " + FormatSpan(interval) + " (" +
               (burst_entry ? "`" + Assignment(*burst_entry) + "` at " +
                                  Where(*burst_entry)
                            : limits) +
               ")";
      f.why =
          "a start plus one automatic restart plus tswatchdog's restart "
          "step (up to " +
          std::to_string(ours) + " per hour, max_disruptive_per_hour) need " +
          std::to_string(needed) +
          " starts in that window; beyond the limit systemd refuses "
          "\"start request repeated too quickly\" and tailscaled stays "
          "down until `systemctl reset-failed tailscaled`.";
      SetScalar(ts, burst_entry, burst_entry ? burst_entry->section : "Unit",
                "StartLimitBurst", std::to_string(needed),
                "10-start-limit.conf", &f);
      f.commands.push_back("systemctl daemon-reload");
      report_->findings.push_back(std::move(f));
    } else {
      report_->notes.push_back("tailscaled's start limit " + limits +
                               " leaves room for tswatchdog's restarts");
    }
    return true;
  }

  // DESIGN problem 3: units bound to the Tailscale address, and units
  // ordered after tailscaled but before sockets.target (a cycle).
  bool CheckBoundUnits(const LoadedUnit* ts, std::string* error) {
    const bool ts_default_deps =
        ts != nullptr &&
        !(ts->Last("Unit", "DefaultDependencies") &&
          ParseBool(ts->Last("Unit", "DefaultDependencies")->value) == false);
    std::vector<std::string> names = tree_.List(".socket");
    for (const std::string& s : tree_.List(".service")) names.push_back(s);
    int bound = 0;
    std::set<std::string> seen;  // fragment files: an alias is one unit
    for (const std::string& name : names) {
      if (name == kTailscaled || name == kTswatchdog) continue;
      std::optional<LoadedUnit> unit = tree_.Load(name, error);
      if (!error->empty()) return false;
      if (!unit || unit->masked) continue;
      if (!unit->fragment_file.empty() &&
          !seen.insert(unit->fragment_file).second) {
        continue;
      }
      const bool socket = EndsWith(name, ".socket");
      const UnitEntry* dd = unit->Last("Unit", "DefaultDependencies");
      const bool default_deps = !(dd && ParseBool(dd->value) == false);
      std::string early;
      if (socket && default_deps) early = "sockets.target";
      for (std::string_view target : kEarlyTargets) {
        if (early.empty() && unit->ListHas("Unit", "Before", target)) {
          early = std::string(target);
        }
      }
      std::vector<LoadedUnit::Item> ts_deps;
      for (const char* key :
           {"After", "BindsTo", "Requires", "Requisite", "PartOf", "Wants"}) {
        for (auto& item : unit->List("Unit", key, true)) {
          if (item.value == kTailscaled) ts_deps.push_back(item);
        }
      }
      bool after_ts = false;
      bool binds_ts = false;
      for (const auto& item : ts_deps) {
        after_ts |= item.entry->key == "After";
        binds_ts |= item.entry->key == "BindsTo";
      }
      std::optional<std::string> address;
      std::vector<std::string> keys =
          socket ? std::vector<std::string>{"ListenStream", "ListenDatagram",
                                            "ListenSequentialPacket"}
                 : std::vector<std::string>{"ExecStart", "Environment"};
      for (const std::string& key : keys) {
        for (const auto& item :
             unit->List(socket ? "Socket" : "Service", key, false)) {
          if (!address) address = FindTailscaleAddress(item.value);
        }
      }
      if (address) ++bound;
      const UnitEntry* fb = unit->Last("Socket", "FreeBind");
      const bool freebind = socket && fb && ParseBool(fb->value) == true;
      const bool restarted = InRestartOnIp(in_, name);

      auto remove_deps = [&](Finding* f) {
        for (const auto& item : ts_deps) {
          const std::string what =
              item.entry->value == item.value
                  ? "remove `" + Assignment(*item.entry) + "`"
                  : "remove `" + item.value + "` from `" +
                        Assignment(*item.entry) + "`";
          f->steps.push_back(what + " at " + Where(*item.entry) +
                             (unit->IsDropIn(item.entry->file)
                                  ? ""
                                  : " (a vendor file: `systemctl edit "
                                    "--full " +
                                        name + "`)"));
        }
      };
      auto add_recovery = [&](Finding* f) {
        if (socket && address && !freebind) {
          f->files.push_back({DropInPath(name, kFreeBindDropInName),
                              std::string(kFreeBindDropIn)});
        }
        if (address && !restarted) {
          f->steps.push_back(RestartOnIpStep(in_, name));
        }
        f->commands.push_back("systemctl daemon-reload");
        if (address && !restarted) {
          f->commands.push_back("systemctl restart tswatchdog.service");
        }
        f->commands.push_back("systemctl restart " + name);
      };

      if (ts_default_deps && after_ts && !early.empty()) {
        Finding f;
        f.id = "ordering-cycle";
        f.unit = name;
        f.what = name + " is ordered after " + kTailscaled + " but before " +
                 early +
                 (early == "sockets.target" && socket
                      ? " (implicit for a socket unit)"
                      : "");
        f.why =
            std::string(kTailscaled) +
            " is itself ordered after basic.target, so this is an "
            "ordering cycle, and at boot systemd deletes one start job in it "
            "to break it: " +
            name + "'s, " + kTailscaled +
            "'s or sockets.target's (then no socket unit starts), a "
            "different one from boot to boot.";
        remove_deps(&f);
        add_recovery(&f);
        report_->findings.push_back(std::move(f));
        continue;
      }
      if (!address) continue;
      const bool safe = restarted || (socket && freebind && !binds_ts);
      if (safe) {
        report_->notes.push_back(
            name + " listens on " + *address + " and comes back (" +
            (restarted ? "restart_on_ip" : "FreeBind=yes") + ")");
        continue;
      }
      Finding f;
      f.id = "tailscale-address-unit";
      f.unit = name;
      f.what = name + (socket ? " listens on " : " uses ") +
               "the Tailscale address " + *address + " (" +
               (socket ? (binds_ts ? "BindsTo=" + std::string(kTailscaled)
                                   : "no FreeBind=yes")
                       : "ExecStart/Environment") +
               ") and is not in restart_on_ip";
      if (binds_ts) {
        f.why =
            "BindsTo= stops it whenever tailscaled stops or crashes, and "
            "nothing starts it again when tailscaled and its address come "
            "back.";
      } else if (socket) {
        f.why = "at boot it starts before tailscaled has assigned " + *address +
                ", the bind fails (EADDRNOTAVAIL) and the socket stays "
                "failed: nothing listens there until someone restarts it.";
      } else {
        f.why = "if it binds " + *address +
                " and starts before tailscaled has assigned it, the bind "
                "fails and nothing restarts it when the address appears.";
      }
      if (binds_ts) {
        remove_deps(&f);
      }
      add_recovery(&f);
      report_->findings.push_back(std::move(f));
    }
    if (bound == 0) {
      report_->notes.push_back(
          "no socket or service names a Tailscale address (100.64.0.0/10, "
          "fd7a:115c:a1e0::/48)");
    }
    return true;
  }

  // The LocalAPI grants write calls by peer uid: root, tailscaled's own
  // user, or the operator (`tailscale set --operator=USER`).
  bool CheckLocalApiAccess(const LoadedUnit* ts, std::string* error) {
    std::optional<LoadedUnit> wd = tree_.Load(kTswatchdog, error);
    if (!error->empty()) return false;
    std::string user;
    std::string source;
    const UnitEntry* user_entry = nullptr;
    bool dynamic = false;
    if (wd && !wd->masked) {
      user_entry = wd->Last("Service", "User");
      user = user_entry ? user_entry->value : "root";
      const UnitEntry* dyn = wd->Last("Service", "DynamicUser");
      dynamic = dyn && ParseBool(dyn->value) == true;
      if (dynamic && !user_entry) user = "(dynamic)";
      source = std::string(kTswatchdog) +
               (user_entry ? " (`" + Assignment(*user_entry) + "` at " +
                                 Where(*user_entry) + ")"
                           : std::string(dynamic ? " (DynamicUser=yes)"
                                                 : " (no User=)"));
    } else {
      user = in_.self_user;
      if (in_.self_uid == 0) user = "root";
      source = "this process (no tswatchdog.service; uid " +
               std::to_string(in_.self_uid) + ")";
    }
    const bool root = !dynamic && (user == "root" || user == "0");
    std::string ts_user = "root";
    if (ts != nullptr) {
      if (const UnitEntry* e = ts->Last("Service", "User")) ts_user = e->value;
    }
    const bool op = in_.operator_user && *in_.operator_user == user;
    // Connecting needs write permission on the socket (0666 on Linux); what
    // a peer may do is decided by tailscaled from its uid.
    for (const char* socket : {"/var/run/tailscale/tailscaled.sock",
                               "/run/tailscale/tailscaled.sock"}) {
      struct stat st {};
      if (stat(tree_.Host(socket).c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
        continue;
      }
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      report_->notes.push_back(
          std::string("LocalAPI socket ") + socket + ": mode " + mode +
          ((st.st_mode & S_IWOTH) ? ", any user can connect (writes need "
                                    "root, tailscaled's user or the operator)"
                                  : ", only its owner and group can connect"));
      break;
    }
    if (root || (!dynamic && (user == ts_user || op))) {
      report_->notes.push_back("tswatchdog runs as " + user + " per " + source +
                               ": the LocalAPI allows its write calls (" +
                               (root              ? "root"
                                : user == ts_user ? "tailscaled's user"
                                                  : "operator") +
                               ")");
      return true;
    }
    Finding f;
    f.id = "localapi-read-only";
    f.unit = kTswatchdog;
    f.what = "tswatchdog runs as " + user + " per " + source +
             ", which is neither root, tailscaled's user nor its operator" +
             (in_.operator_user
                  ? " (" + *in_.operator_user + ")"
                  : std::string(" (no operator given: --operator USER)"));
    f.why =
        "tailscaled grants the write calls tswatchdog recovers with (rebind, "
        "start, prefs) only to root, its own user and its operator, so every "
        "ladder step fails with 403 and tswatchdog can only watch.";
    if (dynamic) {
      f.steps.push_back(
          "run tswatchdog as root (its unit keeps it sandboxed with an empty "
          "capability bounding set): remove DynamicUser=yes");
    }
    if (wd && !wd->masked) {
      if (user_entry && wd->IsDropIn(user_entry->file)) {
        f.steps.push_back("run it as root: remove `" + Assignment(*user_entry) +
                          "` at " + Where(*user_entry));
      } else {
        f.files.push_back({DropInPath(kTswatchdog, "10-run-as-root.conf"),
                           "[Service]\nUser=\nDynamicUser=no\n"});
      }
      f.commands.push_back("systemctl daemon-reload");
      f.commands.push_back("systemctl restart tswatchdog.service");
    } else {
      f.steps.push_back("run `tswatchdog run` as root");
    }
    if (!dynamic) {
      f.steps.push_back(
          "or make " + user +
          " tailscaled's operator: `tailscale set --operator=" + user + "`");
    }
    report_->findings.push_back(std::move(f));
    return true;
  }

  const DoctorInputs& in_;
  const UnitTree& tree_;
  DoctorReport* report_;
};

}  // namespace

std::optional<DoctorReport> Diagnose(const DoctorInputs& inputs,
                                     std::string* error) {
  error->clear();
  UnitTree tree(inputs.root);
  DoctorReport report;
  report.root = tree.root();
  std::error_code ec;
  if (!fs::is_directory(tree.root(), ec)) {
    *error = "root " + inputs.root + " is not a directory";
    return std::nullopt;
  }
  if (!tree.HasSystemd()) {
    if (fs::exists(tree.Host("/etc/init.d/tailscale"), ec)) {
      report.system = DoctorReport::System::kOpenWrt;
      report.notes.push_back(
          "OpenWrt (procd, /etc/init.d/tailscale, no systemd): there are no "
          "unit files to check. procd starts tailscale (START=80) before "
          "tswatchdog (START=90), both as root; the late-uplink race is "
          "what tswatchdog itself handles, and restart_on_ip uses "
          "/etc/init.d/NAME restart.");
      return report;
    }
    *error = "no systemd unit directory (" + UnitSearchPath().front() +
             ", ...) and no /etc/init.d/tailscale under " + tree.root() +
             ": nothing to diagnose";
    return std::nullopt;
  }
  Doctor doctor(inputs, tree, &report);
  if (!doctor.Run(error)) return std::nullopt;
  return report;
}

std::string FormatReport(const DoctorReport& report) {
  std::string out;
  const std::string where = report.root == "/" ? "" : " under " + report.root;
  if (report.system == DoctorReport::System::kOpenWrt) {
    out += "tswatchdog doctor: OpenWrt" + where +
           ": nothing to check for units.\n";
  } else if (report.findings.empty()) {
    out += "tswatchdog doctor: no problems found in the systemd units" + where +
           ".\n";
  } else {
    const size_t n = report.findings.size();
    out += "tswatchdog doctor: " + std::to_string(n) + " problem" +
           (n == 1 ? "" : "s") + " in the systemd units" + where +
           (where.empty() ? "" : " (paths below as that system sees them)") +
           ".\n";
  }
  for (const Finding& f : report.findings) {
    out += "\n[" + f.id + "] " + f.what + "\n";
    out += "  why: " + f.why + "\n";
    const char* label = "  fix: ";
    auto line = [&](const std::string& text) {
      out += label + text + "\n";
      label = "       ";
    };
    for (const std::string& step : f.steps) line(step);
    for (const FixFile& file : f.files) {
      line("create " + file.path + ":");
      std::istringstream content(file.content);
      for (std::string l; std::getline(content, l);) {
        out += "         | " + l + "\n";
      }
    }
    for (const std::string& command : f.commands) line("run: " + command);
  }
  if (!report.notes.empty()) {
    out += "\nchecked:\n";
    for (const std::string& note : report.notes) out += "  - " + note + "\n";
  }
  return out;
}

nlohmann::json ReportJson(const DoctorReport& report) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : report.findings) {
    nlohmann::json files = nlohmann::json::array();
    for (const FixFile& file : f.files) {
      files.push_back({{"path", file.path}, {"content", file.content}});
    }
    findings.push_back(
        {{"id", f.id},
         {"unit", f.unit},
         {"what", f.what},
         {"why", f.why},
         {"fix",
          {{"steps", f.steps}, {"files", files}, {"commands", f.commands}}}});
  }
  return {
      {"root", report.root},
      {"system",
       report.system == DoctorReport::System::kOpenWrt ? "openwrt" : "systemd"},
      {"findings", findings},
      {"notes", report.notes}};
}

}  // namespace watchdog
