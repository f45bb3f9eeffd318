#include "watchdog/doctor/unit_files.h"

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

#include "watchdog/core/text.h"

namespace watchdog {
namespace {

namespace fs = std::filesystem;
using std::chrono::microseconds;

// systemd's WHITESPACE: space, tab, newline, carriage return.
constexpr std::string_view kUnitWhitespace = " \t\n\r";

std::string_view TrimUnit(std::string_view text) {
  return Trim(text, kUnitWhitespace);
}

}  // namespace

std::optional<bool> ParseSystemdBool(std::string_view text) {
  std::string v(TrimUnit(text));
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

std::string FormatSpan(microseconds span) {
  if (span == microseconds::max()) return "infinity";
  const int64_t us = span.count();
  if (us == 0) return "0";
  if (us % 3600000000 == 0) return std::to_string(us / 3600000000) + "h";
  if (us % 60000000 == 0) return std::to_string(us / 60000000) + "min";
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + "s";
  return std::to_string(us / 1000) + "ms";
}

Expected<std::string, SystemError> ReadFile(const std::string& host_path,
                                            const std::string& shown) {
  std::ifstream in(host_path, std::ios::binary);
  if (!in) return SystemError::FromErrno("cannot read " + shown);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return SystemError::FromErrno("cannot read " + shown);
  return text.str();
}

std::vector<UnitEntry> ParseUnitText(std::string_view text,
                                     const std::string& file) {
  std::vector<UnitEntry> entries;
  std::string section;
  auto process = [&](std::string_view line, int line_no) {
    line = TrimUnit(line);
    if (line.empty()) return;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      return;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos || section.empty()) return;
    entries.push_back({section, std::string(TrimUnit(line.substr(0, eq))),
                       std::string(TrimUnit(line.substr(eq + 1))), file,
                       line_no});
  };
  bool continuing = false;
  std::string pending;  // a continued line so far
  int pending_line = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = TrimUnit(text.substr(pos, end - pos));
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

namespace {

// NAME.TYPE, and its template (foo@.service for foo@bar.service).
struct UnitName {
  std::string name;
  std::string type;
  std::string base;
  std::string template_name;  // empty: not an instance
  size_t at = std::string::npos;
};

std::optional<UnitName> SplitUnitName(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return std::nullopt;
  UnitName n{name, name.substr(dot + 1), name.substr(0, dot), "", 0};
  n.at = n.base.find('@');
  if (n.at != std::string::npos && n.at + 1 < n.base.size()) {
    n.template_name = n.base.substr(0, n.at + 1) + "." + n.type;
  }
  return n;
}

// Drop-in directory names, least specific first: TYPE.d, PREFIX-.TYPE.d,
// TEMPLATE@.TYPE.d, NAME.d.
std::vector<std::string> DropInDirs(const UnitName& n) {
  std::vector<std::string> dirs = {n.type + ".d"};
  for (size_t dash = n.base.find('-'); dash != std::string::npos;
       dash = n.base.find('-', dash + 1)) {
    if (n.at != std::string::npos && dash > n.at) break;
    dirs.push_back(n.base.substr(0, dash + 1) + "." + n.type + ".d");
  }
  if (!n.template_name.empty()) dirs.push_back(n.template_name + ".d");
  dirs.push_back(n.name + ".d");
  return dirs;
}

}  // namespace

// The first fragment in search-path order (an instance falls back to its
// template): whether there is one, or why its file cannot be read.
Expected<bool, SystemError> UnitTree::LoadFragment(
    const std::string& name, const std::string& template_name,
    LoadedUnit* unit) const {
  std::error_code ec;
  bool found = false;
  for (const std::string& candidate : {name, template_name}) {
    if (candidate.empty() || found) continue;
    for (const std::string& dir : UnitSearchPath()) {
      std::string path = dir + "/" + candidate;
      if (!fs::exists(fs::symlink_status(Host(path), ec))) continue;
      found = true;
      const std::string link = path;
      const Resolved resolved = Resolve(*this, &path);
      if (resolved == Resolved::kMasked) {
        unit->masked = true;
        unit->fragment = link;
      } else if (resolved == Resolved::kFile) {  // kMissing: dangling, skipped
        auto text = ReadFile(Host(path), link);
        if (!text) return std::move(text).error();
        unit->fragment = link;
        unit->fragment_file = path;
        if (TrimUnit(*text).empty()) unit->masked = true;
        unit->entries = ParseUnitText(*text, link);
      }
      break;
    }
  }
  return found;
}

// A file name in a higher-priority directory hides the same name below it;
// all apply sorted by file name. An error when one cannot be read.
Expected<void, SystemError> UnitTree::LoadDropIns(
    const std::vector<std::string>& dropin_dirs, LoadedUnit* unit) const {
  std::error_code ec;
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
    auto text = ReadFile(Host(path), link);
    if (!text) return std::move(text).error();
    unit->dropins.push_back(link);
    for (UnitEntry& e : ParseUnitText(*text, link)) {
      unit->entries.push_back(std::move(e));
    }
  }
  return {};
}

Expected<std::optional<LoadedUnit>, SystemError> UnitTree::Load(
    const std::string& name) const {
  const std::optional<UnitName> split = SplitUnitName(name);
  if (!split) return SystemError::Problem("not a unit name: " + name);
  LoadedUnit unit;
  unit.name = name;
  auto found = LoadFragment(name, split->template_name, &unit);
  if (!found) return std::move(found).error();
  if (auto dropins = LoadDropIns(DropInDirs(*split), &unit); !dropins) {
    return std::move(dropins).error();
  }
  if (!*found && unit.dropins.empty()) return std::optional<LoadedUnit>();
  return std::optional(std::move(unit));
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
  text = TrimUnit(text);
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

}  // namespace watchdog
