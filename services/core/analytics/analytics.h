#pragma once
// Operator analytics computed from stop visits: on-time performance, headways, excess wait and
// bunching, driving (run) time actual vs scheduled, segment speeds and congestion, route load and
// crowding; and fleet condition from vehicle states.
//
// One incremental aggregator (VisitAggregator) is fed every StopVisit, in any order; queries read
// it over a time window. `smartbus report` feeds it a Stop visits CSV, smartbusd feeds it the
// engine's visits as they happen: the SAME code, so live figures equal the offline report over
// the same visits. The figures follow ../shared/FORMATS.md (`smartbus report`) exactly:
//  - on-time: every visit except each trip's first stop (stop_index 0); deviation = departure
//    minus scheduled departure (at the trip's last stop: arrival minus scheduled departure);
//    on time when within [on_time_early_s, on_time_late_s] (default -60..+300 s), early below,
//    late above.
//  - headway_cv: population standard deviation / mean of the gaps between consecutive observed
//    arrivals at each stop of the route, the gaps of all its stops pooled.
//  - excess_wait_s: per stop, Σh²/(2Σh) over the observed headways minus the same over the
//    scheduled headways of the same visits (their scheduled arrivals, sorted); averaged over the
//    stops weighted by their number of gaps.
//  - segments: consecutive stops (stop_index k -> k+1) of a trip; distance along the shape between
//    them over (arrival at k+1 - departure from k); mean_speed_kmh = Σdistance / Σtime of the
//    traversals (space-mean speed). Traversals with time <= 0 are dropped.
//  - passengers: sums of boardings/alightings, max of load, mean of occupancy, over the visits
//    that carry them; "no data" (has_*() false) where none does — never invented.
// A window [from_s, to_s) filters visits by observed arrival; a segment traversal counts when
// both of its visits are in the window; a gap when both of its visits are.
//
// Thread safety: VisitAggregator is not thread-safe (one writer, or wrap it in a mutex).
// AnalyticsNetwork implementations must be immutable.

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "services/core/tracking/types.h"

namespace smartbus {

// What the analytics need to know about the static network. NetworkAnalyticsView
// (network_view.h) implements it over a Network; tests use tiny fakes.
class AnalyticsNetwork {
 public:
  virtual ~AnalyticsNetwork() = default;
  virtual std::string RouteId(uint32_t route) const = 0;
  virtual std::string StopId(uint32_t stop) const = 0;
  virtual std::string TripId(TripIdx trip) const = 0;
  // Number of stops of the trip (to recognise its last stop); 0 when unknown.
  virtual uint32_t TripNumStops(TripIdx trip) const = 0;
  // Distance along the trip's shape of its k-th stop (0-based), metres; NaN when unknown.
  virtual double StopDistM(TripIdx trip, uint32_t k) const = 0;
};

struct AnalyticsOptions {
  // On-time window, seconds of deviation from schedule (+ late). Default -60..+300 (FORMATS.md).
  double on_time_early_s = -60;
  double on_time_late_s = 300;
  // Two consecutive buses at a stop are bunched when their observed headway is below this
  // fraction of their scheduled headway. Default 0.25.
  double bunching_ratio = 0.25;
  // "Now" for the live bunching list and congestion: events in the last this many seconds.
  // Default 1800 (30 min).
  double live_window_s = 1800;
  // Width of the time-of-day bins in which usual segment speeds are learned, seconds; must
  // divide 86400. Default 3600.
  int32_t usual_bin_s = 3600;
  // A usual speed needs at least this many traversals in its bin. Default 3.
  int32_t min_usual_traversals = 3;
  // Time zone of the time of day (the agency's). Default UTC.
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Visits whose arrival is older than the newest arrival minus this are dropped (learned usual
  // speeds are kept). Default 48 h.
  double retention_s = 48 * 3600;
};

// Visits with observed arrival in [from_s, to_s).
struct TimeWindow {
  double from_s = -std::numeric_limits<double>::infinity();
  double to_s = std::numeric_limits<double>::infinity();
  bool Contains(double t) const { return t >= from_s && t < to_s; }
};

struct OnTimeStats {
  int64_t counted = 0;  // visits that count (not a trip's first stop)
  int64_t on_time = 0;
  int64_t early = 0;
  int64_t late = 0;
  // Percentages of `counted`, NaN when counted == 0.
  double on_time_pct() const { return Pct(on_time); }
  double early_pct() const { return Pct(early); }
  double late_pct() const { return Pct(late); }

