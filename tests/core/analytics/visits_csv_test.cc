#include "services/core/tracking/csv_io.h"

#include "gtest/gtest.h"

namespace smartbus {
namespace {

// Route R1, trip T1 over stops A, B, C with stop_sequence 2, 3, 4 (as WMATA's start at 2).
GtfsFeed TinyFeed() {
  GtfsFeed f;
  f.routes.push_back({"R1", "1", "", 3, 0});
  f.route_index["R1"] = 0;
  for (const char* id : {"A", "B", "C"}) {
    f.stop_index[id] = static_cast<uint32_t>(f.stops.size());
    GtfsStop s;
    s.id = id;
    f.stops.push_back(s);
  }
  GtfsTrip t;
  t.id = "T1";
  t.route = 0;
  t.first_stop_time = 0;
  t.num_stop_times = 3;
  f.trips.push_back(t);
  f.trip_index["T1"] = TripIdx(0);
  for (uint32_t i = 0; i < 3; ++i) {
    GtfsStopTime st;
    st.stop = i;
    st.stop_sequence = i + 2;
    f.stop_times.push_back(st);
  }
  return f;
}

TEST(VisitsCsv, ReadsRowsAndResolvesStopIndexFromStopSequence) {
  GtfsFeed feed = TinyFeed();
  VisitsCsvStats stats;
  auto v = ParseStopVisitsCsv(
      "vehicle_id,trip_id,route_id,stop_id,stop_sequence,service_date,scheduled_arrival,"
      "scheduled_departure,arrival,departure,boardings,alightings,load,occupancy\n"
      "V1,T1,R1,B,3,20260216,1771257600,1771257610,1771257650.5,1771257660,4,,9,2\r\n"
      "V1,T9,R1,B,3,20260216,1,1,1,1,,,,\n"
      "V1,T1,R1,C,7,20260216,1,1,1,1,,,,\n",
      "v.csv", feed, &stats);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 1u);
  const StopVisit& x = (*v)[0];
  EXPECT_EQ(x.vehicle_id, "V1");
  EXPECT_EQ(x.trip, 0u);
  EXPECT_EQ(x.stop, 1u);
  EXPECT_EQ(x.stop_index, 1u);
  EXPECT_EQ(x.stop_sequence, 3u);
  EXPECT_EQ(x.scheduled_departure_s, 1771257610);
  EXPECT_DOUBLE_EQ(x.arrival_s, 1771257650.5);
  EXPECT_EQ(x.boardings, 4);
  EXPECT_EQ(x.alightings, -1);
  EXPECT_EQ(x.load, 9);
  EXPECT_EQ(x.occupancy, 2);
  EXPECT_EQ(stats.rows, 3);
  EXPECT_EQ(stats.warnings["unknown_trip"], 1);
  EXPECT_EQ(stats.warnings["unknown_stop_sequence"], 1);
}

TEST(VisitsCsv, BadNumberNamesFileLineColumnAndValue) {
  GtfsFeed feed = TinyFeed();
  auto v = ParseStopVisitsCsv(
      "vehicle_id,trip_id,route_id,stop_id,stop_sequence,service_date,scheduled_arrival,"
      "scheduled_departure,arrival,departure\n"
      "V1,T1,R1,B,3,20260216,1,1,soon,1\n",
      "v.csv", feed);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(), "v.csv:2: column arrival: bad value 'soon'");
}

TEST(VisitsCsv, MissingColumnIsNamed) {
  GtfsFeed feed = TinyFeed();
  auto v = ParseStopVisitsCsv("vehicle_id,trip_id\n", "v.csv", feed);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("'route_id'"), absl::string_view::npos);
}

}  // namespace
}  // namespace smartbus
