#pragma once
// The service-changes model (services/core/service_changes, kept by the server's
// ServiceChangeKeeper) as its two other readers ask for it:
//   - the GTFS-RT output (http/gtfs_rt.h ServiceChangesView): CANCELED trips, SKIPPED stops
//     and the Alerts feed, the same changes the arrival boards show;
//   - the journey planner (planner::LiveTimes, plugged in with SetExtraLiveTimes): cancelled
//     trip instances, which PlanJourney then never rides.

#include <memory>

#include "services/core/planner/live_times.h"
#include "services/server/http/gtfs_rt.h"

namespace smartbus::server {

class SmartbusServer;

// `server` must outlive the view. Thread-safe (reads the keeper's current snapshot).
std::unique_ptr<ServiceChangesView> MakeServiceChangesView(const SmartbusServer* server);

// Cancelled trips as planner live trips (cancelled = true, no stops), indexed in the server's
// current network. A change for one service date gives that instance; a change for every date
// (service_date 0) gives the instances of yesterday, today and tomorrow (network time zone) the
// trip's service runs on, so plans up to a day ahead avoid it. Skipped stops are not given (a
// LiveTrip listing only its skipped stops would mark the stops before them as already served).
// version() moves with the model's version and the service day. `server` must outlive it.
std::unique_ptr<planner::LiveTimes> MakeCancelledTripsLiveTimes(const SmartbusServer* server);

}  // namespace smartbus::server
