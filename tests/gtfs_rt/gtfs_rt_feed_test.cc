// GTFS-RT decoding and mapping (services/gtfs_rt/gtfs_rt_feed.h): the real snapshots in
// ../shared/data/gtfs-rt-snapshots (skipped when absent), hand-made feeds for the mapping
// rules, and bad feeds (garbage, truncated, wrong type, missing header).

#include "services/gtfs_rt/gtfs_rt_feed.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "tests/core/gtfs/test_feed.h"
#include "services/files/feed_files.h"

namespace smartbus::gtfs_rt {
namespace {

namespace rt = ::transit_realtime;
using ::testing::HasSubstr;

const std::string kSnapshots = std::string(SMARTBUS_SHARED_DATA) + "/gtfs-rt-snapshots";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const Network> MinimalNetwork(smartbus::testing::TempDir& tmp) {
  const std::string dir =
      smartbus::testing::WriteFeedDir(tmp.path() + "/feed", smartbus::testing::MinimalFeed());
  auto feed = LoadGtfs({dir});
  EXPECT_TRUE(feed.ok()) << feed.status();
  auto net = Network::Build(std::move(*feed));
  EXPECT_TRUE(net.ok()) << net.status();
  return *net;
}

rt::FeedMessage Header(int64_t t) {
  rt::FeedMessage m;
  m.mutable_header()->set_gtfs_realtime_version("2.0");
  m.mutable_header()->set_timestamp(static_cast<uint64_t>(t));
  return m;
}

struct SnapshotCase {
  const char* file;
  uint64_t entities;  // README.md of the snapshots
};

TEST(GtfsRtFeedTest, RealVehiclePositionSnapshotsDecodeWithCounts) {
  if (!std::filesystem::exists(kSnapshots))
    GTEST_SKIP() << kSnapshots << " absent (the shared real data): snapshot counts not checked";
  smartbus::testing::TempDir tmp;
  auto net = MinimalNetwork(tmp);  // none of their trips: every trip id is unknown
  for (const SnapshotCase& c : {SnapshotCase{"nyc_mta_bus_2026/nyc-vehicle-positions.pb", 3018},
                                SnapshotCase{"louisville_tarc_2026/louisville-positions.pb", 78},
                                SnapshotCase{"brisbane_seq_2022/SEQ-VehiclePositions.pb", 920}}) {
    SCOPED_TRACE(c.file);
    FeedError err;
    auto msg = ParseFeed(ReadFile(kSnapshots + "/" + c.file), &err);
    ASSERT_TRUE(msg.ok()) << msg.status();
    EntityCounts n;
    VehicleDedupe dedupe;
    std::vector<Fix> fixes = MapVehiclePositions(*msg, net.get(), {}, &dedupe, &n);
    std::printf("%-45s entities %llu, fixes %zu, unknown trips %llu, stale %llu, invalid %llu, "
                "duplicates %llu\n",
                c.file, (unsigned long long)n.entities, fixes.size(),
                (unsigned long long)n.unknown_trips, (unsigned long long)n.stale,
                (unsigned long long)n.invalid, (unsigned long long)n.duplicates);
    EXPECT_EQ(n.entities, c.entities);
    EXPECT_EQ(n.used, fixes.size());
    EXPECT_EQ(n.used + n.stale + n.invalid + n.duplicates + n.other_type + n.deleted, n.entities);
    EXPECT_GT(fixes.size(), 0u);
    size_t with_trip = 0;
    for (const Fix& f : fixes) {
      EXPECT_FALSE(f.vehicle_id.empty());
      EXPECT_TRUE(std::isfinite(f.lat) && std::isfinite(f.lon));
      with_trip += !f.trip_id.empty();
    }
    EXPECT_EQ(n.unknown_trips, with_trip);  // no trip of theirs is in the test network
    // Polled again: nothing new.
    EntityCounts again;
    EXPECT_TRUE(MapVehiclePositions(*msg, net.get(), {}, &dedupe, &again).empty());
    EXPECT_EQ(again.duplicates, fixes.size());
  }
}

TEST(GtfsRtFeedTest, NycPositionsCarryBearingAndTripsAsTheReadmeSays) {
  const std::string path = kSnapshots + "/nyc_mta_bus_2026/nyc-vehicle-positions.pb";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent";
  FeedError err;
  auto msg = ParseFeed(ReadFile(path), &err);
  ASSERT_TRUE(msg.ok());
  EntityCounts n;
  VehicleDedupe dedupe;
  std::vector<Fix> fixes = MapVehiclePositions(*msg, nullptr, {}, &dedupe, &n);
  ASSERT_EQ(fixes.size(), 3018u);
  size_t with_trip = 0, with_bearing = 0, with_speed = 0;
  for (const Fix& f : fixes) {
    with_trip += !f.trip_id.empty();
    with_bearing += std::isfinite(f.bearing_deg);
    with_speed += std::isfinite(f.speed_mps);
  }
  EXPECT_EQ(with_trip, 3008u);
  EXPECT_EQ(with_bearing, 3018u);
  EXPECT_EQ(with_speed, 0u);
}

TEST(GtfsRtFeedTest, RealTripUpdateSnapshotsAreNotVehiclePositions) {
  if (!std::filesystem::exists(kSnapshots)) GTEST_SKIP() << kSnapshots << " absent";
  for (const char* f : {"nyc_mta_bus_2026/nyc-trip-updates.pb",
                        "louisville_tarc_2026/louisville-updates.pb",
                        "brisbane_seq_2022/SEQ-TripUpdates.pb"}) {
    SCOPED_TRACE(f);
    FeedError err;
    auto msg = ParseFeed(ReadFile(kSnapshots + "/" + f), &err);
    ASSERT_TRUE(msg.ok()) << msg.status();
    EntityCounts n;
    VehicleDedupe dedupe;
    EXPECT_TRUE(MapVehiclePositions(*msg, nullptr, {}, &dedupe, &n).empty());
    EXPECT_EQ(n.other_type, n.entities);  // the poller calls this a wrong_type feed
    EXPECT_GT(n.entities, 0u);
  }
}

TEST(GtfsRtFeedTest, BadBytesAreUndecodableWithAReason) {
  FeedError err = FeedError::kFetch;
  auto garbage = ParseFeed("this is not a protobuf at all \xff\xff\xff", &err);
  EXPECT_FALSE(garbage.ok());
  EXPECT_EQ(err, FeedError::kUndecodable);
  EXPECT_THAT(std::string(garbage.status().message()), HasSubstr("not a GTFS-RT FeedMessage"));
  EXPECT_FALSE(ParseFeed("", &err).ok());

  rt::FeedMessage no_header;
  no_header.add_entity()->set_id("x");
  std::string bytes = no_header.SerializePartialAsString();
  auto missing = ParseFeed(bytes, &err);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("header"));

