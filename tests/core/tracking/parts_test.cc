// The tracker's parts, each alone: the fix filter (no network), the shape matcher (a polyline
// and fixes, no schedule), the visit detector (a trip's schedule and progress, no matcher) and
// trip inference (candidates, joint assignment, claims; no HMM).

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/core/tracking/fix_filter.h"
#include "services/core/tracking/shape_matcher.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/tracker.h"
#include "services/core/tracking/trip_inference.h"
#include "services/core/tracking/visit_detector.h"
#include "tests/core/tracking/tracking_fixture.h"

namespace smartbus {
namespace {

using testing::At;
using testing::MakeOutAndBack;
using testing::OutAndBack;
using testing::Plane;

Fix FixAt(int64_t t, double x, double y, const std::string& vehicle = "v") {
  LatLon ll = At(x, y);
  Fix f;
  f.vehicle_id = vehicle;
  f.timestamp_s = t;
  f.lat = ll.lat;
  f.lon = ll.lon;
  return f;
}

// ---- Fix filter --------------------------------------------------------------------------

TEST(FixFilter, ScreensFixesThatNeedNoHistory) {
  RejectionOptions o;
  FixFilter filter(o);
  Fix f = FixAt(1000, 0, 0);
  EXPECT_EQ(filter.Screen(f, 1000), RejectReason::kNone);
  EXPECT_EQ(filter.Screen(f, 1000 - o.future_tolerance_s - 1), RejectReason::kFutureTimestamp);
  f.lat = NAN;
  EXPECT_EQ(filter.Screen(f, 1000), RejectReason::kInvalidCoordinates);
  f.vehicle_id.clear();
  EXPECT_EQ(filter.Screen(f, 1000), RejectReason::kInvalidVehicleId);
}

TEST(FixFilter, DuplicatesLateFixesAndJumpsLeaveTheHistoryAlone) {
  RejectionOptions o;
  FixFilter filter(o);
  FixHistory h;
  Admission a = filter.Admit(h, FixAt(1000, 0, 0), {0, 0});
  EXPECT_EQ(a.reason, RejectReason::kNone);
  EXPECT_TRUE(a.first);
  a = filter.Admit(h, FixAt(1010, 50, 0), {50, 0});
  EXPECT_EQ(a.reason, RejectReason::kNone);
  EXPECT_FALSE(a.first);
  EXPECT_DOUBLE_EQ(a.g, 50);
  EXPECT_EQ(filter.Admit(h, FixAt(1010, 60, 0), {60, 0}).reason, RejectReason::kDuplicate);
  EXPECT_EQ(filter.Admit(h, FixAt(1005, 60, 0), {60, 0}).reason, RejectReason::kOutOfOrder);
  // 20 km in 10 s: implausible (60 m/s * 10 s + 1000 m).
  EXPECT_EQ(filter.Admit(h, FixAt(1020, 20000, 0), {20000, 0}).reason,
            RejectReason::kImplausibleJump);
  EXPECT_EQ(h.xy.x, 50);  // the accepted position stays
  EXPECT_EQ(h.pos_ts, 1010);
}

TEST(FixFilter, AgreeingJumpsReanchorTheVehicle) {
  RejectionOptions o;
  FixFilter filter(o);
  FixHistory h;
  filter.Admit(h, FixAt(1000, 0, 0), {0, 0});
  for (int i = 1; i < o.jump_reanchor_fixes; ++i)
    EXPECT_EQ(filter.Admit(h, FixAt(1000 + 10 * i, 20000, 0), {20000, 0}).reason,
              RejectReason::kImplausibleJump);
  Admission a = filter.Admit(h, FixAt(1000 + 10 * o.jump_reanchor_fixes, 20000, 0), {20000, 0});
  EXPECT_EQ(a.reason, RejectReason::kNone);
  EXPECT_TRUE(a.reanchor);
  EXPECT_EQ(h.xy.x, 20000);
}

// ---- Shape matcher (no schedule) -------------------------------------------------------------

// A 2 km street running east, then north.
Polyline LShape() { return Polyline({At(0, 0), At(1000, 0), At(1000, 1000)}, Plane()); }

struct MatcherRun {
  MatchingOptions opt;
  ShapeMatcher matcher{opt};
  MatcherState s;
  MatchContext ctx;
  double last_x = 0, last_y = 0;
  Vec2 last_p;
  bool any = false;

