#include "services/core/network/network.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "tests/core/network/feed_builder.h"
#include "services/files/feed_files.h"

namespace smartbus {
namespace {

using testing::FeedBuilder;

// ---- Typed indices (services/core/common/index.h): what must not compile -------------------
// A raw integer, or an index of another kind, where the network wants a trip.
static_assert(std::is_invocable_v<decltype(&Network::trip_pattern), const Network&, TripIdx>);
static_assert(!std::is_invocable_v<decltype(&Network::trip_pattern), const Network&, uint32_t>);
static_assert(!std::is_invocable_v<decltype(&Network::NearestTripInstance), const Network&,
                                   uint32_t, absl::Time, absl::Duration>);
static_assert(!std::is_invocable_v<decltype(&Network::NextTripInBlock), const Network&, int>);
static_assert(!std::is_assignable_v<decltype(TripInstance::trip)&, uint32_t>);
template <class V, class I>
concept Subscriptable = requires(const V& v, I i) { v[i]; };
static_assert(Subscriptable<decltype(GtfsFeed::trips), TripIdx>);
static_assert(!Subscriptable<decltype(GtfsFeed::trips), StopIdx>);
static_assert(!Subscriptable<decltype(GtfsFeed::stops), TripIdx>);
static_assert(!Subscriptable<decltype(GtfsFeed::routes), TripIdx>);
static_assert(!Subscriptable<decltype(GtfsFeed::services), TripIdx>);
static_assert(Subscriptable<decltype(GtfsFeed::stops), uint32_t>);  // not converted yet

// ---- A tiny map language (in the spirit of Valhalla's gurka tests) -------------------------
// Each character of the drawing is a 10 m square; x grows to the east (right), y to the north
// (up). Upper-case letters are shape vertices, lower-case letters and digits are stops; other
// characters are decoration.
constexpr double kCellM = 10;
const LocalProjection kDrawing({38.9, -77.03});

std::map<char, LatLon> ParseMap(const std::string& art) {
  std::map<char, LatLon> out;
  int row = 0, col = 0;
  for (char c : art) {
    if (c == '\n') {
      ++row;
      col = 0;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c))) {
      EXPECT_EQ(out.count(c), 0u) << "letter " << c << " drawn twice";
      out[c] = kDrawing.Reverse({col * kCellM, -row * kCellM});
    }
    ++col;
  }
  return out;
}

// Builds feeds by hand (the way LoadGtfs fills them).
std::vector<std::string> Chars(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.push_back(std::string(1, c));
  return out;
}

// What a naive placement does: each stop at its nearest point on the shape.
std::vector<double> NearestPointPlacement(const Network& net, TripIdx trip) {
  const Pattern& pat = net.pattern(net.trip_pattern(trip));
  std::vector<double> out;
  for (uint32_t s : pat.stops)
    out.push_back(
        net.trip_polyline(trip).Project(net.projection().Forward(net.feed().stops[s].pos))
            .dist_along_m);
  return out;
}

bool NonDecreasing(const std::vector<double>& v) { return std::is_sorted(v.begin(), v.end()); }

// ---- Stop placement --------------------------------------------------------------------------

// A loop: the bus leaves stop a, goes round the block clockwise and ends at stop a again.
TEST(StopPlacement, LoopRouteEndsAtTheEndOfTheShape) {
  const std::string art = R"(
      a
  A---S-------------B
  |                 |
  |                 |b
  |                 |
  D-------------c---C
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("loop", m, "SBCDAS");
  TripIdx t = fb.AddTrip("t", Chars("abca"), 8 * 3600, 60, "loop");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  const double len = net->trip_polyline(t).length_m();
  EXPECT_NEAR(len, 140 + 40 + 180 + 40 + 40, 1);
  // Nearest-point placement puts the last stop at the start: out of order.
  EXPECT_FALSE(NonDecreasing(NearestPointPlacement(*net, t)));
  ASSERT_EQ(pat.stop_dist_m.size(), 4u);
  EXPECT_NEAR(pat.stop_dist_m[0], 0, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 140 + 20, 1);       // S->B 140 m, B->b 20 m
  EXPECT_NEAR(pat.stop_dist_m[2], 140 + 40 + 40, 1);  // c is 40 m west of C
  EXPECT_NEAR(pat.stop_dist_m[3], len, 1);
  EXPECT_TRUE(pat.monotone);
  EXPECT_NEAR(pat.max_stop_offset_m, 10, 0.1);
  EXPECT_EQ(net->nonmonotone_patterns(), 0);
}

// An out-and-back street: the shape goes east from A to the turning circle at B and comes back
// west on exactly the same line. Eastbound stops (a b c) stand on the south kerb, westbound ones
// (d e f) on the north kerb: every stop is equally near both passes. Stop m, on the centre line,
// is served in both directions.
TEST(StopPlacement, OutAndBackStreetPutsReturnStopsOnTheReturnPass) {
  const std::string art = R"(
        f       e          d
   A-----------------m--------B
       a       b       c
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("out_back", m, "ABA");
  TripIdx t = fb.AddTrip("t", Chars("abmcdmef"), 8 * 3600, 30, "out_back");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  const double len = net->trip_polyline(t).length_m();  // 2 x 270 m
  EXPECT_NEAR(len, 540, 1);
  EXPECT_FALSE(NonDecreasing(NearestPointPlacement(*net, t)));
  std::vector<double> expect = {40, 120, 180, 200, 540 - 240, 540 - 180, 540 - 130, 540 - 50};
  ASSERT_EQ(pat.stop_dist_m.size(), expect.size());
  for (size_t i = 0; i < expect.size(); ++i)
    EXPECT_NEAR(pat.stop_dist_m[i], expect[i], 1) << "stop " << i;
  EXPECT_TRUE(pat.monotone);
  EXPECT_NEAR(pat.max_stop_offset_m, 10, 0.1);
}

