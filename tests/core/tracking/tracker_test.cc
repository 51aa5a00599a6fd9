#include "services/core/tracking/tracker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "tests/core/tracking/tracking_fixture.h"
#include "services/core/prediction/predictor.h"
#include "services/files/feed_files.h"

namespace smartbus {
namespace {

using testing::At;
using testing::Feed;
using testing::MakeOutAndBack;
using testing::MakeTrace;
using testing::OutAndBack;
using testing::TraceOptions;
using testing::TruthFix;
using testing::Plane;

struct Accuracy {
  size_t n = 0;
  size_t over_100m = 0;
  double median_m = 0;
};

Accuracy Measure(const std::vector<TruthFix>& truth, const std::vector<MatchResult>& got) {
  Accuracy a;
  std::vector<double> err;
  for (size_t i = 0; i < truth.size(); ++i) {
    double e = std::isnan(got[i].dist_along_m) ? 1e9 : std::fabs(got[i].dist_along_m - truth[i].true_d);
    err.push_back(e);
    if (e > 100) ++a.over_100m;
  }
  a.n = err.size();
  std::nth_element(err.begin(), err.begin() + err.size() / 2, err.end());
  a.median_m = err[err.size() / 2];
  return a;
}

Fix MakeFix(const std::string& v, int64_t t, LatLon p, const std::string& trip = "") {
  Fix f;
  f.vehicle_id = v;
  f.timestamp_s = t;
  f.lat = p.lat;
  f.lon = p.lon;
  f.trip_id = trip;
  return f;
}

// ---- Matching accuracy -----------------------------------------------------------------------

// The drawn out-and-back street: the two passes are 12 m apart, GPS noise 8 m plus 3% outliers
// of 60 m, a fix every 10 s. Nearest-segment matching would put many fixes on the wrong pass
// (thousands of metres off); the HMM must not.
TEST(TrackerAccuracy, OutAndBackNoisyTrace) {
  OutAndBack w = MakeOutAndBack();
  ASSERT_TRUE(w.net);
  TripIdx trip = *w.net->FindTrip("RT");
  const Polyline& poly = w.net->trip_polyline(trip);
  std::vector<TruthFix> all;
  std::vector<MatchResult> got;
  for (uint32_t seed = 1; seed <= 80; ++seed) {
    Tracker tr(w.net);
    TraceOptions o;
    o.seed = seed;
    o.with_heading = seed % 2 == 0;  // half the runs without bearing/speed heading help
    auto trace = MakeTrace(*w.net, poly, "bus", "RT", 0, poly.length_m(),
                           w.day_start_s + OutAndBack::kOutStart - 30, o);
    std::vector<Fix> fixes;
    for (auto& t : trace) fixes.push_back(t.fix);
    auto run = Feed(tr, fixes);
    all.insert(all.end(), trace.begin(), trace.end());
    got.insert(got.end(), run.matches.begin(), run.matches.end());
  }
  Accuracy a = Measure(all, got);
  std::printf("out-and-back: %zu fixes, %zu > 100 m (%.3f%%), median error %.2f m\n", a.n,
              a.over_100m, 100.0 * a.over_100m / a.n, a.median_m);
  EXPECT_GT(a.n, 5000u);
  EXPECT_LT(static_cast<double>(a.over_100m), 0.002 * a.n);
  EXPECT_LT(a.median_m, 10.0);
}

// The same on the real WMATA shapes of the routes run on 2026-02-16 (loops, out-and-back
// sections, a shape per direction).
TEST(TrackerAccuracy, WmataShapesNoisyTrace) {
  std::string dir = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16/gtfs";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "shared data not found: " << dir;
  auto feed = LoadGtfs({dir});
  ASSERT_TRUE(feed.ok()) << feed.status();
  auto built = Network::Build(std::move(*feed));
  ASSERT_TRUE(built.ok()) << built.status();
  std::shared_ptr<const Network> net = *built;
  int32_t date = 20260216;
  int64_t day_start = absl::ToUnixSeconds(net->ServiceDayStart(date));
  std::vector<TripIdx> trips = net->ActiveTrips(date);
  // One trip per pattern.
  std::vector<uint32_t> seen_patterns;
  std::vector<TripIdx> pick;
  for (TripIdx t : trips) {
    uint32_t p = net->trip_pattern(t);
    if (std::find(seen_patterns.begin(), seen_patterns.end(), p) != seen_patterns.end()) continue;
    seen_patterns.push_back(p);
    pick.push_back(t);
  }
  ASSERT_GE(pick.size(), 6u);
  std::vector<TruthFix> all;
  std::vector<MatchResult> got;
  uint32_t seed = 100;
  for (TripIdx trip : pick) {
    const Polyline& poly = net->trip_polyline(trip);
    const Pattern& pat = net->pattern(net->trip_pattern(trip));
    const GtfsStopTime& first = net->feed().stop_times[net->feed().trips[trip].first_stop_time];
    for (int rep = 0; rep < 4; ++rep) {
      Tracker tr(net);
      TraceOptions o;
      o.seed = ++seed;
      o.with_heading = rep % 2 == 0;
      auto trace = MakeTrace(*net, poly, "bus", net->feed().trips[trip].id, pat.stop_dist_m.front(),
                             pat.stop_dist_m.back(), day_start + first.departure_s, o);
      std::vector<Fix> fixes;
      for (auto& t : trace) fixes.push_back(t.fix);
      auto run = Feed(tr, fixes);
      all.insert(all.end(), trace.begin(), trace.end());
      got.insert(got.end(), run.matches.begin(), run.matches.end());
    }
  }
  Accuracy a = Measure(all, got);
  std::printf("WMATA shapes (%zu patterns): %zu fixes, %zu > 100 m (%.3f%%), median %.2f m\n",
              pick.size(), a.n, a.over_100m, 100.0 * a.over_100m / a.n, a.median_m);
  EXPECT_GT(a.n, 5000u);
  EXPECT_LT(static_cast<double>(a.over_100m), 0.002 * a.n);
  EXPECT_LT(a.median_m, 10.0);
}

// ---- States ----------------------------------------------------------------------------------

// A bus at its first stop 10 minutes before departure is in layover (on its trip already) and
// produces no visits; when it leaves on time it is in service, and the first stop gets a visit
// whose departure is when it left.
TEST(TrackerStates, LayoverThenDeparture) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t dep = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int64_t t = dep - 600; t <= dep; t += 30) fixes.push_back(MakeFix("v", t, At(3, 2), "RT"));
  auto wait = Feed(tr, fixes);
  for (const auto& m : wait.matches) EXPECT_EQ(m.state, MatchState::kLayover);
  EXPECT_TRUE(wait.visits.empty());
  fixes.clear();
  for (int i = 1; i <= 12; ++i) fixes.push_back(MakeFix("v", dep + 10 * i, At(70.0 * i, 1), "RT"));
  auto go = Feed(tr, fixes);
  EXPECT_EQ(go.matches.back().state, MatchState::kInService);
  ASSERT_GE(go.visits.size(), 2u);
  EXPECT_EQ(go.visits[0].stop_index, 0u);
  EXPECT_EQ(go.visits[0].arrival_s, static_cast<double>(dep - 600));  // arrived when first seen
  EXPECT_NEAR(go.visits[0].departure_s, static_cast<double>(dep), 10);
  EXPECT_EQ(go.visits[1].stop_index, 1u);  // o1 at 400 m: reached at dep + 400/7 s
  EXPECT_NEAR(go.visits[1].arrival_s, dep + 400.0 / 7.0, 3);
}

