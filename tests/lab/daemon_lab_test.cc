// End-to-end: the real `tswatchdog run` on a dual-WAN router built in network
// namespaces (lab.h), against the fake tailscaled (tests/fake) in its
// LocalAPI-only mode: the daemon's own machinery (rate limits, hooks,
// signals, state and metrics files, faults of the LocalAPI). The failover
// scenarios against a fake on real sockets are in
// daemon_network_lab_test.cc. Assertions are on the fake's request log and
// on the daemon's state file. Waits are for conditions with deadlines; the
// only fixed waits are where the scenario itself is "nothing may happen for
// this long".
#include "tests/lab/daemon_lab.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"
#include "watchdog/daemon/state_file.h"

namespace {

using namespace daemon_lab;  // NOLINT: the fixture's vocabulary

// A dual-WAN router whose WAN peers live in two ISP namespaces (lab.h), and
// the fake tailscaled in its LocalAPI-only mode: its faults are scripted,
// each healed only by what heals it in tailscaled.
class DaemonLab : public DaemonLabBase {
 protected:
  void SetUp() override {
    DaemonLabBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    lab_ = lab::CreateDualWanRouter();
  }

  lab::DualWanRouter lab_;
};

// A link flapping for 30 s never exceeds the disruptive-step budget, not
// even once it stops and the ladder climbs. tailscaled's control connection
// is dead and the ladder has no `start`: rebind and reup never replace it
// and restart_command only notes the run, so nothing heals it.
TEST_F(DaemonLab, FlappingStaysWithinTheRateLimit) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0 metric 100");
  StartFake({"--stuck", "control"});
  StartDaemon(
      "max_disruptive_per_hour = 2\nladder = [\"rebind\", \"reup\", "
      "\"restart\"]\nrestart_command = [\"/bin/sh\", \"-c\", \"echo "
      "restart >> " +
      restarts_path() + "\"]\n");
  ASSERT_TRUE(WaitState([](const json& s) { return s["state"] != "starting"; },
                        seconds(10)));
  const auto end = Clock::now() + seconds(30);
  bool on_wan1 = false;
  while (Clock::now() < end) {
    LAB_RUN(on_wan1 ? "ip route replace default via 198.51.100.1 dev wan0"
                    : "ip route replace default via 203.0.113.1 dev wan1");
    on_wan1 = !on_wan1;
    std::this_thread::sleep_for(milliseconds(200));  // the flap period
  }
  auto disruptive = [&] {
    size_t reups = 0;
    for (const auto& w : Writes(fake_->Requests())) {
      if (w.find("PATCH /localapi/v0/prefs") == 0 &&
          w.find("\"WantRunning\":false") != std::string::npos) {
        ++reups;
      }
    }
    return reups + CountLines(restarts_path());
  };
  EXPECT_LE(disruptive(), 2u);
  // It did act meanwhile (a test that cannot fail would not).
  EXPECT_GE(fake_->CountRequests("POST", "/localapi/v0/debug?action=rebind"),
            1u);
  EXPECT_GE(State()["counters"]["uplink_changes"].get<int>(), 10);
  // Quiet now: the ladder climbs to the budget and no further.
  ASSERT_TRUE(fake::WaitUntil([&] { return disruptive() >= 2; }, seconds(30)))
      << disruptive() << " disruptive steps";
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["counters"]["disruptive_skipped"] >= 1; },
      seconds(30)));
  EXPECT_EQ(disruptive(), 2u);
}

// `tailscale down`: no write call, whatever the network does.
TEST_F(DaemonLab, TailscaleDownMeansNoWriteCall) {
  LAB_RUN(kWan0ThenWan1);
  StartFake({"--down"});
  StartDaemon();
  ASSERT_TRUE(WaitStateIs("suppressed"));
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["uplink"]["v4"]["dev"] == "wan1"; },
      seconds(10)));
  LAB_RUN("ip link set wan1 down");
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  std::this_thread::sleep_for(kDebounce + kGrace + 2 * kVerify);
  EXPECT_EQ(State()["state"], "suppressed");
  EXPECT_TRUE(Writes(fake_->Requests()).empty());
}

