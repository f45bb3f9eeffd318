// Splits the watch-ipn-bus body (one JSON Notify per '\n'-terminated line)
// into lines as the bytes arrive, in chunks cut anywhere. Pure: the LocalAPI
// client feeds it the de-chunked body as it reads it; the fuzz target feeds it
// arbitrary chunks.
#ifndef TSWATCHDOG_WATCHDOG_CORE_BUS_LINE_SPLITTER_H_
#define TSWATCHDOG_WATCHDOG_CORE_BUS_LINE_SPLITTER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace watchdog {

class BusLineSplitter {
 public:
  // A line (without its '\n') may hold at most `max_line_bytes` bytes.
  explicit BusLineSplitter(size_t max_line_bytes)
      : max_line_bytes_(max_line_bytes) {}

  // Appends `chunk`. Each line it completes is queued, except empty ones
  // (blank lines carry nothing). False when the line being assembled would
  // exceed the cap: the stream must then be dropped; the splitter keeps the
  // lines completed before and refuses further input.
  bool Feed(std::string_view chunk);

  // The oldest complete line not taken yet, if any.
  std::optional<std::string> NextLine();
  bool has_lines() const { return !lines_.empty(); }
  // Bytes of the line not yet terminated by '\n'.
  size_t partial_size() const { return partial_.size(); }
  // '\n's seen so far, blank lines included: progress on the stream.
  uint64_t lines_terminated() const { return lines_terminated_; }
  bool overflowed() const { return overflowed_; }

 private:
  size_t max_line_bytes_;
  std::string partial_;
  std::deque<std::string> lines_;
  bool overflowed_ = false;
  uint64_t lines_terminated_ = 0;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_BUS_LINE_SPLITTER_H_
