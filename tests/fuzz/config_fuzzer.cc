// libFuzzer target: a config file through config::ParseToml and Validate,
// and the --print-config round trip: a config that parses and validates
// must come back equal from ParseToml(ToToml(config)).
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const config::Result<config::Config> parsed =
      config::ParseToml(text, "fuzz.toml");
  if (!parsed) {
    const config::ConfigError& error = parsed.error();
    Check(!error.message.empty());
    Check(error.file == "fuzz.toml");
    Check(error.line >= 0 && error.column >= 0);
    Check(!error.ToString().empty());
    return 0;
  }
  const config::Config& cfg = parsed.value();
  Check(config::Validate(cfg).ok());
  Check(!config::SocketCandidates(cfg).empty());

  const std::string printed = config::ToToml(cfg);
  const config::Result<config::Config> reparsed =
      config::ParseToml(printed, "print-config");
  Check(reparsed.ok());
  Check(reparsed.value() == cfg);
  Check(config::ToToml(reparsed.value()) == printed);
  return 0;
}
