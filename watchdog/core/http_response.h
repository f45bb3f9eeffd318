// An incremental parser of one HTTP/1.1 response (RFC 9112), over bytes cut
// anywhere: the status line, the headers, then a body framed by
// Content-Length, by chunked transfer coding, or by the end of the
// connection. Pure: the LocalAPI client feeds it what it reads from
// tailscaled's Unix socket; the fuzz target feeds it arbitrary bytes.
//
// It is as strict as a client talking to one known server can afford to be
// (tailscaled's LocalAPI is Go's net/http): anything it cannot frame is an
// error, never a guess (a transfer coding other than chunked, which it
// could frame but not decode, a NUL or bare CR in the head); bare "\n" line
// ends are accepted like Go's and curl's readers accept them.
#ifndef TSWATCHDOG_WATCHDOG_CORE_HTTP_RESPONSE_H_
#define TSWATCHDOG_WATCHDOG_CORE_HTTP_RESPONSE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace watchdog {

class HttpResponseParser {
 public:
  enum class Outcome {
    kNeedMore,   // give it more bytes (or FinishAtEof)
    kComplete,   // the whole response is in; later bytes are ignored
    kMalformed,  // not HTTP/1.x as framed by RFC 9112: error() says what
    kRefused,    // the body sink returned false (the caller's size cap)
    kCut,        // the connection ended before the response did: error()
  };
  // Receives the body's bytes (de-chunked) as they arrive; false stops.
  using BodySink = std::function<bool(std::string_view)>;

  // The status line, headers and trailers together. Go's http.Transport
  // allows 10 MB (net/http transport.go maxHeaderResponseSize), curl 100 KB
  // per line; tailscaled sends a handful of short ones, so 64 KiB leaves
  // them room and bounds what a hostile peer can make us hold.
  static constexpr size_t kDefaultMaxHeaderBytes = 64 * 1024;

  explicit HttpResponseParser(size_t max_header_bytes = kDefaultMaxHeaderBytes)
      : max_header_bytes_(max_header_bytes) {}

  Outcome Feed(std::string_view bytes, const BodySink& sink);
  // The peer closed the connection: completes a body framed by the close.
  Outcome FinishAtEof();

  // The final status code (1xx interim responses are skipped); 0 before the
  // status line.
  int status() const { return status_; }
  bool headers_complete() const { return headers_complete_; }
  const std::string& error() const { return error_; }
  // Body bytes passed to the sink so far.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State {
    kStatusLine,
    kHeaderLine,
    kBodyByLength,
    kBodyUntilClose,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailerLine,
    kComplete,
    kFailed,
  };

  // Appends `bytes` up to the next '\n' to line_; true with the line (its
  // "\r\n" or "\n" removed) in line_ once it is whole.
  // False with line_overflowed_ set when the line's raw bytes would pass
  // `max_line_bytes`.
  bool TakeLine(std::string_view& bytes, size_t max_line_bytes);
  void ClearLine();
  Outcome Fail(Outcome outcome, std::string error);
  Outcome OnStatusLine();
  Outcome OnHeaderLine();
  Outcome OnHeadersEnd();
  Outcome OnChunkSizeLine();
  Outcome OnTrailerLine();
  // One step in a line state (status, header, chunk size, a chunk's CRLF,
  // trailer) or in the body; both consume from the front of `bytes`.
  Outcome FeedLine(std::string_view& bytes);
  Outcome FeedBody(std::string_view& bytes, const BodySink& sink);
  size_t HeaderRoomLeft() const;

  size_t max_header_bytes_;
  State state_ = State::kStatusLine;
  std::string line_;
  size_t line_raw_bytes_ = 0;  // of line_, with its line end
  bool line_overflowed_ = false;
  size_t header_bytes_ = 0;  // status line, headers and trailers so far
  int status_ = 0;
  bool headers_complete_ = false;
  bool chunked_ = false;
  bool has_length_ = false;
  uint64_t content_length_ = 0;
  uint64_t remaining_ = 0;  // of the body or of the current chunk
  uint64_t body_bytes_ = 0;
  Outcome failure_ = Outcome::kMalformed;  // once state_ is kFailed
  std::string error_;
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_CORE_HTTP_RESPONSE_H_
