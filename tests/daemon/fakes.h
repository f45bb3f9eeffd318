// Fake ports for the executor tests: a clock the test moves by hand, an
// uplink the test changes, a scripted tailscaled that logs every request and
// answers on the next turn of the (fake) loop, child processes that only
// record what they were asked to run, and a publisher that keeps every
// snapshot. Nothing here sleeps, opens a socket or needs root.
#ifndef TSWATCHDOG_TESTS_DAEMON_FAKES_H_
#define TSWATCHDOG_TESTS_DAEMON_FAKES_H_

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "netlink/uplink.h"
#include "watchdog/daemon/actuator.h"
#include "watchdog/daemon/connection_source.h"
#include "watchdog/daemon/publisher.h"
#include "watchdog/daemon/service_probe.h"
#include "watchdog/daemon/uplink_source.h"
#include "watchdog/io/process_runner.h"
#include "watchdog/io/timers.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog::testing {

// Time moves only in Advance(); due timers run in deadline order, those
// added while running included.
class FakeTimers final : public Timers {
 public:
  MonoTime Now() const override { return now_; }
  TimerId AddTimer(MonoTime deadline, TimerCallback callback) override {
    const TimerId id = next_id_++;
    timers_[id] = {deadline, std::move(callback)};
    return id;
  }
  void CancelTimer(TimerId id) override { timers_.erase(id); }

  // Runs what is due now (the next turn of the loop), then moves the clock
  // in steps to each deadline up to now + `by`.
  void Advance(std::chrono::milliseconds by) {
    const MonoTime end = now_ + by;
    while (true) {
      auto next = timers_.end();
      for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second.first <= end &&
            (next == timers_.end() || it->second.first < next->second.first)) {
          next = it;
        }
      }
      if (next == timers_.end()) break;
      now_ = std::max(now_, next->second.first);
      TimerCallback callback = std::move(next->second.second);
      timers_.erase(next);
      callback();
    }
    now_ = end;
  }
  size_t pending() const { return timers_.size(); }

 private:
  MonoTime now_{std::chrono::hours(1000)};
  TimerId next_id_ = 1;
  std::map<TimerId, std::pair<MonoTime, TimerCallback>> timers_;
};

inline netlink::Egress Wan(const std::string& dev, const std::string& source,
                           const std::string& gateway) {
  netlink::Egress egress;
  egress.present = true;
  egress.ifindex = dev == "wan0" ? 3 : 4;
  egress.dev = dev;
  egress.gateway = netlink::IpAddress::Parse(gateway);
  egress.source = netlink::IpAddress::Parse(source);
  egress.table = 254;
  egress.link_up = egress.carrier = egress.source_usable = true;
  return egress;
}

inline netlink::UplinkView Wan0() {
  return {Wan("wan0", "198.51.100.2", "198.51.100.1"), {}};
}
inline netlink::UplinkView Wan1() {
  return {Wan("wan1", "203.0.113.2", "203.0.113.1"), {}};
}
inline netlink::UplinkView NoUplink() { return {}; }

class FakeUplink final : public UplinkSource {
 public:
  void Watch(BurstCallback on_burst) override {
    on_burst_ = std::move(on_burst);
  }
  const netlink::UplinkView& view() const override { return view_; }
  std::optional<netlink::UplinkChange> Resync(std::string_view) override {
    return std::nullopt;
  }
  bool HasTailscaleAddress() const override { return address_; }

  // A burst of kernel messages that leaves the uplink at `next`.
  void MoveTo(const netlink::UplinkView& next) {
    std::optional<netlink::UplinkChange> change =
        netlink::ComputeUplinkChange(view_, next);
    view_ = next;
    on_burst_(change);
  }
  // The Tailscale address appears on (or leaves) tailscale0.
  void SetTailscaleAddress(bool present) {
    address_ = present;
    on_burst_(std::nullopt);
  }
  void SetInitial(const netlink::UplinkView& view, bool address) {
    view_ = view;
    address_ = address;
  }

 private:
  netlink::UplinkView view_ = Wan0();
  bool address_ = true;
  BurstCallback on_burst_;
};

