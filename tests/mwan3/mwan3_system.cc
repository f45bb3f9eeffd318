#include "tests/mwan3/mwan3_system.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mwan3 {

namespace {

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

[[noreturn]] void ExecChild(const Argv& argv, int in_fd, int out_fd,
                            const std::map<std::string, std::string>* env) {
  dup2(in_fd, STDIN_FILENO);
  if (out_fd >= 0) dup2(out_fd, STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (env != nullptr) {
    clearenv();
    for (const auto& [k, v] : *env) setenv(k.c_str(), v.c_str(), 1);
  }
  execvp(args[0], args.data());
  std::fprintf(stderr, "mwan3_standin: exec %s: %s\n", args[0],
               std::strerror(errno));
  _exit(127);
}

}  // namespace

int Run(const Argv& argv, const std::string& input, std::string* output,
        const std::map<std::string, std::string>* env) {
  int in[2], out[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (output != nullptr && pipe2(out, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) ExecChild(argv, in[0], out[1], env);
  close(in[0]);
  if (out[1] >= 0) close(out[1]);
  WriteAll(in[1], input);
  close(in[1]);
  if (output != nullptr) {
    char buf[4096];
    for (ssize_t n; (n = read(out[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      output->append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void RunLogged(const Argv& argv, const std::string& input) {
  const int status = Run(argv, input);
  if (status != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::fprintf(stderr, "mwan3_standin: `%s` exited %d, ignoring\n",
                 cmd.c_str(), status);
  }
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) lines.push_back(l);
  }
  return lines;
}

Current ReadCurrent(Family f) {
  Current c;
  Run({f == Family::kIpv4 ? "iptables" : "ip6tables", "-t", "mangle", "-w",
       "-S"},
      "", &c.text);
  return c;
}

std::vector<int> RulePrefs(Family f, bool marked_only) {
  std::string text;
  Run({"ip", f == Family::kIpv4 ? "-4" : "-6", "rule", "list"}, "", &text);
  std::vector<int> prefs;
  for (const auto& line : Lines(text)) {
    if (marked_only && line.find("fwmark") == std::string::npos) continue;
    prefs.push_back(std::atoi(line.c_str()));
  }
  return prefs;
}

void Restore(Family f, const std::string& text, const std::string& what) {
  const std::string tool =
      f == Family::kIpv4 ? "iptables-restore" : "ip6tables-restore";
  // mwan3 keeps each update under iptables_log/ for debugging; so do we.
  WriteFile(std::string(kStatusDir) + "/iptables_log/iptables-" + what + "-" +
                FamilyName(f) + ".dump",
            text);
  if (Run({tool, "-T", "mangle", "-w", "-n"}, text) != 0) {
    std::fprintf(stderr, "mwan3_standin: %s (%s) failed, ignoring:\n%s",
                 what.c_str(), FamilyName(f), text.c_str());
  }
}

Config LoadConfigOrDie() {
  std::string error;
  auto mwan3 = ReadUciFile(kConfigFile, &error);
  if (!mwan3) {
    std::fprintf(stderr, "mwan3_standin: %s\n", error.c_str());
    std::exit(2);
  }
  UciFile network;
  if (std::filesystem::exists(kNetworkFile)) {
    auto parsed = ReadUciFile(kNetworkFile, &error);
    if (!parsed) {
      std::fprintf(stderr, "mwan3_standin: %s\n", error.c_str());
      std::exit(2);
    }
    network = *parsed;
  }
  auto config = LoadConfig(*mwan3, network, &error);
  if (!config) {
    std::fprintf(stderr, "mwan3_standin: %s: %s\n", kConfigFile, error.c_str());
    std::exit(2);
  }
  return *config;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(),
                                      ec);
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Uptime() {
  auto text = ReadFile("/proc/uptime");
  return text ? std::to_string(std::atol(text->c_str())) : "0";
}

bool DeviceExists(const std::string& name) {
  return if_nametoindex(name.c_str()) != 0;
}

void SetIfaceState(const std::string& iface, const std::string& state) {
  WriteFile(std::string(kStatusDir) + "/iface_state/" + iface, state + "\n");
}

std::map<std::string, bool> OnlineStates(const Config& c) {
  std::map<std::string, bool> online;
  for (const auto& i : c.interfaces) {
    auto state = ReadFile(std::string(kStatusDir) + "/iface_state/" + i.name);
    online[i.name] = state && state->rfind("online", 0) == 0;
  }
  return online;
}

void HotplugCall(const std::map<std::string, std::string>& env) {
  std::vector<std::string> scripts;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kHotplugDir, ec)) {
    if (e.is_regular_file()) scripts.push_back(e.path().string());
  }
  std::sort(scripts.begin(), scripts.end());
  auto full = env;
  full["HOTPLUG_TYPE"] = "iface";
  full["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
  full["LOGNAME"] = full["USER"] = "root";
  for (const auto& script : scripts) {
    // hotplug-call sources each script in a subshell: `( . $script )`.
    Run({"/bin/sh", "-c", ". \"$0\"", script}, "", nullptr, &full);
  }
}

}  // namespace mwan3
