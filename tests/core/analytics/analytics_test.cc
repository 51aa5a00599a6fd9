// Operator analytics over hand-made stop visits where every figure is known in advance.
//
// The fake network: route "R" (and "Q"), stops S0..S4 placed 500 m apart along every trip
// (stop k at 500·k m), trips T0..T9 with 5 stops each.

#include "services/core/analytics/analytics.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "gtest/gtest.h"
#include "services/server/analytics_proto.h"

namespace smartbus {
namespace {

class FakeNetwork : public AnalyticsNetwork {
 public:
  std::string RouteId(uint32_t r) const override { return r == 0 ? "R" : "Q"; }
  std::string StopId(uint32_t s) const override { return "S" + std::to_string(s); }
  std::string TripId(TripIdx t) const override { return "T" + std::to_string(t); }
  uint32_t TripNumStops(TripIdx) const override { return 5; }
  double StopDistM(TripIdx, uint32_t k) const override { return 500.0 * k; }
};

constexpr int64_t kT0 = 1771257600;  // 2026-02-16 16:00:00 UTC

// A visit of trip `trip` (route 0) at its k-th stop (stop S<k>), `dev` seconds late at both
// arrival and departure.
StopVisit Visit(uint32_t trip, uint32_t k, int64_t sched, double arr, double dep = NAN,
                const std::string& vehicle = "") {
  StopVisit v;
  v.vehicle_id = vehicle.empty() ? "V" + std::to_string(trip) : vehicle;
  v.trip = TripIdx(trip);
  v.route = 0;
  v.stop = k;
  v.stop_index = k;
  v.stop_sequence = k + 1;
  v.service_date = 20260216;
  v.scheduled_arrival_s = kT0 + sched;
  v.scheduled_departure_s = kT0 + sched;
  v.arrival_s = kT0 + arr;
  v.departure_s = kT0 + (std::isnan(dep) ? arr : dep);
  return v;
}

std::shared_ptr<const AnalyticsNetwork> Net() { return std::make_shared<FakeNetwork>(); }

RouteStats OnlyRoute(const VisitAggregator& agg, RouteQuery q = {}) {
  std::vector<RouteStats> rs = agg.Routes(q);
  EXPECT_EQ(rs.size(), 1u);
  return rs.empty() ? RouteStats{} : rs[0];
}

// The route's figures as the server and `smartbus report` send them.
v1::RouteFigures Figures(const RouteStats& r) {
  v1::RouteFigures out;
  server::FillRoute(r, *Net(), &out);
  return out;
}

TEST(OnTime, ShareExcludesFirstStopAndUsesArrivalAtLastStop) {
  VisitAggregator agg(Net());
  // Trip T0, scheduled every 100 s.        deviation counted:
  agg.Add(Visit(0, 0, 0, 0, 900));          // first stop: 900 s late but not counted
  agg.Add(Visit(0, 1, 100, 100, 100));      // 0        on time
  agg.Add(Visit(0, 2, 200, 139, 139));      // -61      early
  agg.Add(Visit(0, 3, 300, 601, 601));      // +301     late
  agg.Add(Visit(0, 4, 400, 700, 2000));     // last stop: arrival +300 -> on time (edge)
  // Trip T1: the edges of the window are on time.
  agg.Add(Visit(1, 1, 1000, 940, 940));     // -60      on time (edge)
  agg.Add(Visit(1, 2, 1100, 1100, 1400));   // +300     on time (edge)
  agg.Add(Visit(1, 3, 1200, 1200, 1500.5)); // +300.5   late

  RouteStats r = OnlyRoute(agg);
  EXPECT_EQ(r.visits, 8);
  EXPECT_EQ(r.on_time.counted, 7);
  EXPECT_EQ(r.on_time.on_time, 4);
  EXPECT_EQ(r.on_time.early, 1);
  EXPECT_EQ(r.on_time.late, 2);
  EXPECT_NEAR(r.on_time.on_time_pct(), 400.0 / 7, 1e-9);
  EXPECT_NEAR(r.on_time.early_pct(), 100.0 / 7, 1e-9);
  EXPECT_NEAR(r.on_time.late_pct(), 200.0 / 7, 1e-9);
}

TEST(OnTime, WindowIsConfigurable) {
  AnalyticsOptions o;
  o.on_time_early_s = -30;
  o.on_time_late_s = 120;
  VisitAggregator agg(Net(), o);
  agg.Add(Visit(0, 1, 100, 60));   // -40 early
  agg.Add(Visit(0, 2, 200, 320));  // +120 on time
  agg.Add(Visit(0, 3, 300, 421));  // +121 late
  RouteStats r = OnlyRoute(agg);
  EXPECT_EQ(r.on_time.early, 1);
  EXPECT_EQ(r.on_time.on_time, 1);
  EXPECT_EQ(r.on_time.late, 1);
}

// Stop S1: scheduled every 600 s, observed gaps 300 and 900. Stop S2: one gap of 600 (on
// schedule). Pooled gaps {300, 900, 600}: mean 600, population sd sqrt(60000) -> CV 0.40825.
// Excess wait at S1: Σh²/(2Σh) = (90000+810000)/2400 = 375 minus scheduled 720000/2400 = 300
// -> 75 s; at S2: 0. Weighted by gaps (2 and 1): 50 s.
void AddHeadwayVisits(VisitAggregator& agg) {
  agg.Add(Visit(0, 1, 0, 0));
  agg.Add(Visit(1, 1, 600, 300));
  agg.Add(Visit(2, 1, 1200, 1200));
  agg.Add(Visit(0, 2, 100, 100));
  agg.Add(Visit(1, 2, 700, 700));
}

TEST(Headways, PooledCvAndExcessWait) {
  VisitAggregator agg(Net());
  AddHeadwayVisits(agg);
  RouteQuery q;
  q.stops = true;
  RouteStats r = OnlyRoute(agg, q);
  EXPECT_EQ(r.headways.gaps, 3);
  EXPECT_NEAR(r.headways.mean_s(), 600, 1e-9);
  EXPECT_NEAR(r.headways.cv(), std::sqrt(60000.0) / 600, 1e-12);  // 0.408248
  EXPECT_NEAR(r.excess_wait_s, 50, 1e-9);
  ASSERT_EQ(r.stops.size(), 2u);
  EXPECT_EQ(r.stops[0].stop, 1u);
  EXPECT_NEAR(r.stops[0].excess_wait_s, 75, 1e-9);
  EXPECT_NEAR(r.stops[0].headways.cv(), 0.5, 1e-12);  // gaps 300, 900
  EXPECT_NEAR(r.stops[1].excess_wait_s, 0, 1e-9);
  EXPECT_EQ(r.bunched_gaps, 0);
}

TEST(Headways, ScheduledHeadwaysAreThoseOfTheSameVisitsEvenWhenBusesOvertake) {
  VisitAggregator agg(Net());
  // Scheduled 0, 600, 1200; the third bus overtakes the second: observed 0, 500, 550.
  agg.Add(Visit(0, 1, 0, 0));
  agg.Add(Visit(1, 1, 600, 550));
  agg.Add(Visit(2, 1, 1200, 500));
  RouteStats r = OnlyRoute(agg);
  // Observed gaps 500, 50: W = (250000+2500)/1100 = 229.545...; scheduled gaps 600, 600: 300.
  EXPECT_NEAR(r.excess_wait_s, 252500.0 / 1100 - 300, 1e-9);
  // Gap 50 between the overtaking bus (sched 1200) and the overtaken (sched 600): 50 < 150.
  EXPECT_EQ(r.bunched_gaps, 1);
}

TEST(Bunching, LivePairWithinWindowOnly) {
  AnalyticsOptions o;
  o.live_window_s = 1800;
  VisitAggregator agg(Net(), o);
  agg.Add(Visit(0, 2, 1000, 1000, NAN, "BUS-A"));
  agg.Add(Visit(1, 2, 1600, 1100, NAN, "BUS-B"));  // 100 s behind, scheduled 600: bunched
  agg.Add(Visit(0, 3, 1100, 1150, NAN, "BUS-A"));
  agg.Add(Visit(1, 3, 1700, 1400, NAN, "BUS-B"));  // 250 s behind: not bunched (>= 150)

  // At S2 the pair is bunched; at S3 it is not; the live list shows one pair.
  std::vector<BunchedPair> p = agg.BunchedPairs(kT0 + 1200);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].leader_vehicle, "BUS-A");
  EXPECT_EQ(p[0].follower_vehicle, "BUS-B");
  EXPECT_EQ(p[0].stop, 2u);
  EXPECT_EQ(p[0].headway_s, 100);
  EXPECT_EQ(p[0].scheduled_headway_s, 600);
  // Long after: no longer live.
  EXPECT_TRUE(agg.BunchedPairs(kT0 + 1100 + 1801).empty());
  // Before the follower arrived: nothing.
  EXPECT_TRUE(agg.BunchedPairs(kT0 + 1050).empty());
  EXPECT_EQ(OnlyRoute(agg).bunched_gaps, 1);
}