// Two stops facing each other across the dead end, near the turning circle: c on the south
// kerb, d on the north kerb. Both passes are as near to each; what tells them apart is the side
// of the street: with traffic on the right, d is passed on the way back.
TEST(StopPlacement, FacingStopsAtADeadEndTakeTheirSideOfTheStreet) {
  const std::string art = R"(
                       d
   A---------------------------B
                     c
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("out_back", m, "ABA");
  TripIdx t = fb.AddTrip("t", Chars("cd"), 8 * 3600, 0, "out_back");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_NEAR(pat.stop_dist_m[0], 180, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 560 - 200, 1);  // B is 280 m east of A
}

// The same dead end where the stops stand on the left (as in left-hand traffic), and the feed
// says where they are with shape_dist_traveled (in feet here: any unit works). The agency's
// distances decide between the passes; the geometry still gives the exact point.
TEST(StopPlacement, ShapeDistTraveledDecidesBetweenPasses) {
  const std::string art = R"(
                     c
   A---------------------------B
                       d
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  uint32_t shape = fb.AddShape("out_back", m, "ABA");
  TripIdx t = fb.AddTrip("t", Chars("cd"), 8 * 3600, 0, "out_back");
  constexpr double kFt = 3.28084;
  fb.feed().shapes[shape].dist = {0, static_cast<float>(280 * kFt),
                                  static_cast<float>(560 * kFt)};
  // c really is 5 m past its kerb point on the way out, d 3 m past its point on the way back.
  fb.feed().stop_times[0].shape_dist = static_cast<float>(185 * kFt);
  fb.feed().stop_times[1].shape_dist = static_cast<float>((560 - 197) * kFt);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_NEAR(pat.stop_dist_m[0], 180, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 560 - 200, 1);
  EXPECT_NEAR(pat.max_stop_offset_m, 10, 0.1);
  EXPECT_EQ(net->feed().warnings.count("shape_dist_traveled_ignored"), 0u);
}

// shape_dist_traveled that places stops far from where they stand is ignored (with a warning).
TEST(StopPlacement, WrongShapeDistTraveledIsIgnored) {
  const std::string art = R"(
   A-------a-----------b-------B
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  uint32_t shape = fb.AddShape("s", m, "AB");
  TripIdx t = fb.AddTrip("t", Chars("ab"), 8 * 3600, 60, "s");
  fb.feed().shapes[shape].dist = {0, 280};
  fb.feed().stop_times[0].shape_dist = 200;  // a stands at 80 m
  fb.feed().stop_times[1].shape_dist = 270;  // b stands at 200 m
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_NEAR(pat.stop_dist_m[0], 80, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 200, 1);
  EXPECT_EQ(net->feed().warnings.at("shape_dist_traveled_ignored"), 1);
}

// Out on one street, back on the parallel one 30 m north. Stop e, on the return trip, stands
// nearer the outbound street: the nearest point is the wrong pass.
TEST(StopPlacement, StopNearerTheOtherPassIsPlacedOnItsOwnPass) {
  const std::string art = R"(
   D-------------------C
                       |
       e               |
   A-------a-----------B
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("u", m, "ABCD");
  TripIdx t = fb.AddTrip("t", Chars("ae"), 8 * 3600, 120, "u");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_FALSE(NonDecreasing(NearestPointPlacement(*net, t)));
  ASSERT_EQ(pat.stop_dist_m.size(), 2u);
  EXPECT_NEAR(pat.stop_dist_m[0], 80, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 200 + 30 + 160, 1);  // on C-D, 40 m from D
  EXPECT_NEAR(pat.stop_offset_m[1], 20, 0.1);
  EXPECT_TRUE(pat.monotone);
}

// Stop b comes after a in the trip but is drawn 10 m before it on the street (a real-world
// inaccuracy). Its own nearest point is before a; the return street 20 m away is after a. The
// right placement keeps b on the first street, at a's distance, not on the far pass.
TEST(StopPlacement, SlightlyOutOfOrderStopStaysOnItsStreet) {
  const std::string art = R"(
   A-------------B
          ba     |
                 |
   D-------------C
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("s", m, "ABCD");
  TripIdx t = fb.AddTrip("t", Chars("ab"), 8 * 3600, 60, "s");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_NEAR(pat.stop_dist_m[0], 80, 1);
  EXPECT_NEAR(pat.stop_dist_m[1], 80, 1);
  EXPECT_NEAR(pat.stop_offset_m[1], std::hypot(10, 10), 0.1);
  EXPECT_TRUE(pat.monotone);
}

// Stops in an order the shape cannot give them in (the shape runs the other way): flagged.
TEST(StopPlacement, ImpossibleOrderIsFlaggedNonMonotone) {
  const std::string art = R"(
   A--------b------------------------------------------a--------B
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("s", m, "AB");
  TripIdx t = fb.AddTrip("t", Chars("ab"), 8 * 3600, 60, "s");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_LE(pat.stop_dist_m[0], pat.stop_dist_m[1]);
  EXPECT_EQ(net->nonmonotone_patterns(), 1);
  EXPECT_FALSE(pat.monotone);
  EXPECT_EQ(net->feed().warnings.at("nonmonotone_pattern"), 1);
}

