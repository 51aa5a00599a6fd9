// Network build benchmark: loads feeds as one network (LoadGtfs), builds the Network on it and
// reports the time of each step, peak RSS and what the build found.
//
//   network_build_bench [--repeat N] FEED...
//
// All FEEDs (directories or .zip files) form one network. With --repeat N the build runs N
// times on copies of the loaded feed and the best build time is reported.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "services/core/network/network.h"
#include "services/files/feed_files.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of this process (user + system), seconds: less disturbed than wall time when other
// jobs share the machine.
double CpuS() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long PeakRssKb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  std::vector<std::string> feeds;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      feeds.push_back(argv[i]);
    }
  }
  if (feeds.empty()) {
    std::fprintf(stderr, "usage: network_build_bench [--repeat N] FEED...\n");
    return 2;
  }
  double t0 = Now(), c0 = CpuS();
  auto feed = smartbus::LoadGtfs(feeds);
  double load_s = Now() - t0, load_cpu_s = CpuS() - c0;
  if (!feed.ok()) {
    std::fprintf(stderr, "load failed: %s\n", feed.status().ToString().c_str());
    return 1;
  }
  const double mst = feed->stop_times.size() / 1e6;
  long rss_after_load = PeakRssKb();
  double best_build_s = 1e9, best_build_cpu_s = 1e9;
  std::shared_ptr<const smartbus::Network> net;
  for (int r = 0; r < repeat; ++r) {
    smartbus::GtfsFeed copy = r + 1 < repeat ? *feed : std::move(*feed);
    double b0 = Now(), bc0 = CpuS();
    auto built = smartbus::Network::Build(std::move(copy));
    double b = Now() - b0;
    best_build_cpu_s = std::min(best_build_cpu_s, CpuS() - bc0);
    if (!built.ok()) {
      std::fprintf(stderr, "build failed: %s\n", built.status().ToString().c_str());
      return 1;
    }
    best_build_s = std::min(best_build_s, b);
    net = *built;
  }
  size_t pattern_stops = 0;
  for (const auto& p : net->patterns()) pattern_stops += p.stops.size();
  std::printf("stop_times %zu  trips %zu  shapes %zu  stops %zu\n", net->feed().stop_times.size(),
              net->feed().trips.size(), net->feed().shapes.size(), net->feed().stops.size());
  std::printf("patterns %zu  pattern_stops %zu  polylines %zu  nonmonotone %d  max_offset_m %.1f\n",
              net->patterns().size(), pattern_stops, net->polylines().size(),
              net->nonmonotone_patterns(), net->max_stop_offset_m());
  std::printf("wall: load_s %.2f  build_s %.2f  total_s %.2f  s_per_M_stop_times %.2f\n", load_s,
              best_build_s, load_s + best_build_s, (load_s + best_build_s) / mst);
  std::printf("cpu:  load_s %.2f  build_s %.2f  total_s %.2f  s_per_M_stop_times %.2f\n",
              load_cpu_s, best_build_cpu_s, load_cpu_s + best_build_cpu_s,
              (load_cpu_s + best_build_cpu_s) / mst);
  std::printf("peak_rss_MiB after load %.0f, after build %.0f (%.0f B/stop_time)\n",
              rss_after_load / 1024.0, PeakRssKb() / 1024.0,
              PeakRssKb() * 1024.0 / (mst * 1e6));
  // Placement quality: stops not placed on their nearest pass (the order chose another one), and
  // consecutive stops whose along-shape gap exceeds 3x their straight distance (min 50 m): a
  // sign of a stop placed on a wrong pass.
  {
    int not_nearest = 0, long_gaps = 0;
    std::vector<smartbus::PolylinePoint> c;
    for (const auto& pat : net->patterns()) {
      const smartbus::Polyline& line = net->polylines()[pat.polyline];
      for (size_t i = 0; i < pat.stops.size(); ++i) {
        smartbus::Vec2 xy = net->projection().Forward(net->feed().stops[pat.stops[i]].pos);
        line.Candidates(xy, 150, &c);
        double nearest = 1e18;
        for (const auto& x : c) nearest = std::min(nearest, x.offset_m);
        if (!c.empty() && pat.stop_offset_m[i] > nearest + 1) ++not_nearest;
        if (i == 0) continue;
        smartbus::Vec2 prev = net->projection().Forward(net->feed().stops[pat.stops[i - 1]].pos);
        double along = pat.stop_dist_m[i] - pat.stop_dist_m[i - 1];
        if (along > 3 * std::max(50.0, smartbus::Dist(prev, xy))) {
          if (++long_gaps <= 5)
            std::printf("  long gap: route %s, stop %zu (%s): along %.0f m, straight %.0f m\n",
                        net->feed().routes[pat.route].id.c_str(), i,
                        net->feed().stops[pat.stops[i]].id.c_str(), along,
                        smartbus::Dist(prev, xy));
        }
      }
    }
    std::printf("placement: %zu pattern stops, %d not on their nearest pass, %d long gaps\n",
                pattern_stops, not_nearest, long_gaps);
  }
  // TripsAround: the tracker's query for a bus that does not say its trip. Times spread over
  // the busiest of the feed's first 14 service dates (every 7 s from 00:00 to 24:00 local).
  int32_t date = 0;
  size_t most = 0;
  if (net->feed().FirstServiceDate() > 0) {
    absl::CivilDay d0(net->feed().FirstServiceDate() / 10000,
                      net->feed().FirstServiceDate() / 100 % 100,
                      net->feed().FirstServiceDate() % 100);
    for (absl::CivilDay d = d0; d < d0 + 14; ++d) {
      int32_t ymd = static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
      size_t n = net->ActiveTrips(ymd).size();
      if (n > most) {
        most = n;
        date = ymd;
      }
    }
  }
  if (date > 0) {
    const absl::Time day = net->ServiceDayStart(date);
    size_t found = 0;
    int calls = 0;
    double q0 = Now();
    for (int64_t s = 0; s < 86400; s += 7, ++calls)
      found += net->TripsAround(day + absl::Seconds(s), absl::Minutes(10), absl::Minutes(10)).size();
    double q = Now() - q0;
    // The same times on every 10th route, and the nearest instance of every 50th active trip.
    size_t on_route = 0;
    int route_calls = 0;
    q0 = Now();
    for (int64_t s = 0; s < 86400; s += 7)
      for (uint32_t r = static_cast<uint32_t>(s % 10); r < net->feed().routes.size(); r += 10) {
        on_route += net->TripsAroundOnRoute(r, day + absl::Seconds(s), absl::Minutes(10),
                                            absl::Minutes(10))
                        .size();
        ++route_calls;
      }
    double qr = Now() - q0;
    std::printf("TripsAroundOnRoute: %d calls, %.2f us/call (wall), %.1f trip instances/call\n",
                route_calls, qr / route_calls * 1e6, static_cast<double>(on_route) / route_calls);
    std::vector<smartbus::TripIdx> active = net->ActiveTrips(date);
    int nearest_calls = 0, nearest_found = 0;
    q0 = Now();
    for (size_t i = 0; i < active.size(); i += 50, ++nearest_calls)
      nearest_found += net->NearestTripInstance(active[i], day + absl::Hours(12)).has_value();
    double qn = Now() - q0;
    std::printf("NearestTripInstance: %d calls, %.2f us/call (wall), %d found\n", nearest_calls,
                qn / nearest_calls * 1e6, nearest_found);
    std::printf("TripsAround on %d (%zu active trips): %d calls, %.1f us/call (wall), %.0f trip instances/call\n", date,
                most, calls, q / calls * 1e6, static_cast<double>(found) / calls);
  }
  for (const auto& [kind, n] : net->feed().warnings) std::printf("warning %s: %ld\n", kind.c_str(), static_cast<long>(n));
  return 0;
}