  // speed_mps: the fix's reported speed (NaN: none).
  MatchOutcome Feed(const Polyline& poly, int64_t t, double x, double y, double speed_mps = NAN) {
    Fix f = FixAt(t, x, y);
    f.speed_mps = static_cast<float>(speed_mps);
    Vec2 p = Plane().Forward({f.lat, f.lon});
    double g = any ? std::hypot(x - last_x, y - last_y) : 0;
    FixObservation obs = matcher.Observe(f, p);
    if (any) obs.move = p - last_p;  // as the tracker does (Admission::move)
    last_x = x;
    last_y = y;
    last_p = p;
    any = true;
    return matcher.Match(s, poly, ctx, obs, g, [] { return 0.0; });
  }
};

// A fix without an accuracy takes the feed's learned GPS noise once the model has enough
// offsets (never below min_sigma_m), gps_sigma_m before; a reported accuracy is kept.
TEST(ShapeMatcher, AFixWithoutAccuracyTakesTheLearnedNoise) {
  MatchingOptions opt;
  GpsNoiseModel noise;
  ShapeMatcher m(opt, &noise);
  Fix f = FixAt(0, 0, 0);
  const Vec2 p = Plane().Forward({f.lat, f.lon});
  EXPECT_EQ(m.Observe(f, p).sigma, opt.gps_sigma_m);
  for (int i = 0; i < GpsNoiseModel::kMinFixes; ++i) noise.Add(10.0);
  EXPECT_NEAR(m.Observe(f, p).sigma, 1.4826 * 10, 0.5);
  EXPECT_TRUE(m.Observe(f, p).sigma_learned);
  GpsNoiseModel snapped;  // positions snapped to the shape: the floor
  for (int i = 0; i < GpsNoiseModel::kMinFixes; ++i) snapped.Add(0.1);
  EXPECT_EQ(ShapeMatcher(opt, &snapped).Observe(f, p).sigma, opt.min_sigma_m);
  f.accuracy_m = 20;
  EXPECT_EQ(m.Observe(f, p).sigma, 20);
  EXPECT_FALSE(m.Observe(f, p).sigma_learned);
}

TEST(ShapeMatcher, FollowsABusAlongTheShapeWithNoise) {
  Polyline poly = LShape();
  MatcherRun r;
  r.ctx.started = true;
  double worst = 0;
  for (int i = 0; i <= 18; ++i) {
    double d = 100.0 * i;
    Vec2 q = poly.PointAt(d);
    double noise = (i % 2 ? 6.0 : -6.0);  // alternate sides of the street
    MatchOutcome m = r.Feed(poly, 1000 + 10 * i, q.x + (d > 1000 ? noise : 0),
                            q.y + (d <= 1000 ? noise : 0));
    EXPECT_TRUE(m.on_route) << i;
    worst = std::max(worst, std::fabs(m.d - d));
  }
  EXPECT_LT(worst, 10.0);
  EXPECT_EQ(r.s.off_count, 0);
}

TEST(ShapeMatcher, ALoneOutlierDoesNotDragTheBus) {
  Polyline poly = LShape();
  MatcherRun r;
  r.ctx.started = true;
  for (int i = 0; i < 5; ++i) r.Feed(poly, 1000 + 10 * i, 100.0 * i, 0);
  MatchOutcome out = r.Feed(poly, 1050, 500, 150);  // 150 m off the street
  EXPECT_FALSE(out.on_route);
  EXPECT_EQ(r.s.off_count, 1);
  MatchOutcome back = r.Feed(poly, 1060, 600, 0);
  EXPECT_TRUE(back.on_route);
  EXPECT_NEAR(back.d, 600, 10);
}

TEST(ShapeMatcher, FindsTheBusAgainAfterItLeftTheReachableWindow) {
  Polyline poly = LShape();
  MatcherRun r;
  r.ctx.started = true;
  for (int i = 0; i < 3; ++i) r.Feed(poly, 1000 + 10 * i, 100.0 * i, 0);
  // Off the shape for two fixes (a detour), then back on it far ahead (1.5 km in 30 s is
  // beyond the reachable window): the whole shape is scanned again.
  r.Feed(poly, 1030, 250, 300);
  r.Feed(poly, 1040, 300, 300);
  EXPECT_GE(r.s.off_count, r.opt.off_route_fixes);
  r.ctx.progress_d = 200;
  MatchOutcome m = r.Feed(poly, 1050, 1000, 700);
  EXPECT_TRUE(m.on_route);
  EXPECT_NEAR(m.d, 1700, 10);
  EXPECT_EQ(r.s.off_count, 0);
}

// A path without a shape (straight lines between stops 2 km apart) while the road bends: the
// bus, up to 300 m away from the line at the bend, is never off route once the path carries its
// slack (Polyline::SetSegmentSlack, what Network gives such paths), and its distance along the
// line still grows; without the slack the same fixes are off route.
TEST(ShapeMatcher, ABusOnARoadBendingAwayFromAShapelessPathStaysOnRoute) {
  auto run = [](bool slack) {
    Polyline line({At(0, 0), At(2000, 0)}, Plane());
    if (slack) line.SetSegmentSlack({0.2f * 2000});
    MatcherRun r;
    r.ctx.started = true;
    int off = 0;
    double last_d = -1;
    for (int i = 0; i <= 20; ++i) {
      double x = 100.0 * i;
      double y = 300.0 * (1 - std::fabs(x - 1000) / 1000);  // a road up to 300 m north
      MatchOutcome m = r.Feed(line, 1000 + 15 * i, x, y);
      off += !m.on_route;
      if (m.on_route) {
        EXPECT_GE(m.d, last_d - r.opt.back_tolerance_m) << i;
        last_d = m.d;
      }
    }
    return off;
  };
  EXPECT_GT(run(false), 5);
  EXPECT_EQ(run(true), 0);
}

// The same kind of path with the road bending far from the line after running along it (700 m
// away on a 4 km line between two stops, within the 20 % slack): the place on the line is where
// the fix projects on it. Before, a hypothesis carried on at the bus's speed cost nothing
// anywhere within the slack and the transition expected the line to grow by the straight
// distance between fixes (the road's), so the bus ran ahead of its fixes along the line (here by
// 412 m; on the NYC Staten Island set, 95th percentile 448 m ahead) and went back when the fixes
// caught up: its predictions dropped, then rose again.
TEST(ShapeMatcher, OnAShapelessPathTheBusIsWhereItsFixProjects) {
  Polyline line({At(0, 0), At(4000, 0)}, Plane());
  line.SetSegmentSlack({0.2f * 4000});
  // The road: along the line for 1 km, up at 60 degrees to 700 m away from it, parallel, and
  // back down at 60 degrees; the bus drives it at 13.4 m/s, a fix every 20 s.
  const std::vector<Vec2> road = {{0, 0}, {1000, 0}, {1404, 700}, {2596, 700}, {3000, 0},
                                  {4000, 0}};
  auto on_road = [&](double s) {
    for (size_t k = 0; k + 1 < road.size(); ++k) {
      const double len = Dist(road[k], road[k + 1]);
      if (s <= len) return road[k] + (road[k + 1] - road[k]) * (s / len);
      s -= len;
    }
    return road.back();
  };
  MatcherRun r;
  r.ctx.started = true;
  double worst = 0;
  for (int i = 0; i * 268.0 <= 4600; ++i) {
    const Vec2 q = on_road(268.0 * i);
    MatchOutcome m = r.Feed(line, 1000 + 20 * i, q.x, q.y, 13.4);
    EXPECT_TRUE(m.on_route) << i;
    worst = std::max(worst, std::fabs(m.d - q.x));
  }
  EXPECT_LT(worst, 40);
}

// The slack is how far the road may lie across a line drawn without a shape, not a place along
// it: a fix 300 m across the line is within it, the same fix seen from a place 300 m behind
// its projection is 300 m away.
TEST(ShapeMatcher, TheSlackCoversTheRoadAcrossTheLineNotAPlaceAlongIt) {
  Polyline line({At(0, 0), At(2000, 0), At(2000, 2000)}, Plane());
  line.SetSegmentSlack({400, 400});
  const Vec2 fix = Plane().Forward(At(1000, 300));
  EXPECT_NEAR(ShapeMatcher::ExcessAt(line, 0, 1000, fix), 0, 1);
  EXPECT_NEAR(ShapeMatcher::ExcessAt(line, 0, 700, fix), 300, 1);
  EXPECT_NEAR(ShapeMatcher::ExcessAt(line, 0, 1000, Plane().Forward(At(1000, 500))), 100, 1);
  // At the corner the place belongs to both lines: a fix beyond the first one's end, across the
  // second one, is within the slack.
  EXPECT_NEAR(ShapeMatcher::ExcessAt(line, 0, 2000, Plane().Forward(At(2300, 0))), 0, 1);
  // A road leaving a stop away from the next (long) line is within that line's slack while the
  // bus is nearer its start than the slack: the bus is at the stop.
  Polyline express({At(0, 0), At(2000, 0), At(2000, 20000)}, Plane());
  express.SetSegmentSlack({400, 4000});
  EXPECT_NEAR(ShapeMatcher::ExcessAt(express, 1, 2000, Plane().Forward(At(1000, -1000))), 0, 1);
  Polyline traced({At(0, 0), At(2000, 0)}, Plane());
  EXPECT_NEAR(ShapeMatcher::ExcessAt(traced, 0, 1000, fix), 300, 1);
}

// A bus first seen on a motorway (17 m/s, a fix every 2 minutes): a fresh start takes its speed
// from the fix. Before, a fresh hypothesis had speed 0, the next fix 2 km ahead was beyond the
// window a standing bus can reach in 2 minutes, and the bus was held at its first place (its
// predictions then dropped by the 2 minutes it "stood" when the third fix placed it again).
TEST(ShapeMatcher, AFreshStartTakesTheBusSpeedFromTheFix) {
  Polyline road({At(0, 0), At(10000, 0)}, Plane());
  MatcherRun r;
  r.ctx.started = true;
  r.Feed(road, 1000, 1000, 0, 17);
  MatchOutcome m = r.Feed(road, 1120, 1000 + 17 * 120, 0, 17);
  EXPECT_TRUE(m.on_route);
  EXPECT_NEAR(m.d, 1000 + 17 * 120, 10);
}

TEST(ShapeMatcher, ReportedBearingAgainstTheShapeCostsMore) {
  MatchingOptions o;
  ShapeMatcher m(o);
  Polyline poly = LShape();
  Fix f = FixAt(1000, 500, 0);
  f.speed_mps = 10;
  f.bearing_deg = 90;  // east, along the first leg
  FixObservation east = m.Observe(f, {500, 0});
  f.bearing_deg = 270;
  FixObservation west = m.Observe(f, {500, 0});
  EXPECT_NEAR(m.HeadingCost(poly, 0, east), 0, 1e-9);
  EXPECT_NEAR(m.HeadingCost(poly, 0, west), 4 * o.heading_weight, 1e-9);
  f.speed_mps = 1;  // too slow for the bearing to count
  EXPECT_EQ(m.HeadingCost(poly, 0, m.Observe(f, {500, 0})), 0);
}

// ---- Visit detector (schedule, no matcher) --------------------------------------------------

struct VisitWorld {
  OutAndBack w = MakeOutAndBack();
  TrackerOptions opt;
  TrackerStats stats;
  VisitDetector det{*w.net, opt, &stats};
  Track v;
  int64_t dep = 0;

