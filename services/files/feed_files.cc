// The GTFS loader's edge: the feed sources on files (a directory or a .zip, libzip), LoadGtfs on
// paths with a reading thread, and the progress printer. The loader (services/core/gtfs) reads
// only through FeedSource, starts no thread and prints nothing.
#include "services/files/feed_files.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

constexpr size_t kChunkBytes = size_t{4} << 20;

// Zip entries are refused before anything is inflated when they declare more than this (bytes):
// the largest real GTFS file seen, NYC Brooklyn's stop_times.txt, is 153 MB.
constexpr uint64_t kMaxZipEntryBytes = uint64_t{4} << 30;
// ... or, above kRatioCheckBytes, inflate more than this many times their compressed size. Real
// feeds compress at most ~20:1 (the NYC zips: 4-20:1); deflate reaches ~1030:1 on repeated
// bytes, which is what a zip bomb is (a 2.4 MB one declared 1 GB).
constexpr uint64_t kMaxZipRatio = 200;
constexpr uint64_t kRatioCheckBytes = uint64_t{8} << 20;

class DirSource : public FeedSource {
 public:
  explicit DirSource(std::string dir) : dir_(std::move(dir)) {
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }
  std::string PathOf(absl::string_view name) const { return absl::StrCat(dir_, "/", name); }
  std::string Path() const override { return dir_; }
  bool Has(absl::string_view name) const override {
    struct stat st;
    return ::stat(PathOf(name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  size_t Size(absl::string_view name) const override {
    struct stat st;
    if (::stat(PathOf(name).c_str(), &st) != 0) return 0;
    return static_cast<size_t>(st.st_size);
  }
  absl::Status ReadInto(absl::string_view name, char* dest, size_t size,
                        const std::function<bool(size_t)>& on_chunk) const override {
    std::string path = PathOf(name);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
    }
    size_t done = 0;
    while (done < size) {
      size_t n = std::fread(dest + done, 1, std::min(kChunkBytes, size - done), f);
      if (n == 0) break;
      done += n;
      if (!on_chunk(done)) {
        std::fclose(f);
        return absl::CancelledError(path);
      }
    }
    std::fclose(f);
    if (done != size) return absl::DataLossError(absl::StrCat(path, ": short read"));
    return absl::OkStatus();
  }
  std::string Describe(absl::string_view name) const override { return PathOf(name); }
  absl::StatusOr<std::unique_ptr<FeedSource>> OpenAnother() const override {
    return std::unique_ptr<FeedSource>(new DirSource(dir_));
  }

 private:
  std::string dir_;
};

class ZipSource : public FeedSource {
 public:
  ZipSource(std::string path, zip_t* z) : path_(std::move(path)), zip_(z) {}
  ~ZipSource() override { zip_discard(zip_); }

  std::string Path() const override { return path_; }

  // Index of the entry `name` at the root, or in a single folder; -1 when absent.
  zip_int64_t Locate(absl::string_view name) const {
    std::string n(name);
    zip_int64_t i = zip_name_locate(zip_, n.c_str(), 0);
    if (i >= 0) return i;
    return zip_name_locate(zip_, n.c_str(), ZIP_FL_NODIR);
  }
  bool Has(absl::string_view name) const override { return Locate(name) >= 0; }
  size_t Size(absl::string_view name) const override {
    zip_int64_t i = Locate(name);
    zip_stat_t st;
    if (i < 0 || zip_stat_index(zip_, i, 0, &st) != 0) return 0;
    return static_cast<size_t>(st.size);
  }
  absl::Status ReadInto(absl::string_view name, char* dest, size_t size,
                        const std::function<bool(size_t)>& on_chunk) const override {
    zip_int64_t i = Locate(name);
    if (i < 0) return absl::NotFoundError(absl::StrCat(Describe(name), ": not in the zip"));
    zip_file_t* zf = zip_fopen_index(zip_, i, 0);
    if (!zf) {
      return absl::DataLossError(
          absl::StrCat(Describe(name), ": cannot open zip entry: ", zip_strerror(zip_)));
    }
    size_t done = 0;
    while (done < size) {
      zip_int64_t n = zip_fread(zf, dest + done, std::min(kChunkBytes, size - done));
      if (n <= 0) break;
      done += static_cast<size_t>(n);
      if (!on_chunk(done)) {
        zip_fclose(zf);
        return absl::CancelledError(Describe(name));
      }
    }
    std::string err = done == size ? "" : zip_file_strerror(zf);
    if (done == size) {
      // Read to the end of the entry: libzip checks the CRC only there, and an entry whose
      // directory understates its size would otherwise be cut short without a word.
      char extra;
      zip_int64_t n = zip_fread(zf, &extra, 1);
      if (n > 0) {
        err = absl::StrCat("holds more than the ", size, " bytes its zip directory declares");
      } else if (n < 0) {
        err = zip_file_strerror(zf);
      }
    }
    zip_fclose(zf);
    if (done != size || !err.empty()) {
      return absl::DataLossError(absl::StrCat(Describe(name), ": corrupt zip entry: ", err));
    }
    return absl::OkStatus();
  }
  std::string Describe(absl::string_view name) const override {
    return absl::StrCat(path_, "/", name);
  }
  // A libzip handle is not shared between threads: the other thread gets its own.
  absl::StatusOr<std::unique_ptr<FeedSource>> OpenAnother() const override {
    return OpenFeedSource(path_);
  }

 private:
  std::string path_;
  zip_t* zip_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FeedSource>> OpenFeedSource(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": no such GTFS feed (expected a directory or a .zip file)"));
  }
  if (S_ISDIR(st.st_mode)) return std::unique_ptr<FeedSource>(new DirSource(path));
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a GTFS directory or readable .zip file: ", msg));
  }
  // Refuse implausible sizes from the directory before anything is inflated (zip bombs).
  zip_int64_t entries = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    if (zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) != 0) continue;
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) continue;
    const uint64_t size = st.size, comp = std::max<uint64_t>(1, st.comp_size);
    const bool too_big = size > kMaxZipEntryBytes;
    const bool bomb = size > kRatioCheckBytes && size / comp > kMaxZipRatio;
    if (too_big || bomb) {
      std::string name = st.valid & ZIP_STAT_NAME ? st.name : absl::StrCat("entry ", i);
      zip_discard(z);
      return absl::InvalidArgumentError(absl::StrCat(
          path, "/", name, ": declares ", size, " bytes from ", st.comp_size,
          " compressed; refused (a GTFS file may be at most ", kMaxZipEntryBytes,
          " bytes, and above ", kRatioCheckBytes, " bytes inflate at most ", kMaxZipRatio,
          ":1: this looks like a zip bomb)"));
    }
  }
  return std::unique_ptr<FeedSource>(new ZipSource(path, z));
}

