#include "watchdog/daemon/mwan3_agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

namespace watchdog {
namespace {

std::string FamilyTag(netlink::Family family) {
  return family == netlink::Family::kV4 ? "" : " (IPv6)";
}

// "remove default via ... metric 10 proto 122, add default via ..."
std::string PlanText(const SteeringPlan& plan,
                     const std::map<int32_t, netlink::Link>& links) {
  std::string text;
  for (const netlink::RouteMessage& r : plan.remove) {
    SteeringRoute route{r.family, r.oif, "", r.gateway, r.priority};
    auto link = links.find(r.oif);
    route.dev =
        link == links.end() ? "if" + std::to_string(r.oif) : link->second.name;
    text += (text.empty() ? "remove " : ", remove ") + route.ToString();
  }
  if (plan.add) {
    text += (text.empty() ? "add " : ", add ") + plan.add->ToString();
  }
  return text;
}

bool SameRoute(const netlink::RouteMessage& a, const netlink::RouteMessage& b) {
  return a.family == b.family && a.oif == b.oif && a.gateway == b.gateway &&
         a.priority == b.priority;
}

}  // namespace

Mwan3Agent::Mwan3Agent(Mwan3AgentPorts ports, Mwan3Settings settings)
    : ports_(std::move(ports)), settings_(settings) {
  status_.settings = settings_;
  try {
    watcher_ =
        std::make_unique<Mwan3StatusWatcher>(ports_.paths.iface_state_dir);
  } catch (const std::system_error& e) {
    spdlog::warn(
        "mwan3: cannot watch {}: {}; its verdicts are read only on netlink "
        "changes and SIGUSR1, ignoring",
        ports_.paths.iface_state_dir, e.what());
  }
}

Mwan3Agent::~Mwan3Agent() = default;

int Mwan3Agent::status_fd() const { return watcher_ ? watcher_->fd() : -1; }

Mwan3Report Mwan3Agent::OnStatusReadable(const netlink::Model& kernel) {
  if (!watcher_ || !watcher_->HandleReadable()) return {};
  return Look(kernel, "mwan3's status files changed");
}

void Mwan3Agent::ReadFiles() {
  files_ = ReadMwan3Files(ports_.paths);
  LogProblems(files_.problems);
  status_.problems = files_.problems;
}

// Each problem once, until it is gone.
void Mwan3Agent::LogProblems(const std::vector<std::string>& problems) {
  for (const std::string& problem : problems) {
    if (logged_problems_.insert(problem).second) {
      spdlog::warn("mwan3: {}: its WAN counts as unknown, ignoring", problem);
    }
  }
  for (auto it = logged_problems_.begin(); it != logged_problems_.end();) {
    if (std::find(problems.begin(), problems.end(), *it) == problems.end()) {
      spdlog::info("mwan3: no longer: {}", *it);
      it = logged_problems_.erase(it);
    } else {
      ++it;
    }
  }
}

Mwan3Report Mwan3Agent::Look(const netlink::Model& kernel,
                             std::string_view why) {
  ReadFiles();
  return Evaluate(kernel, why);
}

Mwan3Report Mwan3Agent::OnKernel(const netlink::Model& kernel) {
  return Evaluate(kernel, "netlink");
}

Mwan3Report Mwan3Agent::Evaluate(const netlink::Model& kernel,
                                 std::string_view why) {
  Mwan3Report out;
  Mwan3View view = BuildMwan3View(DetectMwan3(kernel.rules()),
                                  files_.interface_order, files_.status);
  const Mwan3Follow follow = FollowMwan3(view, settings_, &memory_);
  for (const std::string& change : follow.changes) {
    spdlog::info("{} [{}]", change, why);
  }
  if (view != status_.view) {
    spdlog::debug("{}", view.Describe());
    out.changed = true;
  }
  status_.view = std::move(view);
  if (status_.view.rules.present || !files_.status.empty()) ever_seen_ = true;
  const bool at_start = !started_;
  started_ = true;
  Steer(kernel, at_start, &out);
  for (const FlowCleanupOrder& order : follow.cleanups) CleanUp(order, &out);
  return out;
}

void Mwan3Agent::Steer(const netlink::Model& kernel, bool at_start,
                       Mwan3Report* out) {
  const size_t before = status_.steering.size();
  const std::vector<SteeringRoute> old = status_.steering;
  status_.steering.clear();
  for (netlink::Family family : netlink::kFamilies) {
    SteerFamily(kernel, family, at_start, out);
  }
  if (status_.steering.size() != before || status_.steering != old) {
    out->changed = true;
  }
}

void Mwan3Agent::SteerFamily(const netlink::Model& kernel,
                             netlink::Family family, bool at_start,
                             Mwan3Report* out) {
  const std::vector<netlink::RouteMessage> routes = kernel.routes();
  SteeringInput in{family, settings_.steering, routes, kernel.links(),
                   status_.view};
  SteeringPlan plan = PlanSteering(in);
  if (plan.why != last_why_[family]) {
    spdlog::debug("steering{}: {}", FamilyTag(family), plan.why);
    last_why_[family] = plan.why;
  }
  status_.steering_why[family] = plan.why;
  if (plan.keep) status_.steering.push_back(*plan.keep);
  if (!plan.changes()) return;
  if (auto hold = SteeringHold(status_.view, family, settings_)) {
    spdlog::debug("steering{}: {}", FamilyTag(family), *hold);
    for (const netlink::RouteMessage& r : OwnSteeringRoutes(routes)) {
      if (r.family == family) {
        status_.steering.push_back(
            {r.family, r.oif, "", r.gateway, r.priority});
      }
    }
    return;
  }
  if (settings_.dry_run) {
    const std::string change = PlanText(plan, kernel.links());
    if (change != last_dry_change_[family]) {
      spdlog::info("steering{} (dry run): would {}: {}", FamilyTag(family),
                   change, plan.why);
      last_dry_change_[family] = change;
    }
    return;
  }
  last_dry_change_[family].clear();
  // At start, ours that are not wanted are an earlier run's (a crash).
  SteeringPlan removal{
      plan.remove, std::nullopt, std::nullopt,
      (at_start ? "left by an earlier run, not wanted now: " : "") + plan.why};
  const SteeringResult removed = ApplySteering(ports_.routes, removal);
  plan.remove.clear();
  const SteeringResult added = ApplySteering(ports_.routes, plan);
  status_.routes_removed += static_cast<uint64_t>(removed.removed);
  status_.routes_added += static_cast<uint64_t>(added.added);
  if (removed.removed > 0) {
    out->steering.push_back("removed our route: " + plan.why);
  }
  if (added.added > 0 || added.already) status_.steering.push_back(*plan.add);
  if (added.added > 0) {
    out->steering.push_back("added " + plan.add->ToString() + ": " + plan.why);
  }
  if (removed.removed > 0 || added.added > 0) {
    handling_change_ = out->steering.back();
    handling_until_ = ports_.now() + settings_.handling;
  }
}

void Mwan3Agent::CleanUp(const FlowCleanupOrder& order, Mwan3Report* out) {
  FlowCleanupReport report = ports_.clean_flows(order, settings_.dry_run);
  report.order = order;
  report.at = ports_.now();
  report.dry_run = settings_.dry_run;
  if (report.error.empty()) {
    spdlog::info("mwan3: mode B: {}: {}", report.Describe(), order.why);
  } else {
    spdlog::error("mwan3: mode B: {}, ignoring", report.Describe());
  }
  ++status_.cleanups;
  status_.entries_deleted += report.deleted;
  moved_ = report.tcp_on_dead_wan;
  status_.last_cleanup = report;
  out->cleanups.push_back(std::move(report));
  out->changed = true;
}

Mwan3Report Mwan3Agent::Reconfigure(const Mwan3Settings& settings,
                                    const netlink::Model& kernel) {
  if (settings.dry_run && !settings_.dry_run) {
    Stop(kernel);  // a dry run would not maintain it
  }
  if (!(settings == settings_)) {
    spdlog::info("mwan3: steering {}, flow cleanup {}{}",
                 settings.steering ? "on" : "off",
                 settings.flow_cleanup ? "on" : "off",
                 settings.dry_run ? " (dry run)" : "");
  }
  settings_ = settings;
  status_.settings = settings;
  last_dry_change_.clear();
  return Look(kernel, "SIGHUP");
}

void Mwan3Agent::Stop(const netlink::Model& kernel) {
  if (settings_.dry_run) return;
  // Ours as the kernel model has them, and those we added that it has not
  // heard of yet.
  std::vector<netlink::RouteMessage> ours = OwnSteeringRoutes(kernel.routes());
  for (const SteeringRoute& route : status_.steering) {
    const netlink::RouteMessage message = ToRouteMessage(route);
    if (std::none_of(ours.begin(), ours.end(),
                     [&](const auto& r) { return SameRoute(r, message); })) {
      ours.push_back(message);
    }
  }
  const SteeringResult result =
      RemoveOwnRoutes(ports_.routes, ours, "tswatchdog is stopping");
  status_.routes_removed += static_cast<uint64_t>(result.removed);
  status_.steering.clear();
}

std::optional<Mwan3Status> Mwan3Agent::status() const {
  if (!ever_seen_ && status_.steering.empty()) return std::nullopt;
  return status_;
}

std::vector<Finding> Mwan3Agent::Findings(
    std::span<const JudgedConnection> judged) const {
  std::vector<Finding> findings;
  if (handling_until_ && ports_.now() < *handling_until_) {
    findings.push_back(SteeringFinding(handling_change_));
  }
  if (status_.last_cleanup && !moved_.empty()) {
    for (Finding& f :
         FlowCleanupFindings(*status_.last_cleanup, moved_, judged)) {
      findings.push_back(std::move(f));
    }
  }
  return findings;
}

bool Mwan3Agent::RecheckMovedConnections() {
  if (moved_.empty() || !ports_.established_tcp) return false;
  const std::optional<std::vector<MovedConnection>> now =
      ports_.established_tcp();
  if (!now) return false;  // cannot tell: keep them
  std::vector<MovedConnection> still = StillEstablished(moved_, *now);
  if (still.size() == moved_.size()) return false;
  spdlog::info(
      "mwan3: {} of tailscaled's {} TCP connections on {} closed (replaced "
      "by a step or by tailscaled)",
      moved_.size() - still.size(), moved_.size(),
      status_.last_cleanup ? status_.last_cleanup->order.wan : "?");
  moved_ = std::move(still);
  return true;
}

}  // namespace watchdog