// tailscaled absent at start, its socket appears after 5 s.
TEST_F(DaemonLab, TailscaledAppearsLater) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0");
  const auto started = Clock::now();
  StartFake({"--socket-delay-ms", "5000"});
  // restart_command only notes the run, so the socket appears on its own.
  StartDaemon("restart_command = [\"/bin/sh\", \"-c\", \"echo restart >> " +
              restarts_path() + "\"]\n");
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["tailscale"]["verdict"] == "unreachable"; },
      seconds(5)));
  ASSERT_TRUE(WaitState(
      [](const json& s) {
        return s["state"] == "healthy" &&
               s["tailscale"]["verdict"] == "healthy";
      },
      seconds(40)));
  EXPECT_GE(Clock::now() - started, milliseconds(4500));
  EXPECT_EQ(daemon_->Wait(milliseconds(0)), -1) << "the daemon exited";
  // The bus watch reconnects too (with its own backoff).
  EXPECT_TRUE(fake_->WaitForRequest(
      "GET", "/localapi/v0/watch-ipn-bus?mask=146", 1, seconds(40)));
}

// tailscaled hung: only restart_command helps, and netlink keeps flowing.
TEST_F(DaemonLab, HungTailscaledOnlyRestartHelps) {
  LAB_RUN(kWan0ThenWan1);
  StartFake();
  const std::string ctl = fake::FakeTailscaledProcess::BinaryPath() +
                          " ctl --control " + fake_->control_path();
  StartDaemon("restart_command = [\"/bin/sh\", \"-c\", \"echo restart >> " +
              restarts_path() + "; " + ctl + " hang off; kill -HUP " +
              std::to_string(fake_->pid()) + "\"]\n");
  ASSERT_TRUE(WaitStateIs("healthy"));
  const int64_t hung_ms = NowUnixMs();
  fake_->MustControl("hang on");
  fake_->MustControl("eof");  // the bus reconnects into the hang
  // The loop stays responsive to netlink while every LocalAPI call hangs.
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["uplink"]["v4"]["dev"] == "wan1"; },
      seconds(3)));
  ASSERT_TRUE(WaitState(
      [&](const json& s) {
        return s["state"] == "healthy" &&
               std::filesystem::exists(restarts_path()) &&
               s["tailscale"]["verdict"] == "healthy";
      },
      seconds(60)));
  // Nothing but the restart helps a hung LocalAPI: no start, no reup.
  for (const auto& w : Writes(fake_->Requests(), hung_ms)) {
    EXPECT_EQ(w.find("/localapi/v0/start"), std::string::npos) << w;
    EXPECT_EQ(w.find("PATCH"), std::string::npos) << w;
  }
}

// SIGTERM while restart_command runs: clean exit, child reaped.
TEST_F(DaemonLab, SigtermDuringRestartCommand) {
  LAB_RUN(kWan0ThenWan1);
  StartFake();
  const std::string child_pid = dir_ + "/child.pid";
  StartDaemon(
      "ladder = [\"restart\"]\nrestart_command = [\"/bin/sh\", \"-c\", "
      "\"echo $$ > " +
      child_pid + "; exec sleep 300\"]\n");
  ASSERT_TRUE(WaitStateIs("healthy"));
  fake_->MustControl("stuck control");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(
      fake::WaitUntil([&] { return CountLines(child_pid) == 1; }, seconds(15)));
  pid_t child = 0;
  std::ifstream(child_pid) >> child;
  ASSERT_GT(child, 0);
  ASSERT_EQ(kill(child, 0), 0) << "restart_command is not running";
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(seconds(10)), 0);
  EXPECT_NE(kill(child, 0), 0) << "restart_command survived the daemon";
  EXPECT_EQ(errno, ESRCH);
}

