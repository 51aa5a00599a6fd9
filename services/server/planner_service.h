#pragma once
// smartbus.v1.PlannerService (proto/smartbus/v1/planner.proto): journey planning over the
// server's network with the live predictions of its vehicles.
//
// The planner's index (planner::Timetable: routes, times, footpaths) is built when the service
// is made (server start, so at load time) and again for a new network after a reload (on the
// first call that sees it). Live times come from the published vehicle snapshots
// (VehicleLiveTimes), refreshed at most every kLiveRefreshS of server time; cancellations from
// another provider can be merged in (SetExtraLiveTimes).

#include <memory>

#include "grpcpp/impl/service_type.h"
#include "services/core/planner/live_times.h"

namespace smartbus::server {

class SmartbusServer;

class PlannerServiceHandle {
 public:
  virtual ~PlannerServiceHandle() = default;
  virtual grpc::Service* service() = 0;
  // Adds another live source (e.g. GTFS-RT cancellations and skipped stops): its trips replace
  // the vehicles' predictions for the same trip instance. Not owned; null removes it.
  virtual void SetExtraLiveTimes(const planner::LiveTimes* extra) = 0;
};

std::unique_ptr<PlannerServiceHandle> MakePlannerService(SmartbusServer* server);

}  // namespace smartbus::server
