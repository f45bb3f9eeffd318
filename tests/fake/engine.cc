#include "tests/fake/engine.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace fake {

using Json = nlohmann::ordered_json;

namespace {

// The IP of "ip:port" / "[ip]:port".
std::string IpOf(const std::string& address) {
  if (address.empty()) return "";
  if (address.front() == '[') return address.substr(1, address.find(']') - 1);
  return address.substr(0, address.rfind(':'));
}

// Go's syscall.Errno texts are strerror's, lower-cased.
std::string GoErrno(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(text[0]));
  return text;
}

// One RTM_NEWROUTE/RTM_DELROUTE in table 52; 0 or an errno.
int RouteRequest(int fd, bool add, int family, const void* dst, int dst_len,
                 size_t addr_size, int ifindex) {
  struct {
    nlmsghdr header;
    rtmsg body;
    char attrs[128];
  } req{};
  req.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.header.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  req.header.nlmsg_flags =
      NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  req.body.rtm_family = static_cast<unsigned char>(family);
  req.body.rtm_dst_len = static_cast<unsigned char>(dst_len);
  req.body.rtm_table = RT_TABLE_UNSPEC;
  req.body.rtm_protocol = RTPROT_BOOT;
  req.body.rtm_scope = RT_SCOPE_LINK;
  req.body.rtm_type = RTN_UNICAST;
  auto put = [&req](int type, const void* data, size_t len) {
    auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) +
                                        NLMSG_ALIGN(req.header.nlmsg_len));
    a->rta_type = static_cast<unsigned short>(type);
    a->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
    std::memcpy(RTA_DATA(a), data, len);
    req.header.nlmsg_len = NLMSG_ALIGN(req.header.nlmsg_len) + RTA_LENGTH(len);
  };
  const uint32_t table = 52;
  put(RTA_TABLE, &table, sizeof table);
  put(RTA_DST, dst, addr_size);
  put(RTA_OIF, &ifindex, sizeof ifindex);
  if (::send(fd, &req, req.header.nlmsg_len, 0) < 0) return errno;
  alignas(nlmsghdr) char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return errno;
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  if (h->nlmsg_type != NLMSG_ERROR) return 0;
  return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
}

}  // namespace