  const std::string nyc = kSnapshots + "/nyc_mta_bus_2026/nyc-vehicle-positions.pb";
  if (std::filesystem::exists(nyc)) {
    const std::string whole = ReadFile(nyc);
    auto truncated = ParseFeed(absl::string_view(whole).substr(0, whole.size() / 2 + 7), &err);
    EXPECT_FALSE(truncated.ok());
    EXPECT_EQ(err, FeedError::kUndecodable);
  }
}

TEST(GtfsRtFeedTest, VehiclePositionsMapEveryFieldAndDropStaleAndInvalid) {
  rt::FeedMessage m = Header(1000);
  auto add = [&](const std::string& id, int64_t t) {
    rt::FeedEntity* e = m.add_entity();
    e->set_id("e-" + id);
    rt::VehiclePosition* v = e->mutable_vehicle();
    if (!id.empty()) v->mutable_vehicle()->set_id(id);
    v->set_timestamp(static_cast<uint64_t>(t));
    v->mutable_position()->set_latitude(40.0f);
    v->mutable_position()->set_longitude(-75.0f);
    return v;
  };
  rt::VehiclePosition* full = add("bus1", 990);
  full->mutable_position()->set_bearing(90);
  full->mutable_position()->set_speed(5.5f);
  full->mutable_trip()->set_trip_id("T1");
  full->mutable_trip()->set_route_id("R1");
  full->set_occupancy_status(rt::VehiclePosition::FEW_SEATS_AVAILABLE);
  add("bus2", 100);                                  // 900 s before the header: stale
  add("", 995);                                      // no vehicle id: the entity id is used
  add("bus4", 995)->clear_position();                // no position: invalid
  m.add_entity()->set_id("gone");                    // neither: another type
  m.mutable_entity(4)->set_is_deleted(true);
  EntityCounts n;
  VehicleDedupe dedupe;
  std::vector<Fix> fixes = MapVehiclePositions(m, nullptr, {}, &dedupe, &n);
  ASSERT_EQ(fixes.size(), 2u);
  const Fix& f = fixes[0];
  EXPECT_EQ(f.vehicle_id, "bus1");
  EXPECT_EQ(f.timestamp_s, 990);
  EXPECT_FLOAT_EQ(f.bearing_deg, 90);
  EXPECT_FLOAT_EQ(f.speed_mps, 5.5f);
  EXPECT_EQ(f.trip_id, "T1");
  EXPECT_EQ(f.route_id, "R1");
  EXPECT_EQ(f.occupancy, 2);
  EXPECT_EQ(fixes[1].vehicle_id, "e-");
  EXPECT_TRUE(std::isnan(fixes[1].bearing_deg));
  EXPECT_EQ(n.stale, 1u);
  EXPECT_EQ(n.invalid, 1u);
  EXPECT_EQ(n.deleted, 1u);
}

TEST(GtfsRtFeedTest, TripUpdatesGiveCancellationsAndSkippedStops) {
  smartbus::testing::TempDir tmp;
  auto net = MinimalNetwork(tmp);
  rt::FeedMessage m = Header(1767704400);  // 2026-01-06 08:00 New York
  rt::TripUpdate* cancel = m.add_entity()->mutable_trip_update();
  cancel->mutable_trip()->set_trip_id("T1");
  cancel->mutable_trip()->set_start_date("20260106");
  cancel->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::CANCELED);
  rt::TripUpdate* skip = m.add_entity()->mutable_trip_update();
  skip->mutable_trip()->set_trip_id("T2");  // no start_date: the header's date
  auto* stu = skip->add_stop_time_update();
  stu->set_stop_id("S2");
  stu->set_schedule_relationship(rt::TripUpdate::StopTimeUpdate::SKIPPED);
  skip->add_stop_time_update()->set_stop_id("S3");  // scheduled: nothing
  rt::TripUpdate* unknown = m.add_entity()->mutable_trip_update();
  unknown->mutable_trip()->set_trip_id("NOPE");
  unknown->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::CANCELED);
  rt::TripUpdate* normal = m.add_entity()->mutable_trip_update();
  normal->mutable_trip()->set_trip_id("T1");
  EntityCounts n;
  std::vector<TripChange> changes = MapTripUpdates(m, *net, &n);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].trip_id, "T1");
  EXPECT_TRUE(changes[0].cancelled);
  EXPECT_EQ(changes[0].service_date, 20260106);
  EXPECT_EQ(changes[1].trip_id, "T2");
  EXPECT_FALSE(changes[1].cancelled);
  EXPECT_EQ(changes[1].service_date, 20260106);
  ASSERT_EQ(changes[1].skipped.size(), 1u);
  EXPECT_EQ(changes[1].skipped[0].stop_id, "S2");
  EXPECT_EQ(n.entities, 4u);
  EXPECT_EQ(n.unknown_trips, 1u);
  EXPECT_EQ(n.used, 3u);
}

