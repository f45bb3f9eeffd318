// Reading the shared LocalAPI wire samples (/work/shared/fixtures) in tests.
#ifndef TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_
#define TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace watchdog {

inline std::string FixturePath(const std::string& name) {
  return std::string(TSWATCHDOG_SHARED_FIXTURES) + "/" + name;
}

// Our own extra samples: tests/data/localapi/<name>.
inline std::string ExtraFixturePath(const std::string& name) {
  return std::string(TSWATCHDOG_TEST_DATA) + "/localapi/" + name;
}

// A shared fixture's path, or (with a "data:" prefix) an extra one's.
inline std::string AnyFixturePath(const std::string& name) {
  const bool extra = name.rfind("data:", 0) == 0;
  return extra ? ExtraFixturePath(name.substr(5)) : FixturePath(name);
}

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(AnyFixturePath(name));
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace watchdog

#endif  // TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_