TEST(StopPlacement, TripWithoutShapeGetsStraightSegmentsBetweenItsStops) {
  const std::string art = R"(
   a
   |
   |
   b--------c
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  TripIdx t = fb.AddTrip("t", Chars("abc"), 8 * 3600);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_EQ(pat.shape, kNoIndex);
  EXPECT_NEAR(net->trip_polyline(t).length_m(), 30 + 90, 0.1);
  ASSERT_EQ(pat.stop_dist_m.size(), 3u);
  EXPECT_NEAR(pat.stop_dist_m[1], 30, 0.1);
  EXPECT_NEAR(pat.stop_dist_m[2], 120, 0.1);
  EXPECT_EQ(pat.max_stop_offset_m, 0);
}

// A trip without a shape whose pattern has a learned path (NetworkOptions::learned_paths, by
// PatternKey): drawn along it, stops placed on it as on a shape, no chord slack; a pattern
// whose key is not given keeps its straight lines.
TEST(StopPlacement, TripWithoutShapeFollowsItsLearnedPath) {
  const std::string art = R"(
   A--------B
   |        |
   a        c
   |        |
   C        D
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops({{'a', m['a']}, {'c', m['c']}});
  TripIdx t = fb.AddTrip("t", Chars("ac"), 8 * 3600);
  auto chord = fb.Build();
  ASSERT_NE(chord, nullptr);
  const Pattern& straight = chord->pattern(chord->trip_pattern(t));
  EXPECT_FALSE(straight.learned_path);
  EXPECT_NEAR(chord->trip_polyline(t).length_m(), 90, 0.1);
  EXPECT_GT(chord->trip_polyline(t).max_slack_m(), 0);
  const std::string key = PatternKey(chord->feed(), straight);
  EXPECT_EQ(key.substr(0, 4), "R1|0") << key;

  NetworkOptions o;
  o.learned_paths[key] = {m['C'], m['A'], m['B'], m['D']};  // up, across, down
  o.learned_paths["other|0|0000000000000000"] = {m['A'], m['B']};
  auto net = fb.Build(o);
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_TRUE(pat.learned_path);
  EXPECT_EQ(pat.shape, kNoIndex);
  EXPECT_EQ(net->learned_path_patterns(), 1);
  EXPECT_NEAR(net->trip_polyline(t).length_m(), 40 + 90 + 40, 0.1);
  EXPECT_EQ(net->trip_polyline(t).max_slack_m(), 0);
  ASSERT_EQ(pat.stop_dist_m.size(), 2u);
  EXPECT_NEAR(pat.stop_dist_m[0], 20, 0.1);
  EXPECT_NEAR(pat.stop_dist_m[1], 150, 0.1);
  EXPECT_LT(pat.max_stop_offset_m, 0.1);
}

// A stop 300 m from its shape (beyond max_stop_offset_m, 150 m): placed at its nearest point
// in order, counted as "stop_far_from_shape", and not mistaken for an ordering problem.
TEST(StopPlacement, StopFarFromTheShapeIsWarnedAbout) {
  const std::string art = R"(
   A----a----b----c----B
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddStop("far", kDrawing.Reverse({30 + 150, -10 + 300}));  // A is at (30, -10)
  fb.AddShape("s", m, "AB");
  TripIdx t = fb.AddTrip("t", {"a", "b", "far", "c"}, 8 * 3600, 60, "s");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_NEAR(pat.stop_dist_m[2], 150, 1);
  EXPECT_NEAR(pat.stop_offset_m[2], 300, 0.5);
  EXPECT_TRUE(pat.monotone);
  EXPECT_EQ(net->feed().warnings.at("stop_far_from_shape"), 1);
  EXPECT_EQ(net->feed().warnings.count("nonmonotone_pattern"), 0u);
}

TEST(StopPlacement, ShapeWithOnePointFallsBackToTheStops) {
  const std::string art = R"(
   A  a---------b
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("dot", m, "A");
  TripIdx t = fb.AddTrip("t", Chars("ab"), 8 * 3600, 60, "dot");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const Pattern& pat = net->pattern(net->trip_pattern(t));
  EXPECT_EQ(pat.shape, kNoIndex);
  EXPECT_NEAR(pat.stop_dist_m[1], 100, 0.1);
  EXPECT_EQ(net->feed().warnings.at("shape_too_short"), 1);
}

TEST(Network, UnusableReferencesFailNamingTheTrip) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddTrip("broken", {"s1", "s2"}, 8 * 3600);
  fb.feed().stop_times[1].stop = 7;
  auto net = Network::Build(fb.feed());
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("trip 'broken'"), std::string::npos) << net.status();
}

// ---- Patterns --------------------------------------------------------------------------------

