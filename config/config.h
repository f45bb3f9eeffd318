// The daemon's configuration: every option of README "Configuration", its
// default, the TOML file format and its validation. Nothing here throws;
// errors come back as ConfigError values naming file, line and key.
// Command-line flags (cxxopts) are in config/flags.h.
#ifndef TSWATCHDOG_CONFIG_CONFIG_H_
#define TSWATCHDOG_CONFIG_CONFIG_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/duration.h"
#include "config/result.h"
#include "watchdog/core/ladder.h"
#include "watchdog/core/tailscale_types.h"

namespace config {

// The recovery ladder's steps and their names are the core's vocabulary
// (watchdog/core/ladder.h); the config spells them as its own.
using watchdog::LadderStep;
using watchdog::ParseStep;
using watchdog::StepName;

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// "trace", "debug", "info", "warn", "error" (the names spdlog's
// spdlog::level::from_str accepts).
std::string_view LogLevelName(LogLevel level);
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Where tailscaled's LocalAPI socket usually is (core's list).
using watchdog::kDefaultSocketPaths;

// Defaults suit a real router or VPS; each says why it has its value.
struct Config {
  // Empty: auto, see kDefaultSocketPaths.
  std::string socket;

  // Quiet time after the last uplink change before deciding. tailscaled's
  // own netmon debounces for 1 s and then re-STUNs; 5 s lets it finish that
  // and lets a DHCP or PPPoE bring-up (a burst of netlink messages spread
  // over a few seconds) end, so one failover is one decision.
  std::chrono::milliseconds debounce = std::chrono::seconds(5);

  // Cap on settling while the link keeps flapping: after a minute the
  // flapping is the new normal and waiting longer only delays a recovery
  // (the disruptive-step rate limit keeps acting on it safe).
  std::chrono::milliseconds settle_max = std::chrono::seconds(60);

  // After a settled change, time tailscaled gets to heal itself before the
  // ladder starts: it usually re-establishes the control connection and its
  // DERP home within 5-15 s of a rebind.
  std::chrono::milliseconds grace = std::chrono::seconds(20);

  // Time a ladder step gets to show an effect before the next one: a fresh
  // control connection (Noise handshake, map response) and a DERP reconnect
  // take a few seconds, more on a slow or lossy uplink.
  std::chrono::milliseconds verify = std::chrono::seconds(15);

  // How long tailscaled may stay degraded on a stable uplink before the
  // ladder runs. Its warnings flap briefly during ordinary DERP reconnects;
  // 90 s ignores those yet is far below the ~16 minutes a stalled control
  // connection takes to notice an upstream change on its own.
  std::chrono::milliseconds unhealthy_after = std::chrono::seconds(90);

  // Starting/NoState count as degraded only after this long: a first start
  // with a large netmap on a small router can take tens of seconds.
  std::chrono::milliseconds start_timeout = std::chrono::seconds(60);

  // Between two looks at tailscaled's connections (sock_diag, nothing sent)
  // when nothing happens: what finds a failure no local event announces. A
  // control connection on a dead path shows two unanswered keep-alive
  // probes within 45 s of its last packet (tailscaled's 30 s keep-alive,
  // 15 s interval); 15 s more keeps an upstream change healed within 90 s.
  // A look costs ~1 ms of CPU with 1,000 TCP sockets on the host, ~20 ms
  // with 100,000 (README, benchmark 6): 4 wake-ups a minute.
  std::chrono::milliseconds probe_interval = std::chrono::seconds(15);

  // Rebind once after every settled uplink change, before the grace period.
  // It is what tailscaled does on its own link changes, costs nothing, and
  // covers policy-routing failovers (mwan3) that its netmon does not see.
  bool kick_on_change = true;

  // Gentlest first; `conntrack` is opt-in for routers that NAT.
  std::vector<LadderStep> ladder = {LadderStep::kRebind, LadderStep::kStart,
                                    LadderStep::kReup, LadderStep::kRestart};

  // argv, run without a shell. systemd is the common host; OpenWrt sets
  // ["/etc/init.d/tailscale", "restart"].
  std::vector<std::string> restart_command = {"systemctl", "restart",
                                              "tailscaled.service"};

  // Shared budget of `reup` and `restart` per sliding hour: one full pass of
  // the ladder and one retry, and no restart storm on a flapping link.
  int max_disruptive_per_hour = 3;