// A tailscaled that is healthy until Break(); then it stays offline until
// one of `heals` is run. Every request is logged ("POST start"); answers
// come on the next turn of the loop, as the real client's do.
class FakeTailscaled final : public TailscaleApi {
 public:
  explicit FakeTailscaled(FakeTimers& timers) : timers_(timers) {
    status_.backend_state = BackendState::kRunning;
    status_.backend_state_name = "Running";
    status_.self_online = true;
    status_.self_relay = "fra";
    status_.version = "1.102.3";
    prefs_.want_running = true;
    DerpServer derp;
    derp.name = "1a";
    derp.region_id = 1;
    derp.ipv4 = netlink::IpAddress::Parse("192.0.2.101");
    derp_map.servers = {derp};
  }

  std::vector<std::string> requests;
  std::set<LadderStep> heals = {LadderStep::kStart};
  bool reachable = true;
  DerpMap derp_map;
  std::vector<std::string> notes;  // of the bugreport calls
  // How long each answer takes (0: the next turn of the loop).
  std::chrono::milliseconds answer_delay{0};

  // Offline (a dead control connection), or, with `health`, Online with
  // those legacy health texts (e.g. a route programming failure).
  void Break(std::vector<std::string> health = {}) {
    status_.self_online = !health.empty();
    status_.health = std::move(health);
  }
  void Heal() {
    status_.self_online = true;
    status_.health.clear();
  }
  Status& status() { return status_; }
  // A bus line: the classifier sees it at once.
  void Publish(const Notify& notify) { on_notify_(notify); }

  void GetStatus(Callback<Status> done) override {
    Answer("GET status", std::move(done), status_);
  }
  void GetPrefs(Callback<Prefs> done) override {
    Answer("GET prefs", std::move(done), prefs_);
  }
  void Rebind(Callback<ApiDone> done) override {
    Step("POST debug?action=rebind", LadderStep::kRebind, std::move(done));
  }
  void ReStun(Callback<ApiDone> done) override {
    Answer("POST debug?action=restun", std::move(done), ApiDone{});
  }
  void Start(Callback<ApiDone> done) override {
    Step("POST start", LadderStep::kStart, std::move(done));
  }
  void SetWantRunning(bool want, Callback<Prefs> done) override {
    prefs_.want_running = want;
    if (want) Heals(LadderStep::kReup);
    Answer(std::string("PATCH prefs WantRunning=") + (want ? "true" : "false"),
           std::move(done), prefs_);
  }
  void GetDerpMap(Callback<DerpMap> done) override {
    Answer("GET derpmap", std::move(done), derp_map);
  }
  void BugReport(const std::string& note, Callback<std::string> done) override {
    notes.push_back(note);
    Answer("POST bugreport", std::move(done),
           "BUG-fake-" + std::to_string(notes.size()));
  }
  void WatchBus(NotifyCallback on_notify, BusEventCallback on_event) override {
    on_notify_ = std::move(on_notify);
    on_bus_event_ = std::move(on_event);
    ConnectBus();
  }
  void StopWatchingBus() override {}
  // The bus stream (re)connects on the next turn of the loop.
  void ConnectBus() {
    timers_.AddTimer(timers_.Now(), [this] {
      BusEvent connected;
      connected.kind = BusEvent::Kind::kConnected;
      on_bus_event_(connected);
    });
  }
  // The bus stream drops and nothing answers any more (tailscaled stopped
  // or died; its socket is gone): reachable = false.
  void Vanish() {
    reachable = false;
    BusEvent lost;
    lost.kind = BusEvent::Kind::kDisconnected;
    lost.error.kind = LocalApiError::Kind::kConnect;
    lost.error.endpoint = "watch-ipn-bus";
    lost.error.message = "cannot connect";
    lost.retry_in = std::chrono::seconds(30);
    on_bus_event_(lost);
  }

  // The restart step's command ran: tailscaled comes back healed if
  // `restart` is among `heals`.
  void Heals(LadderStep step) {
    if (heals.count(step)) Heal();
  }

 private:
  template <typename T>
  void Answer(const std::string& request, Callback<T> done, T value) {
    requests.push_back(request);
    ApiResult<T> result =
        reachable ? ApiResult<T>(std::move(value))
                  : ApiResult<T>(LocalApiError{LocalApiError::Kind::kConnect,
                                               request, 0, "cannot connect"});
    timers_.AddTimer(timers_.Now() + answer_delay,
                     [done, result] { done(result); });
  }
  void Step(const std::string& request, LadderStep step,
            Callback<ApiDone> done) {
    Heals(step);
    Answer(request, std::move(done), ApiDone{});
  }

