#include "netlink/proc_sockets.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <memory>

namespace netlink {

std::optional<uint64_t> SocketInodeFromLink(std::string_view target) {
  constexpr std::string_view kPrefix = "socket:[";
  if (!target.starts_with(kPrefix) || !target.ends_with(']')) {
    return std::nullopt;
  }
  std::string_view digits =
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - 1);
  uint64_t inode = 0;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), inode);
  if (digits.empty() || ec != std::errc() ||
      end != digits.data() + digits.size()) {
    return std::nullopt;
  }
  return inode;
}

SocketInodes SocketInodesOfProcess(pid_t pid, const std::string& proc_root) {
  SocketInodes result;
  result.path = proc_root + "/" + std::to_string(pid) + "/fd";
  struct DirCloser {
    void operator()(DIR* dir) const { closedir(dir); }
  };
  std::unique_ptr<DIR, DirCloser> dir(opendir(result.path.c_str()));
  if (!dir) {
    result.error = errno;
    return result;
  }
  const int dir_fd = dirfd(dir.get());
  while (dirent* entry = readdir(dir.get())) {
    if (entry->d_name[0] == '.') continue;
    char target[64];
    // An fd closed since readdir: ENOENT, skipped.
    ssize_t n = readlinkat(dir_fd, entry->d_name, target, sizeof target);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof target) continue;
    if (auto inode = SocketInodeFromLink({target, static_cast<size_t>(n)})) {
      result.inodes.push_back(*inode);
    }
  }
  std::sort(result.inodes.begin(), result.inodes.end());
  result.inodes.erase(std::unique(result.inodes.begin(), result.inodes.end()),
                      result.inodes.end());
  return result;
}

std::vector<SocketRecord> KeepInodes(std::vector<SocketRecord> records,
                                     std::span<const uint64_t> inodes) {
  std::erase_if(records, [&](const SocketRecord& record) {
    return !std::binary_search(inodes.begin(), inodes.end(), record.inode);
  });
  return records;
}

std::optional<PeerCredentials> PeerOf(int unix_fd, int* error) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(unix_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    *error = errno;
    return std::nullopt;
  }
  // A socket that is not connected reports pid 0.
  if (cred.pid <= 0) {
    *error = ENOTCONN;
    return std::nullopt;
  }
  *error = 0;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace netlink
