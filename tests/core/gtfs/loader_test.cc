// LoadGtfs on tiny inline feeds: real-world CSV oddities, directory, zip and in-memory sources,
// several feeds with clashing ids, the service calendar, progress reports, and every bad-feed
// error (each must name the file and, for a bad row, the line). Most feeds are given in memory
// (MemoryFeedSource); the directory and zip sources are tested against it.

#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/gtfs/source.h"
#include "tests/core/gtfs/test_feed.h"
#include "services/files/feed_files.h"

namespace smartbus {
namespace {

using ::smartbus::testing::FeedFiles;
using ::smartbus::testing::MinimalFeed;
using ::smartbus::testing::TempDir;
using ::smartbus::testing::WriteFeedDir;
using ::smartbus::testing::WriteFeedZip;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<GtfsFeed> LoadFiles(const FeedFiles& files) {
  MemoryFeedSource src("feed", files);
  return LoadGtfs({&src});
}

// The error message of loading `files` (empty when the load succeeded).
std::string LoadError(const FeedFiles& files) {
  auto feed = LoadFiles(files);
  return feed.ok() ? "" : std::string(feed.status().message());
}

const GtfsTrip& Trip(const GtfsFeed& f, const std::string& id) {
  return f.trips[f.trip_index.at(id)];
}
const GtfsStopTime& StopTime(const GtfsFeed& f, const std::string& trip, uint32_t k) {
  return f.stop_times[Trip(f, trip).first_stop_time + k];
}

// ---- a good feed ------------------------------------------------------------------------------

TEST(LoadGtfsTest, MinimalFeedCrossReferenced) {
  auto feed = LoadFiles(MinimalFeed());
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->agencies.size(), 1u);
  EXPECT_EQ(feed->timezone, "America/New_York");
  EXPECT_EQ(feed->routes.size(), 1u);
  EXPECT_EQ(feed->stops.size(), 3u);
  EXPECT_EQ(feed->trips.size(), 2u);
  EXPECT_EQ(feed->stop_times.size(), 6u);
  const GtfsTrip& t1 = Trip(*feed, "T1");
  EXPECT_EQ(t1.num_stop_times, 3u);
  EXPECT_EQ(feed->routes[t1.route].id, "R1");
  EXPECT_EQ(feed->services[t1.service].id, "WK");
  EXPECT_EQ(t1.shape, kNoIndex);
  EXPECT_EQ(t1.direction_id, 0);
  EXPECT_EQ(feed->stops[StopTime(*feed, "T1", 2).stop].id, "S3");
  EXPECT_EQ(StopTime(*feed, "T1", 1).arrival_s, 8 * 3600 + 5 * 60);
  EXPECT_TRUE(std::isnan(StopTime(*feed, "T1", 0).shape_dist));
  EXPECT_TRUE(feed->warnings.empty());
}

TEST(LoadGtfsTest, RouteColoursReadAndBadOnesWarned) {
  FeedFiles files = MinimalFeed();
  files["routes.txt"] =
      "route_id,agency_id,route_short_name,route_long_name,route_type,route_color,route_text_color\n"
      "R1,A,1,Main Street,3,1f77b4,FFFFFF\n"
      "R2,A,2,Side Street,3,#12345,\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->routes[0].color, "1F77B4");
  EXPECT_EQ(feed->routes[0].text_color, "FFFFFF");
  EXPECT_EQ(feed->routes[1].color, "");
  EXPECT_EQ(feed->routes[1].text_color, "");
  EXPECT_EQ(feed->warnings.at("route_color_invalid"), 1);
}

TEST(LoadGtfsTest, ParentStationAndWheelchairBoarding) {
  FeedFiles files = MinimalFeed();
  // S1's station comes after it in the file; S3 names a station the feed lacks; S2's
  // wheelchair_boarding is not a GTFS value.
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,wheelchair_boarding\n"
      "S1,First,40.0000,-75.0000,0,ST,1\n"
      "S2,Second,40.0010,-75.0000,0,,7\n"
      "S3,Third,40.0020,-75.0000,0,NOPE,2\n"
      "ST,First Station,40.0001,-75.0001,1,,\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->stops.size(), 4u);
  EXPECT_EQ(feed->stops[0].parent_station, 3u);
  EXPECT_EQ(feed->stops[0].wheelchair_boarding, 1);
  EXPECT_EQ(feed->stops[1].parent_station, kNoIndex);
  EXPECT_EQ(feed->stops[1].wheelchair_boarding, 0);
  EXPECT_EQ(feed->stops[2].parent_station, kNoIndex);
  EXPECT_EQ(feed->stops[2].wheelchair_boarding, 2);
  EXPECT_EQ(feed->stops[3].location_type, 1);
  EXPECT_EQ(feed->warnings.at("wheelchair_boarding_invalid"), 1);
  EXPECT_EQ(feed->warnings.at("parent_station_unknown"), 1);
}

TEST(LoadGtfsTest, RealWorldCsvOddities) {
  FeedFiles files = MinimalFeed();
  // BOM, CRLF, columns in another order, an unknown column, quoted fields with commas and
  // doubled quotes, padded coordinates (NYC), an empty optional field, a blank line.
  files["stops.txt"] =
      "\xEF\xBB\xBFstop_lon,stop_name,extra_column,stop_id,stop_lat,stop_code\r\n"
      " -75.000000,\"Main St, \"\"North\"\" side\",x,S1,  40.000000,\r\n"
      "-75.0000,Second,,S2,40.0010,1002\r\n"
      "\r\n"
      "-75.0000,\"Third\",,S3,40.0020,1003\r\n";
  // Times past 24:00:00, one-digit hours, padded times.
  files["stop_times.txt"] =
      "trip_id,stop_sequence,stop_id,arrival_time,departure_time,pickup_type\r\n"
      "T1,1,S1,23:58:00,23:59:30,\r\n"
      "T1,2,S2, 24:05:00,24:05:00,1\r\n"
      "T1,3,S3,25:10:00,25:10:00,\r\n"
      "T2,1,S1,9:00:00,9:00:00,\r\n"
      "T2,2,S2,9:05:00,9:05:00,\r\n"
      "T2,3,S3,9:10:00,9:10:00,\r\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  const GtfsStop& s1 = feed->stops[feed->stop_index.at("S1")];
  EXPECT_EQ(s1.name, "Main St, \"North\" side");
  EXPECT_DOUBLE_EQ(s1.pos.lat, 40.0);
  EXPECT_DOUBLE_EQ(s1.pos.lon, -75.0);
  EXPECT_EQ(s1.code, "");
  EXPECT_EQ(feed->stops[feed->stop_index.at("S3")].name, "Third");
  EXPECT_EQ(feed->stops[feed->stop_index.at("S3")].code, "1003");
  EXPECT_EQ(StopTime(*feed, "T1", 0).arrival_s, 23 * 3600 + 58 * 60);
  EXPECT_EQ(StopTime(*feed, "T1", 0).departure_s, 23 * 3600 + 59 * 60 + 30);
  EXPECT_EQ(StopTime(*feed, "T1", 1).arrival_s, 24 * 3600 + 5 * 60);
  EXPECT_EQ(StopTime(*feed, "T1", 1).pickup_type, 1);
  EXPECT_EQ(StopTime(*feed, "T1", 2).arrival_s, 25 * 3600 + 10 * 60);
  EXPECT_EQ(StopTime(*feed, "T2", 0).arrival_s, 9 * 3600);
}

TEST(LoadGtfsTest, QuotedLineBreakKeepsLineNumbersRight) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,\"Two\nlines\",40.0,-75.0\n"
      "S2,Second,40.001,-75.0\n"
      "S3,Third,91.5,-75.0\n";  // line 5 of the file
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("line 5"),
                                      HasSubstr("stop_lat"), HasSubstr("91.5")));
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,\"Two\nlines\",40.0,-75.0\n"
      "S2,Second,40.001,-75.0\n"
      "S3,Third,40.002,-75.0\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->stops[feed->stop_index.at("S1")].name, "Two\nlines");
}

