#include "services/core/analytics/analytics_json.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace smartbus {
namespace {

using nlohmann::json;

json Num(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }



void PassengerFields(const PassengerStats& p, json& j) {
  j["boardings"] = p.has_counts() ? json(p.boardings) : json(nullptr);
  j["alightings"] = p.has_counts() ? json(p.alightings) : json(nullptr);
  j["max_load"] = p.has_load() ? json(p.max_load) : json(nullptr);
  j["mean_load"] = Num(p.mean_load());
  j["mean_occupancy"] = Num(p.mean_occupancy());
  j["crowded_pct"] = Num(p.crowded_pct());
  j["occupancy_visits"] = p.occupancy_visits;
  if (p.has_counts() || p.has_load()) {
    j["passenger_data"] = "counts";
  } else if (p.has_occupancy()) {
    j["passenger_data"] = "occupancy_only";
    j["passenger_note"] = "no passenger counts: crowding from the occupancy level only";
  } else {
    j["passenger_data"] = "none";
    j["passenger_note"] = "no passenger data";
  }
}

json SegmentJson(const SegmentStats& s, const AnalyticsNetwork& net) {
  json j;
  j["from_stop_id"] = net.StopId(s.from_stop);
  j["to_stop_id"] = net.StopId(s.to_stop);
  j["traversals"] = s.traversals;
  j["mean_speed_kmh"] = Num(s.mean_speed_kmh);
  j["distance_m"] = Num(s.distance_m);
  j["mean_time_s"] = Num(s.mean_time_s);
  j["mean_scheduled_time_s"] = Num(s.mean_scheduled_time_s);
  j["mean_load"] = Num(s.passengers.mean_load());
  j["mean_occupancy"] = Num(s.passengers.mean_occupancy());
  return j;
}

}  // namespace

json RouteStatsJson(const RouteStats& r, const AnalyticsNetwork& net) {
  json j;
  j["route_id"] = net.RouteId(r.route);
  j["visits"] = r.visits;
  j["on_time_pct"] = Num(r.on_time.on_time_pct());
  j["early_pct"] = Num(r.on_time.early_pct());
  j["late_pct"] = Num(r.on_time.late_pct());
  j["on_time_counted"] = r.on_time.counted;
  j["headway_cv"] = Num(r.headways.cv());
  j["mean_headway_s"] = Num(r.headways.mean_s());
  j["headway_gaps"] = r.headways.gaps;
  j["excess_wait_s"] = Num(r.excess_wait_s);
  j["bunched_gaps"] = r.bunched_gaps;
  j["trips"] = r.trips;
  j["actual_run_s"] = r.actual_run_s;
  j["scheduled_run_s"] = r.scheduled_run_s;
  j["run_time_ratio"] = Num(r.scheduled_run_s > 0 ? r.actual_run_s / r.scheduled_run_s : NAN);
  PassengerFields(r.passengers, j);
  json segs = json::array();
  for (const SegmentStats& s : r.segments) segs.push_back(SegmentJson(s, net));
  j["segments"] = std::move(segs);
  if (!r.stops.empty()) {
    json stops = json::array();
    for (const StopStats& s : r.stops) {
      json x;
      x["stop_id"] = net.StopId(s.stop);
      x["visits"] = s.visits;
      x["on_time_pct"] = Num(s.on_time.on_time_pct());
      x["early_pct"] = Num(s.on_time.early_pct());
      x["late_pct"] = Num(s.on_time.late_pct());
      x["headway_gaps"] = s.headways.gaps;
      x["mean_headway_s"] = Num(s.headways.mean_s());
      x["mean_scheduled_headway_s"] = Num(s.mean_scheduled_headway_s);
      x["headway_cv"] = Num(s.headways.cv());
      x["excess_wait_s"] = Num(s.excess_wait_s);
      x["bunched_gaps"] = s.bunched_gaps;
      PassengerFields(s.passengers, x);
      stops.push_back(std::move(x));
    }
    j["stops"] = std::move(stops);
  }
  if (!r.trip_list.empty()) {
    json trips = json::array();
    for (const TripStats& t : r.trip_list) {
      json x;
      x["trip_id"] = net.TripId(t.trip);
      x["service_date"] = std::to_string(t.service_date);
      x["vehicle_id"] = t.vehicle_id;
      x["visits"] = t.visits;
      x["first_stop_index"] = t.first_stop_index;
      x["last_stop_index"] = t.last_stop_index;
      x["actual_run_s"] = Num(t.actual_run_s);
      x["scheduled_run_s"] = Num(t.scheduled_run_s);
      x["end_delay_s"] = Num(t.end_delay_s);
      PassengerFields(t.passengers, x);
      trips.push_back(std::move(x));
    }
    j["trip_list"] = std::move(trips);
  }
  return j;
}

