#pragma once
// The immutable static network built from a GtfsFeed: patterns with their shape geometry, stops
// placed along each pattern, the service calendar in the agency's time zone, blocks, and a
// spatial index of stops.
//
// Readers never lock a Network. A reload builds a new one (Network::Build) and swaps the
// shared_ptr in. Thread safety: every const method is safe to call from any thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/core/geo/geo.h"
#include "services/core/gtfs/feed.h"

namespace smartbus {

// Trips with the same route, direction, stop sequence and shape.
//
// Stop placement (shapes without usable shape_dist_traveled): every pass of the shape within
// NetworkOptions::max_stop_offset_m of a stop is a candidate (Polyline::Candidates), and a
// dynamic programme picks the in-order assignment with the least total stop-to-shape offset,
// also allowing a stop at the previous stop's distance (stops drawn a few metres out of order).
// Ties (a street driven both ways on one centre line) are broken by the side of the street the
// feed's unambiguous stops stand on, then by how well the gaps match the scheduled times. When
// the feed gives shape_dist_traveled (shapes and stop_times) and it lies near the stops, it
// decides between passes too.
struct Pattern {
  uint32_t route = kNoIndex;
  int8_t direction_id = -1;
  uint32_t shape = kNoIndex;     // GTFS shape index, kNoIndex when built from the stops
  uint32_t polyline = 0;         // index into Network::polylines()
  std::vector<uint32_t> stops;   // stop indices in stop_sequence order
  // Distance of each stop along the polyline, metres; never decreases along the pattern, even
  // on loops and out-and-back streets.
  std::vector<double> stop_dist_m;
  std::vector<float> stop_offset_m;  // distance of each stop from the polyline, metres
  double max_stop_offset_m = 0;
  // False when the stops could not be placed in order along the shape near their positions:
  // keeping the order put some stop more than 30 m farther from the shape than its nearest pass
  // (placement then is the best monotone approximation). Counted as warning
  // "nonmonotone_pattern".
  bool monotone = true;
  // No GTFS shape, but a path learned from the buses' traces (NetworkOptions::learned_paths)
  // instead of straight lines between the stops; shape stays kNoIndex.
  bool learned_path = false;
  std::vector<TripIdx> trips;    // sorted by first departure time
};

// The persistent name of a pattern, independent of indices (stable across GTFS reloads that
// keep its stops): "<route_id>|<direction_id>|<16 hex digits: FNV-1a hash of the stop ids>".
std::string PatternKey(const GtfsFeed& feed, const Pattern& pattern);

struct NetworkOptions {
  // Stops farther than this from the shape count as badly placed (warning "stop_far_from_shape");
  // also the search radius for a stop's candidate passes. Default 150 m.
  double max_stop_offset_m = 150;
  // Paths learned from the buses' own traces (services/core/paths), by PatternKey: a pattern
  // without a shape whose key is here is drawn along that path (stops placed on it as on a
  // shape, no chord slack) instead of straight lines between its stops. Give only confident
  // paths (LearnedPath::confident). Empty by default.
  absl::flat_hash_map<std::string, std::vector<LatLon>> learned_paths;
};

// A trip running on a service date: trip index plus the instant its times count from.
//
// Frequency-based trips (frequencies.txt) run several times a day from one template: each run
// is an instance whose day_start is shifted by shift_s, so that day_start + a stop_time of the
// template is that run's time (ScheduledArrival/Departure do this).
struct TripInstance {
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;  // YYYYMMDD
  absl::Time day_start;      // noon minus 12 h of service_date, in the agency's time zone,
                             // plus shift_s
  int32_t shift_s = 0;       // frequency-based run: its start minus the template's; else 0
};

class Network {
 public:
  // Builds the derived model; takes ownership of the feed. Fails (naming the trip or shape) only
  // on data it cannot use at all (unknown time zone, an index out of range); oddities are
  // counted as warnings in feed().warnings ("nonmonotone_pattern", "stop_far_from_shape",
  // "shape_too_short" (a shape of fewer than 2 points: the trip uses its stops instead),
  // "trip_without_stop_times", "shape_dist_traveled_ignored"). A trip without stop_times gets
  // a pattern with no stops. Frequency-based trips run once per headway (see TripInstance).
  static absl::StatusOr<std::shared_ptr<const Network>> Build(GtfsFeed feed,
                                                             const NetworkOptions& options = {});