TEST(Passengers, LoadTotalsFromCounts) {
  VisitAggregator agg(Net());
  int b[] = {5, 3, 0, 0}, a[] = {0, 1, 4, 3}, load[] = {5, 7, 3, 0};
  for (uint32_t k = 0; k < 4; ++k) {
    StopVisit v = Visit(0, k, 100 * k, 100 * k);
    v.boardings = b[k];
    v.alightings = a[k];
    v.load = load[k];
    agg.Add(v);
  }
  RouteQuery q;
  q.trips = true;
  RouteStats r = OnlyRoute(agg, q);
  EXPECT_EQ(r.passengers.boardings, 8);
  EXPECT_EQ(r.passengers.alightings, 8);
  EXPECT_EQ(r.passengers.max_load, 7);
  EXPECT_DOUBLE_EQ(r.passengers.mean_load(), 15.0 / 4);
  ASSERT_EQ(r.trip_list.size(), 1u);
  EXPECT_EQ(r.trip_list[0].passengers.boardings, 8);
  // Segment S0->S1 carries the load departing S0 (5), S1->S2 7, S2->S3 3.
  ASSERT_EQ(r.segments.size(), 3u);
  EXPECT_DOUBLE_EQ(r.segments[0].passengers.mean_load(), 5);
  EXPECT_DOUBLE_EQ(r.segments[1].passengers.mean_load(), 7);

  const v1::PassengerFigures p = Figures(r).passengers();
  EXPECT_EQ(p.boardings(), 8);
  EXPECT_EQ(p.max_load(), 7);
  EXPECT_EQ(p.passenger_data(), "counts");
}

