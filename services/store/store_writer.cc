#include "services/store/store_writer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

// Changes that can never be applied are refused at Enqueue, so a batch never fails for them.
absl::Status Validate(const StoreChange& c) {
  if (const auto* v = std::get_if<VehicleRecord>(&c)) {
    if (v->state.vehicle_id.empty()) return absl::InvalidArgumentError("vehicle state: empty vehicle_id");
  } else if (const auto* f = std::get_if<Fix>(&c)) {
    if (f->vehicle_id.empty()) return absl::InvalidArgumentError("position: empty vehicle_id");
  } else if (const auto* s = std::get_if<StopVisitRecord>(&c)) {
    if (s->visit.vehicle_id.empty()) return absl::InvalidArgumentError("stop visit: empty vehicle_id");
  } else if (const auto* m = std::get_if<ModelBlob>(&c)) {
    if (m->name.empty()) return absl::InvalidArgumentError("model: empty name");
  }
  return absl::OkStatus();
}

}  // namespace

StoreWriter::StoreWriter(Store* store, StoreWriterOptions options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

StoreWriter::~StoreWriter() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

absl::Status StoreWriter::Enqueue(StoreChange change) {
  return EnqueueAll(absl::MakeSpan(&change, 1));
}

absl::Status StoreWriter::EnqueueAll(absl::Span<StoreChange> changes) {
  for (const StoreChange& c : changes) {
    absl::Status s = Validate(c);
    if (!s.ok()) return s;
  }
  bool wake = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    const size_t waiting = pending_.size() + in_flight_;
    if (waiting + changes.size() > options_.queue_capacity) {
      stats_.rejected += changes.size();
      return absl::ResourceExhaustedError(absl::StrCat(
          "store queue full: ", waiting, " of ", options_.queue_capacity,
          " changes waiting for ", store_->Describe(),
          health_.serving ? "" : absl::StrCat(" (", health_.reason, ")"),
          "; retry later"));
    }
    const size_t before = pending_.size();
    for (StoreChange& c : changes) pending_.push_back(std::move(c));
    enqueued_seq_ += changes.size();
    stats_.enqueued += changes.size();
    // Wake the writer when it may sleep without a timeout (queue was empty) and when a full
    // batch is ready (it may be lingering for flush_interval).
    wake = before == 0 || (before < options_.max_batch && pending_.size() >= options_.max_batch);
  }
  if (wake) work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status StoreWriter::Flush(absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = enqueued_seq_;
  flush_target_ = std::max(flush_target_, target);
  work_cv_.notify_one();
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  while (applied_seq_ < target) {
    if (done_cv_.wait_until(l, deadline) == std::cv_status::timeout && applied_seq_ < target) {
      return absl::DeadlineExceededError(absl::StrCat(
          "store flush: ", target - applied_seq_, " changes not yet written to ",
          store_->Describe(), " after ", absl::FormatDuration(timeout),
          health_.serving ? "" : absl::StrCat(": ", health_.reason)));
    }
  }
  return absl::OkStatus();
}

StoreHealth StoreWriter::Health() const {
  std::lock_guard<std::mutex> l(mu_);
  return health_;
}

StoreWriterStats StoreWriter::Stats() const {
  std::lock_guard<std::mutex> l(mu_);
  StoreWriterStats s = stats_;
  s.queued = pending_.size() + in_flight_;
  return s;
}

void StoreWriter::SetHealth(bool serving, std::string reason) {
  StoreHealth h;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (health_.serving == serving && health_.reason == reason) return;
    const bool changed = health_.serving != serving;
    health_.serving = serving;
    health_.reason = std::move(reason);
    if (!changed) return;
    h = health_;
  }
  if (options_.on_health_change) options_.on_health_change(h);
}

void StoreWriter::Run() {
  std::vector<StoreChange> batch;
  absl::Duration backoff = options_.min_backoff;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    // Wait for a full batch, a flush, a stop, or the flush interval with something queued.
    if (pending_.size() < options_.max_batch && !stop_ && flush_target_ <= applied_seq_) {
      if (pending_.empty()) {
        work_cv_.wait(l, [&] {
          return stop_ || !pending_.empty();
        });
      }
      if (!stop_ && pending_.size() < options_.max_batch && flush_target_ <= applied_seq_) {
        work_cv_.wait_for(l, absl::ToChronoMilliseconds(options_.flush_interval), [&] {
          return stop_ || pending_.size() >= options_.max_batch || flush_target_ > applied_seq_;
        });
      }
    }
    if (pending_.empty()) {
      if (stop_) return;
      continue;
    }
    batch.swap(pending_);  // pending_ takes batch's (cleared) buffer: no allocation
    in_flight_ = batch.size();
    const bool stopping = stop_;
    l.unlock();

    // Write the batch in chunks of max_batch, retrying a failed chunk until it succeeds.
    size_t done = 0;
    bool gave_up = false;
    while (done < batch.size()) {
      const size_t n = std::min(options_.max_batch, batch.size() - done);
      absl::Status st = store_->Apply(absl::MakeConstSpan(batch.data() + done, n));
      if (st.ok() || absl::IsInvalidArgument(st)) {
        // INVALID_ARGUMENT: the store refused a malformed record (Validate lets none through);
        // retrying cannot help, the rest of the chunk was applied.
        done += n;
        backoff = options_.min_backoff;
        SetHealth(true, "");
        std::lock_guard<std::mutex> g(mu_);
        applied_seq_ += n;
        in_flight_ -= n;
        stats_.applied += n;
        stats_.batches += 1;
        done_cv_.notify_all();
        continue;
      }
      SetHealth(false, std::string(st.message()));
      {
        std::unique_lock<std::mutex> g(mu_);
        stats_.failed_batches += 1;
        if (stopping || stop_) {
          gave_up = true;
          break;
        }
        work_cv_.wait_for(g, absl::ToChronoMilliseconds(backoff), [&] { return stop_; });
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
    batch.clear();
    l.lock();
    if (gave_up) {
      // Stopping while the store is down: what is left is lost with the process; say so in the
      // stats (queued stays > 0) for the caller that did not Flush first.
      return;
    }
    in_flight_ = 0;
  }
}

}  // namespace smartbus