  VisitWorld() {
    TripIdx trip = *w.net->FindTrip("RT");
    v.run.trip = trip;
    v.run.pattern = w.net->trip_pattern(trip);
    v.run.poly = &w.net->trip_polyline(trip);
    v.run.service_date = w.date;
    v.run.day_start_s = w.day_start_s;
    v.run.source = TripSource::kGiven;
    v.vs.vehicle_id = "v";
    dep = w.day_start_s + OutAndBack::kOutStart;
  }
  const std::vector<double>& stop_d() const { return w.net->pattern(v.run.pattern).stop_dist_m; }
  std::vector<StopVisit> Go(double t, double d) {
    std::vector<StopVisit> out;
    Fix f = FixAt(static_cast<int64_t>(t), 0, 0);
    StartGate g = det.Progress(v, t, d, f, &out);
    if (g.start) det.StartTrip(v, f, &out);
    return out;
  }
};

TEST(VisitDetector, StartsWhenTheBusLeavesTheFirstStopAndInterpolatesCrossings) {
  VisitWorld s;
  const std::vector<double>& sd = s.stop_d();
  EXPECT_TRUE(s.Go(s.dep - 300, sd[0]).empty());  // waiting at the first stop
  EXPECT_FALSE(s.v.run.started());
  // Leaves on time at 10 m/s: 450 m past the first stop after 45 s (start gate: 400 m).
  std::vector<StopVisit> out;
  for (int i = 1; i <= 9; ++i) {
    auto o = s.Go(s.dep + 5.0 * i, sd[0] + 50.0 * i);
    out.insert(out.end(), o.begin(), o.end());
  }
  EXPECT_TRUE(s.v.run.started());
  ASSERT_EQ(out.size(), 2u);  // the first stop (waited at) and the one at 400 m
  EXPECT_EQ(out[0].stop_index, 0u);
  EXPECT_EQ(out[0].arrival_s, s.dep - 300);
  EXPECT_EQ(out[1].stop_index, 1u);
  EXPECT_NEAR(out[1].arrival_s, s.dep + (sd[1] - sd[0]) / 10.0, 1e-6);
  EXPECT_EQ(s.stats.trips_started, 1);
}

TEST(VisitDetector, SparseProgressGivesEveryStopPassedAVisit) {
  VisitWorld s;
  const std::vector<double>& sd = s.stop_d();
  s.Go(s.dep, sd[0] + 1500);  // joined mid-route: started, stops behind not visited
  ASSERT_TRUE(s.v.run.started());
  auto out = s.Go(s.dep + 100, sd[0] + 2500);  // 1 km in 100 s, past several stops
  ASSERT_GE(out.size(), 2u);
  for (const StopVisit& sv : out) {
    double x = sd[sv.stop_index];
    EXPECT_NEAR(sv.arrival_s, s.dep + (x - sd[0] - 1500) / 10.0, 1e-6);
    EXPECT_LE(sv.arrival_s, sv.departure_s);
  }
  EXPECT_EQ(s.v.vs.next_stop_index, s.v.visit.next_stop);
}

// Counts are "since the previous fix", made at the stop just served: never copied onto the
// other visits a fix completes.
TEST(VisitDetector, CountsGoToTheStopWhereTheyWereMadeNeverToInterpolatedVisits) {
  VisitWorld s;
  const std::vector<double>& sd = s.stop_d();
  s.Go(s.dep, sd[0] + 1500);  // joined mid-route
  ASSERT_TRUE(s.v.run.started());
  auto feed = [&](double t, double d, int board, int alight, int load) {
    std::vector<StopVisit> out;
    Fix f = FixAt(static_cast<int64_t>(t), 0, 0);
    f.boardings = board;
    f.alightings = alight;
    f.load = load;
    const size_t first = out.size();
    s.det.Progress(s.v, t, d, f, &out);
    s.det.AttributeRiders(s.v, f, &out, first);
    return out;
  };
  // At the next stop (arrived, not left): its counts wait for its visit.
  const uint32_t k = s.v.visit.next_stop;
  EXPECT_TRUE(feed(s.dep + 10, sd[k] + 2, 7, 3, 20).empty());
  // Leaves it and passes two more stops before the next fix, where 4 boarded at the last one.
  auto out = feed(s.dep + 200, sd[k + 2] + 50, 4, 1, 23);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].stop_index, k);
  EXPECT_EQ(out[0].boardings, 7);
  EXPECT_EQ(out[0].alightings, 3);
  EXPECT_EQ(out[0].load, 20);
  EXPECT_EQ(out[1].boardings, 0);  // interpolated: nobody counted there
  EXPECT_EQ(out[1].load, -1);
  EXPECT_EQ(out[2].boardings, 4);  // the stop just served
  EXPECT_EQ(out[2].load, 23);
}

