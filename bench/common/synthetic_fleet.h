#pragma once
// Synthetic buses for load generators (bench/server/server_load, bench/jt808/jt808_load): the
// trips of a feed running at a start time each get a bus whose position is its scheduled one
// along the trip's shape; plus the percentile helper both benchmarks report with (RSS and CPU:
// bench/common/proc.h).

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "services/core/geo/geo.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "bench/common/proc.h"
#include "services/files/feed_files.h"

namespace smartbus::bench {

struct Bus {
  std::string id;
  TripInstance ti;
  int64_t day_start_s = 0;
  int64_t lag_s = 0;  // runs this far behind the schedule (several buses on one trip)
};

class Fleet {
 public:
  // Trips running at t0 (or starting within 10 min); when there are fewer than `want`, more
  // buses follow the same trips 2, 4, ... minutes behind (distinct vehicles, same route).
  Fleet(std::shared_ptr<const Network> net, int32_t date, int64_t t0, int want) : net_(net) {
    auto all = net->TripsAround(absl::FromUnixSeconds(t0), absl::Minutes(10), absl::ZeroDuration());
    std::vector<TripInstance> trips;
    for (const TripInstance& ti : all)
      if (ti.service_date == date || ti.service_date == date - 1) trips.push_back(ti);
    for (int i = 0; i < want && !trips.empty(); ++i) {
      Bus b;
      b.id = absl::StrCat("bus", i);
      b.ti = trips[i % trips.size()];
      b.day_start_s = absl::ToUnixSeconds(b.ti.day_start);
      b.lag_s = 120 * static_cast<int64_t>(i / trips.size());
      buses_.push_back(b);
    }
    distinct_trips_ = std::min<size_t>(trips.size(), buses_.size());
  }
  size_t distinct_trips() const { return distinct_trips_; }
  size_t size() const { return buses_.size(); }
  const Bus& bus(size_t i) const { return buses_[i]; }

  // The scheduled position of bus i at time t: where, how fast (m/s) and which way (degrees).
  struct Position {
    LatLon pos;
    double speed_mps = 0;
    double bearing_deg = 0;
    const GtfsTrip* trip = nullptr;
  };
  Position PositionAt(size_t i, int64_t t) const {
    const Bus& b = buses_[i];
    const GtfsFeed& feed = net_->feed();
    const GtfsTrip& trip = feed.trips[b.ti.trip];
    const Pattern& p = net_->pattern(net_->trip_pattern(b.ti.trip));
    const Polyline& line = net_->trip_polyline(b.ti.trip);
    const int64_t rel = t - b.lag_s - b.day_start_s;
    const GtfsStopTime* st = &feed.stop_times[trip.first_stop_time];
    const uint32_t n = std::min<uint32_t>(trip.num_stop_times, p.stop_dist_m.size());
    double dist = p.stop_dist_m.empty() ? 0 : p.stop_dist_m[0];
    double speed = 0;
    if (n > 0 && rel >= st[n - 1].arrival_s) {
      dist = p.stop_dist_m[n - 1];
    } else {
      for (uint32_t k = 0; k + 1 < n; ++k) {
        if (rel < st[k].departure_s) {
          dist = p.stop_dist_m[k];
          break;
        }
        if (rel < st[k + 1].arrival_s) {
          const double span = std::max(1, st[k + 1].arrival_s - st[k].departure_s);
          const double f = (rel - st[k].departure_s) / span;
          dist = p.stop_dist_m[k] + f * (p.stop_dist_m[k + 1] - p.stop_dist_m[k]);
          speed = (p.stop_dist_m[k + 1] - p.stop_dist_m[k]) / span;
          break;
        }
      }
    }
    return Position{net_->projection().Reverse(line.PointAt(dist)), speed,
                    BearingDeg(line.DirectionAt(dist)), &trip};
  }
  const GtfsFeed& feed() const { return net_->feed(); }

  std::vector<std::string> Stops() const {
    std::vector<std::string> out;
    for (const Bus& b : buses_)
      for (uint32_t s : net_->pattern(net_->trip_pattern(b.ti.trip)).stops)
        out.push_back(net_->feed().stops[s].id);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  std::shared_ptr<const Network> net_;
  std::vector<Bus> buses_;
  size_t distinct_trips_ = 0;
};

// Where a fleet starts: the network of the feeds and the instant of `hhmm` ("08:00", local time
// of the agency) on the service date `yyyymmdd` (server_load, blind_fleet_bench).
struct FleetStart {
  std::shared_ptr<const Network> net;
  absl::CivilSecond at;
  int64_t t0 = 0;  // `at` as epoch seconds
};
inline absl::StatusOr<FleetStart> LoadFleetStart(const std::vector<std::string>& feeds,
                                                 int32_t yyyymmdd, const std::string& hhmm) {
  auto feed = LoadGtfs(feeds);
  if (!feed.ok()) return feed.status();
  auto net = Network::Build(std::move(*feed));
  if (!net.ok()) return net.status();
  std::vector<std::string> hm = absl::StrSplit(hhmm, ':');
  FleetStart out;
  out.net = *net;
  out.at = absl::CivilSecond(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100,
                             hm.size() > 0 ? std::atoi(hm[0].c_str()) : 8,
                             hm.size() > 1 ? std::atoi(hm[1].c_str()) : 0, 0);
  out.t0 = absl::ToUnixSeconds(absl::FromCivil(out.at, out.net->time_zone()));
  return out;
}

inline double Pct(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace smartbus::bench
