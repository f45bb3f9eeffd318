// The project's one way to return a value or why there is none:
// Expected<T, E>, a small subset of C++23's std::expected (Debian 12's
// toolchains, GCC 12 and clang 14, build C++20; libstdc++ 12 has no
// <expected>, and tl-expected is not packaged). Each module has its own
// error type E (config::Result<T> is Expected<T, ConfigError>; the LocalAPI
// parsers' Parsed<T> is Expected<T, ParseError>; a LocalAPI call's
// ApiResult<T> is Expected<T, LocalApiError>; what the host refused is a
// SystemError, core/system_error.h), so a value and an error can never be
// mistaken for each other. Unlike std::expected, an Expected is also built
// implicitly from its E (a distinct type; static_assert'ed). Expected<void, E>
// is success or the error: a default-built one (`return {};`) succeeded.
#ifndef TSWATCHDOG_WATCHDOG_CORE_EXPECTED_H_
#define TSWATCHDOG_WATCHDOG_CORE_EXPECTED_H_

#include <type_traits>
#include <utility>
#include <variant>

namespace watchdog {

// An error, wrapped so that it converts to any Expected<T, E>.
template <typename E>
struct Unexpected {
  E error;
};

template <typename E>
Unexpected<std::decay_t<E>> MakeUnexpected(E&& error) {
  return {std::forward<E>(error)};
}

// Either a value or the error that prevented it. value() and error() must
// only be called on the side that holds (check has_value() first).
template <typename T, typename E>
class [[nodiscard]] Expected {
  static_assert(!std::is_same_v<std::decay_t<T>, std::decay_t<E>>,
                "a value and its error need distinct types");

 public:
  Expected(T value)  // NOLINT: implicit, like std::expected
      : state_(std::in_place_index<0>, std::move(value)) {}
  Expected(E error)  // NOLINT: implicit: E is a module's own error type
      : state_(std::in_place_index<1>, std::move(error)) {}
  template <typename G>
  Expected(Unexpected<G> error)  // NOLINT: implicit, like std::expected
      : state_(std::in_place_index<1>, std::move(error.error)) {}

  bool has_value() const { return state_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  const E& error() const& { return std::get<1>(state_); }
  E& error() & { return std::get<1>(state_); }
  E&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, E> state_;
};

// Success, or the error that prevented it.
template <typename E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  Expected(E error)  // NOLINT: implicit: E is a module's own error type
      : error_(std::in_place_index<1>, std::move(error)) {}
  template <typename G>
  Expected(Unexpected<G> error)  // NOLINT: implicit, like std::expected
      : error_(std::in_place_index<1>, std::move(error.error)) {}

  bool has_value() const { return error_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  const E& error() const& { return std::get<1>(error_); }
  E& error() & { return std::get<1>(error_); }
  E&& error() && { return std::get<1>(std::move(error_)); }

 private:
  std::variant<std::monostate, E> error_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_EXPECTED_H_
