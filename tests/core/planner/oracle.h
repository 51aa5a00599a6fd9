#pragma once
// An independent oracle for the journey planner, written for the tests alone: a round-bounded
// connection scan straight over the GTFS feed (no RAPTOR routes, no FIFO chains, no planner
// index). It implements the journey model of services/core/planner/planner.h:
//   access/egress: an endpoint stop itself (0 s) and every stop within the transfer walk, or for a
//   place every stop within the access walk; one transfer between rides taking
//   max(walk, min_transfer_s); pickup_type/drop_off_type 1 respected; times made non-decreasing
//   along a trip; trips of the query's service day and of the days before and after.
// BestArrival(k) = earliest arrival (query-day seconds) with at most k rides.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/time/civil_time.h"
#include "services/core/network/network.h"
#include "services/core/planner/timetable.h"

namespace smartbus::planner::testing {

class ConnectionScanOracle {
 public:
  static constexpr int32_t kInf = std::numeric_limits<int32_t>::max() / 2;

  ConnectionScanOracle(const Network& net, int32_t date, const WalkOptions& walk,
                       int32_t min_transfer_s)
      : net_(net), walk_(walk), min_transfer_s_(min_transfer_s) {
    const absl::CivilDay day(date / 10000, date / 100 % 100, date % 100);
    day_start_ = net.ServiceDayStart(date);
    for (int d = -1; d <= 1; ++d) {
      const absl::CivilDay cd = day + d;
      AddDay(static_cast<int32_t>(cd.year() * 10000 + cd.month() * 100 + cd.day()));
    }
    std::sort(conns_.begin(), conns_.end(), [](const Conn& a, const Conn& b) {
      if (a.dep != b.dep) return a.dep < b.dep;
      if (a.inst != b.inst) return a.inst < b.inst;
      return a.k < b.k;
    });
    // Footpaths by brute force over every pair of stops.
    const auto& stops = net.feed().stops;
    xy_.reserve(stops.size());
    for (const auto& s : stops) xy_.push_back(net.projection().Forward(s.pos));
    walks_.resize(stops.size());
    const double r = walk.max_transfer_walk_m / walk.detour_factor;
    for (uint32_t a = 0; a < stops.size(); ++a)
      for (uint32_t b = 0; b < stops.size(); ++b)
        if (a != b && Dist(xy_[a], xy_[b]) <= r) walks_[a].push_back({b, WalkSeconds(Dist(xy_[a], xy_[b]), walk)});
  }

  absl::Time day_start() const { return day_start_; }

  // Stops reachable from/to an endpoint with their walking seconds.
  std::vector<std::pair<uint32_t, int32_t>> Near(const std::optional<uint32_t>& stop,
                                                  LatLon pos) const {
    std::vector<std::pair<uint32_t, int32_t>> out;
    if (stop) {
      out.push_back({*stop, 0});
      for (auto [b, w] : walks_[*stop]) out.push_back({b, w});
      return out;
    }
    const Vec2 p = net_.projection().Forward(pos);
    const double r = walk_.max_access_walk_m / walk_.detour_factor;
    for (uint32_t s = 0; s < xy_.size(); ++s)
      if (Dist(p, xy_[s]) <= r) out.push_back({s, WalkSeconds(Dist(p, xy_[s]), walk_)});
    return out;
  }

  // best[k] = earliest arrival with at most k rides (k = 0..max_rides); direct_walk_s < 0: none.
  std::vector<int32_t> Solve(const std::vector<std::pair<uint32_t, int32_t>>& access,
                             const std::vector<std::pair<uint32_t, int32_t>>& egress,
                             int32_t direct_walk_s, int32_t start, int max_rides) const {
    const size_t n = xy_.size();
    std::vector<int32_t> best(max_rides + 1, kInf);
    if (direct_walk_s >= 0) best[0] = start + direct_walk_s;
    std::vector<int32_t> board(n, kInf), ride(n, kInf);
    for (auto [s, w] : access) board[s] = std::min(board[s], start + w);
    std::vector<uint8_t> on(num_inst_, 0);
    for (int k = 1; k <= max_rides; ++k) {
      std::fill(ride.begin(), ride.end(), kInf);
      std::fill(on.begin(), on.end(), 0);
      const int32_t bound = best[k - 1];
      auto it = std::lower_bound(conns_.begin(), conns_.end(), start,
                                 [](const Conn& c, int32_t t) { return c.dep < t; });
      for (; it != conns_.end() && it->dep < bound; ++it) {
        const Conn& c = *it;
        if (!on[c.inst] && c.board && board[c.from] <= c.dep) on[c.inst] = 1;
        if (on[c.inst] && c.alight) ride[c.to] = std::min(ride[c.to], c.arr);
      }
      best[k] = best[k - 1];
      for (auto [s, w] : egress)
        if (ride[s] < kInf) best[k] = std::min(best[k], ride[s] + w);
      std::fill(board.begin(), board.end(), kInf);
      for (uint32_t s = 0; s < n; ++s) {
        if (ride[s] >= kInf) continue;
        board[s] = std::min(board[s], ride[s] + min_transfer_s_);
        for (auto [b, w] : walks_[s]) board[b] = std::min(board[b], ride[s] + std::max(w, min_transfer_s_));
      }
    }
    return best;
  }

 private:
  struct Conn {
    int32_t dep, arr;
    uint32_t from, to;
    uint32_t inst, k;
    bool board, alight;
  };

  void AddDay(int32_t date) {
    const GtfsFeed& f = net_.feed();
    const int32_t off =
        static_cast<int32_t>(absl::ToInt64Seconds(net_.ServiceDayStart(date) - day_start_));
    for (TripIdx t : f.trips.ids()) {
      const GtfsTrip& trip = f.trips[t];
      if (trip.num_stop_times < 2 || !f.ServiceRunsOn(trip.service, date)) continue;
      std::vector<int32_t> shifts{0};
      if (const auto* fs = net_.FrequencyShifts(t)) shifts = *fs;
      for (int32_t shift : shifts) {
        const uint32_t inst = num_inst_++;
        int32_t last = std::numeric_limits<int32_t>::min();
        std::vector<int32_t> arr(trip.num_stop_times), dep(trip.num_stop_times);
        for (uint32_t k = 0; k < trip.num_stop_times; ++k) {
          const GtfsStopTime& st = f.stop_times[trip.first_stop_time + k];
          last = std::max(last, st.arrival_s);
          arr[k] = last;
          last = std::max(last, st.departure_s);
          dep[k] = last;
        }
        for (uint32_t k = 0; k + 1 < trip.num_stop_times; ++k) {
          const GtfsStopTime& a = f.stop_times[trip.first_stop_time + k];
          const GtfsStopTime& b = f.stop_times[trip.first_stop_time + k + 1];
          conns_.push_back({dep[k] + off + shift, arr[k + 1] + off + shift, a.stop, b.stop, inst, k,
                            a.pickup_type != 1, b.drop_off_type != 1});
        }
      }
    }
  }

  const Network& net_;
  WalkOptions walk_;
  int32_t min_transfer_s_;
  absl::Time day_start_;
  std::vector<Conn> conns_;
  uint32_t num_inst_ = 0;
  std::vector<Vec2> xy_;
  std::vector<std::vector<std::pair<uint32_t, int32_t>>> walks_;
};

}  // namespace smartbus::planner::testing
