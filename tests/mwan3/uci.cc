#include "tests/mwan3/uci.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mwan3 {

std::string UciSection::Get(const std::string& key,
                            const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

int UciSection::GetInt(const std::string& key, int fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  char* end = nullptr;
  long value = std::strtol(it->second.c_str(), &end, 0);
  return end == it->second.c_str() ? fallback : static_cast<int>(value);
}

bool UciSection::GetBool(const std::string& key, bool fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  const std::string& v = it->second;
  if (v == "1" || v == "yes" || v == "on" || v == "true" || v == "enabled") {
    return true;
  }
  if (v == "0" || v == "no" || v == "off" || v == "false" || v == "disabled") {
    return false;
  }
  return fallback;
}

std::vector<std::string> UciSection::List(const std::string& key) const {
  auto it = lists.find(key);
  return it == lists.end() ? std::vector<std::string>{} : it->second;
}

std::vector<const UciSection*> UciFile::OfType(const std::string& type) const {
  std::vector<const UciSection*> out;
  for (const auto& s : sections) {
    if (s.type == type) out.push_back(&s);
  }
  return out;
}

const UciSection* UciFile::Find(const std::string& name) const {
  for (const auto& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

namespace {

// Splits a line into words: bare, '...' or "..." (no escapes inside '...',
// backslash escapes inside "..."). False on an unterminated quote.
bool SplitWords(const std::string& line, std::vector<std::string>* words) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size() || line[i] == '#') break;
    std::string word;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      const char c = line[i];
      if (c == '\'' || c == '"') {
        const size_t close = line.find(c, i + 1);
        if (close == std::string::npos) return false;
        for (size_t j = i + 1; j < close; ++j) {
          if (c == '"' && line[j] == '\\' && j + 1 < close) ++j;
          word += line[j];
        }
        i = close + 1;
      } else {
        word += c;
        ++i;
      }
    }
    words->push_back(word);
  }
  return true;
}

}  // namespace

std::optional<UciFile> ParseUci(const std::string& text,
                                const std::string& origin, std::string* error) {
  UciFile file;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  auto fail = [&](const std::string& what) {
    *error = origin + ":" + std::to_string(number) + ": " + what;
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    ++number;
    std::vector<std::string> words;
    if (!SplitWords(line, &words)) return fail("unterminated quote");
    if (words.empty()) continue;
    const std::string& keyword = words[0];
    if (keyword == "config") {
      if (words.size() < 2 || words.size() > 3) {
        return fail("want: config TYPE [NAME]");
      }
      UciSection section;
      section.type = words[1];
      section.name = words.size() == 3
                         ? words[2]
                         : "cfg" + std::to_string(file.sections.size());
      file.sections.push_back(std::move(section));
    } else if (keyword == "option" || keyword == "list") {
      if (file.sections.empty()) return fail(keyword + " before any config");
      if (words.size() != 3) return fail("want: " + keyword + " KEY VALUE");
      UciSection& section = file.sections.back();
      if (keyword == "option") {
        section.options[words[1]] = words[2];
      } else {
        section.lists[words[1]].push_back(words[2]);
      }
    } else if (keyword != "package") {
      return fail("unknown keyword '" + keyword + "'");
    }
  }
  return file;
}

std::optional<UciFile> ReadUciFile(const std::string& path,
                                   std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot read";
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseUci(text.str(), path, error);
}

}  // namespace mwan3
