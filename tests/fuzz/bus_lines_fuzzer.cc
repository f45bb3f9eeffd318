// libFuzzer target: a watch-ipn-bus body through watchdog::BusLineSplitter,
// cut into chunks three ways (whole, byte by byte, pseudo-random sizes) and
// with a small and a large line cap. Every way must give the lines (and the
// overflow) of a plain reference split.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "watchdog/core/bus_line_splitter.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

struct Split {
  std::vector<std::string> lines;
  bool overflowed = false;
  bool operator==(const Split&) const = default;
};

// Non-empty '\n'-terminated lines until the first one (complete or not)
// longer than `cap`.
Split Reference(std::string_view body, size_t cap) {
  Split out;
  size_t start = 0;
  while (start <= body.size()) {
    const size_t nl = body.find('\n', start);
    const size_t end = nl == std::string_view::npos ? body.size() : nl;
    if (end - start > cap) {
      out.overflowed = true;
      break;
    }
    if (nl == std::string_view::npos) break;
    if (end > start) out.lines.emplace_back(body.substr(start, end - start));
    start = nl + 1;
  }
  return out;
}

Split Feed(std::string_view body, size_t cap,
           const std::vector<size_t>& chunk_sizes) {
  watchdog::BusLineSplitter splitter(cap);
  Split out;
  size_t i = 0;
  for (size_t offset = 0; offset < body.size();) {
    const size_t n =
        std::min(chunk_sizes[i++ % chunk_sizes.size()], body.size() - offset);
    const bool ok = splitter.Feed(body.substr(offset, n));
    Check(ok == !splitter.overflowed());
    Check(splitter.partial_size() <= cap);
    while (auto line = splitter.NextLine()) out.lines.push_back(*line);
    if (!ok) {
      out.overflowed = true;
      Check(!splitter.Feed("x\n"));  // stays refused
      Check(!splitter.has_lines());
      break;
    }
    offset += n;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::minstd_rand rng(static_cast<uint32_t>(size));
  std::vector<size_t> random_sizes(16);
  for (size_t& n : random_sizes) n = 1 + rng() % 97;
  for (size_t cap : {size_t{32}, size_t{1} << 20}) {
    const Split expected = Reference(body, cap);
    Check(Feed(body, cap, {size ? size : 1}) == expected);
    // Byte by byte costs a call per byte: only for short inputs.
    if (size <= 512) Check(Feed(body, cap, {1}) == expected);
    Check(Feed(body, cap, random_sizes) == expected);
  }
  return 0;
}