// SIGHUP with a broken config keeps the running one (and says why); a good
// config is taken (here: dry_run, after which no write call is made).
TEST_F(DaemonLab, SighupReloadsAGoodConfigAndKeepsTheOldOnAnError) {
  LAB_RUN(kWan0ThenWan1);
  StartHealthy("", {}, /*capture_log=*/true);
  ASSERT_FALSE(HasFatalFailure());
  std::string line;
  std::ofstream(config_path(), std::ios::app) << "ladder = [\"reboot\"]\n";
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(daemon_->WaitForLine("config not reloaded", seconds(10), &line));
  EXPECT_NE(line.find(config_path() + ":"), std::string::npos) << line;
  EXPECT_NE(line.find("key 'ladder'"), std::string::npos) << line;

  {
    std::string text;
    std::ifstream in(config_path());
    std::getline(in, text, '\0');
    text = text.substr(0, text.find("ladder = [\"reboot\"]"));
    std::ofstream(config_path()) << text << "dry_run = true\n";
  }
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(daemon_->WaitForLine("config reloaded", seconds(10)));
  ASSERT_TRUE(WaitState([](const json& s) { return s["dry_run"] == true; },
                        seconds(5)));
  fake_->MustControl("stuck control");
  const int64_t failover_ms = NowUnixMs();
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(
      daemon_->WaitForLine("dry run: would run step start", seconds(20)));
  EXPECT_TRUE(Writes(fake_->Requests(), failover_ms).empty());
}

// A config with one dotted key of 35k parts (a 70 KB file) overflowed the
// TOML parser's stack: SIGHUP killed the running daemon instead of keeping
// its config (issue 13). It is refused before parsing; the daemon goes on.
TEST_F(DaemonLab, SighupWithAHostileConfigKeepsTheDaemonRunning) {
  LAB_RUN(kWan0ThenWan1);
  StartHealthy("", {}, /*capture_log=*/true);
  ASSERT_FALSE(HasFatalFailure());
  std::string key = "a";
  for (int i = 1; i < 35000; ++i) key += ".a";
  std::ofstream(config_path(), std::ios::app) << key << " = 1\n";
  daemon_->Signal(SIGHUP);
  std::string line;
  ASSERT_TRUE(daemon_->WaitForLine("config not reloaded", seconds(10), &line));
  EXPECT_NE(line.find("nested too deeply"), std::string::npos) << line;
  // Still working: a failover is still seen and written down.
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["uplink"]["v4"]["dev"] == "wan1"; },
      seconds(10)));
}

// --debug logs every parsed netlink change and every decision.
TEST_F(DaemonLab, DebugLogsParsedChangesAndDecisions) {
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0 metric 100");
  StartFake();
  StartDaemon("", {"--debug"}, /*capture_log=*/true);
  ASSERT_TRUE(WaitStateIs("healthy"));
  LAB_RUN("ip route add default via 203.0.113.1 dev wan1 metric 50");
  std::string line;
  ASSERT_TRUE(daemon_->WaitForLine("netlink: new route default/0 table 254",
                                   seconds(10), &line));
  EXPECT_NE(line.find("via 203.0.113.1 metric 50 (hint)"), std::string::npos)
      << line;
  ASSERT_TRUE(daemon_->WaitForLine("state healthy -> settling", seconds(10)));
  ASSERT_TRUE(daemon_->WaitForLine("decision:", seconds(10)));
}