TEST(Patterns, TripsWithTheSameStopsShapeAndDirectionShareOne) {
  const std::string art = R"(
   A---a-----b-----c---B
)";
  auto m = ParseMap(art);
  FeedBuilder fb;
  fb.AddStops(m);
  fb.AddShape("s", m, "AB");
  fb.AddShape("s_back", m, "BA");
  TripIdx late = fb.AddTrip("late", Chars("abc"), 9 * 3600, 60, "s");
  TripIdx early = fb.AddTrip("early", Chars("abc"), 7 * 3600, 60, "s");
  TripIdx short_turn = fb.AddTrip("short", Chars("ab"), 8 * 3600, 60, "s");
  TripIdx back = fb.AddTrip("back", Chars("cba"), 8 * 3600, 60, "s_back", "S", 1);
  TripIdx no_shape = fb.AddTrip("noshape", Chars("abc"), 8 * 3600);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->patterns().size(), 4u);
  EXPECT_EQ(net->trip_pattern(late), net->trip_pattern(early));
  EXPECT_NE(net->trip_pattern(late), net->trip_pattern(short_turn));
  EXPECT_NE(net->trip_pattern(back), net->trip_pattern(late));
  EXPECT_NE(net->trip_pattern(no_shape), net->trip_pattern(late));
  // One polyline per shape plus one for the shapeless pattern.
  EXPECT_EQ(net->polylines().size(), 3u);
  EXPECT_EQ(net->pattern(net->trip_pattern(late)).polyline,
            net->pattern(net->trip_pattern(short_turn)).polyline);
  // Trips of a pattern by first departure.
  EXPECT_EQ(net->pattern(net->trip_pattern(late)).trips, (std::vector<TripIdx>{early, late}));
  EXPECT_EQ(net->route_patterns(0).size(), 4u);
  uint32_t b = *net->FindStop("b");
  EXPECT_EQ(net->stop_patterns(b).size(), 4u);
  for (auto [p, k] : net->stop_patterns(b)) EXPECT_EQ(net->pattern(p).stops[k], b);
}

TEST(Network, FindsTripsStopsAndRoutesById) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddTrip("trip-1", {"s1", "s2"}, 8 * 3600);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->FindTrip("trip-1"), 0u);
  EXPECT_EQ(net->FindStop("s2"), 1u);
  EXPECT_EQ(net->FindRoute("R1"), 0u);
  EXPECT_FALSE(net->FindTrip("nope").has_value());
  EXPECT_FALSE(net->FindStop("").has_value());
}

// The feed's learned state (chord bends, GPS noise) saved as model records loads into a network
// built again; a record the network never writes fails the load, naming it, and changes nothing
// (they once loaded: an "inf" stop-pair share made every chord path's slack infinite, a class
// count above its histogram's set the class to the largest share).
TEST(Network, LearnedRecordsLoadBackAndABadOneChangesNothing) {
  FeedBuilder fb;
  fb.AddStop("a", {40.0, -74.0});
  fb.AddStop("b", {40.0, -73.95});  // 4.3 km east: one chord of the 4-8 km class
  const TripIdx t = fb.AddTrip("t", {"a", "b"}, 8 * 3600);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const double len = net->trip_polyline(t).length_m();
  const uint32_t pair = net->trip_polyline(t).slack_pair(0);
  ASSERT_NE(pair, ChordSlackModel::kNoPair);
  for (int i = 0; i < ChordSlackModel::kMinTraversals; ++i) {
    net->chord_slack().Add(len, 0.3 * len, pair);
  }
  for (int i = 0; i < GpsNoiseModel::kMinFixes; ++i) net->gps_noise().Add(5);
  std::string saved;
  net->AppendLearned(&saved);
  auto records = [](const std::string& text) {
    std::vector<std::vector<absl::string_view>> r;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      r.push_back(absl::StrSplit(line, '\t'));
    }
    return r;
  };
  auto again = fb.Build();
  ASSERT_NE(again, nullptr);
  auto loaded = again->LoadLearned(records(saved));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, 0);
  const double share = again->chord_slack().share(len, pair);
  const double sigma = again->gps_noise().sigma_m();
  EXPECT_NEAR(share, 0.3, 1e-6);
  EXPECT_NEAR(sigma, 1.4826 * 5.125, 0.01) << "the median of offsets in the 5-5.25 m bin";
  const std::string zeros = absl::StrJoin(std::vector<int>(ChordSlackModel::kBins, 0), "\t");
  for (const std::string& bad : {
           std::string("chordpair\ta\tb\tinf\tinf\t3"),   // no share
           std::string("chordpair\ta\tb\t0.4\tnan\t3"),   // no share
           std::string("chordpair\ta\tb\t0.2\t0.4\t3"),   // second above the largest
           std::string("chordpair\ta\tb\t0.9\t0.9\t3"),   // beyond kMaxShare
           std::string("chordpair\ta\tb\t-0.1\t-0.2\t3"),  // negative
           absl::StrCat("chord\t0\t25\t", zeros),     // 25 traversals, none in the histogram
           absl::StrCat("chord\t0\t-1\t", zeros),     // negative
           std::string("gps\t10\t20"),                 // more offsets than were added
           std::string("gps\t1000\t9223372036854775807\t9223372036854775807"),  // overflow
       }) {
    EXPECT_FALSE(again->LoadLearned(records(saved + bad + "\n")).ok()) << bad;
    EXPECT_EQ(again->chord_slack().share(len, pair), share) << bad;
    EXPECT_EQ(again->gps_noise().sigma_m(), sigma) << bad;
  }
  EXPECT_FALSE(again->LoadLearned(records(saved + saved)).ok()) << "a record repeated";
}

TEST(Network, UnknownTimeZoneIsAnError) {
  FeedBuilder fb("Mars/Olympus_Mons");
  fb.AddStop("s1", {38.9, -77.03});
  auto net = Network::Build(fb.feed());
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("Mars/Olympus_Mons"), std::string::npos);
}

// ---- Calendar --------------------------------------------------------------------------------

absl::Time Utc(int y, int mo, int d, int h, int mi = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), absl::UTCTimeZone());
}

std::shared_ptr<const Network> OneTripAt8() {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddTrip("t", {"s1", "s2"}, 8 * 3600, 600);
  return fb.Build();
}

