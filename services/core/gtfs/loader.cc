// GTFS loader: one or several feeds into one GtfsFeed. It reads only through FeedSource
// (source.h; the files, zips and libzip are in file_source.cc) and reports progress only through
// GtfsLoadOptions::progress.
//
// Speed: each file is read whole into one buffer and parsed in place (common/csv.h); the
// stop_times loop allocates nothing per row (ids are looked up as string_views into the buffer,
// numbers and times are parsed by hand) and writes straight into the final vector, reserved up
// front.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/core/common/csv.h"
#include "services/core/common/mutex.h"
#include "services/core/gtfs/feed.h"
#include "services/core/gtfs/source.h"

namespace smartbus {

namespace {

constexpr int32_t kNoTime = std::numeric_limits<int32_t>::min();

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int32_t CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y0 = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = y0 + (m <= 2);
  return static_cast<int32_t>(y * 10000 + m * 100 + d);
}

int64_t DayNumber(int32_t yyyymmdd) {
  return DaysFromCivil(yyyymmdd / 10000, static_cast<unsigned>(yyyymmdd / 100 % 100),
                       static_cast<unsigned>(yyyymmdd % 100));
}

// 0 = Monday ... 6 = Sunday.
int WeekdayOf(int64_t day_number) {
  int w = static_cast<int>((day_number + 3) % 7);
  return w < 0 ? w + 7 : w;
}

std::string FileStem(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".zip") == 0) {
    base.resize(base.size() - 4);
  }
  return base;
}

