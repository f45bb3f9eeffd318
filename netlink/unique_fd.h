// RAII owner of a file descriptor. Used by every layer of tswatchdog; it lives
// in netlink/ because that is the lowest layer and depends on nothing else.
#ifndef TSWATCHDOG_NETLINK_UNIQUE_FD_H_
#define TSWATCHDOG_NETLINK_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace netlink {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_UNIQUE_FD_H_
