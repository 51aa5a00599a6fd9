#pragma once
// A GTFS feed built in code for the network, tracking and other core tests (then
// Network::Build): routes, stops, shapes (drawn or as points), services, trips.

#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"

namespace smartbus::testing {

class FeedBuilder {
 public:
  explicit FeedBuilder(std::string tz = "America/New_York") {
    f_.timezone = tz;
    f_.agencies.push_back({"A", "Agency", tz});
    AddRoute("R1");
  }
  uint32_t AddRoute(const std::string& id) {
    f_.route_index[id] = static_cast<uint32_t>(f_.routes.size());
    f_.routes.push_back({id, id, "", 3, 0});
    return f_.route_index[id];
  }
  uint32_t AddStop(const std::string& id, LatLon pos) {
    auto it = f_.stop_index.find(id);
    if (it != f_.stop_index.end()) return it->second;
    f_.stop_index[id] = static_cast<uint32_t>(f_.stops.size());
    f_.stops.push_back({id, "", id, pos});
    return f_.stop_index[id];
  }
  // Every stop drawn in `art` (single characters) becomes a stop with that id.
  void AddStops(const std::map<char, LatLon>& m) {
    for (auto& [c, pos] : m)
      if (!std::isupper(static_cast<unsigned char>(c))) AddStop(std::string(1, c), pos);
  }
  // A shape through the vertices named by `nodes` (upper-case letters of the drawing).
  uint32_t AddShape(const std::string& id, const std::map<char, LatLon>& m,
                    const std::string& nodes) {
    GtfsShape s;
    s.id = id;
    for (char c : nodes) s.points.push_back(m.at(c));
    f_.shape_index[id] = static_cast<uint32_t>(f_.shapes.size());
    f_.shapes.push_back(std::move(s));
    return f_.shape_index[id];
  }
  // A shape through `pts`.
  uint32_t AddShape(const std::string& id, const std::vector<LatLon>& pts) {
    GtfsShape s;
    s.id = id;
    s.points = pts;
    f_.shape_index[id] = static_cast<uint32_t>(f_.shapes.size());
    f_.shapes.push_back(std::move(s));
    return f_.shape_index[id];
  }
  uint32_t AddService(const std::string& id, uint8_t weekdays, int32_t start, int32_t end,
                      std::vector<int32_t> added = {}, std::vector<int32_t> removed = {}) {
    f_.service_index[id] = static_cast<uint32_t>(f_.services.size());
    f_.services.push_back({id, weekdays, start, end, added, removed});
    return f_.service_index[id];
  }
  // A trip through `stops` (stop ids), leaving the first at `start_s`, `step_s` between stops.
  TripIdx AddTrip(const std::string& id, const std::vector<std::string>& stops, int32_t start_s,
                   int32_t step_s = 60, const std::string& shape = "",
                   const std::string& service = "S", int8_t direction = 0,
                   const std::string& block = "", const std::string& route = "R1") {
    if (!f_.service_index.count(service)) AddService(service, 0x7f, 20260101, 20261231);
    GtfsTrip t;
    t.id = id;
    t.route = f_.route_index.at(route);
    t.service = f_.service_index.at(service);
    t.shape = shape.empty() ? kNoIndex : f_.shape_index.at(shape);
    t.direction_id = direction;
    t.block_id = block;
    t.first_stop_time = static_cast<uint32_t>(f_.stop_times.size());
    t.num_stop_times = static_cast<uint32_t>(stops.size());
    for (size_t k = 0; k < stops.size(); ++k) {
      GtfsStopTime st;
      st.stop = f_.stop_index.at(stops[k]);
      st.stop_sequence = static_cast<uint32_t>(k + 1);
      st.arrival_s = st.departure_s = start_s + static_cast<int32_t>(k) * step_s;
      f_.stop_times.push_back(st);
    }
    f_.trip_index[id] = TripIdx(f_.trips.size());
    f_.trips.push_back(t);
    return f_.trip_index[id];
  }
  GtfsFeed& feed() { return f_; }
  std::shared_ptr<const Network> Build(const NetworkOptions& options = {}) {
    auto net = Network::Build(f_, options);
    EXPECT_TRUE(net.ok()) << net.status();
    return net.ok() ? *net : nullptr;
  }

 private:
  GtfsFeed f_;
};

}  // namespace smartbus::testing