bool SameFloat(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool SameStopTime(const GtfsStopTime& a, const GtfsStopTime& b) {
  return a.stop == b.stop && a.stop_sequence == b.stop_sequence && a.arrival_s == b.arrival_s &&
         a.departure_s == b.departure_s && SameFloat(a.shape_dist, b.shape_dist) &&
         a.pickup_type == b.pickup_type && a.drop_off_type == b.drop_off_type;
}

// A cheap hash for short ids (the stop_times loop looks up one stop_id per row): 8 bytes at a
// time, multiply-xorshift mixing so that both the low and the high bits vary.
struct IdHash {
  size_t operator()(absl::string_view s) const {
    uint64_t h = (s.size() + 1) * 0x9E3779B97F4A7C15ull;
    const char* p = s.data();
    size_t n = s.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    h *= 0x94D049BB133111EBull;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};
using LocalMap = absl::flat_hash_map<absl::string_view, uint32_t, IdHash>;

// Gives the whole pages inside [begin, end) of a buffer back to the kernel (their content is
// gone; the buffer itself stays allocated and is freed as usual).
void ReleasePages(char* begin, char* end) {
  static const uintptr_t kPage = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t from = (reinterpret_cast<uintptr_t>(begin) + kPage - 1) / kPage * kPage;
  uintptr_t to = reinterpret_cast<uintptr_t>(end) / kPage * kPage;
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

// Reads one file of a feed on a background task (its own FeedSource, from OpenAnother, so a zip
// is inflated while the caller parses what has arrived): the two cores decompress and parse at
// once. The task runs on GtfsLoadOptions::run_in_background (the edge's thread); without one the
// file is read whole before the parse starts.
class StreamedFile {
 public:
  using Runner = std::function<std::function<void()>(std::function<void()>)>;
  StreamedFile() = default;
  StreamedFile(const StreamedFile&) = delete;
  StreamedFile& operator=(const StreamedFile&) = delete;
  ~StreamedFile() {
    cancel_ = true;
    Join();
  }

  // Starts reading `name` from the feed `src` (on a second source of it).
  absl::Status Start(const FeedSource& src, absl::string_view name, const Runner& run) {
    buf_ = FileBuffer::Allocate(src.Size(name));
    auto own = src.OpenAnother();
    if (!own.ok()) return own.status();
    std::function<void()> task = [this, source = std::shared_ptr<FeedSource>(std::move(*own)),
                                  n = std::string(name)] {
      absl::Status s = source->ReadInto(n, buf_.data.get(), buf_.size, [this](size_t done) {
        {
          MutexLock lock(mu_);
          avail_ = done;
        }
        cv_.notify_one();
        return !cancel_.load();
      });
      {
        MutexLock lock(mu_);
        status_ = s;
        done_ = true;
      }
      cv_.notify_one();
    };
    if (run) {
      join_ = run(std::move(task));
    } else {
      task();
    }
    return absl::OkStatus();
  }

  // Waits until more than `have` bytes are readable or the read ended. Returns the readable
  // byte count; *done is set once the whole file is there (or the read failed: see status()).
  size_t WaitMore(size_t have, bool* done) {
    UniqueLock lock(mu_);
    cv_.wait(lock.native(),
             [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ || avail_ > have; });
    *done = done_;
    return avail_;
  }
  absl::Status status() {
    MutexLock lock(mu_);
    return status_;
  }
  // For the parsing thread: waits until more whole lines have arrived and moves *limit to just
  // after the last line break; once a quote shows up (a quoted field may hold a line break) it
  // waits for the whole file instead. At the end *limit is size(); a failed read returns its
  // status.
  absl::Status NextLimit(size_t* limit) {
    for (;;) {
      bool done;
      seen_ = WaitMore(seen_, &done);
      if (done) {
        if (auto s = status(); !s.ok()) return s;
        *limit = buf_.size;
        return absl::OkStatus();
      }
      if (quoted_) continue;
      const char* text = buf_.data.get();
      const void* nl = memrchr(text + *limit, '\n', seen_ - *limit);
      if (!nl) continue;
      size_t new_limit = static_cast<size_t>(static_cast<const char*>(nl) - text) + 1;
      if (std::memchr(text + *limit, '"', new_limit - *limit)) {
        quoted_ = true;
        continue;
      }
      *limit = new_limit;
      return absl::OkStatus();
    }
  }
  char* data() { return buf_.data.get(); }
  size_t size() const { return buf_.size; }
  // Frees the text (after the read ended).
  void Release() {
    Join();
    buf_ = FileBuffer();
  }

 private:
  void Join() {
    if (join_) join_();
    join_ = nullptr;
  }

  FileBuffer buf_;
  std::function<void()> join_;  // waits for the background task (empty: none running)
  Mutex mu_;
  std::condition_variable cv_;
  size_t avail_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> cancel_{false};
  // The parsing thread's own (NextLimit):
  size_t seen_ = 0;      // bytes it has seen arrive
  bool quoted_ = false;  // a quote arrived: wait for the whole file
};

// Loads one feed into the combined model `f`. References inside the feed resolve through the
// feed's own id maps (local id -> global index), so clashing ids from other feeds never mix.
class FeedLoader {
 public:
  FeedLoader(GtfsFeed* f, const FeedSource* src, std::string name, const GtfsLoadOptions& options)
      : f_(*f), src_(*src), name_(std::move(name)), options_(options) {}

  absl::Status Load() {
    GtfsFeedInfo info;
    info.name = name_;
    info.path = src_.Path();
    for (const char* req :
         {"agency.txt", "routes.txt", "trips.txt", "stops.txt", "stop_times.txt"}) {
      if (!src_.Has(req)) {
        return absl::NotFoundError(
            absl::StrCat(src_.Describe(req), ": missing (a required GTFS file)"));
      }
    }
    if (!src_.Has("calendar.txt") && !src_.Has("calendar_dates.txt")) {
      return absl::NotFoundError(absl::StrCat(
          src_.Describe("calendar.txt"),
          ": missing, and so is calendar_dates.txt (a GTFS feed needs at least one of them)"));
    }
    if (auto s = LoadAgencies(); !s.ok()) return s;
    if (auto s = LoadRoutes(); !s.ok()) return s;
    if (auto s = LoadStops(); !s.ok()) return s;
    if (auto s = LoadCalendar(); !s.ok()) return s;
    if (auto s = LoadShapes(); !s.ok()) return s;
    if (auto s = LoadTrips(); !s.ok()) return s;
    if (auto s = LoadStopTimes(); !s.ok()) return s;
    if (auto s = LoadFrequencies(); !s.ok()) return s;
    if (auto s = LoadFeedInfo(&info); !s.ok()) return s;
    f_.feed_infos.push_back(std::move(info));
    return absl::OkStatus();
  }

 private:
  // ---- helpers -------------------------------------------------------------------------------
  void Warn(const char* kind, int64_t n = 1) { f_.warnings[kind] += n; }
  // A GTFS colour (six hex digits, no '#'), upper-cased; "" when empty or not a colour (warned).
  std::string HexColor(absl::string_view v) {
    if (v.empty()) return "";
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (v.size() != 6 || !std::all_of(v.begin(), v.end(), hex)) {
      Warn("route_color_invalid");
      return "";
    }
    std::string out(v);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }

  absl::Status RowError(absl::string_view file, int64_t line, absl::string_view column,
                        absl::string_view value, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(src_.Describe(file), ": line ", line,
                                                   ", column ", column, ", value '",
                                                   Abbreviate(value), "': ", what));
  }

  // The reader stopped at a quoted field that never closes: name this file and that line.
  absl::Status CheckQuotes(const CsvReader& r, absl::string_view file) const {
    if (r.unclosed_quote_line() == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        src_.Describe(file), ": line ", r.unclosed_quote_line(),
        ": a quoted field opens and is never closed (unbalanced '\"'); the file is not read "
        "past it"));
  }

  // Reads a file into a buffer kept alive for the whole feed (local maps point into it).
  absl::StatusOr<CsvReader> Open(absl::string_view file) {
    auto buf = src_.Read(file);
    if (!buf.ok()) return buf.status();
    buffers_.push_back(std::move(*buf));
    FileBuffer& b = buffers_.back();
    CsvReader r(b.data.get(), b.size);
    if (auto s = CheckQuotes(r, file); !s.ok()) return s;  // in the header row
    return r;
  }

  absl::Status RequireColumns(const CsvReader& r, absl::string_view file,
                              std::initializer_list<const char*> cols) const {
    for (const char* c : cols) {
      if (r.Column(c) < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(src_.Describe(file), ": missing required column '", c, "'"));
      }
    }
    return absl::OkStatus();
  }

  void CheckWidth(const CsvReader& r) {
    if (r.num_fields() != r.num_columns()) Warn("row_field_count_mismatch");
  }

  // Adds `item` to `vec` unless an entity with that id came from an earlier feed: identical ->
  // merged (the earlier index), different -> renamed "<feed>:<id>". Returns the global index.
  template <typename T, typename Same>
  uint32_t Place(std::vector<T>* vec, absl::flat_hash_map<std::string, uint32_t>* index, T item,
                 Same same, const char* merged_kind, const char* renamed_kind) {
    auto it = index->find(item.id);
    if (it != index->end()) {
      if (same((*vec)[it->second], item)) {
        Warn(merged_kind);
        return it->second;
      }
      std::string id = absl::StrCat(name_, ":", item.id);
      while (index->contains(id)) id = absl::StrCat(name_, ":", id);
      item.id = std::move(id);
      Warn(renamed_kind);
    }
    uint32_t idx = static_cast<uint32_t>(vec->size());
    index->emplace(item.id, idx);
    vec->push_back(std::move(item));
    return idx;
  }

  // ---- agency.txt ----------------------------------------------------------------------------
  absl::Status LoadAgencies() {
    const char* file = "agency.txt";
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file, {"agency_name", "agency_timezone"}); !s.ok()) return s;
    int c_id = r->Column("agency_id"), c_name = r->Column("agency_name"),
        c_tz = r->Column("agency_timezone");
    while (r->Next()) {
      CheckWidth(*r);
      GtfsAgency a;
      a.id = std::string(r->Field(c_id));
      a.name = std::string(r->Field(c_name));
      a.timezone = std::string(r->Trimmed(c_tz));
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(a.timezone, &tz)) {
        return RowError(file, r->line(), "agency_timezone", a.timezone,
                        "unknown time zone (expected an IANA name like America/New_York)");
      }
      if (agency_map_.contains(r->Field(c_id))) {
        return RowError(file, r->line(), "agency_id", a.id, "duplicate agency_id");
      }
      uint32_t idx = kNoIndex;
      for (uint32_t i = 0; i < f_.agencies.size(); ++i) {
        if (f_.agencies[i].id == a.id) {
          if (f_.agencies[i].name == a.name && f_.agencies[i].timezone == a.timezone) {
            idx = i;
            Warn("agency_id_merged");
          } else {
            a.id = absl::StrCat(name_, ":", a.id);
            Warn("agency_id_renamed");
          }
          break;
        }
      }
      if (idx == kNoIndex) {
        idx = static_cast<uint32_t>(f_.agencies.size());
        if (f_.timezone.empty()) {
          f_.timezone = a.timezone;
        } else if (f_.timezone != a.timezone) {
          Warn("agency_timezone_differs");
        }
        f_.agencies.push_back(std::move(a));
      }
      agency_map_.emplace(r->Field(c_id), idx);
      if (first_agency_ == kNoIndex) first_agency_ = idx;
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    if (first_agency_ == kNoIndex) {
      return absl::InvalidArgumentError(absl::StrCat(src_.Describe(file), ": no agency rows"));
    }
    return absl::OkStatus();
  }

  // ---- routes.txt ----------------------------------------------------------------------------
  absl::Status LoadRoutes() {
    const char* file = "routes.txt";
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file, {"route_id", "route_type"}); !s.ok()) return s;
    int c_id = r->Column("route_id"), c_agency = r->Column("agency_id"),
        c_short = r->Column("route_short_name"), c_long = r->Column("route_long_name"),
        c_type = r->Column("route_type"), c_color = r->Column("route_color"),
        c_text_color = r->Column("route_text_color");
    while (r->Next()) {
      CheckWidth(*r);
      absl::string_view id = r->Field(c_id);
      if (id.empty()) return RowError(file, r->line(), "route_id", id, "empty route_id");
      if (route_map_.contains(id)) {
        return RowError(file, r->line(), "route_id", id, "duplicate route_id");
      }
      GtfsRoute route;
      route.id = std::string(id);
      route.short_name = std::string(r->Field(c_short));
      route.long_name = std::string(r->Field(c_long));
      int64_t type = 3;
      if (!ParseInt64(r->Field(c_type), &type) || type < 0) {
        return RowError(file, r->line(), "route_type", r->Field(c_type),
                        "not a route type (an integer such as 3 for bus)");
      }
      route.type = static_cast<int>(type);
      route.color = HexColor(r->Trimmed(c_color));
      route.text_color = HexColor(r->Trimmed(c_text_color));
      absl::string_view agency = r->Field(c_agency);
      auto ait = agency_map_.find(agency);
      if (ait != agency_map_.end()) {
        route.agency = ait->second;
      } else {
        if (!agency.empty() || agency_map_.size() > 1) Warn("route_unknown_agency_id");
        route.agency = first_agency_;
      }
      uint32_t idx = Place(
          &f_.routes, &f_.route_index, std::move(route),
          [](const GtfsRoute& a, const GtfsRoute& b) {
            return a.short_name == b.short_name && a.long_name == b.long_name && a.type == b.type &&
                   a.agency == b.agency;
          },
          "route_id_merged", "route_id_renamed");
      route_map_.emplace(id, idx);
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    return absl::OkStatus();
  }

  // ---- stops.txt -----------------------------------------------------------------------------
  absl::Status LoadStops() {
    const char* file = "stops.txt";
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file, {"stop_id"}); !s.ok()) return s;
    int c_id = r->Column("stop_id"), c_code = r->Column("stop_code"),
        c_name = r->Column("stop_name"), c_lat = r->Column("stop_lat"),
        c_lon = r->Column("stop_lon"), c_type = r->Column("location_type"),
        c_parent = r->Column("parent_station"), c_wheelchair = r->Column("wheelchair_boarding");
    // parent_station may name a stop further down the file: resolved once all are read.
    std::vector<std::pair<uint32_t, std::string>> parents;
    while (r->Next()) {
      CheckWidth(*r);
      absl::string_view id = r->Field(c_id);
      if (id.empty()) return RowError(file, r->line(), "stop_id", id, "empty stop_id");
      if (stop_map_.contains(id)) {
        return RowError(file, r->line(), "stop_id", id, "duplicate stop_id");
      }
      GtfsStop stop;
      stop.id = std::string(id);
      stop.code = std::string(r->Field(c_code));
      stop.name = std::string(r->Field(c_name));
      int64_t type = 0;
      if (!r->Trimmed(c_type).empty()) {
        if (!ParseInt64(r->Field(c_type), &type) || type < 0 || type > 4) {
          return RowError(file, r->line(), "location_type", r->Field(c_type),
                          "not a location type (0..4)");
        }
      }
      stop.location_type = static_cast<uint8_t>(type);
      if (int64_t wb = 0; !r->Trimmed(c_wheelchair).empty()) {
        if (ParseInt64(r->Field(c_wheelchair), &wb) && wb >= 0 && wb <= 2)
          stop.wheelchair_boarding = static_cast<uint8_t>(wb);
        else
          Warn("wheelchair_boarding_invalid");
      }
      const bool needs_pos = type <= 2;
      if (needs_pos && (c_lat < 0 || c_lon < 0)) {
        return absl::InvalidArgumentError(absl::StrCat(src_.Describe(file),
                                                       ": missing required column '",
                                                       c_lat < 0 ? "stop_lat" : "stop_lon", "'"));
      }
      double lat = NAN, lon = NAN;
      bool have_lat = !r->Trimmed(c_lat).empty(), have_lon = !r->Trimmed(c_lon).empty();
      if (needs_pos || have_lat || have_lon) {
        if (!ParseDouble(r->Field(c_lat), &lat) || !(lat >= -90 && lat <= 90)) {
          return RowError(file, r->line(), "stop_lat", r->Field(c_lat),
                          "latitude missing or out of range (-90..90)");
        }
        if (!ParseDouble(r->Field(c_lon), &lon) || !(lon >= -180 && lon <= 180)) {
          return RowError(file, r->line(), "stop_lon", r->Field(c_lon),
                          "longitude missing or out of range (-180..180)");
        }
        if (lat == 0 && lon == 0) Warn("stop_at_0_0");
      }
      stop.pos = {lat, lon};
      uint32_t idx = Place(
          &f_.stops, &f_.stop_index, std::move(stop),
          [](const GtfsStop& a, const GtfsStop& b) {
            return a.code == b.code && a.name == b.name && a.location_type == b.location_type &&
                   ((a.pos.lat == b.pos.lat && a.pos.lon == b.pos.lon) ||
                    (std::isnan(a.pos.lat) && std::isnan(b.pos.lat)));
          },
          "stop_id_merged", "stop_id_renamed");
      stop_map_.emplace(id, idx);
      if (!r->Trimmed(c_parent).empty()) parents.emplace_back(idx, r->Trimmed(c_parent));
    }
    for (const auto& [idx, parent] : parents) {
      auto it = stop_map_.find(parent);
      if (it == stop_map_.end() || it->second == idx) {
        Warn("parent_station_unknown");
      } else if (f_.stops[idx].parent_station == kNoIndex) {  // a merged stop keeps the first
        f_.stops[idx].parent_station = it->second;
      }
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    return absl::OkStatus();
  }

  // ---- calendar.txt + calendar_dates.txt -----------------------------------------------------
  absl::Status LoadCalendar() {
    std::vector<GtfsService> local;
    LocalMap local_map;
    if (src_.Has("calendar.txt")) {
      const char* file = "calendar.txt";
      auto r = Open(file);
      if (!r.ok()) return r.status();
      static const char* kDays[] = {"monday", "tuesday",  "wednesday", "thursday",
                                    "friday", "saturday", "sunday"};
      if (auto s = RequireColumns(*r, file,
                                  {"service_id", "monday", "tuesday", "wednesday", "thursday",
                                   "friday", "saturday", "sunday", "start_date", "end_date"});
          !s.ok()) {
        return s;
      }
      int c_id = r->Column("service_id"), c_start = r->Column("start_date"),
          c_end = r->Column("end_date");
      int c_day[7];
      for (int d = 0; d < 7; ++d) c_day[d] = r->Column(kDays[d]);
      while (r->Next()) {
        CheckWidth(*r);
        absl::string_view id = r->Field(c_id);
        if (id.empty()) return RowError(file, r->line(), "service_id", id, "empty service_id");
        if (local_map.contains(id)) {
          return RowError(file, r->line(), "service_id", id, "duplicate service_id");
        }
        GtfsService s;
        s.id = std::string(id);
        for (int d = 0; d < 7; ++d) {
          absl::string_view v = r->Trimmed(c_day[d]);
          if (v == "1") {
            s.weekdays |= static_cast<uint8_t>(1u << d);
          } else if (v != "0") {
            return RowError(file, r->line(), kDays[d], v, "expected 0 or 1");
          }
        }
        if (!ParseGtfsDate(r->Field(c_start), &s.start_date)) {
          return RowError(file, r->line(), "start_date", r->Field(c_start),
                          "not a date (YYYYMMDD)");
        }
        if (!ParseGtfsDate(r->Field(c_end), &s.end_date)) {
          return RowError(file, r->line(), "end_date", r->Field(c_end), "not a date (YYYYMMDD)");
        }
        if (s.end_date < s.start_date) Warn("calendar_end_before_start");
        local_map.emplace(id, static_cast<uint32_t>(local.size()));
        local.push_back(std::move(s));
      }
      if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    }
    if (src_.Has("calendar_dates.txt")) {
      const char* file = "calendar_dates.txt";
      auto r = Open(file);
      if (!r.ok()) return r.status();
      if (auto s = RequireColumns(*r, file, {"service_id", "date", "exception_type"}); !s.ok()) {
        return s;
      }
      int c_id = r->Column("service_id"), c_date = r->Column("date"),
          c_type = r->Column("exception_type");
      while (r->Next()) {
        CheckWidth(*r);
        absl::string_view id = r->Field(c_id);
        if (id.empty()) return RowError(file, r->line(), "service_id", id, "empty service_id");
        int32_t date;
        if (!ParseGtfsDate(r->Field(c_date), &date)) {
          return RowError(file, r->line(), "date", r->Field(c_date), "not a date (YYYYMMDD)");
        }
        absl::string_view type = r->Trimmed(c_type);
        if (type != "1" && type != "2") {
          return RowError(file, r->line(), "exception_type", type,
                          "expected 1 (service added) or 2 (service removed)");
        }
        auto it = local_map.find(id);
        if (it == local_map.end()) {
          it = local_map.emplace(id, static_cast<uint32_t>(local.size())).first;
          local.emplace_back();
          local.back().id = std::string(id);
        }
        GtfsService& s = local[it->second];
        (type == "1" ? s.added_dates : s.removed_dates).push_back(date);
      }
      if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    }
    // In file order, so that service indices follow the files.
    std::vector<absl::string_view> local_ids(local.size());
    for (const auto& [id, i] : local_map) local_ids[i] = id;
    for (uint32_t i = 0; i < local.size(); ++i) {
      const absl::string_view id = local_ids[i];
      GtfsService s = std::move(local[i]);
      for (auto* v : {&s.added_dates, &s.removed_dates}) {
        std::sort(v->begin(), v->end());
        size_t before = v->size();
        v->erase(std::unique(v->begin(), v->end()), v->end());
        if (v->size() != before) Warn("calendar_dates_duplicate", before - v->size());
      }
      for (int32_t d : s.added_dates) {
        if (std::binary_search(s.removed_dates.begin(), s.removed_dates.end(), d)) {
          Warn("calendar_dates_added_and_removed");
        }
      }
      uint32_t idx = Place(
          &f_.services, &f_.service_index, std::move(s),
          [](const GtfsService& a, const GtfsService& b) {
            return a.weekdays == b.weekdays && a.start_date == b.start_date &&
                   a.end_date == b.end_date && a.added_dates == b.added_dates &&
                   a.removed_dates == b.removed_dates;
          },
          "service_id_merged", "service_id_renamed");
      service_map_.emplace(id, idx);
    }
    return absl::OkStatus();
  }

  // ---- shapes.txt ----------------------------------------------------------------------------
  // A point of shapes.txt as read; `shape` is the shape's local index (order of first appearance).
  struct ShapePoint {
    uint32_t shape;
    uint32_t seq;
    double lat, lon;
    float dist;
  };

  absl::Status LoadShapes() {
    const char* file = "shapes.txt";
    if (!src_.Has(file)) return absl::OkStatus();
    std::vector<ShapePoint> pts;
    std::vector<absl::string_view> local_ids;
    if (auto s = ReadShapePoints(file, &pts, &local_ids); !s.ok()) return s;
    std::vector<GtfsShape> local = BuildShapes(pts, local_ids.size());
    std::vector<ShapePoint>().swap(pts);
    PlaceShapes(std::move(local), local_ids);
    return absl::OkStatus();
  }

  // Reads the points, sorted by shape (local index) and shape_pt_sequence; *local_ids gets the
  // shape ids in order of first appearance.
  absl::Status ReadShapePoints(const char* file, std::vector<ShapePoint>* pts,
                               std::vector<absl::string_view>* local_ids) {
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file,
                                {"shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"});
        !s.ok()) {
      return s;
    }
    int c_id = r->Column("shape_id"), c_lat = r->Column("shape_pt_lat"),
        c_lon = r->Column("shape_pt_lon"), c_seq = r->Column("shape_pt_sequence"),
        c_dist = r->Column("shape_dist_traveled");
    pts->reserve(CountLines(buffers_.back().data.get(), buffers_.back().size));
    LocalMap local_map;
    absl::string_view last_id;
    uint32_t last = kNoIndex;
    bool sorted = true;
    while (r->Next()) {
      CheckWidth(*r);
      absl::string_view id = r->Field(c_id);
      if (last == kNoIndex || id != last_id) {
        if (id.empty()) return RowError(file, r->line(), "shape_id", id, "empty shape_id");
        auto [it, inserted] = local_map.emplace(id, static_cast<uint32_t>(local_ids->size()));
        if (inserted) {
          local_ids->push_back(id);
        } else {
          sorted = false;
        }
        last = it->second;
        last_id = id;
      }
      ShapePoint p;
      p.shape = last;
      int64_t seq;
      if (!ParseInt64(r->Field(c_seq), &seq) || seq < 0 || seq > 0xFFFFFFFEll) {
        return RowError(file, r->line(), "shape_pt_sequence", r->Field(c_seq),
                        "not a non-negative integer");
      }
      p.seq = static_cast<uint32_t>(seq);
      if (!ParseDouble(r->Field(c_lat), &p.lat) || !(p.lat >= -90 && p.lat <= 90)) {
        return RowError(file, r->line(), "shape_pt_lat", r->Field(c_lat),
                        "latitude missing or out of range (-90..90)");
      }
      if (!ParseDouble(r->Field(c_lon), &p.lon) || !(p.lon >= -180 && p.lon <= 180)) {
        return RowError(file, r->line(), "shape_pt_lon", r->Field(c_lon),
                        "longitude missing or out of range (-180..180)");
      }
      p.dist = NAN;
      double d;
      if (c_dist >= 0 && !r->Trimmed(c_dist).empty()) {
        if (ParseDouble(r->Field(c_dist), &d)) {
          p.dist = static_cast<float>(d);
        } else {
          Warn("shape_dist_traveled_unparsable");
        }
      }
      if (!pts->empty() && pts->back().shape == p.shape && pts->back().seq >= p.seq) sorted = false;
      pts->push_back(p);
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    if (!sorted) {
      std::stable_sort(pts->begin(), pts->end(), [](const ShapePoint& a, const ShapePoint& b) {
        return a.shape != b.shape ? a.shape < b.shape : a.seq < b.seq;
      });
    }
    return absl::OkStatus();
  }

  // The shapes (by local index) from the points grouped by shape; warns of repeated points and
  // sequences, partial or decreasing distances, and one-point shapes.
  std::vector<GtfsShape> BuildShapes(const std::vector<ShapePoint>& pts, size_t num_shapes) {
    std::vector<GtfsShape> local(num_shapes);
    for (size_t i = 0; i < pts.size();) {
      size_t j = i;
      while (j < pts.size() && pts[j].shape == pts[i].shape) ++j;
      GtfsShape& s = local[pts[i].shape];
      s.points.reserve(j - i);
      bool all_dist = true, any_dist = false;
      for (size_t k = i; k < j; ++k) {
        if (k > i && pts[k].seq == pts[k - 1].seq) Warn("shape_pt_sequence_repeated");
        if (k > i && pts[k].lat == pts[k - 1].lat && pts[k].lon == pts[k - 1].lon) {
          Warn("shape_point_repeated");
        }
        s.points.push_back({pts[k].lat, pts[k].lon});
        all_dist &= !std::isnan(pts[k].dist);
        any_dist |= !std::isnan(pts[k].dist);
      }
      if (all_dist) {
        s.dist.reserve(j - i);
        for (size_t k = i; k < j; ++k) s.dist.push_back(pts[k].dist);
        for (size_t k = 1; k < s.dist.size(); ++k) {
          if (s.dist[k] < s.dist[k - 1]) {
            Warn("shape_dist_traveled_decreasing");
            break;
          }
        }
      } else if (any_dist) {
        Warn("shape_dist_traveled_partial");
      }
      if (j - i < 2) Warn("shape_with_one_point");
      i = j;
    }
    return local;
  }

  // The shapes into the model (identical ones from an earlier feed merged, clashing ids renamed).
  void PlaceShapes(std::vector<GtfsShape> local, const std::vector<absl::string_view>& local_ids) {
    for (uint32_t i = 0; i < local.size(); ++i) {
      local[i].id = std::string(local_ids[i]);
      uint32_t idx = Place(
          &f_.shapes, &f_.shape_index, std::move(local[i]),
          [](const GtfsShape& a, const GtfsShape& b) {
            if (a.points.size() != b.points.size() || a.dist != b.dist) return false;
            for (size_t k = 0; k < a.points.size(); ++k) {
              if (a.points[k].lat != b.points[k].lat || a.points[k].lon != b.points[k].lon) {
                return false;
              }
            }
            return true;
          },
          "shape_id_merged", "shape_id_renamed");
      shape_map_.emplace(local_ids[i], idx);
    }
  }

  // ---- trips.txt -----------------------------------------------------------------------------
  absl::Status LoadTrips() {
    const char* file = "trips.txt";
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file, {"route_id", "service_id", "trip_id"}); !s.ok()) return s;
    int c_route = r->Column("route_id"), c_service = r->Column("service_id"),
        c_id = r->Column("trip_id"), c_head = r->Column("trip_headsign"),
        c_dir = r->Column("direction_id"), c_block = r->Column("block_id"),
        c_shape = r->Column("shape_id");
    size_t n = CountLines(buffers_.back().data.get(), buffers_.back().size);
    trips_.reserve(n);
    trip_map_.reserve(n);
    while (r->Next()) {
      CheckWidth(*r);
      absl::string_view id = r->Field(c_id);
      if (id.empty()) return RowError(file, r->line(), "trip_id", id, "empty trip_id");
      GtfsTrip t;
      auto rit = route_map_.find(r->Field(c_route));
      if (rit == route_map_.end()) {
        return RowError(file, r->line(), "route_id", r->Field(c_route),
                        "unknown route_id (not in routes.txt)");
      }
      t.route = rit->second;
      auto sit = service_map_.find(r->Field(c_service));
      if (sit == service_map_.end()) {
        return RowError(file, r->line(), "service_id", r->Field(c_service),
                        "unknown service_id (not in calendar.txt or calendar_dates.txt)");
      }
      t.service = sit->second;
      absl::string_view shape = r->Field(c_shape);
      if (!shape.empty()) {
        auto shit = shape_map_.find(shape);
        if (shit == shape_map_.end()) {
          Warn("trip_unknown_shape_id");
        } else {
          t.shape = shit->second;
        }
      }
      absl::string_view dir = r->Trimmed(c_dir);
      if (dir == "0" || dir == "1") {
        t.direction_id = static_cast<int8_t>(dir[0] - '0');
      } else if (!dir.empty()) {
        Warn("trip_bad_direction_id");
      }
      t.headsign = std::string(r->Field(c_head));
      t.block_id = std::string(r->Field(c_block));
      if (!trip_map_.emplace(id, static_cast<uint32_t>(trips_.size())).second) {
        return RowError(file, r->line(), "trip_id", id, "duplicate trip_id");
      }
      trip_ids_.push_back(id);
      trips_.push_back(std::move(t));
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    return absl::OkStatus();
  }

  // ---- stop_times.txt ------------------------------------------------------------------------
  // Read (parsed while a second thread still reads the file), grouped by trip, each trip sorted
  // and completed, the trips placed into the model.

  // Column numbers of stop_times.txt (-1: absent).
  struct StopTimeColumns {
    int trip, stop, seq, arr, dep, dist, pick, drop, tp;
  };

  // This feed's stop_times rows, appended to f_.stop_times from `base`: in file order after
  // ReadStopTimes, grouped by trip (each trip's run at base + first[trip]) after GroupByTrip.
  struct StopTimeRows {
    size_t base = 0;
    size_t n = 0;                 // rows read
    std::vector<uint32_t> trip;   // local trip of each row (file order; freed by GroupByTrip)
    std::vector<uint32_t> line;   // line of each row in the file (for messages)
    std::vector<uint32_t> count;  // rows per local trip
    std::vector<uint32_t> first;  // per local trip: its first row, counted from base
    bool grouped = true;          // the file kept each trip's rows together
  };

  absl::Status LoadStopTimes() {
    const char* file = "stop_times.txt";
    auto t0 = std::chrono::steady_clock::now();
    if (!src_.Has(file)) {
      return absl::NotFoundError(absl::StrCat(src_.Describe(file), ": missing"));
    }
    StopTimeRows rows;
    if (auto s = ReadStopTimes(file, &rows); !s.ok()) return s;
    GroupByTrip(&rows);
    if (auto s = SortAndCompleteTrips(file, &rows); !s.ok()) return s;
    PlaceTrips(rows);
    std::vector<GtfsTrip>().swap(trips_);
    if (options_.progress) {
      GtfsLoadProgress p;
      p.stage = GtfsLoadProgress::Stage::kStopTimesDone;
      p.what = src_.Describe(file);
      p.rows = rows.n;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      options_.progress(p);
    }
    return absl::OkStatus();
  }

  // Reads every row into f_.stop_times (file order) and rows->trip/line/count/grouped. The text
  // is parsed as it arrives, and pages already parsed are given back to the kernel, so the whole
  // file is never resident at once.
  absl::Status ReadStopTimes(const char* file, StopTimeRows* rows) {
    StreamedFile stream;
    if (auto s = stream.Start(src_, file, options_.run_in_background); !s.ok()) return s;
    char* const text = stream.data();
    const size_t text_size = stream.size();
    size_t limit = 0;
    if (auto s = stream.NextLimit(&limit); !s.ok()) return s;
    CsvReader r(text, limit);
    if (auto s = CheckQuotes(r, file); !s.ok()) return s;
    const StopTimeColumns c{r.Column("trip_id"),        r.Column("stop_id"),
                            r.Column("stop_sequence"),  r.Column("arrival_time"),
                            r.Column("departure_time"), r.Column("shape_dist_traveled"),
                            r.Column("pickup_type"),    r.Column("drop_off_type"),
                            r.Column("timepoint")};
    if (c.arr < 0 && c.dep < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          src_.Describe(file), ": missing required column 'arrival_time' (and 'departure_time')"));
    }
    // Room for every row (a row takes at least 16 bytes of text); pages never written cost
    // address space, not memory.
    const size_t n_lines = text_size / 16 + 16;
    std::vector<GtfsStopTime>& st = f_.stop_times;
    const size_t base = st.size();
    if (st.capacity() < base + n_lines) st.reserve(base + n_lines);
    // Locals in the loop (not rows->...): the compiler keeps them in registers.
    std::vector<uint32_t> row_trip, row_line;
    row_trip.reserve(n_lines);
    row_line.reserve(n_lines);
    std::vector<uint32_t> trip_rows(trips_.size(), 0);
    absl::string_view last_id;
    uint32_t last = kNoIndex;
    bool grouped = true;
    int64_t width_mismatch = 0;
    size_t released = 0;
    size_t next_progress = options_.progress ? size_t{1} << 20 : SIZE_MAX;
    const size_t ncols = r.num_columns();
    for (;;) {
      if (!r.Next()) {
        if (auto s = CheckQuotes(r, file); !s.ok()) return s;
        if (limit == text_size) break;
        // Text already parsed is not needed any more (except the trip id the next row is
        // compared with): return its pages.
        size_t keep = r.position();
        if (last != kNoIndex) keep = std::min(keep, static_cast<size_t>(last_id.data() - text));
        ReleasePages(text + released, text + keep);
        released = std::max(released, keep);
        if (auto s = stream.NextLimit(&limit); !s.ok()) return s;
        r.ExtendTo(text + limit);
        continue;
      }
      if (r.num_fields() != ncols) ++width_mismatch;
      absl::string_view tid = r.Field(c.trip);
      if (last == kNoIndex || tid != last_id) {
        auto it = trip_map_.find(tid);
        if (it == trip_map_.end()) {
          return RowError(file, r.line(), "trip_id", tid, "unknown trip_id (not in trips.txt)");
        }
        if (trip_rows[it->second] != 0) grouped = false;
        last = it->second;
        last_id = tid;
      }
      GtfsStopTime s;
      if (auto status = ParseStopTime(r, c, file, &s); !status.ok()) return status;
      st.push_back(s);
      row_trip.push_back(last);
      row_line.push_back(static_cast<uint32_t>(std::min<int64_t>(r.line(), 0xFFFFFFFF)));
      ++trip_rows[last];
      if (r.position() >= next_progress) {
        GtfsLoadProgress p;
        p.stage = GtfsLoadProgress::Stage::kStopTimes;
        p.what = src_.Describe(file);
        p.percent = static_cast<int>(r.position() * 100 / std::max<size_t>(text_size, 1));
        options_.progress(p);
        next_progress += size_t{1} << 24;
      }
    }
    if (width_mismatch) Warn("row_field_count_mismatch", width_mismatch);
    rows->base = base;
    rows->n = st.size() - base;
    rows->trip = std::move(row_trip);
    rows->line = std::move(row_line);
    rows->count = std::move(trip_rows);
    rows->grouped = grouped;
    return absl::OkStatus();
  }

  // One row's fields after the trip_id (stop, sequence, times, distance, pickup/drop-off,
  // timepoint) into *s. A time left empty is kNoTime (filled later); other bad values are errors
  // naming the line, or warnings where GTFS consumers commonly tolerate them.
  absl::Status ParseStopTime(const CsvReader& r, const StopTimeColumns& c, const char* file,
                             GtfsStopTime* s) {
    absl::string_view sid = r.Field(c.stop);
    auto sit = stop_map_.find(sid);
    if (sit == stop_map_.end()) {
      return RowError(file, r.line(), "stop_id", sid, "unknown stop_id (not in stops.txt)");
    }
    s->stop = sit->second;
    int64_t seq;
    if (!ParseInt64(r.Field(c.seq), &seq) || seq < 0 || seq > 0xFFFFFFFFll) {
      return RowError(file, r.line(), "stop_sequence", r.Field(c.seq),
                      "not a non-negative integer");
    }
    s->stop_sequence = static_cast<uint32_t>(seq);
    absl::string_view arr = r.Field(c.arr), dep = r.Field(c.dep);
    s->arrival_s = kNoTime;
    s->departure_s = kNoTime;
    if (!arr.empty() && !ParseGtfsTime(arr, &s->arrival_s)) {
      if (!TrimSpaces(arr).empty()) {
        return RowError(file, r.line(), "arrival_time", arr, "not a time (HH:MM:SS)");
      }
      s->arrival_s = kNoTime;
    }
    if (!dep.empty() && !ParseGtfsTime(dep, &s->departure_s)) {
      if (!TrimSpaces(dep).empty()) {
        return RowError(file, r.line(), "departure_time", dep, "not a time (HH:MM:SS)");
      }
      s->departure_s = kNoTime;
    }
    if (s->arrival_s == kNoTime) s->arrival_s = s->departure_s;
    if (s->departure_s == kNoTime) s->departure_s = s->arrival_s;
    if (c.dist >= 0) {
      absl::string_view d = r.Field(c.dist);
      double v;
      if (!d.empty() && ParseDouble(d, &v)) {
        s->shape_dist = static_cast<float>(v);
      } else if (!TrimSpaces(d).empty()) {
        Warn("stop_time_shape_dist_traveled_unparsable");
      }
    }
    if (c.pick >= 0) s->pickup_type = StopTimeType(r.Field(c.pick), s->pickup_type,
                                                   "stop_time_bad_pickup_type");
    if (c.drop >= 0) s->drop_off_type = StopTimeType(r.Field(c.drop), s->drop_off_type,
                                                     "stop_time_bad_drop_off_type");
    if (c.tp >= 0) {
      absl::string_view v = TrimSpaces(r.Field(c.tp));
      if (v == "0") s->timepoint = 0;
      else if (!v.empty() && v != "1") Warn("stop_time_bad_timepoint");
    }
    return absl::OkStatus();
  }

  // A pickup_type / drop_off_type field (0..3); `dflt` when empty, or when bad (warned as
  // `bad_kind`).
  uint8_t StopTimeType(absl::string_view v, uint8_t dflt, const char* bad_kind) {
    if (v.empty()) return dflt;
    int64_t x;
    if (ParseInt64(v, &x) && x >= 0 && x <= 3) return static_cast<uint8_t>(x);
    if (!TrimSpaces(v).empty()) Warn(bad_kind);
    return dflt;
  }

  // Groups the rows by trip (a counting sort, only when the file did not already group them):
  // sets rows->first; rows->line follows the rows.
  void GroupByTrip(StopTimeRows* rows) {
    std::vector<GtfsStopTime>& st = f_.stop_times;
    const size_t n = rows->n;
    rows->first.assign(trips_.size(), 0);
    if (!rows->grouped) {
      Warn("stop_times_not_grouped_by_trip");
      uint32_t acc = 0;
      for (size_t t = 0; t < trips_.size(); ++t) {
        rows->first[t] = acc;
        acc += rows->count[t];
      }
      std::vector<uint32_t> pos(rows->first);
      std::vector<GtfsStopTime> st2(n);
      std::vector<uint32_t> line2(n);
      for (size_t i = 0; i < n; ++i) {
        uint32_t k = pos[rows->trip[i]]++;
        st2[k] = st[rows->base + i];
        line2[k] = rows->line[i];
      }
      std::copy(st2.begin(), st2.end(), st.begin() + static_cast<ptrdiff_t>(rows->base));
      rows->line.swap(line2);
    } else {
      for (size_t i = n; i-- > 0;) rows->first[rows->trip[i]] = static_cast<uint32_t>(i);
    }
    std::vector<uint32_t>().swap(rows->trip);
  }

  // Per trip: sorts the rows by stop_sequence (a repeat is an error), fills missing times in
  // between (the first and last stop need theirs), counts trips whose times decrease.
  absl::Status SortAndCompleteTrips(const char* file, StopTimeRows* rows) {
    std::vector<uint32_t> perm, tmp_line;
    std::vector<GtfsStopTime> tmp_st;
    int64_t interpolated = 0, decreasing = 0;
    for (size_t t = 0; t < trips_.size(); ++t) {
      const uint32_t cnt = rows->count[t];
      if (cnt == 0) continue;
      GtfsStopTime* trip_rows = f_.stop_times.data() + rows->base + rows->first[t];
      uint32_t* lines = rows->line.data() + rows->first[t];
      if (auto s = SortTrip(file, t, trip_rows, lines, cnt, &perm, &tmp_st, &tmp_line); !s.ok()) {
        return s;
      }
      if (trip_rows[0].arrival_s == kNoTime || trip_rows[cnt - 1].arrival_s == kNoTime) {
        uint32_t k = trip_rows[0].arrival_s == kNoTime ? 0 : cnt - 1;
        return RowError(file, lines[k], "arrival_time", "",
                        absl::StrCat("the first and last stop of trip '", trip_ids_[t],
                                     "' need arrival_time and departure_time"));
      }
      interpolated += InterpolateTimes(trip_rows, cnt);
      for (uint32_t k = 0; k < cnt; ++k) {
        if (trip_rows[k].departure_s < trip_rows[k].arrival_s ||
            (k > 0 && trip_rows[k].arrival_s < trip_rows[k - 1].departure_s)) {
          ++decreasing;
          break;
        }
      }
    }
    if (interpolated) Warn("stop_times_interpolated", interpolated);
    if (decreasing) Warn("trip_times_decreasing", decreasing);
    std::vector<uint32_t>().swap(rows->line);
    return absl::OkStatus();
  }

  // Sorts one trip's `cnt` rows (and their lines) by stop_sequence, stably, unless they are in
  // order already; a repeated stop_sequence is an error naming both lines. perm/tmp_*: scratch.
  absl::Status SortTrip(const char* file, size_t t, GtfsStopTime* rows, uint32_t* lines,
                        uint32_t cnt, std::vector<uint32_t>* perm,
                        std::vector<GtfsStopTime>* tmp_st, std::vector<uint32_t>* tmp_line) {
    bool in_order = true;
    for (uint32_t k = 1; k < cnt; ++k) {
      if (rows[k].stop_sequence <= rows[k - 1].stop_sequence) {
        in_order = false;
        break;
      }
    }
    if (in_order) return absl::OkStatus();
    perm->resize(cnt);
    std::iota(perm->begin(), perm->end(), 0u);
    std::stable_sort(perm->begin(), perm->end(), [rows](uint32_t a, uint32_t b) {
      return rows[a].stop_sequence < rows[b].stop_sequence;
    });
    tmp_st->assign(rows, rows + cnt);
    tmp_line->assign(lines, lines + cnt);
    for (uint32_t k = 0; k < cnt; ++k) {
      rows[k] = (*tmp_st)[(*perm)[k]];
      lines[k] = (*tmp_line)[(*perm)[k]];
    }
    for (uint32_t k = 1; k < cnt; ++k) {
      if (rows[k].stop_sequence == rows[k - 1].stop_sequence) {
        uint32_t l1 = std::min(lines[k - 1], lines[k]), l2 = std::max(lines[k - 1], lines[k]);
        return RowError(file, l2, "stop_sequence", absl::StrCat(rows[k].stop_sequence),
                        absl::StrCat("stop_sequence repeated within trip '", trip_ids_[t],
                                     "' (also on line ", l1, ")"));
      }
    }
    return absl::OkStatus();
  }

  // Fills the rows without times between the first and the last (which have theirs) linearly:
  // by shape_dist_traveled when the rows around have it, else by stop count. Such rows are not
  // timepoints. Returns how many rows it filled.
  static int64_t InterpolateTimes(GtfsStopTime* rows, uint32_t cnt) {
    int64_t filled = 0;
    for (uint32_t k = 1; k + 1 < cnt; ++k) {
      if (rows[k].arrival_s != kNoTime) continue;
      uint32_t e = k;
      while (rows[e].arrival_s == kNoTime) ++e;  // rows[cnt-1] has a time
      const GtfsStopTime& a = rows[k - 1];
      const GtfsStopTime& b = rows[e];
      bool by_dist =
          !std::isnan(a.shape_dist) && !std::isnan(b.shape_dist) && b.shape_dist > a.shape_dist;
      for (uint32_t j = k; j < e && by_dist; ++j) by_dist = !std::isnan(rows[j].shape_dist);
      for (uint32_t j = k; j < e; ++j) {
        double frac = by_dist ? (rows[j].shape_dist - a.shape_dist) / (b.shape_dist - a.shape_dist)
                              : double(j - (k - 1)) / double(e - (k - 1));
        frac = std::clamp(frac, 0.0, 1.0);
        int32_t tm = a.departure_s +
                     static_cast<int32_t>(std::lround(frac * (b.arrival_s - a.departure_s)));
        rows[j].arrival_s = rows[j].departure_s = tm;
        rows[j].timepoint = 0;
        ++filled;
      }
      k = e;
    }
    return filled;
  }

  // Trips into the model: drops trips with fewer than 2 stop_times, merges identical trips that
  // an earlier feed already had, renames clashing ones; then compacts this feed's rows.
  void PlaceTrips(const StopTimeRows& rows) {
    const std::vector<GtfsStopTime>& st = f_.stop_times;
    local_to_global_.assign(trips_.size(), kNoIndex);
    merged_trip_.assign(trips_.size(), 0);
    std::vector<char> keep(trips_.size(), 0);
    bool drop_any = false;
    f_.trips.reserve(f_.trips.size() + trips_.size());
    for (size_t t = 0; t < trips_.size(); ++t) {
      const uint32_t cnt = rows.count[t];
      if (cnt < 2) {
        Warn(cnt == 0 ? "trip_without_stop_times" : "trip_with_one_stop_time");
        drop_any |= cnt > 0;
        continue;
      }
      GtfsTrip& trip = trips_[t];
      trip.id = std::string(trip_ids_[t]);
      trip.first_stop_time = static_cast<uint32_t>(rows.base + rows.first[t]);
      trip.num_stop_times = cnt;
      auto it = f_.trip_index.find(trip.id);
      if (it != f_.trip_index.end()) {
        const GtfsTrip& o = f_.trips[it->second];
        bool same = o.route == trip.route && o.service == trip.service && o.shape == trip.shape &&
                    o.direction_id == trip.direction_id && o.headsign == trip.headsign &&
                    o.block_id == trip.block_id && o.num_stop_times == cnt;
        for (uint32_t k = 0; same && k < cnt; ++k) {
          same = SameStopTime(st[o.first_stop_time + k], st[trip.first_stop_time + k]);
        }
        if (same) {
          Warn("trip_id_merged");
          local_to_global_[t] = it->second;
          merged_trip_[t] = 1;
          drop_any = true;
          continue;
        }
        std::string id = absl::StrCat(name_, ":", trip.id);
        while (f_.trip_index.contains(id)) id = absl::StrCat(name_, ":", id);
        trip.id = std::move(id);
        Warn("trip_id_renamed");
      }
      keep[t] = 1;
      uint32_t idx = static_cast<uint32_t>(f_.trips.size());
      local_to_global_[t] = idx;
      f_.trip_index.emplace(trip.id, idx);
      f_.trips.push_back(std::move(trip));
    }
    if (drop_any) CompactStopTimes(rows, keep);
  }

  // Moves the kept trips' runs of rows down over the dropped ones, in position order.
  void CompactStopTimes(const StopTimeRows& rows, const std::vector<char>& keep) {
    std::vector<GtfsStopTime>& st = f_.stop_times;
    std::vector<uint32_t> order;
    for (size_t t = 0; t < trips_.size(); ++t) {
      if (keep[t]) order.push_back(static_cast<uint32_t>(t));
    }
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return rows.first[a] < rows.first[b]; });
    size_t w = rows.base;
    for (uint32_t t : order) {
      GtfsTrip& trip = f_.trips[local_to_global_[t]];
      const size_t from = rows.base + rows.first[t];
      if (from != w) {
        std::memmove(static_cast<void*>(st.data() + w), st.data() + from,
                     trip.num_stop_times * sizeof(GtfsStopTime));
      }
      trip.first_stop_time = static_cast<uint32_t>(w);
      w += trip.num_stop_times;
    }
    st.resize(w);
  }

  // ---- frequencies.txt -----------------------------------------------------------------------
  absl::Status LoadFrequencies() {
    const char* file = "frequencies.txt";
    if (!src_.Has(file)) return absl::OkStatus();
    auto r = Open(file);
    if (!r.ok()) return r.status();
    if (auto s = RequireColumns(*r, file, {"trip_id", "start_time", "end_time", "headway_secs"});
        !s.ok()) {
      return s;
    }
    int c_trip = r->Column("trip_id"), c_start = r->Column("start_time"),
        c_end = r->Column("end_time"), c_head = r->Column("headway_secs"),
        c_exact = r->Column("exact_times");
    while (r->Next()) {
      CheckWidth(*r);
      auto it = trip_map_.find(r->Field(c_trip));
      if (it == trip_map_.end()) {
        return RowError(file, r->line(), "trip_id", r->Field(c_trip),
                        "unknown trip_id (not in trips.txt)");
      }
      GtfsFrequency fq;
      fq.trip = TripIdx(local_to_global_[it->second]);
      if (!ParseGtfsTime(r->Field(c_start), &fq.start_s)) {
        return RowError(file, r->line(), "start_time", r->Field(c_start), "not a time (HH:MM:SS)");
      }
      if (!ParseGtfsTime(r->Field(c_end), &fq.end_s)) {
        return RowError(file, r->line(), "end_time", r->Field(c_end), "not a time (HH:MM:SS)");
      }
      int64_t h;
      if (!ParseInt64(r->Field(c_head), &h) || h <= 0 || h > 86400) {
        return RowError(file, r->line(), "headway_secs", r->Field(c_head),
                        "not a positive number of seconds");
      }
      fq.headway_s = static_cast<int32_t>(h);
      fq.exact_times = r->Trimmed(c_exact) == "1";
      if (fq.trip == kNoIndex) {
        Warn("frequency_of_dropped_trip");
        continue;
      }
      if (merged_trip_[it->second]) continue;  // the earlier feed's rows already hold it
      if (fq.end_s <= fq.start_s) Warn("frequency_end_not_after_start");
      f_.frequencies.push_back(fq);
    }
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    return absl::OkStatus();
  }

  // ---- feed_info.txt -------------------------------------------------------------------------
  absl::Status LoadFeedInfo(GtfsFeedInfo* info) {
    const char* file = "feed_info.txt";
    if (!src_.Has(file)) return absl::OkStatus();
    auto r = Open(file);
    if (!r.ok()) return r.status();
    int c_pub = r->Column("feed_publisher_name"), c_ver = r->Column("feed_version"),
        c_start = r->Column("feed_start_date"), c_end = r->Column("feed_end_date");
    bool has_row = r->Next();
    if (auto s = CheckQuotes(*r, file); !s.ok()) return s;
    if (has_row) {
      info->publisher_name = std::string(r->Field(c_pub));
      info->version = std::string(r->Field(c_ver));
      if (!r->Trimmed(c_start).empty() && !ParseGtfsDate(r->Field(c_start), &info->start_date)) {
        Warn("feed_info_bad_date");
      }
      if (!r->Trimmed(c_end).empty() && !ParseGtfsDate(r->Field(c_end), &info->end_date)) {
        Warn("feed_info_bad_date");
      }
    }
    return absl::OkStatus();
  }

  GtfsFeed& f_;
  const FeedSource& src_;
  const std::string name_;
  const GtfsLoadOptions& options_;
  std::vector<FileBuffer> buffers_;  // the feed's small files; local maps point into them
  LocalMap agency_map_, route_map_, stop_map_, service_map_, shape_map_, trip_map_;
  uint32_t first_agency_ = kNoIndex;
  std::vector<GtfsTrip> trips_;  // this feed's trips (local index), before placement
  std::vector<absl::string_view> trip_ids_;
  std::vector<uint32_t> local_to_global_;
  std::vector<char> merged_trip_;  // 1: the trip merged into an identical one of an earlier feed
};

}  // namespace

