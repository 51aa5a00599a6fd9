#pragma once
// GTFS feeds on disk: a directory or a .zip file as a FeedSource (libzip, with the zip-bomb, size
// and CRC checks), LoadGtfs on paths, and the loader's thread and progress printer. The loader
// itself (services/core/gtfs/feed.h) reads through FeedSource only.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/core/gtfs/feed.h"
#include "services/core/gtfs/source.h"
#include "services/core/network/network.h"

namespace smartbus {

// Opens `path`: a GTFS directory or .zip file. Fails naming the path when it is neither, and
// refuses a zip whose directory declares implausible sizes (a zip bomb) before inflating it.
absl::StatusOr<std::unique_ptr<FeedSource>> OpenFeedSource(const std::string& path);

// LoadGtfs on paths (each a directory or a .zip: OpenFeedSource). Reads stop_times.txt on a
// second thread (RunOnNewThread) unless options.run_in_background says otherwise.
absl::StatusOr<GtfsFeed> LoadGtfs(const std::vector<std::string>& paths,
                                 GtfsLoadOptions options = {});

// LoadGtfs(paths), then Network::Build: the network of the feeds, or the first error. (Inline:
// feed_files.cc itself stays free of the network library, as the GTFS fuzz target compiles it.)
inline absl::StatusOr<std::shared_ptr<const Network>> LoadNetwork(
    const std::vector<std::string>& paths) {
  auto feed = LoadGtfs(paths);
  if (!feed.ok()) return feed.status();
  return Network::Build(*std::move(feed));
}

// A GtfsLoadOptions::run_in_background: a std::thread per task; the returned function joins it.
std::function<void()> RunOnNewThread(std::function<void()> task);

// A GtfsLoadOptions::progress for command lines: prints to stderr "loading PATH (i/n)" per feed
// and "PATH/stop_times.txt: N rows in S s" per stop_times.txt; on a terminal also a percentage
// that rewrites itself (logs get the final line only).
void PrintGtfsLoadProgress(const GtfsLoadProgress& p);

}  // namespace smartbus
