// The metrics file read by the real tools: the real `tswatchdog run` on a
// dual-WAN router (lab.h) against the fake tailscaled, Debian's
// prometheus-node-exporter with its textfile collector on the daemon's
// metrics file, and a real prometheus scraping it and evaluating
// contrib/prometheus/tswatchdog.rules.yml. Both listen on 127.0.0.1 inside
// the test's own network namespace; Prometheus keeps its data in the test's
// temp directory. Waits are for conditions, with deadlines.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "fake_tailscaled_process.h"
#include "tests/lab/lab.h"
#include "tests/lab/state_wait.h"

namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kWan0ThenWan1 =
    "ip route add default via 198.51.100.1 dev wan0 metric 100\n"
    "ip route add default via 203.0.113.1 dev wan1 metric 200";
constexpr const char* kFailover =
    "ip route del default via 198.51.100.1 dev wan0 metric 100";
constexpr const char* kExporterAddress = "127.0.0.1:9100";
constexpr const char* kPrometheusAddress = "127.0.0.1:9090";

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET over loopback; nullopt unless it answers 200 within 2 s.
std::optional<std::string> HttpGet(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(),
                                                           curl_easy_cleanup);
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  long code = 0;
  if (curl_easy_perform(curl.get()) != CURLE_OK) return std::nullopt;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) return std::nullopt;
  return body;
}

// Whether `text` has `line` as a whole line.
bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text, '\0');
  return text;
}