// A bus that reports occupancy but no counts (WMATA): its visits carry no counts (-1), and the
// occupancy of the fix that completed them.
TEST(VisitDetector, OccupancyOnlyBusGetsNoCounts) {
  VisitWorld s;
  const std::vector<double>& sd = s.stop_d();
  s.Go(s.dep, sd[0] + 1500);
  std::vector<StopVisit> out;
  Fix f = FixAt(s.dep + 100, 0, 0);
  f.occupancy = 2;
  const uint32_t k = s.v.visit.next_stop;
  s.det.Progress(s.v, s.dep + 100, sd[k + 1] + 50, f, &out);
  s.det.AttributeRiders(s.v, f, &out, 0);
  ASSERT_EQ(out.size(), 2u);
  for (const StopVisit& sv : out) {
    EXPECT_EQ(sv.boardings, -1);
    EXPECT_EQ(sv.alightings, -1);
    EXPECT_EQ(sv.load, -1);
    EXPECT_EQ(sv.occupancy, 2);
  }
}

// ---- Trip inference (no HMM) ---------------------------------------------------------------

struct InferenceWorld {
  OutAndBack w = MakeOutAndBack();
  TrackerOptions opt;
  TrackerStats stats;
  ShapeMatcher matcher{opt.matching};
  TrackMap vehicles;
  TripInference inf{*w.net, opt, matcher, vehicles, &stats};

  Track& Add(const std::string& id) {
    auto t = std::make_unique<Track>();
    t->vs.vehicle_id = id;
    Track& r = *t;
    vehicles.emplace(id, std::move(t));
    return r;
  }
  FixObservation Obs(int64_t t, double x, double y) const {
    FixObservation o = matcher.Observe(FixAt(t, x, y), {x, y});
    return o;
  }
};

// Trip inference on a network a test draws itself.
struct InferenceOn {
  explicit InferenceOn(std::shared_ptr<const Network> n) : net(std::move(n)) {}
  std::shared_ptr<const Network> net;
  TrackerOptions opt;
  TrackerStats stats;
  ShapeMatcher matcher{opt.matching};
  TrackMap vehicles;
  TripInference inf{*net, opt, matcher, vehicles, &stats};

