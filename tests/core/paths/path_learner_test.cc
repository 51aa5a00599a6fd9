// PathLearner: the fit on synthetic roads (a bend far from the chord, a loop, outliers, a hole)
// and, end to end, the demo city simulated along its real shapes and tracked without them.

#include "services/core/paths/path_learner.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "gtest/gtest.h"
#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/paths/shapes_export.h"
#include "services/core/sim/demo_city.h"
#include "services/core/sim/simulator.h"
#include "services/files/feed_files.h"

namespace smartbus {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Distance from p to a polyline.
double DistTo(Vec2 p, const std::vector<Vec2>& line) {
  double best = INFINITY;
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const Vec2 ab = line[i + 1] - line[i];
    const double l2 = Dot(ab, ab);
    const double u = l2 > 0 ? std::clamp(Dot(p - line[i], ab) / l2, 0.0, 1.0) : 0;
    best = std::min(best, Dist(p, line[i] + ab * u));
  }
  return best;
}

// Points every `step` m along a polyline, the first `first` m along it.
std::vector<Vec2> Resample(const std::vector<Vec2>& line, double step, double first = 0) {
  std::vector<Vec2> out;
  double at = 0, next = first;
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const double len = Dist(line[i], line[i + 1]);
    for (; next <= at + len; next += step)
      out.push_back(line[i] + (line[i + 1] - line[i]) * (len > 0 ? (next - at) / len : 0));
    at += len;
  }
  if (first == 0) out.push_back(line.back());
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? NAN : v[v.size() / 2];
}