TEST(Passengers, OccupancyOnlyOrNothingIsSaidNotInvented) {
  VisitAggregator occ(Net());
  StopVisit v = Visit(0, 1, 100, 100);
  v.occupancy = 1;
  occ.Add(v);
  v = Visit(0, 2, 200, 200);
  v.occupancy = 5;
  occ.Add(v);
  v1::PassengerFigures p = Figures(OnlyRoute(occ)).passengers();
  EXPECT_FALSE(p.has_boardings());
  EXPECT_FALSE(p.has_max_load());
  EXPECT_EQ(p.mean_occupancy(), 3.0);
  EXPECT_EQ(p.crowded_pct(), 50.0);
  EXPECT_EQ(p.passenger_data(), "occupancy_only");

  VisitAggregator none(Net());
  none.Add(Visit(0, 1, 100, 100));
  p = Figures(OnlyRoute(none)).passengers();
  EXPECT_FALSE(p.has_boardings());
  EXPECT_FALSE(p.has_mean_occupancy());
  EXPECT_EQ(p.passenger_data(), "none");
}

TEST(Segments, SpeedIsDistanceOverDepartureToNextArrival) {
  VisitAggregator agg(Net());
  // T0: departs S0 at 100, arrives S1 at 160: 500 m in 60 s = 30 km/h.
  agg.Add(Visit(0, 0, 0, 50, 100));
  agg.Add(Visit(0, 1, 100, 160, 170));
  // T1: 500 m in 90 s = 20 km/h. Space-mean: 1000 m / 150 s = 24 km/h.
  agg.Add(Visit(1, 1, 700, 790));
  agg.Add(Visit(1, 0, 600, 600, 700));  // out of order: still paired
  RouteStats r = OnlyRoute(agg);
  ASSERT_EQ(r.segments.size(), 1u);
  const SegmentStats& s = r.segments[0];
  EXPECT_EQ(s.from_stop, 0u);
  EXPECT_EQ(s.to_stop, 1u);
  EXPECT_EQ(s.traversals, 2);
  EXPECT_NEAR(s.mean_speed_kmh, 24.0, 1e-9);
  EXPECT_NEAR(s.mean_time_s, 75, 1e-9);
  EXPECT_NEAR(s.mean_scheduled_time_s, 100, 1e-9);
  const v1::RouteFigures f = Figures(r);
  EXPECT_EQ(f.segments(0).from_stop_id(), "S0");
  EXPECT_EQ(f.segments(0).to_stop_id(), "S1");
  EXPECT_EQ(f.segments(0).traversals(), 2);
}

