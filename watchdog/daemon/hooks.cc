#include "watchdog/daemon/hooks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "netlink/unique_fd.h"
#include "watchdog/daemon/state_file.h"

namespace watchdog {
namespace {

constexpr mode_t kAnyExecute = S_IXUSR | S_IXGRP | S_IXOTH;

// Why the entry `st` may not run as a hook, or "" when it may; `skip` is
// set for what is silently not a hook.
std::string HookProblem(const struct stat& st, bool* skip) {
  *skip = false;
  if (S_ISLNK(st.st_mode)) return "a symlink (a hook must be the file itself)";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if ((st.st_mode & kAnyExecute) == 0) {
    *skip = true;  // a README, a disabled hook
    return "not executable";
  }
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by root or us";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "writable by other users";
  }
  return "";
}

}  // namespace

HookListing ListHookPrograms(const std::string& dir) {
  HookListing listing;
  netlink::UniqueFd dir_fd(
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    listing.error = "hooks_dir " + dir + ": " + std::strerror(errno);
    return listing;
  }
  if (auto trusted = CheckTrustedDirectory(dir_fd.get(), dir); !trusted) {
    listing.error =
        "hooks_dir: " + trusted.error().ToString() + "; no hook runs";
    return listing;
  }
  // fdopendir takes the descriptor over; a duplicate keeps ours for fstatat.
  DIR* entries = fdopendir(fcntl(dir_fd.get(), F_DUPFD_CLOEXEC, 0));
  if (entries == nullptr) {
    listing.error = "hooks_dir " + dir + ": " + std::strerror(errno);
    return listing;
  }
  while (const dirent* entry = readdir(entries)) {
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      listing.refused.push_back(path + ": " + std::strerror(errno));
      continue;
    }
    bool skip = false;
    const std::string problem = HookProblem(st, &skip);
    if (problem.empty()) {
      listing.programs.push_back(path);
    } else if (!skip) {
      listing.refused.push_back(path + ": " + problem);
    }
  }
  closedir(entries);
  std::sort(listing.programs.begin(), listing.programs.end());
  std::sort(listing.refused.begin(), listing.refused.end());
  return listing;
}

HookQueue::Queued HookQueue::Push(HookRun run) {
  Queued queued;
  auto same = std::find_if(
      waiting_.begin(), waiting_.end(),
      [&run](const HookRun& waiting) { return waiting.event == run.event; });
  if (same != waiting_.end()) {
    waiting_.erase(same);
    queued.coalesced = true;
  } else if (waiting_.size() >= max_waiting_) {
    queued.dropped = waiting_.front().event;
    waiting_.pop_front();
  }
  waiting_.push_back(std::move(run));
  return queued;
}

std::optional<HookRun> HookQueue::Start() {
  if (running_ || waiting_.empty()) return std::nullopt;
  HookRun next = std::move(waiting_.front());
  waiting_.pop_front();
  running_ = true;
  return next;
}

}  // namespace watchdog
