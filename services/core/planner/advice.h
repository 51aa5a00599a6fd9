#pragma once
// Route and stop advice for operators, from observed stop visits over one or more days:
//   - running time per segment (consecutive stops) and per timepoint pair, by time band:
//     P50/P85/P95 against the scheduled time, and a recommended scheduled running time;
//   - per route and direction, the whole-trip running time by band and the terminal recovery
//     time it implies;
//   - headway regularity per stop in route order, where it turns irregular and where bunching
//     starts;
//   - trips that start late, and why (late pull-out, or the vehicle's previous trip ran long);
//   - stop spacing per route and, where passenger counts exist, low-use stops close to a
//     neighbour (consolidation candidates).
// Every recommendation carries the figures it comes from (samples, percentiles, schedule).
//
// Practice followed (named, with its source, in AdviceOptions): scheduled running time at the
// 85th percentile of observed running times of the band, and cycle time (running + recovery)
// at the 95th, so recovery = P95 - P85 (TCQSM 3rd ed., ch. 5 "reliability"/scheduling, and
// TCRP Report 113, Furth et al. 2006, which set running time at a 50-85th and cycle time at a
// 90-95th percentile); headway regularity by the coefficient of variation of headways (TCQSM
// headway adherence, LOS C from cv 0.31).
//
// Pure function of its inputs; thread-compatible.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "services/core/network/network.h"
#include "services/core/tracking/types.h"