 private:
  double Pct(int64_t n) const { return counted ? 100.0 * n / counted : NAN; }
};

// A visit counts as crowded at this GTFS-RT OccupancyStatus or fuller (3 = STANDING_ROOM_ONLY).
inline constexpr int32_t kCrowdedOccupancy = 3;

// Passenger data over a set of visits; every figure only over the visits that carry it.
struct PassengerStats {
  int64_t count_visits = 0;  // visits with boardings or alightings
  int64_t boardings = 0;
  int64_t alightings = 0;
  int64_t load_visits = 0;   // visits with load
  int32_t max_load = -1;
  double load_sum = 0;
  int64_t occupancy_visits = 0;  // visits with occupancy (GTFS-RT OccupancyStatus 0..8)
  double occupancy_sum = 0;
  int64_t crowded_visits = 0;    // occupancy >= 3 (STANDING_ROOM_ONLY or fuller)

  bool has_counts() const { return count_visits > 0; }
  bool has_load() const { return load_visits > 0; }
  bool has_occupancy() const { return occupancy_visits > 0; }
  double mean_load() const { return load_visits ? load_sum / load_visits : NAN; }
  double mean_occupancy() const { return occupancy_visits ? occupancy_sum / occupancy_visits : NAN; }
  double crowded_pct() const { return occupancy_visits ? 100.0 * crowded_visits / occupancy_visits : NAN; }
  void Add(int32_t boardings, int32_t alightings, int32_t load, int32_t occupancy);
  void Merge(const PassengerStats& o);
};

// Pooled headway figures (gaps between consecutive observed arrivals at a stop).
struct HeadwayStats {
  int64_t gaps = 0;
  double sum_s = 0;
  double sum_sq = 0;
  double mean_s() const { return gaps ? sum_s / gaps : NAN; }
  // Population standard deviation / mean; NaN without gaps or when the mean is 0.
  double cv() const;
};

struct StopStats {
  uint32_t stop = kNoIndex;
  int64_t visits = 0;
  OnTimeStats on_time;
  HeadwayStats headways;
  double mean_scheduled_headway_s = NAN;
  double excess_wait_s = NAN;  // NaN without gaps
  int64_t bunched_gaps = 0;    // gaps below bunching_ratio x their scheduled gap
  PassengerStats passengers;
};

struct SegmentStats {
  uint32_t from_stop = kNoIndex;
  uint32_t to_stop = kNoIndex;
  int64_t traversals = 0;
  double distance_m = NAN;        // mean distance along the shape
  double mean_speed_kmh = NAN;    // Σdistance / Σtime
  double mean_time_s = NAN;       // actual driving time from departure to next arrival
  double mean_scheduled_time_s = NAN;
  PassengerStats passengers;      // of the departing visits (load and occupancy on the segment)
};

// One trip instance: actual vs scheduled run time between its first and last observed stops.
struct TripStats {
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;
  std::string vehicle_id;
  int64_t visits = 0;
  uint32_t first_stop_index = 0;
  uint32_t last_stop_index = 0;
  double actual_run_s = NAN;     // arrival at last observed stop - departure from first
  double scheduled_run_s = NAN;  // the same on the schedule
  double end_delay_s = NAN;      // arrival minus scheduled arrival at the last observed stop
  PassengerStats passengers;
};

struct RouteStats {
  uint32_t route = kNoIndex;
  int64_t visits = 0;
  OnTimeStats on_time;
  HeadwayStats headways;  // pooled over the route's stops
  double excess_wait_s = NAN;
  int64_t bunched_gaps = 0;
  PassengerStats passengers;
  int64_t trips = 0;             // trip instances with a visit in the window
  double actual_run_s = 0;       // Σ over trips with >= 2 visits
  double scheduled_run_s = 0;
  std::vector<SegmentStats> segments;  // sorted by from/to stop id
  std::vector<StopStats> stops;        // filled when RouteQuery::stops; sorted by stop id
  std::vector<TripStats> trip_list;    // filled when RouteQuery::trips; by first arrival
};

struct RouteQuery {
  TimeWindow window;
  uint32_t route = kNoIndex;  // kNoIndex: every route
  bool stops = false;         // fill RouteStats::stops
  bool trips = false;         // fill RouteStats::trip_list
};

// Two consecutive buses of a route at a stop, the follower less than bunching_ratio x the
// scheduled headway behind the leader.
struct BunchedPair {
  uint32_t route = kNoIndex;
  uint32_t stop = kNoIndex;
  std::string leader_vehicle;
  std::string follower_vehicle;
  TripIdx leader_trip = kNoIndex;
  TripIdx follower_trip = kNoIndex;
  double leader_arrival_s = 0;
  double follower_arrival_s = 0;
  double headway_s = 0;
  double scheduled_headway_s = 0;
};

// Speed on a segment (any route) now versus its usual speed at this time of day.
struct SegmentCongestion {
  uint32_t from_stop = kNoIndex;
  uint32_t to_stop = kNoIndex;
  uint32_t route = kNoIndex;       // a route that runs it (the first seen)
  double distance_m = NAN;
  int64_t now_traversals = 0;      // in the live window ending at `now`
  double now_speed_kmh = NAN;
  int64_t usual_traversals = 0;    // same time-of-day bin, outside the live window
  double usual_speed_kmh = NAN;    // NaN when fewer than min_usual_traversals
  double ratio = NAN;              // now / usual; below 1 is slower than usual
};

// A time of day at which a segment is usually slow, relative to its fastest usual bin.
struct UsualJam {
  uint32_t from_stop = kNoIndex;
  uint32_t to_stop = kNoIndex;
  uint32_t route = kNoIndex;
  int32_t bin_start_s = 0;   // seconds after local midnight
  int64_t traversals = 0;
  double speed_kmh = NAN;
  double reference_speed_kmh = NAN;  // the segment's fastest bin
  double ratio = NAN;                // speed / reference
};

// Per vehicle: trips driven and their driving time (first departure to last arrival) in a window.
struct VehicleDriving {
  std::string vehicle_id;
  int64_t trips = 0;
  double driving_s = 0;
  double scheduled_s = 0;
  double last_visit_s = NAN;
};

class VisitAggregator {
 public:
  explicit VisitAggregator(std::shared_ptr<const AnalyticsNetwork> network,
                           AnalyticsOptions options = {});
  ~VisitAggregator();
  VisitAggregator(const VisitAggregator&) = delete;
  VisitAggregator& operator=(const VisitAggregator&) = delete;

