#pragma once
// The schedule of one trip instance as the tracker reads it: scheduled times at a stop or at a
// distance along the trip's pattern. Internal to services/core/tracking.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "services/core/network/network.h"
#include "services/core/tracking/track.h"

namespace smartbus {

class TripSchedule {
 public:
  explicit TripSchedule(const Network& net) : net_(net) {}

  const Pattern& Pat(const Track& v) const { return net_.pattern(v.run.pattern); }
  const GtfsStopTime& StopTime(const Track& v, uint32_t k) const {
    return net_.feed().stop_times[net_.feed().trips[v.run.trip].first_stop_time + k];
  }
  // Scheduled arrival / departure at stop k of the vehicle's trip (epoch s).
  double Arr(const Track& v, uint32_t k) const {
    return static_cast<double>(v.run.day_start_s + StopTime(v, k).arrival_s);
  }
  double Dep(const Track& v, uint32_t k) const {
    return static_cast<double>(v.run.day_start_s + StopTime(v, k).departure_s);
  }
  uint32_t NumStops(const Track& v) const {
    return static_cast<uint32_t>(Pat(v).stop_dist_m.size());
  }
  // Scheduled time at distance d along the trip (epoch s): the departure before the first
  // stop, the arrival after the last, linear in between.
  double TimeAt(const Track& v, double d) const {
    return TimeAt(v.run.trip, v.run.pattern, v.run.day_start_s, d);
  }
  double TimeAt(TripIdx trip, uint32_t pattern, int64_t day_start, double d) const {
    const std::vector<double>& sd = net_.pattern(pattern).stop_dist_m;
    const GtfsStopTime* st = &net_.feed().stop_times[net_.feed().trips[trip].first_stop_time];
    double ds = static_cast<double>(day_start);
    uint32_t n = static_cast<uint32_t>(sd.size());
    if (n == 0) return ds;
    if (d <= sd[0]) return ds + st[0].departure_s;
    if (d >= sd[n - 1]) return ds + st[n - 1].arrival_s;
    uint32_t k =
        static_cast<uint32_t>(std::upper_bound(sd.begin(), sd.end(), d) - sd.begin()) - 1;
    double a = ds + st[k].departure_s, b = ds + st[k + 1].arrival_s;
    double span = sd[k + 1] - sd[k];
    double f = span > 1e-6 ? (d - sd[k]) / span : 0;
    return a + f * (b - a);
  }
  // Where the schedule puts the bus at time t (m along; the first stop before the departure).
  double ExpectedDistAt(const Track& v, double t) const {
    const Pattern& pat = Pat(v);
    double d_exp = pat.stop_dist_m.empty() ? 0 : pat.stop_dist_m[0];
    uint32_t n = NumStops(v);
    if (n >= 2 && t > Dep(v, 0)) {
      d_exp = pat.stop_dist_m[n - 1];
      for (uint32_t k = 0; k + 1 < n; ++k) {
        if (t < Arr(v, k + 1)) {
          double a = Dep(v, k), b = Arr(v, k + 1);
          double f = b > a ? std::clamp((t - a) / (b - a), 0.0, 1.0) : 0;
          d_exp = pat.stop_dist_m[k] + f * (pat.stop_dist_m[k + 1] - pat.stop_dist_m[k]);
          break;
        }
      }
    }
    return d_exp;
  }

 private:
  const Network& net_;
};

}  // namespace smartbus
