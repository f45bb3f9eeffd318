// Benchmark 4 (README, "Benchmarks"): how tailscaled's replies scale with the
// size of the tailnet, and what a hostile reply nested millions deep costs.
// Parse time (Google Benchmark) and peak heap of ParseStatus (GET status,
// tab-indented like tailscaled) and ParseNotify (one watch-ipn-bus line) with
// 0, 10, 1,000 and 10,000 peers.
//
// The replies are built from the shared fixtures: a 1.98 status whose one
// peer is the template for N peers (distinct keys, IPs, names), and a 1.102
// bus line carrying an Engine update with N LivePeers (the per-peer part of a
// Notify; tailscaled sends one every 2 s to watchers that ask for engine
// updates).
//
// Peak heap: operator new/delete are replaced in this binary to count bytes
// live (malloc_usable_size); one parse is run with counting on, outside the
// timed loop, and the highest live total is reported. The input string is
// allocated before and not counted.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "watchdog/localapi/tailscale_json.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void CountAlloc(void* p) {
  if (!p || !g_counting.load(std::memory_order_relaxed)) return;
  const int64_t live =
      g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p))) +
      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}

void CountFree(void* p) {
  if (!p || !g_counting.load(std::memory_order_relaxed)) return;
  g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
}

}  // namespace

// Not inlined: GCC would otherwise see free() on memory from operator new in
// its callers (-Wmismatched-new-delete), which is right only for these.
[[gnu::noinline]] void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (!p) throw std::bad_alloc();
  CountAlloc(p);
  return p;
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  CountFree(p);
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  CountFree(p);
  std::free(p);
}

namespace {

using nlohmann::json;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(TSWATCHDOG_TEST_DATA) + "/localapi/" + name);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    std::fprintf(stderr, "missing fixture %s\n", name.c_str());
    std::exit(1);
  }
  return text.str();
}

std::string Hex64(uint64_t seed) {
  char text[80];
  std::snprintf(text, sizeof text, "%016llx%016llx%016llx%016llx",
                static_cast<unsigned long long>(seed * 0x9e3779b97f4a7c15ULL),
                static_cast<unsigned long long>(seed + 0x51),
                static_cast<unsigned long long>(seed * 31 + 7),
                static_cast<unsigned long long>(~seed));
  return text;
}

std::string PeerIp4(int i) {
  return "100." + std::to_string(64 + (i >> 16) % 64) + "." +
         std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
}

// GET status with `peers` peers, as tailscaled writes it (tab indentation).
std::string StatusWithPeers(int peers) {
  json status = json::parse(ReadFixture("status-running-openwrt-1.98.json"));
  const json peer_template = status["Peer"].begin().value();
  json peer_map = json::object();
  for (int i = 0; i < peers; ++i) {
    json peer = peer_template;
    const std::string key = "nodekey:" + Hex64(static_cast<uint64_t>(i) + 1);
    const std::string ip4 = PeerIp4(i);
    const std::string ip6 = "fd7a:115c:a1e0::" + std::to_string(i % 9999) +
                            ":" + std::to_string(i / 9999 + 1);
    const std::string host = "node-" + std::to_string(i);
    peer["ID"] = "n" + Hex64(static_cast<uint64_t>(i)).substr(0, 12) + "CNTRL";
    peer["PublicKey"] = key;
    peer["HostName"] = host;
    peer["DNSName"] = host + ".tail4a5b6c.ts.net.";
    peer["UserID"] = 3158410902316752LL + i % 50;
    peer["TailscaleIPs"] = {ip4, ip6};
    peer["AllowedIPs"] = {ip4 + "/32", ip6 + "/128"};
    peer["CurAddr"] =
        i % 3 == 0 ? "" : "198.51.100." + std::to_string(i % 250) + ":41641";
    peer["Online"] = i % 4 != 0;
    peer["Active"] = i % 5 == 0;
    peer["PeerAPIURL"] = {"http://" + ip4 + ":36412",
                          "http://[" + ip6 + "]:36412"};
    peer_map[key] = peer;
  }
  status["Peer"] = peers > 0 ? peer_map : json(nullptr);
  return status.dump(1, '\t') + "\n";
}

