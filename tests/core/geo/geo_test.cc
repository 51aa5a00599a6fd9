#include "services/core/geo/geo.h"

#include <cmath>
#include <memory>
#include <random>

#include "gtest/gtest.h"

namespace smartbus {
namespace {

const LocalProjection kProj({38.9, -77.03});

// A straight street 1 km due east of the origin.
Polyline EastStreet() {
  LatLon a{38.9, -77.03};
  Vec2 end{1000, 0};
  return Polyline({a, kProj.Reverse(end)}, kProj);
}

TEST(LocalProjection, RoundTripsWithinACentimetre) {
  LatLon p{38.95, -77.1};
  LatLon q = kProj.Reverse(kProj.Forward(p));
  EXPECT_NEAR(q.lat, p.lat, 1e-7);  // ~1 cm: the plane drops the height
  EXPECT_NEAR(q.lon, p.lon, 1e-7);
}

TEST(Polyline, LengthIsGeodesic) {
  Polyline line = EastStreet();
  LatLon a = kProj.Reverse({0, 0}), b = kProj.Reverse({1000, 0});
  EXPECT_NEAR(line.length_m(), GeodesicDistanceM(a, b), 1e-6);
  EXPECT_NEAR(line.length_m(), 1000, 0.5);
}

TEST(Polyline, ProjectsOntoNearestPointWithinRange) {
  Polyline line = EastStreet();
  PolylinePoint p = line.Project({400, 30});
  EXPECT_NEAR(p.dist_along_m, 400, 0.5);
  EXPECT_NEAR(p.offset_m, 30, 0.01);
  PolylinePoint q = line.Project({400, 30}, 600, 900);
  EXPECT_NEAR(q.dist_along_m, 600, 0.5);
}

// An out-and-back street: east 500 m, then back west 15 m further north.
TEST(Polyline, CandidatesGivesOnePerPassOnOutAndBack) {
  std::vector<LatLon> pts = {kProj.Reverse({0, 0}), kProj.Reverse({500, 0}),
                             kProj.Reverse({500, 15}), kProj.Reverse({0, 15})};
  Polyline line(pts, kProj);
  std::vector<PolylinePoint> c;
  line.Candidates({200, 7}, 50, &c);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_NEAR(c[0].dist_along_m, 200, 1);
  EXPECT_NEAR(c[1].dist_along_m, 500 + 15 + 300, 1);
}

// A dead-end street driven out and straight back on the same line: the two passes touch at
// the turnaround, so the segments near a point form one run; both passes must still be found.
TEST(Polyline, CandidatesSplitsAPassThatTurnsBack) {
  std::vector<LatLon> pts = {kProj.Reverse({0, 0}), kProj.Reverse({500, 0}),
                             kProj.Reverse({0, 0.5})};
  Polyline line(pts, kProj);
  std::vector<PolylinePoint> c;
  line.Candidates({450, 6}, 100, &c);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_NEAR(c[0].dist_along_m, 450, 1);
  EXPECT_NEAR(c[1].dist_along_m, 550, 1);
  // At the turnaround itself there is a single pass.
  line.Candidates({505, 0}, 100, &c);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[0].dist_along_m, 500, 1);
}

// A shape ending at a point near p and starting elsewhere: the end vertex is a candidate.
TEST(Polyline, CandidatesIncludesPolylineEnds) {
  std::vector<LatLon> pts = {kProj.Reverse({0, 0}), kProj.Reverse({0, 300}),
                             kProj.Reverse({300, 300}), kProj.Reverse({300, 10})};
  Polyline line(pts, kProj);
  std::vector<PolylinePoint> c;
  line.Candidates({310, 0}, 50, &c);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[0].dist_along_m, line.length_m(), 1);
  line.Candidates({-10, -5}, 50, &c);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[0].dist_along_m, 0, 1e-6);
}

// A shape traced by GPS wiggles by a metre around the street: one pass, one candidate.
TEST(Polyline, CandidatesIgnoresWigglesOfATracedShape) {
  std::vector<LatLon> pts;
  for (int i = 0; i <= 20; ++i) pts.push_back(kProj.Reverse({i * 10.0, (i % 2) ? 1.0 : -1.0}));
  Polyline line(pts, kProj);
  std::vector<PolylinePoint> c;
  line.Candidates({100, 8}, 50, &c);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[0].dist_along_m, 100, 12);
}

TEST(Polyline, RepeatedPointsAreHarmless) {
  std::vector<LatLon> pts = {kProj.Reverse({0, 0}), kProj.Reverse({100, 0}),
                             kProj.Reverse({100, 0}), kProj.Reverse({200, 0})};
  Polyline line(pts, kProj);
  EXPECT_NEAR(line.length_m(), 200, 0.2);
  EXPECT_NEAR(line.PointAt(150).x, 150, 0.2);
  EXPECT_NEAR(line.DirectionAt(100).x, 1, 1e-9);
}

