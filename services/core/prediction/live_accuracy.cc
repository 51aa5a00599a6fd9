#include "services/core/prediction/live_accuracy.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace smartbus {
namespace {

constexpr int64_t kHourS = 3600;
// The sweep (forgetting what is due) runs once per this much clock: a held prediction lives at
// most this much longer than its option says.
constexpr int64_t kSweepEveryS = 60;

int64_t HourOf(double t_s) {
  const int64_t t = static_cast<int64_t>(std::floor(t_s));
  return t - ((t % kHourS) + kHourS) % kHourS;
}

// t - base clamped to [lo, hi]; `none` for kNoTime.
template <typename T>
T Off(int64_t t, int64_t base, T none) {
  if (t == kNoTime) return none;
  return static_cast<T>(std::clamp<int64_t>(t - base, std::numeric_limits<T>::min() + 1,
                                            std::numeric_limits<T>::max()));
}

}  // namespace

AccuracyTally& LiveAccuracy::TallyAt(int64_t t_s, uint32_t route) {
  return tallies_[TallyKey{HourOf(static_cast<double>(t_s)), route}];
}

ScoredPrediction LiveAccuracy::Score(const Held& h, double observed_s) const {
  const int64_t made = MadeAt(h), pred = made + h.predicted_off;
  const int64_t p10 = h.p10_off == kNoOff ? kNoTime : pred + h.p10_off;
  const int64_t p90 = h.p90_off == kNoOff ? kNoTime : pred + h.p90_off;
  return ScorePrediction(made, pred, p10, p90, observed_s);
}

LiveAccuracy::StopEntry& LiveAccuracy::StopAt(TripEntry& t, uint32_t stop_index) {
  if (stop_index >= t.stops.size()) t.stops.resize(stop_index + 1);
  return t.stops[stop_index];
}

void LiveAccuracy::Apply(const Held& h, StopEntry& s, uint32_t route, int sign) {
  const ScoredPrediction sc = Score(h, s.observed_s);
  TallyAt(MadeAt(h), route).Add(sc, h.source, sign);
  if (sign > 0 && sc.covers && !s.covered) {
    s.covered = true;
    TallyAt(static_cast<int64_t>(s.observed_s), route).arrivals_with_prediction_1_30min += 1;
  }
}

void LiveAccuracy::AddPrediction(const Prediction& p, uint32_t route) {
  MutexLock lock(mu_);
  Batch batch;
  AddLocked(p, route, &batch);
}

void LiveAccuracy::AddPredictions(absl::Span<const Prediction> ps,
                                  const std::function<uint32_t(uint32_t trip)>& route_of) {
  MutexLock lock(mu_);
  Batch batch;
  uint32_t route = kNoIndex;
  for (size_t i = 0; i < ps.size(); ++i) {
    const Prediction& p = ps[i];
    if (i == 0 || p.trip != ps[i - 1].trip || p.service_date != ps[i - 1].service_date) {
      batch.trip = nullptr;
      if (i == 0 || p.trip != ps[i - 1].trip) route = route_of(p.trip);
    }
    AddLocked(p, route, &batch);
  }
}