// One bus line: the fixture's first Notify plus an Engine update with
// `peers` LivePeers.
std::string NotifyWithPeers(int peers) {
  std::istringstream lines(ReadFixture("watch-ipn-bus-stream-1.102.jsonl"));
  std::string first;
  std::getline(lines, first);
  json notify = json::parse(first);
  json live = json::object();
  for (int i = 0; i < peers; ++i) {
    const std::string key = "nodekey:" + Hex64(static_cast<uint64_t>(i) + 1);
    live[key] = {{"NodeKey", key},
                 {"TxBytes", 1000 + i},
                 {"RxBytes", 200000 + 3 * i},
                 {"LastHandshake", "2026-09-20T06:39:12.556012984Z"}};
  }
  notify["Engine"] = {{"RBytes", 18234567},
                      {"WBytes", 2345678},
                      {"NumLive", peers},
                      {"LiveDERPs", 1},
                      {"LivePeers", peers > 0 ? live : json(nullptr)}};
  return notify.dump() + "\n";
}

template <typename Parse>
void Run(benchmark::State& state, const std::string& text, Parse parse) {
  // One counted parse first (untimed): it also checks the input parses.
  g_live = 0;
  g_peak = 0;
  g_counting = true;
  const bool ok = parse(text);
  g_counting = false;
  if (!ok) {
    state.SkipWithError("the generated reply does not parse");
    return;
  }
  const double peak = static_cast<double>(g_peak.load());
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse(text));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["input"] = benchmark::Counter(
      static_cast<double>(text.size()), benchmark::Counter::kDefaults,
      benchmark::Counter::OneK::kIs1024);
  state.counters["peak_heap"] = benchmark::Counter(
      peak, benchmark::Counter::kDefaults, benchmark::Counter::OneK::kIs1024);
}

void BM_ParseStatus(benchmark::State& state) {
  const std::string text = StatusWithPeers(static_cast<int>(state.range(0)));
  Run(state, text,
      [](const std::string& t) { return watchdog::ParseStatus(t).ok(); });
}

void BM_ParseNotify(benchmark::State& state) {
  const std::string text = NotifyWithPeers(static_cast<int>(state.range(0)));
  Run(state, text,
      [](const std::string& t) { return watchdog::ParseNotify(t).ok(); });
}

// 0 peers: what the daemon really fetches (status?peers=false) and receives
// (its bus mask asks for no engine updates).
void PeerCounts(benchmark::internal::Benchmark* b) {
  b->ArgName("peers")->Arg(0)->Arg(10)->Arg(1000)->Arg(10000);
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_ParseStatus)->Apply(PeerCounts);
BENCHMARK(BM_ParseNotify)->Apply(PeerCounts);

// A hostile reply within the 8 MiB cap: JSON nested N deep ("[[[[...").
// ParseStatus refuses it before parsing (kMaxJsonDepth, issue 13);
// nlohmann::json alone, as ParseStatus did before, builds it whole.
void BM_NestedRefused(benchmark::State& state) {
  const std::string text(static_cast<size_t>(state.range(0)), '[');
  Run(state, text,
      [](const std::string& t) { return !watchdog::ParseStatus(t).ok(); });
}

void BM_NestedUnguarded(benchmark::State& state) {
  const std::string text(static_cast<size_t>(state.range(0)), '[');
  Run(state, text, [](const std::string& t) {
    return json::parse(t, nullptr, /*allow_exceptions=*/false).is_discarded();
  });
}

void Depths(benchmark::internal::Benchmark* b) {
  b->ArgName("depth")->Arg(1 << 20)->Arg(8 << 20);
  b->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_NestedRefused)->Apply(Depths);
BENCHMARK(BM_NestedUnguarded)->Apply(Depths);

}  // namespace

BENCHMARK_MAIN();
