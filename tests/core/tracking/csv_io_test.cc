#include "services/core/tracking/csv_io.h"

#include <cmath>

#include "gtest/gtest.h"

namespace smartbus {
namespace {

TEST(PositionsCsv, ColumnsFoundByNameWithOptionalTrailingColumns) {
  std::string csv =
      "\xEF\xBB\xBF" "trip_id, lat ,lon,vehicle_id,timestamp,route_id,bearing,speed,occupancy,load,"
      "accuracy,extra\r\n"
      "T1,38.9,-77.03,bus 7,1771257482,R1,265,4.5,1,30,12.5,x\r\n"
      "\n"
      ",38.91,-77.04,\"b,8\",1771257483,,,,,,,\n";
  std::vector<Fix> fixes;
  PositionsReadStats st;
  ASSERT_TRUE(ParsePositionsCsv(csv, {}, &fixes, &st).ok());
  ASSERT_EQ(fixes.size(), 2u);
  EXPECT_EQ(fixes[0].vehicle_id, "bus 7");
  EXPECT_EQ(fixes[0].timestamp_s, 1771257482);
  EXPECT_DOUBLE_EQ(fixes[0].lat, 38.9);
  EXPECT_EQ(fixes[0].trip_id, "T1");
  EXPECT_EQ(fixes[0].route_id, "R1");
  EXPECT_FLOAT_EQ(fixes[0].bearing_deg, 265);
  EXPECT_FLOAT_EQ(fixes[0].speed_mps, 4.5);
  EXPECT_EQ(fixes[0].occupancy, 1);
  EXPECT_EQ(fixes[0].load, 30);
  EXPECT_EQ(fixes[0].boardings, -1);  // column absent
  EXPECT_FLOAT_EQ(fixes[0].accuracy_m, 12.5);
  EXPECT_EQ(fixes[1].vehicle_id, "b,8");  // quoted
  EXPECT_TRUE(fixes[1].trip_id.empty());
  EXPECT_TRUE(std::isnan(fixes[1].bearing_deg));
  EXPECT_TRUE(std::isnan(fixes[1].speed_mps));
  EXPECT_EQ(fixes[1].occupancy, -1);
  EXPECT_EQ(st.rows, 2);
}

TEST(PositionsCsv, MissingRequiredColumnNamesIt) {
  std::vector<Fix> fixes;
  absl::Status s = ParsePositionsCsv("vehicle_id,timestamp,lat\nv,1,2\n", {}, &fixes);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'lon'"), absl::string_view::npos) << s.message();
}

TEST(PositionsCsv, BadRowNamesLineColumnAndValue) {
  std::string csv = "vehicle_id,timestamp,lat,lon\nv,1771257400,38.9,-77\nv,1771257401,abc,-77\n";
  std::vector<Fix> fixes;
  PositionsReadOptions o;
  o.source_name = "pos.csv";
  absl::Status s = ParsePositionsCsv(csv, o, &fixes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("pos.csv line 3"), absl::string_view::npos) << s.message();
  EXPECT_NE(s.message().find("column lat"), absl::string_view::npos) << s.message();
  EXPECT_NE(s.message().find("'abc'"), absl::string_view::npos) << s.message();
  // With skip_bad_rows the row is skipped and counted.
  fixes.clear();
  o.skip_bad_rows = true;
  PositionsReadStats st;
  ASSERT_TRUE(ParsePositionsCsv(csv + "v,1x,1,1\nv,1771257402,38.9\n", o, &fixes, &st).ok());
  EXPECT_EQ(fixes.size(), 1u);
  EXPECT_EQ(st.skipped_rows, 3);
  EXPECT_NE(st.first_error.find("line 3"), std::string::npos);
}

// Unusable but readable values become fixes the tracker rejects (one Matches row each).
TEST(PositionsCsv, NanAndEmptyPositionsAreFixes) {
  std::string csv = "vehicle_id,timestamp,lat,lon\nv,1771257400,nan,-77\n,1771257401,38.9,-77\nv,1771257402,,\n";
  std::vector<Fix> fixes;
  ASSERT_TRUE(ParsePositionsCsv(csv, {}, &fixes).ok());
  ASSERT_EQ(fixes.size(), 3u);
  EXPECT_TRUE(std::isnan(fixes[0].lat));
  EXPECT_TRUE(fixes[1].vehicle_id.empty());
  EXPECT_TRUE(std::isnan(fixes[2].lon));
}

// Probe of 1efad70: timestamps 0, negative, in milliseconds or 1e300 poisoned the replay clock
// (20,361 of 20,777 fixes then future_timestamp) or overflowed llround: they are bad rows.
TEST(PositionsCsv, ImplausibleTimestampsAreBadRows) {
  std::string csv =
      "vehicle_id,timestamp,lat,lon\nv,0,38.9,-77\nv,-5,38.9,-77\nv,1e300,38.9,-77\n"
      "v,1771257400000,38.9,-77\nv,1771257400,38.9,-77\n";
  std::vector<Fix> fixes;
  absl::Status s = ParsePositionsCsv(csv, {}, &fixes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("line 2"), absl::string_view::npos) << s.message();
  EXPECT_NE(s.message().find("2000-01-01"), absl::string_view::npos) << s.message();
  PositionsReadOptions o;
  o.skip_bad_rows = true;
  PositionsReadStats st;
  fixes.clear();
  ASSERT_TRUE(ParsePositionsCsv(csv, o, &fixes, &st).ok());
  ASSERT_EQ(fixes.size(), 1u);
  EXPECT_EQ(fixes[0].timestamp_s, 1771257400);
  EXPECT_EQ(st.skipped_rows, 4);
}

TEST(MatchesCsv, RowFormat) {
  GtfsFeed feed;
  feed.trips.push_back({});
  feed.trips[0].id = "T9";
  MatchResult m;
  m.vehicle_id = "v1";
  m.timestamp_s = 1771257482;
  m.trip = TripIdx(0);
  m.dist_along_m = 1234.56;
  m.offset_m = 3.04;
  m.state = MatchState::kInService;
  std::string out;
  AppendMatchRow(m, feed, &out);
  EXPECT_EQ(out, "v1,1771257482,T9,1234.6,3.0,in_service,\n");
  out.clear();
  MatchResult r;
  r.vehicle_id = "v1";
  r.timestamp_s = 5;
  r.state = MatchState::kRejected;
  r.reason = RejectReason::kOutOfOrder;
  AppendMatchRow(r, feed, &out);
  EXPECT_EQ(out, "v1,5,,,,rejected,out_of_order\n");
  EXPECT_EQ(MatchesCsvHeader(), "vehicle_id,timestamp,trip_id,dist_along_m,offset_m,state,reason\n");
}

TEST(StopVisitsCsv, RowFormat) {
  GtfsFeed feed;
  feed.trips.push_back({});
  feed.trips[0].id = "T9";
  feed.routes.push_back({});
  feed.routes[0].id = "R1";
  feed.stops.push_back({});
  feed.stops[0].id = "S5";
  StopVisit v;
  v.vehicle_id = "v1";
  v.trip = TripIdx(0);
  v.route = 0;
  v.stop = 0;
  v.stop_sequence = 7;
  v.service_date = 20260216;
  v.scheduled_arrival_s = 1000;
  v.scheduled_departure_s = 1010;
  v.arrival_s = 1002.4;
  v.departure_s = 1020.6;
  v.occupancy = 2;
  std::string out;
  AppendStopVisitRow(v, feed, &out);
  EXPECT_EQ(out, "v1,T9,R1,S5,7,20260216,1000,1010,1002,1021,,,,2\n");
  EXPECT_EQ(StopVisitsCsvHeader(),
            "vehicle_id,trip_id,route_id,stop_id,stop_sequence,service_date,scheduled_arrival,"
            "scheduled_departure,arrival,departure,boardings,alightings,load,occupancy\n");
}

}  // namespace
}  // namespace smartbus
