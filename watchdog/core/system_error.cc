#include "watchdog/core/system_error.h"

#include <cerrno>
#include <cstring>
#include <utility>

namespace watchdog {

SystemError SystemError::FromErrno(std::string context) {
  return FromErrno(errno, std::move(context));
}

SystemError SystemError::FromErrno(int errno_value, std::string context) {
  return {errno_value, std::move(context)};
}

SystemError SystemError::From(const std::system_error& error,
                              const std::string& prefix) {
  std::string what = error.what();
  const std::string suffix = ": " + error.code().message();
  if (what.size() >= suffix.size() && what.ends_with(suffix)) {
    what.resize(what.size() - suffix.size());
    return {error.code().value(), prefix + what};
  }
  return {0, prefix + what};
}

std::string SystemError::ToString() const {
  if (errno_value == 0) return context;
  return context + ": " + std::strerror(errno_value);
}

}  // namespace watchdog