// Under systemd: READY=1 once netlink and tailscaled's first answer are in,
// STATUS= on changes, WATCHDOG=1 pings; plus the Prometheus metrics file.
TEST_F(DaemonLab, SystemdNotifyAndMetricsFile) {
  LAB_RUN(kWan0ThenWan1);
  const std::string notify_path = dir_ + "/notify.sock";
  netlink::UniqueFd notify(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(notify.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr),
            0);
  timeval tv{10, 0};
  setsockopt(notify.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto receive = [&] {
    char buf[1024];
    ssize_t n = recv(notify.get(), buf, sizeof buf, 0);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  };
  setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
  setenv("WATCHDOG_USEC", "400000", 1);  // pings every 200 ms
  StartFake();
  StartDaemon("metrics_file = \"" + dir_ + "/tswatchdog.prom\"\n");
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  // The first non-ping message says READY=1 with a status.
  std::string message;
  do {
    message = receive();
  } while (message == "WATCHDOG=1");
  EXPECT_EQ(message.rfind("READY=1\nSTATUS=", 0), 0u) << message;
  int pings = 0;
  std::string last_status;
  const auto deadline = Clock::now() + seconds(10);
  while (
      (pings < 3 || last_status.find("STATUS=healthy") == std::string::npos) &&
      Clock::now() < deadline) {
    message = receive();
    if (message == "WATCHDOG=1") {
      ++pings;
    } else if (!message.empty()) {
      last_status = message;
    }
  }
  EXPECT_GE(pings, 3);
  EXPECT_NE(last_status.find("STATUS=healthy; tailscale healthy; uplink wan0"),
            std::string::npos)
      << last_status;

  fake_->MustControl("stuck control");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(
      WaitState([](const json& s) { return s["counters"]["recoveries"] == 1; },
                seconds(20)));
  std::string metrics;
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        std::ifstream in(dir_ + "/tswatchdog.prom");
        std::getline(in, metrics, '\0');
        return metrics.find("tswatchdog_recoveries_total 1\n") !=
               std::string::npos;
      },
      seconds(5)))
      << metrics;
  EXPECT_NE(metrics.find("tswatchdog_state{state=\"healthy\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tswatchdog_actions_total{step=\"start\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tswatchdog_last_time_to_recover_seconds "),
            std::string::npos)
      << metrics;
}

