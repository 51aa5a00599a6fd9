#pragma once
// A bus of the demo city that loses its signal for 10 minutes (07:40-07:50 on a Monday) and
// then uploads the reports of the gap right after its first live report: the fixes in the
// order a server receives them, and the bus's true stop visits in the gap. Used by the engine's
// backfill test and the JT/T 808 end-to-end test.

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/sim/simulator.h"
#include "services/files/feed_files.h"

namespace smartbus::testing_gap {

constexpr int32_t kMonday = 20261123;

inline std::shared_ptr<const Network> DemoCity() {
  static std::shared_ptr<const Network> net = [] {
    auto feed = LoadGtfs({std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"});
    if (!feed.ok()) return std::shared_ptr<const Network>();
    auto n = Network::Build(std::move(*feed));
    return n.ok() ? *n : std::shared_ptr<const Network>();
  }();
  return net;
}

struct Scenario {
  std::vector<Fix> arrival_order;  // what the server receives
  std::string bus;
  int64_t gap_from = 0, gap_to = 0;
  std::vector<StopVisit> truth;    // the bus's true visits arriving in the gap (not at a
                                   // trip's first stop)
  size_t late = 0;
};

// 07:00-08:30, no trip ids (like a JT/T 808 terminal). The bus with the most true visits in
// 07:40-07:50 loses its signal then.
inline Scenario Make() {
  Scenario s;
  auto net = DemoCity();
  SimOptions o;
  o.service_date = kMonday;
  o.report_trip_id = false;
  auto sim = FleetSimulator::Create(net, o);
  if (!sim.ok()) return s;
  const int64_t day = absl::ToUnixSeconds(net->ServiceDayStart(kMonday));
  s.gap_from = day + 7 * 3600 + 40 * 60;
  s.gap_to = s.gap_from + 600;
  std::vector<SimFix> fixes;
  std::vector<StopVisit> visits;
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 7 * 3600 - 1), nullptr, nullptr);
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 8 * 3600 + 1800), &fixes, &visits);
  std::map<std::string, int> in_gap;
  for (const StopVisit& v : visits)
    if (v.arrival_s >= s.gap_from + 60 && v.arrival_s < s.gap_to - 60) ++in_gap[v.vehicle_id];
  int best = 0;
  for (const auto& [id, n] : in_gap)
    if (n > best) best = n, s.bus = id;
  // Not a trip's first stop: the tracker's arrival there is when the layover ends, the
  // simulator's when the bus pulls in (a different definition, with or without a gap).
  for (const StopVisit& v : visits)
    if (v.vehicle_id == s.bus && v.arrival_s > s.gap_from && v.arrival_s < s.gap_to &&
        v.stop_index > 0)
      s.truth.push_back(v);
  std::vector<Fix> held;
  bool flushed = false;
  for (const SimFix& f : fixes) {
    const bool mine = f.fix.vehicle_id == s.bus;
    if (mine && f.fix.timestamp_s >= s.gap_from && f.fix.timestamp_s < s.gap_to) {
      held.push_back(f.fix);
      continue;
    }
    s.arrival_order.push_back(f.fix);
    if (mine && !flushed && f.fix.timestamp_s >= s.gap_to) {
      // The first live report after the gap, then the blind-area upload.
      s.arrival_order.insert(s.arrival_order.end(), held.begin(), held.end());
      flushed = true;
    }
  }
  s.late = held.size();
  return s;
}

// Mean |observed - true| arrival over the true gap visits; `missing` those without a visit.
inline double MeanError(const std::vector<StopVisit>& truth, const std::vector<StopVisit>& got,
                 int* missing) {
  std::map<std::pair<uint32_t, uint32_t>, double> by_key;
  for (const StopVisit& v : got) by_key[{v.trip, v.stop_index}] = v.arrival_s;
  double sum = 0;
  int n = 0;
  *missing = 0;
  for (const StopVisit& t : truth) {
    auto it = by_key.find({t.trip, t.stop_index});
    if (it == by_key.end()) {
      ++*missing;
      continue;
    }
    sum += std::abs(it->second - t.arrival_s);
    ++n;
  }
  return n ? sum / n : NAN;
}

}  // namespace smartbus::testing_gap