// The samples of a Prometheus text exposition whose name starts with
// `prefix`: "name{labels}" -> value. Neither tswatchdog nor node_exporter
// writes timestamps, so the value is the last field.
std::map<std::string, double> Samples(const std::string& text,
                                      const std::string& prefix) {
  std::map<std::string, double> samples;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    const size_t space = line.rfind(' ');
    if (line.rfind(prefix, 0) != 0 || space == std::string::npos) continue;
    samples[line.substr(0, space)] =
        std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

class MonitoringLab : public ::testing::Test {
 protected:
  void SetUp() override {
    LAB_ENTER_NETNS_OR_SKIP();
    lab_ = lab::CreateDualWanRouter();
    LAB_RUN(kWan0ThenWan1);
    char tmpl[] = "/tmp/tswatchdog-fleet-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directory(textfile_dir());
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->Stop(seconds(10)), 0)
          << "tswatchdog run did not exit cleanly (1: LeakSanitizer)";
    }
    if (prometheus_) {
      EXPECT_EQ(prometheus_->Stop(seconds(20)), 0);
    }
    if (exporter_) exporter_->Stop(seconds(10));  // Go's default: killed
    daemon_.reset();
    prometheus_.reset();
    exporter_.reset();
    fake_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Why the Prometheus tools cannot run here; empty when they can.
  static std::string ToolsMissing() {
    for (const char* tool : {TSWATCHDOG_NODE_EXPORTER, TSWATCHDOG_PROMETHEUS}) {
      if (*tool == '\0' || access(tool, X_OK) != 0) {
        return "prometheus and prometheus-node-exporter not found; "
               "`bash scripts/deps.sh` unpacks them";
      }
    }
    return "";
  }

  void StartDaemon(const std::string& extra_toml) {
    fake_ = std::make_unique<fake::FakeTailscaledProcess>();
    std::ofstream config(dir_ + "/tswatchdog.toml");
    config << "socket = \"" << fake_->socket_path() << "\"\n"
           << "state_file = \"" << state_path() << "\"\n"
           << "metrics_file = \"" << metrics_path() << "\"\n"
           << "debounce = \"300ms\"\nsettle_max = \"2s\"\ngrace = \"1s\"\n"
           << "verify = \"1s\"\nunhealthy_after = \"2s\"\n"
           << "start_timeout = \"5s\"\nbackoff_initial = \"200ms\"\n"
           << "backoff_max = \"2s\"\n"
           << "restart_command = [\"/bin/sh\", \"-c\", \"kill -HUP "
           << fake_->pid() << "\"]\n"
           << extra_toml;
    config.close();
    daemon_ = std::make_unique<lab::Child>(std::vector<std::string>{
        TSWATCHDOG_BINARY, "run", "--config", dir_ + "/tswatchdog.toml"});
  }

  void StartNodeExporter() {
    exporter_ = std::make_unique<lab::Child>(std::vector<std::string>{
        TSWATCHDOG_NODE_EXPORTER,
        std::string("--web.listen-address=") + kExporterAddress,
        "--collector.disable-defaults", "--collector.textfile",
        "--collector.textfile.directory=" + textfile_dir(),
        "--collector.time"});
    ASSERT_TRUE(
        fake::WaitUntil([] { return Scrape().has_value(); }, seconds(10)))
        << "node_exporter does not answer on " << kExporterAddress;
  }

  void StartPrometheus() {
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           << "rule_files: ['" << TSWATCHDOG_CONTRIB_DIR
           << "/prometheus/tswatchdog.rules.yml']\n"
           << "scrape_configs:\n  - job_name: node\n"
           << "    static_configs: [{targets: ['" << kExporterAddress
           << "']}]\n";
    config.close();
    prometheus_ = std::make_unique<lab::Child>(std::vector<std::string>{
        TSWATCHDOG_PROMETHEUS, "--config.file=" + dir_ + "/prometheus.yml",
        "--storage.tsdb.path=" + dir_ + "/prometheus-data",
        std::string("--web.listen-address=") + kPrometheusAddress});
    ASSERT_TRUE(fake::WaitUntil(
        [] {
          return HttpGet(std::string("http://") + kPrometheusAddress +
                         "/-/ready")
              .has_value();
        },
        seconds(30)))
        << "prometheus not ready on " << kPrometheusAddress;
  }

  static std::optional<std::string> Scrape() {
    return HttpGet(std::string("http://") + kExporterAddress + "/metrics");
  }

  // GET /api/v1/<path>; its "data", or null.
  static json Api(const std::string& path) {
    std::optional<std::string> body = HttpGet(
        std::string("http://") + kPrometheusAddress + "/api/v1/" + path);
    if (!body) return nullptr;
    json reply = json::parse(*body, nullptr, false);
    if (reply.is_discarded() || reply.value("status", "") != "success") {
      return nullptr;
    }
    return reply["data"];
  }

  static json Query(const std::string& promql) {
    char* escaped =
        curl_escape(promql.c_str(), static_cast<int>(promql.size()));
    json data = Api(std::string("query?query=") + escaped);
    curl_free(escaped);
    return data.is_object() ? data["result"] : json(nullptr);
  }

  // The alert's state ("pending", "firing"), or "" when Prometheus has none.
  static std::string AlertState(const std::string& name, json* alert) {
    json data = Api("alerts");
    if (!data.is_object()) return "";
    for (const json& a : data["alerts"]) {
      if (a["labels"].value("alertname", "") == name) {
        *alert = a;
        return a.value("state", "");
      }
    }
    return "";
  }

  json State() const { return lab::StateFileOrEmpty(state_path()); }
  bool WaitState(const std::function<bool(const json&)>& condition,
                 milliseconds timeout) const {
    return lab::WaitState(state_path(), condition, timeout);
  }
  bool WaitStateIs(const std::string& name) const {
    return WaitState([&](const json& s) { return s["state"] == name; },
                     seconds(15));
  }

  std::string textfile_dir() const { return dir_ + "/textfile"; }
  std::string metrics_path() const {
    return textfile_dir() + "/tswatchdog.prom";
  }
  std::string state_path() const { return dir_ + "/state.json"; }

  lab::DualWanRouter lab_;
  std::string dir_;
  std::unique_ptr<fake::FakeTailscaledProcess> fake_;
  std::unique_ptr<lab::Child> daemon_;
  std::unique_ptr<lab::Child> exporter_;
  std::unique_ptr<lab::Child> prometheus_;
};