  // First pause between failed steps, doubled (with jitter) up to
  // backoff_max; 10 s keeps the second step close to the first failure.
  std::chrono::milliseconds backoff_initial = std::chrono::seconds(10);

  // Longest pause, also the cooldown cap after the ladder: a persistent
  // outage is retried at most every 10 minutes.
  std::chrono::milliseconds backoff_max = std::chrono::minutes(10);

  // Units brought back when the Tailscale IP (re)appears and after a
  // recovery (sockets started, other units restarted); opt-in because which
  // units bind that address is host-specific (e.g. "ssh.socket").
  std::vector<std::string> restart_on_ip;

  // Directory of hook executables run on transitions; empty: no hooks.
  std::string hooks_dir;

  // On tmpfs: runtime-only state, no flash wear on routers, gone at reboot.
  std::string state_file = "/run/tswatchdog/state.json";

  // Prometheus textfile; empty: off (most hosts have no node_exporter).
  std::string metrics_file;

  // How often the metrics file is rewritten while nothing changes, so that a
  // file that stops moving means the daemon is gone (the staleness alert).
  std::chrono::milliseconds metrics_interval = std::chrono::minutes(1);

  // Log every command instead of running it.
  bool dry_run = false;

  // info: transitions and actions; debug adds every decision.
  LogLevel log_level = LogLevel::kInfo;

  // Where log lines go: "auto" picks journal (stderr is systemd's journal
  // stream), terminal (stderr is a tty) or plain; "syslog" is for procd,
  // which would log every stderr line of a service at LOG_ERR.
  std::string log_style = "auto";

  // The tun device tailscaled owns (its default --tun name). Changes on it
  // are tailscaled's own and must not trigger the watchdog.
  std::string tailscale_interface = "tailscale0";

  // --- mwan3 (OpenWrt's multi-WAN manager); both act only where its rules
  // are in the kernel.
  // Mode A (tailscaled's rules at 1310, before mwan3's): when mwan3 says the
  // WAN under the main table's default is offline, add one main-table
  // default via a WAN it says is online, one metric lower (proto 122;
  // removed when that WAN is back, at exit and at start). What users do by
  // hand, and the smallest change tailscaled's netmon notices.
  bool mwan3_steering = true;

  // Mode B (its rules at 5210, behind mwan3's): on mwan3's `disconnected`,
  // delete the conntrack entries of tailscaled's flows that carry the dead
  // WAN's mark, so its UDP follows mwan3's policy at once; never the whole
  // table.
  bool mwan3_flow_cleanup = true;

  bool operator==(const Config&) const = default;
};

// The LocalAPI socket paths to try, in order: `socket` alone when set,
// otherwise kDefaultSocketPaths.
std::vector<std::string> SocketCandidates(const Config& config);

// Checks what the types alone do not: durations that must be positive
// (debounce and grace may be 0) and at most kMaxDuration, debounce <=
// settle_max, backoff_initial <= backoff_max, a non-empty ladder without
// duplicates, a restart_command when the ladder has `restart`,
// max_disruptive_per_hour >= 0, unit names (systemd's rules) and interface
// names. The error names the key but no file (ParseToml and the flag
// functions validate on their own and add where the value came from).
Result<void> Validate(const Config& config);

// A config is a few KiB; a file larger than this is refused unread (and
// never loaded into memory whole).
inline constexpr size_t kMaxConfigBytes = 1 << 20;

// Parses TOML text over the defaults and validates the result. `file_name`
// is used in errors only. Text over kMaxConfigBytes, or with keys nested
// deeper than tswatchdog's flat keys could ever be (a bound that keeps the
// TOML parser's recursion off the stack's end), is refused before parsing.
Result<Config> ParseToml(std::string_view toml_text,
                         const std::string& file_name);

// Reads and parses a config file. A missing or unreadable file is an error,
// and so is anything but a regular file (a FIFO would block the reader, a
// device such as /dev/zero never ends) except /dev/null, read as empty.
Result<Config> LoadFile(const std::string& path);

// The config as TOML, each key preceded by a comment saying what it does
// and its default; ParseToml of the output gives back an equal Config.
std::string ToToml(const Config& config);

}  // namespace config

#endif  // TSWATCHDOG_CONFIG_CONFIG_H_
