// Tests of config/ against hostile or absurd input (issue 13): input bounds
// checked before the TOML parser runs, files that are not regular files,
// durations too long for the daemon's clock arithmetic.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"
#include "config/duration.h"

namespace config {
namespace {

using std::chrono::hours;

std::string DottedKey(size_t parts) {
  std::string key = "a";
  for (size_t i = 1; i < parts; ++i) key += ".a";
  return key;
}

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/tswatchdog-config-limits-XXXXXX";
    if (mkdtemp(name) != nullptr) path_ = name;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Found by hand (issue 13, defect 1): ~35k dotted parts in one key (a 64 KB
// file) overflowed the stack inside toml++ at start and on SIGHUP.
TEST(ConfigLimitsTest, AVeryLongDottedKeyIsAnErrorNotACrash) {
  const std::string text = "debounce = \"1s\"\n" + DottedKey(35000) + " = 1\n";
  auto parsed = ParseToml(text, "/etc/deep.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().file, "/etc/deep.toml");
  EXPECT_EQ(parsed.error().line, 2);
  EXPECT_NE(parsed.error().message.find("nested too deeply"), std::string::npos)
      << parsed.error().ToString();
}

TEST(ConfigLimitsTest, DeepTableHeadersAreBoundedToo) {
  auto parsed = ParseToml("[" + DottedKey(5000) + "]\nx = 1\n", "h.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().line, 1);
  EXPECT_NE(parsed.error().message.find("nested too deeply"), std::string::npos)
      << parsed.error().ToString();
}

// The bound counts key parts only: dots inside strings and comments, and
// ordinary dotted tables, still reach the parser (and its own messages).
TEST(ConfigLimitsTest, DotsInStringsAndCommentsAreNotKeyParts) {
  const std::string dots(200, '.');
  const std::string text = "# " + dots + "\nhooks_dir = \"/x" + dots +
                           "\"\nsocket = '" + dots + "'\nlog_style = \"\"\"" +
                           dots + "\n" + dots + "\"\"\"\n";
  auto parsed = ParseToml(text, "s.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().key, "log_style") << parsed.error().ToString();

  auto table = ParseToml("a.b.c = 1\n", "t.toml");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().message, "unknown table");
}

TEST(ConfigLimitsTest, OversizedTextIsRefusedBeforeParsing) {
  std::string text = "debounce = \"1s\"\n";
  text += "# " + std::string(kMaxConfigBytes, 'x') + "\n";
  auto parsed = ParseToml(text, "big.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().file, "big.toml");
  EXPECT_NE(parsed.error().message.find("larger than"), std::string::npos)
      << parsed.error().ToString();
}

// `--config /dev/zero` read 2.3 GB before giving up.
TEST(ConfigLimitsTest, DevicesOtherThanDevNullAreRefused) {
  auto loaded = LoadFile("/dev/zero");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().file, "/dev/zero");
  EXPECT_NE(loaded.error().message.find("not a regular file"),
            std::string::npos)
      << loaded.error().ToString();
}

// /dev/null is the usual spelling of "no config file": defaults.
TEST(ConfigLimitsTest, DevNullIsAnEmptyConfig) {
  auto loaded = LoadFile("/dev/null");
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(loaded.value(), Config{});
}

// Opening a FIFO for reading blocks until a writer comes: it must be
// refused without ever blocking. The test fails by timeout on a block, so
// it runs the load in a child with an alarm.
TEST(ConfigLimitsTest, AFifoIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string fifo = dir.path() + "/config.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EXIT(
      {
        alarm(5);
        auto loaded = LoadFile(fifo);
        std::exit(!loaded.ok() && loaded.error().message.find(
                                      "not a regular file") != std::string::npos
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ConfigLimitsTest, ARegularFileOverTheLimitIsRefused) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/big.toml";
  {
    std::ofstream out(path);
    out << "# " << std::string(kMaxConfigBytes, 'x') << "\n";
  }
  auto loaded = LoadFile(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().file, path);
  EXPECT_NE(loaded.error().message.find("larger than"), std::string::npos)
      << loaded.error().ToString();
}

// Durations above ~2.5M hours overflowed the daemon's nanosecond clock
// (UBSan abort; the optimized build treated them as 0).
TEST(ConfigLimitsTest, DurationsAreBoundedByTheLongestSaneValue) {
  auto huge = ParseToml("verify = \"2600000h\"\n", "d.toml");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().key, "verify");
  EXPECT_EQ(huge.error().line, 1);
  EXPECT_NE(
      huge.error().message.find("at most " + FormatDuration(kMaxDuration)),
      std::string::npos)
      << huge.error().ToString();

  Config config;
  config.backoff_max = kMaxDuration + std::chrono::milliseconds(1);
  auto valid = Validate(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.error().key, "backoff_max");

  config.backoff_max = kMaxDuration;
  config.settle_max = kMaxDuration;
  config.unhealthy_after = kMaxDuration;
  EXPECT_TRUE(Validate(config).ok());
}

// restart_on_ip names went to `systemctl restart UNIT` unchecked: "--help",
// "-H host" and "--host=root@..." were passed through as options, and
// without systemd "../../../tmp/x" became /etc/init.d/../../../tmp/x.
// Names follow systemd's rules (unit_name_is_valid), which keep '/' and
// whitespace out; the daemon also passes "--" before them.
TEST(ConfigLimitsTest, RestartOnIpTakesOnlyUnitNames) {
  for (const char* good :
       {"ssh.socket", "ssh", "dropbear", "nginx.service", "getty@tty1.service",
        "sys-subsystem-net-devices-wan0.device", "a:b_c\\x2d.d.service"}) {
    Config config;
    config.restart_on_ip = {good};
    EXPECT_TRUE(Validate(config).ok()) << good;
  }
  for (const std::string& bad :
       {std::string("../../../tmp/x"), std::string("--help"),
        std::string("-H host"), std::string("--host=root@10.0.0.1"),
        std::string("a/b.service"), std::string("getty@.service"),
        std::string("@x.service"), std::string(""), std::string("a b"),
        std::string(".."), std::string(".hidden"), std::string("ssh.socket\n"),
        std::string("caf\xC3\xA9.service"),
        std::string(252, 'x') + ".socket"}) {
    Config config;
    config.restart_on_ip = {bad};
    auto valid = Validate(config);
    ASSERT_FALSE(valid.ok()) << bad;
    EXPECT_EQ(valid.error().key, "restart_on_ip");
    EXPECT_NE(valid.error().message.find("is not a unit name"),
              std::string::npos)
        << valid.error().message;
  }
}

}  // namespace
}  // namespace config
