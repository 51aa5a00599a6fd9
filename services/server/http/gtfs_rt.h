#pragma once
// GTFS-Realtime out: TripUpdates, VehiclePositions and Alerts built from the published vehicle
// snapshots (live_view.h) with the official gtfs-realtime.proto (proto/transit_realtime).
//
// Following the GTFS-Realtime best practices (gtfs.org/realtime/best-practices):
//   - header: gtfs_realtime_version "2.0", incrementality FULL_DATASET, timestamp = the server
//     clock, never decreasing from one build to the next;
//   - only vehicles whose newest fix is at most max_age_s (default 90 s) old;
//   - stable entity ids: TripUpdates "<trip_id>_<start_date>" (a trip instance; a trip of
//     frequencies.txt adds its run's start: "<trip_id>_<start_date>_<HH:MM:SS>"), VehiclePositions
//     the vehicle_id, Alerts the id their source gives;
//   - TripDescriptor with trip_id, route_id, direction_id, start_date and start_time (the run's
//     first departure; for a frequency-based run, its own start), VehicleDescriptor id/label;
//     schedule_relationship SCHEDULED, or UNSCHEDULED for a frequency-based trip
//     (frequencies.txt exact_times=0; its StopTimeUpdates are UNSCHEDULED too, and it has no
//     delay: there is no schedule to deviate from);
//   - TripUpdate per trip instance a vehicle is on or will run next in its block (the block's
//     next trips are their own entities, same vehicle); StopTimeUpdates with stop_sequence and
//     stop_id, arrival time (P50) with uncertainty = P90 - P10, departure time (the predicted
//     departure at a trip's first stop; at a stop whose schedule has a dwell, the arrival plus
//     that dwell, no later than the next stop's arrival; else the arrival), times never
//     decreasing along a trip; TripUpdate.delay = the vehicle's schedule deviation (current
//     trip) and timestamp = its fix. StopTimeEvent.scheduled_time is not set: the spec allows
//     it only on NEW / REPLACEMENT / DUPLICATED trips, which SmartBus does not publish;
//   - VehiclePosition with position, bearing, speed, current stop (the next stop to serve) and
//     current_status: STOPPED_AT when standing within Bus Time's "at stop" distance of it
//     (100 ft, siri.h), INCOMING_AT within its "approaching" distance (500 ft) before it, else
//     IN_TRANSIT_TO; occupancy_status when reported, timestamp of the fix;
//   - CANCELED trips and SKIPPED stops, and Alerts, from a ServiceChangesView when one is set.
// Each feed is built at most once per refresh interval and the bytes (protobuf, gzip'ed
// protobuf, JSON) are shared by every request until the next build.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>  // std::once_flag too
#include <string>
#include <utility>
#include <vector>

#include "services/core/common/mutex.h"
#include "services/server/live_view.h"

namespace transit_realtime {
class FeedMessage;
}

namespace smartbus::server {

class SmartbusServer;

// Service changes the feeds publish (cancelled trips, skipped stops, alerts); implemented by the
// alerts/cancellations model. Called from the feed builder's thread: must be thread-safe.
class ServiceChangesView {
 public:
  virtual ~ServiceChangesView() = default;
  // Trip instances cancelled as a whole, in effect at `now`: (trip_id, service date YYYYMMDD).
  virtual std::vector<std::pair<std::string, int32_t>> CanceledTrips(int64_t now) const = 0;
  // Whether a trip instance will not serve this stop (stop_id at stop_sequence); the same
  // question as ServiceChangeSet::TripStatus(...) == kSkipped of the service-changes model.
  virtual bool StopSkipped(const std::string& trip_id, int32_t service_date,
                           const std::string& stop_id, uint32_t stop_sequence) const = 0;
  // Adds the alerts active or upcoming at `now` as FeedEntity (stable ids) to `feed`.
  virtual void AppendAlerts(int64_t now, transit_realtime::FeedMessage* feed) const = 0;
};

enum class FeedKind { kTripUpdates = 0, kVehiclePositions = 1, kAlerts = 2 };

struct GtfsRtInputs {
  const Network* network = nullptr;
  std::vector<std::shared_ptr<const VehicleSnapshot>> vehicles;  // any order
  int64_t now_s = 0;          // header timestamp
  int64_t max_age_s = 90;     // vehicles with an older newest fix are left out
  const ServiceChangesView* changes = nullptr;  // optional
};

// The feed messages (pure functions of their inputs; entities sorted by id).
void BuildTripUpdates(const GtfsRtInputs& in, transit_realtime::FeedMessage* out);
void BuildVehiclePositions(const GtfsRtInputs& in, transit_realtime::FeedMessage* out);
void BuildAlerts(const GtfsRtInputs& in, transit_realtime::FeedMessage* out);

// "HH:MM:SS" of seconds since the service day start (hours may exceed 23).
std::string GtfsTime(int64_t seconds);

struct BuiltFeed {
  int64_t timestamp = 0;  // header timestamp (epoch s)
  std::string pb;         // serialized FeedMessage
  std::string pb_gzip;    // the same, gzip'ed
  size_t entities = 0;
  double build_seconds = 0;  // time taken by the build (for /metrics and the benchmark)
  // The protobuf JSON mapping of `pb`, made at the first ?format=json request of this build.
  const std::string& json() const;

 private:
  mutable std::once_flag json_once_;
  mutable std::string json_;
};

class GtfsRtFeeds {
 public:
  GtfsRtFeeds(SmartbusServer* server, int refresh_s, int64_t max_age_s);
  // The current bytes of a feed: built now if the cached build is older than the refresh
  // interval (one build at a time; concurrent callers wait for it and share it).
  std::shared_ptr<const BuiltFeed> Get(FeedKind kind);
  // Peek without building (nullptr before the first request).
  std::shared_ptr<const BuiltFeed> Last(FeedKind kind) const;
  // Set once, before serving (the view must outlive the feeds).
  void set_changes(const ServiceChangesView* changes) { changes_.store(changes); }
  uint64_t builds() const { return builds_.load(); }

 private:
  struct Slot {
    mutable Mutex mu;
    std::shared_ptr<const BuiltFeed> built ABSL_GUARDED_BY(mu);
    std::chrono::steady_clock::time_point built_at ABSL_GUARDED_BY(mu);
    int64_t last_timestamp ABSL_GUARDED_BY(mu) = 0;
  };
  SmartbusServer* server_;
  const std::chrono::seconds refresh_;
  const int64_t max_age_s_;
  std::atomic<const ServiceChangesView*> changes_{nullptr};
  std::atomic<uint64_t> builds_{0};
  Slot slots_[3];
};

class HttpServer;
// Adds /gtfs-rt/trip-updates, /gtfs-rt/vehicle-positions, /gtfs-rt/alerts (?format=json for
// people; Last-Modified, If-Modified-Since -> 304; gzip when accepted).
void AddGtfsRtRoutes(HttpServer* http, GtfsRtFeeds* feeds);

}  // namespace smartbus::server