// WMATA's pre-trip move: 20 minutes early the bus drives 350 m along its route to a layover
// spot, waits there, comes back to the terminal, and leaves on time. No stop may be "visited"
// during the move; the real visits come with the real departure.
TEST(TrackerStates, PreTripMoveGivesNoEarlyVisits) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t dep = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  int64_t t = dep - 1500;
  for (int i = 0; i <= 7; ++i) fixes.push_back(MakeFix("v", t += 10, At(50.0 * i, 0), "RT"));
  for (int i = 0; i < 20; ++i) fixes.push_back(MakeFix("v", t += 30, At(350, 0), "RT"));
  for (int i = 7; i >= 0; --i) fixes.push_back(MakeFix("v", t += 10, At(50.0 * i, 0), "RT"));
  while (t < dep) fixes.push_back(MakeFix("v", t += 30, At(0, 0), "RT"));
  auto before = Feed(tr, fixes);
  EXPECT_TRUE(before.visits.empty()) << before.visits.size() << " visits before the start";
  for (const auto& m : before.matches) EXPECT_EQ(m.state, MatchState::kLayover);
  fixes.clear();
  for (int i = 1; i <= 15; ++i) fixes.push_back(MakeFix("v", t + 10 * i, At(70.0 * i, 0), "RT"));
  auto go = Feed(tr, fixes);
  ASSERT_GE(go.visits.size(), 3u);
  for (const auto& v : go.visits) EXPECT_GE(v.departure_s, static_cast<double>(dep - 60));
  EXPECT_NEAR(go.visits[1].arrival_s, t + 400.0 / 7.0, 3);
}

// A detour: the bus leaves the street for a parallel one 250 m north for several fixes
// (off_route, position along the route frozen), then comes back and carries on (in_service).
TEST(TrackerStates, DetourOffRouteThenResume) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int i = 0; i <= 6; ++i) fixes.push_back(MakeFix("v", t += 10, At(70.0 * i, 0), "RT"));
  auto a = Feed(tr, fixes);
  EXPECT_EQ(a.matches.back().state, MatchState::kInService);
  double d_before = a.matches.back().dist_along_m;
  fixes.clear();
  fixes.push_back(MakeFix("v", t += 20, At(450, 120), "RT"));
  for (int i = 0; i < 6; ++i) fixes.push_back(MakeFix("v", t += 20, At(500.0 + 80 * i, 250), "RT"));
  auto b = Feed(tr, fixes);
  EXPECT_EQ(b.matches.back().state, MatchState::kOffRoute);
  for (const auto& m : b.matches) EXPECT_LE(m.dist_along_m, d_before + 150);
  fixes.clear();
  for (int i = 0; i < 5; ++i) fixes.push_back(MakeFix("v", t += 15, At(1000.0 + 60 * i, 0), "RT"));
  auto c = Feed(tr, fixes);
  EXPECT_EQ(c.matches.back().state, MatchState::kInService);
  EXPECT_NEAR(c.matches.back().dist_along_m, 1240, 15);
}

// A leg without a shape between stops `leg_m` apart (500 m of street before and after), the
// road bending `bend` of the leg's length away from the straight line. `buses` buses with
// their trip ids drive it one after another (20 m/s, a fix every 30 s); returns how many of
// each bus's fixes were off route.
struct BentLeg {
  std::shared_ptr<const Network> net;
  std::vector<int> off;
};
// `model`: a predictor model loaded before the first bus (a restarted engine).
BentLeg DriveABentLeg(double leg_m, double bend, int buses, const std::string* model = nullptr) {
  testing::FeedBuilder b;
  const std::vector<double> xs = {0, 500, 500 + leg_m, 1000 + leg_m};
  std::vector<std::string> ids;
  for (size_t i = 0; i < xs.size(); ++i) {
    ids.push_back("s" + std::to_string(i));
    b.AddStop(ids.back(), At(xs[i], 0));
  }
  for (int k = 0; k < buses; ++k) b.AddTrip("T" + std::to_string(k), ids, 36000 + 300 * k, 150);
  BentLeg r{b.Build(), std::vector<int>(buses, 0)};
  if (!r.net) return r;
  const int64_t day = absl::ToUnixSeconds(r.net->ServiceDayStart(20260302));
  const Polyline road({At(0, 0), At(500, 0), At(500 + leg_m / 2, bend * leg_m),
                       At(500 + leg_m, 0), At(1000 + leg_m, 0)},
                      testing::Plane());
  if (model) {
    LayeredPredictor p(r.net);
    EXPECT_TRUE(p.Deserialize(*model).ok());
  }
  Tracker tr(r.net);
  for (int k = 0; k < buses; ++k) {
    const std::string trip = "T" + std::to_string(k);
    int64_t t = day + 36000 + 300 * k - 60;
    std::vector<Fix> fixes;
    for (int i = 0; i < 3; ++i) fixes.push_back(MakeFix(trip, t += 30, At(0, 0), trip));
    for (double d = 20; d < road.length_m(); d += 600) {
      const Vec2 p = road.PointAt(d);
      fixes.push_back(MakeFix(trip, t += 30, At(p.x, p.y), trip));
    }
    for (const MatchResult& m : Feed(tr, fixes).matches) r.off[k] += m.state == MatchState::kOffRoute;
  }
  return r;
}