TEST(LoadGtfsTest, StopTimesInAnyOrderAreSortedPerTrip) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T2,09:10:00,09:10:00,S3,30\n"
      "T1,08:05:00,08:05:00,S2,2\n"
      "T2,09:00:00,09:00:00,S1,10\n"
      "T1,08:10:00,08:10:00,S3,3\n"
      "T1,08:00:00,08:00:00,S1,1\n"
      "T2,09:05:00,09:05:00,S2,20\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  for (const char* trip : {"T1", "T2"}) {
    const GtfsTrip& t = Trip(*feed, trip);
    ASSERT_EQ(t.num_stop_times, 3u);
    EXPECT_EQ(feed->stops[StopTime(*feed, trip, 0).stop].id, "S1") << trip;
    EXPECT_EQ(feed->stops[StopTime(*feed, trip, 1).stop].id, "S2") << trip;
    EXPECT_EQ(feed->stops[StopTime(*feed, trip, 2).stop].id, "S3") << trip;
  }
  EXPECT_EQ(StopTime(*feed, "T2", 2).stop_sequence, 30u);
}

TEST(LoadGtfsTest, MissingIntermediateTimesAreInterpolated) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,08:00:00,08:00:00,S1,1\n"
      "T1,,,S2,2\n"
      "T1,08:10:00,08:10:00,S3,3\n"
      "T2,09:00:00,09:00:00,S1,1\n"
      "T2,09:05:00,,S2,2\n"
      "T2,09:10:00,09:10:00,S3,3\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(StopTime(*feed, "T1", 1).arrival_s, 8 * 3600 + 5 * 60);
  EXPECT_EQ(StopTime(*feed, "T2", 1).departure_s, 9 * 3600 + 5 * 60);  // copied from arrival
  EXPECT_EQ(feed->warnings.at("stop_times_interpolated"), 1);
}

// timepoint: 0/1 as given, 1 when empty or the column is absent, 0 for interpolated rows.
TEST(LoadGtfsTest, TimepointsAsGivenAndInterpolatedRowsAreNot) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint\n"
      "T1,08:00:00,08:00:00,S1,1,1\n"
      "T1,,,S2,2,\n"
      "T1,08:10:00,08:10:00,S3,3,\n"
      "T2,09:00:00,09:00:00,S1,1,1\n"
      "T2,09:05:00,09:05:00,S2,2,0\n"
      "T2,09:10:00,09:10:00,S3,3,1\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(StopTime(*feed, "T1", 0).timepoint, 1);
  EXPECT_EQ(StopTime(*feed, "T1", 1).timepoint, 0) << "interpolated";
  EXPECT_EQ(StopTime(*feed, "T1", 2).timepoint, 1) << "empty = exact";
  EXPECT_EQ(StopTime(*feed, "T2", 1).timepoint, 0);
  auto plain = LoadFiles(MinimalFeed());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(StopTime(*plain, "T1", 1).timepoint, 1) << "no column: exact";
}