// REPLACEMENT: the scheduled stops the update no longer lists are skipped; ADDED / NEW /
// DUPLICATED trips are counted apart (not unknown trips) and left out, and their vehicles'
// positions are sent without the trip id.
TEST(GtfsRtFeedTest, ReplacementSkipsUnlistedStopsAndAddedTripsAreCountedApart) {
  smartbus::testing::TempDir tmp;
  auto net = MinimalNetwork(tmp);
  rt::FeedMessage m = Header(1767704400);
  rt::TripUpdate* repl = m.add_entity()->mutable_trip_update();
  repl->mutable_trip()->set_trip_id("T1");
  repl->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::REPLACEMENT);
  repl->add_stop_time_update()->set_stop_sequence(1);  // S1
  repl->add_stop_time_update()->set_stop_id("S3");     // S3: S2 is left out
  rt::TripUpdate* empty = m.add_entity()->mutable_trip_update();  // lists no stop: no change
  empty->mutable_trip()->set_trip_id("T2");
  empty->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::REPLACEMENT);
  const auto kAdded = static_cast<rt::TripDescriptor::ScheduleRelationship>(1);  // deprecated
  for (auto rel : {kAdded, rt::TripDescriptor::NEW, rt::TripDescriptor::DUPLICATED}) {
    rt::TripUpdate* added = m.add_entity()->mutable_trip_update();
    added->mutable_trip()->set_trip_id(rel == rt::TripDescriptor::DUPLICATED ? "T1" : "EXTRA");
    added->mutable_trip()->set_schedule_relationship(rel);
  }
  EntityCounts n;
  std::vector<TripChange> changes = MapTripUpdates(m, *net, &n);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].trip_id, "T1");
  EXPECT_FALSE(changes[0].cancelled);
  ASSERT_EQ(changes[0].skipped.size(), 1u);
  EXPECT_EQ(changes[0].skipped[0].stop_id, "S2");
  EXPECT_EQ(changes[0].skipped[0].stop_sequence, 2u);
  EXPECT_EQ(n.added_trips, 3u);
  EXPECT_EQ(n.unknown_trips, 0u);
  EXPECT_EQ(n.used, 2u);

  rt::FeedMessage vp = Header(1767704400);
  rt::VehiclePosition* v = vp.add_entity()->mutable_vehicle();
  v->mutable_vehicle()->set_id("bus9");
  v->mutable_position()->set_latitude(40.0);
  v->mutable_position()->set_longitude(-75.0);
  v->mutable_trip()->set_trip_id("T1");
  v->mutable_trip()->set_route_id("R1");
  v->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::DUPLICATED);
  VehicleDedupe dedupe;
  EntityCounts vn;
  std::vector<Fix> fixes = MapVehiclePositions(vp, net.get(), {}, &dedupe, &vn);
  ASSERT_EQ(fixes.size(), 1u);
  EXPECT_EQ(fixes[0].trip_id, "");  // T1 at another time: not T1's timetable
  EXPECT_EQ(fixes[0].route_id, "R1");
  EXPECT_EQ(vn.added_trips, 1u);
}