// A motorway leg 6 km long bending 0.3 of its length (1.8 km) away from the line, past the
// fixed chord slack (0.2). The first buses go off route on it; their traversals teach the
// feed's chord bends for lines of that length, and the later buses stay in service.
TEST(TrackerStates, BusesOnABentChordTeachItsSlack) {
  const int kBuses = ChordSlackModel::kMinTraversals + 4;
  BentLeg r = DriveABentLeg(6000, 0.3, kBuses);
  ASSERT_NE(r.net, nullptr);
  EXPECT_GE(r.off[0], 2) << "the fixed slack (0.2) calls the first bus off route";
  EXPECT_NEAR(r.net->chord_slack().share(6000), 0.3, 0.011);
  EXPECT_EQ(r.off[kBuses - 1], 0) << "the learned slack keeps the last bus in service";
  EXPECT_NEAR(r.net->chord_slack().share(500), 0.2, 1e-6) << "short stop-to-stop lines unchanged";
}

// The bends learned by one engine's buses are saved with the predictor's model; an engine
// restarted on a network built again from the feed loads it (replay --model-in, smartbusd's
// model in the store) and its first bus stays in service on the bent leg from its first fix
// (without the model it has 2 or more fixes off route: the test above).
TEST(TrackerStates, LearnedChordSlackSurvivesARestart) {
  BentLeg r = DriveABentLeg(6000, 0.3, ChordSlackModel::kMinTraversals + 1);
  ASSERT_NE(r.net, nullptr);
  const std::string model = LayeredPredictor(r.net).Serialize();
  BentLeg again = DriveABentLeg(6000, 0.3, 1, &model);
  ASSERT_NE(again.net, nullptr);
  EXPECT_NEAR(again.net->chord_slack().share(6000), 0.3, 0.011);
  EXPECT_EQ(again.off[0], 0);
  BentLeg pair = DriveABentLeg(3000, 0.35, ChordSlackModel::kMinPairTraversals);
  const std::string pair_model = LayeredPredictor(pair.net).Serialize();
  BentLeg pair_again = DriveABentLeg(3000, 0.35, 1, &pair_model);
  EXPECT_EQ(pair_again.off[0], 0) << "a stop pair's own slack is found again by its stop ids";
}

// Buses with their trip ids on a traced shape, fixes without an accuracy, Gaussian noise of
// 14 m per axis: the feed's GPS noise is learned from their offsets (about 14 m), and fixes
// that report an accuracy add nothing.
TEST(TrackerStates, FixesOnAShapeTeachTheFeedsGpsNoise) {
  testing::FeedBuilder b;
  b.AddShape("SH", {At(0, 0), At(6000, 0)});
  std::vector<std::string> ids;
  for (int i = 0; i <= 12; ++i) {
    ids.push_back("s" + std::to_string(i));
    b.AddStop(ids.back(), At(500.0 * i, 0));
  }
  for (int k = 0; k < 18; ++k) {
    b.AddTrip("T" + std::to_string(k), ids, 36000 + 120 * k, 50, "SH");
  }
  auto net = b.Build();
  ASSERT_NE(net, nullptr);
  const int64_t day = absl::ToUnixSeconds(net->ServiceDayStart(20260302));
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 14);
  auto drive = [&](Tracker& tr, int k, float accuracy) {
    const std::string trip = "T" + std::to_string(k);
    std::vector<Fix> fixes;
    int64_t t = day + 36000 + 120 * k - 30;
    for (double x = 0; x <= 6000; x += 100) {
      Fix f = MakeFix(trip, t += 10, At(x + noise(rng), noise(rng)), trip);
      f.accuracy_m = accuracy;
      fixes.push_back(f);
    }
    Feed(tr, fixes);
  };
  TrackerOptions opt;
  opt.matching.learn_gps_sigma = true;
  Tracker tr(net, opt);
  for (int k = 0; k < 4; ++k) drive(tr, k, 20.f);
  EXPECT_EQ(net->gps_noise().fixes(), 0) << "fixes that report their accuracy";
  for (int k = 4; k < 18; ++k) drive(tr, k, NAN);
  EXPECT_GE(net->gps_noise().fixes(), GpsNoiseModel::kMinFixes);
  EXPECT_NEAR(net->gps_noise().sigma_m(), 14, 1.5);
}

// One 3-km leg bending 0.35: too few buses for its length class, but after
// kMinPairTraversals buses its own stop pair's slack covers the bend.
TEST(TrackerStates, ABentStopPairLearnsItsOwnSlack) {
  BentLeg r = DriveABentLeg(3000, 0.35, ChordSlackModel::kMinPairTraversals + 1);
  ASSERT_NE(r.net, nullptr);
  EXPECT_GE(r.off[0], 1);
  EXPECT_NEAR(r.net->chord_slack().share(3000), 0.2, 1e-6) << "the class: too few traversals";
  EXPECT_EQ(r.off.back(), 0) << "the stop pair's own slack keeps the last bus in service";
}