TEST(Calendar, ServiceDayStartsAtNoonMinus12hOnDstDays) {
  auto net = OneTripAt8();
  ASSERT_NE(net, nullptr);
  // An ordinary winter day: local midnight EST = 05:00 UTC.
  EXPECT_EQ(net->ServiceDayStart(20260216), Utc(2026, 2, 16, 5));
  // Spring forward (2026-03-08): noon EDT is 16:00 UTC, so the day starts at 04:00 UTC
  // (23:00 EST the evening before), not at local midnight.
  EXPECT_EQ(net->ServiceDayStart(20260308), Utc(2026, 3, 8, 4));
  // Fall back (2026-11-01): noon EST is 17:00 UTC, so 05:00 UTC (01:00 EDT).
  EXPECT_EQ(net->ServiceDayStart(20261101), Utc(2026, 11, 1, 5));
}

TEST(Calendar, TripAt8LandsAt8LocalOnDstDays) {
  auto net = OneTripAt8();
  ASSERT_NE(net, nullptr);
  const absl::TimeZone& tz = net->time_zone();
  struct Case { int32_t date; absl::Time utc; };
  for (const Case& c : {Case{20260307, Utc(2026, 3, 7, 13)},    // EST
                        Case{20260308, Utc(2026, 3, 8, 12)},    // EDT from 02:00
                        Case{20261031, Utc(2026, 10, 31, 12)},  // EDT
                        Case{20261101, Utc(2026, 11, 1, 13)}}) { // EST from 02:00
    TripInstance ti{TripIdx(0), c.date, net->ServiceDayStart(c.date)};
    absl::Time dep = net->ScheduledDeparture(ti, 0);
    EXPECT_EQ(dep, c.utc) << c.date;
    absl::CivilSecond local = absl::ToCivilSecond(dep, tz);
    EXPECT_EQ(local.hour(), 8) << c.date;
    EXPECT_EQ(local.minute(), 0) << c.date;
    EXPECT_EQ(net->ScheduledArrival(ti, 1), dep + absl::Minutes(10));
    // The bus running at 08:05 local is found; an hour later (where a local-midnight day start
    // would put it on the DST day) nothing runs.
    auto around = net->TripsAround(c.utc + absl::Minutes(5), absl::ZeroDuration(),
                                   absl::ZeroDuration());
    ASSERT_EQ(around.size(), 1u) << c.date;
    EXPECT_EQ(around[0].service_date, c.date);
    EXPECT_TRUE(net->TripsAround(c.utc + absl::Minutes(65), absl::ZeroDuration(),
                                 absl::ZeroDuration())
                    .empty())
        << c.date;
  }
}

// Presidents' Day: the holiday service H is added for the date, weekday service W removed.
TEST(Calendar, CalendarDatesAddAndRemoveServices) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddService("W", 0b0011111, 20260101, 20261231, {}, {20260216});
  fb.AddService("H", 0, 20260101, 20261231, {20260216}, {});
  fb.AddService("Sat", 0b0100000, 20260101, 20261231);
  TripIdx w1 = fb.AddTrip("w1", {"s1", "s2"}, 8 * 3600, 60, "", "W");
  TripIdx h1 = fb.AddTrip("h1", {"s1", "s2"}, 9 * 3600, 60, "", "H");
  TripIdx w2 = fb.AddTrip("w2", {"s1", "s2"}, 10 * 3600, 60, "", "W");
  TripIdx sa = fb.AddTrip("sa", {"s1", "s2"}, 10 * 3600, 60, "", "Sat");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const uint32_t W = 0, H = 1, Sat = 2;
  EXPECT_EQ(net->ActiveServices(20260216), (std::vector<uint32_t>{H}));  // Monday, holiday
  EXPECT_EQ(net->ActiveServices(20260217), (std::vector<uint32_t>{W}));  // Tuesday
  EXPECT_EQ(net->ActiveServices(20260221), (std::vector<uint32_t>{Sat}));
  EXPECT_TRUE(net->ActiveServices(20270216).empty());  // after the calendar ends
  EXPECT_EQ(net->ActiveTrips(20260216), (std::vector<TripIdx>{h1}));
  EXPECT_EQ(net->ActiveTrips(20260217), (std::vector<TripIdx>{w1, w2}));
  EXPECT_EQ(net->ActiveTrips(20260221), (std::vector<TripIdx>{sa}));
}

