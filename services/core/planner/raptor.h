#pragma once
// The round-based search itself (internal to the planner; planner.h is the interface).
//
// Search time: seconds relative to the query's service day start, negated for a backward
// (arrive-by) search, so that the same code finds earliest arrivals forward and latest
// departures backward ("arrival" below is in search time).

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "services/core/planner/timetable.h"

namespace smartbus::planner {

inline constexpr int32_t kInfTime = INT32_MAX / 2;

// A service day a route set's trips may run on, for one query.
struct SearchDay {
  int32_t offset_s = 0;        // this day's start minus the query day's start (real seconds)
  int32_t date = 0;            // YYYYMMDD
  const std::vector<uint8_t>* active = nullptr;  // per service: 1 when it runs; null: all
};

// A route set plus the days its trips run on and the trip instances to leave out.
struct SearchSet {
  const RouteSet* routes = nullptr;
  std::vector<SearchDay> days;
  const absl::flat_hash_set<uint64_t>* excluded = nullptr;  // TripDateKey of left-out instances
  const std::vector<uint8_t>* route_has_excluded = nullptr;  // per route
};

inline uint64_t TripDateKey(uint32_t trip, int32_t date) {
  return (static_cast<uint64_t>(trip) << 32) | static_cast<uint32_t>(date);
}

struct RideParent {
  uint8_t set = 0;      // index into the search sets
  uint8_t day = 0;      // index into that set's days
  uint32_t route = 0;
  uint32_t trip = 0;    // real trip position within the route
  uint32_t board = 0;   // search-order positions on the route
  uint32_t alight = 0;
};

struct BoardParent {
  uint32_t from = kNoIndex;  // stop the rider walked from; kNoIndex: the search origin
  int32_t walk_s = 0;
};

// One endpoint's stops with the walking time to/from them (search-origin side: access).
struct StopWalk {
  uint32_t stop = kNoIndex;
  int32_t walk_s = 0;
};

struct SearchInput {
  std::vector<SearchSet> sets;
  const Footpaths* footpaths = nullptr;
  int32_t min_transfer_s = 0;
  int max_rides = 6;
  int32_t start = 0;                 // search time at the search origin
  std::vector<StopWalk> access;      // from the search origin
  std::vector<StopWalk> egress;      // to the search target
  int32_t direct_walk_s = -1;        // origin to target on foot; -1 when too far
  // rRAPTOR (range queries): keep the labels of the previous run, which started later, as
  // bounds (a journey from a later departure stays possible by waiting). Runs must come in
  // decreasing `start`; only journeys that improve on them are reported (SearchLabels::improved).
  bool reuse_labels = false;
};

// Labels of one search, kept for reconstruction.
struct SearchLabels {
  int rounds = 0;                          // last round run
  std::vector<std::vector<int32_t>> ride;  // [k][stop]: arrival by the k-th ride
  std::vector<std::vector<RideParent>> ride_parent;
  std::vector<std::vector<int32_t>> board; // [k][stop]: ready to board the (k+1)-th ride
  std::vector<std::vector<BoardParent>> board_parent;
  std::vector<int32_t> dest;               // [k]: arrival at the target with k rides (or inf)
  std::vector<uint32_t> dest_from;         // [k]: last stop (kNoIndex for the walk-only)
  std::vector<uint8_t> improved;           // [k]: dest[k] set by the last run
  int64_t routes_scanned = 0;
};

// Runs RAPTOR forward (reverse = false) or backward. `labels` is reset and filled.
void RunRaptor(const SearchInput& in, bool reverse, SearchLabels* labels);

// Accessors of a route in search order.
struct RouteView {
  const RouteSet* rs;
  const RouteSet::Route* r;
  bool reverse;
  uint32_t RealPos(uint32_t i) const { return reverse ? r->num_stops - 1 - i : i; }
  uint32_t RealTrip(uint32_t j) const { return reverse ? r->num_trips - 1 - j : j; }
  uint64_t Cell(uint32_t j, uint32_t i) const {
    return r->first_time + static_cast<uint64_t>(RealTrip(j)) * r->num_stops + RealPos(i);
  }
  uint32_t Stop(uint32_t i) const { return rs->stops[r->first_stop + RealPos(i)]; }
  bool CanBoard(uint32_t i) const {
    return rs->flags[r->first_stop + RealPos(i)] & (reverse ? kCanAlight : kCanBoard);
  }
  bool CanAlight(uint32_t i) const {
    return rs->flags[r->first_stop + RealPos(i)] & (reverse ? kCanBoard : kCanAlight);
  }
  // Search times of trip j (search order) at i, without the day offset.
  int32_t BoardTime(uint32_t j, uint32_t i) const {
    return reverse ? -rs->arr[Cell(j, i)] : rs->dep[Cell(j, i)];
  }
  int32_t AlightTime(uint32_t j, uint32_t i) const {
    return reverse ? -rs->dep[Cell(j, i)] : rs->arr[Cell(j, i)];
  }
};

}  // namespace smartbus::planner
