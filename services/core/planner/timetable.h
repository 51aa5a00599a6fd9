#pragma once
// The journey planner's index over a loaded Network (RAPTOR, Delling, Pajor, Werneck:
// "Round-Based Public Transit Routing", Transportation Science 2015).
//
// It reuses the Network's stops, patterns and trips and adds only what the round-based search
// needs, built once at load time:
//   - RAPTOR routes: a Network pattern's trips split into chains that never overtake (FIFO at
//     every stop: a later trip of a chain departs and arrives no earlier than an earlier one at
//     every stop) and that share the same boarding/alighting permissions per stop (GTFS
//     pickup_type / drop_off_type 1 = not possible). A frequency-based trip contributes one
//     trip per run.
//   - the stop-times of each route as dense trip-major arrays (seconds of its service day),
//   - stop -> (route, position) lists,
//   - footpaths: every pair of stops within walking reach, precomputed (compact CSR index).
//
// The same RouteSet type holds the live overlay (trips with predictions, planner.h).
// Thread safety: immutable after Build; share freely.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "services/core/network/network.h"

namespace smartbus::planner {

// The walking model, shared by footpaths (stop to stop) and by access/egress (place to stop).
struct WalkOptions {
  // Walking speed, m/s. Default 1.2 m/s (4.0 ft/s): the average pedestrian walking speed the
  // Highway Capacity Manual and TCQSM use for pedestrian design and walk access to transit.
  double speed_mps = 1.2;
  // Walked distance / straight-line distance. Default 1.3: the circuity of walking on a street
  // grid (a Manhattan-distance walk across a square grid at 45 degrees is 1.41, along it 1.0;
  // measured circuity of urban street networks is about 1.2-1.4).
  double detour_factor = 1.3;
  // Longest walk between two stops for a transfer, metres walked. Default 400 m (a quarter
  // mile): TCQSM's usual walking catchment of a bus stop.
  double max_transfer_walk_m = 400;
  // Longest walk from the origin place to a stop or from a stop to the destination place,
  // metres walked. Default 800 m (half a mile): TCQSM's catchment for frequent/rapid service,
  // so a rider is not told "no journey" whenever the nearest stop is beyond a quarter mile.
  double max_access_walk_m = 800;
};

// Seconds to walk a straight-line distance (detour applied, rounded up to whole seconds).
int32_t WalkSeconds(double straight_m, const WalkOptions& walk);

// Boarding/alighting permission of a route at one stop.
inline constexpr uint8_t kCanBoard = 1;
inline constexpr uint8_t kCanAlight = 2;

// A set of RAPTOR routes with their trips and times.
struct RouteSet {
  struct Route {
    uint32_t pattern = kNoIndex;  // Network pattern the route belongs to
    uint32_t first_stop = 0;      // into stops / flags
    uint32_t num_stops = 0;
    uint32_t first_trip = 0;      // into trips
    uint32_t num_trips = 0;
    uint64_t first_time = 0;      // into arr / dep: trip j, stop i at first_time + j*num_stops + i
  };
  struct Trip {
    TripIdx trip = kNoIndex;    // GTFS trip index
    uint32_t service = kNoIndex;
    int32_t shift_s = 0;        // frequency-based run's shift; 0 otherwise
    int32_t service_date = 0;   // live overlay only: the date of the instance (else 0)
  };
  struct At {
    uint32_t route = 0;
    uint32_t pos = 0;  // position of the stop in the route
  };
  std::vector<Route> routes;
  std::vector<uint32_t> stops;  // stop index per route position
  std::vector<uint8_t> flags;   // kCanBoard | kCanAlight per route position
  std::vector<Trip> trips;
  std::vector<int32_t> arr;     // seconds since the service day start (see Trip)
  std::vector<int32_t> dep;
  // Live overlay only (empty otherwise), parallel to arr: P10 / P90 of the arrival minus the
  // arrival, seconds; kNoSpread when the stop has no prediction.
  static constexpr int32_t kNoSpread = INT32_MIN;
  std::vector<int32_t> p10;
  std::vector<int32_t> p90;
  std::vector<uint8_t> live;    // parallel to arr: 1 when the time is a prediction
  // stop -> positions on routes: at[at_begin[s] .. at_begin[s+1]).
  std::vector<uint32_t> at_begin;
  std::vector<At> at;

  size_t MemoryBytes() const;
};

// One trip's times to be grouped into routes (RouteSetBuilder).
struct TripTimes {
  uint32_t pattern = kNoIndex;
  RouteSet::Trip trip;
  std::vector<uint8_t> flags;   // per pattern stop
  std::vector<int32_t> arr, dep;
  std::vector<int32_t> p10, p90;  // optional (live)
  std::vector<uint8_t> live;      // optional (live)
};

// Groups trips into FIFO routes (by pattern and flags) and builds the stop index. `trips` is
// consumed. `num_stops` = stops in the network.
RouteSet BuildRouteSet(std::vector<TripTimes> trips, const Network& network);

// Footpaths: stop -> (stop, walking seconds), every other stop within max_transfer_walk_m.
struct Footpaths {
  struct Edge {
    uint32_t to = 0;
    int32_t walk_s = 0;
  };
  std::vector<uint32_t> begin;  // per stop, plus one
  std::vector<Edge> edges;
  size_t MemoryBytes() const {
    return begin.capacity() * sizeof(uint32_t) + edges.capacity() * sizeof(Edge);
  }
};

class Timetable {
 public:
  // Builds the index. Times along a trip that decrease (a feed oddity, counted by the loader as
  // "trip_times_decreasing") are raised to the previous time, so no ride goes back in time.
  static absl::StatusOr<std::shared_ptr<const Timetable>> Build(
      std::shared_ptr<const Network> network, const WalkOptions& walk = {});

  const Network& network() const { return *network_; }
  const std::shared_ptr<const Network>& network_ptr() const { return network_; }
  const RouteSet& routes() const { return routes_; }
  const Footpaths& footpaths() const { return footpaths_; }
  const WalkOptions& walk() const { return walk_; }
  // Memory of the planner's own indexes (routes, times, stop index, footpaths), bytes.
  size_t MemoryBytes() const { return routes_.MemoryBytes() + footpaths_.MemoryBytes(); }
  double build_seconds() const { return build_s_; }

 private:
  std::shared_ptr<const Network> network_;
  WalkOptions walk_;
  RouteSet routes_;
  Footpaths footpaths_;
  double build_s_ = 0;
};

}  // namespace smartbus::planner