void LiveAccuracy::AddLocked(const Prediction& p, uint32_t route, Batch* batch) {
  clock_s_ = std::max(clock_s_, p.made_at_s);
  if (base_s_ < 0) base_s_ = p.made_at_s;
  const int64_t hour = HourOf(static_cast<double>(p.made_at_s));
  if (!batch->tally || batch->tally_hour != hour || batch->tally_route != route) {
    batch->tally = &tallies_[TallyKey{hour, route}];
    batch->tally_hour = hour;
    batch->tally_route = route;
  }
  AccuracyTally& t = *batch->tally;
  if (p.stop_index == 0) {  // a trip's first stop is never observed (not scored)
    ++t.rows;
    ++t.unobserved;
    return;
  }
  if (batch->trip == nullptr) {
    batch->trip = &trips_[TripKey{p.trip, p.service_date}];
    batch->trip->route = route;
  }
  TripEntry& trip = *batch->trip;
  trip.last_s = std::max(trip.last_s, p.made_at_s);
  StopEntry& s = StopAt(trip, p.stop_index);
  if (options_.min_interval_s > 0 && !s.held.empty() &&
      p.made_at_s - MadeAt(s.held.back()) < options_.min_interval_s) {
    ++thinned_;
    return;
  }
  ++t.rows;
  if (s.visits >= 2) {
    ++t.unobserved;
    return;
  }
  const Held h{static_cast<int32_t>(p.made_at_s - base_s_),
               Off<int32_t>(p.predicted_arrival_s, p.made_at_s, 0),
               Off<int16_t>(p.p10_s, p.predicted_arrival_s, kNoOff),
               Off<int16_t>(p.p90_s, p.predicted_arrival_s, kNoOff), p.source};
  if (s.visits == 1) Apply(h, s, route, +1);
  if (s.committed) return;
  s.held.push_back(h);
  ++held_;
  if (s.visits == 0) trip.due_s = std::min(trip.due_s, p.made_at_s + options_.pending_max_age_s);
}

void LiveAccuracy::AddObserved(const StopVisit& v, uint32_t route, bool own) {
  if (v.stop_index == 0) return;
  MutexLock lock(mu_);
  const TripKey key{v.trip, v.service_date};
  auto it = trips_.find(key);
  if (it == trips_.end()) {
    if (!own) return;  // nothing predicted here for this trip instance
    it = trips_.try_emplace(key).first;
    it->second.route = route;
  }
  TripEntry& trip = it->second;
  trip.last_s = std::max({trip.last_s, clock_s_, static_cast<int64_t>(v.arrival_s)});
  StopEntry& s = StopAt(trip, v.stop_index);
  if (s.visits >= 2) return;
  if (++s.visits == 2) {
    SecondVisit(s, trip.route);
    return;
  }
  s.observed_s = v.arrival_s;
  s.own = own;
  if (own) TallyAt(static_cast<int64_t>(v.arrival_s), trip.route).observed_arrivals += 1;
  for (const Held& h : s.held) Apply(h, s, trip.route, +1);
  trip.due_s = std::min(trip.due_s, static_cast<int64_t>(s.observed_s) + options_.ambiguity_hold_s);
}

void LiveAccuracy::SecondVisit(StopEntry& s, uint32_t route) {
  if (s.committed) {  // too late to take its predictions back: they stay scored
    ++late_second_visits_;
    s.visits = 1;
    return;
  }
  const int64_t obs = static_cast<int64_t>(s.observed_s);
  if (s.own) TallyAt(obs, route).observed_arrivals -= 1;
  if (s.covered) TallyAt(obs, route).arrivals_with_prediction_1_30min -= 1;
  for (const Held& h : s.held) {
    Apply(h, s, route, -1);
    TallyAt(MadeAt(h), route).unobserved += 1;
  }
  held_ -= static_cast<int64_t>(s.held.size());
  std::vector<Held>().swap(s.held);
}

void LiveAccuracy::FinishTrip(TripEntry& t) {
  for (StopEntry& s : t.stops) {
    if (s.visits == 0)
      for (const Held& h : s.held) TallyAt(MadeAt(h), t.route).unobserved += 1;
    held_ -= static_cast<int64_t>(s.held.size());
  }
}

void LiveAccuracy::Advance(int64_t now_s) {
  MutexLock lock(mu_);
  clock_s_ = std::max(clock_s_, now_s);
  if (clock_s_ < next_sweep_s_) return;
  next_sweep_s_ = clock_s_ + kSweepEveryS;
  SweepLocked();
}

void LiveAccuracy::SweepLocked() {
  for (auto it = trips_.begin(); it != trips_.end();) {
    TripEntry& t = it->second;
    if (clock_s_ - t.last_s > options_.trip_idle_s) {
      FinishTrip(t);
      trips_.erase(it++);
      continue;
    }
    if (t.due_s <= clock_s_) SweepTrip(t);
    ++it;
  }
  if (options_.retention_hours > 0) {
    const int64_t oldest = HourOf(static_cast<double>(clock_s_)) -
                           int64_t{options_.retention_hours} * kHourS;
    absl::erase_if(tallies_, [&](const auto& kv) { return kv.first.hour_s < oldest; });
  }
}

