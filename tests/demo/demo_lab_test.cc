// The README's demo (tests/demo/demo_lab.cc) at time scale 0.05 tells its
// story: tailscaled alone is still offline at the end of its stretch, and
// the kernel shows why (its control connection's keep-alive probes go
// unanswered on an unchanged route); with tswatchdog, the same failover is
// healed by `start` with nothing more disruptive.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

using nlohmann::json;

struct DemoRun {
  std::string output;  // stdout, no terminal
  json summary;
  int status = -1;
  bool ok() const { return status == 0 && summary.is_object(); }
};

// Runs the demo fast: `alone` and `cap` are the halves' stretches in
// unscaled seconds.
DemoRun RunDemo(int alone, int cap) {
  char tmpl[] = "/tmp/tswatchdog-demo-test-XXXXXX";
  EXPECT_NE(mkdtemp(tmpl), nullptr);
  const std::string summary = std::string(tmpl) + "/summary.json";
  DemoRun run;
  FILE* out =
      popen((std::string(DEMO_LAB_BINARY) + " --time-scale 0.05 --alone " +
             std::to_string(alone) + " --cap " + std::to_string(cap) +
             " --summary " + summary + " 2>&1")
                .c_str(),
            "r");
  EXPECT_NE(out, nullptr);
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), out)) > 0;) {
    run.output.append(buf.data(), n);
  }
  run.status = pclose(out);
  std::ifstream in(summary);
  run.summary = json::parse(in, nullptr, false);
  std::filesystem::remove_all(tmpl);
  return run;
}

TEST(DemoLab, AloneStaysOfflineAndTheKernelSaysWhy) {
  if (geteuid() != 0) GTEST_SKIP() << "the lab needs root";
  // 100 s scaled (5 s): long enough for two of the fake's scaled keep-alive
  // probes (2 s idle, 1 s apart).
  const DemoRun run = RunDemo(100, 100);
  ASSERT_TRUE(run.ok()) << run.output;
  const json& alone = run.summary["alone"];
  EXPECT_FALSE(alone["healed"].get<bool>()) << alone.dump(2);
  EXPECT_EQ(alone["control_connected_since"], 0) << alone.dump(2);
  EXPECT_EQ(alone["steps"], json({{"start", 0}, {"reup", 0}, {"restart", 0}}));
  // The control connection, judged dead by its unanswered keep-alives.
  const json& verdicts = alone["evidence"]["verdicts"];
  ASSERT_FALSE(verdicts.empty()) << alone.dump(2);
  const std::string control = verdicts[0]["evidence"];
  EXPECT_EQ(control.rfind("control 198.51.100.2:", 0), 0u) << control;
  EXPECT_EQ(verdicts[0]["verdict"], "dead") << control;
  EXPECT_NE(control.find("keep-alive probes unanswered"), std::string::npos)
      << control;
  // The way to the control server: still wan0 with the same source address,
  // so tailscaled's netmon has nothing to notice.
  ASSERT_FALSE(alone["evidence"]["routes"].empty());
  const std::string route = alone["evidence"]["routes"][0];
  EXPECT_EQ(route.rfind("192.0.2.100: dev wan0 ", 0), 0u) << route;
  EXPECT_NE(route.find(" src 198.51.100.2 "), std::string::npos) << route;
  // Readable without a terminal: both halves, no escape sequences.
  EXPECT_NE(run.output.find("== 1. tailscaled alone"), std::string::npos);
  EXPECT_NE(run.output.find("== 2. The same failover, with tswatchdog"),
            std::string::npos);
  EXPECT_EQ(run.output.find('\033'), std::string::npos);
}

// Issue 12 item 4: a dead control connection -> `start`.
TEST(DemoLab, TswatchdogHealsItWithStartAndNothingDisruptive) {
  if (geteuid() != 0) GTEST_SKIP() << "the lab needs root";
  // 200 s scaled: 10 s of wall time, as the diagnosis' own lab tests
  // (world_daemon_lab_test.cc) allow; the kernel's retransmission timers do
  // not scale. tailscaled alone stays offline far longer (README).
  const DemoRun run = RunDemo(20, 200);
  ASSERT_TRUE(run.ok()) << run.output;
  const json& watched = run.summary["tswatchdog"];
  EXPECT_TRUE(watched["healed"].get<bool>()) << run.output;
  EXPECT_GE(watched["steps"]["start"].get<int>(), 1) << run.output;
  EXPECT_EQ(watched["steps"]["reup"], 0) << run.output;
  EXPECT_EQ(watched["steps"]["restart"], 0) << run.output;
  // The diagnosis behind the step named the control connection.
  EXPECT_EQ(watched["diagnosis"].get<std::string>().rfind("control", 0), 0u)
      << run.output;
}

}  // namespace
