// The state of one LocalAPI call on its connection, shared by the client's
// transport (localapi_client.cc) and its bus watch (localapi_bus.cc). Internal
// to watchdog/localapi/.
#ifndef TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_TRANSFER_H_
#define TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_TRANSFER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "netlink/unique_fd.h"
#include "watchdog/core/bus_line_splitter.h"
#include "watchdog/core/http_response.h"
#include "watchdog/io/event_loop.h"
#include "watchdog/localapi/localapi_client.h"

namespace watchdog {

struct LocalApiClient::Transfer {
  uint64_t id = 0;
  netlink::UniqueFd fd;
  std::string endpoint;
  std::string socket_path;
  std::string request;  // its bytes, all of them
  size_t sent = 0;
  bool connecting = false;  // connect(2) still in progress
  bool write_call = false;
  bool stream = false;
  size_t cap = 0;
  HttpResponseParser parser;
  std::string response;  // the whole body (a stream's only if not 200)
  // Why the request could not be sent in full (the peer closed its end):
  // the error, unless the peer answered before it closed.
  std::string send_error;
  BusLineSplitter bus_lines{0};  // a 200 stream's lines not yet dispatched
  bool got_line = false;
  int bad_lines = 0;
  std::optional<EventLoop::TimerId> deadline;  // connect, then the call
  RawCallback done;

  // Where the parser puts the body: a bus's lines, or the whole reply.
  bool TakeBody(std::string_view bytes) {
    // False past the cap: the parser then stops with kRefused.
    if (stream && parser.status() == 200) return bus_lines.Feed(bytes);
    if (response.size() + bytes.size() > cap) return false;
    response.append(bytes);
    return true;
  }
};

}  // namespace watchdog

#endif  // TSWATCHDOG_WATCHDOG_LOCALAPI_LOCALAPI_TRANSFER_H_
