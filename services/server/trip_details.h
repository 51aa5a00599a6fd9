#pragma once
// GetTripDetails: one trip instance stop by stop, with the predictions of the bus running it.
// Pure function of immutable snapshots (any thread, no locks).

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "services/server/live_view.h"
#include "smartbus/v1/passenger.pb.h"

namespace smartbus::server {

// `vehicles`: every vehicle snapshot (or only the one the request names). Fills *out; NOT_FOUND
// naming the trip when it is unknown, INVALID_ARGUMENT for a bad service_date.
absl::Status BuildTripDetails(const LiveView& view,
                              const std::vector<std::shared_ptr<const VehicleSnapshot>>& vehicles,
                              const smartbus::v1::GetTripDetailsRequest& req, int64_t now_s,
                              int64_t live_max_age_s, int64_t stale_after_s,
                              smartbus::v1::TripDetails* out);

}  // namespace smartbus::server
