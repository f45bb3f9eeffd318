// The state file: the running daemon's view as JSON, replaced atomically
// (write a temporary file, fsync, rename) on every transition, and read back by
// `tswatchdog status`. A failed write (disk full, read-only directory) is
// reported to the caller, who logs it and goes on.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace watchdog {

// Writes `content` to `path` atomically: readers see the old or the new file,
// never a partial one. Creates the parent directory if it is missing.
// Returns an error text (with errno text and the path) on failure.
std::optional<std::string> WriteFileAtomically(const std::string& path,
                                               const std::string& content);

// Where the daemon sets aside a file it can no longer replace (disk full,
// read-only directory): `path` + ".stale". `status` shows it as stale.
std::string StaleCopyPath(const std::string& path);

// Reads and parses a state file. On failure returns nullopt and sets `error`.
std::optional<nlohmann::json> ReadStateFile(const std::string& path,
                                            std::string* error);

// "2026-11-22T05:05:25.067Z"
std::string FormatWallTime(std::chrono::system_clock::time_point time);
// "3m12s", "2h5m", "850ms"
std::string FormatAgo(std::chrono::milliseconds elapsed);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_
