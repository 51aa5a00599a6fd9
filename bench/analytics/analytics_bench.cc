// Query latency of every analytics call over a full service day of a simulated 500-bus fleet.
//
// Synthetic city: 50 routes x 2 directions, 40 stops each 400 m apart; 500 buses (5 per route
// direction) run back-to-back trips from 05:00 to 23:00 (about 80 min per trip with a 10 min
// layover), with random delays, dwell, bunching, passenger counts and occupancy. Every stop
// visit is fed to one VisitAggregator (as smartbusd does), then each query is timed many times.
//
// usage: analytics_bench [--buses N] [--reps N]     (defaults 500 and 200)
// Prints a table and one JSON line per query (p50/p99/max milliseconds).

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "services/core/analytics/analytics.h"
#include "services/store/memory_store.h"

namespace smartbus {
namespace {

constexpr int kRoutes = 50;
constexpr int kStopsPerTrip = 40;
constexpr double kStopSpacingM = 400;

// Route r, direction d: stops r*1000 + d*100 + k. Trips are numbered as they are generated.
class SynthNetwork : public AnalyticsNetwork {
 public:
  std::string RouteId(uint32_t r) const override { return "R" + std::to_string(r); }
  std::string StopId(uint32_t s) const override { return "S" + std::to_string(s); }
  std::string TripId(TripIdx t) const override { return "T" + std::to_string(t); }
  uint32_t TripNumStops(TripIdx) const override { return kStopsPerTrip; }
  double StopDistM(TripIdx, uint32_t k) const override { return kStopSpacingM * k; }
};

struct Timing {
  std::string name;
  double p50_ms, p99_ms, max_ms;
  double cpu_p50_ms, cpu_p99_ms;  // thread CPU time: what the call costs without contention
  size_t result_size;
};

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

Timing Time(const std::string& name, int reps, const std::function<size_t()>& f) {
  std::vector<double> ms, cpu;
  size_t size = 0;
  for (int i = 0; i < reps; ++i) {
    double c0 = ThreadCpuMs();
    auto t0 = std::chrono::steady_clock::now();
    size = f();
    auto t1 = std::chrono::steady_clock::now();
    cpu.push_back(ThreadCpuMs() - c0);
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  auto pct = [&](const std::vector<double>& v, double p) {
    return v[std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - 1)];
  };
  return {name, pct(ms, 0.5), pct(ms, 0.99), ms.back(), pct(cpu, 0.5), pct(cpu, 0.99), size};
}

int Main(int argc, char** argv) {
  int buses = 500, reps = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--buses")) buses = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
  }
  const int64_t day0 = 1771218000;  // 2026-02-16 05:00:00 UTC: service start
  const int64_t day_end = day0 + 18 * 3600;
  std::mt19937 rng(42);
  std::normal_distribution<double> delay_step(2.0, 15.0);
  std::uniform_int_distribution<int> pax(0, 6);
  std::uniform_int_distribution<int> occ(0, 5);

  // Generate the visits (every bus, every trip, every stop) in time order per bus; then sort
  // all by arrival, as the server receives them.
  std::vector<StopVisit> visits;
  uint32_t next_trip = 0;
  const int per_dir = std::max(1, buses / (kRoutes * 2));
  const double run_s = kStopsPerTrip * 120.0, cycle_s = run_s + 600;
  for (int b = 0; b < buses; ++b) {
    int route = b % kRoutes;
    int dir = (b / kRoutes) % 2;
    int slot = b / (kRoutes * 2);
    int64_t start = day0 + static_cast<int64_t>(slot * cycle_s / per_dir);
    std::string vid = "V" + std::to_string(b);
    for (int64_t t0 = start; t0 + run_s < day_end; t0 += static_cast<int64_t>(cycle_s)) {
      const TripIdx trip(next_trip++);
      double delay = 0;
      int load = 0;
      for (int k = 0; k < kStopsPerTrip; ++k) {
        StopVisit v;
        v.vehicle_id = vid;
        v.trip = trip;
        v.route = route;
        v.stop = route * 1000 + dir * 100 + k;
        v.stop_index = k;
        v.stop_sequence = k + 1;
        v.service_date = 20260216;
        v.scheduled_arrival_s = v.scheduled_departure_s = t0 + 120 * k;
        delay = std::max(-120.0, delay + delay_step(rng));
        v.arrival_s = static_cast<double>(v.scheduled_arrival_s) + delay;
        v.departure_s = v.arrival_s + 15;
        v.alightings = std::min(load, pax(rng));
        v.boardings = k + 1 < kStopsPerTrip ? pax(rng) : 0;
        load += v.boardings - v.alightings;
        v.load = load;
        v.occupancy = occ(rng);
        visits.push_back(std::move(v));
      }
    }
  }
  std::stable_sort(visits.begin(), visits.end(), [](const StopVisit& a, const StopVisit& b) {
    return a.arrival_s < b.arrival_s;
  });