std::string ProgramRoutes(const std::string& device, bool add) {
  const unsigned ifindex = if_nametoindex(device.c_str());
  if (ifindex == 0) return add ? "Link not found" : "";
  netlink::UniqueFd fd(
      ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return GoErrno(errno);
  in_addr cgnat{};
  inet_pton(AF_INET, "100.64.0.0", &cgnat);
  in6_addr ula{};
  inet_pton(AF_INET6, "fd7a:115c:a1e0::", &ula);
  std::vector<int> failures;
  const int idx = static_cast<int>(ifindex);
  for (int err :
       {RouteRequest(fd.get(), add, AF_INET, &cgnat, 10, sizeof cgnat, idx),
        RouteRequest(fd.get(), add, AF_INET6, &ula, 48, sizeof ula, idx)}) {
    // A delete of what is not there, or IPv6 turned off, is no failure.
    if (err != 0 && err != ESRCH && err != EAFNOSUPPORT)
      failures.push_back(err);
  }
  if (failures.empty() || !add) return "";
  if (failures.size() == 1) return GoErrno(failures.front());
  return std::to_string(failures.size()) +
         " add route failures; first was: " + GoErrno(failures.front());
}

Engine::Engine(watchdog::EventLoop& loop, const TimeScale& scale, EventLog& log,
               EngineObserver& observer)
    : loop_(loop), scale_(scale), log_(log), observer_(observer) {}

Engine::~Engine() = default;

bool Engine::Init(const EngineOptions& options, std::string* error) {
  options_ = options;
  const auto control = ParseHostPort(options.control_server);
  const auto derp = ParseHostPort(options.derp_server);
  if (!control || !derp) {
    *error = "--control-server and --derp-server need ip:port";
    return false;
  }
  control_addr_ = *control;
  derp_addr_ = *derp;
  stun_ = std::make_unique<StunClient>(loop_);
  if (derp_addr_.family() != AF_INET) {
    *error = "--derp-server: IPv4 only (the fake's STUN)";
    return false;
  }
  if (!stun_->Open(error)) return false;
  // Scaled keep-alive; the mark and count as tailscaled sets them.
  DialOptions dial;
  dial.keepalive_idle_s = scale_.KernelSeconds(std::chrono::seconds(30));
  dial.keepalive_interval_s = scale_.KernelSeconds(std::chrono::seconds(15));
  control_ = std::make_unique<ControlClient>(
      loop_, scale_, log_, *control, dial,
      ControlClient::Hooks{
          [this] { observer_.OnMapResponse(); },
          [this](const std::string& why) { observer_.OnPollEnded(why); }});
  derp_ = std::make_unique<DerpClient>(
      loop_, scale_, log_, *derp, dial,
      DerpClient::Hooks{[this](bool up) { observer_.OnDerpConnected(up); },
                        [this] { observer_.OnDerpFrame(); },
                        [this] { ReStun("derp-recv-error"); }});
  netmon_ = std::make_unique<Netmon>(
      loop_, scale_, [this](const NetChange& c) { OnLinkChange(c); });
  return netmon_->Start(error);
}

void Engine::OnLinkChange(const NetChange& change) {
  const NetState& now = change.new_state;
  log_.Write("netmon", {{"why", change.why},
                        {"major", change.major},
                        {"default_interface", now.default_interface}});
  observer_.OnNetworkUp(now.AnyInterfaceUp());
  if (change.major) Rebind("link-change-major");
  ReStun(change.major ? "link-change-major" : "link-change-minor");
  // tsdial.Dialer.linkChanged -> changeAffectsConn.
  const std::string local_ip = IpOf(control_->local());
  std::string why;
  if (change.default_interface_changed) {
    why = "default route interface changed";
  } else if (now.default_interface.empty()) {
    why = "no default route interface";
  } else if (!local_ip.empty() && !now.HasIp(local_ip)) {
    why = "local address " + local_ip + " disappeared";
  }
  if (!why.empty() && !local_ip.empty()) {
    control_->CloseConnection("tsdial: link change: " + why);
  }
}

void Engine::Rebind(const std::string& why) {
  const std::string ip = IpOf(derp_->local());
  log_.Write("rebind", {{"why", why}, {"derp_local", derp_->local()}});
  if (ip.empty()) return;
  if (!net_state().DefaultInterfaceIps().count(ip)) {
    derp_->Reconnect("rebind-default-route-change");
  } else {
    derp_->Ping();
  }
}

std::string Engine::Endpoints() const {
  // The source address the kernel picks for our (marked) packets to
  // control: no packet is sent.
  netlink::UniqueFd fd(
      ::socket(control_addr_.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const int mark = 0x80000;
  if (!fd) return "";
  ::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  if (::connect(fd.get(), control_addr_.get(), control_addr_.length) != 0) {
    return "";
  }
  const std::string ip = IpOf(LocalAddress(fd.get()));
  return control_addr_.family() == AF_INET6 ? "[" + ip + "]:41641"
                                            : ip + ":41641";
}

// magicsock.updateEndpoints: netcheck STUNs the DERP server, then the
// endpoints are the local address and the one STUN saw (determineEndpoints);
// when they changed they go to control (controlclient Auto.UpdateEndpoints:
// a map request on the control connection). One update at a time; a ReSTUN
// meanwhile runs after it (wantEndpointsUpdate). Without a STUN answer the
// endpoints are the local one alone (netcheck reports no global address).
void Engine::ReStun(const std::string& why) {
  if (stun_->busy()) {
    restun_again_ = why;
    return;
  }
  SockAddr server = derp_addr_;
  reinterpret_cast<sockaddr_in*>(&server.storage)->sin_port = htons(kStunPort);
  // net/netcheck/netcheck.go: stunProbeTimeout 3 s.
  stun_->Probe(server, scale_(std::chrono::seconds(3)),
               [this, why](const std::string& observed) {
                 FinishReStun(why, observed);
                 if (!restun_again_.empty()) {
                   const std::string again = std::move(restun_again_);
                   restun_again_.clear();
                   ReStun(again);
                 }
               });
}

void Engine::FinishReStun(const std::string& why, const std::string& observed) {
  const std::string local = Endpoints();
  Json endpoints = Json::array();
  if (!local.empty()) endpoints.push_back(local);
  if (!observed.empty()) endpoints.push_back(observed);
  const std::string key = endpoints.dump();
  bool sent = false;
  if (!local.empty() && key != last_endpoints_) {
    sent = control_->SendEndpoints(endpoints);
    last_endpoints_ = key;
  }
  log_.Write("restun", {{"why", why},
                        {"endpoints", endpoints},
                        {"stun", observed.empty() ? "no answer" : observed},
                        {"sent_to_control", sent}});
}

void Engine::ApplyRouter(bool routes) {
  if (options_.tun.empty()) return;
  const std::string error = ProgramRoutes(options_.tun, routes);
  router_error_ = routes ? error : "";
  log_.Write(
      "router",
      {{"routes", routes}, {"device", options_.tun}, {"error", router_error_}});
  observer_.OnRouterHealth(router_error_);
}

Json Engine::Describe() const {
  return {{"control", control_->Describe()},
          {"derp", derp_->Describe()},
          {"netmon", net_state().ToJson()},
          {"endpoints", last_endpoints_},
          {"router_error", router_error_}};
}

}  // namespace fake