// A bus standing still mid-route for 10 minutes with noisy fixes: the position along the route
// neither drifts nor jumps to the other pass of the street, and no stop ahead gets a visit.
TEST(TrackerStates, StationaryBusStaysPut) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int i = 0; i <= 9; ++i) fixes.push_back(MakeFix("v", t += 10, At(70.0 * i, 0), "RT"));
  Feed(tr, fixes);
  std::mt19937 rng(7);
  std::normal_distribution<double> n(0, 6);
  fixes.clear();
  for (int i = 0; i < 60; ++i) fixes.push_back(MakeFix("v", t += 10, At(630 + n(rng), n(rng) + 6), "RT"));
  auto r = Feed(tr, fixes);
  for (const auto& m : r.matches) {
    EXPECT_EQ(m.state, MatchState::kInService);
    EXPECT_NEAR(m.dist_along_m, 630, 30);
  }
  for (const auto& v : r.visits) EXPECT_LT(v.stop_index, 2u) << "stop " << v.stop_index;
}

// ---- Rejections ------------------------------------------------------------------------------

TEST(TrackerRejects, DuplicateAndLateFixes) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int i = 0; i <= 8; ++i) fixes.push_back(MakeFix("v", t + 10 * i, At(70.0 * i, 0), "RT"));
  Feed(tr, fixes);
  const VehicleState* s = tr.Vehicle("v");
  ASSERT_TRUE(s);
  double d = s->dist_along_m;
  // Duplicate: same timestamp again (even with another position).
  MatchResult m;
  std::vector<StopVisit> visits;
  tr.Process(MakeFix("v", t + 80, At(900, 0), "RT"), t + 80, &m, &visits);
  EXPECT_EQ(m.state, MatchState::kRejected);
  EXPECT_EQ(m.reason, RejectReason::kDuplicate);
  EXPECT_EQ(tr.Vehicle("v")->dist_along_m, d);
  // Late: older than the newest fix; kept as a row (placed on the route) but the bus stays.
  tr.Process(MakeFix("v", t + 35, At(245, 0), "RT"), t + 90, &m, &visits);
  EXPECT_EQ(m.state, MatchState::kRejected);
  EXPECT_EQ(m.reason, RejectReason::kOutOfOrder);
  EXPECT_NEAR(m.dist_along_m, 245, 10);
  EXPECT_EQ(tr.Vehicle("v")->dist_along_m, d);
  EXPECT_TRUE(visits.empty());
  EXPECT_EQ(tr.stats().rejected[static_cast<int>(RejectReason::kDuplicate)], 1);
  EXPECT_EQ(tr.stats().rejected[static_cast<int>(RejectReason::kOutOfOrder)], 1);
  // The next good fix carries on from where the bus was.
  tr.Process(MakeFix("v", t + 90, At(630, 0), "RT"), t + 90, &m, &visits);
  EXPECT_EQ(m.state, MatchState::kInService);
  EXPECT_NEAR(m.dist_along_m, 630, 10);
}

TEST(TrackerRejects, EveryReasonCountedStateUntouched) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int i = 0; i <= 5; ++i) fixes.push_back(MakeFix("v", t + 10 * i, At(70.0 * i, 0), "RT"));
  Feed(tr, fixes);
  t += 50;
  VehicleState before = *tr.Vehicle("v");
  MatchResult m;
  std::vector<StopVisit> visits;
  auto expect_reject = [&](const Fix& f, int64_t now, RejectReason r) {
    tr.Process(f, now, &m, &visits);
    EXPECT_EQ(m.state, MatchState::kRejected) << RejectReasonName(r);
    EXPECT_EQ(m.reason, r) << "got " << RejectReasonName(m.reason);
    const VehicleState* s = tr.Vehicle("v");
    EXPECT_EQ(s->timestamp_s, before.timestamp_s);
    EXPECT_EQ(s->dist_along_m, before.dist_along_m);
  };
  expect_reject(MakeFix("", t + 10, At(420, 0), "RT"), t + 10, RejectReason::kInvalidVehicleId);
  Fix nan = MakeFix("v", t + 10, At(420, 0), "RT");
  nan.lat = NAN;
  expect_reject(nan, t + 10, RejectReason::kInvalidCoordinates);
  Fix range = MakeFix("v", t + 10, At(420, 0), "RT");
  range.lon = 200;
  expect_reject(range, t + 10, RejectReason::kInvalidCoordinates);
  expect_reject(MakeFix("v", t + 10, {0, 0}, "RT"), t + 10, RejectReason::kInvalidCoordinates);
  expect_reject(MakeFix("v", t + 3600, At(420, 0), "RT"), t + 10, RejectReason::kFutureTimestamp);
  // 30 km away 10 s later.
  expect_reject(MakeFix("v", t + 10, At(30000, 0), "RT"), t + 10, RejectReason::kImplausibleJump);
  expect_reject(MakeFix("v", t, At(350, 0), "RT"), t + 10, RejectReason::kDuplicate);
  expect_reject(MakeFix("v", t - 20, At(150, 0), "RT"), t + 10, RejectReason::kOutOfOrder);
  for (int r = 1; r <= 6; ++r) EXPECT_GE(tr.stats().rejected[r], 1) << r;
  // Still tracking normally.
  tr.Process(MakeFix("v", t + 10, At(420, 0), "RT"), t + 10, &m, &visits);
  EXPECT_EQ(m.state, MatchState::kInService);
  EXPECT_NEAR(m.dist_along_m, 420, 10);
}

