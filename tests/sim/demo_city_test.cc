// The demo city feed (data/demo-city): the committed files are exactly what the generator
// writes, and the feed loads cleanly into a Network with the structure data/README.md promises.

#include "services/core/sim/demo_city.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"

namespace smartbus {
namespace {

const std::string kFeedDir = std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city";

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The generator's feed, in memory (the committed one is the same: the test below).
std::shared_ptr<const Network> LoadDemo() {
  const MemoryFeedSource source = MemoryFeedSource::FromFiles("demo-city", DemoCityFeed());
  auto feed = LoadGtfs({&source});
  EXPECT_TRUE(feed.ok()) << feed.status();
  if (!feed.ok()) return nullptr;
  auto net = Network::Build(std::move(*feed));
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? *net : nullptr;
}

TEST(DemoCityTest, CommittedFeedIsWhatTheGeneratorWrites) {
  DemoCityStats stats;
  const std::vector<TextFile> files = DemoCityFeed({}, &stats);
  std::set<std::string> names;
  for (const TextFile& file : files) {
    names.insert(file.name);
    const std::filesystem::path committed = std::filesystem::path(kFeedDir) / file.name;
    ASSERT_TRUE(std::filesystem::exists(committed)) << committed;
    EXPECT_TRUE(file.text == ReadAll(committed))
        << committed << " differs from the generator's output: run "
        << "`smartbus demo-feed --out data/demo-city` and commit the result";
  }
  EXPECT_EQ(names.size(), 9u);
  EXPECT_EQ(files.size(), 9u);
  // And nothing else is committed there: the folder is exactly the generator's output.
  for (const auto& entry : std::filesystem::directory_iterator(kFeedDir)) {
    if (entry.path().extension() == ".txt") {
      EXPECT_TRUE(names.count(entry.path().filename().string())) << entry.path();
    }
  }
  EXPECT_EQ(stats.routes, 6);
  EXPECT_GT(stats.stop_times, 3000);
  EXPECT_LT(stats.stop_times, 6000);  // small: a few thousand stop_times
}

TEST(DemoCityTest, LoadsWithoutWarningsAndEveryStopPlacedInOrder) {
  auto net = LoadDemo();
  ASSERT_NE(net, nullptr);
  EXPECT_TRUE(net->feed().warnings.empty());
  for (const auto& [kind, n] : net->feed().warnings) ADD_FAILURE() << kind << ": " << n;
  EXPECT_EQ(net->nonmonotone_patterns(), 0);
  EXPECT_LT(net->max_stop_offset_m(), 10.0);  // stops sit on the kerb, 8 m from the centreline
  EXPECT_EQ(net->patterns().size(), 10u);
  for (const Pattern& p : net->patterns()) {
    EXPECT_TRUE(p.monotone);
    for (size_t k = 1; k < p.stop_dist_m.size(); ++k) {
      EXPECT_GT(p.stop_dist_m[k], p.stop_dist_m[k - 1] + 100) << "route "
          << net->feed().routes[p.route].id << " stop " << k;
    }
    // The placement agrees with the feed's own shape_dist_traveled (metres) within 2 m.
    const GtfsTrip& trip = net->feed().trips[p.trips.front()];
    for (uint32_t k = 0; k < trip.num_stop_times; ++k) {
      float given = net->feed().stop_times[trip.first_stop_time + k].shape_dist;
      EXPECT_NEAR(p.stop_dist_m[k], given, 2.0)
          << "route " << net->feed().routes[p.route].id << " stop " << k;
    }
  }
  EXPECT_EQ(net->feed().timezone, "America/New_York");
}

TEST(DemoCityTest, LoopAndOutAndBackRoutesStartAndEndAtTheSameStop) {
  auto net = LoadDemo();
  ASSERT_NE(net, nullptr);
  uint32_t central = *net->FindStop("1000");
  EXPECT_EQ(net->feed().stops[central].name, "Central Station");
  for (const char* route : {"4", "5"}) {
    auto r = net->FindRoute(route);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(net->route_patterns(*r).size(), 1u) << route;
    const Pattern& p = net->pattern(net->route_patterns(*r)[0]);
    EXPECT_EQ(p.stops.front(), p.stops.back()) << route;
    const Polyline& line = net->polylines()[p.polyline];
    EXPECT_NEAR(p.stop_dist_m.back(), line.length_m(), 2.0) << route;
    EXPECT_NEAR(p.stop_dist_m.front(), 0, 2.0) << route;
  }
  // The shuttle turns at Harbor Pier halfway along (3 km out and back).
  const Pattern& shuttle = net->pattern(net->route_patterns(*net->FindRoute("5"))[0]);
  EXPECT_EQ(net->feed().stops[shuttle.stops[3]].name, "Harbor Pier");
  EXPECT_NEAR(shuttle.stop_dist_m[3], 1500, 5);
}

TEST(DemoCityTest, CentralStationIsTheTransferHub) {
  auto net = LoadDemo();
  ASSERT_NE(net, nullptr);
  std::set<std::string> routes;
  for (auto [pattern, pos] : net->stop_patterns(*net->FindStop("1000"))) {
    routes.insert(net->feed().routes[net->pattern(pattern).route].id);
  }
  EXPECT_EQ(routes, (std::set<std::string>{"1", "2", "3", "4", "6X"}));
}

TEST(DemoCityTest, CalendarRunsWeekdayWeekendAndHolidayTimetables) {
  auto net = LoadDemo();
  ASSERT_NE(net, nullptr);
  auto ids = [&](int32_t date) {
    std::vector<std::string> out;
    for (uint32_t s : net->ActiveServices(date)) out.push_back(net->feed().services[s].id);
    return out;
  };
  EXPECT_EQ(ids(20261123), std::vector<std::string>{"WD"});  // Monday
  EXPECT_EQ(ids(20261128), std::vector<std::string>{"WE"});  // Saturday
  EXPECT_EQ(ids(20261126), std::vector<std::string>{"WE"});  // Thanksgiving (calendar_dates)
  EXPECT_GT(net->ActiveTrips(20261123).size(), 300u);
}

TEST(DemoCityTest, BlocksChainTripsWithLayoversAtTheSameTerminal) {
  auto net = LoadDemo();
  ASSERT_NE(net, nullptr);
  const GtfsFeed& f = net->feed();
  int chained = 0;
  for (TripIdx t : f.trips.ids()) {
    ASSERT_FALSE(f.trips[t].block_id.empty()) << f.trips[t].id;
    auto next = net->NextTripInBlock(t);
    if (!next) continue;
    ++chained;
    const GtfsStopTime& last = f.stop_times[f.trips[t].first_stop_time +
                                            f.trips[t].num_stop_times - 1];
    const GtfsStopTime& first = f.stop_times[f.trips[*next].first_stop_time];
    EXPECT_EQ(last.stop, first.stop) << f.trips[t].id << " -> " << f.trips[*next].id;
    EXPECT_GE(first.departure_s - last.arrival_s, 5 * 60)
        << f.trips[t].id << " -> " << f.trips[*next].id;
  }
  EXPECT_GT(chained, 400);
}

}  // namespace
}  // namespace smartbus