namespace smartbus::planner {

struct TimeBand {
  std::string name;
  int32_t start_s = 0;  // seconds after local midnight (service-day times past 24 h wrap)
  int32_t end_s = 0;
};

struct AdviceOptions {
  // Time bands of the day (local time of the scheduled departure). Default: early 00-06,
  // AM peak 06-09, midday 09-15, PM peak 15-19, evening 19-24: the service periods agencies
  // schedule running times by.
  std::vector<TimeBand> bands = {{"early", 0, 6 * 3600},        {"am_peak", 6 * 3600, 9 * 3600},
                                 {"midday", 9 * 3600, 15 * 3600}, {"pm_peak", 15 * 3600, 19 * 3600},
                                 {"evening", 19 * 3600, 24 * 3600}};
  // Percentile of observed running times a schedule should give (TCQSM / TCRP 113: 85th, so
  // that about 85 % of trips keep the schedule without padding every trip for the worst case).
  double schedule_percentile = 85;
  // Percentile of the whole-trip running time the cycle (running + recovery) should cover
  // (TCRP 113: 95th), so a trip at P95 still leaves on time on its next trip.
  double cycle_percentile = 95;
  // Fewest observations for a percentile of a band to be reported as a recommendation. Default
  // 5: below that P85 is one of the two largest values.
  int min_samples = 5;
  // A trip starts late when it leaves its first stop more than this after schedule. Default
  // 120 s: beyond stop-detection noise (a fix every 10-30 s) and the minute rounding of
  // timetables.
  double late_start_s = 120;
  // Headways irregular from this coefficient of variation (TCQSM headway adherence: LOS C and
  // worse from cv 0.31, "vehicles often off headway").
  double irregular_cv = 0.30;
  // A gap is bunched below this fraction of its scheduled headway (analytics' default 0.25).
  double bunching_ratio = 0.25;
  // Bunching starts at the first stop (route order) where at least this share of gaps is bunched.
  double bunching_share = 0.10;
  // Low-use stop: fewer boardings + alightings per day than this. Default 10 (a stop used by
  // fewer than ~5 riders each way a day costs every rider on board a stop for little use).
  double low_use_per_day = 10;
  // ... and a consolidation candidate when a neighbouring stop of the route is within this
  // distance along the route. Default 300 m (TCQSM: urban local-bus stops are typically 200-400 m
  // apart; closer stops are the usual consolidation candidates).
  double consolidation_gap_m = 300;
  absl::TimeZone time_zone = absl::UTCTimeZone();  // of the bands (the agency's)
};

struct RunningTimeBand {
  std::string band;
  int64_t samples = 0;
  double p50_s = NAN, p85_s = NAN, p95_s = NAN;
  double scheduled_s = NAN;     // mean scheduled running time of the same trips
  double recommended_s = NAN;   // P(schedule_percentile) when samples >= min_samples
  double change_s = NAN;        // recommended - scheduled
};

// A segment (consecutive stops) or a timepoint pair of a route.
struct SegmentAdvice {
  uint32_t route = kNoIndex;
  int8_t direction_id = -1;
  uint32_t from_stop = kNoIndex;
  uint32_t to_stop = kNoIndex;
  bool timepoint_pair = false;  // from and to are consecutive timepoints of the trips
  std::vector<RunningTimeBand> bands;  // bands with observations, in AdviceOptions order
};

// Whole trips of a route and direction in one band, and the recovery time they imply.
struct TripTimeAdvice {
  uint32_t route = kNoIndex;
  int8_t direction_id = -1;
  RunningTimeBand running;      // first stop departure to last stop arrival
  double recovery_s = NAN;      // P(cycle) - P(schedule): terminal recovery time implied
  double scheduled_layover_s = NAN;  // mean scheduled layover before the vehicle's next trip
};

struct HeadwayStop {
  uint32_t stop = kNoIndex;
  int64_t gaps = 0;
  double cv = NAN;
  double bunched_share = NAN;
};

struct HeadwayAdvice {
  uint32_t route = kNoIndex;
  int8_t direction_id = -1;
  std::vector<HeadwayStop> stops;       // in route order (the direction's longest pattern)
  uint32_t first_irregular_stop = kNoIndex;  // first stop with cv > irregular_cv
  uint32_t bunching_starts_at = kNoIndex;    // first stop with bunched share >= bunching_share
};

struct LateStart {
  uint32_t route = kNoIndex;
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;
  std::string vehicle_id;
  double start_delay_s = 0;
  // "late_pullout": the first trip of its block (the bus came out of the garage late);
  // "previous_trip_late": the vehicle's previous trip arrived after this one was due to leave
  // (its run time); "late_departure": the previous trip arrived in time, the bus left late;
  // "previous_trip_unobserved": not the first of its block, previous trip not in the visits.
  std::string cause;
  double previous_end_delay_s = NAN;  // arrival delay of the previous trip at its last stop
};

struct StopUse {
  uint32_t route = kNoIndex;
  uint32_t stop = kNoIndex;
  double ons_offs_per_day = 0;
  uint32_t neighbour = kNoIndex;  // nearest adjacent stop of the route
  double neighbour_m = NAN;       // distance along the route
};

struct StopSpacing {
  uint32_t route = kNoIndex;
  int8_t direction_id = -1;
  int stops = 0;
  double mean_m = NAN, median_m = NAN, min_m = NAN, max_m = NAN;
  int below_200m = 0;  // gaps shorter than 200 m
};

struct RouteAdvice {
  uint32_t route = kNoIndex;
  std::vector<SegmentAdvice> segments;         // stop to stop
  std::vector<SegmentAdvice> timepoint_pairs;  // timepoint to timepoint
  std::vector<TripTimeAdvice> trips;           // per direction and band
  std::vector<HeadwayAdvice> headways;         // per direction
  std::vector<LateStart> late_starts;          // latest first
  int64_t trips_observed = 0;
  int64_t late_pullouts = 0;
  int64_t late_after_previous_trip = 0;
  int64_t late_departures = 0;
  int64_t late_unexplained = 0;  // previous trip not observed
  bool passenger_data = false;
  std::vector<StopUse> consolidation;          // low-use stops near a neighbour
  std::vector<StopSpacing> spacing;            // per direction
};

struct AdviceReport {
  std::vector<RouteAdvice> routes;  // by route id
  int days = 0;                     // distinct service dates in the visits
  int64_t visits = 0;
};

// Builds the advice for the routes (ids; empty = every route with visits).
AdviceReport BuildAdvice(const Network& net, const std::vector<StopVisit>& visits,
                         const AdviceOptions& options, const std::vector<uint32_t>& routes = {});

// The segments of all routes whose recommended running time most exceeds the schedule in one
// band (largest change_s first): where to look first.
struct SegmentExcess {
  const SegmentAdvice* segment = nullptr;
  const RunningTimeBand* band = nullptr;
};
std::vector<SegmentExcess> WorstSegments(const AdviceReport& report, size_t limit);

}  // namespace smartbus::planner