  const GtfsFeed& feed() const { return feed_; }
  const LocalProjection& projection() const { return projection_; }
  const std::vector<Pattern>& patterns() const { return patterns_; }
  const std::vector<Polyline>& polylines() const { return polylines_; }
  // The feed's learned chord bends (see ChordSlackModel): every path drawn without a shape takes
  // its slack from it. Learned state of a built network: the tracker adds to it (thread-safe).
  ChordSlackModel& chord_slack() const { return *chord_slack_; }
  // The feed's learned GPS noise of fixes without an accuracy (see GpsNoiseModel); learned state
  // like chord_slack().
  GpsNoiseModel& gps_noise() const { return *gps_noise_; }
  // The learned state above as model records, one a line, by stop ids (so that it survives a
  // GTFS reload): "chord <class> <traversals> <histogram>", "chordpair <stop> <next stop>
  // <largest share> <second> <traversals>", "gps <offsets added> <histogram of 0.25-m bins>".
  // The predictor's model carries them (LayeredPredictor::Serialize).
  void AppendLearned(std::string* out) const;
  static bool IsLearnedRecord(absl::string_view kind);
  // Replaces the learned state with `records` (lines of AppendLearned split at tabs; none: nothing
  // learned). Fails, changing nothing, on a malformed record (naming it). Returns how many
  // stop pairs this network does not draw as chords (kept and saved again, not used).
  absl::StatusOr<int64_t> LoadLearned(
      const std::vector<std::vector<absl::string_view>>& records) const;
  const Pattern& pattern(uint32_t p) const { return patterns_[p]; }
  uint32_t trip_pattern(TripIdx trip) const { return trip_pattern_[trip]; }
  const Polyline& trip_polyline(TripIdx trip) const {
    return polylines_[patterns_[trip_pattern_[trip]].polyline];
  }
  // Patterns of a route.
  const std::vector<uint32_t>& route_patterns(uint32_t route) const {
    return route_patterns_[route];
  }
  // (pattern, position of the stop in the pattern) for every pattern serving the stop.
  const std::vector<std::pair<uint32_t, uint32_t>>& stop_patterns(uint32_t stop) const {
    return stop_patterns_[stop];
  }

  std::optional<TripIdx> FindTrip(absl::string_view id) const;
  std::optional<uint32_t> FindStop(absl::string_view id) const;
  std::optional<uint32_t> FindRoute(absl::string_view id) const;

  // --- Service calendar (agency time zone) ---
  const absl::TimeZone& time_zone() const { return tz_; }
  // "Noon minus 12 h" of the service date: the instant a GTFS time of 00:00:00 stands for.
  // On DST days this is not local midnight.
  absl::Time ServiceDayStart(int32_t yyyymmdd) const;
  // Service ids (indices) active on the date; sorted by id.
  std::vector<uint32_t> ActiveServices(int32_t yyyymmdd) const;
  // Trips running on the date.
  std::vector<TripIdx> ActiveTrips(int32_t yyyymmdd) const;
  // Trip instances whose scheduled span [first departure - before, last arrival + after]
  // contains t, over the service dates that can reach t (yesterday's trips past 24:00 too).
  std::vector<TripInstance> TripsAround(absl::Time t, absl::Duration before,
                                        absl::Duration after) const;
  // As TripsAround, restricted to the trips of one route (indexed per route: cost grows with
  // that route's trips only).
  std::vector<TripInstance> TripsAroundOnRoute(uint32_t route, absl::Time t,
                                               absl::Duration before,
                                               absl::Duration after) const;
  // The instance of `trip` (on a date its service runs) whose first departure is nearest to t,
  // if one departs within `max_gap` of t. Cheap: looks at a few dates of one trip only.
  std::optional<TripInstance> NearestTripInstance(TripIdx trip, absl::Time t,
                                                  absl::Duration max_gap = absl::Hours(12)) const;
  // Frequency-based trip: the shifts (run start minus the template's first departure, s) of its
  // runs, ascending; nullptr for a trip with fixed times (one run, shift 0).
  const std::vector<int32_t>* FrequencyShifts(TripIdx trip) const {
    auto it = frequency_shifts_.find(trip);
    return it == frequency_shifts_.end() ? nullptr : &it->second;
  }
  // Scheduled arrival/departure of a trip's k-th stop_time as an instant.
  absl::Time ScheduledArrival(const TripInstance& ti, uint32_t k) const;
  absl::Time ScheduledDeparture(const TripInstance& ti, uint32_t k) const;

  // --- Blocks ---
  // The trip that follows `trip` in its block on the same service (by first departure), if any.
  std::optional<TripIdx> NextTripInBlock(TripIdx trip) const;

