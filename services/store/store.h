#pragma once
// Persistence of what the engine learns: the latest state of every vehicle, each vehicle's recent
// position history, stop visits, the predictor's learned model (opaque bytes), and the paths
// learned for patterns without shapes.
//
// One interface (Store), two implementations:
//   - MemoryStore (services/store/memory_store.h): the embedded default, nothing survives exit.
//   - RedisStore  (services/store/redis_store.h): Redis via hiredis; the key layout is documented
//     in deploy/REDIS_KEYS.md.
// Writes from the hot path go through StoreWriter (services/store/store_writer.h): a bounded
// queue drained by one writer thread into pipelined batches (write-behind).
//
// Ids, not indices. VehicleState and StopVisit carry uint32 indices into the static Network
// (trip, route, stop); those change when a GTFS reload reorders the feed. The store therefore
// persists STRING ids only (trip_id, route_id, stop_id), carried next to the core struct in the
// records below. The caller fills them from the Network the indices refer to (see
// MakeVehicleRecord / MakeStopVisitRecord in services/store/network_ids.h). Records read back
// have every index field set to kNoIndex; recovery re-resolves the string ids against the
// CURRENT Network (ResolveIndices in network_ids.h); an id the new feed no longer has stays
// kNoIndex and the caller decides (e.g. treat the vehicle as unassigned).
//
// Typical wiring (smartbusd):
//   SB_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(flag_redis_url, store_options));
//   // recovery, before serving:
//   for (VehicleRecord& v : store->ListVehicles().value()) { ResolveIndices(v, *net); ... }
//   auto model = store->GetModel("segments");   // NOT_FOUND on a fresh Redis
//   StoreWriter writer(store.get(), writer_options);
//   // hot path, per accepted fix (RESOURCE_EXHAUSTED -> answer the client so):
//   writer.EnqueueAll(changes);   // {Fix, MakeVehicleRecord(state, *net), visits...}
//   // health service: writer.Health(); shutdown: writer.Flush(timeout).
//
// Thread safety: every Store method may be called from any thread concurrently.
// Errors: UNAVAILABLE when the backend cannot be reached (retry later), INVALID_ARGUMENT for a
// bad record (e.g. empty vehicle id), NOT_FOUND for a missing vehicle/model, DATA_LOSS for a
// stored value that cannot be decoded (the message names the key).

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/core/condition/condition.h"
#include "services/core/paths/learned_path.h"
#include "services/core/service_changes/service_changes.h"
#include "services/core/tracking/types.h"

