#include "watchdog/cli/options.h"

#include <cstdio>
#include <iostream>

namespace watchdog {

std::variant<cxxopts::ParseResult, int> ParseOptions(cxxopts::Options& options,
                                                     int argc, char** argv,
                                                     bool reject_stray) {
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "%s: %s\n", options.program().c_str(), e.what());
    return kExitError;
  }
  if (args.count("help")) {
    std::cout << options.help() << std::endl;
    return kExitOk;
  }
  if (reject_stray && !args.unmatched().empty()) {
    std::fprintf(stderr, "%s: unexpected argument '%s'\n",
                 options.program().c_str(), args.unmatched().front().c_str());
    return kExitError;
  }
  return args;
}

}  // namespace watchdog