// After a real relocation (several agreeing fixes far away) the vehicle is re-anchored instead of
// rejecting forever.
TEST(TrackerRejects, ImplausibleJumpReanchorsAfterAgreeingFixes) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  MatchResult m;
  std::vector<StopVisit> visits;
  tr.Process(MakeFix("v", t, At(-40000, 0), "RT"), t, &m, &visits);  // a bogus first position
  int rejected = 0;
  for (int i = 1; i <= 10; ++i) {
    tr.Process(MakeFix("v", t + 10 * i, At(70.0 * i, 0), "RT"), t + 10 * i, &m, &visits);
    rejected += m.reason == RejectReason::kImplausibleJump;
  }
  EXPECT_EQ(rejected, 2);
  EXPECT_EQ(m.state, MatchState::kInService);
  EXPECT_EQ(tr.stats().reanchors, 1);
}

// ---- Trip assignment -------------------------------------------------------------------------

// No trip_id: the bus runs RT (inferred from geometry and schedule), reaches the end, waits
// there -- and is then already on RT2, the next trip of its block, in layover -- and runs RT2.
TEST(TrackerTrips, NextTripOfBlockWithoutTripId) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  const Polyline& poly = w.net->trip_polyline(*w.net->FindTrip("RT"));
  TraceOptions o;
  o.with_trip_id = false;
  o.outlier_rate = 0;
  int64_t t0 = w.day_start_s + OutAndBack::kOutStart;
  auto first = MakeTrace(*w.net, poly, "v", "", 0, poly.length_m(), t0, o);
  std::vector<Fix> fixes;
  for (int64_t w0 = t0 - 300; w0 <= t0; w0 += 30) fixes.push_back(MakeFix("v", w0, At(2, -3)));
  for (auto& f : first) fixes.push_back(f.fix);
  int64_t t = fixes.back().timestamp_s;
  // Wait at the terminal until RT2 leaves (RT2 starts 30 min after RT).
  while (t < t0 + 1800 - 20) fixes.push_back(MakeFix("v", t += 30, At(3, 12)));
  auto run1 = Feed(tr, fixes);
  TripIdx rt = *w.net->FindTrip("RT"), rt2 = *w.net->FindTrip("RT2");
  EXPECT_EQ(run1.matches[5].trip, rt);
  EXPECT_EQ(run1.matches.back().trip, rt2);
  EXPECT_EQ(run1.matches.back().state, MatchState::kLayover);
  EXPECT_GE(tr.stats().block_transitions, 1);
  size_t visits_rt = std::count_if(run1.visits.begin(), run1.visits.end(),
                                   [&](const StopVisit& v) { return v.trip == rt; });
  EXPECT_EQ(visits_rt, 11u);  // every stop of RT once

  auto second = MakeTrace(*w.net, poly, "v", "", 0, poly.length_m(), t + 10, o);
  fixes.clear();
  for (auto& f : second) fixes.push_back(f.fix);
  auto run2 = Feed(tr, fixes);
  EXPECT_EQ(run2.matches[run2.matches.size() / 2].trip, rt2);
  EXPECT_EQ(run2.matches[run2.matches.size() / 2].state, MatchState::kInService);
  size_t visits_rt2 = std::count_if(run2.visits.begin(), run2.visits.end(),
                                    [&](const StopVisit& v) { return v.trip == rt2; });
  EXPECT_EQ(visits_rt2, 11u);
}

// A 4 km street with 11 stops and two trips from its first stop, FIRST at 10:00 and SECOND 15
// minutes later (no block).
struct TwoTrips {
  std::shared_ptr<const Network> net;
  int64_t t_first = 0;  // FIRST's departure on Monday 2026-03-02 (epoch s)
};
TwoTrips TwoTripsFromOneStop() {
  const int32_t first = 10 * 3600;
  testing::FeedBuilder b;
  b.AddShape("SH", {At(0, 0), At(4000, 0)});
  std::vector<std::string> stops;
  for (int i = 0; i <= 10; ++i) {
    stops.push_back("s" + std::to_string(i));
    b.AddStop(stops.back(), At(400.0 * i, -6));
  }
  b.AddTrip("FIRST", stops, first, 60, "SH");
  b.AddTrip("SECOND", stops, first + 900, 60, "SH");
  TwoTrips w;
  w.net = b.Build();
  if (w.net) w.t_first = absl::ToUnixSeconds(w.net->ServiceDayStart(20260302)) + first;
  return w;
}

// Without trip_id: the bus is first seen on the way back of RT (10:00, block B1), 3 km along
// its 4 km, finishes it at the terminal and waits there. It is on RT2, the next trip of its
// block (10:30), not on RTX (another block's trip leaving the terminal at 10:20, the earliest
// free one): the trip it finished says what it runs next, however little of it was seen (the
// old code chained only a trip followed over 30 % of its length).
TEST(TrackerTrips, ABusSeenOnlyNearTheEndOfItsTripMovesOnToTheNextOfItsBlock) {
  testing::FeedBuilder b;
  b.AddShape("SH", {At(0, 0), At(2000, 0), At(2000, 12), At(0, 12)});
  std::vector<std::string> round;
  for (int i = 0; i <= 5; ++i) {
    round.push_back("o" + std::to_string(i));
    b.AddStop(round.back(), At(i * 400.0, -6));
  }
  for (int i = 1; i <= 5; ++i) {
    round.push_back("b" + std::to_string(i));
    b.AddStop(round.back(), At(2000 - i * 400.0, 18));
  }
  const int32_t start = 10 * 3600;
  b.AddTrip("RT", round, start, 60, "SH", "S", 0, "B1");
  b.AddTrip("RT2", round, start + 1800, 60, "SH", "S", 0, "B1");
  b.AddTrip("RTX", round, start + 1200, 60, "SH", "S", 0, "B3");
  auto net = b.Build();
  ASSERT_TRUE(net);
  Tracker tr(net);
  const int64_t t0 = absl::ToUnixSeconds(net->ServiceDayStart(20260302)) + start;
  std::vector<Fix> fixes;
  for (int i = 0; i <= 10; ++i)  // 3.0 to 4.0 km along, 10:07:30 to 10:10:00, 6.7 m/s
    fixes.push_back(MakeFix("v", t0 + 450 + 15 * i, At(1012 - 100.0 * i, 12)));
  for (int64_t t = t0 + 630; t <= t0 + 1140; t += 30) fixes.push_back(MakeFix("v", t, At(3, 12)));
  auto run = Feed(tr, fixes);
  EXPECT_EQ(run.matches[3].trip, *net->FindTrip("RT"));
  EXPECT_EQ(run.matches.back().trip, *net->FindTrip("RT2"));
  EXPECT_EQ(run.matches.back().state, MatchState::kLayover);
  EXPECT_EQ(tr.stats().block_transitions, 1);
}

