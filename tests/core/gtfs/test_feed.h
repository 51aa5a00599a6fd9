#pragma once
// Tiny GTFS feeds written inline into a temporary directory (or zip) for the loader tests.

#include <zip.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"

namespace smartbus::testing {

// A feed as file name -> content. Start from Minimal() and replace or erase files.
using FeedFiles = std::map<std::string, std::string>;

// One agency, one route, three stops, two trips (T1 weekdays, T2 weekends) of three stops each.
inline FeedFiles MinimalFeed() {
  return {
      {"agency.txt",
       "agency_id,agency_name,agency_url,agency_timezone\n"
       "A,Test Transit,https://example.org,America/New_York\n"},
      {"routes.txt",
       "route_id,agency_id,route_short_name,route_long_name,route_type\n"
       "R1,A,1,Main Street,3\n"},
      {"stops.txt",
       "stop_id,stop_name,stop_lat,stop_lon\n"
       "S1,First,40.0000,-75.0000\n"
       "S2,Second,40.0010,-75.0000\n"
       "S3,Third,40.0020,-75.0000\n"},
      {"calendar.txt",
       "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
       "WK,1,1,1,1,1,0,0,20260105,20260227\n"
       "WE,0,0,0,0,0,1,1,20260105,20260227\n"},
      {"trips.txt",
       "route_id,service_id,trip_id,direction_id,shape_id\n"
       "R1,WK,T1,0,\n"
       "R1,WE,T2,0,\n"},
      {"stop_times.txt",
       "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
       "T1,08:00:00,08:00:00,S1,1\n"
       "T1,08:05:00,08:05:00,S2,2\n"
       "T1,08:10:00,08:10:00,S3,3\n"
       "T2,09:00:00,09:00:00,S1,1\n"
       "T2,09:05:00,09:05:00,S2,2\n"
       "T2,09:10:00,09:10:00,S3,3\n"},
  };
}

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb_gtfs_test_XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes the files into directory `dir` (created); returns dir.
inline std::string WriteFeedDir(const std::string& dir, const FeedFiles& files) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, content] : files) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out << content;
  }
  return dir;
}

// Writes the files into a zip at `path` (optionally inside a folder); returns path.
inline std::string WriteFeedZip(const std::string& path, const FeedFiles& files,
                                const std::string& folder = "") {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  EXPECT_NE(z, nullptr);
  for (const auto& [name, content] : files) {
    zip_source_t* src = zip_source_buffer(z, content.data(), content.size(), 0);
    zip_int64_t idx = zip_file_add(z, (folder + name).c_str(), src, ZIP_FL_OVERWRITE);
    EXPECT_GE(idx, 0);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(idx), ZIP_CM_DEFLATE, 1);
  }
  EXPECT_EQ(zip_close(z), 0);  // the buffers are read here, while `files` is alive
  return path;
}

}  // namespace smartbus::testing