TEST(Calendar, TripsAroundFindsTodaysAndYesterdaysTripsPastMidnight) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddService("WD", 0b0011111, 20260101, 20261231);  // Monday..Friday
  // 23:50 -> 24:30 (past midnight), 08:00 -> 08:30, 08:40 -> 09:10.
  TripIdx night = fb.AddTrip("night", {"s1", "s2"}, 23 * 3600 + 50 * 60, 40 * 60, "", "WD");
  TripIdx morning = fb.AddTrip("morning", {"s1", "s2"}, 8 * 3600, 30 * 60, "", "WD");
  TripIdx later = fb.AddTrip("later", {"s1", "s2"}, 8 * 3600 + 40 * 60, 30 * 60, "", "WD");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  auto ids = [](const std::vector<TripInstance>& v) {
    std::vector<std::pair<uint32_t, int32_t>> out;
    for (const TripInstance& ti : v) out.emplace_back(ti.trip, ti.service_date);
    std::sort(out.begin(), out.end());
    return out;
  };
  using V = std::vector<std::pair<uint32_t, int32_t>>;
  // Tuesday 2026-02-17 00:10 EST = 05:10 UTC: Monday's night trip is still running.
  EXPECT_EQ(ids(net->TripsAround(Utc(2026, 2, 17, 5, 10), absl::ZeroDuration(),
                                 absl::ZeroDuration())),
            (V{{night, 20260216}}));
  // Saturday 00:10: Friday's night trip runs; Saturday has no service.
  EXPECT_EQ(ids(net->TripsAround(Utc(2026, 2, 21, 5, 10), absl::ZeroDuration(),
                                 absl::ZeroDuration())),
            (V{{night, 20260220}}));
  // Tuesday 08:35 EST: between morning and later. Widened by 10 min before / 10 min after,
  // both; not widened, neither.
  absl::Time t = Utc(2026, 2, 17, 13, 35);
  EXPECT_TRUE(ids(net->TripsAround(t, absl::ZeroDuration(), absl::ZeroDuration())).empty());
  EXPECT_EQ(ids(net->TripsAround(t, absl::Minutes(10), absl::Minutes(10))),
            (V{{morning, 20260217}, {later, 20260217}}));
  EXPECT_EQ(ids(net->TripsAround(t, absl::Minutes(10), absl::ZeroDuration())),
            (V{{later, 20260217}}));
  // The instance carries the service day start it counts from.
  auto v = net->TripsAround(Utc(2026, 2, 17, 13, 10), absl::ZeroDuration(), absl::ZeroDuration());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].day_start, net->ServiceDayStart(20260217));
  EXPECT_EQ(net->ScheduledDeparture(v[0], 0), Utc(2026, 2, 17, 13));
}

TEST(Calendar, TripsAroundOnRouteAndNearestTripInstance) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddRoute("R2");
  fb.AddService("WD", 0b0011111, 20260101, 20261231);  // Monday..Friday
  TripIdx night = fb.AddTrip("night", {"s1", "s2"}, 23 * 3600 + 50 * 60, 40 * 60, "", "WD");
  TripIdx r1 = fb.AddTrip("r1", {"s1", "s2"}, 8 * 3600, 30 * 60, "", "WD");
  TripIdx r2 = fb.AddTrip("r2", {"s1", "s2"}, 8 * 3600, 30 * 60, "", "WD", 0, "", "R2");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  const uint32_t route1 = *net->FindRoute("R1"), route2 = *net->FindRoute("R2");
  absl::Time t = Utc(2026, 2, 17, 13, 10);  // Tuesday 08:10 EST
  auto on1 = net->TripsAroundOnRoute(route1, t, absl::ZeroDuration(), absl::ZeroDuration());
  ASSERT_EQ(on1.size(), 1u);
  EXPECT_EQ(on1[0].trip, r1);
  auto on2 = net->TripsAroundOnRoute(route2, t, absl::ZeroDuration(), absl::ZeroDuration());
  ASSERT_EQ(on2.size(), 1u);
  EXPECT_EQ(on2[0].trip, r2);
  // Tuesday 00:10: Monday's night trip.
  auto late = net->TripsAroundOnRoute(route1, Utc(2026, 2, 17, 5, 10), absl::ZeroDuration(),
                                      absl::ZeroDuration());
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].service_date, 20260216);

  // Nearest instance of the night trip at Tuesday 00:05: Monday's (departed 15 min ago).
  auto ni = net->NearestTripInstance(night, Utc(2026, 2, 17, 5, 5));
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(ni->service_date, 20260216);
  EXPECT_EQ(ni->day_start, net->ServiceDayStart(20260216));
  // Tuesday 20:00: Tuesday's night trip (3 h 50 min ahead) is nearer than Monday's.
  ni = net->NearestTripInstance(night, Utc(2026, 2, 18, 1, 0));
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(ni->service_date, 20260217);
  // Saturday noon: the nearest run is Friday's 08:00 (28 h ago): none within 12 h.
  EXPECT_FALSE(net->NearestTripInstance(r1, Utc(2026, 2, 21, 17, 0)).has_value());
  ni = net->NearestTripInstance(r1, Utc(2026, 2, 21, 17, 0), absl::Hours(48));
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(ni->service_date, 20260220);
}

// A frequency-based trip: the template runs 06:00 -> 06:20, frequencies.txt repeats it every
// 10 minutes from 06:00 until (not including) 07:00.
TEST(Calendar, FrequencyBasedTripRunsOncePerHeadway) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  TripIdx t = fb.AddTrip("f", {"s1", "s2"}, 6 * 3600, 20 * 60);
  fb.feed().frequencies.push_back({t, 6 * 3600, 7 * 3600, 600, false});
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  // Tuesday 06:35 EST: the runs of 06:20 and 06:30 are under way (06:10 ended at 06:30).
  auto around = net->TripsAround(Utc(2026, 2, 17, 11, 35), absl::ZeroDuration(),
                                 absl::ZeroDuration());
  std::vector<absl::Time> starts;
  for (const TripInstance& ti : around) {
    EXPECT_EQ(ti.trip, t);
    EXPECT_EQ(ti.service_date, 20260217);
    EXPECT_EQ(ti.day_start, net->ServiceDayStart(20260217) + absl::Seconds(ti.shift_s));
    starts.push_back(net->ScheduledDeparture(ti, 0));
  }
  std::sort(starts.begin(), starts.end());
  EXPECT_EQ(starts, (std::vector<absl::Time>{Utc(2026, 2, 17, 11, 20), Utc(2026, 2, 17, 11, 30)}));
  EXPECT_EQ(net->TripsAroundOnRoute(0, Utc(2026, 2, 17, 11, 35), absl::ZeroDuration(),
                                    absl::ZeroDuration())
                .size(),
            2u);
  // No run after 06:50: at 07:15 nothing runs.
  EXPECT_TRUE(net->TripsAround(Utc(2026, 2, 17, 12, 15), absl::ZeroDuration(),
                               absl::ZeroDuration())
                  .empty());
  // The run nearest 06:44 is the one of 06:40; its arrival is 07:00.
  auto ni = net->NearestTripInstance(t, Utc(2026, 2, 17, 11, 44));
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(net->ScheduledDeparture(*ni, 0), Utc(2026, 2, 17, 11, 40));
  EXPECT_EQ(net->ScheduledArrival(*ni, 1), Utc(2026, 2, 17, 12, 0));
  // In the evening the nearest is the last run, 06:50.
  ni = net->NearestTripInstance(t, Utc(2026, 2, 17, 20, 0));
  ASSERT_TRUE(ni.has_value());
  EXPECT_EQ(net->ScheduledDeparture(*ni, 0), Utc(2026, 2, 17, 11, 50));
}

