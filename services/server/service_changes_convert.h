#pragma once
// Service changes (services/core/service_changes) <-> proto (smartbus/v1/service_changes.proto),
// and the alerts of an arrival board.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "services/core/network/network.h"
#include "services/core/service_changes/service_changes.h"
#include "smartbus/v1/passenger.pb.h"
#include "smartbus/v1/service_changes.pb.h"

namespace smartbus::server {

namespace pb = ::smartbus::v1;

inline pb::ArrivalStatus StatusToProto(StopStatus s) {
  switch (s) {
    case StopStatus::kCancelled: return pb::ARRIVAL_STATUS_CANCELLED;
    case StopStatus::kSkipped: return pb::ARRIVAL_STATUS_SKIPPED;
    default: return pb::ARRIVAL_STATUS_SCHEDULED;
  }
}

void AlertToProto(const Alert& a, pb::ServiceAlert* out);
void TripChangeToProto(const TripChange& t, pb::TripChange* out);

// Limits of an operator alert (PostAlert): entities, periods and translations per text, bytes
// per text. Generous for any real alert; they bound what one call can make the server hold.
inline constexpr int kMaxAlertEntities = 100;
inline constexpr int kMaxAlertPeriods = 100;
inline constexpr int kMaxAlertTranslations = 20;
inline constexpr size_t kMaxAlertTextBytes = 10000;

// Checks sizes and converts (source and created are not taken from the proto).
// INVALID_ARGUMENT naming the field; the rules of ServiceChanges::Validate are checked there.
absl::StatusOr<Alert> AlertFromProto(const pb::ServiceAlert& in);

// What concerns a stop's board: the stop and its parent station, the routes serving it and
// their agencies, the trips in `trips` (those on the board).
AlertSelector StopAlertSelector(const Network& net, uint32_t stop,
                                const std::vector<uint32_t>& trips);
// What concerns a vehicle journey (SIRI MonitoredVehicleJourney): the trip, its route, the
// route's agency.
AlertSelector TripAlertSelector(const Network& net, TripIdx trip);

// Adds to the board the alerts of `changes` active at now_s that concern one of its stops (a
// station's board: each of the station's stops; StopAlertSelector), each once, sorted by
// (source, alert_id).
void AddBoardAlerts(const Network& net, const std::vector<uint32_t>& stops,
                    const std::vector<uint32_t>& trips, const ServiceChangeSet& changes,
                    int64_t now_s, pb::ArrivalsBoard* out);

}  // namespace smartbus::server
