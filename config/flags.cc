#include "config/flags.h"

#include <filesystem>
#include <optional>

#include "config/internal.h"

namespace config {
namespace {

constexpr char kConfigFlag[] = "config";

// Sets `config` from the flags that were given and records them in
// `origins`. Never throws: cxxopts errors become ConfigErrors.
Result<void> ApplyFlagValues(const cxxopts::ParseResult& flags, Config& config,
                             internal::Origins& origins) {
  for (const internal::OptionSpec& spec : internal::AllOptions()) {
    const std::string name = internal::FlagName(spec.key);
    const std::string flag = "--" + name;
    std::string text;
    try {
      if (flags.count(name) == 0) continue;
      text = flags[name].as<std::string>();
    } catch (const cxxopts::exceptions::exception& error) {
      ConfigError failure;
      failure.key = spec.key;
      failure.flag = flag;
      failure.message = error.what();
      return failure;
    }
    if (auto set = internal::SetFromText(spec, text, config); !set) {
      ConfigError failure = std::move(set).error();
      failure.key = spec.key;
      failure.flag = flag;
      return failure;
    }
    origins[std::string(spec.key)] = internal::Origin{"", 0, flag};
  }
  return {};
}

}  // namespace

void AddOptions(cxxopts::Options& options) {
  const Config defaults;
  auto add = options.add_options("Config");
  add(kConfigFlag,
      "config file (default: " + std::string(kDefaultConfigPath) +
          ", if it exists)",
      cxxopts::value<std::string>(), "FILE");
  for (const internal::OptionSpec& spec : internal::AllOptions()) {
    auto value = cxxopts::value<std::string>();
    if (spec.kind == internal::Kind::kBool) value->implicit_value("true");
    std::string default_text = internal::RenderText(spec, defaults);
    if (default_text.empty()) default_text = "\"\"";
    add(internal::FlagName(spec.key),
        std::string(spec.help) + " (default: " + default_text + ")", value,
        std::string(spec.arg_name));
  }
}

Result<Config> ApplyFlags(Config base, const cxxopts::ParseResult& flags) {
  internal::Origins origins;
  if (auto applied = ApplyFlagValues(flags, base, origins); !applied) {
    return std::move(applied).error();
  }
  if (auto valid = internal::ValidateWithOrigins(base, origins); !valid) {
    return std::move(valid).error();
  }
  return base;
}

std::string ConfigFileFor(const cxxopts::ParseResult& flags,
                          std::string_view default_path) {
  try {
    if (flags.count(kConfigFlag) > 0) {
      return flags[kConfigFlag].as<std::string>();
    }
  } catch (const cxxopts::exceptions::exception&) {
    // Not registered as a string: treat as absent.
  }
  std::error_code ignored;
  if (std::filesystem::exists(default_path, ignored)) {
    return std::string(default_path);
  }
  return "";
}

Result<Config> Load(const cxxopts::ParseResult& flags,
                    std::string_view default_path) {
  Config config;
  internal::Origins origins;
  if (flags.count(kConfigFlag) > 0 && ConfigFileFor(flags, "").empty()) {
    ConfigError error;
    error.flag = "--config";
    error.message = "needs a file name";
    return error;
  }
  if (std::string file = ConfigFileFor(flags, default_path); !file.empty()) {
    auto text = internal::ReadFile(file);
    if (!text) return std::move(text).error();
    if (auto applied = internal::ApplyToml(*text, file, config, origins);
        !applied) {
      return std::move(applied).error();
    }
  }
  if (auto applied = ApplyFlagValues(flags, config, origins); !applied) {
    return std::move(applied).error();
  }
  if (auto valid = internal::ValidateWithOrigins(config, origins); !valid) {
    return std::move(valid).error();
  }
  return config;
}

}  // namespace config
