// A reader for OpenWrt's UCI config files (/etc/config/*), as much of the
// syntax as mwan3's and netifd's configs use: `config TYPE ['NAME']`,
// `option KEY 'VALUE'`, `list KEY 'VALUE'`, `#` comments, values quoted with
// '...' or "..." or bare words. Pure: text in, sections out.
#ifndef TSWATCHDOG_TESTS_MWAN3_UCI_H_
#define TSWATCHDOG_TESTS_MWAN3_UCI_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mwan3 {

struct UciSection {
  std::string type;  // "interface", "member", ...
  std::string name;  // "wan"; anonymous sections get "cfgNN" like uci does
  std::map<std::string, std::string> options;
  std::map<std::string, std::vector<std::string>> lists;

  std::string Get(const std::string& key, const std::string& fallback) const;
  int GetInt(const std::string& key, int fallback) const;
  // UCI booleans: 1/yes/on/true/enabled and 0/no/off/false/disabled.
  bool GetBool(const std::string& key, bool fallback) const;
  std::vector<std::string> List(const std::string& key) const;
};

struct UciFile {
  std::vector<UciSection> sections;  // in file order

  std::vector<const UciSection*> OfType(const std::string& type) const;
  const UciSection* Find(const std::string& name) const;
};

// Parses `text`; on a syntax error returns nullopt and sets `error` to
// "FILE:LINE: what" (FILE is `origin`).
std::optional<UciFile> ParseUci(const std::string& text,
                                const std::string& origin, std::string* error);
// Reads and parses a file; errors as above (or "FILE: cannot read").
std::optional<UciFile> ReadUciFile(const std::string& path, std::string* error);

}  // namespace mwan3

#endif  // TSWATCHDOG_TESTS_MWAN3_UCI_H_
