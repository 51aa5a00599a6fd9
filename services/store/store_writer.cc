#include "services/store/store_writer.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/core/common/status_macros.h"

namespace smartbus {
namespace {

// Changes that can never be applied are refused at Enqueue, so a batch never fails for them.
absl::Status Validate(const StoreChange& c) {
  if (const auto* v = std::get_if<VehicleRecord>(&c)) {
    if (v->state.vehicle_id.empty()) {
      return absl::InvalidArgumentError("vehicle state: empty vehicle_id");
    }
  } else if (const auto* f = std::get_if<Fix>(&c)) {
    if (f->vehicle_id.empty()) return absl::InvalidArgumentError("position: empty vehicle_id");
  } else if (const auto* s = std::get_if<StopVisitRecord>(&c)) {
    if (s->visit.vehicle_id.empty()) {
      return absl::InvalidArgumentError("stop visit: empty vehicle_id");
    }
  } else if (const auto* m = std::get_if<ModelBlob>(&c)) {
    if (m->name.empty()) return absl::InvalidArgumentError("model: empty name");
  } else if (const auto* e = std::get_if<ConditionEvent>(&c)) {
    if (e->vehicle_id.empty() || e->alarm.empty())
      return absl::InvalidArgumentError("alarm event: empty vehicle_id or alarm");
  } else if (const auto* d = std::get_if<DrivingDay>(&c)) {
    if (d->vehicle_id.empty()) return absl::InvalidArgumentError("driving day: empty vehicle_id");
  }
  return absl::OkStatus();
}

std::chrono::steady_clock::time_point SteadyAfter(absl::Duration d) {
  return std::chrono::steady_clock::now() +
         std::chrono::nanoseconds(absl::ToInt64Nanoseconds(d));
}

}  // namespace

StoreWriter::StoreWriter(Store* store, StoreWriterOptions options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

StoreWriter::~StoreWriter() {
  {
    MutexLock l(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
  std::multimap<uint64_t, std::function<void(bool)>> left;
  {
    MutexLock l(mu_);
    left.swap(waiters_);
  }
  for (auto& [t, done] : left) done(false);
}

uint64_t StoreWriter::Ticket() const {
  MutexLock l(mu_);
  return enqueued_seq_;
}

void StoreWriter::WhenApplied(uint64_t ticket, std::function<void(bool)> done) {
  {
    MutexLock l(mu_);
    if (ticket > applied_seq_) {
      waiters_.emplace(ticket, std::move(done));
      return;
    }
  }
  done(true);
}

absl::Status StoreWriter::Enqueue(StoreChange change) {
  return EnqueueAll(absl::MakeSpan(&change, 1));
}

absl::Status StoreWriter::EnqueueAll(absl::Span<StoreChange> changes) {
  size_t queue_entries = 0;
  for (const StoreChange& c : changes) {
    SB_RETURN_IF_ERROR(Validate(c));
    queue_entries += !std::holds_alternative<VehicleRecord>(c);
  }
  bool wake = false;
  {
    MutexLock l(mu_);
    const size_t waiting = pending_.size() + in_flight_ + held_count_;
    if (waiting + queue_entries > options_.queue_capacity) {
      stats_.rejected += changes.size();
      return absl::ResourceExhaustedError(absl::StrCat(
          "store queue full: ", waiting, " of ", options_.queue_capacity,
          " changes waiting for ", store_->Describe(),
          health_.serving ? "" : absl::StrCat(" (", health_.reason, ")"), "; retry later"));
    }
    const size_t before = pending_.size();
    for (StoreChange& c : changes) {
      if (auto* v = std::get_if<VehicleRecord>(&c)) {
        auto [it, inserted] = dirty_.try_emplace(v->state.vehicle_id);
        if (!inserted) ++stats_.coalesced;
        it->second = std::move(*v);
      } else {
        pending_.push_back(std::move(c));
      }
    }
    stats_.enqueued += changes.size();
    enqueued_seq_ += pending_.size() - before;
    // Wake the writer when the queue was empty (it may be asleep until the next state or
    // position due time, or without a timeout) and when a full batch is ready (it may be
    // lingering for flush_interval).
    wake = before == 0 ||
           (before < options_.max_batch && pending_.size() >= options_.max_batch);
  }
  if (wake) work_cv_.notify_one();
  return absl::OkStatus();
}

absl::Status StoreWriter::Flush(absl::Duration timeout) {
  UniqueLock l(mu_);
  const uint64_t gen = ++flush_requested_;
  work_cv_.notify_one();
  const bool flushed = done_cv_.wait_until(
      l.native(), SteadyAfter(timeout),
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return flush_done_ >= gen; });
  if (!flushed) {
    return absl::DeadlineExceededError(absl::StrCat(
        "store flush: ", pending_.size() + in_flight_ + held_count_, " changes and ",
        dirty_.size(),
        " vehicle states not yet written to ", store_->Describe(), " after ",
        absl::FormatDuration(timeout),
        health_.serving ? "" : absl::StrCat(": ", health_.reason)));
  }
  return absl::OkStatus();
}

StoreHealth StoreWriter::Health() const {
  MutexLock l(mu_);
  return health_;
}

StoreWriterStats StoreWriter::Stats() const {
  MutexLock l(mu_);
  StoreWriterStats s = stats_;
  s.queued = pending_.size() + in_flight_ + held_count_;
  s.held_positions = held_count_;
  s.dirty_vehicles = dirty_.size();
  return s;
}

void StoreWriter::SetHealth(bool serving, std::string reason) {
  StoreHealth h;
  {
    MutexLock l(mu_);
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
  using Clock = std::chrono::steady_clock;
  std::vector<StoreChange> incoming, batch;
  absl::Duration backoff = options_.min_backoff;
  const auto window = std::chrono::nanoseconds(absl::ToInt64Nanoseconds(options_.position_window));
  const bool coalesce = window.count() > 0;
  auto next_states = SteadyAfter(options_.state_interval);
  auto next_sweep = SteadyAfter(absl::Seconds(10));
  UniqueLock l(mu_);
  while (true) {
    WaitForWorkLocked(l, next_states);
    const uint64_t gen = flush_requested_;
    const auto now = Clock::now();
    const bool release_all = stop_ || gen > flush_done_;
    const bool take_states = release_all || now >= next_states;
    const bool holds_due =
        due_head_ < due_.size() && (release_all || due_[due_head_]->due <= now);
    if (pending_.empty() && !holds_due && (!take_states || dirty_.empty())) {
      if (take_states) {
        flush_done_ = gen;
        done_cv_.notify_all();
        next_states = SteadyAfter(options_.state_interval);
      }
      if (stop_) return;
      continue;
    }
    const uint64_t taken_seq = enqueued_seq_;  // every entry up to it is in incoming or held
    incoming.swap(pending_);  // pending_ takes incoming's (cleared) buffer: no allocation
    in_flight_ = incoming.size();
    const bool stopping = stop_;
    l.Unlock();

    batch.clear();
    const size_t newly_held = HoldPositions(now, window, &incoming, &batch);
    const size_t released = ReleaseDuePositions(now, release_all, &batch);
    if (coalesce && now >= next_sweep) {
      // Forget vehicles idle for a while (a map bounded by the active fleet).
      next_sweep = SteadyAfter(absl::Seconds(10));
      absl::erase_if(held_, [&](const auto& kv) {
        return kv.second.fixes.empty() && now - kv.second.last_written >= window;
      });
    }

    l.Lock();
    held_count_ = held_count_ + newly_held - released;
    in_flight_ = batch.size();
    if (take_states) {
      for (auto& [id, rec] : dirty_) batch.emplace_back(std::move(rec));
      dirty_.clear();
      next_states = SteadyAfter(options_.state_interval);
    }
    const size_t queue_entries = in_flight_;
    l.Unlock();

    const bool gave_up = !WriteBatch(batch, queue_entries, stopping, &backoff);
    batch.clear();
    l.Lock();
    // Stopping while the store is down: what is left is lost with the process (the caller
    // did not Flush first); Stats().queued says how much.
    if (gave_up) return;
    in_flight_ = 0;
    if (take_states) {
      flush_done_ = std::max(flush_done_, gen);
      done_cv_.notify_all();
    }
    if (held_count_ == 0 && taken_seq > applied_seq_) ReportAppliedLocked(taken_seq);
  }
}

void StoreWriter::WaitForWorkLocked(UniqueLock& l,
                                    std::chrono::steady_clock::time_point next_states) {
  // Wait for a full batch, a flush, a stop, the flush interval with something queued, the
  // state interval with dirty states, or held positions falling due.
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || pending_.size() >= options_.max_batch || flush_requested_ > flush_done_;
  };
  if (ready()) return;
  const bool holding = due_head_ < due_.size();
  if (pending_.empty() && dirty_.empty() && !holding) {
    work_cv_.wait(l.native(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ready() || !pending_.empty() || !dirty_.empty();
    });
  }
  if (ready()) return;
  auto until = next_states;
  if (holding) until = std::min(until, due_[due_head_]->due);
  if (pending_.empty()) {
    // Until something is queued (EnqueueAll wakes us), a state or a position is due.
    work_cv_.wait_until(l.native(), until, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ready() || !pending_.empty();
    });
  }
  if (!ready() && !pending_.empty()) {
    until = std::min(until, SteadyAfter(options_.flush_interval));
    work_cv_.wait_until(l.native(), until, ready);
  }
}

size_t StoreWriter::HoldPositions(std::chrono::steady_clock::time_point now,
                                  std::chrono::nanoseconds window,
                                  std::vector<StoreChange>* incoming,
                                  std::vector<StoreChange>* batch) {
  // Positions: write a vehicle's fix at once unless its previous one was written less than
  // `window` ago; then hold it (and the vehicle's next ones) until `window` after it came.
  const bool coalesce = window.count() > 0;
  size_t newly_held = 0;
  for (StoreChange& c : *incoming) {
    Fix* f = coalesce ? std::get_if<Fix>(&c) : nullptr;
    if (f == nullptr) {
      batch->push_back(std::move(c));
      continue;
    }
    HeldPositions& h = held_[f->vehicle_id];
    if (h.fixes.empty()) {
      if (now - h.last_written >= window) {
        h.last_written = now;
        batch->push_back(std::move(c));
        continue;
      }
      h.due = now + window;
      due_.push_back(&h);
    }
    h.fixes.push_back(std::move(*f));
    ++newly_held;
  }
  incoming->clear();
  return newly_held;
}

size_t StoreWriter::ReleaseDuePositions(std::chrono::steady_clock::time_point now,
                                        bool release_all, std::vector<StoreChange>* batch) {
  size_t released = 0;
  while (due_head_ < due_.size() && (release_all || due_[due_head_]->due <= now)) {
    HeldPositions* h = due_[due_head_++];
    for (Fix& f : h->fixes) batch->emplace_back(std::move(f));
    released += h->fixes.size();
    h->fixes.clear();
    h->last_written = now;
  }
  if (due_head_ == due_.size()) {
    due_.clear();
    due_head_ = 0;
  } else if (due_head_ >= 4096 && due_head_ * 2 >= due_.size()) {
    due_.erase(due_.begin(), due_.begin() + ptrdiff_t(due_head_));
    due_head_ = 0;
  }
  return released;
}

bool StoreWriter::WriteBatch(const std::vector<StoreChange>& batch, size_t queue_entries,
                             bool stopping, absl::Duration* backoff) {
  // Write the batch in chunks of max_batch, retrying a failed chunk until it succeeds.
  size_t done = 0;
  while (done < batch.size()) {
    const size_t n = std::min(options_.max_batch, batch.size() - done);
    absl::Status st = store_->Apply(absl::MakeConstSpan(batch.data() + done, n));
    if (st.ok() || absl::IsInvalidArgument(st)) {
      // INVALID_ARGUMENT: the store refused a malformed record (Validate lets none through);
      // retrying cannot help, the rest of the chunk was applied.
      SetHealth(true, "");
      *backoff = options_.min_backoff;
      MutexLock g(mu_);
      // Queue entries come first in the batch, vehicle states after them.
      const size_t queue_part = done >= queue_entries ? 0 : std::min(n, queue_entries - done);
      in_flight_ -= queue_part;
      stats_.applied += n;
      stats_.batches += 1;
      done += n;
      continue;
    }
    SetHealth(false, std::string(st.message()));
    UniqueLock g(mu_);
    stats_.failed_batches += 1;
    if (stopping || stop_) return false;
    work_cv_.wait_for(g.native(), std::chrono::nanoseconds(absl::ToInt64Nanoseconds(*backoff)),
                      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; });
    g.Unlock();
    *backoff = std::min(*backoff * 2, options_.max_backoff);
  }
  return true;
}

void StoreWriter::ReportAppliedLocked(uint64_t taken_seq) {
  // Nothing is held back: every entry up to taken_seq has been applied.
  applied_seq_ = taken_seq;
  if (waiters_.empty() || waiters_.begin()->first > applied_seq_) return;
  std::vector<std::function<void(bool)>> ready;
  auto end = waiters_.upper_bound(applied_seq_);
  for (auto it = waiters_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
  waiters_.erase(waiters_.begin(), end);
  // The caller's UniqueLock still counts mu_ as its own: it is held again when we return.
  mu_.Unlock();
  for (auto& done : ready) done(true);
  mu_.Lock();
}

}  // namespace smartbus
