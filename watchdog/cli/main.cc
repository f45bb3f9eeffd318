// tswatchdog: keeps a Linux host on its tailnet through uplink changes.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "watchdog/cli/commands.h"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};

constexpr Subcommand kSubcommands[] = {
    {"run", watchdog::RunDaemonCommand,
     "run the watchdog in the foreground (systemd, procd, or by hand)"},
    {"status", watchdog::RunStatusCommand,
     "show the running daemon's view (--json: the state file)"},
    {"monitor", watchdog::RunMonitorCommand,
     "print the uplink view and each change (--json: one object per line)"},
    {"check", watchdog::RunCheckCommand,
     "evaluate tailscaled's health once (exit 0 healthy, 1 not, 2 error)"},
    {"doctor", watchdog::RunDoctorCommand,
     "diagnose boot-ordering problems in the unit files and print fixes"},
};

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage: tswatchdog <command> [options]\n\ncommands:\n");
  for (const auto& cmd : kSubcommands) {
    std::fprintf(out, "  %-9s %s\n", cmd.name, cmd.summary);
  }
  std::fprintf(out,
               "\n'tswatchdog <command> --help' shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Block the signals the daemon reads through its signalfd before anything
  // else: a SIGUSR1 from a hotplug script while we start up would otherwise
  // kill the process (its default action). Children get a clean mask.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGHUP, SIGUSR1}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("tswatchdog %s\n", TSWATCHDOG_VERSION);
    return 0;
  }
  for (const auto& cmd : kSubcommands) {
    if (name == cmd.name) return cmd.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "tswatchdog: unknown command '%s'\n\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
