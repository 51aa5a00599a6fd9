#pragma once
// ServiceChangeKeeper: the server's service changes (cancelled trips, skipped stops, alerts;
// services/core/service_changes/service_changes.h), kept in force, published to readers and
// persisted in the store.
//
// Every edit (an operator call, a GTFS-RT feed's new set) runs under one mutex: the in-memory
// change is made and published first (in force at once), then its diff is written to the
// store directly (edits are rare; they do not go through the StoreWriter queue). When the write
// fails the change stays in force and the keeper rewrites the whole set at the next Tick once
// the store answers again (so the store never keeps a change that was undone meanwhile).
//
// Readers: Current() (any thread, never waits), or LiveView::service_changes, which the server
// keeps equal to it (arrival boards read that one).
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "services/core/common/mutex.h"
#include "services/core/network/network.h"
#include "services/core/service_changes/service_changes.h"
#include "services/store/store.h"

namespace smartbus::server {

// Counters for GetServerStatus and /metrics.
struct ServiceChangeStats {
  uint64_t edits = 0;           // edits that changed something
  uint64_t store_writes = 0;    // successful ApplyServiceChanges calls
  uint64_t store_errors = 0;    // failed ones
  bool resync_pending = false;  // the store is behind memory (rewritten at the next Tick)
  size_t trips = 0;             // trip changes in force
  size_t alerts = 0;            // alerts in force
};

class ServiceChangeKeeper {
 public:
  // `on_publish` is called (under the keeper's mutex) after every edit that changed something
  // with the new snapshot: the server puts it into the live view and wakes the board streams.
  ServiceChangeKeeper(Store* store,
                      std::function<void(std::shared_ptr<const ServiceChangeSet>)> on_publish,
                      std::function<void(const std::string&)> log);

  // Reads the stored changes back (start). UNAVAILABLE when the store cannot be read: the
  // server then starts with none and rewrites its set when the store is back.
  absl::Status Recover();

  std::shared_ptr<const ServiceChangeSet> Current() const { return changes_.Current(); }

  // Runs one edit of the ServiceChanges (e.g. [&](ServiceChanges& c) { return c.Cancel(...); })
  // then publishes and persists its diff. Returns the edit's error, or whether the diff reached
  // the store (true also when there was nothing to write).
  absl::StatusOr<bool> Edit(
      const std::function<absl::StatusOr<ServiceChangeDiff>(ServiceChanges&)>& edit);

  // Periodic upkeep (the server's monitor thread, about once a second): drops trip changes of
  // service dates before `min_service_date` and ended alerts (at most once a minute), and
  // rewrites the whole set into the store when a write failed.
  void Tick(int32_t min_service_date, int64_t now_s);

  ServiceChangeStats Stats() const;

 private:
  bool PersistLocked(const ServiceChangeDiff& diff) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Store* const store_;
  const std::function<void(std::shared_ptr<const ServiceChangeSet>)> on_publish_;
  const std::function<void(const std::string&)> log_;
  ServiceChanges changes_;
  mutable Mutex mu_;  // serializes edits with their store writes
  bool resync_pending_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_prune_s_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t edits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t store_writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t store_errors_ ABSL_GUARDED_BY(mu_) = 0;
};

// The service date (YYYYMMDD) a trip runs on "now": yesterday's when the trip runs on
// yesterday's service day and has not finished by now_s (a trip past midnight), else today's,
// in the network's time zone.
int32_t ServiceDateInForce(const Network& net, TripIdx trip, int64_t now_s);

}  // namespace smartbus::server