// FULL_DATASET replaces what a feed has in force; DIFFERENTIAL updates entities by id, removes
// those marked is_deleted or no longer changing anything, and keeps the rest.
TEST(GtfsRtFeedTest, DifferentialFeedsUpdateAndDeleteByEntity) {
  smartbus::testing::TempDir tmp;
  auto net = MinimalNetwork(tmp);
  auto cancel = [](rt::FeedMessage* m, const std::string& id, const std::string& trip) {
    rt::FeedEntity* e = m->add_entity();
    e->set_id(id);
    e->mutable_trip_update()->mutable_trip()->set_trip_id(trip);
    e->mutable_trip_update()->mutable_trip()->set_start_date("20260106");
    e->mutable_trip_update()->mutable_trip()->set_schedule_relationship(rt::TripDescriptor::CANCELED);
    return e;
  };
  auto alert = [](rt::FeedMessage* m, const std::string& id) {
    rt::FeedEntity* e = m->add_entity();
    e->set_id(id);
    e->mutable_alert()->add_informed_entity()->set_stop_id("S2");
    e->mutable_alert()->mutable_header_text()->add_translation()->set_text(id);
    return e;
  };
  auto ids = [](const FeedChanges& c) {
    std::vector<std::string> out;
    for (const TripChange& t : c.trips()) out.push_back(t.trip_id);
    for (const Alert& a : c.alerts()) out.push_back(a.id);
    return out;
  };
  FeedChanges trips, alerts;
  EntityCounts n;
  rt::FeedMessage full = Header(1767704400);
  cancel(&full, "e1", "T1");
  cancel(&full, "e2", "T2");
  trips.Apply(full, FeedKind::kTripUpdates, net.get(), &n);
  EXPECT_EQ(ids(trips), (std::vector<std::string>{"T1", "T2"}));

  rt::FeedMessage diff = Header(1767704430);
  diff.mutable_header()->set_incrementality(rt::FeedHeader::DIFFERENTIAL);
  cancel(&diff, "e1", "T1")->set_is_deleted(true);  // e1 removed, e2 kept
  trips.Apply(diff, FeedKind::kTripUpdates, net.get(), &n);
  EXPECT_EQ(ids(trips), (std::vector<std::string>{"T2"}));
  rt::FeedMessage diff2 = Header(1767704460);
  diff2.mutable_header()->set_incrementality(rt::FeedHeader::DIFFERENTIAL);
  rt::FeedEntity* back = diff2.add_entity();  // e2 running as scheduled again
  back->set_id("e2");
  back->mutable_trip_update()->mutable_trip()->set_trip_id("T2");
  cancel(&diff2, "e3", "T1");
  trips.Apply(diff2, FeedKind::kTripUpdates, net.get(), &n);
  EXPECT_EQ(ids(trips), (std::vector<std::string>{"T1"}));
  rt::FeedMessage full2 = Header(1767704490);  // a full dataset again: only what it has
  cancel(&full2, "e9", "T2");
  trips.Apply(full2, FeedKind::kTripUpdates, net.get(), &n);
  EXPECT_EQ(ids(trips), (std::vector<std::string>{"T2"}));

  rt::FeedMessage a1 = Header(1767704400);
  alert(&a1, "a1");
  alert(&a1, "a2");
  alerts.Apply(a1, FeedKind::kAlerts, nullptr, &n);
  rt::FeedMessage a2 = Header(1767704430);
  a2.mutable_header()->set_incrementality(rt::FeedHeader::DIFFERENTIAL);
  alert(&a2, "a1")->set_is_deleted(true);
  alert(&a2, "a3");
  alerts.Apply(a2, FeedKind::kAlerts, nullptr, &n);
  EXPECT_EQ(ids(alerts), (std::vector<std::string>{"a2", "a3"}));
}

