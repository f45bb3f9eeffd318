#include "watchdog/daemon/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "netlink/unique_fd.h"

namespace watchdog {
namespace {

SystemError ErrnoError(const std::string& what, const std::string& path) {
  return SystemError::FromErrno(what + " " + path);
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The directory of `path`, opened (following symlinks on the way: /var/run
// is one on most systems) and checked, or why not.
Expected<netlink::UniqueFd, SystemError> OpenTrustedDirectory(
    const std::string& path) {
  const std::string dir = ParentDir(path);
  netlink::UniqueFd dir_fd(
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return ErrnoError("opening directory", dir);
  if (auto trusted = CheckTrustedDirectory(dir_fd.get(), dir); !trusted) {
    return std::move(trusted).error();
  }
  return dir_fd;
}

// Creates `name` in `dir_fd` for writing, exclusively and never through a
// symlink. The directory is trusted, so a file already there is a leftover
// of ours (a crash between create and rename): it is removed, once.
netlink::UniqueFd CreateExclusively(int dir_fd, const std::string& name) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  netlink::UniqueFd fd(openat(dir_fd, name.c_str(), kFlags, 0644));
  if (!fd && errno == EEXIST && unlinkat(dir_fd, name.c_str(), 0) == 0) {
    fd.Reset(openat(dir_fd, name.c_str(), kFlags, 0644));
  }
  return fd;
}

Expected<void, SystemError> WriteAll(int fd, const std::string& content,
                                     const std::string& path) {
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("writing", path);
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return ErrnoError("syncing", path);
  return {};
}

}  // namespace

Expected<void, SystemError> CheckTrustedDirectory(int dir_fd,
                                                  const std::string& dir) {
  struct stat st {};
  if (fstat(dir_fd, &st) != 0) return ErrnoError("checking directory", dir);
  if (!S_ISDIR(st.st_mode)) {
    return SystemError::Problem("directory " + dir + " is not a directory");
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return SystemError::Problem(
        "directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
        ", not by root or us: its owner could plant files there");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return SystemError::Problem(
        "directory " + dir + " is writable by other users (mode " +
        Octal(st.st_mode) + "): they could plant files there");
  }
  return {};
}

Expected<void, SystemError> WriteFileAtomically(const std::string& path,
                                                const std::string& content) {
  const std::string dir = ParentDir(path);
  // Like `mkdir -p` for the last level only: /run/tswatchdog under systemd's
  // RuntimeDirectory or procd exists already; in the foreground it may not.
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("creating directory", dir);
  }
  auto dir_fd = OpenTrustedDirectory(path);
  if (!dir_fd) return std::move(dir_fd).error();
  const int at = dir_fd->get();
  const std::string name = BaseName(path);
  const std::string tmp = name + ".tmp." + std::to_string(getpid());
  const std::string tmp_path = dir + "/" + tmp;
  {
    netlink::UniqueFd fd = CreateExclusively(at, tmp);
    if (!fd) return ErrnoError("creating", tmp_path);
    if (auto written = WriteAll(fd.get(), content, tmp_path); !written) {
      unlinkat(at, tmp.c_str(), 0);
      return written;
    }
  }
  if (renameat(at, tmp.c_str(), at, name.c_str()) != 0) {
    SystemError error = ErrnoError("renaming to", path);
    unlinkat(at, tmp.c_str(), 0);
    return error;
  }
  return {};
}

namespace {

// Whether the file `name` in `dir_fd`, seen as `st`, is one the daemon may
// replace (see CheckOutputPath).
Expected<void, SystemError> CheckOutputFile(
    int dir_fd, const std::string& name, const struct stat& st,
    const std::string& path, bool (*is_ours)(const std::string& content)) {
  if (!S_ISREG(st.st_mode)) {
    return SystemError::Problem(path + " exists and is " +
                                (S_ISDIR(st.st_mode)   ? "a directory"
                                 : S_ISLNK(st.st_mode) ? "a symlink"
                                 : S_ISFIFO(st.st_mode)
                                     ? "a FIFO"
                                     : "not a regular file") +
                                "; name a file the daemon may replace");
  }
  if (st.st_uid != geteuid()) {
    return SystemError::Problem(
        path + " exists and belongs to uid " + std::to_string(st.st_uid) +
        ", not to us; name a file the daemon may replace");
  }
  netlink::UniqueFd fd(openat(dir_fd, name.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  std::string content(64 * 1024, '\0');
  const ssize_t n = fd ? read(fd.get(), content.data(), content.size()) : -1;
  if (n < 0) return ErrnoError("reading", path);
  content.resize(static_cast<size_t>(n));
  if (!content.empty() && !is_ours(content)) {
    return SystemError::Problem(
        path +
        " exists and is not tswatchdog's; name a file the daemon may "
        "replace");
  }
  return {};
}

}  // namespace

Expected<void, SystemError> CheckOutputPath(
    const std::string& path, bool (*is_ours)(const std::string& content)) {
  const std::string dir = ParentDir(path);
  netlink::UniqueFd dir_fd(
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    // A directory that does not exist yet is created, and so ours.
    if (errno == ENOENT) return {};
    return ErrnoError("opening directory", dir);
  }
  if (auto trusted = CheckTrustedDirectory(dir_fd.get(), dir); !trusted) {
    return trusted;
  }
  const std::string name = BaseName(path);
  struct stat st {};
  if (fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return ErrnoError("checking", path);
  }
  return CheckOutputFile(dir_fd.get(), name, st, path, is_ours);
}

bool LooksLikeStateFile(const std::string& content) {
  // nlohmann::json sorts keys: "pid" and "state" come before the long parts.
  return content.starts_with("{") &&
         content.find("\"pid\":") != std::string::npos &&
         content.find("\"state\":") != std::string::npos;
}

bool LooksLikeMetricsFile(const std::string& content) {
  return content.starts_with("# HELP tswatchdog_");
}

std::string StaleCopyPath(const std::string& path) { return path + ".stale"; }

Expected<bool, SystemError> SetAsideStale(const std::string& path) {
  auto dir_fd = OpenTrustedDirectory(path);
  if (!dir_fd) return std::move(dir_fd).error();
  const int at = dir_fd->get();
  const std::string name = BaseName(path);
  struct stat st {};
  if (fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoError("checking", path);
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    return SystemError::Problem(path + " is not a file of ours; left alone");
  }
  const std::string stale = BaseName(StaleCopyPath(path));
  if (renameat(at, name.c_str(), at, stale.c_str()) != 0) {
    return ErrnoError("renaming", path);
  }
  return true;
}

Expected<nlohmann::json, SystemError> ReadStateFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoError("reading", path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json parsed =
      nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return SystemError::Problem(path +
                                ": not a tswatchdog state file (invalid JSON)");
  }
  return parsed;
}

std::string FormatWallTime(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()) % 1000;
  const std::time_t t = system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms.count()));
  return buf;
}

std::string FormatAgo(std::chrono::milliseconds elapsed) {
  using namespace std::chrono;
  if (elapsed < milliseconds(0)) elapsed = milliseconds(0);
  if (elapsed < seconds(1)) return std::to_string(elapsed.count()) + "ms";
  long long s = duration_cast<seconds>(elapsed).count();
  const long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  s %= 60;
  std::string out;
  if (d) out += std::to_string(d) + "d";
  if (h) out += std::to_string(h) + "h";
  if (m && !d) out += std::to_string(m) + "m";
  if ((s || out.empty()) && !d && !h) out += std::to_string(s) + "s";
  return out;
}

}  // namespace watchdog
