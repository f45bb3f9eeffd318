// Waiting on the daemon's state file, for the tests that run the real
// `tswatchdog run` (tests/lab, tests/fleet).
#ifndef TSWATCHDOG_TESTS_LAB_STATE_WAIT_H_
#define TSWATCHDOG_TESTS_LAB_STATE_WAIT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "fake_tailscaled_process.h"
#include "watchdog/daemon/state_file.h"

namespace lab {

// The state file at `path`; an empty object while there is none.
inline nlohmann::json ReadState(const std::string& path) {
  auto state = watchdog::ReadStateFile(path);
  return state ? *std::move(state) : nlohmann::json::object();
}

// Waits until the state file satisfies `condition`; adds a test failure with
// the last state when the deadline passes.
inline bool WaitState(
    const std::string& path,
    const std::function<bool(const nlohmann::json&)>& condition,
    std::chrono::milliseconds timeout, nlohmann::json* last = nullptr) {
  nlohmann::json state;
  const bool ok = fake::WaitUntil(
      [&] {
        state = ReadState(path);
        return !state.empty() && condition(state);
      },
      timeout);
  if (last) *last = state;
  if (!ok) ADD_FAILURE() << "state file never matched; last: " << state.dump();
  return ok;
}

}  // namespace lab

#endif  // TSWATCHDOG_TESTS_LAB_STATE_WAIT_H_