// Without trip_id: two trips 15 minutes apart from the same stop. The bus stands at the first
// stop from 10 minutes before the first departure until 10 minutes after it, then leaves (5
// minutes early for the second trip): it runs the second trip -- a bus late for the first
// would have left once it was ready.
TEST(TrackerTrips, BusStandingThroughADepartureLeavesOnTheNextTripEarly) {
  const TwoTrips w = TwoTripsFromOneStop();
  ASSERT_TRUE(w.net);
  Tracker tr(w.net);
  std::vector<Fix> fixes;
  for (int64_t t = w.t_first - 600; t <= w.t_first + 600; t += 60)
    fixes.push_back(MakeFix("v", t, At(2, -3)));
  for (int i = 1; i <= 20; ++i)
    fixes.push_back(MakeFix("v", w.t_first + 600 + 20 * i, At(8.0 * 20 * i, 1)));
  auto run = Feed(tr, fixes);
  EXPECT_EQ(run.matches.back().state, MatchState::kInService);
  EXPECT_EQ(run.matches.back().trip, *w.net->FindTrip("SECOND"));
}

// Without trip_id: a bus seen running FIRST from 1.3 km to 3.2 km along it, when its fixes jump
// back to the first stop (its AVL unit reappears there, e.g. after an unseen deadhead) and stay
// there: once the jump is accepted (re-anchored), it is no longer "running" a trip at its first
// stop but waits there, in layover, for SECOND. (The old code kept the run started: the joint
// assignment moved it to SECOND at its first stop, "in service" while it waited.)
TEST(TrackerTrips, BusReanchoredAtTheFirstStopWaitsForTheNextTrip) {
  const TwoTrips w = TwoTripsFromOneStop();
  ASSERT_TRUE(w.net);
  Tracker tr(w.net);
  std::vector<Fix> fixes;
  for (int i = 8; i <= 20; ++i)  // first seen 1.3 km along (its departure was not seen)
    fixes.push_back(MakeFix("v", w.t_first + 20 * i, At(8.0 * 20 * i, 1)));
  auto running = Feed(tr, fixes);
  ASSERT_EQ(running.matches.back().state, MatchState::kInService);
  ASSERT_EQ(running.matches.back().trip, *w.net->FindTrip("FIRST"));
  fixes.clear();
  for (int64_t t = w.t_first + 410; t <= w.t_first + 840; t += 10)
    fixes.push_back(MakeFix("v", t, At(2, -3)));
  auto waiting = Feed(tr, fixes);
  EXPECT_EQ(tr.stats().reanchors, 1);
  EXPECT_EQ(waiting.matches.back().state, MatchState::kLayover);
  EXPECT_EQ(waiting.matches.back().trip, *w.net->FindTrip("SECOND"));
}

// With trip_id given, a bus 5 km from its trip's shape for a while is a clear mismatch.
TEST(TrackerTrips, WrongTripIdIsNoticed) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  std::vector<Fix> fixes;
  for (int i = 0; i < 10; ++i) fixes.push_back(MakeFix("v", t + 30 * i, At(5000 + 50.0 * i, 4000), "RT"));
  auto r = Feed(tr, fixes);
  EXPECT_EQ(tr.stats().trip_id_mismatches, 1);
  EXPECT_EQ(r.matches.back().state, MatchState::kOffRoute);
}

// ---- Trip inference on shared streets (no trip_id) -------------------------------------------

// A hub H on an east-west street: THRU runs W -> H -> E stopping every 500 m (at H at 09:50);
// LOC starts at H (10:02) and serves the same stops east; EXP starts at H too (10:12) but runs
// express: east 1500 m without a stop, then north 2 km (stops N1, N2). All share H.
struct SharedStreet {
  std::shared_ptr<const Network> net;
  int32_t date = 20260302;  // a Monday
  int64_t day_start_s = 0;
  TripIdx thru, loc, exp;
};

SharedStreet MakeSharedStreet() {
  testing::FeedBuilder b;
  b.AddShape("ST", {At(-2000, 0), At(3000, 0)});
  b.AddShape("SL", {At(0, 0), At(3000, 0)});
  b.AddShape("SE", {At(0, 0), At(1500, 0), At(1500, 2000)});
  std::vector<std::string> thru, loc;
  for (int i = -4; i <= 6; ++i) {
    std::string id = i == 0 ? "H" : "s" + std::to_string(i);
    b.AddStop(id, At(500.0 * i, -6));
    thru.push_back(id);
    if (i >= 0) loc.push_back(id);
  }
  b.AddStop("N1", At(1506, 1000));
  b.AddStop("N2", At(1506, 2000));
  SharedStreet r;
  r.thru = b.AddTrip("THRU", thru, 9 * 3600 + 46 * 60, 60, "ST");
  r.loc = b.AddTrip("LOC", loc, 10 * 3600 + 2 * 60, 60, "SL");
  r.exp = b.AddTrip("EXP", {"H", "N1", "N2"}, 10 * 3600 + 12 * 60, 180, "SE");
  r.net = b.Build();
  if (r.net) r.day_start_s = absl::ToUnixSeconds(r.net->ServiceDayStart(r.date));
  return r;
}

