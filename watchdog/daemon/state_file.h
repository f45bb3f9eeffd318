// The state file: the running daemon's view as JSON, replaced atomically
// (write a temporary file, fsync, rename) on every transition, and read back by
// `tswatchdog status`. A failed write (disk full, read-only directory) is
// reported to the caller, who logs it and goes on.
#ifndef TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_
#define TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {

// Writes `content` to `path` atomically: readers see the old or the new file,
// never a partial one. Creates the parent directory if it is missing.
// The error has errno and the path on failure.
//
// The daemon runs as root and writes where its config says, so it writes
// only in a directory no one else can write: owned by root or by the
// daemon's user, not group- or world-writable (CheckTrustedDirectory).
// The temporary file is created exclusively and never through a symlink
// (O_EXCL | O_NOFOLLOW), so nothing planted in its place is followed,
// truncated or blocked on (a FIFO); every step works on the directory that
// was checked (openat/renameat), not on a path looked up again.
Expected<void, SystemError> WriteFileAtomically(const std::string& path,
                                                const std::string& content);

// Whether the directory open as `dir_fd` (named `dir` in the error) is safe
// to write in: a directory owned by root or by us that no other user can
// write to; the error says why not.
Expected<void, SystemError> CheckTrustedDirectory(int dir_fd,
                                                  const std::string& dir);

// Checked when the config is loaded, for state_file and metrics_file:
// whether `path` is a file the daemon may replace; the error says why not.
// An existing `path` must be a regular file (not a directory, symlink, FIFO,
// device) owned by us whose content `is_ours` recognizes (an empty file
// counts as ours); an existing directory must pass CheckTrustedDirectory.
Expected<void, SystemError> CheckOutputPath(
    const std::string& path, bool (*is_ours)(const std::string& content));

// Whether `content` is what WriteFileAtomically put in a state file (a JSON
// object with "state" and "pid"), and in a metrics file (tswatchdog's
// Prometheus text).
bool LooksLikeStateFile(const std::string& content);
bool LooksLikeMetricsFile(const std::string& content);

// Where the daemon sets aside a file it can no longer replace (disk full,
// read-only directory): `path` + ".stale". `status` shows it as stale.
std::string StaleCopyPath(const std::string& path);

// Renames `path` to StaleCopyPath(path), but only a regular file owned by us
// in a trusted directory: never someone else's file, a directory or a
// symlink. Returns whether there was a file to move, or why not.
Expected<bool, SystemError> SetAsideStale(const std::string& path);

// Reads and parses a state file, or says why it cannot.
Expected<nlohmann::json, SystemError> ReadStateFile(const std::string& path);

// "2026-11-22T05:05:25.067Z"
std::string FormatWallTime(std::chrono::system_clock::time_point time);
// "3m12s", "2h5m", "850ms"
std::string FormatAgo(std::chrono::milliseconds elapsed);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_
