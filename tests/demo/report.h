// How the README's demo (tests/demo/demo_lab.cc) speaks: its options, and
// the story told from the halves' results (JSON), plain text on any output,
// bold titles on a terminal.
#ifndef TSWATCHDOG_TESTS_DEMO_REPORT_H_
#define TSWATCHDOG_TESTS_DEMO_REPORT_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/lab/scenarios.h"

namespace demo {

struct Options {
  double scale = 1.0;
  double alone_s = 28;  // how long tailscaled alone is watched
  double cap_s = 35;    // how long tswatchdog gets to heal it
  std::string scenario = "b";
  std::string summary;
  bool styled = false;  // a terminal: bold titles
};

// `seconds` of tailscaled's time, at the demo's scale.
std::chrono::milliseconds Scaled(const Options& o, double seconds);
// "  +9.9s": milliseconds since the failure.
std::string Seconds(int64_t ms);
void Title(const Options& o, const std::string& text);
// One line to stdout, flushed (the halves write to it too).
void Say(const std::string& text);

void PrintIntro(const Options& o, const lab::Scenario& s);
// The end of half 1: still offline, and the kernel's evidence.
void PrintAloneVerdict(const nlohmann::json& alone);
// Half 2: tswatchdog's log and tailscaled's events, the steps, the state.
void PrintWatched(const Options& o, const nlohmann::json& watched);

}  // namespace demo

#endif  // TSWATCHDOG_TESTS_DEMO_REPORT_H_