TEST(LoadGtfsTest, ShapesSparseUnsortedWithAndWithoutDistance) {
  FeedFiles files = MinimalFeed();
  // NYC style: sparse sequence numbers, a repeated point at a block start; rows out of order.
  files["shapes.txt"] =
      "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled\n"
      "SH1,40.0010,-75.0000,10002,\n"
      "SH1,40.0000,-75.0000,10001,\n"
      "SH1,40.0010,-75.0000,20001,\n"
      "SH1,40.0020,-75.0000,20002,\n"
      "SH2,40.0000,-75.0000,1,0\n"
      "SH2,40.0020,-75.0000,2,222.4\n";
  files["trips.txt"] =
      "route_id,service_id,trip_id,direction_id,shape_id\n"
      "R1,WK,T1,0,SH1\n"
      "R1,WE,T2,0,SH2\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->shapes.size(), 2u);
  const GtfsShape& sh1 = feed->shapes[Trip(*feed, "T1").shape];
  EXPECT_EQ(sh1.id, "SH1");
  ASSERT_EQ(sh1.points.size(), 4u);
  EXPECT_DOUBLE_EQ(sh1.points[0].lat, 40.0);
  EXPECT_DOUBLE_EQ(sh1.points[1].lat, 40.001);
  EXPECT_DOUBLE_EQ(sh1.points[2].lat, 40.001);
  EXPECT_TRUE(sh1.dist.empty());
  const GtfsShape& sh2 = feed->shapes[Trip(*feed, "T2").shape];
  ASSERT_EQ(sh2.dist.size(), 2u);
  EXPECT_FLOAT_EQ(sh2.dist[1], 222.4f);
  EXPECT_EQ(feed->warnings.at("shape_point_repeated"), 1);
}

TEST(LoadGtfsTest, UnknownShapeIsAWarningNotAnError) {
  FeedFiles files = MinimalFeed();
  files["trips.txt"] =
      "route_id,service_id,trip_id,direction_id,shape_id\n"
      "R1,WK,T1,0,NOPE\n"
      "R1,WE,T2,0,\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(Trip(*feed, "T1").shape, kNoIndex);
  EXPECT_EQ(feed->warnings.at("trip_unknown_shape_id"), 1);
}

TEST(LoadGtfsTest, TripsWithoutStopTimesAreDroppedAndCounted) {
  FeedFiles files = MinimalFeed();
  files["trips.txt"] += "R1,WK,T3,1,\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->trips.size(), 2u);
  EXPECT_FALSE(feed->trip_index.contains("T3"));
  EXPECT_EQ(feed->warnings.at("trip_without_stop_times"), 1);
}

TEST(LoadGtfsTest, FrequenciesAndFeedInfo) {
  FeedFiles files = MinimalFeed();
  files["frequencies.txt"] =
      "trip_id,start_time,end_time,headway_secs,exact_times\n"
      "T1,06:00:00,10:00:00,600,1\n";
  files["feed_info.txt"] =
      "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,feed_end_date,"
      "feed_version\nTest,https://example.org,en,20260105,20260227,v7\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->frequencies.size(), 1u);
  EXPECT_EQ(feed->frequencies[0].trip, feed->trip_index.at("T1"));
  EXPECT_EQ(feed->frequencies[0].headway_s, 600);
  EXPECT_EQ(feed->frequencies[0].end_s, 10 * 3600);
  EXPECT_TRUE(feed->frequencies[0].exact_times);
  ASSERT_EQ(feed->feed_infos.size(), 1u);
  EXPECT_EQ(feed->feed_infos[0].name, "feed");
  EXPECT_EQ(feed->feed_infos[0].version, "v7");
  EXPECT_EQ(feed->feed_infos[0].start_date, 20260105);
}

// ---- directory and zip ------------------------------------------------------------------------

TEST(LoadGtfsTest, ZipDirectoryAndMemoryGiveTheSameFeed) {
  TempDir dir;
  FeedFiles files = MinimalFeed();
  auto from_dir = LoadGtfs({WriteFeedDir(dir.path() + "/city", files)});
  auto from_zip = LoadGtfs({WriteFeedZip(dir.path() + "/city.zip", files)});
  auto from_nested = LoadGtfs({WriteFeedZip(dir.path() + "/nested.zip", files, "gtfs/")});
  MemoryFeedSource mem("mem/city", files);
  auto from_memory = LoadGtfs({&mem});
  ASSERT_TRUE(from_dir.ok()) << from_dir.status();
  ASSERT_TRUE(from_zip.ok()) << from_zip.status();
  ASSERT_TRUE(from_nested.ok()) << from_nested.status();
  ASSERT_TRUE(from_memory.ok()) << from_memory.status();
  for (const GtfsFeed* f : {&*from_zip, &*from_nested, &*from_memory}) {
    EXPECT_EQ(f->trips.size(), from_dir->trips.size());
    ASSERT_EQ(f->stop_times.size(), from_dir->stop_times.size());
    for (size_t i = 0; i < f->stop_times.size(); ++i) {
      EXPECT_EQ(f->stop_times[i].arrival_s, from_dir->stop_times[i].arrival_s);
      EXPECT_EQ(f->stop_times[i].stop, from_dir->stop_times[i].stop);
    }
  }
  EXPECT_EQ(from_zip->feed_infos[0].name, "city");
  EXPECT_EQ(from_memory->feed_infos[0].name, "city");
  EXPECT_EQ(from_memory->feed_infos[0].path, "mem/city");
}

TEST(LoadGtfsTest, ZipMissingAFileNamesIt) {
  TempDir dir;
  FeedFiles files = MinimalFeed();
  files.erase("trips.txt");
  auto feed = LoadGtfs({WriteFeedZip(dir.path() + "/city.zip", files)});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()),
              AllOf(HasSubstr("city.zip"), HasSubstr("trips.txt")));
}

