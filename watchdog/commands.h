// Entry points of the tswatchdog subcommands. Each parses its own options
// (argv[0] is the subcommand name) and returns the process exit status.
#ifndef TSWATCHDOG_WATCHDOG_COMMANDS_H_
#define TSWATCHDOG_WATCHDOG_COMMANDS_H_

namespace watchdog {

// `tswatchdog monitor [--json]`: prints the uplink view and each change.
int RunMonitorCommand(int argc, char** argv);

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_COMMANDS_H_