// restart_on_ip: the listed units are brought back when a Tailscale address
// appears on tailscale0 and after a recovery (a socket is started, never
// restarted); hooks run on the events with their environment, and a
// failing hook is logged and changes nothing.
TEST_F(DaemonLab, RestartOnIpAndHooks) {
  LAB_RUN(kWan0ThenWan1);
  // A stand-in systemctl first on PATH records what it is asked (there is no
  // systemd here, and no /etc/init.d/ssh.socket, so systemctl is used).
  const std::string bin = dir_ + "/bin", hooks = dir_ + "/hooks.d";
  const std::string systemctl_log = dir_ + "/systemctl.log";
  const std::string hook_log = dir_ + "/hooks.log";
  std::filesystem::create_directories(bin);
  std::filesystem::create_directories(hooks);
  std::ofstream(bin + "/systemctl")
      << "#!/bin/sh\necho \"$*\" >> " << systemctl_log << "\n";
  std::ofstream(hooks + "/10-record")
      << "#!/bin/sh\necho \"$TSWATCHDOG_EVENT state=$TSWATCHDOG_STATE "
         "step=$TSWATCHDOG_STEP v4=$TSWATCHDOG_UPLINK_V4_DEV\" >> "
      << hook_log << "\n";
  std::ofstream(hooks + "/20-fails") << "#!/bin/sh\necho broken >&2\nexit 3\n";
  std::ofstream(hooks + "/README") << "not executable: never run\n";
  // Refused, and said so (issue 13, defect 5): a symlink, and a hook others
  // can write.
  ASSERT_EQ(
      symlink((hooks + "/10-record").c_str(), (hooks + "/30-link").c_str()), 0);
  std::ofstream(hooks + "/40-writable")
      << "#!/bin/sh\necho writable >> " << hook_log << "\n";
  for (const char* f : {"/systemctl"}) chmod((bin + f).c_str(), 0755);
  for (const char* f : {"/10-record", "/20-fails"})
    chmod((hooks + f).c_str(), 0755);
  chmod((hooks + "/40-writable").c_str(), 0777);
  const std::string path = bin + ":" + std::getenv("PATH");
  setenv("PATH", path.c_str(), 1);
  StartFake();
  StartDaemon(
      "restart_on_ip = [\"ssh.socket\"]\nhooks_dir = \"" + hooks + "\"\n", {},
      /*capture_log=*/true);
  ASSERT_TRUE(WaitStateIs("healthy"));

  // tailscaled brings up its address: ssh.socket is started once.
  LAB_RUN(
      "ip tuntap add dev tailscale0 mode tun\nip link set tailscale0 up\n"
      "ip addr add 100.101.102.103/32 dev tailscale0");
  ASSERT_TRUE(fake::WaitUntil([&] { return CountLines(systemctl_log) == 1; },
                              seconds(10)));
  std::string line;
  std::getline(std::ifstream(systemctl_log), line);
  // Sockets are started, never restarted; "--": a unit name is never taken
  // for an option (issue 13, defect 7).
  EXPECT_EQ(line, "start -- ssh.socket");

  // A failover healed by start: hooks for each event, and ssh.socket again.
  fake_->MustControl("stuck control");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(daemon_->WaitForLine("hooks: refused", seconds(20), &line));
  EXPECT_NE(line.find(hooks + "/30-link: a symlink"), std::string::npos)
      << line;
  ASSERT_TRUE(daemon_->WaitForLine("hooks: refused", seconds(5), &line));
  EXPECT_NE(line.find(hooks + "/40-writable: writable by other users"),
            std::string::npos)
      << line;
  ASSERT_TRUE(
      WaitState([](const json& s) { return s["counters"]["recoveries"] == 1; },
                seconds(20)));
  ASSERT_TRUE(fake::WaitUntil([&] { return CountLines(systemctl_log) == 2; },
                              seconds(10)));
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        std::ifstream in(hook_log);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        return text.find("recovered ") != std::string::npos;
      },
      seconds(10)));
  std::ifstream in(hook_log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("uplink-changed state=settling"), std::string::npos)
      << text;
  EXPECT_NE(text.find("unhealthy state=recovering"), std::string::npos) << text;
  EXPECT_NE(text.find("action state=recovering step=start v4=wan1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("recovered state=healthy step=start v4=wan1"),
            std::string::npos)
      << text;
  EXPECT_TRUE(daemon_->WaitForLine("20-fails (recovered) failed: exited 3",
                                   seconds(10), &line));
  EXPECT_NE(line.find("broken"), std::string::npos) << line;
  EXPECT_EQ(State()["state"], "healthy");
  EXPECT_EQ(text.find("writable"), std::string::npos) << text;
  size_t recovered = 0;
  for (size_t at = 0; (at = text.find("\nrecovered ", at)) != std::string::npos;
       ++at) {
    ++recovered;
  }
  EXPECT_EQ(recovered, 1u) << "10-record ran again through 30-link:\n" << text;
}

// The conntrack step on a NATing router: after wan0 -> wan1 the entries
// bound to wan0's address go (the router's own flow and a LAN flow
// masqueraded to it); the current uplink's flow stays. tailscaled is stuck
// until `start`, so the ladder runs conntrack, verifies, then start.
TEST_F(DaemonLab, ConntrackStepDeletesTheOldUplinksEntries) {
  if (lab::Sh("command -v conntrack nft bash >/dev/null") != 0) {
    GTEST_SKIP() << "needs conntrack-tools, nftables and bash";
  }
  lab::AddMasquerade();
  LAB_RUN(kWan0ThenWan1);
  StartHealthy("ladder = [\"conntrack\", \"start\"]\n", {},
               /*capture_log=*/true);
  ASSERT_FALSE(HasFatalFailure());
  // The router's own UDP flow (tailscaled's socket) and a LAN client's flow
  // masqueraded to wan0's address.
  LAB_RUN("bash -c 'echo x >/dev/udp/192.0.2.10/3478'");
  LAB_RUN(
      "conntrack -I -p udp -s 192.0.2.66 -d 192.0.2.10 --sport 41641 "
      "--dport 41641 -r 192.0.2.10 -q 198.51.100.2 --reply-port-src 41641 "
      "--reply-port-dst 41641 -t 120 2>/dev/null");
  ASSERT_EQ(lab::ConntrackCount("--reply-dst 198.51.100.2"), 2);
  fake_->MustControl("stuck control");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  LAB_RUN("bash -c 'echo x >/dev/udp/192.0.2.10/3479'");  // now from wan1
  ASSERT_EQ(lab::ConntrackCount("--reply-dst 203.0.113.2"), 1);

  EXPECT_TRUE(daemon_->WaitForLine(
      "conntrack: deleted 2 entries bound to 198.51.100.2 (old uplink wan0)",
      seconds(15)));
  json state;
  ASSERT_TRUE(WaitState(
      [](const json& s) {
        return s["state"] == "healthy" && s["counters"]["recoveries"] == 1;
      },
      seconds(20), &state));
  EXPECT_EQ(state["last_action"]["step"], "start");
  EXPECT_EQ(state["counters"]["actions"]["conntrack"], 1) << state.dump();
  EXPECT_EQ(lab::ConntrackCount("--reply-dst 198.51.100.2"), 0);
  EXPECT_EQ(lab::ConntrackCount("--reply-dst 203.0.113.2"), 1);
}