// The learned chord bends: a length class follows the 90 % quantile of its traversals once it
// has enough of them, never below the floor; other lengths keep the floor.
TEST(ChordSlackModel, AClassFollowsItsTraversalsOnceItHasEnough) {
  ChordSlackModel m(0.2);
  const int n = ChordSlackModel::kMinTraversals;
  for (int i = 0; i < n - 1; ++i) m.Add(5000, 5000 * (i < 2 ? 0.40 : 0.25));
  EXPECT_DOUBLE_EQ(m.share(5000), 0.2f) << "too few traversals: the floor";
  m.Add(5000, 1250);
  EXPECT_NEAR(m.share(5000), 0.25, 1e-6) << "p90 of 18 x 0.25 and 2 x 0.40";
  EXPECT_NEAR(m.share(7900), 0.25, 1e-6) << "the same length class (4-8 km)";
  EXPECT_NEAR(m.share(1500), 0.2, 1e-6) << "another class keeps the floor";
  EXPECT_NEAR(m.max_share(), 0.25, 1e-6);
  EXPECT_EQ(m.traversals(6000), n);
  // Lines that buses follow closely do not lower the floor; beyond kMaxShare is capped.
  for (int i = 0; i < n; ++i) m.Add(1500, 10);
  EXPECT_NEAR(m.share(1500), 0.2, 1e-6);
  for (int i = 0; i < n; ++i) m.Add(9000, 9000);
  EXPECT_NEAR(m.share(9000), ChordSlackModel::kMaxShare, 1e-6);
  m.Add(-1, 5);  // no length: ignored
  m.Add(100, NAN);
  EXPECT_EQ(m.traversals(100), 0);
}

// A polyline with a slack model takes each segment's slack from it (at least its own slack).
TEST(Polyline, SlackFollowsTheLearnedChordBends) {
  Polyline line({kProj.Reverse({0, 0}), kProj.Reverse({500, 0}), kProj.Reverse({5500, 0})}, kProj);
  line.SetSegmentSlack({100, 1000});
  auto m = std::make_shared<ChordSlackModel>(0.2);
  line.SetSlackModel(m);
  EXPECT_NEAR(line.slack_m(1), 1000, 1);
  for (int i = 0; i < ChordSlackModel::kMinTraversals; ++i) m->Add(5000, 1500);
  EXPECT_NEAR(line.slack_m(1), 1500, 2);
  EXPECT_NEAR(line.slack_m(0), 100, 1e-3) << "its class has no evidence";
  EXPECT_NEAR(line.max_slack_m(), 1500, 2);
  Polyline traced = EastStreet();  // no slack of its own: a shape, the model does not apply
  traced.SetSlackModel(m);
  EXPECT_EQ(traced.slack_m(0), 0);
}

// One stop pair whose road bends more than its length class: its own traversals raise its
// slack once kMinPairTraversals of them agree (the second largest), not its class's.
TEST(ChordSlackModel, AStopPairFollowsItsOwnTraversals) {
  auto m = std::make_shared<ChordSlackModel>(0.2);
  const uint32_t bent = m->NewPair(), straight = m->NewPair();
  m->Add(3000, 3000 * 0.45, bent);  // one far traversal alone (a wrong trip) is not enough
  m->Add(3000, 3000 * 0.34, bent);
  EXPECT_NEAR(m->share(3000, bent), 0.2, 1e-6);
  m->Add(3000, 3000 * 0.30, bent);
  EXPECT_NEAR(m->share(3000, bent), 0.34, 1e-6);
  for (int i = 0; i < 3; ++i) m->Add(3000, 3000 * 0.05, straight);
  EXPECT_NEAR(m->share(3000, straight), 0.2, 1e-6) << "never below its class";
  EXPECT_NEAR(m->share(3000), 0.2, 1e-6) << "the class has too few traversals";
  EXPECT_NEAR(m->max_share(), 0.34, 1e-6);
  Polyline line({kProj.Reverse({0, 0}), kProj.Reverse({3000, 0}), kProj.Reverse({6000, 0})}, kProj);
  line.SetSegmentSlack({600, 600});
  line.SetSlackModel(m, {bent, straight});
  EXPECT_NEAR(line.slack_m(0), 0.34 * 3000, 2);
  EXPECT_NEAR(line.slack_m(1), 600, 1);
}