namespace smartbus {

// Latest state of one vehicle, with the string ids of its trip and route.
struct VehicleRecord {
  VehicleState state;   // state.trip / state.route are not persisted (kNoIndex when read)
  std::string trip_id;  // empty when the vehicle has no trip
  std::string route_id; // empty when unknown
};

// One stop visit with the string ids of its trip, route and stop.
struct StopVisitRecord {
  StopVisit visit;      // visit.trip / .route / .stop are not persisted (kNoIndex when read)
  std::string trip_id;
  std::string route_id;
  std::string stop_id;
};

// Which stop visits to read. Empty strings match everything. The window is on arrival_s.
struct StopVisitQuery {
  std::string route_id;
  std::string stop_id;
  double from_s = -1e18;  // epoch seconds, inclusive
  double to_s = 1e18;     // epoch seconds, inclusive
  size_t limit = 100000;  // at most this many, oldest first
};

// A named, opaque blob (the predictor's learned model).
struct ModelBlob {
  std::string name;
  std::string bytes;
};

// One write, as queued by StoreWriter and applied by Store::Apply.
// Fix is one position of position history (Fix::vehicle_id names the vehicle); ConditionEvent
// one alarm raised or cleared (appended); DrivingDay a vehicle's driving time on a day (a put
// replaces).
using StoreChange =
    std::variant<VehicleRecord, Fix, StopVisitRecord, ModelBlob, ConditionEvent, DrivingDay>;

// The stored service changes (cancellations, skipped stops, alerts), as read back at start.
struct StoredServiceChanges {
  std::vector<TripChange> trips;  // sorted by TripChange::Key()
  std::vector<Alert> alerts;      // sorted by Alert::Key()
  // One message per stored record that could not be decoded (named by its key); those records
  // are left out, not fatal.
  std::vector<std::string> undecodable;
};

// Health of a store or of the writer in front of it.
struct StoreHealth {
  bool serving = true;  // false: NOT_SERVING
  std::string reason;   // why not serving (e.g. "redis 127.0.0.1:6379: Connection refused")
};

// Retention and layout options shared by every Store implementation.
struct StoreOptions {
  // Prefix of every Redis key ("sb:" gives "sb:veh:<vehicle_id>" ...). Lets several SmartBus
  // instances (or tests) share one Redis database. Ignored by MemoryStore.
  std::string key_prefix = "sb:";
  // Recent positions kept per vehicle. Readers get at most this many (the newest). Redis
  // stores several fixes of a vehicle written in one batch as one stream entry and trims
  // (XTRIM MAXLEN ~) every cap/10 fixes to the entries holding the newest cap fixes, so it may
  // hold up to about cap + cap/10 + one entry's fixes, plus Redis' own slack of up to 100
  // entries. 0 disables history.
  size_t positions_cap = 1000;
  // A vehicle's position history expires this long after its last write (Redis EXPIRE, wall
  // clock). 0 = never.
  int64_t positions_ttl_s = 2 * 86400;
  // A vehicle's latest state expires this long after its last write (wall clock). 0 = never.
  int64_t vehicle_ttl_s = 7 * 86400;
  // Stop visits older than this, counted back from the newest arrival written to the same
  // index (data time, so replaying an old day keeps it), are removed. 0 = keep forever.
  int64_t visits_retention_s = 14 * 86400;
  // Redis only: each visit sorted set is trimmed to the retention at most this often (when it
  // is written to); readers filter older visits out in between. 0 = in every batch.
  int64_t visits_trim_interval_s = 60;
  // Redis only: whether every Apply batch is wrapped in MULTI/EXEC. A batch is then
  // all-or-nothing, and with appendfsync always Redis fsyncs once per batch instead of once per
  // 16 KiB it reads (2-3x the throughput with a 10 ms fsync); without appendfsync always it only
  // costs CPU (about 1.7x Redis CPU per fix). kAuto asks the server at connect (CONFIG GET) and
  // uses MULTI/EXEC only when it runs appendonly yes + appendfsync always.
  enum class AtomicBatches { kAuto, kAlways, kNever };
  AtomicBatches redis_atomic_batches = AtomicBatches::kAuto;
  // Redis only: time to establish a connection, and to wait for any reply.
  absl::Duration connect_timeout = absl::Seconds(1);
  absl::Duration command_timeout = absl::Seconds(2);
};

class Store {
 public:
  virtual ~Store() = default;

  // --- Vehicles (latest state, one per vehicle id; a put replaces the previous one) ---
  virtual absl::Status PutVehicle(const VehicleRecord& v) = 0;
  // NOT_FOUND when the store has no (unexpired) state for the vehicle.
  virtual absl::StatusOr<VehicleRecord> GetVehicle(absl::string_view vehicle_id) = 0;
  // Every stored vehicle, sorted by vehicle id.
  virtual absl::StatusOr<std::vector<VehicleRecord>> ListVehicles() = 0;

  // --- Position history (per vehicle, capped at StoreOptions::positions_cap, oldest dropped) ---
  virtual absl::Status AppendPosition(const Fix& fix) = 0;
  // Every vehicle id with stored position history, sorted (recovery rebuilds these vehicles even
  // when their latest state was never written: smartbusd killed before its first flush).
  virtual absl::StatusOr<std::vector<std::string>> ListPositionVehicles() = 0;
  // Positions of the vehicle with timestamp_s >= since_s, sorted by timestamp_s, at most
  // positions_cap of them: the newest appended distinct timestamps. Of several fixes with the
  // same timestamp (a retried batch appends some twice: a write that timed out after the store
  // ran it is sent again) only the first appended is returned, and the copies do not crowd
  // older fixes out of the answer.
  // Empty when none.
  virtual absl::StatusOr<std::vector<Fix>> ReadPositions(absl::string_view vehicle_id,
                                                         int64_t since_s = 0) = 0;

