#pragma once
// Write-behind in front of a Store: producers (engine shards, ingest) Enqueue changes; one
// writer thread drains them in batches (Store::Apply: one Redis pipeline per batch). While the
// store is down the writer keeps everything, retries the failed batch with exponential backoff,
// reports NOT_SERVING, and catches up once the store is back.
//
// Three kinds of changes:
//   - Stop visits and models go through a bounded FIFO queue: each one is written, in Enqueue
//     order.
//   - Positions (Fix) go through the same queue, and are then coalesced per vehicle: a fix that
//     arrives less than position_window after the vehicle's previous fix was written is held,
//     with the vehicle's further fixes, until position_window after it arrived; they are then
//     written together (RedisStore: ONE stream entry, one XADD, for all of them). A vehicle
//     sending a fix every few seconds never waits (its fixes are written as they come); one
//     sending several per second costs one entry per window instead of one per fix. Held fixes
//     count against queue_capacity. A vehicle's positions are written in Enqueue order; across
//     vehicles, and relative to visits/models, a held fix may be written after changes
//     enqueued later.
//   - Vehicle states (VehicleRecord) are coalesced: the writer keeps only the newest state per
//     vehicle (a map bounded by the fleet size, not counted in queue_capacity) and writes the
//     dirty ones every state_interval and on Flush. At 10 fixes/s per bus this writes one hash
//     per bus per interval instead of ten.
//
// Guarantees:
//   - Enqueue never blocks on the store: it takes a mutex for a few moves and returns
//     RESOURCE_EXHAUSTED (naming the queue size) when the queue cannot take every change it was
//     given. Nothing accepted is ever dropped: an accepted change stays queued (held, or in the
//     batch being retried) until the store acknowledged it (a vehicle state until a newer state
//     of the same vehicle replaced it, or it was written).
//   - Flush(timeout) waits until everything enqueued before the call has been applied
//     (including held positions and the newest state of every vehicle).
//   - WhenApplied(Ticket(), done) calls done(true) once every position, visit and model
//     enqueued before Ticket() was applied by the store (smartbusd --ack=persisted answers a
//     batch of fixes from there); done(false) when the writer stops first.
//   - While the store is up, an accepted visit/model reaches it within about flush_interval
//     plus one batch, a position within position_window + flush_interval plus one batch, a
//     vehicle state within state_interval plus one batch.
// Thread safety: every method may be called from any thread. The Store must outlive the writer.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/core/common/mutex.h"
#include "services/store/store.h"

namespace smartbus {

struct StoreWriterOptions {
  // Positions, visits and models the queue holds at most (waiting plus the batch being
  // written). At 100,000 fixes/s this is 2 s of buffering; about 200 bytes per queued fix.
  size_t queue_capacity = 200000;
  // Changes per Store::Apply (one Redis pipeline).
  size_t max_batch = 1024;
  // The writer waits at most this long for a batch to fill before writing what it has.
  absl::Duration flush_interval = absl::Milliseconds(5);
  // Dirty vehicle states are written this often (and on Flush).
  absl::Duration state_interval = absl::Milliseconds(500);
  // Positions of one vehicle arriving within this window are written together (see above):
  // the most a position waits in the writer beyond flush_interval. 0 = every fix is written
  // on its own, as soon as possible.
  absl::Duration position_window = absl::Milliseconds(250);
  // Retry delay after a failed batch: starts at min, doubles up to max.
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Called from the writer thread whenever health changes (serving <-> not serving), e.g. to
  // log "storage NOT_SERVING: redis ...: Connection refused". May be empty.
  std::function<void(const StoreHealth&)> on_health_change;
};

struct StoreWriterStats {
  uint64_t enqueued = 0;        // changes accepted (vehicle states included)
  uint64_t applied = 0;         // changes acknowledged by the store
  uint64_t coalesced = 0;       // vehicle states replaced by a newer one before being written
  uint64_t rejected = 0;        // changes refused with RESOURCE_EXHAUSTED
  uint64_t batches = 0;         // successful Store::Apply calls
  uint64_t failed_batches = 0;  // Store::Apply calls that failed (and were retried)
  size_t queued = 0;            // queue entries waiting now (held positions and the batch in
                                // flight included)
  size_t held_positions = 0;    // positions held for coalescing now (part of queued)
  size_t dirty_vehicles = 0;    // vehicle states waiting to be written
};

class StoreWriter {
 public:
  // Starts the writer thread. `store` must outlive the writer.
  explicit StoreWriter(Store* store, StoreWriterOptions options = {});
  // Stops the thread after one last attempt to write what is queued (no retrying against a
  // down store: call Flush first for a clean shutdown).
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues one change (moved from only on success). RESOURCE_EXHAUSTED when the queue is full;
  // INVALID_ARGUMENT for a change no store can apply (empty vehicle id or model name).
  absl::Status Enqueue(StoreChange change);
  // Queues all changes or none (moved from only on success): RESOURCE_EXHAUSTED when they do
  // not all fit. For a gateway batch of fixes acknowledged as a whole.
  absl::Status EnqueueAll(absl::Span<StoreChange> changes);

