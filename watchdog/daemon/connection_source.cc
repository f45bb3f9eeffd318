#include "watchdog/daemon/connection_source.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "netlink/proc_sockets.h"
#include "netlink/unique_fd.h"

namespace watchdog {
namespace {

// A dump is one blocking exchange with the kernel; it never takes this long
// unless the kernel is in trouble (100,000 sockets: ~65 ms, README
// benchmark 6).
constexpr std::chrono::milliseconds kDumpTimeout{2000};

netlink::SockDiagQuery TcpQuery(bool marked) {
  netlink::SockDiagQuery query;
  query.protocol = netlink::kIpProtocolTcp;
  query.states = netlink::ClientTcpStates();
  if (marked) query.mark = netlink::TailscaleMark();
  query.tcp_info = true;
  return query;
}

}  // namespace

KernelConnectionSource::KernelConnectionSource() = default;
KernelConnectionSource::~KernelConnectionSource() = default;

netlink::SockDump KernelConnectionSource::Dump(bool marked) {
  if (!diag_) {
    try {
      diag_ = std::make_unique<netlink::SockDiag>(
          netlink::OpenSockDiagChannel(kDumpTimeout));
    } catch (const std::system_error& e) {
      netlink::SockDump failed;
      failed.error = e.code().value();
      failed.detail = e.what();
      return failed;
    }
  }
  return diag_->DumpBothFamilies(TcpQuery(marked));
}

netlink::SockDump KernelConnectionSource::MarkedTcp() { return Dump(true); }

netlink::SockDump KernelConnectionSource::TcpOfProcess(pid_t pid) {
  const netlink::SocketInodes inodes = netlink::SocketInodesOfProcess(pid);
  if (inodes.error != 0) {
    netlink::SockDump failed;
    failed.error = inodes.error;
    failed.detail =
        "cannot read " + inodes.path + ": " + std::strerror(inodes.error);
    return failed;
  }
  netlink::SockDump dump = Dump(false);
  dump.sockets = netlink::KeepInodes(std::move(dump.sockets), inodes.inodes);
  return dump;
}

Expected<pid_t, SystemError> KernelConnectionSource::LocalApiPeer(
    const std::string& socket_path) {
  netlink::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd || socket_path.size() >= sizeof addr.sun_path) {
    return SystemError::FromErrno(fd ? ENAMETOOLONG : errno, socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  // A listening socket's credentials are the listener's, known at connect
  // time: tailscaled need not accept (nor be running: SIGSTOP).
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
              sizeof addr) != 0) {
    return SystemError::FromErrno("connect " + socket_path);
  }
  int err = 0;
  auto peer = netlink::PeerOf(fd.get(), &err);
  if (!peer)
    return SystemError::FromErrno(err, "SO_PEERCRED on " + socket_path);
  return peer->pid;
}

char KernelConnectionSource::ProcessState(pid_t pid) {
  // /proc/PID/stat: "PID (COMM) S ..."; COMM may hold spaces and ')'.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return 0;
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return 0;
  return text[close + 2];
}

}  // namespace watchdog
