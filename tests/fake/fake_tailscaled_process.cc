#include "fake_tailscaled_process.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "netlink/unique_fd.h"

namespace fake {

bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

netlink::UniqueFd ConnectUnixSocket(const std::string& path) {
  netlink::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr),
                       sizeof addr) < 0) {
    return {};
  }
  return fd;
}

std::string FakeTailscaledProcess::BinaryPath() {
#ifdef FAKE_TAILSCALED_BINARY
  return FAKE_TAILSCALED_BINARY;
#else
  const char* env = std::getenv("FAKE_TAILSCALED");
  return env ? env : "fake_tailscaled";
#endif
}

FakeTailscaledProcess::FakeTailscaledProcess(
    std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char tmpl[] = "/tmp/tsw-fake-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  socket_path_ = dir_ + "/tailscaled.sock";
  control_path_ = dir_ + "/control.sock";
  log_path_ = dir_ + "/requests.jsonl";
  Spawn();
}

void FakeTailscaledProcess::Spawn() {
  std::vector<std::string> args = {
      BinaryPath(),  "serve", "--socket", socket_path_, "--control",
      control_path_, "--log", log_path_,  "--pid-file", dir_ + "/pid"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::execv(argv[0], argv.data());
    std::perror("exec fake_tailscaled");
    ::_exit(127);
  }
  const bool up = WaitUntil([this] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;  // exited: reported below
    }
    return Control("ping") == "ok";
  });
  if (!up || pid_ < 0) {
    throw std::runtime_error("fake_tailscaled did not come up in " + dir_);
  }
}

void FakeTailscaledProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void FakeTailscaledProcess::Respawn(std::vector<std::string> extra_args) {
  Kill();
  extra_args_ = std::move(extra_args);
  Spawn();
}

FakeTailscaledProcess::~FakeTailscaledProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool exited =
        WaitUntil([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; });
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string FakeTailscaledProcess::Control(const std::string& command) const {
  netlink::UniqueFd fd = ConnectUnixSocket(control_path_);
  if (!fd) return std::string("error connect: ") + std::strerror(errno);
  const std::string line = command + "\n";
  if (::write(fd.get(), line.data(), line.size()) !=
      static_cast<ssize_t>(line.size())) {
    return "error write";
  }
  std::string reply;
  char c;
  while (::read(fd.get(), &c, 1) == 1 && c != '\n') reply += c;
  return reply;
}

void FakeTailscaledProcess::MustControl(const std::string& command) const {
  const std::string reply = Control(command);
  if (reply.rfind("ok", 0) != 0) {
    throw std::runtime_error("fake control '" + command + "': " + reply);
  }
}

nlohmann::json FakeTailscaledProcess::Get() const {
  const std::string reply = Control("get");
  if (reply.rfind("ok ", 0) != 0) return nullptr;
  return nlohmann::json::parse(reply.substr(3), nullptr, false);
}

std::vector<nlohmann::json> FakeTailscaledProcess::Requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(log_path_);
  std::string line;
  while (std::getline(in, line)) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded()) out.push_back(std::move(entry));
  }
  return out;
}

size_t FakeTailscaledProcess::CountRequests(const std::string& method,
                                            const std::string& target) const {
  size_t n = 0;
  for (const auto& r : Requests()) {
    if (r.value("method", "") == method && r.value("target", "") == target) ++n;
  }
  return n;
}

bool FakeTailscaledProcess::WaitForRequest(
    const std::string& method, const std::string& target, size_t count,
    std::chrono::milliseconds timeout) const {
  return WaitUntil([&] { return CountRequests(method, target) >= count; },
                   timeout);
}

void FakeTailscaledProcess::Signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

}  // namespace fake
