// The checks of the other units (checks.h): units bound to the Tailscale
// address or in an ordering cycle with tailscaled, and tswatchdog's own
// access to the LocalAPI.
#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

#include "watchdog/doctor/checks.h"

namespace watchdog {
namespace {

// A unit ordered before one of these and after tailscaled.service (which has
// default dependencies, so it is after basic.target) is in a cycle.
constexpr std::string_view kEarlyTargets[] = {"sockets.target", "basic.target",
                                              "sysinit.target"};

bool IsFalse(const UnitEntry* entry) {
  return entry && ParseSystemdBool(entry->value) == false;
}

bool IsTrue(const UnitEntry* entry) {
  return entry && ParseSystemdBool(entry->value) == true;
}

bool InRestartOnIp(const DoctorInputs& in, const std::string& unit) {
  for (const std::string& u : in.restart_on_ip) {
    if (u == unit || u + ".service" == unit) return true;
  }
  return false;
}

// What one unit has to do with tailscaled and its address.
struct Binding {
  const LoadedUnit* unit;
  bool socket;
  std::string early;  // an early target it is ordered before, or ""
  std::vector<LoadedUnit::Item> ts_deps;  // its dependencies on tailscaled
  bool after_ts = false;
  bool binds_ts = false;
  std::optional<std::string> address;  // the Tailscale address it names
  bool freebind;
  bool restarted;        // in restart_on_ip
  bool started_with_ts;  // in tailscaled.service's .wants/ or .requires/
};

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

Binding Bind(const LoadedUnit& unit, const SystemView& view,
             const DoctorInputs& in) {
  const bool socket = EndsWith(unit.name, ".socket");
  Binding b{&unit,
            socket,
            "",
            {},
            false,
            false,
            std::nullopt,
            socket && IsTrue(unit.Last("Socket", "FreeBind")),
            InRestartOnIp(in, unit.name),
            Contains(view.tailscaled_wants, unit.name)};
  if (socket && !IsFalse(unit.Last("Unit", "DefaultDependencies"))) {
    b.early = "sockets.target";
  }
  for (std::string_view target : kEarlyTargets) {
    if (b.early.empty() && unit.ListHas("Unit", "Before", target)) {
      b.early = std::string(target);
    }
  }
  for (const char* key :
       {"After", "BindsTo", "Requires", "Requisite", "PartOf", "Wants"}) {
    for (auto& item : unit.List("Unit", key, true)) {
      if (item.value != kTailscaledUnit) continue;
      b.ts_deps.push_back(item);
      b.after_ts |= item.entry->key == "After";
      b.binds_ts |= item.entry->key == "BindsTo";
    }
  }
  const std::vector<std::string> keys =
      socket ? std::vector<std::string>{"ListenStream", "ListenDatagram",
                                        "ListenSequentialPacket"}
             : std::vector<std::string>{"ExecStart", "Environment"};
  for (const std::string& key : keys) {
    for (const auto& item :
         unit.List(socket ? "Socket" : "Service", key, false)) {
      if (!b.address) b.address = FindTailscaleAddress(item.value);
    }
  }
  return b;
}

// A file a package installed (edited in place, an upgrade overwrites it),
// not an admin's own under /etc or /usr/local.
bool IsVendorFile(const std::string& file) {
  return file.rfind("/usr/lib/systemd/", 0) == 0 ||
         file.rfind("/lib/systemd/", 0) == 0;
}

void RemoveDependencies(const Binding& b, DoctorFinding* f) {
  for (const auto& item : b.ts_deps) {
    const std::string what = item.entry->value == item.value
                                 ? "remove `" + Assignment(*item.entry) + "`"
                                 : "remove `" + item.value + "` from `" +
                                       Assignment(*item.entry) + "`";
    f->steps.push_back(
        what + " at " + Where(*item.entry) +
        (IsVendorFile(item.entry->file)
             ? " (a vendor file: `systemctl edit --full " + b.unit->name + "`)"
             : ""));
  }
}

std::string RestartOnIpStep(const DoctorInputs& in, const std::string& unit) {
  std::string list;
  for (const std::string& u : in.restart_on_ip) list += "\"" + u + "\", ";
  return "in " + in.config_path + " set `restart_on_ip = [" + list + "\"" +
         unit + "\"]` so tswatchdog restarts " + unit +
         " whenever the Tailscale address appears";
}

// A socket comes back with FreeBind=yes alone; a service through
// restart_on_ip. A socket is started, never restarted: restarting an
// Accept=no socket whose service runs (Debian's ssh.socket after a first
// connection) is refused and leaves it stopped.
void AddRecovery(const Binding& b, const DoctorInputs& in, DoctorFinding* f) {
  const std::string& name = b.unit->name;
  if (b.socket && b.address && !b.freebind) {
    f->files.push_back(
        {DropInPath(name, kFreeBindDropInName), std::string(kFreeBindDropIn)});
  }
  const bool needs_restart_on_ip = !b.socket && b.address && !b.restarted;
  if (needs_restart_on_ip) f->steps.push_back(RestartOnIpStep(in, name));
  f->commands.push_back("systemctl daemon-reload");
  if (needs_restart_on_ip) {
    f->commands.push_back("systemctl reload tswatchdog.service");
  }
  f->commands.push_back((b.socket ? "systemctl start " : "systemctl restart ") +
                        name);
}

DoctorFinding OrderingCycle(const Binding& b, const DoctorInputs& in) {
  const std::string& name = b.unit->name;
  DoctorFinding f;
  f.id = "ordering-cycle";
  f.unit = name;
  f.what =
      name + " is ordered after " + kTailscaledUnit + " but before " + b.early +
      (b.early == "sockets.target" && b.socket ? " (implicit for a socket unit)"
                                               : "");
  f.why = std::string(kTailscaledUnit) +
          " is itself ordered after basic.target, so this is an ordering "
          "cycle, and at boot systemd deletes one start job in it to break "
          "it: " +
          name + "'s, " + kTailscaledUnit +
          "'s or sockets.target's (then no socket unit starts), a different "
          "one from boot to boot.";
  RemoveDependencies(b, &f);
  AddRecovery(b, in, &f);
  return f;
}

DoctorFinding UnprotectedAddress(const Binding& b, const DoctorInputs& in) {
  const std::string& address = *b.address;
  DoctorFinding f;
  f.id = "tailscale-address-unit";
  f.unit = b.unit->name;
  f.what = b.unit->name + (b.socket ? " listens on " : " uses ") +
           "the Tailscale address " + address + " (" +
           (b.socket ? (b.binds_ts ? "BindsTo=" + std::string(kTailscaledUnit)
                                   : "no FreeBind=yes")
                     : "ExecStart/Environment") +
           ") and is not in restart_on_ip";
  if (b.binds_ts && b.started_with_ts) {
    // tailscaled is ready once its LocalAPI serves (ipn/ipnserver/server.go,
    // Server.Run), before it has its netmap and address.
    f.why = "BindsTo= stops it whenever tailscaled stops or crashes; " +
            std::string(kTailscaledUnit) +
            ".wants/ starts it again with tailscaled, but as soon as "
            "tailscaled is ready, which is before it has assigned " +
            address +
            ": the bind can fail, and nothing starts it again once the "
            "address is there.";
    RemoveDependencies(b, &f);
  } else if (b.binds_ts) {
    f.why =
        "BindsTo= stops it whenever tailscaled stops or crashes, and nothing "
        "starts it again when tailscaled and its address come back.";
    RemoveDependencies(b, &f);
  } else if (b.socket) {
    f.why = "at boot it starts before tailscaled has assigned " + address +
            ", the bind fails (EADDRNOTAVAIL) and the socket stays failed: "
            "nothing listens there until someone restarts it.";
  } else {
    f.why = "if it binds " + address +
            " and starts before tailscaled has assigned it, the bind fails "
            "and nothing restarts it when the address appears.";
  }
  AddRecovery(b, in, &f);
  return f;
}

}  // namespace

void CheckBoundUnits(const SystemView& view, const DoctorInputs& in,
                     DoctorReport* report) {
  const bool ts_default_deps =
      view.tailscaled &&
      !IsFalse(view.tailscaled->Last("Unit", "DefaultDependencies"));
  int bound = 0;
  for (const LoadedUnit& unit : view.units) {
    const Binding b = Bind(unit, view, in);
    if (b.address) ++bound;
    if (ts_default_deps && b.after_ts && !b.early.empty()) {
      report->findings.push_back(OrderingCycle(b, in));
    } else if (b.address &&
               (b.restarted || (b.socket && b.freebind && !b.binds_ts))) {
      report->notes.push_back(
          unit.name + " listens on " + *b.address + " and comes back (" +
          (b.restarted ? "restart_on_ip" : "FreeBind=yes") + ")");
    } else if (b.address) {
      report->findings.push_back(UnprotectedAddress(b, in));
    }
  }
  if (bound == 0) {
    report->notes.push_back(
        "no socket or service names a Tailscale address (100.64.0.0/10, "
        "fd7a:115c:a1e0::/48)");
  }
}

// --- LocalAPI access
// -----------------------------------------------------------

namespace {

// Who runs `tswatchdog run`, and what says so.
struct RunAs {
  std::string user;
  std::string source;
  const UnitEntry* user_entry = nullptr;
  bool dynamic = false;
};

RunAs WhoRunsTswatchdog(const SystemView& view, const DoctorInputs& in) {
  RunAs who;
  if (!view.tswatchdog) {
    who.user = in.self_uid == 0 ? "root" : in.self_user;
    who.source = "this process (no tswatchdog.service; uid " +
                 std::to_string(in.self_uid) + ")";
    return who;
  }
  const LoadedUnit& wd = *view.tswatchdog;
  who.user_entry = wd.Last("Service", "User");
  who.user = who.user_entry ? who.user_entry->value : "root";
  who.dynamic = IsTrue(wd.Last("Service", "DynamicUser"));
  if (who.dynamic && !who.user_entry) who.user = "(dynamic)";
  who.source = std::string(kTswatchdogUnit) +
               (who.user_entry ? " (`" + Assignment(*who.user_entry) + "` at " +
                                     Where(*who.user_entry) + ")"
                               : std::string(who.dynamic ? " (DynamicUser=yes)"
                                                         : " (no User=)"));
  return who;
}

// Connecting needs write permission on the socket (0666 on Linux); what a
// peer may do is decided by tailscaled from its uid.
void NoteSocket(const SystemView& view, DoctorReport* report) {
  if (!view.localapi_socket) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", view.localapi_socket->mode);
  report->notes.push_back(
      "LocalAPI socket " + view.localapi_socket->path + ": mode " + mode +
      ((view.localapi_socket->mode & 0002)
           ? ", any user can connect (writes need root, tailscaled's user or "
             "the operator)"
           : ", only its owner and group can connect"));
}

DoctorFinding ReadOnlyAccess(const SystemView& view, const DoctorInputs& in,
                             const RunAs& who) {
  DoctorFinding f;
  f.id = "localapi-read-only";
  f.unit = kTswatchdogUnit;
  f.what =
      "tswatchdog runs as " + who.user + " per " + who.source +
      ", which is neither root, tailscaled's user nor its operator" +
      (in.operator_user ? " (" + *in.operator_user + ")"
                        : std::string(" (no operator given: --operator USER)"));
  f.why =
      "tailscaled grants the write calls tswatchdog recovers with (rebind, "
      "start, prefs) only to root, its own user and its operator, so every "
      "ladder step fails with 403 and tswatchdog can only watch.";
  if (who.dynamic) {
    f.steps.push_back(
        "run tswatchdog as root (its unit keeps it sandboxed with an empty "
        "capability bounding set): remove DynamicUser=yes");
  }
  if (!view.tswatchdog) {
    f.steps.push_back("run `tswatchdog run` as root");
  } else if (who.user_entry &&
             view.tswatchdog->IsDropIn(who.user_entry->file)) {
    f.steps.push_back("run it as root: remove `" + Assignment(*who.user_entry) +
                      "` at " + Where(*who.user_entry));
  } else {
    f.files.push_back({DropInPath(kTswatchdogUnit, "10-run-as-root.conf"),
                       "[Service]\nUser=\nDynamicUser=no\n"});
  }
  if (view.tswatchdog) {
    f.commands.push_back("systemctl daemon-reload");
    f.commands.push_back("systemctl restart tswatchdog.service");
  }
  if (!who.dynamic) {
    f.steps.push_back(
        "or make " + who.user +
        " tailscaled's operator: `tailscale set --operator=" + who.user + "`");
  }
  return f;
}

}  // namespace

// The LocalAPI grants write calls by peer uid: root, tailscaled's own user,
// or the operator (`tailscale set --operator=USER`).
void CheckLocalApiAccess(const SystemView& view, const DoctorInputs& in,
                         DoctorReport* report) {
  const RunAs who = WhoRunsTswatchdog(view, in);
  const bool root = !who.dynamic && (who.user == "root" || who.user == "0");
  std::string ts_user = "root";
  if (view.tailscaled) {
    if (const UnitEntry* e = view.tailscaled->Last("Service", "User")) {
      ts_user = e->value;
    }
  }
  const bool op = in.operator_user && *in.operator_user == who.user;
  NoteSocket(view, report);
  if (root || (!who.dynamic && (who.user == ts_user || op))) {
    report->notes.push_back("tswatchdog runs as " + who.user + " per " +
                            who.source +
                            ": the LocalAPI allows its write calls (" +
                            (root                  ? "root"
                             : who.user == ts_user ? "tailscaled's user"
                                                   : "operator") +
                            ")");
    return;
  }
  report->findings.push_back(ReadOnlyAccess(view, in, who));
}

}  // namespace watchdog
