// Entry points of the tswatchdog subcommands. Each parses its own options
// (argv[0] is the subcommand name) and returns the process exit status.
#ifndef TSWATCHDOG_WATCHDOG_CLI_COMMANDS_H_
#define TSWATCHDOG_WATCHDOG_CLI_COMMANDS_H_

namespace watchdog {

// `tswatchdog monitor [--json]`: prints the uplink view and each change.
int RunMonitorCommand(int argc, char** argv);

// `tswatchdog run [--config FILE] [options]`: the daemon, in the foreground.
int RunDaemonCommand(int argc, char** argv);

// `tswatchdog status [--json]`: the running daemon's view (state file).
int RunStatusCommand(int argc, char** argv);

// `tswatchdog check [--socket S] [--start-timeout D]`: evaluates tailscaled's
// health once; exit 0 healthy, 1 not healthy, 2 no answer or error.
int RunCheckCommand(int argc, char** argv);

// `tswatchdog doctor [--root DIR] [--json]`: boot-ordering problems in the
// unit files, each with its fix; exit 0 clean, 1 findings, 2 error.
int RunDoctorCommand(int argc, char** argv);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CLI_COMMANDS_H_