TEST(Segments, SkippedStopGivesNoTraversal) {
  VisitAggregator agg(Net());
  agg.Add(Visit(0, 0, 0, 0));
  agg.Add(Visit(0, 2, 200, 200));  // S1 never observed
  EXPECT_TRUE(OnlyRoute(agg).segments.empty());
}

TEST(Segments, WindowCountsTraversalsWithBothVisitsInside) {
  VisitAggregator agg(Net());
  agg.Add(Visit(0, 0, 0, 0, 100));      // leaves S0 at 100
  agg.Add(Visit(0, 1, 100, 160));       // at S1 at 160: 30 km/h
  agg.Add(Visit(1, 0, 600, 600, 700));
  agg.Add(Visit(1, 1, 700, 790));       // 20 km/h
  RouteQuery q;
  q.window.from_s = kT0 + 50;           // T0's visit at S0 (arrival 0) is outside
  RouteStats r = OnlyRoute(agg, q);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].traversals, 1);
  EXPECT_NEAR(r.segments[0].mean_speed_kmh, 20, 1e-9);
  q.window.from_s = kT0;
  q.window.to_s = kT0 + 790;            // T1's arrival at S1 (790) is outside
  r = OnlyRoute(agg, q);
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].traversals, 1);
  EXPECT_NEAR(r.segments[0].mean_speed_kmh, 30, 1e-9);
}

TEST(RunTime, ActualVersusScheduledPerTrip) {
  VisitAggregator agg(Net());
  for (uint32_t k = 0; k < 5; ++k) agg.Add(Visit(0, k, 100 * k, 130 * k, 130 * k + 10));
  RouteQuery q;
  q.trips = true;
  RouteStats r = OnlyRoute(agg, q);
  ASSERT_EQ(r.trip_list.size(), 1u);
  EXPECT_DOUBLE_EQ(r.trip_list[0].actual_run_s, 520 - 10);   // arrive S4 520, left S0 at 10
  EXPECT_DOUBLE_EQ(r.trip_list[0].scheduled_run_s, 400);
  EXPECT_DOUBLE_EQ(r.trip_list[0].end_delay_s, 120);
  std::vector<VehicleDriving> d = agg.Driving({});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].vehicle_id, "V0");
  EXPECT_DOUBLE_EQ(d[0].driving_s, 510);
}