// --- Fault tests (issue 6) --------------------------------------------------

// One uplink change is one write of the state file and one of the metrics
// file (it used to be two or three: after the transition, after the verdict,
// and at the end of the change).
TEST_F(DaemonLab, OneStateWritePerEvent) {
  LAB_RUN(kWan0ThenWan1);
  // A long debounce: nothing but the change itself happens for seconds.
  StartHealthy("debounce = \"5s\"\nsettle_max = \"10s\"\nmetrics_file = \"" +
               dir_ + "/tswatchdog.prom\"\n");
  ASSERT_FALSE(HasFatalFailure());
  lab::RenameCounter state_writes(dir_, "state.json");
  lab::RenameCounter metrics_writes(dir_, "tswatchdog.prom");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(WaitState(
      [](const json& s) {
        return s["state"] == "settling" && s["uplink"]["v4"]["dev"] == "wan1";
      },
      seconds(5)));
  // Nothing else may be written for this long (the debounce is 5 s).
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(state_writes.Count(), 1);
  EXPECT_EQ(metrics_writes.Count(), 1);
}

// The state directory fills up, then turns read-only: the daemon goes on
// (a failover is still healed), says so once per problem with the path and
// errno text, sets the stale copy aside where it can, retries, and says when
// writing works again. A private mount namespace holds a tiny tmpfs.
TEST_F(DaemonLab, FullOrReadOnlyStateDirectoryKeepsWorking) {
  ASSERT_EQ(unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  LAB_RUN("mount --make-rprivate /");
  state_dir_ = dir_ + "/state";
  std::filesystem::create_directories(state_dir_);
  // mode: a tmpfs root is 1777 by default, and the daemon writes only
  // where no one else can.
  LAB_RUN("mount -t tmpfs -o size=64k,mode=0755 tmpfs " + state_dir_);
  mounted_ = state_dir_;
  LAB_RUN(kWan0ThenWan1);
  StartHealthy("", {}, /*capture_log=*/true);
  ASSERT_FALSE(HasFatalFailure());
  std::vector<std::string> log;
  auto wait_for = [&](const std::string& text, std::string* found) {
    std::string line;
    while (daemon_->ReadLine(&line, seconds(20))) {
      log.push_back(line);
      if (line.find(text) != std::string::npos) {
        *found = line;
        return true;
      }
    }
    return false;
  };
  auto count = [&](const std::string& text) {
    return std::count_if(log.begin(), log.end(), [&](const std::string& l) {
      return l.find(text) != std::string::npos;
    });
  };

  // Disk full, then a failover: healed all the same.
  LAB_RUN("dd if=/dev/zero of=" + state_dir_ +
          "/filler bs=4k 2>/dev/null || true");
  fake_->MustControl("stuck control");
  LAB_RUN("ip route del default via 198.51.100.1 dev wan0 metric 100");
  std::string line;
  ASSERT_TRUE(wait_for("state file not written", &line));
  EXPECT_NE(line.find(state_path() + ".tmp."), std::string::npos) << line;
  EXPECT_NE(line.find("No space left on device"), std::string::npos) << line;
  EXPECT_NE(line.find("its old copy is now " + state_path() + ".stale"),
            std::string::npos)
      << line;
  EXPECT_FALSE(std::filesystem::exists(state_path())) << "stale copy left";
  // `status` shows the set-aside copy, marked stale, exit 1.
  lab::Child status({TSWATCHDOG_BINARY, "status", "--config", config_path()},
                    /*merge_stderr=*/true);
  ASSERT_TRUE(status.WaitForLine("STALE: " + state_path() + " is missing",
                                 seconds(10)));
  EXPECT_EQ(status.Wait(seconds(10)), 1);
  ASSERT_TRUE(
      fake_->WaitForRequest("POST", "/localapi/v0/start", 1, seconds(20)));
  ASSERT_TRUE(wait_for("-> healthy", &line));
  LAB_RUN("rm " + state_dir_ + "/filler");
  ASSERT_TRUE(wait_for("written again", &line));
  EXPECT_NE(line.find(state_path()), std::string::npos) << line;
  EXPECT_EQ(count("state file not written"), 1) << "said more than once";
  EXPECT_FALSE(std::filesystem::exists(state_path() + ".stale"));
  json state = State();
  EXPECT_EQ(state["state"], "healthy");
  EXPECT_EQ(state["counters"]["recoveries"], 1) << "fresh, not stale";

  // Read-only: the old copy cannot be removed; the log says it is stale.
  LAB_RUN("mount -o remount,ro " + state_dir_);
  LAB_RUN("ip route add default via 198.51.100.1 dev wan0 metric 100");
  ASSERT_TRUE(wait_for("state file not written", &line));
  EXPECT_NE(line.find("Read-only file system"), std::string::npos) << line;
  EXPECT_NE(line.find("could not be set aside (renaming " + state_path() +
                      ": Read-only file system) and is stale"),
            std::string::npos)
      << line;
  LAB_RUN("mount -o remount,rw " + state_dir_);
  ASSERT_TRUE(wait_for("written again", &line));
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["uplink"]["v4"]["dev"] == "wan0"; },
      seconds(5)));
  EXPECT_EQ(count("state file not written"), 2);
}