  FakeTimers& timers_;
  Status status_;
  Prefs prefs_;
  NotifyCallback on_notify_;
  BusEventCallback on_bus_event_;
};

// Records each command; it "exits 0" on the next turn of the loop, or, for
// a program in `missing`, fails to start: `done` runs before Run returns,
// as ProcessRunner does when posix_spawn fails.
class FakeProcesses final : public ProcessSpawner {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
  };
  explicit FakeProcesses(FakeTimers& timers) : timers_(timers) {}

  std::vector<Call> calls;
  std::set<std::string> missing;
  std::function<void(const Call&)> on_run;
  // How long each child runs; how many ran at once, at most.
  std::chrono::milliseconds duration{0};
  int running = 0;
  int max_running = 0;

  pid_t Run(const std::vector<std::string>& argv,
            std::chrono::milliseconds /*timeout*/,
            const std::map<std::string, std::string>& extra_env,
            Callback done) override {
    calls.push_back({argv, extra_env});
    if (on_run) on_run(calls.back());
    ProcessResult result;
    if (missing.count(argv.at(0))) {
      result.spawn_error = "posix_spawn " + argv[0] + ": No such file";
      done(result);
      return -1;
    }
    result.exited = true;
    result.exit_code = 0;
    max_running = std::max(max_running, ++running);
    timers_.AddTimer(timers_.Now() + duration, [this, done, result] {
      --running;
      done(result);
    });
    return 1000 + static_cast<pid_t>(calls.size());
  }

  // The hook events run so far, in order (TSWATCHDOG_EVENT).
  std::vector<std::string> HookEvents() const {
    std::vector<std::string> events;
    for (const Call& call : calls) {
      auto it = call.env.find("TSWATCHDOG_EVENT");
      if (it != call.env.end()) events.push_back(it->second);
    }
    return events;
  }
  // How often `argv` was run.
  int Count(const std::vector<std::string>& argv) const {
    int n = 0;
    for (const Call& call : calls) n += call.argv == argv;
    return n;
  }

 private:
  FakeTimers& timers_;
};

// What systemd says of tailscaled's unit: `condition`, on the next turn of
// the loop; each unit asked is recorded.
class FakeServiceProbe final : public ServiceProbe {
 public:
  explicit FakeServiceProbe(FakeTimers& timers) : timers_(timers) {}
  ServiceCondition condition = ServiceCondition::kUp;
  std::vector<std::string> probed;
  void Probe(const std::string& unit, Callback done) override {
    probed.push_back(unit);
    timers_.AddTimer(timers_.Now(), [done, c = condition] { done(c); });
  }

 private:
  FakeTimers& timers_;
};

class FakePublisher final : public Publisher {
 public:
  std::vector<Snapshot> published;
  std::vector<PublishTargets> targets;  // one per Publish, in order
  bool fail = false;
  bool Publish(const Snapshot& snapshot, const PublishTargets& where) override {
    published.push_back(snapshot);
    targets.push_back(where);
    return !fail;
  }
};

// tailscaled's sockets as the test scripts them: `sockets` (all of them
// carrying its mark), or a dump error; its process is pid 4242, in `state`.
class FakeConnections final : public ConnectionSource {
 public:
  std::vector<netlink::SocketRecord> sockets;
  int error = 0;  // errno of a failed dump
  char state = 'S';
  int dumps = 0;

  netlink::SockDump MarkedTcp() override {
    ++dumps;
    netlink::SockDump dump;
    dump.error = error;
    if (error != 0) {
      dump.detail = "sock_diag dump: " + std::string(std::strerror(error));
    } else {
      dump.sockets = sockets;
    }
    return dump;
  }
  netlink::SockDump TcpOfProcess(pid_t) override { return {}; }
  Expected<pid_t, SystemError> LocalApiPeer(const std::string&) override {
    return 4242;
  }
  char ProcessState(pid_t) override { return state; }
};

}  // namespace watchdog::testing

#endif  // TSWATCHDOG_TESTS_DAEMON_FAKES_H_