void LiveAccuracy::SweepTrip(TripEntry& t) {
  t.due_s = std::numeric_limits<int64_t>::max();
  for (StopEntry& s : t.stops) {
    if (s.visits == 0) {  // forget predictions too old to be scored (held in made_at order)
      auto keep = std::find_if(s.held.begin(), s.held.end(),
                               [&](const Held& h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return clock_s_ - MadeAt(h) <= options_.pending_max_age_s;
      });
      for (auto h = s.held.begin(); h != keep; ++h) TallyAt(MadeAt(*h), t.route).unobserved += 1;
      held_ -= keep - s.held.begin();
      s.held.erase(s.held.begin(), keep);
      if (!s.held.empty())
        t.due_s = std::min(t.due_s, MadeAt(s.held.front()) + options_.pending_max_age_s);
    } else if (!s.committed) {
      const int64_t commit_s = static_cast<int64_t>(s.observed_s) + options_.ambiguity_hold_s;
      if (commit_s < clock_s_) {
        s.committed = true;
        held_ -= static_cast<int64_t>(s.held.size());
        std::vector<Held>().swap(s.held);
      } else {
        t.due_s = std::min(t.due_s, commit_s);
      }
    }
  }
}

void LiveAccuracy::FinishAll() {
  MutexLock lock(mu_);
  for (auto& [key, t] : trips_) FinishTrip(t);
  trips_.clear();
}

void LiveAccuracy::RemapRoutes(const std::vector<uint32_t>& old_to_new) {
  MutexLock lock(mu_);
  absl::node_hash_map<TallyKey, AccuracyTally> out;
  for (auto& [key, tally] : tallies_) {
    if (key.route >= old_to_new.size() || old_to_new[key.route] == kNoIndex) continue;
    out[TallyKey{key.hour_s, old_to_new[key.route]}] += tally;
  }
  tallies_.swap(out);
}

void LiveAccuracy::Collect(int64_t from_s, int64_t to_s,
                           const absl::flat_hash_set<uint32_t>& routes, AccuracyTally* total,
                           absl::flat_hash_map<uint32_t, AccuracyTally>* by_route) const {
  MutexLock lock(mu_);
  for (const auto& [key, tally] : tallies_) {
    if (from_s > 0 && key.hour_s + kHourS <= from_s) continue;
    if (to_s > 0 && key.hour_s >= to_s) continue;
    if (!routes.empty() && !routes.contains(key.route)) continue;
    if (total) *total += tally;
    if (by_route) (*by_route)[key.route] += tally;
  }
}

LiveAccuracyStats LiveAccuracy::Stats() const {
  MutexLock lock(mu_);
  LiveAccuracyStats st;
  st.trips_open = static_cast<int64_t>(trips_.size());
  st.predictions_held = held_;
  st.thinned = thinned_;
  st.late_second_visits = late_second_visits_;
  // Hash slots and nodes as laid out (node map: a pointer per slot plus the node).
  int64_t bytes = static_cast<int64_t>(
      trips_.capacity() * (sizeof(TripKey) + sizeof(TripEntry)) +
      tallies_.capacity() * sizeof(void*) +
      tallies_.size() * (sizeof(TallyKey) + sizeof(AccuracyTally)));
  for (const auto& [key, t] : trips_) {
    bytes += static_cast<int64_t>(t.stops.capacity() * sizeof(StopEntry));
    for (const StopEntry& s : t.stops)
      bytes += static_cast<int64_t>(s.held.capacity() * sizeof(Held));
  }
  st.memory_bytes = bytes;
  for (const auto& [key, tally] : tallies_)
    if (st.oldest_hour_s == 0 || key.hour_s < st.oldest_hour_s) st.oldest_hour_s = key.hour_s;
  return st;
}

}  // namespace smartbus