TEST(LoadGtfsTest, NotAFeedNamesThePath) {
  TempDir dir;
  std::string path = dir.path() + "/notes.zip";
  std::ofstream(path) << "this is not a zip";
  auto feed = LoadGtfs({path});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()), HasSubstr("notes.zip"));
  auto missing = LoadGtfs({dir.path() + "/nowhere"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nowhere"));
}

// A stop_times.txt larger than the reader's 4 MiB chunks, so that it is parsed while it is
// still being read: 250 trips x 500 rows (about 6 MB). `quote_at_trip` >= 0 quotes that trip's
// ids (the reader must then wait for the whole file); `bad_row` >= 0 breaks that row's stop_id.
FeedFiles BigFeed(int quote_at_trip, int bad_row) {
  FeedFiles files = MinimalFeed();
  std::string trips = "route_id,service_id,trip_id\n";
  std::string st = "trip_id,arrival_time,departure_time,stop_id,stop_sequence,note\n";
  int row = 0;
  for (int t = 0; t < 250; ++t) {
    std::string id = "TRIP-" + std::to_string(t);
    trips += "R1,WK," + id + "\n";
    std::string field = t == quote_at_trip ? "\"" + id + "\"" : id;
    for (int k = 0; k < 500; ++k, ++row) {
      int secs = 6 * 3600 + t * 60 + k * 30;
      char time[16];
      std::snprintf(time, sizeof time, "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
      const char* stop = row == bad_row ? "NOPE" : (k % 3 == 0 ? "S1" : k % 3 == 1 ? "S2" : "S3");
      st += field + "," + time + "," + time + "," + stop + "," + std::to_string(k + 1) +
            ",some text" + (k % 7 == 0 ? "\r\n" : "\n");
    }
  }
  files["trips.txt"] = trips;
  files["stop_times.txt"] = st;
  return files;
}

// The feed as a directory, as a zip and in memory (each read in 4 MiB chunks).
std::vector<std::unique_ptr<FeedSource>> ThreeSources(const TempDir& dir, const FeedFiles& files) {
  std::vector<std::unique_ptr<FeedSource>> out;
  for (const std::string& path : {WriteFeedDir(dir.path() + "/big", files),
                                  WriteFeedZip(dir.path() + "/big.zip", files)}) {
    auto src = OpenFeedSource(path);
    EXPECT_TRUE(src.ok()) << src.status();
    if (src.ok()) out.push_back(std::move(*src));
  }
  out.push_back(std::make_unique<MemoryFeedSource>(dir.path() + "/memory", files));
  return out;
}

TEST(LoadGtfsTest, LargeFileParsedWhileReadFromZipDirectoryAndMemory) {
  for (int quote : {-1, 200}) {
    FeedFiles files = BigFeed(quote, -1);
    TempDir dir;
    for (const auto& src : ThreeSources(dir, files)) {
      const std::string path = src->Path();
      auto feed = LoadGtfs({src.get()});
      ASSERT_TRUE(feed.ok()) << feed.status();
      EXPECT_EQ(feed->trips.size(), 250u) << path;
      EXPECT_EQ(feed->stop_times.size(), 125000u) << path;
      EXPECT_EQ(StopTime(*feed, "TRIP-249", 499).arrival_s, 6 * 3600 + 249 * 60 + 499 * 30);
      EXPECT_EQ(Trip(*feed, "TRIP-200").num_stop_times, 500u);
      EXPECT_TRUE(feed->warnings.empty()) << path;
    }
  }
}

TEST(BadFeedTest, ErrorLateInALargeFileHasTheRightLine) {
  TempDir dir;
  FeedFiles files = BigFeed(100, 110000);  // row 110000 is on line 110002
  for (const auto& src : ThreeSources(dir, files)) {
    auto feed = LoadGtfs({src.get()});
    ASSERT_FALSE(feed.ok()) << src->Path();
    EXPECT_THAT(std::string(feed.status().message()),
                AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 110002"), HasSubstr("NOPE")));
  }
  files = BigFeed(-1, 3);  // an early error: the reader thread is still busy and is stopped
  auto feed = LoadGtfs({WriteFeedZip(dir.path() + "/early.zip", files)});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()), HasSubstr("line 5"));
}

// ---- several feeds: clashing ids --------------------------------------------------------------

TEST(LoadGtfsTest, SeveralFeedsKeepClashingIdsApart) {
  FeedFiles a = MinimalFeed();
  FeedFiles b = MinimalFeed();
  // b: same agency and route rows (merged), S1 identical (merged), S2 moved (renamed),
  // S3 identical; its own trips B1 and a trip T1 that differs from a's T1 (renamed).
  b["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,40.0000,-75.0000\n"
      "S2,Second (other operator),40.0011,-75.0001\n"
      "S3,Third,40.0020,-75.0000\n";
  b["trips.txt"] =
      "route_id,service_id,trip_id,direction_id,shape_id\n"
      "R1,WK,T1,0,\n"
      "R1,WE,B1,0,\n";
  b["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,10:00:00,10:00:00,S1,1\n"
      "T1,10:05:00,10:05:00,S2,2\n"
      "B1,11:00:00,11:00:00,S2,1\n"
      "B1,11:05:00,11:05:00,S3,2\n";
  MemoryFeedSource north("north", a), south("feeds/south.zip", b);
  auto feed = LoadGtfs({&north, &south});
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->agencies.size(), 1u);
  EXPECT_EQ(feed->routes.size(), 1u);
  EXPECT_EQ(feed->services.size(), 2u);
  ASSERT_EQ(feed->stops.size(), 4u);
  ASSERT_TRUE(feed->stop_index.contains("south:S2"));
  EXPECT_EQ(feed->stops[feed->stop_index.at("south:S2")].name, "Second (other operator)");
  EXPECT_EQ(feed->stops[feed->stop_index.at("S2")].name, "Second");
  // References inside each feed resolve to that feed's own stop.
  EXPECT_EQ(feed->stops[StopTime(*feed, "B1", 0).stop].id, "south:S2");
  EXPECT_EQ(feed->stops[StopTime(*feed, "south:T1", 1).stop].id, "south:S2");
  EXPECT_EQ(feed->stops[StopTime(*feed, "T1", 1).stop].id, "S2");
  EXPECT_EQ(feed->stops[StopTime(*feed, "B1", 1).stop].id, "S3");
  EXPECT_EQ(StopTime(*feed, "south:T1", 0).arrival_s, 10 * 3600);
  EXPECT_EQ(feed->trips.size(), 4u);
  EXPECT_EQ(feed->stop_times.size(), 10u);
  EXPECT_EQ(feed->warnings.at("stop_id_renamed"), 1);
  EXPECT_EQ(feed->warnings.at("stop_id_merged"), 2);
  EXPECT_EQ(feed->warnings.at("route_id_merged"), 1);
  EXPECT_EQ(feed->warnings.at("trip_id_renamed"), 1);
  ASSERT_EQ(feed->feed_infos.size(), 2u);
  EXPECT_EQ(feed->feed_infos[1].name, "south");
}

TEST(LoadGtfsTest, SameFeedTwiceMergesEverything) {
  TempDir dir;
  FeedFiles files = MinimalFeed();
  files["frequencies.txt"] = "trip_id,start_time,end_time,headway_secs\nT1,06:00:00,10:00:00,600\n";
  std::string a = WriteFeedDir(dir.path() + "/a", files);
  std::string b = WriteFeedZip(dir.path() + "/b.zip", files);
  auto feed = LoadGtfs({a, b});
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->stops.size(), 3u);
  EXPECT_EQ(feed->trips.size(), 2u);
  EXPECT_EQ(feed->stop_times.size(), 6u);
  EXPECT_EQ(feed->warnings.at("trip_id_merged"), 2);
  EXPECT_EQ(feed->frequencies.size(), 1u);
  // The surviving rows are intact after the duplicate rows were dropped.
  EXPECT_EQ(StopTime(*feed, "T2", 2).arrival_s, 9 * 3600 + 10 * 60);
}

// ---- the in-memory source and progress reports ------------------------------------------------

TEST(MemorySourceTest, MalformedFileIsNamedWithTheFeedPathAndLine) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,40.0000,-75.0000\n"
      "S2,Second,91.5,-75.0000\n"
      "S3,Third,40.0020,-75.0000\n";
  MemoryFeedSource src("uploads/city", files);
  auto feed = LoadGtfs({&src});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()),
              AllOf(HasSubstr("uploads/city/stops.txt: line 3"), HasSubstr("stop_lat"),
                    HasSubstr("91.5")));
}

