#pragma once
// Write-behind in front of a Store: producers (engine shards, ingest) Enqueue changes into a
// bounded queue; one writer thread drains it in batches (Store::Apply: one Redis pipeline per
// batch). While the store is down the writer keeps the queue, retries the failed batch with
// exponential backoff, reports NOT_SERVING, and catches up once the store is back.
//
// Guarantees:
//   - Enqueue never blocks on the store: it takes a mutex for a few moves and returns
//     RESOURCE_EXHAUSTED (naming the queue size) when the queue cannot take every change it was
//     given. Nothing accepted is ever dropped: an accepted change stays queued (or in the batch
//     being retried) until the store acknowledged it.
//   - Order: changes are applied in Enqueue order (one writer thread).
//   - Flush(timeout) waits until everything enqueued before the call has been applied.
//   - An accepted change reaches the store within about flush_interval + one batch while the
//     store is up.
// Thread safety: every method may be called from any thread. The Store must outlive the writer.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/store/store.h"

namespace smartbus {

struct StoreWriterOptions {
  // Changes the queue holds at most (beyond the batch being written). At 100,000 fixes/s this
  // is 2 s of buffering; about 250 bytes per queued fix.
  size_t queue_capacity = 200000;
  // Changes per Store::Apply (one Redis pipeline).
  size_t max_batch = 1024;
  // The writer waits at most this long for a batch to fill before writing what it has.
  absl::Duration flush_interval = absl::Milliseconds(5);
  // Retry delay after a failed batch: starts at min, doubles up to max.
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // Called from the writer thread whenever health changes (serving <-> not serving), e.g. to
  // log "storage NOT_SERVING: redis ...: Connection refused". May be empty.
  std::function<void(const StoreHealth&)> on_health_change;
};

struct StoreWriterStats {
  uint64_t enqueued = 0;     // changes accepted
  uint64_t applied = 0;      // changes acknowledged by the store
  uint64_t rejected = 0;     // changes refused with RESOURCE_EXHAUSTED
  uint64_t batches = 0;      // successful Store::Apply calls
  uint64_t failed_batches = 0;  // Store::Apply calls that failed (and were retried)
  size_t queued = 0;         // changes waiting now (including the batch in flight)
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

  // Serving while the last Store::Apply succeeded (or nothing failed yet); NOT_SERVING with the
  // store's error while batches fail.
  StoreHealth Health() const;
  StoreWriterStats Stats() const;

 private:
  void Run();
  void SetHealth(bool serving, std::string reason);

  Store* const store_;
  const StoreWriterOptions options_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // writer waits for changes / stop
  std::condition_variable done_cv_;   // Flush waits for progress
  // Accepted, not yet taken by the writer. The writer swaps it with its (cleared) batch
  // vector, so steady state allocates nothing for the queue itself.
  std::vector<StoreChange> pending_;
  uint64_t enqueued_seq_ = 0;  // changes accepted so far
  uint64_t applied_seq_ = 0;   // changes applied so far (in order)
  uint64_t flush_target_ = 0;  // a Flush waits for applied_seq_ to reach this
  size_t in_flight_ = 0;       // taken by the writer, not yet applied
  bool stop_ = false;
  StoreHealth health_;
  StoreWriterStats stats_;
  std::thread thread_;
};

}  // namespace smartbus