TEST(GtfsRtFeedTest, LouisvilleSkippedStopsAreReadWhenItsTripsAreKnown) {
  const std::string path = kSnapshots + "/louisville_tarc_2026/louisville-updates.pb";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent";
  FeedError err;
  auto msg = ParseFeed(ReadFile(path), &err);
  ASSERT_TRUE(msg.ok());
  smartbus::testing::TempDir tmp;
  auto net = MinimalNetwork(tmp);
  EntityCounts n;
  EXPECT_TRUE(MapTripUpdates(*msg, *net, &n).empty());  // no static GTFS for TARC here
  EXPECT_EQ(n.entities, 265u);
  EXPECT_EQ(n.unknown_trips, 265u);
  size_t skipped = 0;
  for (const auto& e : msg->entity())
    for (const auto& s : e.trip_update().stop_time_update())
      skipped += s.schedule_relationship() == rt::TripUpdate::StopTimeUpdate::SKIPPED;
  EXPECT_EQ(skipped, 30u);  // README: 30 SKIPPED in the decoded text
}

TEST(GtfsRtFeedTest, AlertsMapTextsEntitiesAndPeriods) {
  rt::FeedMessage m = Header(1000);
  rt::FeedEntity* e = m.add_entity();
  e->set_id("a1");
  rt::Alert* a = e->mutable_alert();
  auto* p = a->add_active_period();
  p->set_start(900);
  p->set_end(2000);
  a->add_informed_entity()->set_route_id("R1");
  a->add_informed_entity()->set_route_type(3);  // nothing SmartBus can place: dropped
  a->set_cause(rt::Alert::CONSTRUCTION);
  a->set_effect(rt::Alert::DETOUR);
  auto* t = a->mutable_header_text()->add_translation();
  t->set_text("Detour");
  t->set_language("en");
  m.add_entity()->set_id("a2");
  m.mutable_entity(1)->mutable_alert()->add_informed_entity()->set_stop_id("S1");  // no header
  EntityCounts n;
  std::vector<Alert> alerts = MapAlerts(m, &n);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].id, "a1");
  ASSERT_EQ(alerts[0].informed.size(), 1u);
  EXPECT_EQ(alerts[0].informed[0].route_id, "R1");
  EXPECT_EQ(alerts[0].cause, 10);
  EXPECT_EQ(alerts[0].effect, 4);
  EXPECT_EQ(alerts[0].header, (TranslatedText{{"en", "Detour"}}));
  EXPECT_EQ(alerts[0].active_periods, (std::vector<ActivePeriod>{{900, 2000}}));
  EXPECT_EQ(n.invalid, 1u);
}

}  // namespace
}  // namespace smartbus::gtfs_rt
