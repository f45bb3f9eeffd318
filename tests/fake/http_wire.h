// HTTP/1.x framing for the fake's LocalAPI server: requests as tailscaled's
// Go net/http server parses them, chunks, reason phrases.
#ifndef TSWATCHDOG_TESTS_FAKE_HTTP_WIRE_H_
#define TSWATCHDOG_TESTS_FAKE_HTTP_WIRE_H_

#include <cctype>
#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace fake {

struct HttpRequest {
  std::string method;
  std::string target;
  std::string path;
  std::string query;
  std::string version;
  std::multimap<std::string, std::string> headers;  // lowercase names
  std::string body;

  std::optional<std::string> Header(const std::string& name) const {
    auto it = headers.find(name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
  std::string QueryParam(const std::string& name) const {
    std::stringstream ss(query);
    std::string part;
    while (std::getline(ss, part, '&')) {
      auto eq = part.find('=');
      if (part.substr(0, eq) == name) {
        return eq == std::string::npos ? ""
                                       : QueryUnescape(part.substr(eq + 1));
      }
    }
    return "";
  }
  // Go's url.QueryUnescape, as r.URL.Query() applies it: %XX and '+' for a
  // space (a bad escape is kept as it is; Go would drop the whole query).
  static std::string QueryUnescape(const std::string& value) {
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '+') {
        out += ' ';
      } else if (value[i] == '%' && i + 2 < value.size() &&
                 std::isxdigit(static_cast<unsigned char>(value[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(value[i + 2]))) {
        out +=
            static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += value[i];
      }
    }
    return out;
  }
  bool HasQueryParam(const std::string& name) const {
    return ("&" + query + "&").find("&" + name + "=") != std::string::npos;
  }
};

// Parses one request from the front of `in` (and removes it). Returns false
// if incomplete; sets `error` on a malformed request.
bool ParseRequest(std::string& in, HttpRequest* req, std::string* error);

std::string ReasonPhrase(int status);

// One chunk of a chunked body.
std::string Chunk(const std::string& data);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_HTTP_WIRE_H_
