// Journey planner benchmark: loads feeds as one network, builds the planner's index and runs
// random earliest-arrival queries (stop to stop, depart-at) on one thread.
//
//   planner_bench [--queries N] [--date YYYYMMDD] [--seed S] [--window MIN] FEED...
//
// --window: range queries (every Pareto-optimal journey leaving within MIN minutes).
//
// Reports: load and Network::Build time, index build time and memory (routes, times, stop
// index, footpaths), peak RSS, and p50/p90/p99/max of the query latency with how many queries
// found a journey.

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "services/core/planner/planner.h"
#include "services/files/feed_files.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of this thread, seconds: on a machine shared with other jobs the latency of one
// query on one core is its CPU time (wall time also counts waiting for a core).
double ThreadCpuS() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

long PeakRssMb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  int queries = 1000;
  int32_t date = 20261020;  // a Tuesday inside the NYC feeds' validity (20260906-20270102)
  uint32_t seed = 16;
  int window_min = 0;
  std::vector<std::string> feeds;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--queries") && i + 1 < argc) {
      queries = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--date") && i + 1 < argc) {
      date = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--window") && i + 1 < argc) {
      window_min = std::max(0, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else {
      feeds.push_back(argv[i]);
    }
  }
  if (feeds.empty()) {
    std::fprintf(stderr, "usage: planner_bench [--queries N] [--date YYYYMMDD] FEED...\n");
    return 2;
  }
  double t0 = Now();
  auto feed = smartbus::LoadGtfs(feeds);
  if (!feed.ok()) {
    std::fprintf(stderr, "load: %s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  const size_t stop_times = feed->stop_times.size();
  auto net = smartbus::Network::Build(*std::move(feed));
  if (!net.ok()) {
    std::fprintf(stderr, "network: %s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  const double net_s = Now() - t0;
  const long rss_before = PeakRssMb();
  t0 = Now();
  auto tt = smartbus::planner::Timetable::Build(*net);
  if (!tt.ok()) return 1;
  const double index_s = Now() - t0;
  const auto& rs = (*tt)->routes();
  std::printf("network: %zu stops, %zu trips, %zu stop_times; load + build %.1f s\n",
              (*net)->feed().stops.size(), (*net)->feed().trips.size(), stop_times, net_s);
  std::printf("planner index: %.2f s; %zu routes (from %zu patterns), %zu trips, %zu footpaths; "
              "%.1f MiB (times %.1f MiB, footpaths %.1f MiB); peak RSS %ld MiB -> %ld MiB\n",
              index_s, rs.routes.size(), (*net)->patterns().size(), rs.trips.size(),
              (*tt)->footpaths().edges.size(), (*tt)->MemoryBytes() / 1048576.0,
              (rs.arr.capacity() + rs.dep.capacity()) * 4 / 1048576.0,
              (*tt)->footpaths().MemoryBytes() / 1048576.0, rss_before, PeakRssMb());

  const smartbus::planner::Planner planner(*tt);
  const absl::Time day = (*net)->ServiceDayStart(date);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<uint32_t> any_stop(0, (*net)->feed().stops.size() - 1);
  std::uniform_int_distribution<int32_t> any_time(6 * 3600, 22 * 3600);
  std::vector<double> ms, cpu_ms;
  int found = 0;
  double rounds = 0, scanned = 0, searches = 0, journeys = 0;
  for (int q = 0; q < queries; ++q) {
    smartbus::planner::PlanRequest req{{any_stop(rng)}, {any_stop(rng)},
                                       day + absl::Seconds(any_time(rng))};
    req.window = absl::Minutes(window_min);
    const double s = Now(), c = ThreadCpuS();
    auto res = planner.Plan(req);
    cpu_ms.push_back((ThreadCpuS() - c) * 1000);
    ms.push_back((Now() - s) * 1000);
    if (res.ok() && !res->journeys.empty()) ++found;
    if (res.ok()) {
      rounds += res->stats.rounds;
      scanned += res->stats.routes_scanned;
      searches += res->stats.searches;
      journeys += res->journeys.size();
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  auto at = [](const std::vector<double>& v, double p) {
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  auto pct = [&](double p) { return at(ms, p); };
  std::printf("queries: %d on %d (06:00-22:00, random stop pairs, window %d min), %d found a "
              "journey; mean %.1f rounds, %.0f routes scanned, %.1f searches, %.1f journeys\n",
              queries, date, window_min, found, rounds / queries, scanned / queries,
              searches / queries, journeys / queries);
  std::printf("latency ms (wall): p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct(0.5), pct(0.9),
              pct(0.99), ms.back());
  std::printf("latency ms (thread CPU): p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
              at(cpu_ms, 0.5), at(cpu_ms, 0.9), at(cpu_ms, 0.99), cpu_ms.back());
  return 0;
}
