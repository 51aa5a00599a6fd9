// Route advice on simulated demo-city days: with congestion added on one segment in the
// morning (SimOptions::congestion), the advice finds that segment (its recommended running time
// exceeds the schedule the most); without it, it does not. Plus the figures behind the advice:
// percentiles, timepoint pairs, recovery, headways, late starts, stop spacing and use.

#include <string>

#include "gtest/gtest.h"
#include "services/core/planner/advice.h"
#include "services/core/sim/simulator.h"
#include "services/files/feed_files.h"

namespace smartbus::planner {
namespace {

std::shared_ptr<const Network> DemoCity() {
  static auto net = [] {
    auto feed = LoadGtfs({std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"});
    return feed.ok() ? *Network::Build(*std::move(feed)) : nullptr;
  }();
  return net;
}

// Visits of the weekdays 2026-11-23..25, 05:30-10:30, with optional congestion.
std::vector<StopVisit> SimulateDays(const std::vector<SimOptions::Congestion>& congestion) {
  std::vector<StopVisit> visits;
  for (int32_t date : {20261123, 20261124, 20261125}) {
    SimOptions o;
    o.service_date = date;
    o.seed = static_cast<uint64_t>(date);
    o.congestion = congestion;
    auto sim = FleetSimulator::Create(DemoCity(), o);
    EXPECT_TRUE(sim.ok()) << sim.status();
    const absl::Time day = DemoCity()->ServiceDayStart(date);
    (*sim)->AdvanceTo(day + absl::Hours(10) + absl::Minutes(30), nullptr, &visits);
  }
  return visits;
}

// Route 1's segment between its 4th and 5th stop (direction 0), on 6th Ave.
std::pair<uint32_t, uint32_t> CongestedSegment() {
  const Network& net = *DemoCity();
  for (uint32_t p : net.route_patterns(*net.FindRoute("1"))) {
    const Pattern& pat = net.pattern(p);
    if (pat.direction_id == 0) return {pat.stops[3], pat.stops[4]};
  }
  return {kNoIndex, kNoIndex};
}

TEST(RouteAdvice, FindsTheSegmentWithAddedCongestion) {
  ASSERT_NE(DemoCity(), nullptr);
  const Network& net = *DemoCity();
  const auto [from, to] = CongestedSegment();
  ASSERT_NE(from, kNoIndex);
  SimOptions::Congestion jam{net.feed().stops[from].id, net.feed().stops[to].id, 6 * 3600,
                             10 * 3600, 0.3};
  AdviceOptions opt;
  opt.time_zone = net.time_zone();
  const AdviceReport with = BuildAdvice(net, SimulateDays({jam}), opt);
  const AdviceReport without = BuildAdvice(net, SimulateDays({}), opt);
  EXPECT_EQ(with.days, 3);

  const auto worst = WorstSegments(with, 3);
  ASSERT_FALSE(worst.empty());
  EXPECT_EQ(worst[0].segment->from_stop, from) << net.feed().stops[worst[0].segment->from_stop].id;
  EXPECT_EQ(worst[0].segment->to_stop, to);
  EXPECT_EQ(worst[0].band->band, "am_peak");
  EXPECT_GE(worst[0].band->samples, opt.min_samples);
  EXPECT_GT(worst[0].band->change_s, 60) << "a 70 % slower segment needs more time";
  EXPECT_LE(worst[0].band->p50_s, worst[0].band->p85_s);
  EXPECT_LE(worst[0].band->p85_s, worst[0].band->p95_s);
  EXPECT_DOUBLE_EQ(worst[0].band->recommended_s, worst[0].band->p85_s);

  for (const SegmentExcess& w : WorstSegments(without, 3))
    EXPECT_FALSE(w.segment->from_stop == from && w.segment->to_stop == to)
        << "without the added congestion the segment is not among the worst";

  // The rest of the advice is there, with its figures.
  const RouteAdvice* r1 = nullptr;
  for (const RouteAdvice& r : with.routes)
    if (net.feed().routes[r.route].id == "1") r1 = &r;
  ASSERT_NE(r1, nullptr);
  EXPECT_FALSE(r1->timepoint_pairs.empty());
  EXPECT_FALSE(r1->trips.empty());
  bool recovery = false;
  for (const TripTimeAdvice& t : r1->trips) recovery |= std::isfinite(t.recovery_s) && t.recovery_s >= 0;
  EXPECT_TRUE(recovery);
  ASSERT_EQ(r1->headways.size(), 2u);
  EXPECT_GT(r1->headways[0].stops.size(), 5u);
  EXPECT_GT(r1->trips_observed, 10);
  EXPECT_EQ(r1->late_pullouts + r1->late_after_previous_trip + r1->late_departures +
                r1->late_unexplained,
            static_cast<int64_t>(r1->late_starts.size()));
  EXPECT_EQ(r1->late_unexplained, 0) << "every trip of the simulated morning is observed";
  ASSERT_FALSE(r1->spacing.empty());
  EXPECT_GT(r1->spacing[0].mean_m, 100);
  EXPECT_TRUE(r1->passenger_data);
}

// Consolidation candidates: low-use stops (here: every stop, the threshold set above any use)
// within the distance of a neighbour (demo-city stops are about 500 m apart); none when no
// neighbour is that close.
TEST(RouteAdvice, ConsolidationCandidatesAreLowUseStopsNearANeighbour) {
  const Network& net = *DemoCity();
  const std::vector<StopVisit> visits = SimulateDays({});
  AdviceOptions opt;
  opt.time_zone = net.time_zone();
  opt.low_use_per_day = 1e9;
  opt.consolidation_gap_m = 1000;
  int candidates = 0;
  for (const RouteAdvice& r : BuildAdvice(net, visits, opt).routes) {
    for (const StopUse& u : r.consolidation) {
      EXPECT_LE(u.neighbour_m, 1000);
      EXPECT_GT(u.ons_offs_per_day, 0);
      ++candidates;
    }
  }
  EXPECT_GT(candidates, 5);
  opt.consolidation_gap_m = 1;
  for (const RouteAdvice& r : BuildAdvice(net, visits, opt).routes)
    EXPECT_TRUE(r.consolidation.empty()) << "no two stops of a route 1 m apart";
  opt.consolidation_gap_m = 1000;
  opt.low_use_per_day = 0;
  for (const RouteAdvice& r : BuildAdvice(net, visits, opt).routes)
    EXPECT_TRUE(r.consolidation.empty()) << "no stop has fewer than 0 riders";
}

}  // namespace
}  // namespace smartbus::planner
