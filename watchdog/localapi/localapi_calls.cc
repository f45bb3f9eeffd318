// The typed LocalAPI calls over the client's raw transfers, and their
// blocking form for the one-shot commands (LocalApiSync).
#include <spdlog/spdlog.h>

#include "watchdog/core/text.h"
#include "watchdog/localapi/localapi_client.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {

namespace {

// Adapts a raw body callback to a typed one with `parse`.
template <typename T, typename ParseFn>
std::function<void(ApiResult<std::string>)> Typed(
    std::string endpoint, LocalApiClient::Callback<T> done, ParseFn parse) {
  return [endpoint = std::move(endpoint), done = std::move(done),
          parse](ApiResult<std::string> raw) {
    if (!raw.ok()) {
      if (done) done(std::move(raw).error());
      return;
    }
    auto parsed = parse(*raw);
    if (!parsed) {
      spdlog::warn("localapi: {}: bad reply: {}", endpoint,
                   parsed.error().message);
      if (done) {
        done(LocalApiError{LocalApiError::Kind::kBadReply, endpoint, 200,
                           parsed.error().message});
      }
      return;
    }
    if (done) done(std::move(parsed).value());
  };
}

Parsed<ApiDone> IgnoreBody(const std::string&) { return ApiDone{}; }

}  // namespace

void LocalApiClient::GetStatus(Callback<Status> done) {
  StartTransfer(Request::Read("status?peers=false"),
                Typed<Status>("GET /localapi/v0/status?peers=false",
                              std::move(done), &ParseStatus),
                false);
}

void LocalApiClient::GetPrefs(Callback<Prefs> done) {
  StartTransfer(
      Request::Read("prefs"),
      Typed<Prefs>("GET /localapi/v0/prefs", std::move(done), &ParsePrefs),
      false);
}

void LocalApiClient::Rebind(Callback<ApiDone> done) {
  StartTransfer(Request::Write("POST", "debug?action=rebind"),
                Typed<ApiDone>("POST /localapi/v0/debug?action=rebind",
                               std::move(done), &IgnoreBody),
                false);
}

void LocalApiClient::ReStun(Callback<ApiDone> done) {
  StartTransfer(Request::Write("POST", "debug?action=restun"),
                Typed<ApiDone>("POST /localapi/v0/debug?action=restun",
                               std::move(done), &IgnoreBody),
                false);
}

void LocalApiClient::Start(Callback<ApiDone> done) {
  // An empty body is a 400 (JSON EOF); {} keeps the current prefs.
  StartTransfer(
      Request::Write("POST", "start", "{}"),
      Typed<ApiDone>("POST /localapi/v0/start", std::move(done), &IgnoreBody),
      false);
}

void LocalApiClient::GetDerpMap(Callback<DerpMap> done) {
  StartTransfer(Request::Read("derpmap"),
                Typed<DerpMap>("GET /localapi/v0/derpmap", std::move(done),
                               [](const std::string& body) {
                                 // No netmap yet: `null`.
                                 if (Trim(body) == "null") {
                                   return Parsed<DerpMap>(DerpMap{});
                                 }
                                 return ParseDerpMap(body);
                               }),
                false);
}

void LocalApiClient::BugReport(const std::string& note,
                               Callback<std::string> done) {
  const std::string query = "bugreport?note=" + QueryEscape(note);
  StartTransfer(
      Request::Write("POST", query),
      Typed<std::string>("POST /localapi/v0/bugreport", std::move(done),
                         [](const std::string& body) {
                           return Parsed<std::string>(std::string(Trim(body)));
                         }),
      false);
}

void LocalApiClient::SetWantRunning(bool want_running, Callback<Prefs> done) {
  std::string body = std::string("{\"WantRunning\":") +
                     (want_running ? "true" : "false") +
                     ",\"WantRunningSet\":true}";
  StartTransfer(
      Request::Write("PATCH", "prefs", std::move(body)),
      Typed<Prefs>("PATCH /localapi/v0/prefs", std::move(done), &ParsePrefs),
      false);
}

LocalApiSync::LocalApiSync(LocalApiOptions options)
    : client_(loop_, std::move(options)) {}

template <typename T, typename StartFn>
ApiResult<T> LocalApiSync::Wait(StartFn start) {
  std::optional<ApiResult<T>> result;
  start([&result](ApiResult<T> r) { result = std::move(r); });
  // The client enforces call_timeout; the deadline only guards against a bug.
  const auto deadline = MonoClock::now() + client_.options().call_timeout +
                        client_.options().connect_timeout +
                        std::chrono::seconds(5);
  while (!result && MonoClock::now() < deadline) loop_.RunOnce(100);
  if (!result) {
    return LocalApiError{LocalApiError::Kind::kTimeout, "localapi", 0,
                         "call did not finish in time"};
  }
  return std::move(*result);
}

ApiResult<Status> LocalApiSync::GetStatus() {
  return Wait<Status>([this](auto cb) { client_.GetStatus(std::move(cb)); });
}
ApiResult<Prefs> LocalApiSync::GetPrefs() {
  return Wait<Prefs>([this](auto cb) { client_.GetPrefs(std::move(cb)); });
}
ApiResult<ApiDone> LocalApiSync::Rebind() {
  return Wait<ApiDone>([this](auto cb) { client_.Rebind(std::move(cb)); });
}
ApiResult<ApiDone> LocalApiSync::ReStun() {
  return Wait<ApiDone>([this](auto cb) { client_.ReStun(std::move(cb)); });
}
ApiResult<ApiDone> LocalApiSync::Start() {
  return Wait<ApiDone>([this](auto cb) { client_.Start(std::move(cb)); });
}
ApiResult<DerpMap> LocalApiSync::GetDerpMap() {
  return Wait<DerpMap>([this](auto cb) { client_.GetDerpMap(std::move(cb)); });
}
ApiResult<Prefs> LocalApiSync::SetWantRunning(bool want_running) {
  return Wait<Prefs>([this, want_running](auto cb) {
    client_.SetWantRunning(want_running, std::move(cb));
  });
}

}  // namespace watchdog
