#include "tests/fake/http_wire.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace fake {

bool ParseRequest(std::string& in, HttpRequest* req, std::string* error) {
  const size_t header_end = in.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    if (in.size() > 1 << 20) *error = "request header too large";
    return false;
  }
  std::istringstream head(in.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::istringstream request_line(line);
  if (!(request_line >> req->method >> req->target >> req->version)) {
    *error = "malformed request line";
    return false;
  }
  const size_t q = req->target.find('?');
  req->path = req->target.substr(0, q);
  req->query = q == std::string::npos ? "" : req->target.substr(q + 1);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    req->headers.emplace(name, value);
  }
  size_t pos = header_end + 4;
  if (auto te = req->Header("transfer-encoding"); te && *te == "chunked") {
    std::string body;
    while (true) {
      const size_t eol = in.find("\r\n", pos);
      if (eol == std::string::npos) return false;
      const size_t size = std::strtoul(in.c_str() + pos, nullptr, 16);
      if (size == 0) {
        if (in.find("\r\n", eol + 2) == std::string::npos) return false;
        pos = in.find("\r\n", eol + 2) + 2;
        break;
      }
      if (in.size() < eol + 2 + size + 2) return false;
      body.append(in, eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    req->body = std::move(body);
  } else if (auto cl = req->Header("content-length")) {
    const size_t length = std::strtoul(cl->c_str(), nullptr, 10);
    if (in.size() < pos + length) return false;
    req->body = in.substr(pos, length);
    pos += length;
  }
  in.erase(0, pos);
  return true;
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    default:
      return "Status";
  }
}

std::string Chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

}  // namespace fake
