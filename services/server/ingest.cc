#include "services/server/ingest.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/core/common/status_macros.h"
#include "services/server/convert.h"

namespace smartbus::server {

Ingest::Ingest(const IngestOptions& options, ShardShared* shared, std::function<bool()> draining,
               std::function<StoreHealth()> storage_health)
    : options_(options), shared_(shared), draining_(std::move(draining)),
      storage_health_(std::move(storage_health)) {}

absl::Status Ingest::Admit(size_t n) const {
  // The store queue must have room for what this request and the fixes already queued in the
  // shards will produce.
  size_t in_shards = 0;
  for (const Shard* sh : shared_->shards) in_shards += sh->queued();
  const StoreWriterStats ws = shared_->writer->Stats();
  const size_t cap = options_.store_queue_capacity;
  const size_t need = (n + in_shards) * static_cast<size_t>(options_.store_changes_per_fix);
  if (ws.queued + need <= cap) return absl::OkStatus();
  shared_->overloaded.fetch_add(n, std::memory_order_relaxed);
  StoreHealth h = storage_health_();
  return absl::ResourceExhaustedError(absl::StrCat(
      "store write queue full (", ws.queued, " of ", cap, " changes queued; storage ",
      h.serving ? "is slower than ingest" : absl::StrCat("down: ", h.reason),
      "): retry the same request after a back-off"));
}

int Ingest::Dispatch(IngestJob& job, size_t* overloaded) {
  const std::vector<Shard*>& shards = shared_->shards;
  int parts = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    auto& idx = job.by_shard[s];
    if (idx.empty()) continue;
    if (shards[s]->TryReserve(idx.size())) {
      ++parts;
      continue;
    }
    const std::string why =
        absl::StrCat("shard ", s, " queue full (", shards[s]->queued(), " of ",
                     shards[s]->capacity(), " fixes): send this fix again after a back-off");
    for (uint32_t i : idx) {
      job.reason[i] = kReasonOverloaded;
      job.detail[i] = why;
    }
    *overloaded += idx.size();
    idx.clear();
  }
  return parts;
}

// --ack=persisted: `r` goes out once the store applied every accepted fix of the job (and
// everything enqueued before); if the writer stops first, the accepted fixes are answered
// OVERLOADED (send again) instead, since nothing of them is promised.
void Ingest::AnswerWhenPersisted(const IngestJob& j, StoreWriter* writer, pb::IngestResponse r,
                                 const std::function<void(pb::IngestResponse)>& done) {
  struct Accepted {
    uint32_t index;
    std::string vehicle_id;
    int64_t timestamp;
  };
  std::vector<Accepted> acc;
  for (size_t i = 0; i < j.fixes.size(); ++i)
    if (j.reason[i] == kAccepted)
      acc.push_back({static_cast<uint32_t>(i), j.fixes[i].vehicle_id, j.fixes[i].timestamp_s});
  writer->WhenApplied(writer->Ticket(), [done, r = std::move(r),
                                         acc = std::move(acc)](bool ok) mutable {
    if (!ok) {
      for (const Accepted& a : acc) {
        pb::FixRejection* rej = r.add_rejections();
        rej->set_index(a.index);
        rej->set_vehicle_id(a.vehicle_id);
        rej->set_timestamp(a.timestamp);
        rej->set_reason(pb::REJECT_REASON_OVERLOADED);
        rej->set_detail("not stored before the server stopped: send this fix again");
      }
      r.set_accepted(0);
    }
    done(std::move(r));
  });
}

absl::Status Ingest::Submit(const pb::IngestRequest& req,
                            std::function<void(pb::IngestResponse)> done) {
  if (draining_()) return absl::UnavailableError("server is shutting down: reconnect and send again");
  const size_t n = static_cast<size_t>(req.fixes_size());
  if (n == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("fixes: empty request (send 1..", options_.max_batch, " fixes)"));
  if (n > options_.max_batch)
    return absl::InvalidArgumentError(
        absl::StrCat("fixes: ", n, " fixes in one request, the limit is ", options_.max_batch,
                     " (--max_batch): split the batch"));
  fixes_received_.fetch_add(n, std::memory_order_relaxed);
  SB_RETURN_IF_ERROR(Admit(n));
  const std::vector<Shard*>& shards = shared_->shards;
  auto job = std::make_shared<IngestJob>();
  job->fixes.resize(n);
  job->reason.assign(n, 0);
  job->detail.resize(n);
  job->by_shard.resize(shards.size());
  size_t invalid = 0;
  for (size_t i = 0; i < n; ++i) {
    int reason = FixFromProto(req.fixes(static_cast<int>(i)), &job->fixes[i], &job->detail[i]);
    if (reason != 0) {
      job->reason[i] = static_cast<uint8_t>(reason);
      shared_->rejected_by_reason[reason & 15].fetch_add(1, std::memory_order_relaxed);
      job->fixes[i].vehicle_id = req.fixes(static_cast<int>(i)).vehicle_id();
      job->fixes[i].timestamp_s = req.fixes(static_cast<int>(i)).timestamp();
      ++invalid;
      continue;
    }
    job->by_shard[ShardIndexOf(job->fixes[i].vehicle_id, shards.size())].push_back(
        static_cast<uint32_t>(i));
  }
  if (invalid) shared_->rejected.fetch_add(invalid, std::memory_order_relaxed);
  size_t overloaded = 0;
  const int parts = Dispatch(*job, &overloaded);
  if (overloaded) shared_->overloaded.fetch_add(overloaded, std::memory_order_relaxed);
  if (parts == 0 && overloaded > 0 && invalid == 0)
    return absl::ResourceExhaustedError(absl::StrCat(
        "every shard queue this request needs is full (", overloaded,
        " fixes refused): retry the same request after a back-off"));
  const uint64_t seq = req.sequence();
  const ServerClock* clock = shared_->clock;
  StoreWriter* persist = options_.ack_persisted ? shared_->writer : nullptr;
  job->on_done = [seq, clock, persist, done = std::move(done)](IngestJob& j) {
    pb::IngestResponse r;
    r.set_sequence(seq);
    const int64_t now = clock->Now();
    uint32_t accepted = 0;
    for (size_t i = 0; i < j.fixes.size(); ++i) {
      if (j.reason[i] == kAccepted) {
        ++accepted;
        continue;
      }
      pb::FixRejection* rej = r.add_rejections();
      rej->set_index(static_cast<uint32_t>(i));
      rej->set_vehicle_id(j.fixes[i].vehicle_id);
      rej->set_timestamp(j.fixes[i].timestamp_s);
      rej->set_reason(static_cast<pb::RejectReason>(j.reason[i]));
      rej->set_detail(j.detail[i].empty() ? RejectDetail(j.reason[i], j.fixes[i], now)
                                          : j.detail[i]);
    }
    r.set_accepted(accepted);
    r.set_server_time(now);
    if (persist == nullptr || accepted == 0) return done(std::move(r));
    AnswerWhenPersisted(j, persist, std::move(r), done);
  };
  job->parts.store(parts, std::memory_order_release);
  if (parts == 0) {
    job->on_done(*job);
    return absl::OkStatus();
  }
  for (size_t s = 0; s < shards.size(); ++s)
    if (!job->by_shard[s].empty()) shards[s]->SubmitFixes(job);
  return absl::OkStatus();
}

}  // namespace smartbus::server