  // --- Stop visits (retention StoreOptions::visits_retention_s; appending an identical visit
  //     twice stores it once) ---
  virtual absl::Status AppendStopVisit(const StopVisitRecord& v) = 0;
  // Matching visits sorted by arrival_s (ties: vehicle id, stop sequence).
  virtual absl::StatusOr<std::vector<StopVisitRecord>> ReadStopVisits(
      const StopVisitQuery& q) = 0;

  // --- Bus condition (written through Apply; retention StoreOptions::visits_retention_s) ---
  // Alarm events of the vehicle with time_s in [from_s, to_s], oldest first (ties: append
  // order). Empty when none.
  virtual absl::StatusOr<std::vector<ConditionEvent>> ReadConditionEvents(
      absl::string_view vehicle_id, int64_t from_s, int64_t to_s) = 0;
  // The vehicle's stored driving days, oldest first.
  virtual absl::StatusOr<std::vector<DrivingDay>> ReadDrivingDays(
      absl::string_view vehicle_id) = 0;

  // --- Learned model (opaque bytes under a name; a put replaces) ---
  virtual absl::Status PutModel(absl::string_view name, absl::string_view bytes) = 0;
  // NOT_FOUND when no model of that name was stored.
  virtual absl::StatusOr<std::string> GetModel(absl::string_view name) = 0;

  // --- Learned paths (services/core/paths: one per pattern key, evidence and fitted path; a
  //     put replaces; kept until overwritten) ---
  // INVALID_ARGUMENT for an empty key.
  virtual absl::Status PutLearnedPath(const LearnedPath& path) = 0;
  // Every stored learned path, sorted by key. Empty when none.
  virtual absl::StatusOr<std::vector<LearnedPath>> ListLearnedPaths() = 0;

  // --- Service changes (services/core/service_changes/service_changes.h). Rare writes (operator
  //     calls, a GTFS-RT feed's changes), made directly, not through the StoreWriter. ---
  // Writes the records of diff.put_* (replacing those with the same key) and deletes the keys
  // of diff.delete_* (a missing key is not an error). Redis: one pipeline. Safe to repeat.
  virtual absl::Status ApplyServiceChanges(const ServiceChangeDiff& diff) = 0;
  // Every stored trip change and alert.
  virtual absl::StatusOr<StoredServiceChanges> ListServiceChanges() = 0;

  // Applies many changes at once (Redis: one pipeline). Either every change was applied and OK
  // is returned, or an error is returned and any subset may have been applied: applying the
  // same batch again is safe (puts replace, identical visits dedupe, re-appended positions are
  // deduplicated on read). The caller keeps the batch (for a retry); Apply does not modify it.
  // A record that can never be stored (empty vehicle id / model name) is skipped and reported
  // as INVALID_ARGUMENT after the rest of the batch was applied (do not retry that).
  virtual absl::Status Apply(absl::Span<const StoreChange> changes) = 0;

  // Asks the backend now (Redis: PING, connecting first if needed): serving, or NOT_SERVING
  // with the reason. Blocks at most about connect_timeout + command_timeout, after any batch
  // in flight on the same connection. The StoreWriter's Health() is the cheap, cached view.
  virtual StoreHealth Health() = 0;

  // Human-readable description for logs ("memory", "redis 127.0.0.1:6379/0").
  virtual std::string Describe() const = 0;
};

// Opens a store: "" or "memory" gives a MemoryStore; "redis://host[:port][/db]" a RedisStore
// (port 6379 and db 0 by default; connects lazily, so a down Redis is not an error here, only
// a malformed URL is: INVALID_ARGUMENT naming the part that is wrong).
absl::StatusOr<std::unique_ptr<Store>> OpenStore(absl::string_view url,
                                                 const StoreOptions& options = {});

}  // namespace smartbus