TEST(MemorySourceTest, MissingFileIsNamed) {
  FeedFiles files = MinimalFeed();
  files.erase("stop_times.txt");
  MemoryFeedSource src("uploads/city", files);
  auto feed = LoadGtfs({&src});
  ASSERT_FALSE(feed.ok());
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(feed.status().message()),
              HasSubstr("uploads/city/stop_times.txt: missing"));
}

TEST(MemorySourceTest, ReadsInChunksCancelsAndOpensAnother) {
  const std::string big(size_t{9} << 20, 'x');
  MemoryFeedSource src("m", {{"a.txt", big}, {"empty.txt", ""}});
  EXPECT_TRUE(src.Has("a.txt"));
  EXPECT_TRUE(src.Has("empty.txt"));
  EXPECT_FALSE(src.Has("b.txt"));
  EXPECT_EQ(src.Size("a.txt"), big.size());
  EXPECT_EQ(src.Size("b.txt"), 0u);
  EXPECT_EQ(src.Describe("a.txt"), "m/a.txt");

  std::string dest(big.size(), '\0');
  std::vector<size_t> chunks;
  ASSERT_TRUE(src.ReadInto("a.txt", dest.data(), dest.size(), [&](size_t done) {
                   chunks.push_back(done);
                   return true;
                 }).ok());
  EXPECT_THAT(chunks, ElementsAre(size_t{4} << 20, size_t{8} << 20, size_t{9} << 20));
  EXPECT_EQ(dest, big);
  absl::Status cancelled =
      src.ReadInto("a.txt", dest.data(), dest.size(), [](size_t) { return false; });
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled);

  auto other = src.OpenAnother();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ((*other)->Path(), "m");
  auto buf = (*other)->Read("a.txt");
  ASSERT_TRUE(buf.ok()) << buf.status();
  EXPECT_EQ(std::string(buf->data.get(), buf->size), big);
  EXPECT_EQ(buf->data.get()[buf->size], '\0');
  auto missing = (*other)->Read("b.txt");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("m/b.txt"));
}

TEST(LoadGtfsTest, ProgressIsReportedToTheCallbackNotPrinted) {
  MemoryFeedSource small("feeds/small.zip", MinimalFeed());
  MemoryFeedSource big("feeds/big", BigFeed(-1, -1));  // stop_times.txt about 6 MB
  std::vector<GtfsLoadProgress> seen;
  GtfsLoadOptions options;
  options.progress = [&](const GtfsLoadProgress& p) { seen.push_back(p); };
  ::testing::internal::CaptureStderr();
  auto feed = LoadGtfs({&small, &big}, options);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  ASSERT_TRUE(feed.ok()) << feed.status();
  using Stage = GtfsLoadProgress::Stage;
  ASSERT_GE(seen.size(), 5u);
  EXPECT_EQ(seen[0].stage, Stage::kFeed);
  EXPECT_EQ(seen[0].what, "feeds/small.zip");
  EXPECT_EQ(seen[0].feed, 1u);
  EXPECT_EQ(seen[0].feeds, 2u);
  EXPECT_EQ(seen[1].stage, Stage::kStopTimesDone);  // 300 bytes: no percentage
  EXPECT_EQ(seen[1].what, "feeds/small.zip/stop_times.txt");
  EXPECT_EQ(seen[1].rows, 6u);
  EXPECT_EQ(seen[2].stage, Stage::kFeed);
  EXPECT_EQ(seen[2].what, "feeds/big");
  EXPECT_EQ(seen[2].feed, 2u);
  int last_percent = 0;
  for (size_t i = 3; i + 1 < seen.size(); ++i) {
    EXPECT_EQ(seen[i].stage, Stage::kStopTimes);
    EXPECT_EQ(seen[i].what, "feeds/big/stop_times.txt");
    EXPECT_GT(seen[i].percent, last_percent);
    EXPECT_LE(seen[i].percent, 100);
    last_percent = seen[i].percent;
  }
  EXPECT_EQ(seen.back().stage, Stage::kStopTimesDone);
  EXPECT_EQ(seen.back().rows, 125000u);
  EXPECT_GE(seen.back().seconds, 0.0);
}

