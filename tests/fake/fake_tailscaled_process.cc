#include "fake_tailscaled_process.h"

#include <signal.h>
#include <sys/prctl.h>
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

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_discarded()) out.push_back(std::move(entry));
  }
  return out;
}

nlohmann::json WaitForEventIn(
    const std::string& path,
    const std::function<bool(const nlohmann::json&)>& match,
    std::chrono::milliseconds timeout, size_t from) {
  nlohmann::json found;
  WaitUntil(
      [&] {
        const auto events = ReadJsonLines(path);
        for (size_t i = from; i < events.size(); ++i) {
          if (match(events[i])) {
            found = events[i];
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

namespace {

// An event named `name` whose fields include `fields`.
std::function<bool(const nlohmann::json&)> EventMatcher(
    const std::string& name, const nlohmann::json& fields) {
  return [name, fields](const nlohmann::json& e) {
    if (e.value("event", "") != name) return false;
    if (!fields.is_object()) return true;
    for (const auto& [key, value] : fields.items()) {
      if (!e.contains(key) || e[key] != value) return false;
    }
    return true;
  };
}

// fork + exec `args`; the child dies with the test (PDEATHSIG).
pid_t SpawnProcess(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execv(argv[0], argv.data());
    std::perror("exec");
    ::_exit(127);
  }
  return pid;
}

void StopProcess(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  const bool exited =
      WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; });
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
}

std::string MakeTempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace

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
  dir_ = MakeTempDir("tsw-fake");
  socket_path_ = dir_ + "/tailscaled.sock";
  control_path_ = dir_ + "/control.sock";
  log_path_ = dir_ + "/requests.jsonl";
  Spawn();
}

void FakeTailscaledProcess::Spawn() {
  std::vector<std::string> args = {
      BinaryPath(),  "serve", "--socket", socket_path_, "--control",
      control_path_, "--log", log_path_,  "--pid-file", dir_ + "/pid"};
  // The caller's --events, if any, is the one (cxxopts keeps the last).
  events_path_ = dir_ + "/events.jsonl";
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i) {
    if (extra_args_[i] == "--events") events_path_ = extra_args_[i + 1];
  }
  args.insert(args.end(), {"--events", events_path_});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = SpawnProcess(args);
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
  StopProcess(pid_);
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
  return ReadJsonLines(log_path_);
}

std::vector<nlohmann::json> FakeTailscaledProcess::Events() const {
  return ReadJsonLines(events_path_);
}

nlohmann::json FakeTailscaledProcess::WaitForEvent(
    const std::string& name, const nlohmann::json& fields,
    std::chrono::milliseconds timeout, size_t from) const {
  return WaitForEventIn(events_path_, EventMatcher(name, fields), timeout,
                        from);
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

FakeInternetProcess::FakeInternetProcess(const std::string& control,
                                         const std::string& derp,
                                         std::vector<std::string> extra_args,
                                         pid_t netns_pid) {
  dir_ = MakeTempDir("tsw-internet");
  events_path_ = dir_ + "/internet.jsonl";
  std::vector<std::string> args;
  if (netns_pid > 0) {
    args = {"/usr/bin/nsenter", "-t", std::to_string(netns_pid), "-n"};
  }
  for (const std::string& a :
       {FakeTailscaledProcess::BinaryPath(), std::string("internet"),
        std::string("--control"), control, std::string("--derp"), derp,
        std::string("--events"), events_path_}) {
    args.push_back(a);
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  pid_ = SpawnProcess(args);
  if (WaitForEvent("ready", {}, std::chrono::seconds(10)).is_null()) {
    StopProcess(pid_);
    pid_ = -1;
    throw std::runtime_error("fake_tailscaled internet did not come up in " +
                             dir_);
  }
}

FakeInternetProcess::~FakeInternetProcess() {
  StopProcess(pid_);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::vector<nlohmann::json> FakeInternetProcess::Events() const {
  return ReadJsonLines(events_path_);
}

nlohmann::json FakeInternetProcess::WaitForEvent(
    const std::string& name, const nlohmann::json& fields,
    std::chrono::milliseconds timeout, size_t from) const {
  return WaitForEventIn(events_path_, EventMatcher(name, fields), timeout,
                        from);
}

}  // namespace fake
