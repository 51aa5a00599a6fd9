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

int32_t Off(int64_t t, int64_t base) {
  if (t == kNoTime) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(std::clamp<int64_t>(t - base, -(int64_t{1} << 30), int64_t{1} << 30));
}

}  // namespace

AccuracyTally& LiveAccuracy::TallyAt(int64_t t_s, uint32_t route) {
  return tallies_[TallyKey{HourOf(static_cast<double>(t_s)), route}];
}

ScoredPrediction LiveAccuracy::Score(const Held& h, double observed_s) const {
  const int64_t pred = h.made_at_s + h.predicted_off;
  const int64_t p10 = h.p10_off == kNoOff ? kNoTime : pred + h.p10_off;
  const int64_t p90 = h.p90_off == kNoOff ? kNoTime : pred + h.p90_off;
  return ScorePrediction(h.made_at_s, pred, p10, p90, observed_s);
}

void LiveAccuracy::Apply(const Held& h, StopEntry& s, uint32_t route, int sign) {
  const ScoredPrediction sc = Score(h, s.observed_s);
  TallyAt(h.made_at_s, route).Add(sc, h.source, sign);
  if (sign > 0 && sc.covers && !s.covered) {
    s.covered = true;
    TallyAt(static_cast<int64_t>(s.observed_s), route).arrivals_with_prediction_1_30min += 1;
  }
}

void LiveAccuracy::AddPrediction(const Prediction& p, uint32_t route) {
  std::lock_guard lock(mu_);
  clock_s_ = std::max(clock_s_, p.made_at_s);
  if (p.stop_index == 0) {  // a trip's first stop is never observed (not scored)
    AccuracyTally& t = TallyAt(p.made_at_s, route);
    ++t.rows;
    ++t.unobserved;
    return;
  }
  TripEntry& trip = trips_[TripKey{p.trip, p.service_date}];
  trip.route = route;
  trip.last_s = std::max(trip.last_s, p.made_at_s);
  StopEntry& s = trip.stops[p.stop_index];
  if (options_.min_interval_s > 0 && !s.held.empty() &&
      p.made_at_s - s.held.back().made_at_s < options_.min_interval_s) {
    ++thinned_;
    return;
  }
  AccuracyTally& t = TallyAt(p.made_at_s, route);
  ++t.rows;
  if (s.visits >= 2) {
    ++t.unobserved;
    return;
  }
  const Held h{p.made_at_s, Off(p.predicted_arrival_s, p.made_at_s),
               Off(p.p10_s, p.predicted_arrival_s), Off(p.p90_s, p.predicted_arrival_s),
               p.source};
  if (s.visits == 1) Apply(h, s, route, +1);
  if (s.committed) return;
  s.held.push_back(h);
  ++held_;
}

void LiveAccuracy::AddObserved(const StopVisit& v, uint32_t route, bool own) {
  if (v.stop_index == 0) return;
  std::lock_guard lock(mu_);
  const TripKey key{v.trip, v.service_date};
  auto it = trips_.find(key);
  if (it == trips_.end()) {
    if (!own) return;  // nothing predicted here for this trip instance
    it = trips_.try_emplace(key).first;
    it->second.route = route;
  }
  TripEntry& trip = it->second;
  trip.last_s = std::max({trip.last_s, clock_s_, static_cast<int64_t>(v.arrival_s)});
  StopEntry& s = trip.stops[v.stop_index];
  if (s.visits >= 2) return;
  if (++s.visits == 2) {
    SecondVisit(s, trip.route);
    return;
  }
  s.observed_s = v.arrival_s;
  s.own = own;
  if (own) TallyAt(static_cast<int64_t>(v.arrival_s), trip.route).observed_arrivals += 1;
  for (const Held& h : s.held) Apply(h, s, trip.route, +1);
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
    TallyAt(h.made_at_s, route).unobserved += 1;
  }
  held_ -= static_cast<int64_t>(s.held.size());
  std::vector<Held>().swap(s.held);
}