  Track& Add(const std::string& id) {
    auto t = std::make_unique<Track>();
    t->vs.vehicle_id = id;
    Track& r = *t;
    vehicles.emplace(id, std::move(t));
    return r;
  }
  // The service day the tests run on, and a vehicle given the named trip of it by inference.
  static constexpr int32_t kDate = 20260302;
  int64_t DayStart() const { return absl::ToUnixSeconds(net->ServiceDayStart(kDate)); }
  Track& AddOn(const std::string& id, const std::string& trip) {
    Track& v = Add(id);
    inf.Assign(v, *net->FindTrip(trip), kDate, DayStart(), false);
    return v;
  }
};

TEST(TripInference, InfersTheTripTheScheduleHasThere) {
  InferenceWorld s;
  Track& v = s.Add("v");
  // 800 m out at 10:08 (two stops, 60 s apart each, after a 10:00 departure would be 10:02):
  // RT (10:00) runs 6 min late, RT2 (10:30) is not due; RT it is.
  const int64_t t = s.w.day_start_s + OutAndBack::kOutStart + 480;
  v.fixes.pos_ts = t;
  v.fixes.xy = {800, 0};
  s.inf.Infer(v, s.Obs(t, 800, 0));
  ASSERT_NE(v.run.trip, kNoIndex);
  EXPECT_EQ(s.w.net->feed().trips[v.run.trip].id, "RT");
  EXPECT_EQ(v.run.source, TripSource::kInferred);
  EXPECT_EQ(s.inf.Holder(v.run.trip, v.run.service_date), &v);
  EXPECT_EQ(s.stats.inferred_assignments, 1);
}

TEST(TripInference, AnotherBusDoesNotTakeAClaimedTripWhenAnotherFits) {
  InferenceWorld s;
  const TripIdx rt = *s.w.net->FindTrip("RT");
  Track& a = s.Add("a");
  s.inf.Assign(a, rt, s.w.date, s.w.day_start_s, true);  // a says it runs RT
  Track& b = s.Add("b");
  const int64_t t = s.w.day_start_s + OutAndBack::kOutStart + 1800 - 60;  // RT2 about to leave
  b.fixes.pos_ts = t;
  s.inf.Infer(b, s.Obs(t, 0, 0));
  ASSERT_NE(b.run.trip, kNoIndex);
  EXPECT_EQ(s.w.net->feed().trips[b.run.trip].id, "RT2");
  EXPECT_EQ(s.inf.Holder(rt, s.w.date), &a);
}

// Two trips five minutes apart on the out-and-back shape (stops every 400 m, 60 s apart).
std::shared_ptr<const Network> TwoTripsFiveMinutesApart() {
  testing::FeedBuilder b;
  b.AddShape("SH", {At(0, 0), At(2000, 0), At(2000, 12), At(0, 12)});
  std::vector<std::string> stops;
  for (int i = 0; i <= 5; ++i) stops.push_back(std::to_string(i));
  for (int i = 0; i <= 5; ++i) b.AddStop(stops[i], At(i * 400.0, -6));
  for (int i = 1; i <= 5; ++i) {
    stops.push_back("b" + std::to_string(i));
    b.AddStop(stops.back(), At(2000 - i * 400.0, 18));
  }
  b.AddTrip("A", stops, 10 * 3600, 60, "SH");
  b.AddTrip("B", stops, 10 * 3600 + 300, 60, "SH");
  return b.Build();
}

TEST(TripInference, JointAssignmentGivesTheBusAheadTheEarlierTrip) {
  auto net = TwoTripsFiveMinutesApart();
  ASSERT_TRUE(net);
  TrackerOptions opt;
  TrackerStats stats;
  ShapeMatcher matcher(opt.matching);
  TrackMap vehicles;
  TripInference inf(*net, opt, matcher, vehicles, &stats);
  const int32_t date = 20260302;
  const int64_t day_start = absl::ToUnixSeconds(net->ServiceDayStart(date));
  const TripIdx a = *net->FindTrip("A"), b = *net->FindTrip("B");
  const int64_t t = day_start + 10 * 3600 + 480;  // 10:08: A at its 9th stop, B at its 4th
  auto add = [&](const std::string& id, TripIdx trip, double d) -> Track& {
    auto tr = std::make_unique<Track>();
    Track& v = *tr;
    vehicles.emplace(id, std::move(tr));
    v.vs.vehicle_id = id;
    inf.Assign(v, trip, date, day_start, false);
    v.run.phase = TripPhase::kRunning;
    v.vs.timestamp_s = t;
    v.vs.dist_along_m = d;
    v.fixes.pos_ts = t;
    v.motion.still_since = t;  // moving
    return v;
  };
  const std::vector<double>& sd = net->pattern(net->trip_pattern(a)).stop_dist_m;
  // Each bus was given the other's trip: the one farther along must run the earlier trip
  // (buses do not overtake).
  Track& ahead = add("ahead", b, sd[8]);
  Track& behind = add("behind", a, sd[3]);
  inf.SolvePattern(ahead.run.pattern, t);
  EXPECT_EQ(ahead.run.trip, a);
  EXPECT_EQ(behind.run.trip, b);
  EXPECT_EQ(inf.Holder(a, date), &ahead);
  EXPECT_EQ(inf.Holder(b, date), &behind);
  EXPECT_EQ(stats.retargets, 2);
}

