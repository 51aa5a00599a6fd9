#pragma once
// The static GTFS model: what one or several GTFS feeds say, parsed and cross-referenced,
// before any geometry is derived (services/core/network builds on it).
//
// Indices: every entity is referred to by its position in the vectors of GtfsFeed, typed by kind
// (TripIdx, ...: services/core/common/index.h; a kind not converted yet is a plain uint32_t).
// Ids that clash between feeds loaded together are kept apart (see LoadGtfs).
// Thread safety: a GtfsFeed is immutable after LoadGtfs returns and safe to share.

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/common/index.h"
#include "services/core/geo/geo.h"

namespace smartbus {

// Typed indices into the tables of GtfsFeed (kNoIndex: none). TripIdx is used throughout;
// the other kinds type their tables only so far (feed.stops[trip] does not compile), while
// fields and functions still pass them as uint32_t.
struct TripTag {};
struct StopTag {};
struct RouteTag {};
struct ServiceTag {};
struct ShapeTag {};
using TripIdx = Index<TripTag>;        // into GtfsFeed::trips
using StopIdx = Index<StopTag>;        // into GtfsFeed::stops
using RouteIdx = Index<RouteTag>;      // into GtfsFeed::routes
using ServiceIdx = Index<ServiceTag>;  // into GtfsFeed::services
using ShapeIdx = Index<ShapeTag>;      // into GtfsFeed::shapes

struct GtfsAgency {
  std::string id;        // agency_id (may be empty in single-agency feeds)
  std::string name;
  std::string timezone;  // IANA name, e.g. "America/New_York"
};

struct GtfsRoute {
  std::string id;  // route_id as exposed by SmartBus (feed-qualified when it clashed)
  std::string short_name;
  std::string long_name;
  int type = 3;    // route_type
  uint32_t agency = 0;
  // route_color / route_text_color: six hex digits without '#' (upper case), "" when absent
  // or not a colour (counted as warning "route_color_invalid").
  std::string color;
  std::string text_color;
};

struct GtfsStop {
  std::string id;  // stop_id as exposed by SmartBus (feed-qualified when it clashed)
  std::string code;
  std::string name;
  LatLon pos;
  uint8_t location_type = 0;  // 0 stop, 1 station, 2 entrance, 3 node, 4 boarding area
  // parent_station as an index into GtfsFeed::stops, kNoIndex when absent (or naming no stop of
  // the feed: counted as warning "parent_station_unknown").
  uint32_t parent_station = kNoIndex;
  // GTFS wheelchair_boarding: 0 no information (also for an invalid value, counted as warning
  // "wheelchair_boarding_invalid"), 1 some vehicles can be boarded, 2 not possible.
  uint8_t wheelchair_boarding = 0;
};

// One stop_times row. Times are seconds since "noon minus 12 h" of the service date; they may
// exceed 24 h.
struct GtfsStopTime {
  uint32_t stop = kNoIndex;
  uint32_t stop_sequence = 0;
  int32_t arrival_s = 0;
  int32_t departure_s = 0;
  float shape_dist = NAN;  // shape_dist_traveled as given (feed units), NaN when absent
  uint8_t pickup_type = 0;
  uint8_t drop_off_type = 0;
  // GTFS timepoint: 1 the times are exact (the column's default), 0 approximate; 0 too for a
  // row whose times the loader interpolated.
  uint8_t timepoint = 1;
};

struct GtfsTrip {
  std::string id;
  uint32_t route = kNoIndex;
  uint32_t service = kNoIndex;
  uint32_t shape = kNoIndex;  // kNoIndex when the trip has no shape
  int8_t direction_id = -1;   // 0/1, -1 when absent
  std::string headsign;
  std::string block_id;       // empty when absent
  // This trip's rows in GtfsFeed::stop_times: [first_stop_time, first_stop_time + num_stop_times),
  // sorted by stop_sequence.
  uint32_t first_stop_time = 0;
  uint32_t num_stop_times = 0;
};

struct GtfsShape {
  std::string id;
  std::vector<LatLon> points;  // in shape_pt_sequence order
  std::vector<float> dist;     // shape_dist_traveled per point, empty when absent
};

// A service_id: calendar.txt row (if any) plus calendar_dates.txt exceptions.
struct GtfsService {
  std::string id;
  uint8_t weekdays = 0;       // bit 0 = Monday ... bit 6 = Sunday
  int32_t start_date = 0;     // YYYYMMDD, 0 when no calendar.txt row
  int32_t end_date = 0;       // YYYYMMDD inclusive
  std::vector<int32_t> added_dates;    // exception_type 1, sorted
  std::vector<int32_t> removed_dates;  // exception_type 2, sorted
};

struct GtfsFrequency {
  TripIdx trip = kNoIndex;
  int32_t start_s = 0;
  int32_t end_s = 0;
  int32_t headway_s = 0;
  bool exact_times = false;
};

// One loaded feed (one per path given to LoadGtfs, in order), with its feed_info.txt if any.
struct GtfsFeedInfo {
  std::string name;  // feed name: file or directory stem (the prefix of renamed clashing ids)
  std::string path;
  std::string publisher_name;  // feed_info.txt fields; empty when absent
  std::string version;
  int32_t start_date = 0;  // YYYYMMDD, 0 when absent
  int32_t end_date = 0;
};

struct GtfsFeed {
  std::vector<GtfsAgency> agencies;
  IndexVector<RouteIdx, GtfsRoute> routes;
  IndexVector<StopIdx, GtfsStop> stops;
  IndexVector<TripIdx, GtfsTrip> trips;
  std::vector<GtfsStopTime> stop_times;  // grouped by trip (see GtfsTrip)
  IndexVector<ShapeIdx, GtfsShape> shapes;
  IndexVector<ServiceIdx, GtfsService> services;
  std::vector<GtfsFrequency> frequencies;
  std::vector<GtfsFeedInfo> feed_infos;  // one per loaded feed

