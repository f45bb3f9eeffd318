#include "watchdog/core/http_response.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace watchdog {
namespace {

using ParseOutcome = HttpResponseParser::Outcome;
// A literal's bytes, NULs included.
template <size_t N>
std::string HttpBytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

struct ParsedResponse {
  ParseOutcome outcome = ParseOutcome::kNeedMore;
  int status = 0;
  std::string body;
  std::string error;
};

// Feeds `wire` in pieces of `piece` bytes (the cuts a socket may make), then
// the end of the connection if `eof` and the response is not over.
ParsedResponse ParseResponse(std::string_view wire, size_t piece,
                             bool eof = true,
                             size_t body_cap = std::string::npos) {
  HttpResponseParser parser(256);
  ParsedResponse out;
  const HttpResponseParser::BodySink sink = [&](std::string_view bytes) {
    if (out.body.size() + bytes.size() > body_cap) return false;
    out.body.append(bytes);
    return true;
  };
  while (!wire.empty() && out.outcome == ParseOutcome::kNeedMore) {
    const size_t n = std::min(piece, wire.size());
    out.outcome = parser.Feed(wire.substr(0, n), sink);
    wire.remove_prefix(n);
  }
  if (eof && out.outcome == ParseOutcome::kNeedMore) {
    out.outcome = parser.FinishAtEof();
  }
  out.status = parser.status();
  out.error = parser.error();
  EXPECT_EQ(parser.body_bytes() >= out.body.size(), true);
  return out;
}

struct ResponseCase {
  const char* name;
  std::string wire;
  ParseOutcome outcome;
  int status;
  std::string body;  // or a fragment of the error
};

const ResponseCase kResponseCases[] = {
    {"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
     ParseOutcome::kComplete, 200, "hello"},
    {"content length, bytes after it ignored",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA",
     ParseOutcome::kComplete, 200, "hi"},
    {"chunked, with an extension and a trailer",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5;name=x\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: y\r\n\r\n",
     ParseOutcome::kComplete, 200, "hello!"},
    {"chunked wins over content length",
     "HTTP/1.1 200 OK\r\nContent-Length: 99\r\ntransfer-encoding: chunked\r\n"
     "\r\n2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kComplete, 200, "ok"},
    {"upper-case hex size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "\r\nA\r\n0123456789\r\n0\r\n\r\n",
     ParseOutcome::kComplete, 200, "0123456789"},
    {"until close", "HTTP/1.0 404 Not Found\r\n\r\nno such thing",
     ParseOutcome::kComplete, 404, "no such thing"},
    {"content length with leading zeros and whitespace",
     "HTTP/1.1 200 OK\r\nContent-Length: \t007 \r\n\r\nsevenXX",
     ParseOutcome::kComplete, 200, "sevenXX"},
    {"chunked, case and whitespace aside",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n"
     "2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kComplete, 200, "ok"},
    {"a chunk extension with a quoted string holding ';' and '\"'",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2 ;a=\"x;\\\"y\" ;b\r\nok\r\n0;last\r\n\r\n",
     ParseOutcome::kComplete, 200, "ok"},
    {"trailers after the last chunk",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2\r\nok\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
     ParseOutcome::kComplete, 200, "ok"},
    {"obs-text in a header value and the reason",
     "HTTP/1.1 200 \xC3\x96K\r\nX-Note: caf\xE9 \xFF\r\nContent-Length: 2\r\n"
     "\r\nok",
     ParseOutcome::kComplete, 200, "ok"},
    {"304 has no body, whatever it says",
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nignored",
     ParseOutcome::kComplete, 304, ""},
    {"an interim response's framing does not carry over",
     "HTTP/1.1 103 Early Hints\r\nContent-Length: 99\r\n\r\n"
     "HTTP/1.1 200 OK\r\n\r\nto the close",
     ParseOutcome::kComplete, 200, "to the close"},
    // We send no TE: a coding other than chunked could be framed by the
    // close but not decoded; chunked twice is forbidden (RFC 9112 7.4).
    {"a transfer coding other than chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n"
     "abc",
     ParseOutcome::kMalformed, 200, "unsupported Transfer-Encoding"},
    {"gzip then chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
     "2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "unsupported Transfer-Encoding"},
    {"chunked twice in one header",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
     "2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "unsupported Transfer-Encoding"},
    {"chunked in two headers",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "unsupported Transfer-Encoding"},
    {"chunked, then another coding in a second header",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: gzip\r\n\r\n2\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "unsupported Transfer-Encoding"},
    {"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
     ParseOutcome::kComplete, 204, ""},
    {"content length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     ParseOutcome::kComplete, 200, ""},
    {"an interim 100 Continue is skipped",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
     "\r\nok",
     ParseOutcome::kComplete, 200, "ok"},
    {"bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
     ParseOutcome::kComplete, 200, "ok"},
    {"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
     ParseOutcome::kComplete, 200, "ok"},
    {"repeated equal content lengths",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
     ParseOutcome::kComplete, 200, "ok"},
    // Malformed.
    {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n\r\n", ParseOutcome::kMalformed, 0,
     "status line"},
    {"HTTP/2 preface", "HTTP/2 200\r\n\r\n", ParseOutcome::kMalformed, 0,
     "status line"},
    {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", ParseOutcome::kMalformed, 0,
     "status line"},
    {"status 099", "HTTP/1.1 099 Odd\r\n\r\n", ParseOutcome::kMalformed, 99,
     "out of range"},
    {"conflicting content lengths",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"a content length list, even of equal values",
     "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"a content length with a sign",
     "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"an empty content length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"a bare CR hiding a header in the status line",
     "HTTP/1.1 200 OK\rContent-Length: 2\r\n\r\nok", ParseOutcome::kMalformed,
     0, "bare CR in the response's status line"},
    {"a bare CR inside a header value",
     "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 2\r\n\r\nok",
     ParseOutcome::kMalformed, 200, "bare CR in the response's headers"},
    {"a NUL byte in a header value",
     HttpBytes("HTTP/1.1 200 OK\r\nX: a\0b\r\nContent-Length: 2\r\n\r\nok"),
     ParseOutcome::kMalformed, 200, "NUL or bare CR"},
    {"a NUL byte in a trailer",
     HttpBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\nX: \0\r\n\r\n"),
     ParseOutcome::kMalformed, 200, "NUL or bare CR"},
    {"a bare CR in a chunk extension",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2;x\ry\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "chunk-size line"},
    {"negative content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"content length with junk",
     "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n", ParseOutcome::kMalformed,
     200, "Content-Length"},
    {"content length past 64 bits",
     "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
     ParseOutcome::kMalformed, 200, "Content-Length"},
    {"a header without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
     ParseOutcome::kMalformed, 200, "header line"},
    {"space before the colon", "HTTP/1.1 200 OK\r\nName : x\r\n\r\n",
     ParseOutcome::kMalformed, 200, "header line"},
    {"a folded header", "HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n",
     ParseOutcome::kMalformed, 200, "folded"},
    {"headers over the cap",
     "HTTP/1.1 200 OK\r\nX: " + std::string(300, 'h') + "\r\n\r\n",
     ParseOutcome::kMalformed, 200, "longer than 256 bytes"},
    {"a status line's reason over the cap",
     "HTTP/1.1 200 " + std::string(300, 'r') + "\r\n\r\n",
     ParseOutcome::kMalformed, 0, "longer than 256 bytes"},
    {"many short headers over the cap",
     "HTTP/1.1 200 OK\r\n" +
         [] {
           std::string headers;
           for (int i = 0; i < 50; ++i) headers += "A: b\r\n";
           return headers;
         }() +
         "\r\n",
     ParseOutcome::kMalformed, 200, "longer than 256 bytes"},
    {"a bad chunk size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     ParseOutcome::kMalformed, 200, "chunk size"},
    {"an empty chunk size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
     ParseOutcome::kMalformed, 200, "chunk size"},
    {"a chunk size past 64 bits",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     ParseOutcome::kMalformed, 200, "chunk size"},
    {"a chunk-size line over its bound (extensions for ever)",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=" +
         std::string(5000, 'e') + "\r\nok\r\n0\r\n\r\n",
     ParseOutcome::kMalformed, 200, "chunk-size line longer than 4096 bytes"},
    {"chunk data longer than its size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
     ParseOutcome::kMalformed, 200, "overruns"},
    {"101 unasked", "HTTP/1.1 101 Switching Protocols\r\n\r\n",
     ParseOutcome::kMalformed, 101, "101"},
    // Cut by the end of the connection.
    {"nothing at all", "", ParseOutcome::kCut, 0, "before any response"},
    {"inside the status line", "HTTP/1.1 20", ParseOutcome::kCut, 0,
     "inside the headers"},
    {"inside the headers", "HTTP/1.1 200 OK\r\nContent-Le", ParseOutcome::kCut,
     200, "inside the headers"},
    {"inside a content-length body",
     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", ParseOutcome::kCut,
     200, "after 3 of 10 body bytes"},
    {"inside a chunk's data",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
     ParseOutcome::kCut, 200, "chunked body"},
    {"inside a chunk size",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n1",
     ParseOutcome::kCut, 200, "chunked body"},
    {"before the last chunk's blank line",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
     ParseOutcome::kCut, 200, "chunked body"},
};

class HttpResponseCaseTest : public ::testing::TestWithParam<ResponseCase> {};

// Every cut of the bytes gives the same result as the whole.
TEST_P(HttpResponseCaseTest, TheSameResultWhereverTheBytesAreCut) {
  const ResponseCase& c = GetParam();
  for (size_t piece : {c.wire.size() + 1, size_t{1}, size_t{2}, size_t{3},
                       size_t{7}, size_t{64}}) {
    SCOPED_TRACE("pieces of " + std::to_string(piece));
    const ParsedResponse p = ParseResponse(c.wire, piece);
    EXPECT_EQ(p.outcome, c.outcome) << p.error;
    EXPECT_EQ(p.status, c.status);
    if (c.outcome == ParseOutcome::kComplete) {
      EXPECT_EQ(p.body, c.body);
      EXPECT_EQ(p.error, "");
    } else {
      EXPECT_NE(p.error.find(c.body), std::string::npos) << p.error;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Wire, HttpResponseCaseTest, ::testing::ValuesIn(kResponseCases),
    [](const ::testing::TestParamInfo<ResponseCase>& info) {
      std::string name;
      for (const char* c = info.param.name; *c; ++c) {
        name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
      }
      return name;
    });

TEST(HttpResponseTest, AResponseFramedByLengthCompletesWithoutTheClose) {
  const ParsedResponse p =
      ParseResponse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5, false);
  EXPECT_EQ(p.outcome, ParseOutcome::kComplete);
}

TEST(HttpResponseTest, ABodyRunningToTheCloseNeedsTheClose) {
  const ParsedResponse p =
      ParseResponse("HTTP/1.1 200 OK\r\n\r\nsome", 5, false);
  EXPECT_EQ(p.outcome, ParseOutcome::kNeedMore);
  EXPECT_EQ(p.body, "some");
}

TEST(HttpResponseTest, TheSinkRefusingStopsTheParse) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
  for (size_t piece : {size_t{1}, size_t{5}, wire.size()}) {
    const ParsedResponse p = ParseResponse(wire, piece, true, /*body_cap=*/6);
    EXPECT_EQ(p.outcome, ParseOutcome::kRefused);
    EXPECT_LE(p.body.size(), 6u);
  }
}

// Interim responses count against the header bound: a peer sending
// "100 Continue" for ever cannot keep the parser (nor us) waiting for ever.
TEST(HttpResponseTest, EndlessInterimResponsesHitTheHeaderBound) {
  HttpResponseParser parser;
  const HttpResponseParser::BodySink sink = [](std::string_view) {
    return true;
  };
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  size_t fed = 0;
  ParseOutcome outcome = ParseOutcome::kNeedMore;
  while (outcome == ParseOutcome::kNeedMore && fed < (1u << 20)) {
    outcome = parser.Feed(interim, sink);
    fed += interim.size();
  }
  EXPECT_EQ(outcome, ParseOutcome::kMalformed);
  EXPECT_LE(fed, HttpResponseParser::kDefaultMaxHeaderBytes + interim.size());
  EXPECT_NE(parser.error().find("longer than 65536 bytes"), std::string::npos)
      << parser.error();
}

TEST(HttpResponseTest, AFailedParseStaysFailed) {
  HttpResponseParser parser;
  const HttpResponseParser::BodySink sink = [](std::string_view) {
    return true;
  };
  EXPECT_EQ(parser.Feed("garbage\r\n", sink), ParseOutcome::kMalformed);
  EXPECT_EQ(parser.Feed("HTTP/1.1 200 OK\r\n\r\n", sink),
            ParseOutcome::kMalformed);
  EXPECT_EQ(parser.FinishAtEof(), ParseOutcome::kMalformed);
  EXPECT_FALSE(parser.headers_complete());
}

TEST(HttpResponseTest, HeadersCompleteBeforeTheBody) {
  HttpResponseParser parser;
  std::string body;
  const HttpResponseParser::BodySink sink = [&](std::string_view bytes) {
    body.append(bytes);
    return true;
  };
  EXPECT_EQ(parser.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                        sink),
            ParseOutcome::kNeedMore);
  EXPECT_TRUE(parser.headers_complete());
  EXPECT_EQ(parser.Feed("3\r\n{}\n\r\n", sink), ParseOutcome::kNeedMore);
  EXPECT_EQ(body, "{}\n");
  EXPECT_EQ(parser.body_bytes(), 3u);
}

}  // namespace
}  // namespace watchdog