// ---- calendar -------------------------------------------------------------------------------

TEST(GtfsCalendarTest, HolidayExceptionsLikeWmataPresidentsDay) {
  FeedFiles files = MinimalFeed();
  // WK runs weekdays, but not on Monday 2026-02-16; HOL has no weekday flags and runs only on
  // that date (the WMATA calendar_dates pattern).
  files["calendar.txt"] =
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
      "WK,1,1,1,1,1,0,0,20260105,20260227\n"
      "WE,0,0,0,0,0,1,1,20260105,20260227\n"
      "HOL,0,0,0,0,0,0,0,20260105,20260227\n";
  files["calendar_dates.txt"] =
      "service_id,date,exception_type\n"
      "HOL,20260216,1\n"
      "WK,20260216,2\n";
  files["trips.txt"] += "R1,HOL,T3,0,\n";
  files["stop_times.txt"] +=
      "T3,10:00:00,10:00:00,S1,1\n"
      "T3,10:10:00,10:10:00,S3,2\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  const uint32_t wk = feed->service_index.at("WK"), we = feed->service_index.at("WE"),
                 hol = feed->service_index.at("HOL");
  EXPECT_FALSE(feed->ServiceRunsOn(wk, 20260216));  // removed for the holiday
  EXPECT_TRUE(feed->ServiceRunsOn(hol, 20260216));   // added for the holiday
  EXPECT_FALSE(feed->ServiceRunsOn(we, 20260216));
  EXPECT_TRUE(feed->ServiceRunsOn(wk, 20260217));    // Tuesday
  EXPECT_FALSE(feed->ServiceRunsOn(hol, 20260217));
  EXPECT_TRUE(feed->ServiceRunsOn(we, 20260221));    // Saturday
  EXPECT_FALSE(feed->ServiceRunsOn(wk, 20260221));
  EXPECT_FALSE(feed->ServiceRunsOn(wk, 20260302));   // after end_date
  EXPECT_THAT(feed->services[wk].removed_dates, ElementsAre(20260216));
  EXPECT_EQ(feed->FirstServiceDate(), 20260105);     // a Monday
  EXPECT_EQ(feed->LastServiceDate(), 20260227);      // a Friday
}

TEST(GtfsCalendarTest, OnlyCalendarDates) {
  FeedFiles files = MinimalFeed();
  files.erase("calendar.txt");
  files["calendar_dates.txt"] =
      "service_id,date,exception_type\n"
      "WK,20260302,1\n"
      "WK,20260303,1\n"
      "WE,20260307,1\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_TRUE(feed->ServiceRunsOn(feed->service_index.at("WK"), 20260303));
  EXPECT_FALSE(feed->ServiceRunsOn(feed->service_index.at("WK"), 20260304));
  EXPECT_EQ(feed->FirstServiceDate(), 20260302);
  EXPECT_EQ(feed->LastServiceDate(), 20260307);
}

TEST(GtfsCalendarTest, FirstAndLastDateSkipRemovedDaysAndUnusedServices) {
  FeedFiles files = MinimalFeed();
  files["calendar.txt"] =
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
      "WK,1,1,1,1,1,0,0,20260105,20260227\n"
      "WE,0,0,0,0,0,1,1,20260105,20260227\n"
      "UNUSED,1,1,1,1,1,1,1,20250101,20291231\n";
  files["calendar_dates.txt"] =
      "service_id,date,exception_type\n"
      "WK,20260105,2\n"
      "WE,20260228,2\n";
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->FirstServiceDate(), 20260106);
  EXPECT_EQ(feed->LastServiceDate(), 20260227);
}

TEST(GtfsTimeTest, ParseGtfsTimeAndDate) {
  int32_t s = -1;
  EXPECT_TRUE(ParseGtfsTime("08:05:09", &s));
  EXPECT_EQ(s, 8 * 3600 + 5 * 60 + 9);
  EXPECT_TRUE(ParseGtfsTime("7:00:00", &s));
  EXPECT_EQ(s, 7 * 3600);
  EXPECT_TRUE(ParseGtfsTime("27:27:00", &s));
  EXPECT_EQ(s, 27 * 3600 + 27 * 60);
  EXPECT_TRUE(ParseGtfsTime(" 24:00:00 ", &s));
  EXPECT_EQ(s, 24 * 3600);
  for (const char* bad : {"", "8:5:00", "08:60:00", "08:00:61", "08:00", "ab:cd:ef", "08:00:00x",
                          "-1:00:00"}) {
    EXPECT_FALSE(ParseGtfsTime(bad, &s)) << bad;
  }
  int32_t d = 0;
  EXPECT_TRUE(ParseGtfsDate("20240229", &d));
  EXPECT_EQ(d, 20240229);
  for (const char* bad : {"20230229", "20261301", "20260100", "2026-01-01", "202601011", ""}) {
    EXPECT_FALSE(ParseGtfsDate(bad, &d)) << bad;
  }
}

// ---- bad feeds: each message names the file (and the line of a bad row) --------------------

TEST(BadFeedTest, MissingRequiredFile) {
  for (const char* file :
       {"agency.txt", "routes.txt", "trips.txt", "stops.txt", "stop_times.txt"}) {
    FeedFiles files = MinimalFeed();
    files.erase(file);
    EXPECT_THAT(LoadError(files), HasSubstr(file));
  }
  FeedFiles files = MinimalFeed();
  files.erase("calendar.txt");
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("calendar.txt"), HasSubstr("calendar_dates.txt")));
}