bool ParseGtfsTime(absl::string_view text, int32_t* seconds) {
  // Fast path: exactly "HH:MM:SS".
  if (text.size() == 8 && text[2] == ':' && text[5] == ':') {
    const unsigned char* c = reinterpret_cast<const unsigned char*>(text.data());
    unsigned h1 = c[0] - '0', h2 = c[1] - '0', m1 = c[3] - '0', m2 = c[4] - '0', s1 = c[6] - '0',
             s2 = c[7] - '0';
    if ((h1 | h2 | m1 | m2 | s1 | s2) <= 9 && m1 < 6 && s1 < 6) {
      *seconds = static_cast<int32_t>((h1 * 10 + h2) * 3600 + (m1 * 10 + m2) * 60 + s1 * 10 + s2);
      return true;
    }
  }
  absl::string_view s = TrimSpaces(text);
  size_t i = 0;
  int32_t h = 0;
  size_t hd = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && hd < 4) {
    h = h * 10 + (s[i] - '0');
    ++i;
    ++hd;
  }
  if (hd == 0 || s.size() != i + 6 || s[i] != ':' || s[i + 3] != ':') return false;
  auto two = [&](size_t k, int32_t* v) {
    unsigned a = static_cast<unsigned char>(s[k]) - '0',
             b = static_cast<unsigned char>(s[k + 1]) - '0';
    if (a > 9 || b > 9) return false;
    *v = static_cast<int32_t>(a * 10 + b);
    return *v < 60;
  };
  int32_t m, sec;
  if (!two(i + 1, &m) || !two(i + 4, &sec)) return false;
  *seconds = h * 3600 + m * 60 + sec;
  return true;
}