TEST(Window, FiltersByObservedArrival) {
  VisitAggregator agg(Net());
  AddHeadwayVisits(agg);  // S1 arrivals 0, 300, 1200; S2 100, 700
  RouteQuery q;
  q.window.from_s = kT0 + 250;
  q.window.to_s = kT0 + 1200;  // excludes 1200
  RouteStats r = OnlyRoute(agg, q);
  EXPECT_EQ(r.visits, 2);       // 300 at S1, 700 at S2
  EXPECT_EQ(r.headways.gaps, 0);
  EXPECT_TRUE(std::isnan(r.headways.cv()));
  q.window.to_s = kT0 + 1201;
  EXPECT_EQ(OnlyRoute(agg, q).headways.gaps, 1);
}

TEST(Aggregator, OrderOfVisitsDoesNotChangeAnyFigure) {
  std::vector<StopVisit> visits;
  for (uint32_t t = 0; t < 10; ++t) {
    for (uint32_t k = 0; k < 5; ++k) {
      double jitter = static_cast<double>((t * 37 + k * 11) % 200) - 60;
      StopVisit v = Visit(t, k, 600 * t + 120 * k, 600 * t + 120 * k + jitter,
                          600 * t + 120 * k + jitter + 15);
      v.occupancy = (t + k) % 4;
      visits.push_back(v);
    }
  }
  VisitAggregator in_order(Net());
  for (const StopVisit& v : visits) in_order.Add(v);
  std::mt19937 rng(7);
  std::shuffle(visits.begin(), visits.end(), rng);
  VisitAggregator shuffled(Net());
  for (const StopVisit& v : visits) shuffled.Add(v);
  for (const StopVisit& v : visits) EXPECT_FALSE(shuffled.Add(v)) << "duplicates are ignored";
  RouteQuery q;
  q.stops = q.trips = true;
  auto figures = [&](const VisitAggregator& agg) {
    v1::GetRouteAnalyticsResponse out;
    for (const RouteStats& r : agg.Routes(q)) server::FillRoute(r, *Net(), out.add_routes());
    return out.DebugString();
  };
  EXPECT_EQ(figures(in_order), figures(shuffled));
  EXPECT_EQ(shuffled.visits(), 50);
}

TEST(Congestion, SpeedNowVersusUsualForTheTimeOfDay) {
  VisitAggregator agg(Net());
  const int64_t day = 86400;
  // Three earlier days at the same time of day: 500 m in 60 s (30 km/h).
  for (uint32_t d = 1; d <= 3; ++d) {
    StopVisit a = Visit(d, 0, -day * d, -day * d, -day * d);
    StopVisit b = Visit(d, 1, -day * d + 60, -day * d + 60);
    a.service_date = b.service_date = 20260216 - d;
    agg.Add(a);
    agg.Add(b);
  }
  // Now: 500 m in 120 s (15 km/h).
  agg.Add(Visit(0, 0, 0, 0, 0));
  agg.Add(Visit(0, 1, 60, 120));
  std::vector<SegmentCongestion> c = agg.Congestion(kT0 + 300, 10);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].now_traversals, 1);
  EXPECT_NEAR(c[0].now_speed_kmh, 15, 1e-9);
  EXPECT_EQ(c[0].usual_traversals, 3);
  EXPECT_NEAR(c[0].usual_speed_kmh, 30, 1e-9);
  EXPECT_NEAR(c[0].ratio, 0.5, 1e-9);

  std::vector<UsualJam> j = agg.UsualJams(10);
  ASSERT_EQ(j.size(), 1u);  // one bin with >= 3 traversals (4: 3 x 30 km/h + 1 x 15 km/h)
  EXPECT_EQ(j[0].bin_start_s, 16 * 3600);
  EXPECT_NEAR(j[0].speed_kmh, 2000.0 / 300 * 3.6, 1e-9);
}

