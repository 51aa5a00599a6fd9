#pragma once
// Where the files of one GTFS feed come from: the loader's only way to the outside (an I/O seam
// like leveldb's Env). Implementations: a directory or a .zip (OpenFeedSource in
// services/files/feed_files.h: libzip, with the zip-bomb / size / CRC checks), or bytes in
// memory (MemoryFeedSource: tests, feeds that arrive other than as files). Each file is read whole into one buffer (the CSV
// reader parses it in place).
//
// Thread safety: a FeedSource is used by one thread at a time; OpenAnother gives a second one
// for another thread.

#include <cstddef>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartbus {

// One file of a feed as text: what the demo city makes (DemoCityFeed) and the shapes export
// publishes; services/files/files.h writes a list of them into a directory.
struct TextFile {
  std::string name;  // e.g. "stops.txt"
  std::string text;
};

// A file's bytes (plus a terminating NUL); owns them.
struct FileBuffer {
  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  // Room for `size` bytes and a NUL, uninitialised.
  static FileBuffer Allocate(size_t size);
  std::unique_ptr<char[], FreeDeleter> data;
  size_t size = 0;
};

class FeedSource {
 public:
  virtual ~FeedSource() = default;

  // Where the feed is (GtfsFeedInfo::path); its stem ("feeds/bx.zip" -> "bx") names the feed
  // when ids clash between feeds.
  virtual std::string Path() const = 0;
  // True when the feed has a file of that name (e.g. "stops.txt"). In a zip the file may sit in
  // one folder (feeds zipped with their directory).
  virtual bool Has(absl::string_view name) const = 0;
  // Size of the file in bytes (uncompressed), 0 when missing.
  virtual size_t Size(absl::string_view name) const = 0;
  // Reads the file into dest[0, Size(name)) in chunks, calling on_chunk(bytes read so far) after
  // each; stops with a Cancelled status when on_chunk returns false. Fails naming the file when
  // it is missing, unreadable or corrupt.
  virtual absl::Status ReadInto(absl::string_view name, char* dest, size_t size,
                                const std::function<bool(size_t)>& on_chunk) const = 0;
  // How to name a file of this feed in messages, e.g. "feeds/bx.zip/stops.txt".
  virtual std::string Describe(absl::string_view name) const = 0;
  // A second, independent source of the same feed, for another thread (the loader inflates
  // stop_times.txt on a second thread while it parses what has arrived).
  virtual absl::StatusOr<std::unique_ptr<FeedSource>> OpenAnother() const = 0;

  // Reads the whole file. Fails naming the file when it is missing or unreadable.
  absl::StatusOr<FileBuffer> Read(absl::string_view name) const;
};

// A feed held in memory: file name ("stops.txt") -> its bytes. `path` stands for where the feed
// is: messages name a file "<path>/<file>", and its stem names the feed.
class MemoryFeedSource : public FeedSource {
 public:
  using Files = std::map<std::string, std::string>;
  MemoryFeedSource(std::string path, Files files);
  // The same from a list of files (DemoCityFeed, FeedWithLearnedShapes).
  static MemoryFeedSource FromFiles(std::string path, const std::vector<TextFile>& files);

  std::string Path() const override { return path_; }
  bool Has(absl::string_view name) const override;
  size_t Size(absl::string_view name) const override;
  absl::Status ReadInto(absl::string_view name, char* dest, size_t size,
                        const std::function<bool(size_t)>& on_chunk) const override;
  std::string Describe(absl::string_view name) const override;
  absl::StatusOr<std::unique_ptr<FeedSource>> OpenAnother() const override;

 private:
  MemoryFeedSource(std::string path, std::shared_ptr<const Files> files)
      : path_(std::move(path)), files_(std::move(files)) {}
  std::string path_;
  std::shared_ptr<const Files> files_;  // shared with the sources OpenAnother gives
};

}  // namespace smartbus
