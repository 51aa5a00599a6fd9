#pragma once
// Proto <-> core conversion and request validation for the smartbus.v1 services.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "services/core/common/csv.h"
#include "services/server/arrivals.h"
#include "services/server/live_view.h"
#include "smartbus/v1/ingest.pb.h"
#include "smartbus/v1/network.pb.h"
#include "smartbus/v1/passenger.pb.h"
#include "smartbus/v1/types.pb.h"

namespace smartbus::server {

namespace pb = ::smartbus::v1;

// Longest status message sent (bytes): it travels in a response header (grpc-message), and ids
// echoed from a request could otherwise make it exceed the client's header limit (the C++ client
// fails above ~8 KB, grpc-js hangs above ~64 KB).
inline constexpr size_t kMaxStatusMessageBytes = 512;

// absl codes are gRPC's numerically. The message is cut to kMaxStatusMessageBytes.
inline grpc::Status ToGrpc(const absl::Status& s) {
  return s.ok() ? grpc::Status::OK
                : grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                               Abbreviate(s.message(), kMaxStatusMessageBytes));
}

inline constexpr size_t kMaxVehicleIdBytes = 128;

// Validates one fix and converts it. Returns 0 (valid) or the proto RejectReason number, with
// *detail naming the field and value.
int FixFromProto(const pb::Fix& in, Fix* out, std::string* detail);
// Human-readable text for an engine rejection of `fix` at server clock now_s.
std::string RejectDetail(int reason, const Fix& fix, int64_t now_s);

// Occupancy: core GTFS-RT number (-1 unknown) <-> proto enum (number + 1, 0 unknown).
inline pb::Occupancy OccupancyToProto(int32_t gtfs) {
  return gtfs >= 0 && gtfs <= 8 ? static_cast<pb::Occupancy>(gtfs + 1) : pb::OCCUPANCY_UNKNOWN;
}
pb::VehicleStatus StatusToProto(MatchState s);
pb::PredictionSource SourceToProto(PredictionSource s);

// A vehicle's condition (active alarms, ignition, doors, odometer, ...).
void ConditionToProto(const BusCondition& c, pb::BusCondition* out);
void VehicleToProto(const VehicleSnapshot& snap, int64_t now_s, int64_t stale_after_s,
                    pb::Vehicle* out);
void StopToProto(const Network& net, uint32_t stop, pb::Stop* out);
// A trip's trip_id, route_id, route_short_name and headsign on a message that has them (Arrival,
// TripDetails).
template <typename Message>
void TripIdsToProto(const GtfsFeed& feed, const GtfsTrip& trip, Message* out) {
  out->set_trip_id(trip.id);
  if (trip.route < feed.routes.size()) {
    out->set_route_id(feed.routes[trip.route].id);
    out->set_route_short_name(feed.routes[trip.route].short_name);
  }
  out->set_headsign(trip.headsign);
}
void ArrivalToProto(const Network& net, const ArrivalRow& row, pb::Arrival* out);

// Checks a GetArrivalsRequest against the view's network and fills *q (stop, the stops listed:
// a station's stops for a station, route, limits).
absl::Status ResolveArrivalsQuery(const pb::GetArrivalsRequest& req, const LiveView& view,
                                  int64_t live_max_age_s, ArrivalsQuery* q);
// The board for a resolved query; `version` is QueryVersion(view, q), taken by the caller
// (a display-board stream has already read it to decide whether to send).
void BuildBoard(const LiveView& view, const ArrivalsQuery& q, int64_t now_s, uint64_t version,
                bool heartbeat, pb::ArrivalsBoard* out);

}  // namespace smartbus::server
