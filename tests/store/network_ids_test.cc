// Stored records carry string ids; indices are re-resolved against the network of the day, so a
// GTFS reload that reorders trips, routes and stops does not scramble recovered state.

#include "services/store/network_ids.h"

#include "gtest/gtest.h"
#include "services/store/memory_store.h"

namespace smartbus {
namespace {

// A feed with the given routes, stops and trips (each trip: id, route id, two stops), listed in
// the given order, so the same ids get different indices in different feeds.
std::shared_ptr<const Network> BuildNetwork(const std::vector<std::string>& routes,
                                            const std::vector<std::string>& stops,
                                            const std::vector<std::array<std::string, 4>>& trips) {
  GtfsFeed f;
  f.timezone = "America/New_York";
  f.agencies.push_back({"A", "Agency", f.timezone});
  for (const std::string& r : routes) {
    f.route_index[r] = uint32_t(f.routes.size());
    f.routes.push_back({r, r, "", 3, 0});
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    f.stop_index[stops[i]] = uint32_t(f.stops.size());
    // Position from the id, not the index: the same stop is at the same place in every feed.
    const double k = double(stops[i].back() - '0');
    f.stops.push_back({stops[i], "", stops[i], LatLon{38.9 + k * 0.001, -77.03}});
  }
  f.service_index["S"] = 0;
  f.services.push_back({"S", 0x7f, 20260101, 20261231, {}, {}});
  for (const auto& [trip, route, a, b] : trips) {
    GtfsTrip t;
    t.id = trip;
    t.route = f.route_index.at(route);
    t.service = 0;
    t.first_stop_time = uint32_t(f.stop_times.size());
    t.num_stop_times = 2;
    for (int k = 0; k < 2; ++k) {
      GtfsStopTime st;
      st.stop = f.stop_index.at(k == 0 ? a : b);
      st.stop_sequence = uint32_t(k + 1);
      st.arrival_s = st.departure_s = 8 * 3600 + k * 120;
      f.stop_times.push_back(st);
    }
    f.trip_index[trip] = TripIdx(f.trips.size());
    f.trips.push_back(t);
  }
  auto net = Network::Build(std::move(f));
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? *net : nullptr;
}

TEST(NetworkIdsTest, RecoveredStateFollowsIdsAcrossAReorderingReload) {
  auto before = BuildNetwork({"R1", "R2"}, {"s1", "s2", "s3"},
                             {{{"T1", "R1", "s1", "s2"}}, {{"T2", "R2", "s2", "s3"}}});
  // The reloaded feed lists everything in another order and no longer has T1.
  auto after = BuildNetwork({"R2", "R1"}, {"s3", "s2", "s1"}, {{{"T2", "R2", "s2", "s3"}}});
  ASSERT_TRUE(before && after);

  VehicleState s;
  s.vehicle_id = "bus-1";
  s.trip = *before->FindTrip("T2");
  s.route = *before->FindRoute("R2");
  StopVisit v;
  v.vehicle_id = "bus-1";
  v.trip = s.trip;
  v.route = s.route;
  v.stop = *before->FindStop("s3");
  VehicleState gone = s;
  gone.vehicle_id = "bus-2";
  gone.trip = *before->FindTrip("T1");
  gone.route = *before->FindRoute("R1");

  MemoryStore store;
  ASSERT_TRUE(store.PutVehicle(MakeVehicleRecord(s, *before)).ok());
  ASSERT_TRUE(store.PutVehicle(MakeVehicleRecord(gone, *before)).ok());
  ASSERT_TRUE(store.AppendStopVisit(MakeStopVisitRecord(v, *before)).ok());

  VehicleRecord r = *store.GetVehicle("bus-1");
  EXPECT_EQ(r.trip_id, "T2");
  EXPECT_EQ(r.route_id, "R2");
  EXPECT_EQ(r.state.trip, kNoIndex);  // until resolved
  ResolveIndices(r, *after);
  EXPECT_EQ(r.state.trip, *after->FindTrip("T2"));
  EXPECT_EQ(r.state.route, *after->FindRoute("R2"));
  EXPECT_NE(r.state.route, s.route);  // the index did change

  VehicleRecord g = *store.GetVehicle("bus-2");
  ResolveIndices(g, *after);
  EXPECT_EQ(g.trip_id, "T1");
  EXPECT_EQ(g.state.trip, kNoIndex);  // the new feed has no T1
  EXPECT_EQ(g.state.route, *after->FindRoute("R1"));

  StopVisitRecord sv = store.ReadStopVisits({})->at(0);
  EXPECT_EQ(sv.stop_id, "s3");
  ResolveIndices(sv, *after);
  EXPECT_EQ(sv.visit.stop, *after->FindStop("s3"));
  EXPECT_EQ(sv.visit.trip, *after->FindTrip("T2"));
}

TEST(NetworkIdsTest, NoIndexGivesEmptyIds) {
  auto net = BuildNetwork({"R1"}, {"s1", "s2"}, {{{"T1", "R1", "s1", "s2"}}});
  ASSERT_TRUE(net);
  VehicleState s;
  s.vehicle_id = "bus-1";  // unassigned: trip and route are kNoIndex
  VehicleRecord r = MakeVehicleRecord(s, *net);
  EXPECT_EQ(r.trip_id, "");
  EXPECT_EQ(r.route_id, "");
  ResolveIndices(r, *net);
  EXPECT_EQ(r.state.trip, kNoIndex);
}

}  // namespace
}  // namespace smartbus
