// Trip inference at fleet scale: the CPU the tracker spends per fix when buses do not say their
// trip (JT/T 808 terminals, most AVL units), on a big network.
//
// usage: blind_fleet_bench --gtfs a.zip,b.zip [--vehicles 10000] [--rounds 18] [--interval 10]
//                          [--date 20260915] [--start 08:00] [--trip_ids]
// The synthetic fleet of bench/common/synthetic_fleet.h (every trip running at --start gets a
// bus at its scheduled position; beyond that, more buses follow the same trips 2, 4, ... min
// behind) reports every --interval seconds for --rounds rounds, staggered; one Engine, one
// thread. Prints CPU per fix for the first round (every bus new), the next five and the rest
// (steady state), and how many buses hold their own trip at the end.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "bench/common/synthetic_fleet.h"
#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"

ABSL_FLAG(std::string, gtfs, "", "GTFS feeds (directories or zips), comma-separated");
ABSL_FLAG(int, vehicles, 10000, "buses");
ABSL_FLAG(int, rounds, 18, "reports per bus");
ABSL_FLAG(int, interval, 10, "seconds between a bus's reports");
ABSL_FLAG(int, date, 20260915, "service date YYYYMMDD");
ABSL_FLAG(std::string, start, "08:00", "local time of the first round");
ABSL_FLAG(bool, trip_ids, false, "buses say their trip (the cost without inference)");

namespace smartbus {
namespace {

int Run() {
  std::vector<std::string> paths = absl::StrSplit(absl::GetFlag(FLAGS_gtfs), ',');
  const int32_t date = absl::GetFlag(FLAGS_date);
  auto start = bench::LoadFleetStart(paths, date, absl::GetFlag(FLAGS_start));
  if (!start.ok()) {
    std::fprintf(stderr, "blind_fleet_bench: %s\n", std::string(start.status().message()).c_str());
    return 1;
  }
  const std::shared_ptr<const Network>& net = start->net;
  const absl::CivilSecond cs = start->at;
  const int64_t t0 = start->t0;
  bench::Fleet fleet(net, date, t0, absl::GetFlag(FLAGS_vehicles));
  if (fleet.size() == 0) {
    std::fprintf(stderr, "blind_fleet_bench: no trips run at %s\n",
                 absl::FormatCivilTime(cs).c_str());
    return 1;
  }
  const bool ids = absl::GetFlag(FLAGS_trip_ids);
  std::printf("blind_fleet_bench: %zu buses on %zu trips at %s, %s\n", fleet.size(),
              fleet.distinct_trips(), absl::FormatCivilTime(cs).c_str(),
              ids ? "trip ids given" : "no trip ids (inferred)");

  EngineOptions eo;
  eo.clock_mode = ClockMode::kExternal;
  Engine engine(net, eo);
  const int interval = absl::GetFlag(FLAGS_interval);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const size_t n = fleet.size();
  std::vector<double> cpu_per_round;
  for (int r = 0; r < rounds; ++r) {
    const double c0 = bench::CpuSeconds(::getpid());
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = t0 + int64_t(r) * interval + int64_t(i * interval / n);
      const bench::Fleet::Position p = fleet.PositionAt(i, t);
      Fix f;
      f.vehicle_id = fleet.bus(i).id;
      f.timestamp_s = t;
      f.lat = p.pos.lat;
      f.lon = p.pos.lon;
      f.bearing_deg = static_cast<float>(p.bearing_deg);
      f.speed_mps = static_cast<float>(p.speed_mps);
      if (ids && p.trip) f.trip_id = p.trip->id;
      engine.SetClock(t);
      engine.Process(f);
    }
    cpu_per_round.push_back(bench::CpuSeconds(::getpid()) - c0);
  }
  auto us_per_fix = [&](int from, int to) {
    double s = 0;
    for (int r = from; r < std::min(to, rounds); ++r) s += cpu_per_round[r];
    const int k = std::max(0, std::min(to, rounds) - from);
    return k == 0 ? 0.0 : s / (double(k) * double(n)) * 1e6;
  };
  size_t own = 0, assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    const VehicleState* s = engine.tracker().Vehicle(fleet.bus(i).id);
    if (!s || s->trip == kNoIndex) continue;
    ++assigned;
    own += s->trip == fleet.bus(i).ti.trip && fleet.bus(i).lag_s == 0;
  }
  std::printf("cpu per fix: round 1 %.1f us, rounds 2-6 %.1f us, rounds 7-%d %.1f us\n",
              us_per_fix(0, 1), us_per_fix(1, 6), rounds, us_per_fix(6, rounds));
  std::printf("at the end: %zu of %zu buses on a trip, %zu of the %zu first buses on their own\n",
              assigned, n, own, fleet.distinct_trips());
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return smartbus::Run();
}