TEST(TripInference, ScheduleCostIsZeroOnTimeAndGrowsWithDelay) {
  InferenceWorld s;
  const TripIdx rt = *s.w.net->FindTrip("RT");
  const uint32_t pat = s.w.net->trip_pattern(rt);
  const std::vector<double>& sd = s.w.net->pattern(pat).stop_dist_m;
  const double at_stop2 = s.w.day_start_s + OutAndBack::kOutStart + 2 * OutAndBack::kStep;
  EXPECT_NEAR(s.inf.SchedCost(rt, pat, s.w.day_start_s, sd[2], at_stop2), 0, 1e-9);
  EXPECT_NEAR(s.inf.SchedCost(rt, pat, s.w.day_start_s, sd[2], at_stop2 + 300), 1, 1e-9);
  EXPECT_NEAR(s.inf.SchedCost(rt, pat, s.w.day_start_s, sd[2], at_stop2 - 120), 1, 1e-9);
}

// A limited-stop trip without a shape (its first and last stops only: one straight line, 3 km)
// leaves the local's first stop 7 minutes after the local. The bus leaves at the limited's time
// on the local's streets, which bend away from the limited's line (north 400 m, east, back
// south): 1680 m along the local's path it is 1000 m along the line and 120 m beside it. The
// departure re-decision takes the limited: the road to a point beside a line is longer than the
// line by up to the bend.
TEST(TripInference, ALimitedTripWithoutShapeIsTakenAtTheDepartureOnTheLocalsBendingStreets) {
  testing::FeedBuilder b;
  b.AddStop("s0", At(0, 0));
  b.AddStop("a", At(0, 400));
  b.AddStop("b", At(1000, 400));
  b.AddStop("c", At(1000, 120));
  b.AddStop("d", At(3000, 0));
  b.AddTrip("LOCAL", {"s0", "a", "b", "c", "d"}, 10 * 3600, 120);
  b.AddTrip("LIMITED", {"s0", "d"}, 10 * 3600 + 420, 300);
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int64_t day_start = s.DayStart();
  Track& v = s.AddOn("v", "LOCAL");
  v.visit.ring.n = 1;
  v.visit.ring.d[0] = net->pattern(v.run.pattern).stop_dist_m[0] + 1680;
  v.fixes.xy = net->projection().Forward(At(1000, 120));  // the network's own plane
  const double t_dep = static_cast<double>(day_start + 10 * 3600 + 420);
  EXPECT_TRUE(s.inf.RedecideAtDeparture(v, t_dep, NAN));
  EXPECT_EQ(net->feed().trips[v.run.trip].id, "LIMITED");
}

// A local runs east from s0, two limited trips (L1 at 10:00, L2 at 10:10) run north from s0.
// The bus was seen leaving s0 at 10:00 and taken for the local; at 10:14 it is 2 km north, on
// the limited's street only: 9 min late for L1, 1 min early for L2 at that place. Infer takes
// the limited by the place; the departure it was seen making from the same stop stays the
// evidence, so the joint assignment gives it L1, which left then (the old code dropped the
// departure with the pattern and kept L2).
TEST(TripInference, TheDepartureSeenStaysTheEvidenceWhenTheBusRunsAnotherPatternFromThatStop) {
  testing::FeedBuilder b;
  std::vector<std::string> east = {"s0"}, north = {"s0"};
  b.AddStop("s0", At(0, 0));
  for (int i = 1; i <= 10; ++i) {
    east.push_back("e" + std::to_string(i));
    b.AddStop(east.back(), At(400.0 * i, 0));
    north.push_back("n" + std::to_string(i));
    b.AddStop(north.back(), At(0, 400.0 * i));
  }
  b.AddTrip("LOCAL", east, 10 * 3600, 60);
  b.AddTrip("L1", north, 10 * 3600, 60);
  b.AddTrip("L2", north, 10 * 3600 + 600, 60);
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int32_t date = 20260302;
  const int64_t day_start = absl::ToUnixSeconds(net->ServiceDayStart(date));
  Track& v = s.Add("v");
  s.inf.Assign(v, *net->FindTrip("LOCAL"), date, day_start, false);
  v.infer.dep_pattern = v.run.pattern;
  v.infer.dep_t = static_cast<double>(day_start + 10 * 3600);
  const int64_t t = day_start + 10 * 3600 + 840;
  const Vec2 p = net->projection().Forward(At(0, 2000));
  v.fixes.pos_ts = t;
  v.fixes.xy = p;
  s.inf.Infer(v, s.matcher.Observe(FixAt(t, p.x, p.y), p));
  ASSERT_EQ(net->feed().trips[v.run.trip].id, "L2");  // by the place
  v.run.phase = TripPhase::kRunning;
  v.vs.timestamp_s = t;
  v.vs.dist_along_m = 2000;
  v.motion.still_since = t;  // moving
  s.inf.SolvePattern(v.run.pattern, t);
  EXPECT_EQ(net->feed().trips[v.run.trip].id, "L1");
}

