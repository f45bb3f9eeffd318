// libFuzzer target: the bytes of one HTTP response through
// watchdog::HttpResponseParser, cut into pieces three ways (whole, byte by
// byte, pseudo-random sizes), then the end of the connection. Every way must
// give the same outcome, status, body and error; the body never exceeds what
// the bytes hold; a sink that refuses stops it, with a prefix of the body.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "watchdog/core/http_response.h"

namespace {

using watchdog::HttpResponseParser;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

struct Result {
  HttpResponseParser::Outcome outcome;
  int status = 0;
  std::string body;
  std::string error;
  bool headers_complete = false;
  bool operator==(const Result&) const = default;
};

Result Parse(std::string_view wire, const std::vector<size_t>& pieces,
             size_t body_cap) {
  HttpResponseParser parser(512);
  Result out{HttpResponseParser::Outcome::kNeedMore, 0, {}, {}, false};
  const HttpResponseParser::BodySink sink = [&](std::string_view bytes) {
    Check(!bytes.empty());
    if (out.body.size() + bytes.size() > body_cap) return false;
    out.body.append(bytes);
    return true;
  };
  size_t i = 0;
  while (!wire.empty() &&
         out.outcome == HttpResponseParser::Outcome::kNeedMore) {
    const size_t n = std::min(wire.size(), pieces[i++ % pieces.size()]);
    out.outcome = parser.Feed(wire.substr(0, n), sink);
    wire.remove_prefix(n);
  }
  if (out.outcome == HttpResponseParser::Outcome::kNeedMore) {
    out.outcome = parser.FinishAtEof();
  }
  Check(out.outcome != HttpResponseParser::Outcome::kNeedMore);
  Check(parser.body_bytes() >= out.body.size());
  out.status = parser.status();
  out.error = parser.error();
  out.headers_complete = parser.headers_complete();
  // Only a finished response has no error text.
  Check(out.error.empty() ==
        (out.outcome == HttpResponseParser::Outcome::kComplete));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view wire(reinterpret_cast<const char*>(data), size);
  std::mt19937 random(static_cast<uint32_t>(size));
  std::vector<size_t> random_pieces;
  for (int i = 0; i < 16; ++i) random_pieces.push_back(1 + random() % 97);
  const Result whole = Parse(wire, {wire.size() + 1}, std::string::npos);
  Check(whole.body.size() <= wire.size());
  Check(Parse(wire, {1}, std::string::npos) == whole);
  Check(Parse(wire, random_pieces, std::string::npos) == whole);
  // A sink that refuses past 16 bytes: where it stops depends on the cuts,
  // but never what it got nor that it stopped.
  const bool refused = whole.body.size() > 16;
  for (const auto& pieces : std::vector<std::vector<size_t>>{
           {wire.size() + 1}, {1}, random_pieces}) {
    const Result capped = Parse(wire, pieces, 16);
    Check(whole.body.starts_with(capped.body));
    Check(capped.body.size() <= 16);
    Check(refused == (capped.outcome == HttpResponseParser::Outcome::kRefused));
    if (!refused) Check(capped == whole);
  }
  return 0;
}