TEST(BadFeedTest, MissingRequiredColumn) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_sequence\n"
      "T1,08:00:00,08:00:00,1\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stop_times.txt"), HasSubstr("stop_id")));
  files = MinimalFeed();
  files["stops.txt"] = "stop_id,stop_name,stop_lon\nS1,First,-75.0\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("stop_lat")));
}

TEST(BadFeedTest, UnknownStopIdInStopTimes) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,08:00:00,08:00:00,S1,1\n"
      "T1,08:05:00,08:05:00,S9,2\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 3"),
                                      HasSubstr("stop_id"), HasSubstr("'S9'")));
}

TEST(BadFeedTest, UnknownTripIdInStopTimes) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] += "T7,10:00:00,10:00:00,S1,1\n";  // line 8
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 8"),
                                      HasSubstr("trip_id"), HasSubstr("'T7'")));
}

TEST(BadFeedTest, RepeatedStopSequenceRowsInAnyOrder) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,08:10:00,08:10:00,S3,2\n"
      "T2,09:00:00,09:00:00,S1,1\n"
      "T1,08:00:00,08:00:00,S1,1\n"
      "T2,09:05:00,09:05:00,S2,2\n"
      "T1,08:05:00,08:05:00,S2,2\n";  // line 6 repeats line 2's stop_sequence 2
  EXPECT_THAT(LoadError(files),
              AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 6"), HasSubstr("line 2"),
                    HasSubstr("stop_sequence"), HasSubstr("'T1'")));
}

TEST(BadFeedTest, UnparsableTime) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T1,08:00:00,08:00:00,S1,1\n"
      "T1,08:05:00,8h05,S2,2\n"
      "T1,08:10:00,08:10:00,S3,3\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 3"),
                                      HasSubstr("departure_time"), HasSubstr("'8h05'")));
}

TEST(BadFeedTest, LatLonOutOfRange) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,40.0000,-75.0000\n"
      "S2,Second,40.0010,-195.0000\n"
      "S3,Third,40.0020,-75.0000\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("line 3"),
                                      HasSubstr("stop_lon"), HasSubstr("-195.0000")));
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,,-75.0000\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("line 2"),
                                      HasSubstr("stop_lat")));
  files = MinimalFeed();
  files["shapes.txt"] =
      "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
      "SH1,40.0,-75.0,1\n"
      "SH1,140.0,-75.0,2\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("shapes.txt"), HasSubstr("line 3"),
                                      HasSubstr("shape_pt_lat")));
}

TEST(BadFeedTest, UnknownRouteOrServiceInTrips) {
  FeedFiles files = MinimalFeed();
  files["trips.txt"] =
      "route_id,service_id,trip_id,direction_id,shape_id\n"
      "R1,WK,T1,0,\n"
      "R9,WE,T2,0,\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("trips.txt"), HasSubstr("line 3"),
                                      HasSubstr("route_id"), HasSubstr("'R9'")));
  files["trips.txt"] =
      "route_id,service_id,trip_id,direction_id,shape_id\n"
      "R1,HOLIDAY,T1,0,\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("trips.txt"), HasSubstr("line 2"),
                                      HasSubstr("service_id"), HasSubstr("'HOLIDAY'")));
}

TEST(BadFeedTest, DuplicateIdsAndBadDates) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] += "S2,Again,40.0,-75.0\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("line 5"),
                                      HasSubstr("duplicate stop_id")));
  files = MinimalFeed();
  files["calendar.txt"] =
      "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
      "WK,1,1,1,1,1,0,0,20260105,2026-02-27\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("calendar.txt"), HasSubstr("line 2"),
                                      HasSubstr("end_date")));
  files = MinimalFeed();
  files["agency.txt"] =
      "agency_id,agency_name,agency_url,agency_timezone\n"
      "A,Test Transit,https://example.org,Mars/Olympus_Mons\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("agency.txt"), HasSubstr("line 2"),
                                      HasSubstr("Mars/Olympus_Mons")));
}

TEST(BadFeedTest, ErrorInSecondFeedNamesThatFeed) {
  TempDir dir;
  FeedFiles bad = MinimalFeed();
  bad["stop_times.txt"] += "T1,08:20:00,08:20:00,S4,4\n";
  auto feed = LoadGtfs({WriteFeedDir(dir.path() + "/good", MinimalFeed()),
                        WriteFeedZip(dir.path() + "/bad.zip", bad)});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()),
              AllOf(HasSubstr("bad.zip/stop_times.txt"), HasSubstr("line 8")));
}

// ---- the real WMATA feed ----------------------------------------------------------------------

// ---- findings of the adversarial probe of 1efad70 --------------------------------------------

// A truncated stops.txt row took the previous stop's coordinates, exit 0.
TEST(ProbeTest, TruncatedStopRowIsAnErrorNotTheNeighboursCoordinates) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,40.0000,-75.0000\n"
      "S2,Second\n"
      "S3,Third,40.0020,-75.0000\n";
  EXPECT_THAT(LoadError(files),
              AllOf(HasSubstr("stops.txt"), HasSubstr("line 3"), HasSubstr("stop_lat")));
}

// A truncated first stop_times row of a trip took another trip's stop and sequence.
TEST(ProbeTest, TruncatedStopTimesRowIsAnError) {
  FeedFiles files = MinimalFeed();
  files["stop_times.txt"] =
      "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
      "T2,09:00:00,09:00:00,S1,1\n"
      "T1,08:00:00\n"
      "T1,08:05:00,08:05:00,S2,2\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 3"),
                                      HasSubstr("stop_id"), HasSubstr("''")));
}

// An unbalanced quote in stops.txt was blamed on stop_times.txt.
TEST(ProbeTest, UnbalancedQuoteIsBlamedOnItsOwnFile) {
  FeedFiles files = MinimalFeed();
  files["stops.txt"] =
      "stop_id,stop_name,stop_lat,stop_lon\n"
      "S1,First,40.0000,-75.0000\n"
      "S2,\"Second,40.0010,-75.0000\n"
      "S3,Third,40.0020,-75.0000\n";
  EXPECT_THAT(LoadError(files), AllOf(HasSubstr("stops.txt"), HasSubstr("line 3"),
                                      HasSubstr("never closed"),
                                      ::testing::Not(HasSubstr("stop_times.txt"))));
}

