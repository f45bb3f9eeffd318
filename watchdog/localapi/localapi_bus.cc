// The LocalAPI client's watch of tailscaled's IPN bus: one long GET
// watch-ipn-bus stream, its lines dispatched as Notify values, its liveness
// timers (first line, unfinished line) and its reconnects with backoff.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "netlink/utf8.h"
#include "watchdog/core/backoff.h"
#include "watchdog/localapi/localapi_client.h"
#include "watchdog/localapi/localapi_transfer.h"
#include "watchdog/localapi/tailscale_json.h"

namespace watchdog {
namespace {

// Bad bus lines logged at warning level per stream; the rest at debug: a
// peer sending short garbage lines for ever must not flood the journal
// (128 KiB a wake-up is tens of thousands of lines).
constexpr int kBadBusLinesWarned = 3;

}  // namespace

void LocalApiClient::CancelLineTimer() {
  if (bus_line_timer_) loop_.CancelTimer(*bus_line_timer_);
  bus_line_timer_.reset();
}

// Arms a timer when a bus line starts and leaves it armed while no line
// completes: a line that never ends (or stalls half-sent) ends the stream.
void LocalApiClient::WatchUnfinishedLine() {
  Transfer* t = bus_transfer_;
  if (!t || t->bus_lines.partial_size() == 0) return CancelLineTimer();
  const std::pair<uint64_t, uint64_t> mark{t->id,
                                           t->bus_lines.lines_terminated()};
  if (bus_line_timer_ && bus_line_timer_mark_ == mark) return;
  CancelLineTimer();
  bus_line_timer_mark_ = mark;
  bus_line_timer_ = loop_.AddTimerAfter(
      options_.bus_line_timeout,
      [this, id = t->id, mark = t->bus_lines.lines_terminated()] {
        bus_line_timer_.reset();
        Transfer* stuck = FindTransfer(id);
        if (!stuck || stuck != bus_transfer_ ||
            stuck->bus_lines.lines_terminated() != mark ||
            stuck->bus_lines.partial_size() == 0) {
          return;
        }
        Abort(stuck,
              {LocalApiError::Kind::kTimeout, stuck->endpoint, 0,
               "bus line unfinished after " +
                   std::to_string(options_.bus_line_timeout.count()) + "ms (" +
                   std::to_string(stuck->bus_lines.partial_size()) +
                   " bytes so far)"});
      });
}

bool LocalApiClient::IsBus(uint64_t id) const {
  return bus_transfer_ && bus_transfer_->id == id;
}

void LocalApiClient::EmitBusEvent(const BusEvent& event) {
  // A copy: the callback may replace the watch, and so itself.
  const auto on_event = on_bus_event_;
  if (on_event && *on_event) (*on_event)(event);
}

void LocalApiClient::DispatchBusLines() {
  while (bus_transfer_ && bus_transfer_->bus_lines.has_lines()) {
    Transfer* t = bus_transfer_;
    // Callbacks may stop or replace the watch: then t is gone, and a new
    // transfer may have its address, never its id.
    const uint64_t id = t->id;
    std::string line = *t->bus_lines.NextLine();
    auto notify = ParseNotify(line);
    if (!notify) {
      const bool warn = ++t->bad_lines <= kBadBusLinesWarned;
      spdlog::log(warn ? spdlog::level::warn : spdlog::level::debug,
                  "localapi: {}: bad line ({}), ignoring{}: {}", t->endpoint,
                  notify.error().message,
                  t->bad_lines == kBadBusLinesWarned
                      ? " (more on this stream at debug level)"
                      : "",
                  netlink::Utf8Prefix(line, 120));
      continue;
    }
    if (!t->got_line) {
      t->got_line = true;
      bus_connected_ = true;
      bus_failures_ = 0;
      bus_up_since_ = loop_.Now();
      if (bus_timer_) loop_.CancelTimer(*bus_timer_);
      bus_timer_.reset();
      spdlog::info(
          "localapi: watching the IPN bus ({})",
          notify->version.empty() ? "unknown version" : notify->version);
      EmitBusEvent(BusEvent{});
      if (!IsBus(id)) return;
    }
    if (const auto on_notify = on_notify_; on_notify && *on_notify) {
      (*on_notify)(*notify);
    }
    if (!IsBus(id)) return;
    if (IsFellBehind(*notify)) {
      Abort(t, {LocalApiError::Kind::kTransport, t->endpoint, 0,
                *notify->err_message});
      return;
    }
  }
}

void LocalApiClient::WatchBus(NotifyCallback on_notify,
                              BusEventCallback on_event) {
  StopWatchingBus();
  on_notify_ = std::make_shared<const NotifyCallback>(std::move(on_notify));
  on_bus_event_ = std::make_shared<const BusEventCallback>(std::move(on_event));
  bus_wanted_ = true;
  bus_failures_ = bus_quick_drops_ = 0;
  StartBusAttempt();
}

void LocalApiClient::StopWatchingBus() {
  bus_wanted_ = false;
  bus_connected_ = false;
  if (bus_timer_) loop_.CancelTimer(*bus_timer_);
  bus_timer_.reset();
  CancelLineTimer();
  if (Transfer* t = bus_transfer_) {
    bus_transfer_ = nullptr;
    t->done = nullptr;  // stopping is not a failure to report
    Complete(t, LocalApiError{});
  }
}

void LocalApiClient::StartBusAttempt() {
  bus_timer_.reset();
  if (!bus_wanted_) return;
  const Request request =
      Request::Read("watch-ipn-bus?mask=" + std::to_string(options_.bus_mask));
  Transfer* t = StartTransfer(
      request,
      [this, endpoint = "GET /localapi/v0/" +
                        request.path_and_query](ApiResult<std::string> result) {
        bus_transfer_ = nullptr;
        // A clean end of the chunked body: tailscaled never does that on
        // its own, but a restart or proxy might.
        BusFailed(result.ok() ? LocalApiError{LocalApiError::Kind::kTransport,
                                              endpoint, 0, "stream ended (EOF)"}
                              : std::move(result).error());
      },
      /*stream=*/true);
  bus_transfer_ = t;
  bus_timer_ =
      loop_.AddTimerAfter(options_.bus_first_line_timeout, [this, id = t->id] {
        bus_timer_.reset();
        if (!IsBus(id) || bus_transfer_->got_line) return;
        Abort(bus_transfer_,
              {LocalApiError::Kind::kTimeout, bus_transfer_->endpoint, 0,
               "no bus message within " +
                   std::to_string(options_.bus_first_line_timeout.count()) +
                   "ms of connecting"});
      });
}

void LocalApiClient::BusFailed(LocalApiError error) {
  // The attempt's first-line timer: left armed, it outlived the attempt,
  // and its reset of bus_timer_ lost the reconnect timer's id.
  if (bus_timer_) loop_.CancelTimer(*bus_timer_);
  bus_timer_.reset();
  CancelLineTimer();  // the attempt's, too
  if (!bus_wanted_) return;
  // Streams dropped within reconnect_max of their first line, in a row: the
  // first is news (a restart), the next back off like failed connects, so
  // a peer that sends a line and hangs up (or a tailscaled restarting in a
  // loop) is not met every reconnect_initial for ever, each time with the
  // daemon's status and derpmap fetches.
  if (bus_connected_) {
    const bool lasted = loop_.Now() - bus_up_since_ >= options_.reconnect_max;
    bus_quick_drops_ = lasted ? 0 : bus_quick_drops_ + 1;
  }
  bus_connected_ = false;
  ++bus_failures_;
  const int failures = bus_failures_ + std::max(bus_quick_drops_ - 1, 0);
  // Exponential backoff with +-20% jitter, so a crowd of clients does not
  // reconnect in lockstep after tailscaled restarts.
  const auto delay =
      jitter_.Apply(ExponentialDelay(options_.reconnect_initial,
                                     options_.reconnect_max, failures - 1),
                    options_.reconnect_max);
  spdlog::warn("localapi: IPN bus watch lost: {}; retry in {}ms",
               error.ToString(), delay.count());
  BusEvent event{BusEvent::Kind::kDisconnected, std::move(error), delay,
                 failures};
  bus_timer_ = loop_.AddTimerAfter(delay, [this] { StartBusAttempt(); });
  EmitBusEvent(event);
}

}  // namespace watchdog
