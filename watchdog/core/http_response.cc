#include "watchdog/core/http_response.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "watchdog/core/text.h"

namespace watchdog {
namespace {

// A chunk-size line: the size in hex and, rarely, extensions after ';'.
constexpr size_t kMaxChunkSizeLineBytes = 4096;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Optional whitespace (RFC 9110 5.6.3) around a field value.
std::string_view TrimOws(std::string_view s) { return Trim(s, " \t"); }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return Lower(x) == Lower(y); });
}

// RFC 9110 token characters (a header field name).
bool IsTokenChar(char c) {
  if (IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 5.5: a field value (or any line of the head) holding a NUL or a
// bare CR must be rejected or have them replaced; a bare CR could also hide
// a header in the line before it ("OK\rContent-Length: 5").
bool HasNulOrCr(std::string_view line) {
  return line.find_first_of(std::string_view("\0\r", 2)) !=
         std::string_view::npos;
}

}  // namespace

HttpResponseParser::Outcome HttpResponseParser::Fail(Outcome outcome,
                                                     std::string error) {
  state_ = State::kFailed;
  failure_ = outcome;
  error_ = std::move(error);
  return outcome;
}

size_t HttpResponseParser::HeaderRoomLeft() const {
  return max_header_bytes_ - std::min(header_bytes_, max_header_bytes_);
}

bool HttpResponseParser::TakeLine(std::string_view& bytes,
                                  size_t max_line_bytes) {
  const size_t newline = bytes.find('\n');
  const size_t take =
      newline == std::string_view::npos ? bytes.size() : newline + 1;
  if (line_raw_bytes_ + take > max_line_bytes) {
    line_overflowed_ = true;
    return false;
  }
  line_.append(bytes.substr(0, take));
  line_raw_bytes_ += take;
  bytes.remove_prefix(take);
  if (newline == std::string_view::npos) return false;
  line_.pop_back();
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  return true;
}

void HttpResponseParser::ClearLine() {
  line_.clear();
  line_raw_bytes_ = 0;
}

HttpResponseParser::Outcome HttpResponseParser::Feed(std::string_view bytes,
                                                     const BodySink& sink) {
  while (true) {
    if (state_ == State::kComplete) return Outcome::kComplete;
    if (state_ == State::kFailed) return failure_;
    if (bytes.empty()) return Outcome::kNeedMore;
    const bool in_body = state_ == State::kBodyByLength ||
                         state_ == State::kChunkData ||
                         state_ == State::kBodyUntilClose;
    const Outcome outcome = in_body ? FeedBody(bytes, sink) : FeedLine(bytes);
    if (outcome != Outcome::kNeedMore) return outcome;
  }
}

HttpResponseParser::Outcome HttpResponseParser::FeedLine(
    std::string_view& bytes) {
  if (state_ == State::kChunkSize) {
    if (!TakeLine(bytes, kMaxChunkSizeLineBytes)) {
      if (!line_overflowed_) return Outcome::kNeedMore;
      return Fail(Outcome::kMalformed,
                  "a chunk-size line longer than " +
                      std::to_string(kMaxChunkSizeLineBytes) + " bytes");
    }
    if (HasNulOrCr(line_)) {
      return Fail(Outcome::kMalformed, "a NUL or bare CR in a chunk-size line");
    }
    const Outcome outcome = OnChunkSizeLine();
    ClearLine();
    return outcome;
  }
  if (state_ == State::kChunkDataEnd) {
    // The CRLF after a chunk's data: nothing else may stand there.
    if (!TakeLine(bytes, 2) && !line_overflowed_) return Outcome::kNeedMore;
    if (line_overflowed_ || !line_.empty()) {
      return Fail(Outcome::kMalformed, "a chunk's data overruns its size");
    }
    ClearLine();
    state_ = State::kChunkSize;
    return Outcome::kNeedMore;
  }
  // The status line, a header line or a trailer line.
  if (!TakeLine(bytes, HeaderRoomLeft())) {
    if (!line_overflowed_) return Outcome::kNeedMore;
    return Fail(Outcome::kMalformed, "response headers longer than " +
                                         std::to_string(max_header_bytes_) +
                                         " bytes");
  }
  header_bytes_ += line_raw_bytes_;
  if (HasNulOrCr(line_)) {
    return Fail(Outcome::kMalformed,
                std::string("a NUL or bare CR in the response's ") +
                    (state_ == State::kStatusLine ? "status line" : "headers"));
  }
  const Outcome outcome = state_ == State::kStatusLine   ? OnStatusLine()
                          : state_ == State::kHeaderLine ? OnHeaderLine()
                                                         : OnTrailerLine();
  ClearLine();
  return outcome;
}

HttpResponseParser::Outcome HttpResponseParser::FeedBody(
    std::string_view& bytes, const BodySink& sink) {
  const bool until_close = state_ == State::kBodyUntilClose;
  const size_t take =
      until_close ? bytes.size()
                  : static_cast<size_t>(std::min<uint64_t>(
                        remaining_, static_cast<uint64_t>(bytes.size())));
  const std::string_view piece = bytes.substr(0, take);
  bytes.remove_prefix(take);
  if (!until_close) remaining_ -= take;
  body_bytes_ += take;
  if (!piece.empty() && !sink(piece)) {
    return Fail(Outcome::kRefused, "the body sink refused more bytes");
  }
  if (until_close || remaining_ > 0) return Outcome::kNeedMore;
  if (state_ == State::kBodyByLength) {
    state_ = State::kComplete;
    return Outcome::kComplete;
  }
  state_ = State::kChunkDataEnd;
  return Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::OnStatusLine() {
  // "HTTP/1.1 200 OK": the version, one space, three digits, then a space
  // and the reason (which may be empty, and the space too).
  const std::string_view line = line_;
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !IsDigit(line[7]) ||
      line[8] != ' ' || !IsDigit(line[9]) || !IsDigit(line[10]) ||
      !IsDigit(line[11]) || (line.size() > 12 && line[12] != ' ')) {
    return Fail(Outcome::kMalformed, "not an HTTP/1.x status line: \"" +
                                         std::string(line.substr(0, 40)) +
                                         "\"");
  }
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status_ < 100) {
    return Fail(Outcome::kMalformed,
                "status code " + std::to_string(status_) + " out of range");
  }
  state_ = State::kHeaderLine;
  return Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::OnHeaderLine() {
  if (line_.empty()) return OnHeadersEnd();
  const std::string_view line = line_;
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding (RFC 9112 5.2): a client may reject it.
    return Fail(Outcome::kMalformed, "a folded response header line");
  }
  const size_t colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || name.empty() ||
      !std::all_of(name.begin(), name.end(), IsTokenChar)) {
    return Fail(Outcome::kMalformed, "a malformed response header line: \"" +
                                         std::string(line.substr(0, 40)) +
                                         "\"");
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (EqualsIgnoringCase(name, "Transfer-Encoding")) {
    // We send no TE, so chunked is the only coding a server may apply, and
    // once (RFC 9112 6.1, 7.4): any other we could frame by the close but
    // not decode, so the body would not be the body. Go's client refuses
    // them too (net/http transfer.go: "unsupported transfer encoding").
    if (chunked_ || !EqualsIgnoringCase(value, "chunked")) {
      return Fail(Outcome::kMalformed,
                  "an unsupported Transfer-Encoding (only chunked, once): \"" +
                      std::string(value.substr(0, 40)) + "\"");
    }
    chunked_ = true;
  } else if (EqualsIgnoringCase(name, "Content-Length")) {
    uint64_t length = 0;
    const auto [end, ec] =
        std::from_chars(value.data(), value.data() + value.size(), length);
    if (value.empty() || ec != std::errc() ||
        end != value.data() + value.size() ||
        (has_length_ && length != content_length_)) {
      return Fail(
          Outcome::kMalformed,
          "a bad Content-Length: \"" + std::string(value.substr(0, 40)) + "\"");
    }
    has_length_ = true;
    content_length_ = length;
  }
  return Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::OnHeadersEnd() {
  if (status_ < 200 && status_ != 101) {
    // An interim response (100 Continue, 103 Early Hints): the final one
    // follows.
    state_ = State::kStatusLine;
    chunked_ = has_length_ = false;
    content_length_ = 0;
    return Outcome::kNeedMore;
  }
  if (status_ == 101) {
    return Fail(Outcome::kMalformed, "101 Switching Protocols, unasked");
  }
  headers_complete_ = true;
  // RFC 9112 6.3: no body for 204 and 304; Transfer-Encoding overrides
  // Content-Length; without either the body runs to the close.
  if (status_ == 204 || status_ == 304) {
    state_ = State::kComplete;
    return Outcome::kComplete;
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (!has_length_) {
    state_ = State::kBodyUntilClose;
  } else if (content_length_ == 0) {
    state_ = State::kComplete;
    return Outcome::kComplete;
  } else {
    state_ = State::kBodyByLength;
    remaining_ = content_length_;
  }
  return Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::OnChunkSizeLine() {
  std::string_view line = line_;
  const size_t semicolon = line.find(';');
  if (semicolon != std::string_view::npos) line = line.substr(0, semicolon);
  line = TrimOws(line);
  uint64_t size = 0;
  const auto [end, ec] =
      std::from_chars(line.data(), line.data() + line.size(), size, 16);
  if (line.empty() || line.size() > 16 || ec != std::errc() ||
      end != line.data() + line.size()) {
    return Fail(
        Outcome::kMalformed,
        "a bad chunk size: \"" + std::string(line.substr(0, 40)) + "\"");
  }
  if (size == 0) {
    state_ = State::kTrailerLine;
  } else {
    state_ = State::kChunkData;
    remaining_ = size;
  }
  return Outcome::kNeedMore;
}

HttpResponseParser::Outcome HttpResponseParser::OnTrailerLine() {
  // Trailer fields are read and dropped; the blank line ends the message.
  if (!line_.empty()) return Outcome::kNeedMore;
  state_ = State::kComplete;
  return Outcome::kComplete;
}

HttpResponseParser::Outcome HttpResponseParser::FinishAtEof() {
  switch (state_) {
    case State::kComplete:
      return Outcome::kComplete;
    case State::kFailed:
      return failure_;
    case State::kBodyUntilClose:
      state_ = State::kComplete;
      return Outcome::kComplete;
    case State::kStatusLine:
      if (header_bytes_ == 0 && line_raw_bytes_ == 0) {
        return Fail(Outcome::kCut, "connection closed before any response");
      }
      [[fallthrough]];
    case State::kHeaderLine:
      return Fail(Outcome::kCut, "connection closed inside the headers");
    case State::kBodyByLength:
      return Fail(Outcome::kCut,
                  "connection closed after " + std::to_string(body_bytes_) +
                      " of " + std::to_string(content_length_) + " body bytes");
    case State::kChunkSize:
    case State::kChunkData:
    case State::kChunkDataEnd:
    case State::kTrailerLine:
      return Fail(Outcome::kCut,
                  "connection closed inside the chunked body, "
                  "after " +
                      std::to_string(body_bytes_) + " bytes");
  }
  return Outcome::kMalformed;
}

}  // namespace watchdog
