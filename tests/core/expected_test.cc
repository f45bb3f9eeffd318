#include "watchdog/core/expected.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>

#include "watchdog/core/system_error.h"

namespace watchdog {
namespace {

struct TestError {
  std::string message;
};

Expected<int, TestError> Half(int n) {
  if (n % 2 != 0) return TestError{std::to_string(n) + " is odd"};
  return n / 2;
}

TEST(ExpectedTest, HoldsTheValueOrTheError) {
  auto half = Half(8);
  ASSERT_TRUE(half.has_value());
  EXPECT_TRUE(static_cast<bool>(half));
  EXPECT_EQ(half.value(), 4);
  EXPECT_EQ(*half, 4);

  auto odd = Half(7);
  ASSERT_FALSE(odd.has_value());
  EXPECT_FALSE(static_cast<bool>(odd));
  EXPECT_EQ(odd.error().message, "7 is odd");
}

TEST(ExpectedTest, MakeUnexpectedConvertsToAnyValueType) {
  Expected<std::string, TestError> text = MakeUnexpected(TestError{"no"});
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().message, "no");
  Expected<std::string, std::size_t> counted = MakeUnexpected(std::size_t{3});
  ASSERT_FALSE(counted);
  EXPECT_EQ(counted.error(), 3u);
}

TEST(ExpectedTest, MovesOutMoveOnlyValues) {
  Expected<std::unique_ptr<int>, TestError> owned = std::make_unique<int>(5);
  ASSERT_TRUE(owned);
  EXPECT_EQ(*owned.value(), 5);
  std::unique_ptr<int> taken = std::move(owned).value();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(*taken, 5);
}

TEST(ExpectedTest, ArrowReachesTheValue) {
  Expected<std::string, TestError> text = std::string("abc");
  EXPECT_EQ(text->size(), 3u);
  text->append("d");
  EXPECT_EQ(*text, "abcd");
}

Expected<void, TestError> MustBeEven(int n) {
  if (n % 2 != 0) return TestError{std::to_string(n) + " is odd"};
  return {};
}

TEST(ExpectedTest, VoidHoldsSuccessOrTheError) {
  auto even = MustBeEven(4);
  EXPECT_TRUE(even.ok());
  EXPECT_TRUE(static_cast<bool>(even));

  auto odd = MustBeEven(3);
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().message, "3 is odd");
  Expected<void, TestError> refused = MakeUnexpected(TestError{"no"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(std::move(refused).error().message, "no");
}

TEST(SystemErrorTest, SaysTheContextAndErrnoText) {
  EXPECT_EQ(SystemError::FromErrno(ENOENT, "reading /x").ToString(),
            std::string("reading /x: ") + std::strerror(ENOENT));
  errno = EACCES;
  const SystemError now = SystemError::FromErrno("opening /y");
  EXPECT_EQ(now.errno_value, EACCES);
  EXPECT_EQ(SystemError::Problem("/z is a FIFO").ToString(), "/z is a FIFO");
  EXPECT_EQ(SystemError::Problem("/z is a FIFO").errno_value, 0);
}

TEST(SystemErrorTest, TakesAThrownSystemErrorWithoutRepeatingErrno) {
  const std::system_error thrown(EPERM, std::generic_category(), "socket");
  const SystemError error = SystemError::From(thrown, "sock_diag: ");
  EXPECT_EQ(error.errno_value, EPERM);
  EXPECT_EQ(error.ToString(), std::string("sock_diag: ") + thrown.what());
}

}  // namespace
}  // namespace watchdog
