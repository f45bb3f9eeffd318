#include "config/result.h"

namespace config {

std::string ConfigError::ToString() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) {
      out += ":" + std::to_string(line);
      if (column > 0) out += ":" + std::to_string(column);
    }
    out += ": ";
  }
  if (!flag.empty()) {
    out += flag + ": ";
  } else if (!key.empty()) {
    out += "key '" + key + "': ";
  }
  out += message;
  return out;
}

}  // namespace config