  auto net = std::make_shared<SynthNetwork>();
  VisitAggregator agg(net);
  auto t0 = std::chrono::steady_clock::now();
  for (const StopVisit& v : visits) agg.Add(v);
  auto t1 = std::chrono::steady_clock::now();
  double add_s = std::chrono::duration<double>(t1 - t0).count();
  const double now = agg.newest_arrival_s();

  std::vector<VehicleState> states(buses);
  for (int b = 0; b < buses; ++b) {
    states[b].vehicle_id = "V" + std::to_string(b);
    states[b].timestamp_s = static_cast<int64_t>(now) - b % 900;
    states[b].state = b % 37 == 0 ? MatchState::kOffRoute : MatchState::kInService;
  }

  std::vector<Timing> t;
  RouteQuery all;
  t.push_back(Time("routes_all_day", reps, [&] { return agg.Routes(all).size(); }));
  RouteQuery detail;
  detail.stops = detail.trips = true;
  t.push_back(Time("routes_all_day_stops_trips", reps, [&] { return agg.Routes(detail).size(); }));
  RouteQuery one;
  one.route = 7;
  one.stops = one.trips = true;
  t.push_back(Time("route_one_day_stops_trips", reps, [&] { return agg.Routes(one).size(); }));
  RouteQuery hour;
  hour.window.from_s = now - 3600;
  t.push_back(Time("routes_last_hour", reps, [&] { return agg.Routes(hour).size(); }));
  t.push_back(Time("bunched_pairs", reps, [&] { return agg.BunchedPairs(now).size(); }));
  t.push_back(Time("congestion_now", reps, [&] { return agg.Congestion(now, 20).size(); }));
  t.push_back(Time("usual_jams", reps, [&] { return agg.UsualJams(20).size(); }));
  t.push_back(Time("driving_all_day", reps, [&] { return agg.Driving({}).size(); }));
  t.push_back(Time("fleet_condition", reps, [&] {
    return BuildFleetCondition(states, now, FleetOptions{}, agg.Driving({})).vehicles.size();
  }));

  // What smartbusd's AnalyticsHub adds before each query: read the visits of the last 30 min
  // (sync slack) from the store (embedded MemoryStore here) and offer them to the aggregator
  // (all already held: ignored as duplicates).
  MemoryStore store;
  for (const StopVisit& v : visits) {
    StopVisitRecord r;
    r.visit = v;
    r.trip_id = net->TripId(v.trip);
    r.route_id = net->RouteId(v.route);
    r.stop_id = net->StopId(v.stop);
    (void)store.AppendStopVisit(r);
  }
  t.push_back(Time("hub_sync_last_30min", reps, [&] {
    StopVisitQuery sq;
    sq.from_s = now - 1800;
    sq.limit = std::numeric_limits<size_t>::max();
    auto got = store.ReadStopVisits(sq);
    size_t added = 0;
    for (const StopVisitRecord& r : *got) added += agg.Add(r.visit) ? 1 : 0;
    return got->size() - added;
  }));

  std::printf("analytics_bench: %d buses, %zu visits over 18 h, %d routes x 2 directions; "
              "Add %.3f s (%.0f visits/s); %d reps per query\n",
              buses, visits.size(), kRoutes, add_s, visits.size() / add_s, reps);
  std::printf("%-28s %9s %9s %9s %9s %9s %8s\n", "query", "p50_ms", "p99_ms", "max_ms",
              "cpu_p50", "cpu_p99", "results");
  for (const Timing& x : t) {
    std::printf("%-28s %9.3f %9.3f %9.3f %9.3f %9.3f %8zu\n", x.name.c_str(), x.p50_ms, x.p99_ms,
                x.max_ms, x.cpu_p50_ms, x.cpu_p99_ms, x.result_size);
  }
  for (const Timing& x : t) {
    std::printf("{\"query\":\"%s\",\"buses\":%d,\"visits\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                "\"max_ms\":%.3f,\"cpu_p50_ms\":%.3f,\"cpu_p99_ms\":%.3f}\n",
                x.name.c_str(), buses, visits.size(), x.p50_ms, x.p99_ms, x.max_ms, x.cpu_p50_ms,
                x.cpu_p99_ms);
  }
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) { return smartbus::Main(argc, argv); }
