#include "watchdog/daemon/mwan3_status.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <system_error>

#include "watchdog/core/expected.h"
#include "watchdog/core/system_error.h"

namespace watchdog {
namespace {

constexpr size_t kMaxConfig = 256 * 1024;
constexpr size_t kMaxStatus = 256;

// A small file read whole (nullopt: there is none), or why it cannot be;
// a file over `limit` bytes is an error.
Expected<std::optional<std::string>, SystemError> ReadSmallFile(
    const std::string& path, size_t limit) {
  netlink::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return std::optional<std::string>();
    }
    return SystemError::FromErrno(path);
  }
  std::string content;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SystemError::FromErrno(path);
    if (n == 0) return std::optional(std::move(content));
    if (content.size() + static_cast<size_t>(n) > limit) {
      return SystemError::Problem(path + ": larger than " +
                                  std::to_string(limit) + " bytes");
    }
    content.append(buf, static_cast<size_t>(n));
  }
}

// The entries of `dir` (no dot files); empty if it does not exist.
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  struct Closer {
    void operator()(DIR* d) const { closedir(d); }
  };
  std::unique_ptr<DIR, Closer> d(opendir(dir.c_str()));
  if (!d) return names;
  while (dirent* entry = readdir(d.get())) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  return names;
}

// A status file's content; nullopt when it is missing or unreadable (said
// in `out->problems`).
std::optional<std::string> ReadStatus(const std::string& path,
                                      Mwan3Files* out) {
  auto read = ReadSmallFile(path, kMaxStatus);
  if (!read) {
    out->problems.push_back(read.error().ToString());
    return std::nullopt;
  }
  const std::optional<std::string>& content = *read;
  // Empty is a file caught between its truncation and its write (the next
  // inotify event brings the content); anything else that is not a state is
  // a problem worth a line.
  if (content && ParseMwan3Status(*content) == WanState::kUnknown &&
      content->find_first_not_of(" \t\r\n") != std::string::npos) {
    out->problems.push_back(path + ": not a state: '" + content->substr(0, 32) +
                            "'");
  }
  return content;
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Parent(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

constexpr uint32_t kContentEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
                                    IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
                                    IN_MOVE_SELF;
constexpr uint32_t kAncestorEvents =
    IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

Mwan3Paths Mwan3Paths::Under(const std::string& root) {
  Mwan3Paths paths;
  paths.config = root + paths.config;
  paths.iface_state_dir = root + paths.iface_state_dir;
  paths.track_dir = root + paths.track_dir;
  return paths;
}

Mwan3Files ReadMwan3Files(const Mwan3Paths& paths) {
  Mwan3Files out;
  if (auto config = ReadSmallFile(paths.config, kMaxConfig); !config) {
    out.problems.push_back(config.error().ToString());
  } else if (*config) {
    out.interface_order = Mwan3InterfaceOrder(**config);
  }
  for (const std::string& name : ListDir(paths.iface_state_dir)) {
    out.status[name].iface_state =
        ReadStatus(paths.iface_state_dir + "/" + name, &out);
  }
  for (const std::string& name : ListDir(paths.track_dir)) {
    const std::string dir = paths.track_dir + "/" + name;
    if (!IsDirectory(dir)) continue;
    if (auto status = ReadStatus(dir + "/STATUS", &out)) {
      out.status[name].track_status = std::move(status);
    }
  }
  return out;
}

Mwan3StatusWatcher::Mwan3StatusWatcher(std::string directory)
    : directory_(std::move(directory)),
      inotify_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!inotify_) {
    throw std::system_error(errno, std::generic_category(),
                            "inotify_init1 for " + directory_);
  }
  Arm();
}

void Mwan3StatusWatcher::Arm() {
  // The directory, or its nearest existing ancestor; retried when the next
  // step down appears between the check and the watch.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string path = directory_;
    while (!IsDirectory(path) && path != "/" && path != ".") {
      path = Parent(path);
    }
    const bool target = path == directory_;
    const int wd = inotify_add_watch(inotify_.get(), path.c_str(),
                                     target ? kContentEvents : kAncestorEvents);
    if (wd < 0) continue;  // vanished meanwhile: look again
    if (wd_ >= 0 && wd_ != wd) inotify_rm_watch(inotify_.get(), wd_);
    wd_ = wd;
    watching_ = path;
    if (target || !IsDirectory(directory_)) return;
  }
}

bool Mwan3StatusWatcher::HandleReadable() {
  const bool had_target = watching_ == directory_;
  bool changed = false;
  bool rearm = false;
  alignas(inotify_event) char buf[4096];
  for (;;) {
    ssize_t n = read(inotify_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      if (event->mask & IN_Q_OVERFLOW) {
        changed = rearm = true;
      } else if (event->wd != wd_) {
        continue;  // a watch we already left
      } else if (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        rearm = true;
        changed = changed || had_target;
      } else if (had_target) {
        changed = true;  // a status file written, created or removed
      } else {
        rearm = true;  // something appeared where we wait: a step closer?
      }
    }
  }
  if (rearm) Arm();
  return changed || (watching_ == directory_) != had_target;
}

}  // namespace watchdog
