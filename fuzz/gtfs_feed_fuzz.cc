// libFuzzer target for loading a whole GTFS feed (services/core/gtfs): the input is either a
// .zip file (first byte 'P', as every zip starts "PK") loaded through libzip with the zip-bomb
// and CRC checks, or the six files of a feed separated by NUL bytes (agency, routes, stops,
// calendar, trips, stop_times) written to a directory. Any crash, sanitizer report or hang is a
// bug: a bad feed must only give an error naming the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "services/core/gtfs/feed.h"
#include "services/files/feed_files.h"

namespace {

const std::string& WorkDir() {
  static const std::string dir = [] {
    std::string d = (std::filesystem::temp_directory_path() /
                     ("sb_gtfs_fuzz_" + std::to_string(::getpid())))
                        .string();
    std::filesystem::create_directories(d + "/feed");
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 20)) return 0;
  const std::string& dir = WorkDir();
  std::string path;
  if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
    path = dir + "/feed.zip";
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  } else {
    static const char* kFiles[] = {"agency.txt", "routes.txt", "stops.txt",
                                   "calendar.txt", "trips.txt", "stop_times.txt"};
    path = dir + "/feed";
    size_t start = 0;
    for (int k = 0; k < 6; ++k) {
      size_t end = start;
      while (end < size && data[end] != 0) ++end;
      std::ofstream(path + "/" + kFiles[k], std::ios::binary | std::ios::trunc)
          .write(reinterpret_cast<const char*>(data) + start,
                 static_cast<std::streamsize>(std::min(end, size) - std::min(start, size)));
      start = end + 1;
    }
  }
  smartbus::GtfsLoadOptions opt;
  auto feed = smartbus::LoadGtfs({path}, opt);
  if (!feed.ok() && feed.status().message().size() > 4096) std::abort();  // errors stay short
  return 0;
}
