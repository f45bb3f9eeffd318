// Reading the LocalAPI wire samples (tests/data/localapi, README.md there)
// in tests.
#ifndef TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_
#define TSWATCHDOG_TESTS_LOCALAPI_TEST_FIXTURES_H_

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace watchdog {

// tests/data/localapi/<name>. (A "data:" prefix, from when some samples
// lived outside the tree, is accepted and ignored.)
inline std::string FixturePath(const std::string& name) {
  const bool prefixed = name.rfind("data:", 0) == 0;
  return std::string(TSWATCHDOG_TEST_DATA) + "/localapi/" +
         (prefixed ? name.substr(5) : name);
}

inline std::string AnyFixturePath(const std::string& name) {
  return FixturePath(name);
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
