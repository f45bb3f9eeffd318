#include "watchdog/daemon/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "netlink/unique_fd.h"

namespace watchdog {
namespace {

std::string ErrnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::optional<std::string> WriteFileAtomically(const std::string& path,
                                               const std::string& content) {
  const std::string dir = ParentDir(path);
  // Like `mkdir -p` for the last level only: /run/tswatchdog under systemd's
  // RuntimeDirectory or procd exists already; in the foreground it may not.
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoText("creating directory", dir);
  }
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    netlink::UniqueFd fd(
        open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return ErrnoText("creating", tmp);
    size_t written = 0;
    while (written < content.size()) {
      ssize_t n =
          write(fd.get(), content.data() + written, content.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::string error = ErrnoText("writing", tmp);
        unlink(tmp.c_str());
        return error;
      }
      written += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) {
      std::string error = ErrnoText("syncing", tmp);
      unlink(tmp.c_str());
      return error;
    }
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string error = ErrnoText("renaming to", path);
    unlink(tmp.c_str());
    return error;
  }
  return std::nullopt;
}

std::string StaleCopyPath(const std::string& path) { return path + ".stale"; }

std::optional<nlohmann::json> ReadStateFile(const std::string& path,
                                            std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = ErrnoText("reading", path);
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json parsed =
      nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    *error = path + ": not a tswatchdog state file (invalid JSON)";
    return std::nullopt;
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
