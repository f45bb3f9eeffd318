// The fake's `GET derpmap` and `POST bugreport` (tailscale
// ipn/localapi/localapi.go serveDERPMap, serveBugReport).
#include <ctime>

#include "tests/fake/backend.h"
#include "tests/fake/localapi_server.h"
#include "tests/fake/net_util.h"

namespace fake {
namespace {

std::string Hex(size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) out += digits[TimeScale::Random()() % 16];
  return out;
}

// tstime.NumericDateTimeZ in UTC: 20261130051242Z.
std::string NumericUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &tm);
  return text;
}

}  // namespace

// LocalBackend.DERPMap: nil (JSON null) until the first netmap. Network
// mode: one region whose one node is --derp-server (tailcfg.DERPNode;
// DERPPort omitted when 443, as omitempty leaves 0 out).
Backend::Json Backend::DerpMap() const {
  if (!network_mode() ||
      !health_.inputs().last_streamed_map_response.has_value()) {
    return nullptr;
  }
  const auto derp = ParseHostPort(options_.engine.derp_server);
  if (!derp) return nullptr;
  Json node = {
      {"Name", "900a"}, {"RegionID", 900}, {"HostName", "derp.lab.example"}};
  const std::string ip = FormatIp(*derp);
  node[derp->family() == AF_INET6 ? "IPv6" : "IPv4"] = ip;
  const std::string text = FormatSockAddr(*derp);
  const int port = std::stoi(text.substr(text.rfind(':') + 1));
  if (port != 443) node["DERPPort"] = port;
  return {{"Regions",
           {{"900",
             {{"RegionID", 900},
              {"RegionCode", "lab"},
              {"RegionName", "Lab"},
              {"Nodes", Json::array({node})}}}}}};
}

// serveBugReport: a marker BUG-<logid>-<time>-<16 hex>, logged with the
// note; the logs are flushed.
std::string Backend::BugReport(const std::string& note) {
  const std::string marker =
      "BUG-" + log_id_ + "-" + NumericUtc() + "-" + Hex(16);
  log_.Write("bugreport", {{"marker", marker}, {"note", note}});
  return marker;
}

LocalApiServer::Response LocalApiServer::DerpMapEndpoint(
    const HttpRequest& req) {
  if (req.method != "GET") return Error(400, "want GET");
  return {200, "application/json", backend_.DerpMap().dump(1, '\t') + "\n",
          false};
}

// Read permission is enough (PermitRead); the method is checked after it.
LocalApiServer::Response LocalApiServer::BugReportEndpoint(
    const HttpRequest& req) {
  if (req.method != "POST") return Error(405, "only POST allowed");
  return {200, "text/plain", backend_.BugReport(req.QueryParam("note")) + "\n",
          false};
}

}  // namespace fake
