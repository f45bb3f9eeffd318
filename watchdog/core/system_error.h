// What the host refused, as an error value (core/expected.h): systemd's
// idiom, errno where a system call failed and always the context, what was
// being done and to what ("writing /run/tswatchdog/state.json.tmp.42"). A
// check of the host that found a problem without a failed call (a
// directory others can write, a unit file that is no unit name) has errno 0
// and says it all in its context. The daemon's files and notify socket, the
// kernel dumps it reads, and doctor's unit files share this one type.
#ifndef TSWATCHDOG_WATCHDOG_CORE_SYSTEM_ERROR_H_
#define TSWATCHDOG_WATCHDOG_CORE_SYSTEM_ERROR_H_

#include <string>
#include <system_error>
#include <utility>

namespace watchdog {

struct SystemError {
  int errno_value = 0;  // 0: not a failed system call
  std::string context;  // what failed on what, e.g. "opening directory /run/x"

  // `context` with errno as it is now (call it right after the failed call).
  static SystemError FromErrno(std::string context);
  static SystemError FromErrno(int errno_value, std::string context);
  // A problem found without a failed call.
  static SystemError Problem(std::string context) {
    return {0, std::move(context)};
  }
  // A thrown std::system_error, its what() after `prefix` (the errno text
  // that what() ends with is not repeated).
  static SystemError From(const std::system_error& error,
                          const std::string& prefix);

  // "context: strerror(errno)", or the context alone when errno is 0.
  std::string ToString() const;

  bool operator==(const SystemError&) const = default;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_SYSTEM_ERROR_H_
