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
//
// The daemon runs as root and writes where its config says, so it writes
// only in a directory no one else can write: owned by root or by the
// daemon's user, not group- or world-writable (TrustedDirectoryProblem).
// The temporary file is created exclusively and never through a symlink
// (O_EXCL | O_NOFOLLOW), so nothing planted in its place is followed,
// truncated or blocked on (a FIFO); every step works on the directory that
// was checked (openat/renameat), not on a path looked up again.
std::optional<std::string> WriteFileAtomically(const std::string& path,
                                               const std::string& content);

// Why the directory open as `dir_fd` (named `dir` in the message) is not safe
// to write in, or nullopt when it is: a directory owned by root or by us
// that no other user can write to.
std::optional<std::string> TrustedDirectoryProblem(int dir_fd,
                                                   const std::string& dir);

// Checked when the config is loaded, for state_file and metrics_file: why
// `path` is no file the daemon may replace, or nullopt. An existing `path`
// must be a regular file (not a directory, symlink, FIFO, device) owned by
// us whose content `is_ours` recognizes (an empty file counts as ours); an
// existing directory must pass TrustedDirectoryProblem.
std::optional<std::string> OutputPathProblem(
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
// symlink. Returns why not, or nullopt; `*moved` says whether there was a
// file to move.
std::optional<std::string> SetAsideStale(const std::string& path, bool* moved);

// Reads and parses a state file. On failure returns nullopt and sets `error`.
std::optional<nlohmann::json> ReadStateFile(const std::string& path,
                                            std::string* error);

// "2026-11-22T05:05:25.067Z"
std::string FormatWallTime(std::chrono::system_clock::time_point time);
// "3m12s", "2h5m", "850ms"
std::string FormatAgo(std::chrono::milliseconds elapsed);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_DAEMON_STATE_FILE_H_