// Samples of buses driving `road` (stops at road vertices `stop_at`), `runs` runs, a fix every
// `every_m` with a random phase, GPS noise sigma_m; the chord distance is the projection on the
// stop-to-stop chord (what the tracker reports on a shapeless path), within the stop segment
// the bus is on.
std::vector<std::pair<float, Vec2>> Drive(const std::vector<Vec2>& road,
                                          const std::vector<size_t>& stop_at, int runs,
                                          double every_m, double sigma_m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, sigma_m);
  std::uniform_real_distribution<double> phase(0, every_m);
  std::vector<std::pair<float, Vec2>> out;
  double chord_before = 0;
  for (size_t k = 0; k + 1 < stop_at.size(); ++k) {
    const Vec2 a = road[stop_at[k]], b = road[stop_at[k + 1]];
    const double clen = Dist(a, b);
    std::vector<Vec2> part(road.begin() + stop_at[k], road.begin() + stop_at[k + 1] + 1);
    for (int r = 0; r < runs; ++r) {
      for (const Vec2& p : Resample(part, every_m, phase(rng))) {
        const Vec2 q = p + Vec2{noise(rng), noise(rng)};
        const double u = clen > 0 ? std::clamp(Dot(p - a, b - a) / (clen * clen), 0.0, 1.0) : 0;
        out.push_back({static_cast<float>(chord_before + u * clen), q});
      }
    }
    chord_before += clen;
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<Vec2> StopsOf(const std::vector<Vec2>& road, const std::vector<size_t>& stop_at) {
  std::vector<Vec2> s;
  for (size_t i : stop_at) s.push_back(road[i]);
  return s;
}

// Two stops 2 km apart; the road leaves the straight line by 300 m (a detour north).
TEST(FitPath, ARoadBendingFarFromTheChordIsLearned) {
  const std::vector<Vec2> road = {{0, 0}, {0, 300}, {2000, 300}, {2000, 0}};
  const std::vector<size_t> stop_at = {0, 3};
  PathFit fit = FitPath(StopsOf(road, stop_at), Drive(road, stop_at, 20, 40, 4, 1), {});
  ASSERT_GE(fit.points.size(), 4u);
  std::vector<double> d;
  for (const Vec2& p : Resample(fit.points, 5)) d.push_back(DistTo(p, road));
  EXPECT_LT(Median(d), 3.0);
  std::vector<double> back;
  for (const Vec2& p : Resample(road, 5)) back.push_back(DistTo(p, fit.points));
  EXPECT_LT(*std::max_element(back.begin(), back.end()), 15.0) << "the detour is cut";
  EXPECT_GT(fit.coverage, 0.95);
  EXPECT_EQ(fit.longest_hole_m, 0);
}

// A circular route whose first and last stop are the same: the samples of the last stretch must
// not be taken for the first (they are projected between the stops that bracket them).
TEST(FitPath, ALoopIsLearnedWholeWithoutMixingItsEnds) {
  std::vector<Vec2> road;
  for (int i = 0; i <= 72; ++i)
    road.push_back({500 * std::sin(2 * kPi * i / 72), -500 * std::cos(2 * kPi * i / 72)});
  const std::vector<size_t> stop_at = {0, 18, 36, 54, 72};
  PathFit fit = FitPath(StopsOf(road, stop_at), Drive(road, stop_at, 15, 40, 4, 2), {});
  double len = 0;
  for (size_t i = 0; i + 1 < fit.points.size(); ++i) len += Dist(fit.points[i], fit.points[i + 1]);
  EXPECT_NEAR(len, 2 * kPi * 500, 0.05 * 2 * kPi * 500);
  std::vector<double> back;
  for (const Vec2& p : Resample(road, 5)) back.push_back(DistTo(p, fit.points));
  EXPECT_LT(*std::max_element(back.begin(), back.end()), 15.0);
}

// A tenth of the fixes 100 m off (multipath): the median centres ignore them.
TEST(FitPath, OutliersDoNotPullThePath) {
  const std::vector<Vec2> road = {{0, 0}, {1000, 0}, {1000, 1000}};
  const std::vector<size_t> stop_at = {0, 1, 2};
  auto samples = Drive(road, stop_at, 20, 40, 4, 3);
  for (size_t i = 0; i < samples.size(); i += 10) samples[i].second = samples[i].second + Vec2{0, 100};
  PathFit fit = FitPath(StopsOf(road, stop_at), samples, {});
  std::vector<double> d;
  for (const Vec2& p : Resample(fit.points, 5)) d.push_back(DistTo(p, road));
  EXPECT_LT(*std::max_element(d.begin(), d.end()), 12.0);
}

// No bus reported along 300 m in the middle: a hole, measured (the confidence rule uses it).
TEST(FitPath, AStretchWithoutFixesIsAHole) {
  const std::vector<Vec2> road = {{0, 0}, {2000, 0}};
  const std::vector<size_t> stop_at = {0, 1};
  auto samples = Drive(road, stop_at, 20, 40, 4, 4);
  samples.erase(std::remove_if(samples.begin(), samples.end(),
                               [](const auto& s) { return s.second.x > 800 && s.second.x < 1100; }),
                samples.end());
  PathFit fit = FitPath(StopsOf(road, stop_at), samples, {});
  EXPECT_GT(fit.longest_hole_m, 150);
  EXPECT_LT(fit.coverage, 0.95);
  EXPECT_TRUE(FitPath(StopsOf(road, stop_at), {}, {}).points.empty());
}

// ---- End to end on the demo city ----

constexpr int32_t kMonday = 20261123;

std::shared_ptr<const Network> DemoCity(bool shapes) {
  auto feed = LoadGtfs({std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"});
  if (!feed.ok()) return nullptr;
  if (!shapes)
    for (GtfsTrip& t : feed->trips) t.shape = kNoIndex;
  auto n = Network::Build(std::move(*feed));
  return n.ok() ? *n : nullptr;
}

// The fixes of 06:00-12:00 simulated along the real shapes, every 60 s.
std::vector<Fix> Morning(const std::shared_ptr<const Network>& real) {
  SimOptions o;
  o.service_date = kMonday;
  o.fix_interval_s = 60;
  o.report_passengers = false;
  auto sim = FleetSimulator::Create(real, o);
  std::vector<Fix> out;
  if (!sim.ok()) return out;
  const int64_t day = absl::ToUnixSeconds(real->ServiceDayStart(kMonday));
  std::vector<SimFix> fixes;
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 6 * 3600 - 1), nullptr, nullptr);
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 12 * 3600), &fixes, nullptr);
  for (const SimFix& f : fixes) out.push_back(f.fix);
  return out;
}

class DemoCityPaths : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    real_ = DemoCity(true);
    shapeless_ = DemoCity(false);
    if (!real_ || !shapeless_) return;
    learner_ = new PathLearner(shapeless_);
    Engine engine(shapeless_);
    PathListener listener(std::shared_ptr<PathLearner>(learner_, [](PathLearner*) {}));
    engine.AddListener(&listener);
    for (const Fix& f : Morning(real_)) engine.Process(f);
  }
  static void TearDownTestSuite() { delete learner_; }
  void SetUp() override {
    if (!learner_) GTEST_SKIP() << "data/demo-city did not load";
  }
  // The pattern of route "1" direction 0 in the shapeless network, and its real shape.
  static uint32_t Route1() {
    const uint32_t r = *shapeless_->FindRoute("1");
    for (uint32_t p : shapeless_->route_patterns(r))
      if (shapeless_->pattern(p).direction_id == 0) return p;
    return kNoIndex;
  }
  static std::shared_ptr<const Network> real_, shapeless_;
  static PathLearner* learner_;
};
std::shared_ptr<const Network> DemoCityPaths::real_, DemoCityPaths::shapeless_;
PathLearner* DemoCityPaths::learner_ = nullptr;