json RoutesReportJson(const std::vector<RouteStats>& routes, const AnalyticsNetwork& net) {
  json j;
  json arr = json::array();
  for (const RouteStats& r : routes) arr.push_back(RouteStatsJson(r, net));
  j["routes"] = std::move(arr);

  // Rankings: busiest by boardings (counts) else by visits; most crowded by mean load, else by
  // mean occupancy level; segments by mean load, else mean occupancy.
  std::vector<const RouteStats*> rs;
  for (const RouteStats& r : routes) rs.push_back(&r);
  bool counts = std::any_of(rs.begin(), rs.end(),
                            [](const RouteStats* r) { return r->passengers.has_counts(); });
  std::stable_sort(rs.begin(), rs.end(), [&](const RouteStats* a, const RouteStats* b) {
    return counts ? a->passengers.boardings > b->passengers.boardings : a->visits > b->visits;
  });
  json busiest = json::array();
  for (const RouteStats* r : rs) {
    busiest.push_back({{"route_id", net.RouteId(r->route)},
                       {"boardings", r->passengers.has_counts() ? json(r->passengers.boardings)
                                                                : json(nullptr)},
                       {"visits", r->visits}});
  }
  bool loads = std::any_of(rs.begin(), rs.end(),
                           [](const RouteStats* r) { return r->passengers.has_load(); });
  auto crowd = [&](const PassengerStats& p) {
    return loads ? p.mean_load() : p.mean_occupancy();
  };
  std::vector<const RouteStats*> rc;
  for (const RouteStats* r : rs) {
    if (std::isfinite(crowd(r->passengers))) rc.push_back(r);
  }
  std::stable_sort(rc.begin(), rc.end(), [&](const RouteStats* a, const RouteStats* b) {
    return crowd(a->passengers) > crowd(b->passengers);
  });
  json crowded = json::array();
  for (const RouteStats* r : rc) {
    crowded.push_back({{"route_id", net.RouteId(r->route)},
                       {"mean_load", Num(r->passengers.mean_load())},
                       {"max_load", r->passengers.has_load() ? json(r->passengers.max_load)
                                                             : json(nullptr)},
                       {"mean_occupancy", Num(r->passengers.mean_occupancy())},
                       {"crowded_pct", Num(r->passengers.crowded_pct())}});
  }
  std::vector<std::pair<const RouteStats*, const SegmentStats*>> segs;
  for (const RouteStats& r : routes) {
    for (const SegmentStats& s : r.segments) {
      if (std::isfinite(crowd(s.passengers))) segs.push_back({&r, &s});
    }
  }
  std::stable_sort(segs.begin(), segs.end(), [&](const auto& a, const auto& b) {
    return crowd(a.second->passengers) > crowd(b.second->passengers);
  });
  if (segs.size() > 20) segs.resize(20);
  json cseg = json::array();
  for (const auto& [r, s] : segs) {
    cseg.push_back({{"route_id", net.RouteId(r->route)},
                    {"from_stop_id", net.StopId(s->from_stop)},
                    {"to_stop_id", net.StopId(s->to_stop)},
                    {"traversals", s->traversals},
                    {"mean_load", Num(s->passengers.mean_load())},
                    {"mean_occupancy", Num(s->passengers.mean_occupancy())}});
  }
  json rank;
  rank["busiest_routes"] = std::move(busiest);
  rank["busiest_by"] = counts ? "boardings" : "visits (no passenger counts)";
  rank["most_crowded_routes"] = std::move(crowded);
  rank["most_crowded_segments"] = std::move(cseg);
  rank["crowding_by"] = loads ? "mean_load"
                        : rc.empty() ? "none (no passenger data)"
                                     : "mean_occupancy (no passenger counts)";
  j["rankings"] = std::move(rank);
  return j;
}

