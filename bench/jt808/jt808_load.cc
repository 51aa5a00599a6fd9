// jt808_load: N simulated JT/T 808 terminals over loopback TCP against smartbus-jt808 (which
// feeds smartbusd). Each terminal has its own connection, registers, authenticates, then sends
// a 0x0200 location report every --interval_s of wall time (staggered), at the scheduled
// position of a synthetic bus on a real trip of the feed (bench/common/synthetic_fleet.h; no
// trip_id: JT/T 808 has none, so smartbusd infers the trips). Fix time = --start + wall time
// elapsed (run smartbusd with --clock=fixes).
//
// Measures (one JSON object on stdout):
//   fixes_per_s       reports answered 0x8001 success per second (after the warm-up)
//   latency p50/p99   report sent -> its 0x8001 received: the gateway answers only after
//                     smartbusd acknowledged the fix, i.e. after the tracker, the predictor and
//                     the snapshot publication ran (fix-to-prediction)
//   gateway RSS       before the first connection, with every terminal connected and
//                     authenticated (idle), and at the end: KiB per connection
//   CPU per fix       gateway and smartbusd user+system CPU over the measured window / fixes
// Terminals connect as auto-registered (run smartbus-jt808 with --jt808_auto_register).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "bench/common/synthetic_fleet.h"
#include "services/jt808/terminal.h"
#include "services/files/feed_files.h"

ABSL_FLAG(std::string, gateway, "127.0.0.1:6808", "smartbus-jt808 address");
ABSL_FLAG(std::vector<std::string>, gtfs, {}, "the feeds smartbusd serves (comma-separated)");
ABSL_FLAG(int32_t, date, 20260910, "service date YYYYMMDD");
ABSL_FLAG(std::string, start, "08:00", "local start time HH:MM");
ABSL_FLAG(int, terminals, 10000, "terminals (one TCP connection each)");
ABSL_FLAG(double, interval_s, 10, "seconds between a terminal's reports");
ABSL_FLAG(int, seconds, 60, "reporting time (wall), after every terminal connected");
ABSL_FLAG(double, warmup_s, -1, "measure from this many seconds into reporting (default: one "
                                "interval + 2 s)");
ABSL_FLAG(int, connect_rate, 2000, "new connections per second");
ABSL_FLAG(int, gateway_pid, 0, "smartbus-jt808 pid (RSS, CPU)");
ABSL_FLAG(int, server_pid, 0, "smartbusd pid (RSS, CPU)");

