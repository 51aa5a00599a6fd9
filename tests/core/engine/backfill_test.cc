// Late fixes (backfill.h) on the demo city: a bus loses its signal for 10 minutes; its first
// report after the gap arrives, then the reports of the gap (a JT/T 808 blind-area upload).
// With the backfill, the stop visits of the gap are emitted once, with times close to the
// simulator's truth (the late fixes show them), and the live state never goes back in time.
// Without it, the late fixes are rejected and the gap's visits are interpolated.

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/sim/simulator.h"
#include "tests/core/engine/signal_gap_scenario.h"

namespace smartbus {
namespace {

using testing_gap::DemoCity;
using testing_gap::Make;
using testing_gap::MeanError;
using testing_gap::Scenario;

class Collect : public EngineListener {
 public:
  explicit Collect(std::string bus) : bus_(std::move(bus)) {}
  void OnStopVisit(const StopVisit& v) override {
    if (v.vehicle_id == bus_) visits.push_back(v);
  }
  void OnVehicleUpdate(const VehicleState& st) override {
    if (st.vehicle_id != bus_) return;
    if (st.timestamp_s < newest) went_back = true;
    newest = std::max(newest, st.timestamp_s);
  }
  std::vector<StopVisit> visits;
  int64_t newest = 0;
  bool went_back = false;

 private:
  std::string bus_;
};

struct EngineRun {
  std::vector<StopVisit> visits;
  bool went_back = false;
  BackfillStats stats;
};

EngineRun RunEngine(const Scenario& s, bool backfill) {
  EngineOptions o;
  o.backfill.enabled = backfill;
  Engine e(DemoCity(), o);
  Collect c(s.bus);
  e.AddListener(&c);
  for (const Fix& f : s.arrival_order) {
    e.Process(f);
    e.FlushLate();
  }
  e.FlushLate(/*all=*/true);
  EngineRun r{c.visits, c.went_back, {}};
  if (e.backfill_stats()) r.stats = *e.backfill_stats();
  return r;
}

TEST(BackfillTest, SignalGapVisitsComeFromTheLateFixesOnceAndLiveStateNeverGoesBack) {
  ASSERT_NE(DemoCity(), nullptr);
  const Scenario s = Make();
  ASSERT_FALSE(s.bus.empty());
  ASSERT_GE(s.truth.size(), 3u) << "the chosen bus should pass several stops in 10 minutes";
  ASSERT_GE(s.late, 50u);  // 10 minutes of 10 s reports

  const EngineRun with = RunEngine(s, true);
  const EngineRun without = RunEngine(s, false);
  EXPECT_FALSE(with.went_back);
  EXPECT_FALSE(without.went_back);
  EXPECT_EQ(with.stats.late_fixes, static_cast<int64_t>(s.late));
  EXPECT_EQ(with.stats.backfills, 1);

  // Every visit once (no interpolated copy next to the backfilled one).
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (const StopVisit& v : with.visits)
    EXPECT_TRUE(seen.insert({v.trip, v.stop_index}).second)
        << "stop index " << v.stop_index << " of trip " << v.trip << " emitted twice";

  int missing_with = 0, missing_without = 0;
  const double err_with = MeanError(s.truth, with.visits, &missing_with);
  const double err_without = MeanError(s.truth, without.visits, &missing_without);
  std::printf("bus %s, %zu true visits in the gap, %zu late fixes: mean |arrival error| %.1f s "
              "with backfill (%d missing), %.1f s interpolated (%d missing)\n",
              s.bus.c_str(), s.truth.size(), s.late, err_with, missing_with, err_without,
              missing_without);
  EXPECT_EQ(missing_with, 0);
  EXPECT_LT(err_with, 20.0);
  EXPECT_LT(err_with, err_without);
}

TEST(BackfillTest, OffByDefaultLateFixesAreRejected) {
  ASSERT_NE(DemoCity(), nullptr);
  Engine e(DemoCity());
  Fix a;
  a.vehicle_id = "b";
  a.timestamp_s = 1790000000;
  a.lat = DemoCity()->feed().stops[0].pos.lat;
  a.lon = DemoCity()->feed().stops[0].pos.lon;
  e.Process(a);
  Fix late = a;
  late.timestamp_s -= 60;
  e.Process(late);
  EXPECT_EQ(e.last_match().reason, RejectReason::kOutOfOrder);
  EXPECT_FALSE(e.last_fix_backfilled());
  EXPECT_EQ(e.backfill_stats(), nullptr);
}

}  // namespace
}  // namespace smartbus