// Byte-level faults of tailscaled (fake `fault` modes) and a SIGKILL: the
// daemon logs the endpoint and the error, goes on, and is back on a healthy
// tailscaled once the fault is gone, with its peak memory far below a
// 100 MB reply.
TEST_F(DaemonLab, TailscaledFaultsAreLoggedAndOutlived) {
  LAB_RUN(kWan0ThenWan1);
  // ASan's quarantine (256 MiB by default) keeps freed buffers resident: each
  // 100 MB reply refused added its outgrown buffers (about 30 MiB) to the
  // peak, and how many replies the daemon reads before "fault off" (bus and
  // status retries) depends on the machine's load: three made 86 MiB. With a
  // small quarantine the peak is what the daemon itself holds.
  const char* asan = getenv("ASAN_OPTIONS");
  const std::string asan_options = asan ? asan : "";
  setenv("ASAN_OPTIONS",
         (asan_options + (asan_options.empty() ? "" : ":") +
          "quarantine_size_mb=16")
             .c_str(),
         1);
  StartHealthy("", {}, /*capture_log=*/true);
  if (asan) {
    setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
  ASSERT_FALSE(HasFatalFailure());
  auto healthy_again = [&] {
    return WaitState(
        [](const json& s) {
          return s["state"] == "healthy" &&
                 s["tailscale"]["verdict"] == "healthy";
        },
        seconds(20));
  };
  auto peak_rss_kib = [&] {
    std::ifstream in("/proc/" + std::to_string(daemon_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1L;
  };
  std::string line;
  const std::string status = "GET /localapi/v0/status?peers=false: ";
  const std::string bus = "GET /localapi/v0/watch-ipn-bus?mask=146: ";

  // Cut inside a chunk: the bus drops into the fault, the status fetch after
  // it too.
  fake_->MustControl("fault cut-chunk-data");
  fake_->MustControl("eof");
  ASSERT_TRUE(
      daemon_->WaitForLine("tailscaled: " + status, seconds(10), &line));
  // A FIN mid-chunk ("connection closed inside the chunked body") or, when
  // the fake closes with our request still unread, an RST.
  EXPECT_TRUE(line.find("connection closed inside the chunked body") !=
                  std::string::npos ||
              line.find("Connection reset by peer") != std::string::npos)
      << line;
  fake_->MustControl("fault off");
  ASSERT_TRUE(healthy_again());

  // 100 MB replies: refused at the cap, never held.
  const long rss_before = peak_rss_kib();
  fake_->MustControl("fault huge:104857600");
  fake_->MustControl("eof");
  ASSERT_TRUE(
      daemon_->WaitForLine(bus + "bus line larger than", seconds(10), &line));
  ASSERT_TRUE(daemon_->WaitForLine(status + "response larger than", seconds(10),
                                   &line));
  fake_->MustControl("fault off");
  ASSERT_TRUE(healthy_again());
  const long grew_kib = peak_rss_kib() - rss_before;
  // As in localapi_client_test.cc: cap, growth, ASan's quarantine (16 MiB
  // here); holding one 100 MB reply would be 95 MiB and more.
  EXPECT_LT(grew_kib, 80 << 10) << "daemon peak RSS grew by " << grew_kib;
  std::printf("100 MB replies: daemon peak RSS grew by %ld KiB\n", grew_kib);

  // SIGKILL mid-stream: the socket file stays, refusing.
  fake_->Kill();
  ASSERT_TRUE(daemon_->WaitForLine("cannot connect to " + fake_->socket_path(),
                                   seconds(10), &line));
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["tailscale"]["verdict"] == "unreachable"; },
      seconds(10)));
  fake_->Respawn();
  ASSERT_TRUE(healthy_again());
  EXPECT_EQ(daemon_->Wait(milliseconds(0)), -1) << "the daemon exited";
}