  // --- Stops near a point ---
  // Up to `max_results` stops within `radius_m` of p, nearest first, with their distances (m).
  std::vector<std::pair<uint32_t, double>> StopsNear(LatLon p, double radius_m,
                                                     size_t max_results) const;
  // --- Paths near a point ---
  // The polylines that may pass within `radius_m` of p (plane coordinates), ascending, each
  // once: every polyline for which Polyline::Candidates(p, radius_m) finds a point is in it
  // (a superset: the grid is of segment bounding boxes). Cost grows with the paths near p, not
  // with the network: trip inference uses it to skip the trips running far away.
  void PolylinesNear(Vec2 p, double radius_m, std::vector<uint32_t>* out) const;

  // Number of patterns whose stops could not be placed in order along their shape.
  int nonmonotone_patterns() const;
  // Largest stop-to-shape offset over all patterns, metres.
  double max_stop_offset_m() const;
  // Patterns drawn along a learned path (NetworkOptions::learned_paths).
  int learned_path_patterns() const { return learned_path_patterns_; }

 private:
  Network() = default;
  // The steps of Build, in order (each fills the members it names).
  struct StopCandidates;
  void ProjectStops();   // projection_, stop_xy_
  void GroupPatterns();  // patterns_, trip_pattern_
  void DrawPaths(const NetworkOptions& options, StopCandidates* out);  // polylines_
  void PlacePatternStops(const NetworkOptions& options, const StopCandidates& c);
  void IndexPatterns();        // route_patterns_, stop_patterns_
  void IndexFrequencies();     // frequency_shifts_
  void IndexServiceSpans();    // service_spans_, service_trips_, route_spans_, ...
  void PrecomputeActiveDays();  // first_day_, active_by_day_
  void ChainBlocks();          // next_in_block_
  void BuildStopGrid();        // stop_grid_
  void BuildPathGrid();        // path_grid_
  GtfsFeed feed_;
  LocalProjection projection_;
  absl::TimeZone tz_;
  std::vector<Pattern> patterns_;
  std::vector<Polyline> polylines_;
  std::shared_ptr<ChordSlackModel> chord_slack_;
  std::unique_ptr<GpsNoiseModel> gps_noise_ = std::make_unique<GpsNoiseModel>();
  IndexVector<TripIdx, uint32_t> trip_pattern_;
  std::vector<std::vector<uint32_t>> route_patterns_;
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> stop_patterns_;
  IndexVector<TripIdx, TripIdx> next_in_block_;  // kNoIndex when none
  // Stop grid for StopsNear: cell key -> stop indices.
  double stop_cell_m_ = 250;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> stop_grid_;
  std::vector<Vec2> stop_xy_;
  // Path grid for PolylinesNear: cell key -> polyline indices (ascending, each once). Cells of
  // 500 m: a query of a few hundred metres reads 1-4 cells, and a path's cells stay few.
  double path_cell_m_ = 500;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> path_grid_;

  // Calendar index. A trip's scheduled span in seconds since its service day start.
  struct TripSpan {
    int32_t start_s = 0;  // first departure
    int32_t end_s = 0;    // last arrival
    TripIdx trip = kNoIndex;
    int32_t shift_s = 0;  // frequency-based run: start minus the template's first departure
  };
  // Frequency-based trips: trip -> shifts of its runs, ascending.
  absl::flat_hash_map<TripIdx, std::vector<int32_t>> frequency_shifts_;
  std::vector<std::vector<TripSpan>> service_spans_;  // per service, sorted by start_s
  std::vector<int32_t> service_max_duration_s_;       // per service, longest trip span
  std::vector<std::vector<TripIdx>> service_trips_;   // per service, ascending trip index
  // Per route: (service, that service's trips of the route sorted by start_s, longest span).
  struct RouteServiceSpans {
    uint32_t service = kNoIndex;
    int32_t max_duration_s = 0;
    std::vector<TripSpan> spans;
  };
  std::vector<std::vector<RouteServiceSpans>> route_spans_;
  // Dates (as CivilDay, in the agency zone) whose service day may hold trips running at t.
  void DatesAround(absl::Time t, int64_t before_s, int64_t after_s, absl::CivilDay* first,
                   absl::CivilDay* last) const;
  int32_t min_start_s_ = 0;                           // over all trips
  int32_t max_end_s_ = 0;
  // Active services (sorted by service id) for every date in [first_day_, first_day_ + size).
  absl::CivilDay first_day_;
  std::vector<std::vector<uint32_t>> active_by_day_;
  std::vector<uint32_t> ComputeActiveServices(int32_t yyyymmdd) const;
  const std::vector<uint32_t>* PrecomputedActive(int32_t yyyymmdd) const;

  int nonmonotone_patterns_ = 0;
  int learned_path_patterns_ = 0;
  double max_stop_offset_all_m_ = 0;
};

}  // namespace smartbus
