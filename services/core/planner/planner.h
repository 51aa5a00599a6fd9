#pragma once
// Journey planning over the loaded network: RAPTOR (Delling et al., "Round-Based Public Transit
// Routing") on the Timetable index, with live predicted times when a LiveTimes is plugged in.
//
// The journey model (what "optimal" means; the test oracle implements the same model):
//   - a journey walks from the origin to a first stop (or starts at the origin stop), rides one
//     or more trips, and walks from the last stop to the destination (or ends at it);
//   - a walk is the straight line times WalkOptions::detour_factor at WalkOptions::speed_mps,
//     at most max_access_walk_m to/from a place and max_transfer_walk_m between two stops;
//   - between two rides there is exactly one transfer: at the same stop or one footpath to a
//     nearby stop, taking max(walking time, min_transfer_s);
//   - a trip is boarded where its pickup is allowed, left where its drop-off is allowed;
//   - the result is the Pareto set of (arrival, number of rides) for depart-at (of (departure,
//     rides) for arrive-by), each journey the earliest arrival (latest departure) with at most
//     that many rides; a range query returns the Pareto set of (departure, arrival, rides) over
//     departures in [time, time + window].
// Trips of the service day of the query time and of the days before and after are considered.
//
// Thread safety: Plan is const and may run on many threads at once.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/core/planner/live_times.h"
#include "services/core/planner/timetable.h"

namespace smartbus::planner {

struct PlannerOptions {
  // Least time between leaving one trip and boarding another (also the least a footpath
  // transfer takes), seconds. Default 120 s: GTFS schedules are given to the minute and a rider
  // needs time to alight, find the other stand and be there before the bus leaves; OpenTripPlanner
  // used 2 minutes as its default transfer slack for the same reasons.
  int32_t min_transfer_s = 120;
  // Most trips in one journey (rounds of RAPTOR). Default 6 (5 transfers): journeys with more
  // are not offered by agency planners and only cost search time.
  int max_rides = 6;
  // Longest departure window of a range query. Default 3 h (bounds the work of one request).
  absl::Duration max_window = absl::Hours(3);
};

// A place or a stop.
struct Endpoint {
  std::optional<uint32_t> stop;  // a stop index; when set, `pos` is ignored
  LatLon pos{};
};

struct PlanRequest {
  Endpoint from;
  Endpoint to;
  absl::Time time;          // leave at (or arrive by, when arrive_by)
  bool arrive_by = false;
  // Range query (depart-at only): every Pareto-optimal journey leaving in [time, time+window].
  absl::Duration window = absl::ZeroDuration();
  bool use_live = true;     // use the LiveTimes given to Plan, when any
};

struct Leg {
  enum class Kind : uint8_t { kWalk, kRide };
  Kind kind = Kind::kWalk;
  uint32_t from_stop = kNoIndex;  // kNoIndex: the origin place
  uint32_t to_stop = kNoIndex;    // kNoIndex: the destination place
  absl::Time depart;
  absl::Time arrive;
  double walk_m = 0;              // walk: metres walked (detour applied)
  // Ride only.
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;
  uint32_t board_index = 0;       // positions of the stops in the trip
  uint32_t alight_index = 0;
  absl::Time scheduled_depart;    // the timetable's times of the two stops
  absl::Time scheduled_arrive;
  bool live = false;              // times are predictions
  absl::Time arrive_p10 = absl::InfinitePast();  // InfinitePast when not known
  absl::Time arrive_p90 = absl::InfinitePast();
  // The rider may miss this ride: the previous ride's P90 arrival plus the transfer time is
  // after this ride's departure.
  bool risky = false;
};

struct Journey {
  absl::Time depart;
  absl::Time arrive;
  int rides = 0;
  int transfers() const { return rides > 0 ? rides - 1 : 0; }
  bool live = false;   // some ride leg is live
  bool risky = false;  // some transfer is risky
  std::vector<Leg> legs;
};

struct PlanStats {
  int rounds = 0;
  int64_t routes_scanned = 0;
  int searches = 0;  // RAPTOR runs (more than one for a range query)
  int live_trips = 0;  // trip instances with live times or cancelled in the overlay used
};

struct PlanResult {
  // Pareto set: depart-at by arrival ascending (fewer rides first on ties), arrive-by by
  // departure descending, range queries by departure then arrival.
  std::vector<Journey> journeys;
  PlanStats stats;
};

class Planner {
 public:
  Planner(std::shared_ptr<const Timetable> timetable, const PlannerOptions& options = {});
  ~Planner();

  const Timetable& timetable() const { return *timetable_; }
  const PlannerOptions& options() const { return options_; }

  // Plans a journey. `live` may be null (timetable only). Errors: an unknown stop, an invalid
  // place, a window on an arrive-by request or longer than max_window; no journey is not an
  // error (empty result).
  absl::StatusOr<PlanResult> Plan(const PlanRequest& request,
                                  const LiveTimes* live = nullptr) const;

  struct LiveIndex;  // the live overlay (planner.cc)

 private:
  std::shared_ptr<const LiveIndex> LiveIndexFor(const LiveTimes* live) const;
  std::shared_ptr<const std::vector<uint8_t>> ActiveServices(int32_t date) const;

  std::shared_ptr<const Timetable> timetable_;
  PlannerOptions options_;
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace smartbus::planner