// While nothing happens, the metrics file is rewritten every
// metrics_interval with a fresh timestamp (what the staleness alert reads);
// the state file is not.
TEST_F(MonitoringLab, MetricsFileIsRewrittenWhileNothingHappens) {
  StartDaemon("metrics_interval = \"200ms\"\n");
  ASSERT_TRUE(WaitStateIs("healthy"));
  const json state = State();
  std::set<double> stamps;
  std::string metrics;
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        metrics = ReadFile(metrics_path());
        auto samples = Samples(metrics, "tswatchdog_updated_timestamp_seconds");
        if (samples.size() == 1) stamps.insert(samples.begin()->second);
        return stamps.size() >= 4;
      },
      seconds(5)))
      << stamps.size() << " distinct timestamps; last file:\n"
      << metrics;
  EXPECT_EQ(State()["updated_unix_ms"], state["updated_unix_ms"])
      << "the state file was rewritten too";
  EXPECT_TRUE(HasLine(metrics, "tswatchdog_metrics_interval_seconds 0.200"))
      << metrics;
  EXPECT_TRUE(HasLine(metrics, "tswatchdog_state{state=\"healthy\"} 1"))
      << metrics;
}

// node_exporter's textfile collector reads the whole file (it rejects a file
// with one malformed line, and says so in node_textfile_scrape_error), and
// exposes every tswatchdog sample with its value and type.
TEST_F(MonitoringLab, NodeExporterExposesEverySeries) {
  if (std::string why = ToolsMissing(); !why.empty()) GTEST_SKIP() << why;
  StartDaemon("");
  ASSERT_TRUE(WaitStateIs("healthy"));
  // A recovery, so that every series is there (last_time_to_recover too).
  fake_->MustControl("stuck start");
  LAB_RUN(kFailover);
  ASSERT_TRUE(WaitState(
      [](const json& s) {
        return s["state"] == "healthy" && s["counters"]["recoveries"] == 1;
      },
      seconds(20)));
  StartNodeExporter();
  ASSERT_FALSE(HasFatalFailure());

  const std::string file = ReadFile(metrics_path());
  const std::optional<std::string> exposed = Scrape();
  ASSERT_TRUE(exposed.has_value());
  const auto want = Samples(file, "tswatchdog_");
  const auto got = Samples(*exposed, "tswatchdog_");
  for (const char* name :
       {"tswatchdog_state{state=\"healthy\"}", "tswatchdog_tailscale_healthy",
        "tswatchdog_uplink_usable{family=\"v4\"}",
        "tswatchdog_actions_total{step=\"start\"}",
        "tswatchdog_recoveries_total", "tswatchdog_gave_up_total",
        "tswatchdog_ladder_exhausted_passes",
        "tswatchdog_disruptive_steps_last_hour",
        "tswatchdog_max_disruptive_per_hour",
        "tswatchdog_disruptive_skipped_total",
        "tswatchdog_last_time_to_recover_seconds",
        "tswatchdog_updated_timestamp_seconds",
        "tswatchdog_metrics_interval_seconds",
        "tswatchdog_state_since_timestamp_seconds"}) {
    EXPECT_EQ(want.count(name), 1u) << name << " not in the file:\n" << file;
  }
  EXPECT_EQ(got.size(), want.size()) << *exposed;
  for (const auto& [series, value] : want) {
    auto it = got.find(series);
    ASSERT_NE(it, got.end()) << series << " not exposed:\n" << *exposed;
    EXPECT_EQ(it->second, value) << series;
  }
  EXPECT_EQ(want.at("tswatchdog_recoveries_total"), 1);
  EXPECT_TRUE(HasLine(*exposed, "# TYPE tswatchdog_recoveries_total counter"));
  EXPECT_TRUE(HasLine(*exposed, "# TYPE tswatchdog_state gauge"));
  EXPECT_EQ(Samples(*exposed, "node_textfile_scrape_error")
                .at("node_textfile_scrape_error"),
            0);
  EXPECT_EQ(Samples(*exposed, "node_textfile_mtime_seconds")
                .count("node_textfile_mtime_seconds{file=\"" + metrics_path() +
                       "\"}"),
            1u)
      << *exposed;

  // The control: a malformed file in the same directory is reported, so the
  // zero above means something.
  std::ofstream(textfile_dir() + "/broken.prom") << "tswatchdog_broken{ 1\n";
  const std::optional<std::string> with_broken = Scrape();
  ASSERT_TRUE(with_broken.has_value());
  EXPECT_EQ(Samples(*with_broken, "node_textfile_scrape_error")
                .at("node_textfile_scrape_error"),
            1);
}