// What a model learned survives Save/Load into a model built again (its pairs by key; a pair
// the new model lacks is skipped).
TEST(ChordSlackModel, SavedEvidenceLoadsIntoANewModel) {
  ChordSlackModel m(0.2);
  const uint32_t bent = m.NewPair("a\tb");
  m.NewPair("b\tc");
  for (int i = 0; i < ChordSlackModel::kMinTraversals; ++i) m.Add(5000, 1500);
  for (int i = 0; i < ChordSlackModel::kMinPairTraversals; ++i) m.Add(3000, 3000 * 0.4, bent);
  ChordSlackModel::State saved = m.Save();
  saved.pairs.emplace_back("gone\tstop", ChordSlackModel::PairTop{0.5f, 0.5f, 9});
  ChordSlackModel again(0.2);
  again.NewPair("x\ty");
  const uint32_t bent2 = again.NewPair("a\tb");
  EXPECT_NEAR(again.share(5000), 0.2, 1e-6);
  EXPECT_EQ(again.Load(saved), 1) << "the pair this model does not have";
  EXPECT_NEAR(again.share(5000), 0.3, 1e-6);
  EXPECT_NEAR(again.share(3000, bent2), 0.4, 1e-6);
  EXPECT_NEAR(again.max_share(), 0.4, 1e-6);
  EXPECT_EQ(again.traversals(5000), ChordSlackModel::kMinTraversals);
  const ChordSlackModel::State resaved = again.Save();
  ASSERT_EQ(resaved.pairs.size(), 2u) << "the unknown pair is kept for a later network";
  EXPECT_EQ(resaved.pairs[1].first, "gone\tstop");
  EXPECT_EQ(resaved.pairs[1].second.n, 9);
  again.Load({});
  EXPECT_TRUE(again.Save().pairs.empty());
  EXPECT_NEAR(again.share(5000), 0.2, 1e-6) << "an empty state: nothing learned";
  EXPECT_NEAR(again.share(3000, bent2), 0.2, 1e-6);
}

// Offsets of fixes with Gaussian error (sigma per axis) from a straight road: the model
// recovers sigma from their median once it has kMinFixes, despite 5 % outliers.
TEST(GpsNoiseModel, RecoversTheNoiseOfOffsetsFromARoad) {
  for (double sigma : {3.0, 8.0, 15.0}) {
    GpsNoiseModel m;
    std::mt19937 rng(5);
    std::normal_distribution<double> n(0, sigma);
    std::uniform_real_distribution<double> far(40, 120);
    for (int i = 0; i < 4000; ++i) {
      if (i + 1 == GpsNoiseModel::kMinFixes) {
        EXPECT_TRUE(std::isnan(m.sigma_m()));
      }
      m.Add(i % 20 == 0 ? far(rng) : std::fabs(n(rng)));
    }
    EXPECT_NEAR(m.sigma_m(), sigma, 0.1 * sigma) << sigma;
    GpsNoiseModel again;
    again.Load(m.Save());
    EXPECT_DOUBLE_EQ(again.sigma_m(), m.sigma_m());
    EXPECT_EQ(again.fixes(), 4000);
  }
}

// An offset beyond the histogram (a traversal far from a stop pair nearly 0 m long) counts in
// the last bin, and an infinite one counts nowhere: the bin is bounded before it becomes an int
// (a double beyond int's range cast to int is undefined; on x86 it indexed 2^31 bins before
// the histogram).
TEST(ChordSlackModel, AnOffsetBeyondTheHistogramCountsInItsLastBin) {
  ChordSlackModel m(0.2);
  m.Add(5000, INFINITY);
  EXPECT_EQ(m.traversals(5000), 0);
  for (int i = 0; i < ChordSlackModel::kMinTraversals; ++i) m.Add(i % 2 ? 5000 : 1e-300, 1e300);
  EXPECT_EQ(m.traversals(5000), ChordSlackModel::kMinTraversals / 2);
  EXPECT_EQ(m.traversals(1e-300), ChordSlackModel::kMinTraversals / 2);
  for (int i = 0; i < ChordSlackModel::kMinTraversals; ++i) m.Add(5000, 1e300);
  EXPECT_NEAR(m.share(5000), ChordSlackModel::kMaxShare, 1e-6);
}

TEST(GpsNoiseModel, AnOffsetBeyondTheHistogramCountsInItsLastBin) {
  GpsNoiseModel m;
  m.Add(INFINITY);
  EXPECT_EQ(m.fixes(), 0);
  for (int i = 0; i < GpsNoiseModel::kMinFixes; ++i) m.Add(1e300);
  EXPECT_EQ(m.fixes(), GpsNoiseModel::kMinFixes);
  // The median is in the last bin (up to kBins x kBinM = 120 m).
  const double last_bin_m = (GpsNoiseModel::kBins - 1) * GpsNoiseModel::kBinM;
  EXPECT_GT(m.sigma_m(), GpsNoiseModel::kMadScale * last_bin_m);
  EXPECT_LE(m.sigma_m(), GpsNoiseModel::kMadScale * (last_bin_m + GpsNoiseModel::kBinM));
}

TEST(Geo, RejectsInvalidCoordinates) {
  EXPECT_FALSE(IsValidLatLon(NAN, 1));
  EXPECT_FALSE(IsValidLatLon(91, 1));
  EXPECT_FALSE(IsValidLatLon(0, 0));
  EXPECT_TRUE(IsValidLatLon(38.9, -77));
}

}  // namespace
}  // namespace smartbus