namespace smartbus {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using jt808::Location;
using jt808::Terminal808;

struct Stats {
  std::mutex mu;
  std::vector<double> latency_ms;
  std::atomic<int64_t> ok{0}, failed{0}, measured_ok{0};
  std::atomic<bool> measuring{false};
};

int Main() {
  std::vector<std::string> feeds = absl::GetFlag(FLAGS_gtfs);
  auto feed = LoadGtfs(feeds);
  if (!feed.ok()) {
    std::fprintf(stderr, "jt808_load: %s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  auto net = Network::Build(std::move(*feed));
  if (!net.ok()) return 1;
  const int32_t date = absl::GetFlag(FLAGS_date);
  int hh = 8, mm = 0;
  std::sscanf(absl::GetFlag(FLAGS_start).c_str(), "%d:%d", &hh, &mm);
  const int64_t t0 = absl::ToUnixSeconds((*net)->ServiceDayStart(date)) + hh * 3600 + mm * 60;
  bench::Fleet fleet(*net, date, t0, absl::GetFlag(FLAGS_terminals));
  const size_t n = fleet.size();
  std::fprintf(stderr, "jt808_load: %zu terminals on %zu trips\n", n, fleet.distinct_trips());
  if (n == 0) return 1;

  const std::string gw = absl::GetFlag(FLAGS_gateway);
  const size_t colon = gw.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(gw.substr(colon + 1), &port)) return 2;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address(gw.substr(0, colon)),
                                   static_cast<uint16_t>(port));
  const int gpid = absl::GetFlag(FLAGS_gateway_pid), spid = absl::GetFlag(FLAGS_server_pid);
  const int64_t rss_gw0 = gpid ? bench::RssKiB(gpid) : -1;

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  std::vector<std::shared_ptr<Terminal808>> terms(n);
  std::atomic<int64_t> ready{0}, refused{0};
  const int rate = std::max(1, absl::GetFlag(FLAGS_connect_rate));
  const auto c0 = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    jt808::TerminalOptions to;
    to.phone = std::to_string(14000000000ULL + i);
    to.plate = absl::StrCat("B", i);
    to.terminal_id = absl::StrCat(i % 10000000);
    terms[i] = std::make_shared<Terminal808>(io.get_executor(), to);
    terms[i]->Start(ep, [&](absl::Status s) { (s.ok() ? ready : refused)++; });
    std::this_thread::sleep_until(c0 + std::chrono::microseconds(1000000LL * (i + 1) / rate));
  }
  while (ready + refused < static_cast<int64_t>(n) &&
         Clock::now() - c0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t rss_gw_idle = gpid ? bench::RssKiB(gpid) : -1;
  std::fprintf(stderr, "jt808_load: %lld connected and authenticated, %lld refused, in %.1f s\n",
               static_cast<long long>(ready.load()), static_cast<long long>(refused.load()),
               std::chrono::duration<double>(Clock::now() - c0).count());

  Stats st;
  const double interval = absl::GetFlag(FLAGS_interval_s);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  double warmup = absl::GetFlag(FLAGS_warmup_s);
  if (warmup < 0) warmup = interval + 2;
  const auto r0 = Clock::now();
  size_t cursor = 0;
  int64_t round = 0;
  double cpu_gw0 = NAN, cpu_s0 = NAN;
  int64_t ok_at_warmup = 0;
  Clock::time_point m0;
  while (true) {
    const double el = std::chrono::duration<double>(Clock::now() - r0).count();
    if (el >= seconds) break;
    if (!st.measuring && el >= warmup) {
      cpu_gw0 = gpid ? bench::CpuSeconds(gpid) : NAN;
      cpu_s0 = spid ? bench::CpuSeconds(spid) : NAN;
      ok_at_warmup = st.ok.load();
      m0 = Clock::now();
      st.measuring = true;
    }
    // Terminal i reports at (round + i / n) * interval.
    const int64_t due = static_cast<int64_t>(el / interval * static_cast<double>(n));
    while (round * static_cast<int64_t>(n) + static_cast<int64_t>(cursor) <= due) {
      const size_t i = cursor;
      if (terms[i]->ready()) {
        const int64_t t = t0 + static_cast<int64_t>(el);
        const bench::Fleet::Position p = fleet.PositionAt(i, t);
        Location l;
        l.lat = p.pos.lat;
        l.lon = p.pos.lon;
        l.time_s = t;
        l.speed_dkmh = static_cast<uint16_t>(std::lround(p.speed_mps * 36));
        l.direction = static_cast<uint16_t>(std::lround(p.bearing_deg)) % 360;
        l.status = 0x3;
        l.mileage_hm = static_cast<uint32_t>(i * 10 + round);
        l.signal_strength = 25;
        l.satellites = 11;
        const auto sent = Clock::now();
        terms[i]->SendLocation(l, [&st, sent](int result) {
          if (result != 0) {
            ++st.failed;
            return;
          }
          ++st.ok;
          if (!st.measuring) return;
          ++st.measured_ok;
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
          std::lock_guard lock(st.mu);
          st.latency_ms.push_back(ms);
        });
      }
      if (++cursor == n) {
        cursor = 0;
        ++round;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // last answers
  const double secs = std::chrono::duration<double>(Clock::now() - m0).count();
  const int64_t fixes = st.ok.load() - ok_at_warmup;
  const double cpu_gw = gpid ? bench::CpuSeconds(gpid) - cpu_gw0 : NAN;
  const double cpu_s = spid ? bench::CpuSeconds(spid) - cpu_s0 : NAN;
  const int64_t rss_gw1 = gpid ? bench::RssKiB(gpid) : -1;
  const int64_t rss_s1 = spid ? bench::RssKiB(spid) : -1;
  std::vector<double> lat;
  {
    std::lock_guard lock(st.mu);
    lat = st.latency_ms;
  }
  std::printf(
      "{\"terminals\": %zu, \"connected\": %lld, \"interval_s\": %g, \"measured_s\": %.1f, "
      "\"fixes_ok\": %lld, \"fixes_failed\": %lld, \"fixes_per_s\": %.1f, "
      "\"latency_ms_p50\": %.2f, \"latency_ms_p99\": %.2f, \"latency_ms_max\": %.2f, "
      "\"gateway_rss_kib_before\": %lld, \"gateway_rss_kib_connected\": %lld, "
      "\"gateway_rss_kib_end\": %lld, \"gateway_kib_per_connection\": %.2f, "
      "\"gateway_cpu_us_per_fix\": %.1f, \"server_cpu_us_per_fix\": %.1f, "
      "\"server_rss_kib_end\": %lld}\n",
      n, static_cast<long long>(ready.load()), interval, secs, static_cast<long long>(fixes),
      static_cast<long long>(st.failed.load()), fixes / secs, bench::Pct(lat, 0.5),
      bench::Pct(lat, 0.99), lat.empty() ? NAN : *std::max_element(lat.begin(), lat.end()),
      static_cast<long long>(rss_gw0), static_cast<long long>(rss_gw_idle),
      static_cast<long long>(rss_gw1),
      ready > 0 ? double(rss_gw_idle - rss_gw0) / double(ready.load()) : NAN,
      fixes > 0 ? cpu_gw / double(fixes) * 1e6 : NAN,
      fixes > 0 ? cpu_s / double(fixes) * 1e6 : NAN, static_cast<long long>(rss_s1));
  for (auto& t : terms) t->Close();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  work.reset();
  io.stop();
  io_thread.join();
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return smartbus::Main();
}
