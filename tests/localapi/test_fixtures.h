// Reading the LocalAPI wire samples (tests/data/localapi) in tests.
#ifndef TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_
#define TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace watchdog {

// tests/data/localapi/<name>.
inline std::string FixturePath(const std::string& name) {
  return std::string(TSWATCHDOG_TEST_DATA) + "/localapi/" + name;
}

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixturePath(name));
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace watchdog

#endif  // TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_
