#pragma once
// Internal helper of sb_prediction: one trip instance's stops, distances along its pattern and
// scheduled epoch times, read straight from the Network (no copies).

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "services/core/network/network.h"

namespace smartbus::prediction_internal {

struct TripView {
  const GtfsTrip* trip = nullptr;
  const GtfsStopTime* st = nullptr;  // trip->num_stop_times rows
  const Pattern* pattern = nullptr;
  uint32_t n = 0;
  int64_t day_start_s = 0;

  bool Init(const Network& net, TripIdx trip_index, int64_t day_start) {
    const GtfsFeed& feed = net.feed();
    if (trip_index >= feed.trips.size()) return false;
    trip = &feed.trips[trip_index];
    pattern = &net.pattern(net.trip_pattern(trip_index));
    n = trip->num_stop_times;
    if (n == 0 || pattern->stop_dist_m.size() != n) return false;
    st = &feed.stop_times[trip->first_stop_time];
    day_start_s = day_start;
    return true;
  }
  int64_t arr(uint32_t k) const { return day_start_s + st[k].arrival_s; }
  int64_t dep(uint32_t k) const { return day_start_s + st[k].departure_s; }
  double dist(uint32_t k) const { return pattern->stop_dist_m[k]; }
  // First stop strictly beyond distance d along the pattern (n if none).
  uint32_t FirstStopAfter(double d) const {
    const auto& v = pattern->stop_dist_m;
    return static_cast<uint32_t>(std::upper_bound(v.begin(), v.end(), d) - v.begin());
  }
  // Scheduled epoch at distance d: linear between the bracketing stops' departure and arrival.
  double ScheduledAt(double d) const {
    if (d <= dist(0)) return static_cast<double>(dep(0));
    if (d >= dist(n - 1)) return static_cast<double>(arr(n - 1));
    uint32_t k = FirstStopAfter(d) - 1;  // dist(k) <= d < dist(k+1)
    double span = dist(k + 1) - dist(k);
    if (span <= 0) return static_cast<double>(dep(k));
    return dep(k) + (d - dist(k)) / span * static_cast<double>(arr(k + 1) - dep(k));
  }
};

}  // namespace smartbus::prediction_internal