bool ParseGtfsDate(absl::string_view text, int32_t* yyyymmdd) {
  absl::string_view s = TrimSpaces(text);
  if (s.size() != 8) return false;
  int32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  int y = v / 10000, m = v / 100 % 100, d = v % 100;
  if (y < 1900 || m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return false;
  *yyyymmdd = v;
  return true;
}

bool GtfsFeed::ServiceRunsOn(uint32_t service, int32_t yyyymmdd) const {
  if (service >= services.size()) return false;
  const GtfsService& s = services[service];
  if (std::binary_search(s.removed_dates.begin(), s.removed_dates.end(), yyyymmdd)) return false;
  if (std::binary_search(s.added_dates.begin(), s.added_dates.end(), yyyymmdd)) return true;
  if (s.start_date == 0 || yyyymmdd < s.start_date || yyyymmdd > s.end_date) return false;
  return (s.weekdays >> WeekdayOf(DayNumber(yyyymmdd))) & 1;
}

namespace {

// First (or last, when `last`) date on which the service runs; 0 when never.
int32_t ServiceEdge(const GtfsFeed& f, uint32_t service, bool last) {
  const GtfsService& s = f.services[service];
  int32_t best = 0;
  for (int32_t d : s.added_dates) {
    if (std::binary_search(s.removed_dates.begin(), s.removed_dates.end(), d)) continue;
    if (best == 0 || (last ? d > best : d < best)) best = d;
  }
  if (s.start_date != 0 && s.weekdays != 0 && s.end_date >= s.start_date) {
    const int64_t a = DayNumber(s.start_date), b = DayNumber(s.end_date);
    for (int64_t i = 0; i <= b - a; ++i) {
      int64_t day = last ? b - i : a + i;
      int32_t d = CivilFromDays(day);
      if (best != 0 && (last ? d <= best : d >= best)) break;
      if (((s.weekdays >> WeekdayOf(day)) & 1) &&
          !std::binary_search(s.removed_dates.begin(), s.removed_dates.end(), d)) {
        best = d;
        break;
      }
    }
  }
  return best;
}

int32_t FeedEdge(const GtfsFeed& f, bool last) {
  std::vector<char> used(f.services.size(), 0);
  for (const GtfsTrip& t : f.trips) {
    if (t.service < used.size()) used[t.service] = 1;
  }
  int32_t best = 0;
  for (uint32_t s = 0; s < f.services.size(); ++s) {
    if (!used[s]) continue;
    int32_t d = ServiceEdge(f, s, last);
    if (d != 0 && (best == 0 || (last ? d > best : d < best))) best = d;
  }
  return best;
}

}  // namespace

int32_t GtfsFeed::FirstServiceDate() const { return FeedEdge(*this, false); }
int32_t GtfsFeed::LastServiceDate() const { return FeedEdge(*this, true); }

absl::StatusOr<GtfsFeed> LoadGtfs(const std::vector<const FeedSource*>& sources,
                                  const GtfsLoadOptions& options) {
  if (sources.empty()) return absl::InvalidArgumentError("LoadGtfs: no GTFS feed given");
  size_t st_bytes = 0;
  for (const FeedSource* src : sources) st_bytes += src->Size("stop_times.txt");
  GtfsFeed feed;
  // Room for every stop_time at once (an upper bound: a row takes at least 20 bytes of text);
  // pages never written are never touched, so this costs address space, not memory.
  if (sources.size() > 1) feed.stop_times.reserve(st_bytes / 20 + 16);
  std::vector<std::string> names;
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string path = sources[i]->Path();
    std::string name = FileStem(path);
    std::string unique = name;
    for (int k = 2; std::find(names.begin(), names.end(), unique) != names.end(); ++k) {
      unique = absl::StrCat(name, k);
    }
    names.push_back(unique);
    if (options.progress) {
      GtfsLoadProgress p;
      p.stage = GtfsLoadProgress::Stage::kFeed;
      p.what = path;
      p.feed = i + 1;
      p.feeds = sources.size();
      options.progress(p);
    }
    FeedLoader loader(&feed, sources[i], unique, options);
    if (auto s = loader.Load(); !s.ok()) return s;
  }
  return feed;
}

}  // namespace smartbus