TEST_F(DemoCityPaths, LearnedPathIsOnTheRealShape) {
  const uint32_t p = Route1();
  ASSERT_NE(p, kNoIndex);
  LearnedPath path = learner_->Build(p);
  EXPECT_TRUE(path.confident) << "coverage " << path.coverage << " hole " << path.longest_hole_m;
  EXPECT_GE(path.traversals, 10);
  const TripIdx trip = shapeless_->pattern(p).trips[0];
  const Polyline& shape = real_->trip_polyline(trip);
  const LocalProjection& proj = shapeless_->projection();
  std::vector<Vec2> real_xy;
  for (const Vec2& v : shape.points()) real_xy.push_back(proj.Forward(real_->projection().Reverse(v)));
  std::vector<Vec2> learned;
  for (const LatLon& ll : path.points) learned.push_back(proj.Forward(ll));
  std::vector<double> d;
  for (const Vec2& q : Resample(learned, 5)) d.push_back(DistTo(q, real_xy));
  // The issue asks for 15 m; the stop-to-stop chord is already ~8 m off (the stops stand at the
  // kerb), so the learned path must do clearly better than that.
  EXPECT_LT(Median(d), 4.0);
}

TEST_F(DemoCityPaths, OnlyShapelessPatternsAreLearned) {
  EXPECT_TRUE(learner_->Learns(Route1()));
  PathLearner shaped(real_);
  for (uint32_t p = 0; p < real_->patterns().size(); ++p) EXPECT_FALSE(shaped.Learns(p));
}

TEST_F(DemoCityPaths, RejectedFixesAreNotSamples) {
  auto learner = std::make_shared<PathLearner>(shapeless_);
  PathLearner& fresh = *learner;
  PathListener listener(learner);
  const uint32_t p = Route1();
  VehicleState s;
  s.vehicle_id = "bus";
  s.state = MatchState::kInService;
  s.trip = shapeless_->pattern(p).trips[0];
  s.dist_along_m = 100;
  s.pos = shapeless_->feed().stops[shapeless_->pattern(p).stops[0]].pos;
  MatchResult m;
  m.state = MatchState::kRejected;
  listener.OnMatch(m);
  listener.OnVehicleUpdate(s);
  EXPECT_TRUE(fresh.Build(p).samples.empty());
  m.state = MatchState::kInService;
  listener.OnMatch(m);
  listener.OnVehicleUpdate(s);
  EXPECT_EQ(fresh.Build(p).samples.size(), 1u);
  EXPECT_EQ(fresh.Build(p).traversals, 1);
  listener.OnVehicleUpdate(s);
  EXPECT_EQ(fresh.Build(p).traversals, 1) << "one run per (vehicle, trip, date)";
  s.state = MatchState::kLayover;
  listener.OnVehicleUpdate(s);
  EXPECT_EQ(fresh.Build(p).samples.size(), 2u) << "only in-service fixes are samples";
}

// What the store keeps (Build) restores the same evidence, hence the same path.
TEST_F(DemoCityPaths, RestoredEvidenceGivesTheSamePath) {
  const uint32_t p = Route1();
  LearnedPath saved = learner_->Build(p);
  PathLearner restored(shapeless_);
  ASSERT_TRUE(restored.Restore(saved).ok());
  LearnedPath again = restored.Build(p);
  EXPECT_EQ(again.traversals, saved.traversals);
  EXPECT_EQ(again.samples.size(), saved.samples.size());
  ASSERT_EQ(again.points.size(), saved.points.size());
  for (size_t i = 0; i < again.points.size(); ++i)
    EXPECT_NEAR(again.points[i].lat, saved.points[i].lat, 1e-7);
  LearnedPath other = saved;
  other.key = "nope|0|0";
  EXPECT_EQ(restored.Restore(other).code(), absl::StatusCode::kNotFound);
  other = saved;
  other.bin_seen.push_back(1);
  EXPECT_EQ(restored.Restore(other).code(), absl::StatusCode::kInvalidArgument);
}