TEST(Fleet, StaleSilentAndOffRoute) {
  std::vector<VehicleState> s(3);
  s[0].vehicle_id = "A";
  s[0].timestamp_s = 1000;
  s[0].state = MatchState::kInService;
  s[1].vehicle_id = "B";
  s[1].timestamp_s = 1000 - 200;
  s[1].state = MatchState::kOffRoute;
  s[2].vehicle_id = "C";
  s[2].timestamp_s = 1000 - 900;
  FleetCondition f = BuildFleetCondition(s, 1030, FleetOptions{}, {{"A", 2, 3600, 3500, 1000}});
  EXPECT_EQ(f.ok, 1);
  EXPECT_EQ(f.stale, 1);
  EXPECT_EQ(f.silent, 1);
  EXPECT_EQ(f.off_route, 1);
  ASSERT_EQ(f.vehicles.size(), 3u);
  EXPECT_EQ(f.vehicles[0].vehicle_id, "C");  // stalest first
  EXPECT_EQ(f.vehicles[0].last_report_age_s, 930);
  EXPECT_EQ(f.vehicles[0].condition, VehicleCondition::kSilent);
  EXPECT_TRUE(f.vehicles[1].off_route);
  EXPECT_EQ(f.vehicles[2].driving_s, 3600);
}

TEST(Retention, PruneDropsOldVisits) {
  VisitAggregator agg(Net());
  AddHeadwayVisits(agg);
  agg.Prune(kT0 + 250);
  EXPECT_EQ(agg.visits(), 3);
  EXPECT_EQ(OnlyRoute(agg).visits, 3);
}

TEST(Rankings, BusiestByBoardingsElseVisitsAndCrowdedByLoadElseOccupancy) {
  std::vector<RouteStats> routes(3);
  for (uint32_t i = 0; i < 3; ++i) routes[i].route = i;
  routes[0].visits = 30;
  routes[1].visits = 10;
  routes[2].visits = 20;
  RouteRanking k = RankRoutes(routes);
  EXPECT_FALSE(k.busiest_by_boardings);
  EXPECT_EQ(k.busiest, (std::vector<size_t>{0, 2, 1}));
  EXPECT_EQ(k.crowding_by, RouteRanking::CrowdingBy::kNone);
  EXPECT_TRUE(k.most_crowded.empty());

  routes[1].passengers.Add(/*boardings=*/40, /*alightings=*/0, /*load=*/2, /*occupancy=*/-1);
  routes[2].passengers.Add(5, 0, 9, -1);
  routes[2].segments.resize(1);
  routes[2].segments[0].from_stop = 3;
  routes[2].segments[0].passengers.Add(-1, -1, 12, -1);
  k = RankRoutes(routes);
  EXPECT_TRUE(k.busiest_by_boardings);
  EXPECT_EQ(k.busiest, (std::vector<size_t>{1, 2, 0}));
  EXPECT_EQ(k.crowding_by, RouteRanking::CrowdingBy::kMeanLoad);
  EXPECT_EQ(k.most_crowded, (std::vector<size_t>{2, 1}));  // route 0 has no load: left out
  ASSERT_EQ(k.most_crowded_segments.size(), 1u);
  EXPECT_EQ(k.most_crowded_segments[0], (std::pair<size_t, size_t>{2, 0}));

  v1::RouteRankings p;
  server::FillRankings(k, routes, *Net(), &p);
  ASSERT_EQ(p.busiest_route_ids_size(), 3);
  EXPECT_EQ(p.busiest_route_ids(2), "R");  // FakeNetwork names route 0 "R", the others "Q"
  EXPECT_EQ(p.busiest_by(), "boardings");
  EXPECT_EQ(p.crowding_by(), "mean_load");
  EXPECT_EQ(p.most_crowded_segments(0).from_stop_id(), "S3");
}

}  // namespace
}  // namespace smartbus