// The error for an unbalanced quote in a big stop_times.txt carried ~9.9 MB of the file.
TEST(ProbeTest, ErrorsStaySmallOnHugeFields) {
  FeedFiles files = MinimalFeed();
  std::string st = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                   "T1,08:00:00,08:00:00,S1,1\n"
                   "T1,08:05:00,08:05:00,\"S2,2\n";
  for (int i = 0; i < 200000; ++i) st += "T1,08:10:00,08:10:00,S3,3\n";
  files["stop_times.txt"] = st;
  std::string err = LoadError(files);
  EXPECT_THAT(err, AllOf(HasSubstr("stop_times.txt"), HasSubstr("line 3"), HasSubstr("never closed")));
  EXPECT_LT(err.size(), 400u);
  // A huge unquoted value in a row error is cut too.
  files = MinimalFeed();
  files["stops.txt"] = "stop_id,stop_name,stop_lat,stop_lon\nS1,First," + std::string(5 << 20, '9') +
                       ",-75.0\n";
  err = LoadError(files);
  EXPECT_THAT(err, AllOf(HasSubstr("stops.txt"), HasSubstr("stop_lat"), HasSubstr("bytes)")));
  EXPECT_LT(err.size(), 400u);
}

// CR-only line ends said "no agency rows".
TEST(ProbeTest, CrOnlyLineEndsLoad) {
  FeedFiles files = MinimalFeed();
  for (auto& [name, content] : files)
    for (char& c : content)
      if (c == '\n') c = '\r';
  auto feed = LoadFiles(files);
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->stops.size(), 3u);
  EXPECT_EQ(feed->stop_times.size(), 6u);
}

// Patches the uncompressed size of `entry` in the zip's central directory.
void UnderstateZipSize(const std::string& path, const std::string& entry, uint32_t size) {
  std::string z;
  {
    std::ifstream in(path, std::ios::binary);
    z.assign(std::istreambuf_iterator<char>(in), {});
  }
  bool patched = false;
  for (size_t i = 0; i + 46 < z.size(); ++i) {
    if (z.compare(i, 4, "PK\x01\x02") != 0) continue;
    uint16_t name_len = static_cast<uint8_t>(z[i + 28]) | static_cast<uint8_t>(z[i + 29]) << 8;
    if (z.compare(i + 46, name_len, entry) != 0) continue;
    for (int b = 0; b < 4; ++b) z[i + 24 + b] = static_cast<char>((size >> (8 * b)) & 0xFF);
    patched = true;
  }
  ASSERT_TRUE(patched);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << z;
}

// A zip whose directory understates stop_times.txt's size loaded 22 of 232,187 rows, exit 0.
TEST(ProbeTest, ZipEntryLongerThanItsDirectorySaysIsCorrupt) {
  TempDir dir;
  FeedFiles files = MinimalFeed();
  std::string path = WriteFeedZip(dir.path() + "/f.zip", files);
  UnderstateZipSize(path, "stop_times.txt", 60);
  auto feed = LoadGtfs({path});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()),
              AllOf(HasSubstr("stop_times.txt"), HasSubstr("corrupt zip entry")));
}

// A 2.4 MB zip bomb cost 1.07 GB RSS: refused from its directory before inflating.
TEST(ProbeTest, ZipBombRefusedBeforeInflating) {
  TempDir dir;
  FeedFiles files = MinimalFeed();
  files["shapes.txt"] = "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n" +
                        std::string(size_t{40} << 20, '\n');  // 40 MiB of blank lines
  std::string path = WriteFeedZip(dir.path() + "/bomb.zip", files);
  auto feed = LoadGtfs({path});
  ASSERT_FALSE(feed.ok());
  EXPECT_THAT(std::string(feed.status().message()),
              AllOf(HasSubstr("shapes.txt"), HasSubstr("zip bomb")));
}

TEST(RealFeedTest, WmataPresidentsDay) {
  const std::string path = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16/gtfs";
  if (!std::filesystem::exists(path + "/stop_times.txt")) {
    GTEST_SKIP() << "shared data not found at " << path << " (set -DSMARTBUS_SHARED_DATA=...)";
  }
  auto feed = LoadGtfs({path});
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ(feed->trips.size(), 4167u);
  EXPECT_EQ(feed->stop_times.size(), 232187u);
  EXPECT_EQ(feed->stops.size(), 347u);
  EXPECT_EQ(feed->shapes.size(), 15u);
  EXPECT_EQ(feed->timezone, "America/New_York");
  std::vector<std::string> active;
  std::vector<char> runs(feed->services.size());
  for (uint32_t s = 0; s < feed->services.size(); ++s) {
    runs[s] = feed->ServiceRunsOn(s, 20260216);
    if (runs[s]) active.push_back(feed->services[s].id);
  }
  EXPECT_THAT(active, ElementsAre("4"));
  size_t trips = 0;
  for (const GtfsTrip& t : feed->trips) trips += runs[t.service];
  EXPECT_EQ(trips, 462u);
  // stop_sequence starts at 2 in every trip (a README quirk) and stays sorted.
  for (const GtfsTrip& t : feed->trips) {
    ASSERT_GE(t.num_stop_times, 2u);
    EXPECT_EQ(feed->stop_times[t.first_stop_time].stop_sequence, 2u);
    for (uint32_t k = 1; k < t.num_stop_times; ++k) {
      ASSERT_LT(feed->stop_times[t.first_stop_time + k - 1].stop_sequence,
                feed->stop_times[t.first_stop_time + k].stop_sequence);
    }
  }
}

}  // namespace
}  // namespace smartbus