// A storm of address changes while the daemon is stopped overruns its
// netlink receive buffer (ENOBUFS): it grows the buffer, dumps everything
// again, and sees the default-route change made during the storm.
TEST_F(DaemonLab, NetlinkOverrunDuringAStormIsResynced) {
  LAB_RUN(kWan0ThenWan1);
  LAB_RUN(
      "ip link add storm0 type veth peer name storm1\nip link set storm0 up");
  StartHealthy("", {}, /*capture_log=*/true);
  ASSERT_FALSE(HasFatalFailure());
  daemon_->Signal(SIGSTOP);
  std::string batch;
  for (int i = 1; i <= 6000; ++i) {
    char addr[64];
    std::snprintf(addr, sizeof addr, "2001:db8:5:%x::%x", i >> 8, i & 0xff);
    batch += std::string("addr add ") + addr + "/128 dev storm0 nodad\n";
    if (i == 3000) {
      batch += "route del default via 198.51.100.1 dev wan0 metric 100\n";
    }
  }
  const std::string batch_path = dir_ + "/storm.batch";
  std::ofstream(batch_path) << batch;
  LAB_RUN("ip -batch " + batch_path);
  daemon_->Signal(SIGCONT);
  std::string line;
  ASSERT_TRUE(
      daemon_->WaitForLine("receive buffer overrun", seconds(20), &line));
  ASSERT_TRUE(daemon_->WaitForLine("resync", seconds(10), &line));
  ASSERT_TRUE(WaitState(
      [](const json& s) { return s["uplink"]["v4"]["dev"] == "wan1"; },
      seconds(10)));
  EXPECT_GE(State()["counters"]["uplink_changes"].get<int>(), 1);
}

}  // namespace