std::function<void()> RunOnNewThread(std::function<void()> task) {
  auto thread = std::make_shared<std::thread>(std::move(task));
  return [thread] {
    if (thread->joinable()) thread->join();
  };
}

absl::StatusOr<GtfsFeed> LoadGtfs(const std::vector<std::string>& paths,
                                  GtfsLoadOptions options) {
  if (!options.run_in_background) options.run_in_background = RunOnNewThread;
  std::vector<std::unique_ptr<FeedSource>> owned;
  std::vector<const FeedSource*> sources;
  for (const std::string& p : paths) {
    auto src = OpenFeedSource(p);
    if (!src.ok()) return src.status();
    owned.push_back(std::move(*src));
    sources.push_back(owned.back().get());
  }
  return LoadGtfs(sources, options);
}

void PrintGtfsLoadProgress(const GtfsLoadProgress& p) {
  switch (p.stage) {
    case GtfsLoadProgress::Stage::kFeed:
      std::fprintf(stderr, "loading %s (%zu/%zu)\n", p.what.c_str(), p.feed, p.feeds);
      break;
    case GtfsLoadProgress::Stage::kStopTimes:
      if (isatty(2)) std::fprintf(stderr, "\r%s: %d%%", p.what.c_str(), p.percent);
      break;
    case GtfsLoadProgress::Stage::kStopTimesDone:
      std::fprintf(stderr, "\r%s: %zu rows in %.1f s\n", p.what.c_str(), p.rows, p.seconds);
      break;
  }
}

}  // namespace smartbus