  absl::flat_hash_map<std::string, uint32_t> route_index;
  absl::flat_hash_map<std::string, uint32_t> stop_index;
  absl::flat_hash_map<std::string, TripIdx> trip_index;
  absl::flat_hash_map<std::string, uint32_t> shape_index;
  absl::flat_hash_map<std::string, uint32_t> service_index;

  std::string timezone;  // the first agency's timezone; all service days are resolved in it
  std::map<std::string, int64_t> warnings;  // recoverable oddities, counted by kind

  // True when the service runs on the date (YYYYMMDD), calendar_dates exceptions applied.
  bool ServiceRunsOn(uint32_t service, int32_t yyyymmdd) const;
  // First and last date (YYYYMMDD) on which at least one trip runs; 0 when none.
  int32_t FirstServiceDate() const;
  int32_t LastServiceDate() const;
};

class FeedSource;  // source.h

// What a load reports as it goes (GtfsLoadOptions::progress). The loader prints nothing itself.
struct GtfsLoadProgress {
  enum class Stage {
    kFeed,           // a feed starts: `what` is its path, feed = 1..feeds
    kStopTimes,      // part of stop_times.txt parsed: `what` names the file, `percent` of it
    kStopTimesDone,  // stop_times.txt done: `what` names the file, `rows` read in `seconds`
  };
  Stage stage = Stage::kFeed;
  std::string what;
  size_t feed = 0, feeds = 0;
  int percent = 0;
  size_t rows = 0;
  double seconds = 0;
};

struct GtfsLoadOptions {
  // Called on the loading thread: once per feed, then for its stop_times.txt every 16 MiB of
  // text (from 1 MiB on) and once at its end. Default: none.
  std::function<void(const GtfsLoadProgress&)> progress;
  // Runs `task` on another thread and returns a function that waits for it to end. With it, a
  // feed's stop_times.txt is read (a zip's inflated) while the text that has arrived is parsed;
  // without it (default) the file is read whole first. Core starts no thread itself:
  // services/files/feed_files.h gives one (RunOnNewThread), and its LoadGtfs on paths uses it.
  std::function<std::function<void()>(std::function<void()> task)> run_in_background;
};

// Loads one or several GTFS feeds (directories, .zips or files in memory) into one model. Required files:
// agency, routes, trips, stops, stop_times, and calendar and/or calendar_dates; shapes,
// frequencies and feed_info are used when present. Ids that clash between feeds are kept apart:
// an entity whose id was already loaded from an earlier feed with different content gets the id
// "<feed name>:<id>" (feed name = file or directory stem); identical rows are merged. A trip is
// identical when its trips.txt row and all its stop_times are. References inside a feed always
// resolve to that feed's own entities. On error the status names the file, and for a bad row its
// line, column and value; nothing is returned.
//
// Errors: a missing required file or column; an unknown stop_id or trip_id in stop_times, an
// unknown route_id or service_id in trips; a repeated stop_sequence within a trip (rows may come
// in any order: each trip's rows are sorted by stop_sequence); an unparsable time, date or
// number; lat/lon out of range; a duplicate id within one file; an unknown agency_timezone; a
// trip whose first or last stop has no time.
// Warnings (GtfsFeed::warnings, by kind), among others: "<entity>_id_merged" / "_renamed"
// (several feeds), "trip_without_stop_times" and "trip_with_one_stop_time" (such trips are
// dropped), "trip_unknown_shape_id" (the trip gets no shape), "stop_times_interpolated" (rows
// without times, filled linearly by shape_dist_traveled or by stop count),
// "trip_times_decreasing", "shape_point_repeated", "row_field_count_mismatch".
//
// Speed: files are read whole and parsed in place; a zip's stop_times.txt is inflated on a second
// thread while it is parsed (with run_in_background). On NYC feeds: about 0.3 s of CPU per million stop_times and about
// 110 bytes of peak memory per stop_time (bench/RESULTS.md, "GTFS load").
//
// The feeds come through FeedSource (source.h): directories and zips, or files in memory.
absl::StatusOr<GtfsFeed> LoadGtfs(const std::vector<const FeedSource*>& sources,
                                 const GtfsLoadOptions& options = {});
// (For LoadGtfs({&a, &b}): a braced list of two pointers would also match the paths overload.)
inline absl::StatusOr<GtfsFeed> LoadGtfs(std::initializer_list<const FeedSource*> sources,
                                        const GtfsLoadOptions& options = {}) {
  return LoadGtfs(std::vector<const FeedSource*>(sources), options);
}
// (On paths -- directories and .zip files -- and with a progress printer: services/files/feed_files.h.)

// Parses "HH:MM:SS" (hours may exceed 24) into seconds. Returns false when malformed.
bool ParseGtfsTime(absl::string_view text, int32_t* seconds);
// Parses YYYYMMDD. Returns false when malformed or not a calendar date.
bool ParseGtfsDate(absl::string_view text, int32_t* yyyymmdd);

}  // namespace smartbus
