#include "services/core/engine/engine.h"

#include <algorithm>

namespace smartbus {

Engine::Engine(std::shared_ptr<const Network> network, const EngineOptions& options)
    : network_(network), options_(options), tracker_(network, options.tracker) {
  visits_.reserve(64);
  if (options_.backfill.enabled)
    backfill_ = std::make_unique<Backfill>(network, options.tracker, options.backfill);
}

void Engine::TrackLate(const Fix& fix, int64_t now_s) {
  last_late_ = false;
  if (match_.state == MatchState::kRejected) {
    if (match_.reason == RejectReason::kOutOfOrder) {
      backfill_->AddLate(fix);
      last_late_ = true;
    }
    return;
  }
  const int64_t prev_s = backfill_->Remember(fix);
  if (!visits_.empty() && prev_s > 0 &&
      fix.timestamp_s - prev_s > backfill_->options().hold_gap_s)
    backfill_->Hold(fix.vehicle_id, prev_s, fix.timestamp_s, now_s, &visits_);
}

void Engine::FlushLate(bool all) {
  if (!backfill_ || !backfill_->pending()) return;
  late_visits_.clear();
  backfill_->Flush(clock_s_, all, &late_visits_);
  for (EngineListener* l : listeners_)
    for (const StopVisit& v : late_visits_) l->OnStopVisit(v);
}

int64_t Engine::FixesClock(const Fix& fix) {
  const int64_t ts = fix.timestamp_s;
  if (!clock_set_) return ts;
  if (ts <= clock_s_) return clock_s_;
  // Ahead by more than max_clock_jump_s: the tracker rejects it against this clock.
  if (ts - clock_s_ > options_.max_clock_jump_s) return clock_s_;
  if (ts - clock_s_ <= options_.clock_step_s) return ts;
  // A big step: count the distinct vehicles that say so (forgetting claims the clock has since
  // caught up with; at most clock_quorum entries are ever kept).
  const int64_t step_end = clock_s_ + options_.clock_step_s;
  ahead_.erase(std::remove_if(ahead_.begin(), ahead_.end(),
                              [&](const auto& a) { return a.second <= step_end; }),
               ahead_.end());
  bool found = false;
  for (auto& [vehicle, t] : ahead_) {
    if (vehicle == fix.vehicle_id) {
      t = ts;
      found = true;
    }
  }
  if (!found) ahead_.emplace_back(fix.vehicle_id, ts);
  size_t quorum = static_cast<size_t>(std::max(1, options_.clock_quorum));
  quorum = std::min(quorum, std::max<size_t>(1, tracker_.num_vehicles()));
  if (ahead_.size() < quorum) return clock_s_;  // rejected as future_timestamp for now
  int64_t agreed = ts;
  for (const auto& a : ahead_) agreed = std::min(agreed, a.second);
  ahead_.clear();
  clock_s_ = agreed;  // the clock moves to what every one of them vouches for
  return ts;
}

void Engine::Process(const Fix& fix) {
  visits_.clear();
  int64_t now = clock_s_;
  if (options_.clock_mode == ClockMode::kFixes) now = FixesClock(fix);
  const VehicleState* state = tracker_.Process(fix, now, &match_, &visits_);
  if (backfill_) TrackLate(fix, now);
  if (options_.clock_mode == ClockMode::kFixes && match_.state != MatchState::kRejected &&
      (!clock_set_ || fix.timestamp_s > clock_s_)) {
    clock_s_ = fix.timestamp_s;
    clock_set_ = true;
  }
  for (EngineListener* l : listeners_) {
    for (const StopVisit& v : visits_) l->OnStopVisit(v);
    l->OnMatch(match_);
    if (state) l->OnVehicleUpdate(*state);
  }
  // Held visits whose hold expired by this fix's clock go out now, after the fix: one place,
  // so smartbusd (batches of fixes) and `smartbus replay --arrival-order` release them at the
  // same point of the stream.
  if (backfill_) FlushLate(false);
}

}  // namespace smartbus
