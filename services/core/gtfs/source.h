#pragma once
// Where the files of one GTFS feed come from: a directory or a .zip (libzip). Each file is read
// whole into one buffer (the CSV reader parses it in place).
//
// Thread safety: a FeedSource is used by one thread at a time.

#include <cstddef>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smartbus::gtfs_internal {

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
  // Opens `path`: a .zip file or a directory. Fails naming the path when neither.
  static absl::StatusOr<std::unique_ptr<FeedSource>> Open(const std::string& path);

  // True when the feed has a file of that name (e.g. "stops.txt"). In a zip the file may sit in
  // one folder (feeds zipped with their directory).
  virtual bool Has(absl::string_view name) const = 0;
  // Reads the whole file. Fails naming the file when it is missing or unreadable.
  absl::StatusOr<FileBuffer> Read(absl::string_view name) const;
  // Reads the file into dest[0, Size(name)) in chunks, calling on_chunk(bytes read so far) after
  // each; stops with a Cancelled status when on_chunk returns false.
  virtual absl::Status ReadInto(absl::string_view name, char* dest, size_t size,
                                const std::function<bool(size_t)>& on_chunk) const = 0;
  // Uncompressed size of the file, 0 when missing.
  virtual size_t Size(absl::string_view name) const = 0;
  // How to name a file of this feed in messages, e.g. "feeds/bx.zip/stops.txt".
  virtual std::string Describe(absl::string_view name) const = 0;
};

}  // namespace smartbus::gtfs_internal
