#pragma once
// The tracking engine's vocabulary: a GPS fix in, and what the tracker says about it out
// (one MatchResult per fix, StopVisit events, the VehicleState readers see).
// These are the rows of the Positions, Matches and Stop visits CSV files (../shared/FORMATS.md).

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "services/core/gtfs/feed.h"

namespace smartbus {

// The times a fix may carry at the system's edges (Positions CSV, ingest): 2000-01-01 ..
// 2100-01-01 UTC, epoch seconds. Outside it a timestamp is a broken unit clock or a broken file
// (0, negative, milliseconds, 1e300), refused as a bad field before it reaches an engine clock.
inline constexpr int64_t kMinPlausibleFixTime = 946684800;   // 2000-01-01T00:00:00Z
inline constexpr int64_t kMaxPlausibleFixTime = 4102444800;  // 2100-01-01T00:00:00Z

// What a vehicle terminal reports of the bus's condition with a fix (JT/T 808 alarm and status
// flags and additional items; proto DeviceStatus). Not part of the Positions CSV.
struct DeviceReport {
  bool present = false;
  uint32_t alarm_flags = 0;   // JT/T 808 alarm DWORD
  uint32_t status_flags = 0;  // JT/T 808 status DWORD
  double odometer_m = NAN;
  float fuel_l = NAN;
  int16_t signal_strength = -1;  // -1 when not reported
  int16_t satellites = -1;
};

// One GPS report of a vehicle (a Positions CSV row, or an ingest RPC message).
struct Fix {
  std::string vehicle_id;   // required, non-empty
  int64_t timestamp_s = 0;  // epoch seconds UTC
  double lat = NAN;         // WGS84 degrees
  double lon = NAN;
  float bearing_deg = NAN;  // clockwise from north, NaN if unknown
  float speed_mps = NAN;    // NaN if unknown
  std::string trip_id;      // may be empty: the bus did not say
  std::string route_id;     // may be empty
  // Optional passenger data (-1 when absent).
  int32_t occupancy = -1;   // GTFS-RT OccupancyStatus 0..8
  int32_t boardings = -1;   // counted at the stop just served, since the previous fix
  int32_t alightings = -1;
  int32_t load = -1;        // passengers on board
  float accuracy_m = NAN;   // GPS horizontal accuracy, NaN if unknown
  DeviceReport device;      // the terminal's condition report (device.present)
};

enum class MatchState : uint8_t { kInService, kLayover, kOffRoute, kUnassigned, kRejected };
absl::string_view MatchStateName(MatchState s);  // "in_service", "layover", ...

enum class RejectReason : uint8_t {
  kNone,
  kDuplicate,            // same vehicle and timestamp as a fix already seen
  kOutOfOrder,           // older than the vehicle's newest fix (kept for history only)
  kInvalidCoordinates,   // NaN, out of range, or (0,0)
  kFutureTimestamp,      // too far ahead of the engine clock
  kImplausibleJump,      // would need an impossible speed from the previous fix
  kInvalidVehicleId,     // empty vehicle id
};
absl::string_view RejectReasonName(RejectReason r);  // "", "duplicate", "out_of_order", ...

// What the tracker concluded for one fix: a Matches CSV row.
struct MatchResult {
  std::string vehicle_id;
  int64_t timestamp_s = 0;
  TripIdx trip = kNoIndex;   // the trip the tracker believes the vehicle is on
  double dist_along_m = NAN; // along that trip's shape
  double offset_m = NAN;     // distance of the fix from the shape
  MatchState state = MatchState::kUnassigned;
  RejectReason reason = RejectReason::kNone;
};

// A vehicle serving or passing a stop: a Stop visits CSV row.
struct StopVisit {
  std::string vehicle_id;
  TripIdx trip = kNoIndex;
  uint32_t route = kNoIndex;
  uint32_t stop = kNoIndex;
  uint32_t stop_index = 0;      // position of the stop in the trip (0-based)
  uint32_t stop_sequence = 0;   // GTFS stop_sequence
  int32_t service_date = 0;     // YYYYMMDD
  int64_t scheduled_arrival_s = 0;    // epoch seconds
  int64_t scheduled_departure_s = 0;
  double arrival_s = 0;         // observed (interpolated) epoch seconds
  double departure_s = 0;
  int32_t boardings = -1;       // -1 when unknown
  int32_t alightings = -1;
  int32_t load = -1;
  int32_t occupancy = -1;
};

// What the tracker knows about one vehicle after its newest accepted fix: what readers
// (predictor, arrival boards, fleet status) see.
struct VehicleState {
  std::string vehicle_id;
  int64_t timestamp_s = 0;      // newest accepted fix, epoch seconds
  LatLon pos;                   // as reported
  float bearing_deg = NAN;
  float speed_mps = NAN;        // reported, or estimated from progress along the shape
  MatchState state = MatchState::kUnassigned;
  TripIdx trip = kNoIndex;      // current (or, at a layover, upcoming) trip
  uint32_t route = kNoIndex;
  int32_t service_date = 0;     // YYYYMMDD of the trip instance
  int64_t day_start_s = 0;      // epoch seconds of the service day's "noon minus 12 h"
  double dist_along_m = NAN;    // along the trip's shape
  double offset_m = NAN;
  uint32_t next_stop_index = 0; // first stop of the trip (0-based) not yet visited
  double delay_s = NAN;         // schedule deviation at the current position (+ late), NaN unknown
  int32_t occupancy = -1;
  int32_t load = -1;
};

}  // namespace smartbus