// Two express patterns leave s0 together along five stops (paths without shapes) and part at
// s5: Y goes on east, X turns north. A bus confirmed on Y1 after its departure at 10:00:30 is
// seen a second time off Y's path, on X's: at the fork it takes X's trip that fits its
// departure (X1, 10:00), not X2 (10:30). The old code kept Y1 (off route; a confirmed trip is
// looked at again only infer_lost_s later). On the shared street it keeps Y1.
TEST(TripInference, AtTheForkTheBusTakesThePatternItFollowsWithTheTripOfItsDeparture) {
  testing::FeedBuilder b;
  std::vector<std::string> x = {"s0"}, y = {"s0"};
  b.AddStop("s0", At(0, 0));
  for (int i = 1; i <= 5; ++i) {
    b.AddStop("s" + std::to_string(i), At(400.0 * i, 0));
    x.push_back("s" + std::to_string(i));
    y.push_back("s" + std::to_string(i));
  }
  for (int i = 6; i <= 10; ++i) {
    b.AddStop("x" + std::to_string(i), At(2000, 400.0 * (i - 5)));
    x.push_back("x" + std::to_string(i));
    b.AddStop("y" + std::to_string(i), At(400.0 * i, 0));
    y.push_back("y" + std::to_string(i));
  }
  b.AddTrip("X1", x, 10 * 3600, 60);
  b.AddTrip("Y1", y, 10 * 3600 + 120, 60);
  b.AddTrip("X2", x, 10 * 3600 + 1800, 60);
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int64_t day_start = s.DayStart();
  Track& v = s.AddOn("v", "Y1");
  v.run.phase = TripPhase::kRunning;
  v.run.source = TripSource::kConfirmed;
  v.infer.dep_pattern = v.run.pattern;
  v.infer.dep_t = static_cast<double>(day_start + 10 * 3600 + 30);
  v.visit.mono_d = 1900;
  auto fix_at = [&](int64_t t, double mx, double my) {
    const Vec2 p = net->projection().Forward(At(mx, my));
    v.fixes.pos_ts = t;
    v.fixes.xy = p;
    s.inf.AssignForFix(v, FixAt(t, mx, my), s.matcher.Observe(FixAt(t, mx, my), p), Admission{});
    v.vs.timestamp_s = t;
    return net->feed().trips[v.run.trip].id;
  };
  const int64_t t = day_start + 10 * 3600 + 360;
  v.vs.timestamp_s = t - 60;
  v.match.off_count = 1;  // the previous fix was off Y's path already
  EXPECT_EQ(fix_at(t - 30, 1950, 0), "Y1");  // back on the shared street: no fork
  v.match.off_count = 1;
  EXPECT_EQ(fix_at(t, 2000, 500), "X1");
  EXPECT_EQ(v.match.off_count, 0);
  EXPECT_EQ(v.infer.dep_pattern, v.run.pattern);  // the departure stays its evidence
}

// A and B start at different stops and share the street y = 0 from x = 0 to 2000 m, where B
// turns north and A goes on east (paths without shapes). A bus confirmed on A, seen a second
// time off A's path on B's branch, came along B's path (its trail: 1200, 1600 m on the shared
// street, then 200 m up B's branch): it takes B's trip. Without that trail (it might have come
// from anywhere) it keeps A. The old code kept A either way (off route; a confirmed trip is
// looked at again only infer_lost_s later).
TEST(TripInference, AtAForkFromASharedStreetTheBusTakesTheOtherPatternItCameAlong) {
  testing::FeedBuilder b;
  std::vector<std::string> a, bb;
  for (int i = 0; i <= 10; ++i) {
    a.push_back("a" + std::to_string(i));
    b.AddStop(a.back(), At(-2000 + 600.0 * i, 0));
  }
  for (int i = 0; i <= 2; ++i) {
    bb.push_back("b" + std::to_string(i));
    b.AddStop(bb.back(), At(0, 800 - 400.0 * i));
  }
  for (int i = 1; i <= 5; ++i) {
    bb.push_back("c" + std::to_string(i));
    b.AddStop(bb.back(), At(400.0 * i, -2));
  }
  for (int i = 1; i <= 4; ++i) {
    bb.push_back("n" + std::to_string(i));
    b.AddStop(bb.back(), At(2000, 400.0 * i));
  }
  b.AddTrip("A1", a, 10 * 3600, 60);
  b.AddTrip("B1", bb, 10 * 3600 + 120, 60);
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int64_t t = s.DayStart() + 10 * 3600 + 480;
  auto run = [&](const std::string& id, bool trail) {
    Track& v = s.AddOn(id, "A1");
    v.run.phase = TripPhase::kRunning;
    v.run.source = TripSource::kConfirmed;
    v.visit.mono_d = 4000;
    v.vs.timestamp_s = t - 120;
    v.match.off_count = 1;  // the previous fix was off A's path already
    if (trail) {
      const double xy[3][2] = {{1200, 0}, {1600, 0}, {2000, 200}};
      for (int i = 0; i < 3; ++i) {
        v.motion.trail_xy[i] = net->projection().Forward(At(xy[i][0], xy[i][1]));
        v.motion.trail_ts[i] = t - 360 + 120 * i;
      }
      v.motion.trail_n = 3;
    }
    const Vec2 p = net->projection().Forward(At(2000, 600));
    v.fixes.pos_ts = t;
    v.fixes.xy = p;
    const Fix fix = FixAt(t, 2000, 600, id);
    s.inf.AssignForFix(v, fix, s.matcher.Observe(fix, p), Admission{});
    return net->feed().trips[v.run.trip].id;
  };
  EXPECT_EQ(run("no-trail", false), "A1");
  EXPECT_EQ(run("came-along-B", true), "B1");
}

// Two routes share a street: A comes along it from the west, B joins it from the north-west.
// A bus on the shared street fits B's timetable a minute better, but the way it came (its
// trail along A's street, 220 m from B's) says A.
TEST(TripInference, TheWayTheBusCameDecidesBetweenRoutesSharingAStreet) {
  testing::FeedBuilder b;
  b.AddShape("SA", {At(0, 0), At(3000, 0)});
  b.AddShape("SB", {At(0, 500), At(1000, 0), At(3000, 0)});
  b.AddStop("a0", At(0, -6));
  b.AddStop("b0", At(0, 494));
  for (int i = 1; i <= 3; ++i) b.AddStop("s" + std::to_string(i), At(1000.0 * i, -6));
  b.AddTrip("A", {"a0", "s1", "s2", "s3"}, 10 * 3600, 120, "SA");
  b.AddTrip("B", {"b0", "s1", "s2", "s3"}, 10 * 3600 + 60, 120, "SB");
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int64_t day_start = absl::ToUnixSeconds(net->ServiceDayStart(20260302));
  const int64_t t = day_start + 10 * 3600 + 300;  // at s2: A 1 min late, B on time
  auto infer = [&](const std::string& id, bool with_trail) {
    Track& v = s.Add(id);
    const Vec2 p = net->projection().Forward(At(2000, 0));
    v.fixes.pos_ts = t;
    v.fixes.xy = p;
    if (with_trail) {
      for (int i = 0; i < 3; ++i) {  // every 60 s at 500, 1000, 1500 m along A's street
        v.motion.trail_xy[i] = net->projection().Forward(At(500.0 * (i + 1), 0));
        v.motion.trail_ts[i] = t - 180 + 60 * i;
      }
      v.motion.trail_n = 3;
    }
    s.inf.Infer(v, s.matcher.Observe(FixAt(t, 2000, 0, id), p));
    EXPECT_NE(v.run.trip, kNoIndex);
    const uint32_t trip = v.run.trip;
    s.inf.Unassign(v);
    return trip == kNoIndex ? std::string() : net->feed().trips[trip].id;
  };
  EXPECT_EQ(infer("no-trail", false), "B");  // the timetable alone
  EXPECT_EQ(infer("trail", true), "A");
}