void LiveAccuracy::FinishTrip(TripEntry& t) {
  for (auto& [index, s] : t.stops) {
    if (s.visits == 0)
      for (const Held& h : s.held) TallyAt(h.made_at_s, t.route).unobserved += 1;
    held_ -= static_cast<int64_t>(s.held.size());
  }
}

void LiveAccuracy::Advance(int64_t now_s) {
  std::lock_guard lock(mu_);
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
    for (auto& [index, s] : t.stops) {
      if (s.visits == 0) {  // forget predictions too old to be scored
        auto old = std::partition(s.held.begin(), s.held.end(), [&](const Held& h) {
          return clock_s_ - h.made_at_s <= options_.pending_max_age_s;
        });
        for (auto h = old; h != s.held.end(); ++h) TallyAt(h->made_at_s, t.route).unobserved += 1;
        held_ -= s.held.end() - old;
        s.held.erase(old, s.held.end());
      } else if (!s.committed && clock_s_ - s.observed_s > options_.ambiguity_hold_s) {
        s.committed = true;
        held_ -= static_cast<int64_t>(s.held.size());
        std::vector<Held>().swap(s.held);
      }
    }
    ++it;
  }
  if (options_.retention_hours > 0) {
    const int64_t oldest = HourOf(static_cast<double>(clock_s_)) -
                           int64_t{options_.retention_hours} * kHourS;
    absl::erase_if(tallies_, [&](const auto& kv) { return kv.first.hour_s < oldest; });
  }
}

void LiveAccuracy::FinishAll() {
  std::lock_guard lock(mu_);
  for (auto& [key, t] : trips_) FinishTrip(t);
  trips_.clear();
}

void LiveAccuracy::RemapRoutes(const std::vector<uint32_t>& old_to_new) {
  std::lock_guard lock(mu_);
  absl::flat_hash_map<TallyKey, AccuracyTally> out;
  for (auto& [key, tally] : tallies_) {
    if (key.route >= old_to_new.size() || old_to_new[key.route] == kNoIndex) continue;
    out[TallyKey{key.hour_s, old_to_new[key.route]}] += tally;
  }
  tallies_.swap(out);
}

void LiveAccuracy::Collect(int64_t from_s, int64_t to_s,
                           const absl::flat_hash_set<uint32_t>& routes, AccuracyTally* total,
                           absl::flat_hash_map<uint32_t, AccuracyTally>* by_route) const {
  std::lock_guard lock(mu_);
  for (const auto& [key, tally] : tallies_) {
    if (from_s > 0 && key.hour_s + kHourS <= from_s) continue;
    if (to_s > 0 && key.hour_s >= to_s) continue;
    if (!routes.empty() && !routes.contains(key.route)) continue;
    if (total) *total += tally;
    if (by_route) (*by_route)[key.route] += tally;
  }
}

LiveAccuracyStats LiveAccuracy::Stats() const {
  std::lock_guard lock(mu_);
  LiveAccuracyStats st;
  st.trips_open = static_cast<int64_t>(trips_.size());
  st.predictions_held = held_;
  st.thinned = thinned_;
  st.late_second_visits = late_second_visits_;
  int64_t bytes = static_cast<int64_t>(trips_.capacity() * (sizeof(TripKey) + sizeof(TripEntry)) +
                                       tallies_.capacity() * (sizeof(TallyKey) + sizeof(AccuracyTally)));
  for (const auto& [key, t] : trips_) {
    bytes += static_cast<int64_t>(t.stops.capacity() * (sizeof(uint32_t) + sizeof(StopEntry)));
    for (const auto& [index, s] : t.stops)
      bytes += static_cast<int64_t>(s.held.capacity() * sizeof(Held));
  }
  st.memory_bytes = bytes;
  for (const auto& [key, tally] : tallies_)
    if (st.oldest_hour_s == 0 || key.hour_s < st.oldest_hour_s) st.oldest_hour_s = key.hour_s;
  return st;
}

}  // namespace smartbus