json BunchedPairsJson(const std::vector<BunchedPair>& pairs, const AnalyticsNetwork& net) {
  json arr = json::array();
  for (const BunchedPair& p : pairs) {
    arr.push_back({{"route_id", net.RouteId(p.route)},
                   {"stop_id", net.StopId(p.stop)},
                   {"leader_vehicle_id", p.leader_vehicle},
                   {"follower_vehicle_id", p.follower_vehicle},
                   {"leader_trip_id", net.TripId(p.leader_trip)},
                   {"follower_trip_id", net.TripId(p.follower_trip)},
                   {"leader_arrival", p.leader_arrival_s},
                   {"follower_arrival", p.follower_arrival_s},
                   {"headway_s", p.headway_s},
                   {"scheduled_headway_s", p.scheduled_headway_s}});
  }
  return arr;
}

json CongestionJson(const std::vector<SegmentCongestion>& segs, const AnalyticsNetwork& net) {
  json arr = json::array();
  for (const SegmentCongestion& c : segs) {
    arr.push_back({{"from_stop_id", net.StopId(c.from_stop)},
                   {"to_stop_id", net.StopId(c.to_stop)},
                   {"route_id", net.RouteId(c.route)},
                   {"distance_m", Num(c.distance_m)},
                   {"now_traversals", c.now_traversals},
                   {"now_speed_kmh", Num(c.now_speed_kmh)},
                   {"usual_traversals", c.usual_traversals},
                   {"usual_speed_kmh", Num(c.usual_speed_kmh)},
                   {"ratio", Num(c.ratio)}});
  }
  return arr;
}

json UsualJamsJson(const std::vector<UsualJam>& jams, const AnalyticsNetwork& net) {
  json arr = json::array();
  for (const UsualJam& u : jams) {
    char tod[16];
    std::snprintf(tod, sizeof tod, "%02d:%02d", u.bin_start_s / 3600, u.bin_start_s / 60 % 60);
    arr.push_back({{"from_stop_id", net.StopId(u.from_stop)},
                   {"to_stop_id", net.StopId(u.to_stop)},
                   {"route_id", net.RouteId(u.route)},
                   {"time_of_day", tod},
                   {"traversals", u.traversals},
                   {"speed_kmh", Num(u.speed_kmh)},
                   {"reference_speed_kmh", Num(u.reference_speed_kmh)},
                   {"ratio", Num(u.ratio)}});
  }
  return arr;
}

json DrivingJson(const std::vector<VehicleDriving>& driving) {
  json arr = json::array();
  for (const VehicleDriving& d : driving) {
    arr.push_back({{"vehicle_id", d.vehicle_id},
                   {"trips", d.trips},
                   {"driving_s", d.driving_s},
                   {"scheduled_s", d.scheduled_s},
                   {"last_visit", Num(d.last_visit_s)}});
  }
  return arr;
}

json FleetConditionJson(const FleetCondition& fleet, const AnalyticsNetwork& net) {
  json j;
  j["ok"] = fleet.ok;
  j["stale"] = fleet.stale;
  j["silent"] = fleet.silent;
  j["off_route"] = fleet.off_route;
  json arr = json::array();
  for (const FleetVehicle& v : fleet.vehicles) {
    arr.push_back({{"vehicle_id", v.vehicle_id},
                   {"last_report_age_s", v.last_report_age_s},
                   {"condition", VehicleConditionName(v.condition)},
                   {"off_route", v.off_route},
                   {"state", std::string(MatchStateName(v.state))},
                   {"route_id", v.route == kNoIndex ? json(nullptr) : json(net.RouteId(v.route))},
                   {"trip_id", v.trip == kNoIndex ? json(nullptr) : json(net.TripId(v.trip))},
                   {"delay_s", Num(v.delay_s)},
                   {"lat", v.pos.lat},
                   {"lon", v.pos.lon},
                   {"speed_mps", Num(v.speed_mps)},
                   {"driving_s", Num(v.driving_s)}});
  }
  j["vehicles"] = std::move(arr);
  return j;
}

}  // namespace smartbus