// An express and a local on one street: at the fix, the local is on time and the express a
// minute late, so the place and the timetable say local; but the bus came 1500 m in 2 min,
// the express's pace (60 s/km) and not the local's (180 s/km): the movement says express.
TEST(TripInference, ThePaceOverTheTrailTellsAnExpressFromTheLocalOnItsStreet) {
  testing::FeedBuilder b;
  b.AddShape("S", {At(0, 0), At(4000, 0)});
  for (int i = 0; i <= 4; ++i) b.AddStop("s" + std::to_string(i), At(1000.0 * i, -6));
  b.AddTrip("L", {"s0", "s1", "s2", "s3", "s4"}, 10 * 3600, 180, "S");
  b.AddTrip("X", {"s0", "s2", "s4"}, 10 * 3600 + 300, 120, "S");
  auto built = b.Build();
  ASSERT_TRUE(built);
  InferenceOn s(built);
  const Network* net = s.net.get();
  const int64_t t = s.DayStart() + 10 * 3600 + 540;  // at 3000 m: L on time, X 1 min late
  auto infer = [&](double pace_weight) {
    s.opt.inference.pace_weight = pace_weight;
    Track& v = s.Add("v" + std::to_string(pace_weight));
    const Vec2 p = net->projection().Forward(At(3000, 0));
    v.fixes.pos_ts = t;
    v.fixes.xy = p;
    v.motion.still_since = t;
    for (int i = 0; i < 2; ++i) {  // at 1500 m 2 min ago, 2250 m 1 min ago
      v.motion.trail_xy[i] = net->projection().Forward(At(1500.0 + 750 * i, 0));
      v.motion.trail_ts[i] = t - 120 + 60 * i;
    }
    v.motion.trail_n = 2;
    s.inf.Infer(v, s.matcher.Observe(FixAt(t, 3000, 0, "v"), p));
    const uint32_t trip = v.run.trip;
    s.inf.Unassign(v);
    return trip == kNoIndex ? std::string() : net->feed().trips[trip].id;
  };
  EXPECT_EQ(infer(0), "L");  // the place and the timetable alone
  EXPECT_EQ(infer(1), "X");
}

// The departure decides between two trips 15 minutes apart: leaving 10 minutes after the
// first (5 before the second) is "late" for the first only for a bus that was not ready for
// it; a bus that stood at the stop through the first departure waits for the second.
TEST(TripInference, DepartureCostWeighsWhenTheBusWasReady) {
  InferenceWorld s;
  const double first = 36000, second = first + 900, left = first + 600;
  const double arrived_late = first + 480, ready_early = first - 600;
  // Not seen waiting, or arrived late: only the lateness counts (2 = 600 s / 300 s).
  EXPECT_NEAR(s.inf.DepartureCost(first, left, NAN), 2, 1e-9);
  EXPECT_NEAR(s.inf.DepartureCost(first, left, arrived_late), 2, 1e-9);
  // Ready 10 min before and left 10 min after: 5 min past the recovery grace, as unlikely as
  // 5 min early -- more than leaving 5 min early for the second trip.
  const double held = s.inf.DepartureCost(first, left, ready_early);
  EXPECT_NEAR(held, 2 + 300 / s.opt.inference.depart_early_scale_s, 1e-9);
  EXPECT_GT(held, s.inf.DepartureCost(second, left, ready_early));
  EXPECT_LT(s.inf.DepartureCost(first, left, arrived_late),
            s.inf.DepartureCost(second, left, arrived_late));
}

// Two buses waiting for one trip (one chained to it by its block, the other inferred it; the
// later Assign holds the claim): the one that leaves on it takes the claim, the other looks
// again at its next fix.
TEST(TripInference, TheBusLeavingOnATripTakesItFromTheBusStillWaiting) {
  InferenceWorld s;
  const TripIdx rt = *s.w.net->FindTrip("RT");
  Track& leaving = s.Add("leaving");
  Track& waiting = s.Add("waiting");
  s.inf.Assign(leaving, rt, s.w.date, s.w.day_start_s, false);
  s.inf.Assign(waiting, rt, s.w.date, s.w.day_start_s, false);
  ASSERT_EQ(s.inf.Holder(rt, s.w.date), &waiting);
  const double dep = static_cast<double>(s.w.day_start_s + OutAndBack::kOutStart + 30);
  EXPECT_FALSE(s.inf.RedecideAtDeparture(leaving, dep, dep - 600));
  EXPECT_EQ(leaving.run.trip, rt);
  EXPECT_EQ(s.inf.Holder(rt, s.w.date), &leaving);
  EXPECT_TRUE(waiting.infer.evicted);
  EXPECT_EQ(waiting.infer.lost_trip, rt);
}

}  // namespace
}  // namespace smartbus