// ---- Blocks ----------------------------------------------------------------------------------

TEST(Blocks, NextTripInBlockFollowsFirstDepartureWithinTheService) {
  FeedBuilder fb;
  fb.AddStop("s1", {38.9, -77.03});
  fb.AddStop("s2", {38.91, -77.03});
  fb.AddService("WD", 0b0011111, 20260101, 20261231);
  fb.AddService("SA", 0b0100000, 20260101, 20261231);
  TripIdx b2 = fb.AddTrip("b2", {"s2", "s1"}, 9 * 3600, 1800, "", "WD", 1, "B");
  TripIdx b1 = fb.AddTrip("b1", {"s1", "s2"}, 8 * 3600, 1800, "", "WD", 0, "B");
  TripIdx b3 = fb.AddTrip("b3", {"s1", "s2"}, 10 * 3600, 1800, "", "WD", 0, "B");
  TripIdx sat = fb.AddTrip("sat", {"s1", "s2"}, 9 * 3600 + 60, 1800, "", "SA", 0, "B");
  TripIdx other = fb.AddTrip("other", {"s1", "s2"}, 8 * 3600 + 60, 1800, "", "WD", 0, "C");
  TripIdx none = fb.AddTrip("none", {"s1", "s2"}, 8 * 3600 + 120, 1800, "", "WD");
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(net->NextTripInBlock(b1), b2);
  EXPECT_EQ(net->NextTripInBlock(b2), b3);
  EXPECT_FALSE(net->NextTripInBlock(b3).has_value());
  EXPECT_FALSE(net->NextTripInBlock(sat).has_value());
  EXPECT_FALSE(net->NextTripInBlock(other).has_value());
  EXPECT_FALSE(net->NextTripInBlock(none).has_value());
}

// ---- Stops near a point ----------------------------------------------------------------------

TEST(StopsNear, NearestFirstWithinTheRadius) {
  // Stops every 100 m on a 10 x 10 grid (1 km square), named x_y in hundreds of metres.
  FeedBuilder fb;
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j)
      fb.AddStop(absl::StrCat(i, "_", j), kDrawing.Reverse({i * 100.0, j * 100.0}));
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  LatLon q = kDrawing.Reverse({310, 415});
  auto near = net->StopsNear(q, 140, 10);
  std::vector<std::string> ids;
  for (auto [s, d] : near) ids.push_back(net->feed().stops[s].id);
  // Within 140 m: 3_4 18 m, 3_5 86 m, 4_4 91 m, 2_4 111 m, 3_3 115 m, 4_5 124 m, 2_5 139 m
  // (4_3 is 146 m away).
  EXPECT_EQ(ids, (std::vector<std::string>{"3_4", "3_5", "4_4", "2_4", "3_3", "4_5", "2_5"}));
  ASSERT_FALSE(near.empty());
  EXPECT_NEAR(near[0].second, std::hypot(10, 15), 0.05);
  for (size_t i = 1; i < near.size(); ++i) EXPECT_LE(near[i - 1].second, near[i].second);
  for (auto [s, d] : near) EXPECT_LE(d, 140);
  EXPECT_EQ(net->StopsNear(q, 140, 2).size(), 2u);
  EXPECT_TRUE(net->StopsNear(kDrawing.Reverse({5000, 5000}), 200, 5).empty());
  // A radius larger than the network finds every stop.
  EXPECT_EQ(net->StopsNear(q, 1e6, 1000).size(), 100u);
}

// Every path Polyline::Candidates finds near a point is among PolylinesNear's (a superset,
// ascending, each once), and a point far from every path gets none.
void ExpectPolylinesNearCoverCandidates(const Network& net, Vec2 p, double radius_m) {
  std::vector<uint32_t> near;
  net.PolylinesNear(p, radius_m, &near);
  EXPECT_TRUE(std::is_sorted(near.begin(), near.end()));
  EXPECT_EQ(std::adjacent_find(near.begin(), near.end()), near.end());
  std::vector<PolylinePoint> c;
  for (uint32_t l = 0; l < net.polylines().size(); ++l) {
    net.polylines()[l].Candidates(p, radius_m, &c);
    if (c.empty()) continue;
    EXPECT_TRUE(std::binary_search(near.begin(), near.end(), l))
        << "path " << l << " passes " << c[0].offset_m << " m from (" << p.x << ", " << p.y
        << ") but is not near it";
  }
}