// Once the network draws the pattern along its learned path (NetworkOptions::learned_paths),
// the tracker's distances are along that path: the learner maps them back to the chord, so the
// same fixes give the same evidence and the path stays on the road.
TEST_F(DemoCityPaths, LearningGoesOnWhenTheNetworkDrawsTheLearnedPath) {
  NetworkOptions o;
  for (const LearnedPath& path : learner_->BuildAll())
    if (path.confident) o.learned_paths[path.key] = path.points;
  ASSERT_FALSE(o.learned_paths.empty());
  auto feed = LoadGtfs({std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"});
  ASSERT_TRUE(feed.ok());
  for (GtfsTrip& t : feed->trips) t.shape = kNoIndex;
  auto drawn = Network::Build(std::move(*feed), o);
  ASSERT_TRUE(drawn.ok());
  EXPECT_EQ((*drawn)->learned_path_patterns(), static_cast<int>(o.learned_paths.size()));
  auto again = std::make_shared<PathLearner>(*drawn);
  Engine engine(*drawn);
  PathListener listener(again);
  engine.AddListener(&listener);
  for (const Fix& f : Morning(real_)) engine.Process(f);
  const uint32_t p = Route1();
  ASSERT_TRUE((*drawn)->pattern(p).learned_path);
  LearnedPath before = learner_->Build(p), after = again->Build(p);
  EXPECT_NEAR(static_cast<double>(after.samples.size()), static_cast<double>(before.samples.size()),
              0.1 * before.samples.size());
  // Fix by fix (a sample both kept): the chord distances agree.
  std::map<std::pair<double, double>, float> chord_of;
  for (const PathSample& x : before.samples) chord_of[{x.pos.lat, x.pos.lon}] = x.chord_m;
  std::vector<double> chord_diff;
  for (const PathSample& x : after.samples) {
    auto it = chord_of.find({x.pos.lat, x.pos.lon});
    if (it != chord_of.end()) chord_diff.push_back(std::abs(it->second - x.chord_m));
  }
  ASSERT_GT(chord_diff.size(), before.samples.size() / 2);
  EXPECT_LT(Median(chord_diff), 5.0);
  EXPECT_TRUE(after.confident);
  std::vector<double> d;
  const LocalProjection& proj = shapeless_->projection();
  std::vector<Vec2> real_xy;
  for (const Vec2& v : real_->trip_polyline(shapeless_->pattern(p).trips[0]).points())
    real_xy.push_back(proj.Forward(real_->projection().Reverse(v)));
  std::vector<Vec2> learned;
  for (const LatLon& ll : after.points) learned.push_back(proj.Forward(ll));
  for (const Vec2& q : Resample(learned, 5)) d.push_back(DistTo(q, real_xy));
  EXPECT_LT(Median(d), 4.0);
  // The evidence of both networks is interchangeable (same keys, same bins).
  EXPECT_TRUE(again->Restore(before).ok());
}

// The exported feed loads, and the trips of the learned pattern carry the learned shape.
TEST_F(DemoCityPaths, ExportedFeedLoadsWithTheLearnedShapes) {
  const uint32_t p = Route1();
  LearnedPath path = learner_->Build(p);
  const MemoryFeedSource demo_city = MemoryFeedSource::FromFiles("demo-city", DemoCityFeed());
  auto files = FeedWithLearnedShapes(demo_city, *shapeless_, {path});
  ASSERT_TRUE(files.ok()) << files.status();
  const MemoryFeedSource exported = MemoryFeedSource::FromFiles("learned-feed", *files);
  auto feed = LoadGtfs({&exported});
  ASSERT_TRUE(feed.ok()) << feed.status();
  const TripIdx trip = *shapeless_->FindTrip(shapeless_->feed().trips[shapeless_->pattern(p).trips[0]].id);
  const GtfsTrip& t = feed->trips[feed->trip_index.at(shapeless_->feed().trips[trip].id)];
  ASSERT_NE(t.shape, kNoIndex);
  EXPECT_EQ(feed->shapes[t.shape].id, LearnedShapeId(path));
  EXPECT_EQ(feed->shapes[t.shape].points.size(), path.points.size());
  LearnedPath bad = path;
  bad.key = "nope|0|0";
  EXPECT_FALSE(FeedWithLearnedShapes(demo_city, *shapeless_, {bad}).ok());
}

}  // namespace
}  // namespace smartbus
