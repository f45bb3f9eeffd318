#include "watchdog/core/bus_line_splitter.h"

#include <utility>

namespace watchdog {

bool BusLineSplitter::Feed(std::string_view chunk) {
  if (overflowed_) return false;
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const size_t take = nl == std::string_view::npos ? chunk.size() : nl;
    if (take > max_line_bytes_ - partial_.size()) {
      overflowed_ = true;
      return false;
    }
    partial_.append(chunk.substr(0, take));
    if (nl == std::string_view::npos) break;
    if (!partial_.empty()) lines_.push_back(std::move(partial_));
    partial_.clear();
    ++lines_terminated_;
    chunk.remove_prefix(nl + 1);
  }
  return true;
}

std::optional<std::string> BusLineSplitter::NextLine() {
  if (lines_.empty()) return std::nullopt;
  std::string line = std::move(lines_.front());
  lines_.pop_front();
  return line;
}

}  // namespace watchdog
