#pragma once
// AnalyticsNetwork over a Network: ids from its feed, stop distances from its patterns.
// Header-only so that sb_analytics does not depend on sb_network.

#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "services/core/analytics/analytics.h"
#include "services/core/network/network.h"

namespace smartbus {

class NetworkAnalyticsView : public AnalyticsNetwork {
 public:
  explicit NetworkAnalyticsView(std::shared_ptr<const Network> net) : net_(std::move(net)) {}

  std::string RouteId(uint32_t route) const override {
    return route < net_->feed().routes.size() ? net_->feed().routes[route].id : std::string();
  }
  std::string StopId(uint32_t stop) const override {
    return stop < net_->feed().stops.size() ? net_->feed().stops[stop].id : std::string();
  }
  std::string TripId(TripIdx trip) const override {
    return trip < net_->feed().trips.size() ? net_->feed().trips[trip].id : std::string();
  }
  uint32_t TripNumStops(TripIdx trip) const override {
    return trip < net_->feed().trips.size() ? net_->feed().trips[trip].num_stop_times : 0;
  }
  double StopDistM(TripIdx trip, uint32_t k) const override {
    if (trip >= net_->feed().trips.size()) return NAN;
    uint32_t p = net_->trip_pattern(trip);
    if (p >= net_->patterns().size()) return NAN;
    const std::vector<double>& d = net_->pattern(p).stop_dist_m;
    return k < d.size() ? d[k] : NAN;
  }
  const Network& network() const { return *net_; }

 private:
  std::shared_ptr<const Network> net_;
};

}  // namespace smartbus
