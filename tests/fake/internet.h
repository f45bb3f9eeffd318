// `fake_tailscaled internet`: the far side of the lab, run in an "internet"
// namespace. A control server (the map long-poll with a keep-alive about
// every 50 s + up to 8 s, like tailscale's test control server) and a DERP
// server (a keep-alive every 60 s + up to 5 s, derp/derpserver), both TCP,
// logging each connection: accept, the peer address as seen here (after
// any NAT), close and how it ended.
//
// Wire (one JSON object per line):
//   client -> control: {"type":"map","stream":true|false,"seq":N,...}
//   control -> client: {"type":"map","seq":N,"observed":"ip:port"} (the
//     first response of a stream, or the only one when stream is false),
//     then {"KeepAlive":true} (tailcfg.MapResponse keep-alive)
//   client -> DERP: {"type":"hello"} | {"type":"ping","id":N}
//   DERP -> client: {"type":"server-info"} | {"type":"keepalive"} |
//     {"type":"pong","id":N}
#ifndef TSWATCHDOG_TESTS_FAKE_INTERNET_H_
#define TSWATCHDOG_TESTS_FAKE_INTERNET_H_

#include <string>

namespace fake {

struct InternetOptions {
  std::string control;  // ip:port, "" = none
  std::string derp;     // ip:port, "" = none
  double time_scale = 1.0;
  std::string events_path;
  std::string pid_file;
};

// Runs the servers until SIGTERM/SIGINT; returns the exit status.
int RunInternet(const InternetOptions& options);

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_INTERNET_H_
