// The `--events FILE` log: one JSON object per line, `unix_ms` and `event`
// first, flushed at once, so tests and the time-to-heal benchmark can read
// what happened and when. Every line also goes to stderr, readable.
#ifndef TSWATCHDOG_TESTS_FAKE_EVENT_LOG_H_
#define TSWATCHDOG_TESTS_FAKE_EVENT_LOG_H_

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace fake {

int64_t UnixMillis();
std::string NowRfc3339();

class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  ~EventLog();

  // Appends to `path` ("" : stderr only). False (errno set) on error.
  bool Open(const std::string& path);
  // {"unix_ms":…,"event":name, fields…}
  void Write(const std::string& name,
             const nlohmann::ordered_json& fields = {});
  // Labels stderr lines ("fake_tailscaled", "internet").
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }

 private:
  std::FILE* file_ = nullptr;
  std::string prefix_ = "fake_tailscaled";
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_EVENT_LOG_H_
