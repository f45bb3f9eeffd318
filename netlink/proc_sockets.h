// The fallback finder for tailscaled's sockets when they carry no mark
// (--tun=userspace-networking, SO_MARK refused, TS_FORCE_LINUX_BIND_TO_DEVICE):
// the socket inodes under /proc/<pid>/fd of the process at the other end of
// the LocalAPI connection (SO_PEERCRED), matched against a sock_diag dump by
// inode.
#ifndef TSWATCHDOG_NETLINK_PROC_SOCKETS_H_
#define TSWATCHDOG_NETLINK_PROC_SOCKETS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netlink/sock_diag.h"

namespace netlink {

// The inode in a /proc/<pid>/fd link target "socket:[12345]"; nullopt for
// anything else (files, pipes, "anon_inode:[eventfd]", garbage).
std::optional<uint64_t> SocketInodeFromLink(std::string_view target);

struct SocketInodes {
  std::vector<uint64_t> inodes;  // sorted, unique
  int error = 0;                 // errno of opening the fd directory
  std::string path;              // the directory read
};

// The socket inodes among the open files of `pid`. An fd closed while we
// read is skipped. `proc_root` is "/proc" except in tests.
SocketInodes SocketInodesOfProcess(pid_t pid,
                                   const std::string& proc_root = "/proc");

// The sockets of `records` whose inode is in `inodes` (sorted).
std::vector<SocketRecord> KeepInodes(std::vector<SocketRecord> records,
                                     std::span<const uint64_t> inodes);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// SO_PEERCRED of a connected Unix socket: who is at the other end (for the
// LocalAPI connection, tailscaled). Sets `*error` to the errno on failure.
std::optional<PeerCredentials> PeerOf(int unix_fd, int* error);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_PROC_SOCKETS_H_