TEST(PathsNear, EveryPathNearAPointIsFoundAndFarPathsAreNot) {
  // Three shapeless trips: along the x axis (0..3 km), 2 km north of it, and an L going north
  // 3 km then east.
  FeedBuilder fb;
  fb.AddStop("a0", kDrawing.Reverse({0, 0}));
  fb.AddStop("a1", kDrawing.Reverse({3000, 0}));
  fb.AddStop("b0", kDrawing.Reverse({0, 2000}));
  fb.AddStop("b1", kDrawing.Reverse({3000, 2000}));
  fb.AddStop("c0", kDrawing.Reverse({-1000, -500}));
  fb.AddStop("c1", kDrawing.Reverse({-1000, 2500}));
  fb.AddStop("c2", kDrawing.Reverse({2000, 2500}));
  const TripIdx ta = fb.AddTrip("a", {"a0", "a1"}, 8 * 3600);
  fb.AddTrip("b", {"b0", "b1"}, 8 * 3600);
  fb.AddTrip("c", {"c0", "c1", "c2"}, 8 * 3600);
  auto net = fb.Build();
  ASSERT_NE(net, nullptr);
  ASSERT_EQ(net->polylines().size(), 3u);
  auto near = [&](Vec2 p, double r) {
    std::vector<uint32_t> out;
    net->PolylinesNear(net->projection().Forward(kDrawing.Reverse(p)), r, &out);
    return out.size();
  };
  const uint32_t la = net->pattern(net->trip_pattern(ta)).polyline;
  std::vector<uint32_t> got;
  net->PolylinesNear(net->projection().Forward(kDrawing.Reverse({1500, 40})), 100, &got);
  EXPECT_EQ(got, std::vector<uint32_t>{la});  // only the x-axis path
  EXPECT_EQ(near({1500, 1000}, 100), 0u);     // between the paths
  EXPECT_EQ(near({20000, 20000}, 500), 0u);   // far from everything
  EXPECT_EQ(near({-1000, 2500}, 100), 1u);    // the L's corner
  EXPECT_EQ(near({0, 0}, 1e5), 3u);           // a radius over the whole network
  for (double x = -1500; x <= 3500; x += 97)
    for (double y = -700; y <= 2800; y += 89)
      ExpectPolylinesNearCoverCandidates(
          *net, net->projection().Forward(kDrawing.Reverse({x, y})), 150);
  std::vector<uint32_t> none;
  net->PolylinesNear(Vec2{NAN, 0}, 100, &none);
  EXPECT_TRUE(none.empty());
}

// ---- The real WMATA feed ---------------------------------------------------------------------

TEST(RealFeed, WmataStopsPlaceInOrderNearTheirShapes) {
  const std::string dir = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16/gtfs";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "shared data not found at " << dir;
  auto feed = LoadGtfs({dir});
  ASSERT_TRUE(feed.ok()) << feed.status();
  auto net_or = Network::Build(*std::move(feed));
  ASSERT_TRUE(net_or.ok()) << net_or.status();
  const Network& net = **net_or;
  EXPECT_EQ(net.feed().trips.size(), 4167u);
  EXPECT_EQ(net.nonmonotone_patterns(), 0);
  EXPECT_LT(net.max_stop_offset_m(), 25);
  EXPECT_EQ(net.ActiveTrips(20260216).size(), 462u);
  // PolylinesNear covers Candidates on real shapes, at and between the stops.
  for (size_t s = 0; s < net.feed().stops.size(); s += 7) {
    const Vec2 q = net.projection().Forward(net.feed().stops[s].pos);
    ExpectPolylinesNearCoverCandidates(net, q, 120);
    ExpectPolylinesNearCoverCandidates(net, q + Vec2{173, -91}, 120);
  }
  std::vector<std::string> active;
  for (uint32_t s : net.ActiveServices(20260216)) active.push_back(net.feed().services[s].id);
  EXPECT_EQ(active, (std::vector<std::string>{"4"}));
  for (const Pattern& p : net.patterns()) {
    EXPECT_TRUE(std::is_sorted(p.stop_dist_m.begin(), p.stop_dist_m.end()));
    EXPECT_EQ(p.stops.size(), p.stop_dist_m.size());
  }
  // TripsAroundOnRoute is TripsAround restricted to the route.
  for (absl::Time t = Utc(2026, 2, 16, 4); t < Utc(2026, 2, 17, 8); t += absl::Minutes(37)) {
    auto all = net.TripsAround(t, absl::Minutes(15), absl::Minutes(5));
    for (uint32_t r = 0; r < net.feed().routes.size(); ++r) {
      std::vector<uint32_t> want, got;
      for (const TripInstance& ti : all)
        if (net.feed().trips[ti.trip].route == r) want.push_back(ti.trip);
      for (const TripInstance& ti :
           net.TripsAroundOnRoute(r, t, absl::Minutes(15), absl::Minutes(5)))
        got.push_back(ti.trip);
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      EXPECT_EQ(got, want) << "route " << net.feed().routes[r].id << " at " << t;
    }
  }
  // A bus at 11:00 EST runs one of the trips TripsAround returns.
  auto around = net.TripsAround(Utc(2026, 2, 16, 16), absl::Minutes(5), absl::Minutes(5));
  EXPECT_FALSE(around.empty());
  for (const TripInstance& ti : around) {
    EXPECT_EQ(ti.service_date, 20260216);
    EXPECT_EQ(net.feed().services[net.feed().trips[ti.trip].service].id, "4");
  }
}

}  // namespace
}  // namespace smartbus
