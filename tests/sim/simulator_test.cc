// The fleet simulator on the demo city: its output is realistic (speeds, fix cadence, GPS noise
// statistics, passenger counts that add up, rush-hour slowdowns, timepoint holds), deterministic,
// and the tracking engine fed with it finds the trips the simulator actually ran.

#include "services/core/sim/simulator.h"

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/sim/demo_city_fixture.h"
#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/sim/sim_csv.h"

namespace smartbus {
namespace {

using testing::DemoCity;
using testing::kMonday;

int64_t At(const Network& net, int32_t date, int hh, int mm) {
  return absl::ToUnixSeconds(net.ServiceDayStart(date)) + hh * 3600 + mm * 60;
}

struct SimRun {
  std::vector<SimFix> fixes;
  std::vector<StopVisit> visits;
};

// Simulates [from, to) local time on kMonday.
SimRun Simulate(const SimOptions& base, int from_h, int from_m, int to_h, int to_m) {
  auto net = DemoCity();
  SimOptions o = base;
  if (o.service_date == 0) o.service_date = kMonday;
  auto sim = FleetSimulator::Create(net, o);
  EXPECT_TRUE(sim.ok()) << sim.status();
  SimRun r;
  if (!sim.ok()) return r;
  (*sim)->AdvanceTo(absl::FromUnixSeconds(At(*net, o.service_date, from_h, from_m) - 1), nullptr,
                    nullptr);
  (*sim)->AdvanceTo(absl::FromUnixSeconds(At(*net, o.service_date, to_h, to_m) - 1), &r.fixes,
                    &r.visits);
  return r;
}

TEST(SimulatorTest, RejectsBadOptionsWithAMessage) {
  auto net = DemoCity();
  ASSERT_NE(net, nullptr);
  SimOptions o;
  o.service_date = 0;
  EXPECT_EQ(FleetSimulator::Create(net, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.service_date = 20250101;  // before the feed's calendar
  auto s = FleetSimulator::Create(net, o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(s.status().message()).find("20250101"), std::string::npos);
  o.service_date = kMonday;
  o.route_ids = {"99"};
  EXPECT_EQ(FleetSimulator::Create(net, o).status().code(), absl::StatusCode::kNotFound);
  o.route_ids = {};
  o.fix_interval_s = 0;
  EXPECT_EQ(FleetSimulator::Create(net, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SimulatorTest, OneBusPerBlockFixesEveryIntervalInTimeOrder) {
  auto net = DemoCity();
  ASSERT_NE(net, nullptr);
  SimOptions o;
  o.service_date = kMonday;
  auto sim = FleetSimulator::Create(net, o);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ((*sim)->vehicles().size(), 20u);  // data/README.md: a weekday needs 20 buses
  SimRun r = Simulate(o, 7, 0, 9, 0);
  ASSERT_GT(r.fixes.size(), 10000u);
  std::map<std::string, int64_t> last;
  int64_t prev_t = 0;
  for (const SimFix& f : r.fixes) {
    ASSERT_GE(f.fix.timestamp_s, prev_t);
    prev_t = f.fix.timestamp_s;
    auto it = last.find(f.fix.vehicle_id);
    if (it != last.end()) {
      EXPECT_EQ(f.fix.timestamp_s - it->second, 10) << f.fix.vehicle_id;
    }
    last[f.fix.vehicle_id] = f.fix.timestamp_s;
    EXPECT_TRUE(IsValidLatLon(f.fix.lat, f.fix.lon));
    EXPECT_FALSE(f.fix.trip_id.empty());
    EXPECT_FALSE(f.fix.route_id.empty());
  }
  EXPECT_GE(last.size(), 18u);  // nearly the whole fleet is out in the rush
}

TEST(SimulatorTest, SpeedsAreThoseOfACityBus) {
  SimRun r = Simulate(SimOptions{}, 6, 0, 20, 0);
  double sum = 0;
  int n = 0, stopped = 0;
  for (const SimFix& f : r.fixes) {
    EXPECT_GE(f.true_speed_mps, 0);
    EXPECT_LE(f.true_speed_mps, 22.5);  // at most ~80 km/h (the express on the highway)
    EXPECT_GE(f.fix.speed_mps, 0);
    if (f.phase != SimPhase::kMoving) {
      EXPECT_EQ(f.true_speed_mps, 0);
      continue;
    }
    sum += f.true_speed_mps;
    ++n;
    if (f.true_speed_mps < 0.5) ++stopped;
  }
  ASSERT_GT(n, 0);
  double mean = sum / n;
  EXPECT_GT(mean, 3.5);   // 12.6 km/h
  EXPECT_LT(mean, 10.0);  // 36 km/h: average speed between stops incl. lights and jams
  // Red lights: some of the driving time is spent standing.
  EXPECT_GT(stopped, n / 50);
  EXPECT_LT(stopped, n / 3);
}

TEST(SimulatorTest, RushHourIsSlowerThanMidday) {
  auto mean_speed = [](const SimRun& r) {
    double sum = 0;
    int n = 0;
    for (const SimFix& f : r.fixes) {
      if (f.phase == SimPhase::kMoving) {
        sum += f.true_speed_mps;
        ++n;
      }
    }
    return n ? sum / n : 0.0;
  };
  SimOptions o;
  o.jam_probability = 0;
  double rush = mean_speed(Simulate(o, 7, 30, 8, 30));
  double midday = mean_speed(Simulate(o, 11, 0, 12, 0));
  EXPECT_LT(rush, 0.85 * midday) << "rush " << rush << " m/s, midday " << midday << " m/s";
}

TEST(SimulatorTest, GpsErrorHasTheConfiguredStatistics) {
  SimOptions o;
  o.gps_sigma_m = 5;
  o.outlier_probability = 0;
  SimRun r = Simulate(o, 7, 0, 10, 0);
  auto net = DemoCity();
  const LocalProjection& proj = net->projection();
  double sx = 0, sy = 0, sxx = 0, syy = 0, lag = 0, lag_n = 0;
  int n = 0;
  std::map<std::string, Vec2> prev;
  for (const SimFix& f : r.fixes) {
    Vec2 e = proj.Forward({f.fix.lat, f.fix.lon}) - proj.Forward(f.true_pos);
    sx += e.x;
    sy += e.y;
    sxx += e.x * e.x;
    syy += e.y * e.y;
    ++n;
    auto it = prev.find(f.fix.vehicle_id);
    if (it != prev.end()) {
      lag += e.x * it->second.x + e.y * it->second.y;
      lag_n += 2;
    }
    prev[f.fix.vehicle_id] = e;
    EXPECT_LT(Norm(e), 5 * 6.0);  // no outliers asked for: within 6 sigma
    EXPECT_NEAR(f.fix.accuracy_m, 5 * std::sqrt(2.0), 0.1);
  }
  ASSERT_GT(n, 5000);
  EXPECT_NEAR(sx / n, 0, 0.5);  // unbiased
  EXPECT_NEAR(sy / n, 0, 0.5);
  EXPECT_NEAR(std::sqrt(sxx / n), 5, 0.6);  // per-axis standard deviation
  EXPECT_NEAR(std::sqrt(syy / n), 5, 0.6);
  // Time-correlated like real GPS: consecutive errors (10 s apart, time constant 20 s)
  // correlate with exp(-0.5) = 0.61.
  double corr = (lag / lag_n) / ((sxx + syy) / (2 * n));
  EXPECT_NEAR(corr, std::exp(-0.5), 0.1);
}

TEST(SimulatorTest, OutliersAppearAtTheConfiguredRate) {
  SimOptions o;
  o.outlier_probability = 0.02;
  SimRun r = Simulate(o, 7, 0, 10, 0);
  auto net = DemoCity();
  int far = 0;
  for (const SimFix& f : r.fixes) {
    if (GeodesicDistanceM({f.fix.lat, f.fix.lon}, f.true_pos) > 35) ++far;
  }
  double rate = static_cast<double>(far) / r.fixes.size();
  EXPECT_GT(rate, 0.01);
  EXPECT_LT(rate, 0.03);
}

TEST(SimulatorTest, PassengerCountsAddUp) {
  SimOptions o;
  SimRun r = Simulate(o, 5, 0, 23, 30);
  std::map<std::string, int> load;
  int max_load = 0;
  int64_t boardings = 0;
  for (const SimFix& f : r.fixes) {
    const Fix& x = f.fix;
    ASSERT_GE(x.boardings, 0);
    ASSERT_GE(x.alightings, 0);
    ASSERT_GE(x.load, 0);
    ASSERT_LE(x.load, o.capacity);
    EXPECT_EQ(x.occupancy, OccupancyStatus(x.load, o.seats, o.capacity));
    if (load.count(x.vehicle_id)) {  // (a bus's first fix in the window may carry earlier riders)
      EXPECT_EQ(x.load, load[x.vehicle_id] + x.boardings - x.alightings)
          << x.vehicle_id << " at " << x.timestamp_s;
    }
    load[x.vehicle_id] = x.load;
    max_load = std::max(max_load, x.load);
    boardings += x.boardings;
  }
  EXPECT_GT(boardings, 3000);  // a weekday's riders
  EXPECT_GT(max_load, 20);     // the rush fills buses
  // Per trip: everyone who boarded alighted by the last stop, and loads chain stop to stop.
  std::map<std::pair<std::string, uint32_t>, std::pair<int, int>> per_trip;  // (on, off)
  std::map<std::pair<std::string, uint32_t>, int> trip_load;
  for (const StopVisit& v : r.visits) {
    auto key = std::make_pair(v.vehicle_id, v.trip);
    per_trip[key].first += v.boardings;
    per_trip[key].second += v.alightings;
    int before = trip_load.count(key) ? trip_load[key] : 0;
    EXPECT_EQ(v.load, before + v.boardings - v.alightings);
    trip_load[key] = v.load;
  }
  auto net = DemoCity();
  int complete = 0;
  for (const auto& [key, on_off] : per_trip) {
    const GtfsTrip& t = net->feed().trips[key.second];
    int visits = 0;
    for (const StopVisit& v : r.visits) visits += v.vehicle_id == key.first && v.trip == key.second;
    if (visits != static_cast<int>(t.num_stop_times)) continue;
    ++complete;
    EXPECT_EQ(on_off.first, on_off.second) << t.id;
  }
  EXPECT_GT(complete, 300);
}

TEST(SimulatorTest, StopVisitsAreInOrderAndTimepointsHold) {
  SimRun r = Simulate(SimOptions{}, 6, 0, 12, 0);
  auto net = DemoCity();
  std::map<std::pair<std::string, uint32_t>, const StopVisit*> prev;
  int held = 0, served = 0, passed = 0;
  for (const StopVisit& v : r.visits) {
    EXPECT_LE(v.arrival_s, v.departure_s);
    auto key = std::make_pair(v.vehicle_id, v.trip);
    auto it = prev.find(key);
    if (it != prev.end()) {
      EXPECT_EQ(v.stop_index, it->second->stop_index + 1) << net->feed().trips[v.trip].id;
      EXPECT_GE(v.arrival_s, it->second->departure_s);
    }
    prev[key] = &v;
    (v.departure_s > v.arrival_s ? served : passed)++;
    // A timepoint (or the first stop) never sees the bus leave early.
    if (v.scheduled_departure_s > v.scheduled_arrival_s || v.stop_index == 0) {
      EXPECT_GE(v.departure_s, v.scheduled_departure_s) << net->feed().trips[v.trip].id;
      ++held;
    }
  }
  EXPECT_GT(held, 100);
  EXPECT_GT(served, passed);  // most stops have riders, some are skipped
  EXPECT_GT(passed, 0);
}

// Early runners (SimOptions::early_share): they leave first stops and timepoints before their
// scheduled departure and run well ahead of the timetable; the others still hold.
TEST(SimulatorTest, EarlyRunnersLeaveBeforeTheirTimeAndRunAhead) {
  SimOptions o;
  o.early_share = 0.5;
  SimRun r = Simulate(o, 6, 0, 10, 0);
  auto sim = FleetSimulator::Create(DemoCity(), SimOptions{.service_date = kMonday,
                                                           .early_share = 0.5});
  ASSERT_TRUE(sim.ok());
  std::set<std::string> early;
  for (const SimVehicleInfo& v : (*sim)->vehicles()) {
    if (v.early_runner) early.insert(v.vehicle_id);
  }
  ASSERT_GT(early.size(), 3u);
  ASSERT_LT(early.size(), (*sim)->vehicles().size() - 3);
  int early_leaves = 0, held = 0, late_held = 0;
  for (const StopVisit& v : r.visits) {
    if (v.stop_index != 0) continue;
    if (early.count(v.vehicle_id)) {
      early_leaves += v.departure_s < v.scheduled_departure_s - 60;
      ++held;
    } else {
      late_held += v.departure_s < v.scheduled_departure_s;
    }
  }
  EXPECT_GT(early_leaves, held / 2);
  EXPECT_EQ(late_held, 0);
  double early_delay = 0, other_delay = 0;
  int ne = 0, no = 0;
  for (const SimFix& f : r.fixes) {
    if (f.phase != SimPhase::kMoving) continue;
    (early.count(f.fix.vehicle_id) ? early_delay : other_delay) += f.delay_s;
    (early.count(f.fix.vehicle_id) ? ne : no)++;
  }
  EXPECT_LT(early_delay / ne, -180);  // minutes ahead of the timetable on average
  EXPECT_GT(other_delay / no, early_delay / ne + 180);
}

TEST(SimulatorTest, SameSeedSameOutputHoweverTimeIsSliced) {
  auto net = DemoCity();
  SimOptions o;
  o.service_date = kMonday;
  auto a = FleetSimulator::Create(net, o);
  auto b = FleetSimulator::Create(net, o);
  ASSERT_TRUE(a.ok() && b.ok());
  int64_t t0 = At(*net, kMonday, 7, 0), t1 = At(*net, kMonday, 8, 0);
  std::vector<SimFix> fa, fb;
  (*a)->AdvanceTo(absl::FromUnixSeconds(t1), &fa, nullptr);
  (*b)->AdvanceTo(absl::FromUnixSeconds(t0), nullptr, nullptr);  // warm-up, output dropped
  for (int64_t t = t0 + 7; t <= t1; t += 7) (*b)->AdvanceTo(absl::FromUnixSeconds(t), &fb, nullptr);
  (*b)->AdvanceTo(absl::FromUnixSeconds(t1), &fb, nullptr);
  std::vector<SimFix> tail;
  for (const SimFix& f : fa) {
    if (f.fix.timestamp_s > t0) tail.push_back(f);
  }
  ASSERT_EQ(tail.size(), fb.size());
  std::string ra, rb;
  for (const SimFix& f : tail) AppendPositionsRow(f.fix, &ra);
  for (const SimFix& f : fb) AppendPositionsRow(f.fix, &rb);
  EXPECT_TRUE(ra == rb);
  // A different seed gives different noise and passengers.
  o.seed = 2;
  auto c = FleetSimulator::Create(net, o);
  std::vector<SimFix> fc;
  (*c)->AdvanceTo(absl::FromUnixSeconds(t1), &fc, nullptr);
  std::string rc;
  for (const SimFix& f : fc) {
    if (f.fix.timestamp_s > t0) AppendPositionsRow(f.fix, &rc);
  }
  EXPECT_FALSE(ra == rc);
}

TEST(SimulatorTest, PositionsCsvRowsFollowTheFormat) {
  Fix f;
  f.vehicle_id = "1001";
  f.timestamp_s = 1795436400;
  f.lat = 42.1;
  f.lon = -75.91;
  f.bearing_deg = 90;
  f.speed_mps = 4.25f;
  f.trip_id = "WD-1-0-0700";
  f.route_id = "1";
  f.occupancy = 1;
  f.boardings = 3;
  f.alightings = 0;
  f.load = 12;
  f.accuracy_m = 5.7f;
  std::string out;
  AppendPositionsRow(f, &out);
  EXPECT_EQ(PositionsCsvHeader(),
            "vehicle_id,timestamp,lat,lon,bearing,speed,trip_id,route_id,occupancy,boardings,"
            "alightings,load,accuracy\n");
  EXPECT_EQ(out, "1001,1795436400,42.100000,-75.910000,90,4.2,WD-1-0-0700,1,1,3,0,12,5.7\n");
  Fix g;
  g.vehicle_id = "7";
  g.timestamp_s = 5;
  g.lat = 1;
  g.lon = 2;
  out.clear();
  AppendPositionsRow(g, &out);
  EXPECT_EQ(out, "7,5,1.000000,2.000000,,,,,,,,,\n");
}

// Feeds the simulated fixes through the tracking engine (what `smartbus replay` and the server
// run) and counts the in-service fixes whose trip the engine got right.
// The engine starts cold at from_h:20 (buses already mid-trip) and runs two hours.
double TripAccuracy(bool report_trip_id, std::map<std::string, double>* per_route = nullptr,
                    int from_h = 7) {
  auto net = DemoCity();
  SimOptions o;
  o.report_trip_id = report_trip_id;
  SimRun r = Simulate(o, from_h, 20, from_h + 2, 20);
  Engine engine(net);
  int n = 0, ok = 0;
  std::map<std::string, std::pair<int, int>> by_route;
  for (const SimFix& f : r.fixes) {
    engine.Process(f.fix);
    if (f.phase == SimPhase::kLayover || f.trip == kNoIndex) continue;
    bool right = engine.last_match().trip == f.trip;
    ++n;
    ok += right;
    auto& br = by_route[net->feed().routes[net->feed().trips[f.trip].route].id];
    ++br.first;
    br.second += right;
  }
  if (per_route != nullptr) {
    for (auto& [route, c] : by_route) (*per_route)[route] = double(c.second) / c.first;
  }
  return n ? double(ok) / n : 0;
}

TEST(SimulatorReplayTest, EngineFollowsTheTripsTheBusesReport) {
  EXPECT_GE(TripAccuracy(true), 0.99);
}

// Buses that do not say their trip, on routes that share streets (2 and 4 on Main St, 1 and 3 on
// 6th Ave, 6X on Main St without stopping), with a cold start in the middle of the rush: buses
// first seen standing at Central Station (where 4 and 6X start and 1, 2, 3 pass) must not be
// taken for a trip passing there, an express leaving with a local must be told apart by its
// departure time, and a trip confirmed by mistake must be dropped when the bus leaves its shape.
// Before (commit 97b1999): 87.9% overall, route 2 80.7%, route 6X 43.6%.
TEST(SimulatorReplayTest, EngineInfersTheTripsOfBusesThatDoNotSay) {
  std::map<std::string, double> per_route;
  double acc = TripAccuracy(false, &per_route);
  for (const auto& [route, a] : per_route) {
    EXPECT_GE(a, 0.85) << "route " << route;
  }
  EXPECT_GE(acc, 0.9);
}

// The same with a cold start at other times of the day (other headways, other buses standing
// at the hubs at first sight).
TEST(SimulatorReplayTest, EngineInfersTheTripsOfBusesThatDoNotSayAllDay) {
  for (int h : {6, 9, 12, 15, 18}) {
    std::map<std::string, double> per_route;
    double acc = TripAccuracy(false, &per_route, h);
    for (const auto& [route, a] : per_route) {
      EXPECT_GE(a, 0.85) << "route " << route << " from " << h << ":20";
    }
    EXPECT_GE(acc, 0.9) << "from " << h << ":20";
  }
}


}  // namespace
}  // namespace smartbus