  // Waits until every change enqueued before this call has been applied to the store.
  // DEADLINE_EXCEEDED (with the store's last error) when that takes longer than `timeout`.
  absl::Status Flush(absl::Duration timeout = absl::Seconds(10));
  // How many queue entries (positions, visits, models; not vehicle states) were enqueued so far.
  uint64_t Ticket() const;
  // Calls done(true), on the writer thread (or here when already so), once the store applied
  // every queue entry counted by `ticket`; done(false) if the writer stops before. Positions
  // held for coalescing delay it up to position_window (smartbusd --ack=persisted sets 0).
  void WhenApplied(uint64_t ticket, std::function<void(bool)> done);

  // Serving while the last Store::Apply succeeded (or nothing failed yet); NOT_SERVING with the
  // store's error while batches fail.
  StoreHealth Health() const;
  StoreWriterStats Stats() const;

 private:
  void Run();
  // The steps of Run's loop. Waits (under `l`) until there is work or something falls due.
  void WaitForWorkLocked(UniqueLock& l, std::chrono::steady_clock::time_point next_states)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves `incoming` into `batch`, holding back the fixes that come within `window` of their
  // vehicle's last written one; returns how many it held.
  size_t HoldPositions(std::chrono::steady_clock::time_point now, std::chrono::nanoseconds window,
                       std::vector<StoreChange>* incoming, std::vector<StoreChange>* batch);
  // Appends the held fixes due by `now` (all with `release_all`); returns how many.
  size_t ReleaseDuePositions(std::chrono::steady_clock::time_point now, bool release_all,
                             std::vector<StoreChange>* batch);
  // Applies `batch` in chunks of max_batch, retrying with `backoff`; false: gave up (stopping
  // while the store fails). Its first `queue_entries` entries came from the queue.
  bool WriteBatch(const std::vector<StoreChange>& batch, size_t queue_entries, bool stopping,
                  absl::Duration* backoff);
  // Every queue entry up to `taken_seq` is applied: calls the waiters it satisfies (with mu_
  // released meanwhile).
  void ReportAppliedLocked(uint64_t taken_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetHealth(bool serving, std::string reason);

  Store* const store_;
  const StoreWriterOptions options_;

  mutable Mutex mu_;
  std::condition_variable work_cv_;  // the writer waits for work / stop
  std::condition_variable done_cv_;  // Flush waits for the writer
  // Accepted, not yet taken by the writer. The writer swaps it with its (cleared) batch
  // vector, so steady state allocates nothing for the queue itself.
  std::vector<StoreChange> pending_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // queue entries taken by the writer, not yet applied
  // Positions held for coalescing (position_window): only the writer thread touches these.
  struct HeldPositions {
    std::chrono::steady_clock::time_point last_written{};  // when its last fix was batched
    std::chrono::steady_clock::time_point due{};           // when `fixes` are released
    std::vector<Fix> fixes;                                // non-empty while in due_
  };
  absl::node_hash_map<std::string, HeldPositions> held_;
  std::vector<HeldPositions*> due_;  // vehicles with held fixes, by due time from due_head_
  size_t due_head_ = 0;
  size_t held_count_ ABSL_GUARDED_BY(mu_) = 0;  // fixes in held_
  // Newest unwritten state per vehicle id.
  absl::flat_hash_map<std::string, VehicleRecord> dirty_ ABSL_GUARDED_BY(mu_);
  uint64_t enqueued_seq_ ABSL_GUARDED_BY(mu_) = 0;  // queue entries ever enqueued (Ticket)
  // Every queue entry up to this one has been applied.
  uint64_t applied_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // WhenApplied, by ticket.
  std::multimap<uint64_t, std::function<void(bool)>> waiters_ ABSL_GUARDED_BY(mu_);
  uint64_t flush_requested_ ABSL_GUARDED_BY(mu_) = 0;  // generation asked for by Flush calls
  uint64_t flush_done_ ABSL_GUARDED_BY(mu_) = 0;  // generation the writer completed
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  StoreHealth health_ ABSL_GUARDED_BY(mu_);
  StoreWriterStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace smartbus