// A fix moving at speed_mps with bearing_deg (the simulator and most AVL feeds report both).
Fix MovingFix(const std::string& v, int64_t t, double x, double y, double bearing_deg,
              double speed_mps) {
  Fix f = MakeFix(v, t, At(x, y));
  f.bearing_deg = static_cast<float>(bearing_deg);
  f.speed_mps = static_cast<float>(speed_mps);
  return f;
}

// First seen standing at H when THRU is due there, the bus looks like THRU mid-route. But it
// stands there 20 minutes: a bus does not stand that long mid-route past its scheduled time,
// it is waiting for a trip that starts at H (layover). It then leaves at 10:12 along the street
// LOC and EXP share: the departure time, not the geometry (the same so far), says EXP -- before
// the shapes part at 1500 m.
TEST(TrackerTrips, BusStandingAtAHubWaitsForATripStartingThere) {
  SharedStreet w = MakeSharedStreet();
  Tracker tr(w.net);
  const int64_t t0 = w.day_start_s + 9 * 3600 + 50 * 60;
  const int64_t dep = w.day_start_s + 10 * 3600 + 12 * 60;
  std::vector<Fix> fixes;
  for (int64_t t = t0; t < dep; t += 20) fixes.push_back(MovingFix("v", t, 2, -3, 90, 0));
  size_t n_wait = fixes.size();
  size_t at_1000 = 0;
  for (int i = 1; i * 80 <= 3600; ++i) {  // 8 m/s, a fix every 10 s, to the end of EXP
    double s = std::min(80.0 * i, 3500.0);
    if (s <= 1500) {
      if (at_1000 == 0 && s >= 1000) at_1000 = fixes.size();
      fixes.push_back(MovingFix("v", dep + 10 * i, s, 0, 90, 8));
    } else {
      fixes.push_back(MovingFix("v", dep + 10 * i, 1500, s - 1500, 0, 8));
    }
  }
  auto r = Feed(tr, fixes);
  EXPECT_EQ(r.matches[0].trip, w.thru);  // what it looks like at first sight
  // Ten minutes later (standing since 09:50): in layover on a trip that starts at H.
  const MatchResult& waiting = r.matches[30];
  EXPECT_NE(waiting.trip, w.thru);
  EXPECT_TRUE(waiting.trip == w.loc || waiting.trip == w.exp);
  EXPECT_EQ(waiting.state, MatchState::kLayover);
  EXPECT_EQ(r.matches[n_wait - 1].state, MatchState::kLayover);
  // On the shared street, 1000 m out: EXP, in service.
  ASSERT_GT(at_1000, 0u);
  EXPECT_EQ(r.matches[at_1000].trip, w.exp);
  EXPECT_EQ(r.matches[at_1000].state, MatchState::kInService);
  EXPECT_NEAR(r.matches[at_1000].dist_along_m, 1000, 60);
  // EXP's visits: H (left at 10:12), N1, N2; no visit of THRU or LOC.
  std::vector<uint32_t> exp_stops;
  for (const StopVisit& v : r.visits) {
    EXPECT_EQ(v.trip, w.exp);
    if (v.trip == w.exp) exp_stops.push_back(v.stop_index);
  }
  EXPECT_EQ(exp_stops, (std::vector<uint32_t>{0, 1, 2}));
  if (!r.visits.empty()) {
    EXPECT_NEAR(r.visits[0].departure_s, static_cast<double>(dep), 30);
  }
}

// A bus followed on THRU for ten minutes and 3 km (so its trip is confirmed) turns off THRU's
// street for good (onto EXP's). A detour would come back; after five minutes away the
// confirmation is taken back and the trip inferred again.
TEST(TrackerTrips, ConfirmedTripIsDroppedWhenTheBusLeavesItsShapeForGood) {
  SharedStreet w = MakeSharedStreet();
  Tracker tr(w.net);
  const int64_t t0 = w.day_start_s + 9 * 3600 + 44 * 60;
  const int64_t dep = w.day_start_s + 9 * 3600 + 46 * 60;
  std::vector<Fix> fixes;
  for (int64_t t = t0; t < dep; t += 20) fixes.push_back(MovingFix("v", t, -1998, -3, 90, 0));
  size_t before_turn = 0;
  for (int i = 1; i * 40 <= 4700; ++i) {  // 4 m/s, a fix every 10 s
    double s = 40.0 * i;
    if (s <= 3500) {
      before_turn = fixes.size();
      fixes.push_back(MovingFix("v", dep + 10 * i, s - 2000, 0, 90, 4));
    } else {
      fixes.push_back(MovingFix("v", dep + 10 * i, 1500, s - 3500, 0, 4));
    }
  }
  for (int64_t t = fixes.back().timestamp_s + 20; t < dep + 1800; t += 20)
    fixes.push_back(MovingFix("v", t, 1500, 1200, 0, 0));
  auto r = Feed(tr, fixes);
  EXPECT_EQ(r.matches[before_turn].trip, w.thru);
  EXPECT_EQ(r.matches[before_turn].state, MatchState::kInService);
  EXPECT_NE(r.matches.back().trip, w.thru);
  EXPECT_EQ(r.matches.back().trip, w.exp);  // the only trip on that street
  // Not before it has been away five minutes (a detour keeps the trip).
  size_t dropped = before_turn;
  while (dropped < r.matches.size() && r.matches[dropped].trip == w.thru) ++dropped;
  ASSERT_LT(dropped, r.matches.size());
  EXPECT_GE(fixes[dropped].timestamp_s - fixes[before_turn].timestamp_s, 300);
}

