// The fake tailscaled's LocalAPI: HTTP/1.1 on a real Unix socket as
// tailscaled serves it (tailscale ipn/localapi, ipn/ipnserver), with
// byte-level failure injection, plus the control channel (a second Unix
// socket) that scripts it. The model behind it is Backend.
#ifndef TSWATCHDOG_TESTS_FAKE_LOCALAPI_SERVER_H_
#define TSWATCHDOG_TESTS_FAKE_LOCALAPI_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "netlink/unique_fd.h"
#include "tests/fake/backend.h"
#include "tests/fake/http_wire.h"
#include "watchdog/io/event_loop.h"

namespace fake {

struct ServerOptions {
  std::string socket_path;
  std::string control_path;
  std::string log_path;
  std::string pid_file;
  std::optional<std::set<uid_t>> write_uids;
  std::string status_file;
  std::string bus_file;
  bool hang = false;
  int slow_ms = 0;
  bool garbage = false;
  size_t oversized = 0;
  bool cut_stream = false;
  std::string fault;  // see `fault` in the control help; empty: none
  int socket_delay_ms = 0;
  int restart_delay_ms = 100;
  bool omit_debug = false;
  bool require_npk = false;
};

// The modes of `fault`; "off" clears it.
bool ValidFault(const std::string& mode);
extern const char* const kControlHelp;

class LocalApiServer {
 public:
  LocalApiServer(ServerOptions options, BackendOptions backend);
  ~LocalApiServer();
  LocalApiServer(const LocalApiServer&) = delete;
  LocalApiServer& operator=(const LocalApiServer&) = delete;

  // Runs until SIGTERM/SIGINT; SIGHUP restarts. Returns the exit status.
  int Run();

 private:
  struct Conn {
    uint64_t id = 0;
    netlink::UniqueFd fd;
    std::string in;
    std::string out;
    uid_t uid = 0;
    bool control = false;
    bool stream = false;  // a watch-ipn-bus response in progress
    bool close_after_write = false;
    bool busy = false;  // waiting for a delayed (slow) answer
    bool dead = false;
    // Refills `out` once it is sent (huge bodies are generated as they go);
    // returns false once nothing is left.
    std::function<bool(std::string*)> more;
  };
  struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    bool stream = false;
  };

  // sockets (localapi_server.cc)
  netlink::UniqueFd Listen(const std::string& path, mode_t mode);
  bool ListenApi();
  void StopListeningApi();
  void Accept(int listener, bool control);
  void OnConnEvents(Conn* c, uint32_t events);
  void Read(Conn* c);
  void Send(Conn* c, const std::string& data);
  void Flush(Conn* c);
  void Kill(Conn* c);
  void Sweep();
  Conn* FindConn(uint64_t id);
  void Restart(int delay_ms);

  // HTTP (localapi_server.cc)
  void HandleApiInput(Conn* c);
  void HandleRequest(Conn* c, const HttpRequest& req);
  std::string ResponseHead(const Response& resp, bool tailscale_headers);
  std::string ResponseBytes(const Response& resp, bool close,
                            bool tailscale_headers);
  void LogRequest(const HttpRequest& req, const Conn& conn, int status);
  bool CanWrite(uid_t uid) const { return write_uids_.count(uid) != 0; }
  static Response Error(int status, const std::string& text);
  Response Route(const HttpRequest& req, uid_t uid);
  Response StatusEndpoint();
  Response PrefsEndpoint(const HttpRequest& req, uid_t uid);
  Response StartEndpoint(const HttpRequest& req, uid_t uid);
  Response DebugEndpoint(const HttpRequest& req, uid_t uid);
  Response DerpMapEndpoint(const HttpRequest& req);
  Response BugReportEndpoint(const HttpRequest& req);
  Response WatchBus(const HttpRequest& req, uid_t uid);

  // the bus (localapi_bus.cc)
  std::vector<std::string> InitialBusLines(uint64_t mask) const;
  std::string CurrentStateName() const;
  void StartStream(Conn* c, const std::vector<std::string>& lines);
  void SendFault(Conn* c, const std::string& opening,
                 const std::string& closing);
  void Trickle(uint64_t id);
  void CutMidLine(Conn* c);
  void Broadcast(const std::string& line);
  void EndStreams(const std::string& last_line);
  void LoadBusFile(const std::string& path);

  // the control channel (localapi_control.cc)
  void HandleControlInput(Conn* c);
  std::string Control(const std::string& line);
  std::optional<std::string> WireControl(const std::string& cmd,
                                         const std::string& arg);
  std::string Get();

  ServerOptions opt_;
  watchdog::EventLoop loop_;
  Backend backend_;
  std::FILE* log_ = nullptr;
  netlink::UniqueFd signal_fd_;
  netlink::UniqueFd api_listener_;
  netlink::UniqueFd control_listener_;
  std::list<std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_id_ = 1;
  bool sweep_pending_ = false;
  std::set<uid_t> write_uids_;
  std::vector<std::string> bus_file_lines_;
};

}  // namespace fake

#endif  // TSWATCHDOG_TESTS_FAKE_LOCALAPI_SERVER_H_
