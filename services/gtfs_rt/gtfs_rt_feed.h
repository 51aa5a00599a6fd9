#pragma once
// GTFS-Realtime in: decoding an agency's feed and mapping its entities to SmartBus' own input.
//
//   VehiclePositions -> Fix (the same struct the gRPC ingest makes; the poller hands them to
//                       the same ingest pipeline)
//   TripUpdates      -> TripChange (a CANCELED / DELETED trip, SKIPPED stops, and for a
//                       REPLACEMENT trip the scheduled stops its update no longer lists);
//                       agency predictions are not used (SmartBus makes its own). ADDED / NEW /
//                       DUPLICATED trips (not in the timetable SmartBus loaded) are counted
//                       (added_trips) and left out; their vehicles' positions are still fixes,
//                       without the trip id (the engine finds what they run).
//   Alerts           -> Alert
//
// A bad entity never fails the feed: it is counted by kind (the nigiri way) and left out. A
// feed that cannot be used at all (undecodable, wrong message type) is an error with a kind
// (FeedError), counted by the poller; what was last read from that feed stays in force.
// FeedChanges keeps what a TripUpdates / Alerts feed has in force across polls: a FULL_DATASET
// poll replaces it, a DIFFERENTIAL one (FeedHeader.incrementality) updates the entities it
// carries and removes those marked is_deleted.
// Pure functions and small states (VehicleDedupe, FeedChanges); no I/O, no threads.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/network/network.h"
#include "services/core/service_changes/service_changes.h"
#include "services/core/tracking/types.h"
// <netdb.h> (pulled in by httplib.h, curl, gRPC...) defines NO_DATA, which is also a GTFS-RT
// enum value name: whichever comes first, the generated header must see no such macro.
#ifdef NO_DATA
#undef NO_DATA
#endif
#include "transit_realtime/gtfs-realtime.pb.h"

namespace smartbus::gtfs_rt {

// What a feed carries.
enum class FeedKind : uint8_t { kVehiclePositions, kTripUpdates, kAlerts };
absl::string_view FeedKindName(FeedKind k);  // "vehicle_positions", "trip_updates", "alerts"

// Why a whole poll was refused. Stable names (for logs and /metrics labels).
enum class FeedError : uint8_t {
  kFetch,        // connection refused, timeout, DNS, missing file...
  kHttpStatus,   // an HTTP status other than 200 (and 304)
  kTooLarge,     // more than the size limit
  kUndecodable,  // not a FeedMessage (garbage, truncated, missing required header)
  kWrongType,    // a FeedMessage without any entity of the expected kind (but with others)
  kOldHeader,    // header timestamp older than one already read (a feed gone back in time)
};
inline constexpr int kNumFeedErrors = 6;
absl::string_view FeedErrorName(FeedError e);  // "fetch", "http_status", "too_large", ...

// Parses bytes as a FeedMessage. kUndecodable (in *error) with a message naming what is wrong.
absl::StatusOr<transit_realtime::FeedMessage> ParseFeed(absl::string_view bytes,
                                                        FeedError* error);

// Counts of one mapping, by kind of entity.
struct EntityCounts {
  uint64_t entities = 0;        // entities in the feed
  uint64_t used = 0;            // mapped (fixes made, trip changes, alerts)
  uint64_t other_type = 0;      // entities of another kind (a trip_update in a VP feed ...)
  uint64_t invalid = 0;         // no vehicle id / no position / no header text ...
  uint64_t duplicates = 0;      // VP: not newer than the vehicle's last fix sent
  uint64_t stale = 0;           // VP: older than the header time minus stale_after_s
  uint64_t unknown_trips = 0;   // a trip_id the loaded network does not have
  uint64_t deleted = 0;         // FeedEntity.is_deleted
  // ADDED / NEW / DUPLICATED trips (not in the timetable): TripUpdates leave them out; a VP is
  // still used (a fix without the trip id), so there it is counted in `used` too.
  uint64_t added_trips = 0;
  EntityCounts& operator+=(const EntityCounts& o);
};

// The newest timestamp sent per vehicle (the poller keeps one per VP feed).
class VehicleDedupe {
 public:
  // True (and remembered) when t_s is newer than the last time seen for the vehicle.
  bool Newer(const std::string& vehicle_id, int64_t t_s);
  size_t size() const { return last_.size(); }

 private:
  absl::flat_hash_map<std::string, int64_t> last_;
};

struct VehicleMapOptions {
  // A vehicle position older than the feed header's timestamp minus this is stale: not sent
  // (a bus that stopped reporting is still listed by many feeds). Seconds. Default 600, the
  // server's live_max_age_s: an older fix would not make the bus live on any board anyway.
  int64_t stale_after_s = 600;
};

// VehiclePositions -> fixes, in feed order. `net` (may be null) is only used to count unknown
// trip ids; such fixes are still sent (the engine decides, as for a gRPC fix). A position
// without its own timestamp takes the header's.
std::vector<Fix> MapVehiclePositions(const transit_realtime::FeedMessage& feed,
                                     const Network* net, const VehicleMapOptions& options,
                                     VehicleDedupe* dedupe, EntityCounts* counts);

// TripUpdates -> trip changes: a trip CANCELED or DELETED, SKIPPED stop_time_updates, and for
// a REPLACEMENT trip (its stop_time_updates are its whole new stop list) every scheduled stop it
// does not list (matched by stop_sequence, else stop_id; an update listing no stop changes
// nothing). The service date is the trip's start_date, else the header time's date in the
// network's time zone. Trips the network does not have are counted (unknown_trips) and left
// out; ADDED / NEW / DUPLICATED ones too (added_trips).
std::vector<TripChange> MapTripUpdates(const transit_realtime::FeedMessage& feed,
                                       const Network& net, EntityCounts* counts);

// Alerts -> alerts (id = entity id). Alerts without header text or informed entity are
// counted invalid.
std::vector<Alert> MapAlerts(const transit_realtime::FeedMessage& feed, EntityCounts* counts);

// The service changes a TripUpdates or Alerts feed has in force, by entity (its id; a trip
// update without one by trip and service date).
class FeedChanges {
 public:
  // Applies one decoded poll (counts as MapTripUpdates / MapAlerts). FULL_DATASET: the poll's
  // changes replace everything. DIFFERENTIAL: an entity replaces the one with its id (a trip
  // update that cancels or skips nothing any more removes it), an is_deleted entity removes it,
  // the others stay. `net` is needed for trip updates only.
  void Apply(const transit_realtime::FeedMessage& feed, FeedKind kind, const Network* net,
             EntityCounts* counts);
  std::vector<TripChange> trips() const;
  std::vector<Alert> alerts() const;

 private:
  std::map<std::string, TripChange> trips_;
  std::map<std::string, Alert> alerts_;
};

}  // namespace smartbus::gtfs_rt