// Two buses, no trip_id: A stands at H from 09:49, so at first sight it looks like THRU
// (due at H at 09:50). B is then seen running along THRU's street west of H. A bus standing
// mid-route holds its trip only weakly: B takes THRU, and A, whose trip was taken, looks again
// at once (not after standing 5 minutes): it is waiting for LOC at H.
TEST(TrackerTrips, RunningBusTakesTheTripOfABusStandingMidRoute) {
  SharedStreet w = MakeSharedStreet();
  Tracker tr(w.net);
  const int64_t t0 = w.day_start_s + 9 * 3600 + 49 * 60;
  std::vector<Fix> fixes;
  std::vector<bool> is_a;
  for (int64_t t = t0; t <= t0 + 240; t += 10) {
    fixes.push_back(MovingFix("A", t, 2, -3, 90, 0));
    is_a.push_back(true);
    if (t >= t0 + 100) {  // B from 09:50:40, 6 m/s from x = -1000
      fixes.push_back(MovingFix("B", t + 1, -1000 + 6.0 * (t - t0 - 100), 0, 90, 6));
      is_a.push_back(false);
    }
  }
  auto r = Feed(tr, fixes);
  EXPECT_EQ(r.matches[0].trip, w.thru);  // A at first sight
  size_t b_first = 0;
  while (is_a[b_first]) ++b_first;
  EXPECT_EQ(r.matches[b_first].trip, w.thru);
  // Within a minute of B's arrival (A has stood less than 5 minutes): A is off THRU.
  size_t a_after = b_first;
  for (size_t i = b_first; i < fixes.size(); ++i) {
    if (is_a[i] && fixes[i].timestamp_s < fixes[b_first].timestamp_s + 60) a_after = i;
  }
  EXPECT_NE(r.matches[a_after].trip, w.thru);
  EXPECT_EQ(r.matches[a_after].trip, w.loc);
  EXPECT_EQ(r.matches[a_after].state, MatchState::kLayover);
  EXPECT_EQ(r.matches.back().trip, w.thru);  // B's last fix
  EXPECT_EQ(r.matches.back().state, MatchState::kInService);
}

// Both directions of one street, 3 km, a stop every 500 m: EAST on the south kerb (y = 0),
// WEST on the north kerb (y = 12 m; with 8 m GPS noise the kerbs overlap). A bus crawling west
// in a jam (1.5 m/s: too slow for its reported bearing to count), first seen mid-street when
// EAST is due there (WEST is 3 minutes late there): at first sight it can be EAST, but it is
// going the other way -- it must not creep backwards along EAST (30 m per fix is within the
// GPS back tolerance): its direction of travel says WEST.
TEST(TrackerTrips, SlowBusGetsTheDirectionItTravels) {
  testing::FeedBuilder b;
  b.AddShape("E", {At(0, 0), At(3000, 0)});
  b.AddShape("W", {At(3000, 12), At(0, 12)});
  std::vector<std::string> east, west;
  for (int i = 0; i <= 6; ++i) {
    b.AddStop("e" + std::to_string(i), At(500.0 * i, -6));
    b.AddStop("w" + std::to_string(i), At(3000 - 500.0 * i, 18));
    east.push_back("e" + std::to_string(i));
    west.push_back("w" + std::to_string(i));
  }
  // At x = 1500 EAST is due at 10:03, WEST at 09:57 (so a bus there at 10:00 is 3 min late).
  TripIdx e = b.AddTrip("EAST", east, 10 * 3600, 60, "E");
  TripIdx w = b.AddTrip("WEST", west, 9 * 3600 + 54 * 60, 60, "W", "S", 1);
  auto net = b.Build();
  ASSERT_NE(net, nullptr);
  Tracker tr(net);
  const int64_t t0 = absl::ToUnixSeconds(net->ServiceDayStart(20260302)) + 10 * 3600 + 3 * 60;
  std::vector<Fix> fixes;
  for (int i = 0; i < 30; ++i)
    fixes.push_back(MovingFix("v", t0 + 20 * i, 1500 - 30.0 * i, 6, 270, 1.5));
  auto r = Feed(tr, fixes);
  EXPECT_EQ(r.matches[0].trip, e);  // by the schedule, at first sight
  for (size_t i = 10; i < r.matches.size(); ++i) {
    EXPECT_EQ(r.matches[i].trip, w) << i;
    EXPECT_EQ(r.matches[i].state, MatchState::kInService) << i;
  }
  EXPECT_NEAR(r.matches.back().dist_along_m, 1500 + 29 * 30.0, 30);
}

// Sparse fixes (every 2 minutes): stops passed between two fixes still get visits, with times
// interpolated along the route.
TEST(TrackerVisits, SparseFixesInterpolateSkippedStops) {
  OutAndBack w = MakeOutAndBack();
  Tracker tr(w.net);
  int64_t t = w.day_start_s + OutAndBack::kOutStart;
  const Polyline& poly = w.net->trip_polyline(*w.net->FindTrip("RT"));
  std::vector<Fix> fixes;
  // 5 m/s constant, a fix every 120 s (600 m).
  for (int i = 0; i * 600.0 <= poly.length_m() + 600; ++i) {
    double d = std::min(600.0 * i, poly.length_m());
    fixes.push_back(MakeFix("v", t + static_cast<int64_t>(std::lround(d / 5.0)),
                            w.net->projection().Reverse(poly.PointAt(d)), "RT"));
  }
  auto r = Feed(tr, fixes);
  ASSERT_EQ(r.visits.size(), 11u);
  const Pattern& pat = w.net->pattern(w.net->trip_pattern(*w.net->FindTrip("RT")));
  for (const StopVisit& v : r.visits) {
    if (v.stop_index == 0) continue;
    // The last stop counts as reached end_radius_m (40 m) before it.
    double x = pat.stop_dist_m[v.stop_index] - (v.stop_index == 10 ? 40 : 0);
    double expect = t + x / 5.0;
    EXPECT_NEAR(v.arrival_s, expect, 8) << "stop " << v.stop_index;
    EXPECT_GE(v.departure_s, v.arrival_s);
    EXPECT_EQ(v.service_date, w.date);
    EXPECT_EQ(v.scheduled_arrival_s, w.day_start_s + OutAndBack::kOutStart +
                                         static_cast<int64_t>(v.stop_index) * OutAndBack::kStep);
  }
}

}  // namespace
}  // namespace smartbus