  // Adds one visit, in any order. Returns false when it is ignored: a second visit of the same
  // trip instance (trip, service_date) at the same stop_index, a missing route/stop/trip, or a
  // non-finite arrival. Observed times are rounded to whole seconds (the Stop visits CSV
  // precision). Drops visits past the retention now and then.
  bool Add(const StopVisit& v);
  // Drops visits (and traversals, trips) that arrived before `before_s`. Learned usual speeds stay.
  void Prune(double before_s);

  int64_t visits() const { return visits_; }
  double newest_arrival_s() const { return newest_arrival_s_; }
  const AnalyticsOptions& options() const { return options_; }
  const AnalyticsNetwork& network() const { return *network_; }

  // Per-route figures over the window, sorted by route id.
  std::vector<RouteStats> Routes(const RouteQuery& q) const;
  // The live list of bunched pairs: per route and stop the latest two arrivals, when the latest
  // is within the live window ending at now_s; newest first, one entry per vehicle pair.
  std::vector<BunchedPair> BunchedPairs(double now_s) const;
  // Segments run in the live window ending at now_s, slowest relative to usual first (segments
  // without a usual speed last, by speed); at most `limit`.
  std::vector<SegmentCongestion> Congestion(double now_s, size_t limit) const;
  // Where jams happen usually: (segment, time-of-day bin) pairs, lowest ratio first; at most
  // `limit`.
  std::vector<UsualJam> UsualJams(size_t limit) const;
  // Driving time per vehicle over the window, sorted by vehicle id.
  std::vector<VehicleDriving> Driving(const TimeWindow& w) const;

 private:
  struct Impl;
  std::shared_ptr<const AnalyticsNetwork> network_;
  AnalyticsOptions options_;
  std::unique_ptr<Impl> impl_;
  int64_t visits_ = 0;
  int64_t adds_since_prune_ = 0;
  double newest_arrival_s_ = -std::numeric_limits<double>::infinity();
};

// ---- Fleet condition (from the vehicle states the tracker publishes) ----

struct FleetOptions {
  // A vehicle whose last report is older than this is stale. Default 120 s.
  double stale_after_s = 120;
  // ... and silent when older than this. Default 600 s.
  double silent_after_s = 600;
};

enum class VehicleCondition : uint8_t { kOk, kStale, kSilent };
const char* VehicleConditionName(VehicleCondition c);  // "ok", "stale", "silent"

struct FleetVehicle {
  std::string vehicle_id;
  double last_report_age_s = 0;
  VehicleCondition condition = VehicleCondition::kOk;
  bool off_route = false;
  MatchState state = MatchState::kUnassigned;
  uint32_t route = kNoIndex;
  TripIdx trip = kNoIndex;
  double delay_s = NAN;
  LatLon pos;
  double speed_mps = NAN;
  double driving_s = NAN;  // from VisitAggregator::Driving when given
};

struct FleetCondition {
  std::vector<FleetVehicle> vehicles;  // stalest first
  int64_t ok = 0;
  int64_t stale = 0;
  int64_t silent = 0;
  int64_t off_route = 0;
};

// Condition of every vehicle at now_s. `driving` (optional, may be empty) adds driving time.
FleetCondition BuildFleetCondition(const std::vector<VehicleState>& states, double now_s,
                                   const FleetOptions& options,
                                   const std::vector<VehicleDriving>& driving = {});

}  // namespace smartbus
