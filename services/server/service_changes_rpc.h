#pragma once
// The service-change calls of OperatorService (operator.proto: CancelTrip, RestoreTrip,
// PostAlert, EndAlert, ListServiceChanges): request checks against the loaded network, then an
// edit through the server's ServiceChangeKeeper. Transport-free: the gRPC handlers (and the
// HTTP JSON mirror) call these and turn the status into their own answer.

#include "absl/status/status.h"
#include "smartbus/v1/operator.pb.h"

namespace smartbus::server {

class SmartbusServer;

absl::Status CancelTripCall(const SmartbusServer& server, const smartbus::v1::CancelTripRequest& req,
                            smartbus::v1::TripChangeResponse* resp);
absl::Status RestoreTripCall(const SmartbusServer& server, const smartbus::v1::RestoreTripRequest& req,
                             smartbus::v1::TripChangeResponse* resp);
absl::Status PostAlertCall(const SmartbusServer& server, const smartbus::v1::PostAlertRequest& req,
                           smartbus::v1::PostAlertResponse* resp);
absl::Status EndAlertCall(const SmartbusServer& server, const smartbus::v1::EndAlertRequest& req,
                          smartbus::v1::EndAlertResponse* resp);
void ListServiceChangesCall(const SmartbusServer& server, smartbus::v1::ListServiceChangesResponse* resp);

}  // namespace smartbus::server
