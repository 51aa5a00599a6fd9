#pragma once
// The ingest pipeline, without gRPC: validates an IngestRequest, admits it against the shard
// and store queues (back-pressure), hands its fixes to the tracking shards and builds the
// IngestResponse once every fix was processed. IngestService (ingest_service.h) is its gRPC
// front; tests drive it directly (tests/server/ingest_test.cc).
//
// Thread safety: Submit may be called from any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "services/server/shard.h"
#include "services/store/store.h"
#include "smartbus/v1/ingest.pb.h"

namespace smartbus::server {

struct IngestOptions {
  // Most fixes in one IngestRequest (ServerOptions::max_batch).
  size_t max_batch = 10000;
  // Capacity of the store write queue, in changes (StoreWriterOptions::queue_capacity).
  size_t store_queue_capacity = 200000;
  // Admission: store changes reserved per fix (ServerOptions::store_changes_per_fix).
  int store_changes_per_fix = 3;
  // Answer only once the store applied the accepted fixes (ServerOptions::ack_persisted).
  bool ack_persisted = false;
};

class Ingest {
 public:
  // `shared` gives the shards, the store writer, the clock and the fix counters; `draining`
  // says the server is shutting down; `storage_health` names why storage is down (for the
  // RESOURCE_EXHAUSTED message).
  Ingest(const IngestOptions& options, ShardShared* shared, std::function<bool()> draining,
         std::function<StoreHealth()> storage_health);

  // Validates the request and hands its fixes to the shards; `done` gets the response once
  // every fix was processed (possibly on this thread, before Submit returns). A non-OK status
  // means the whole request was refused and `done` is never called.
  absl::Status Submit(const smartbus::v1::IngestRequest& req,
                      std::function<void(smartbus::v1::IngestResponse)> done);

  // Fixes received in requests that passed the batch-size checks.
  uint64_t fixes_received() const { return fixes_received_.load(std::memory_order_relaxed); }

 private:
  static void AnswerWhenPersisted(const IngestJob& j, StoreWriter* writer,
                                  smartbus::v1::IngestResponse r,
                                  const std::function<void(smartbus::v1::IngestResponse)>& done);
  // RESOURCE_EXHAUSTED when the store queue has no room for what n more fixes produce.
  absl::Status Admit(size_t n) const;
  // Sends each shard's part of the job to its queue; returns the parts queued. Fixes of a
  // full shard are marked overloaded (counted in *overloaded).
  int Dispatch(IngestJob& job, size_t* overloaded);

  const IngestOptions options_;
  ShardShared* const shared_;
  const std::function<bool()> draining_;
  const std::function<StoreHealth()> storage_health_;
  std::atomic<uint64_t> fixes_received_{0};
};

}  // namespace smartbus::server