// A real Prometheus evaluates the shipped rules: nothing fires while all is
// well (and every rule evaluates without error), TswatchdogLadderExhausted
// fires when no ladder step can heal tailscaled after a failover, and
// resolves once tailscaled is healthy again.
TEST_F(MonitoringLab, PrometheusAlertFiresOnAFailureAndResolvesAfterTheHeal) {
  if (std::string why = ToolsMissing(); !why.empty()) GTEST_SKIP() << why;
  StartDaemon("ladder = [\"rebind\", \"start\"]\nmetrics_interval = \"1s\"\n");
  ASSERT_TRUE(WaitStateIs("healthy"));
  StartNodeExporter();
  ASSERT_FALSE(HasFatalFailure());
  StartPrometheus();
  ASSERT_FALSE(HasFatalFailure());

  // Scraped (Prometheus's discovery takes up to 5 s to hand over the target),
  // then every rule evaluated once more, so with the sample in.
  ASSERT_TRUE(fake::WaitUntil(
      [] {
        json r = Query("tswatchdog_tailscale_healthy");
        return r.is_array() && r.size() == 1 && r[0]["value"][1] == "1";
      },
      seconds(30)))
      << Query("tswatchdog_tailscale_healthy").dump();
  auto last_evaluation = [](json* rules) {
    *rules = Api("rules");
    if (!rules->is_object() || (*rules)["groups"].size() != 1) return json();
    return (*rules)["groups"][0].value("lastEvaluation", json());
  };
  json rules;
  const json scraped_at = last_evaluation(&rules);
  ASSERT_TRUE(fake::WaitUntil(
      [&] { return last_evaluation(&rules) != scraped_at; }, seconds(10)))
      << rules.dump();
  ASSERT_EQ(rules["groups"][0]["rules"].size(), 5u) << rules.dump();
  for (const json& rule : rules["groups"][0]["rules"]) {
    EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
  }
  json alerts = Api("alerts");
  EXPECT_TRUE(alerts.is_object() && alerts["alerts"].empty()) << alerts.dump();

  // The failure: after a failover tailscaled is stuck until `reup`, which
  // this ladder does not have.
  fake_->MustControl("stuck reup");
  LAB_RUN(kFailover);
  json alert;
  ASSERT_TRUE(fake::WaitUntil(
      [&] {
        return AlertState("TswatchdogLadderExhausted", &alert) == "firing";
      },
      seconds(30)))
      << "daemon state: " << State().dump()
      << "\nalerts: " << Api("alerts").dump();
  EXPECT_EQ(alert["labels"]["instance"], kExporterAddress);
  EXPECT_EQ(alert["labels"]["severity"], "critical");
  EXPECT_GE(State()["exhausted_passes"].get<int>(), 1);

  // The heal: Prometheus sees it at the next scrape and evaluation.
  fake_->MustControl("heal");
  ASSERT_TRUE(WaitStateIs("healthy"));
  EXPECT_TRUE(fake::WaitUntil(
      [&] { return AlertState("TswatchdogLadderExhausted", &alert).empty(); },
      seconds(15)))
      << alert.dump();
  EXPECT_EQ(State()["exhausted_passes"], 0);
  EXPECT_GE(State()["counters"]["gave_up"].get<int>(), 1);
}

}  // namespace
