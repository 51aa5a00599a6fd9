#include "services/server/analytics_proto.h"

#include <cmath>
#include <string>

namespace smartbus::server {
namespace {

namespace apb = ::smartbus::v1;

// Counts are int32 in the proto (JSON numbers; analytics.proto says why they fit).
int32_t Count(int64_t n) { return static_cast<int32_t>(n); }

void Fill(const OnTimeStats& s, apb::OnTimeFigures* p) {
  p->set_counted(Count(s.counted));
  p->set_on_time(Count(s.on_time));
  p->set_early(Count(s.early));
  p->set_late(Count(s.late));
  if (s.counted > 0) {
    p->set_on_time_pct(s.on_time_pct());
    p->set_early_pct(s.early_pct());
    p->set_late_pct(s.late_pct());
  }
}

void Fill(const HeadwayStats& s, apb::HeadwayFigures* p) {
  p->set_gaps(Count(s.gaps));
  p->set_sum_s(s.sum_s);
  p->set_sum_sq_s2(s.sum_sq);
  if (std::isfinite(s.mean_s())) p->set_mean_s(s.mean_s());
  if (std::isfinite(s.cv())) p->set_cv(s.cv());
}

void Fill(const PassengerStats& s, apb::PassengerFigures* p) {
  p->set_passenger_data(s.has_counts() || s.has_load() ? "counts"
                        : s.has_occupancy()            ? "occupancy_only"
                                                       : "none");
  p->set_count_visits(Count(s.count_visits));
  if (s.has_counts()) {
    p->set_boardings(Count(s.boardings));
    p->set_alightings(Count(s.alightings));
  }
  p->set_load_visits(Count(s.load_visits));
  if (s.has_load()) {
    if (s.max_load >= 0) p->set_max_load(s.max_load);
    p->set_mean_load(s.mean_load());
  }
  p->set_load_sum(s.load_sum);
  p->set_occupancy_visits(Count(s.occupancy_visits));
  p->set_occupancy_sum(s.occupancy_sum);
  p->set_crowded_visits(Count(s.crowded_visits));
  if (s.has_occupancy()) {
    p->set_mean_occupancy(s.mean_occupancy());
    p->set_crowded_pct(s.crowded_pct());
  }
}

void Fill(const SegmentStats& s, const AnalyticsNetwork& net, apb::SegmentFigures* x) {
  x->set_from_stop_id(net.StopId(s.from_stop));
  x->set_to_stop_id(net.StopId(s.to_stop));
  x->set_traversals(Count(s.traversals));
  x->set_distance_m(s.distance_m);
  x->set_mean_speed_kmh(s.mean_speed_kmh);
  x->set_mean_time_s(s.mean_time_s);
  x->set_mean_scheduled_time_s(s.mean_scheduled_time_s);
  Fill(s.passengers, x->mutable_passengers());
}

void Fill(const StopStats& s, const AnalyticsNetwork& net, apb::StopFigures* x) {
  x->set_stop_id(net.StopId(s.stop));
  x->set_visits(Count(s.visits));
  Fill(s.on_time, x->mutable_on_time());
  Fill(s.headways, x->mutable_headways());
  if (std::isfinite(s.mean_scheduled_headway_s))
    x->set_mean_scheduled_headway_s(s.mean_scheduled_headway_s);
  if (std::isfinite(s.excess_wait_s)) x->set_excess_wait_s(s.excess_wait_s);
  x->set_bunched_gaps(Count(s.bunched_gaps));
  Fill(s.passengers, x->mutable_passengers());
}

void Fill(const TripStats& t, const AnalyticsNetwork& net, apb::TripFigures* x) {
  x->set_trip_id(net.TripId(t.trip));
  x->set_service_date(std::to_string(t.service_date));
  x->set_vehicle_id(t.vehicle_id);
  x->set_visits(Count(t.visits));
  x->set_first_stop_index(t.first_stop_index);
  x->set_last_stop_index(t.last_stop_index);
  if (std::isfinite(t.actual_run_s)) x->set_actual_run_s(t.actual_run_s);
  if (std::isfinite(t.scheduled_run_s)) x->set_scheduled_run_s(t.scheduled_run_s);
  if (std::isfinite(t.end_delay_s)) x->set_end_delay_s(t.end_delay_s);
  Fill(t.passengers, x->mutable_passengers());
}

}  // namespace

void FillRoute(const RouteStats& r, const AnalyticsNetwork& net, apb::RouteFigures* p) {
  p->set_route_id(net.RouteId(r.route));
  p->set_visits(Count(r.visits));
  Fill(r.on_time, p->mutable_on_time());
  Fill(r.headways, p->mutable_headways());
  if (std::isfinite(r.excess_wait_s)) p->set_excess_wait_s(r.excess_wait_s);
  p->set_bunched_gaps(Count(r.bunched_gaps));
  Fill(r.passengers, p->mutable_passengers());
  p->set_trips(Count(r.trips));
  p->set_actual_run_s(r.actual_run_s);
  p->set_scheduled_run_s(r.scheduled_run_s);
  for (const SegmentStats& s : r.segments) Fill(s, net, p->add_segments());
  for (const StopStats& s : r.stops) Fill(s, net, p->add_stops());
  for (const TripStats& t : r.trip_list) Fill(t, net, p->add_trip_list());
}

void FillBunchedPair(const BunchedPair& b, const AnalyticsNetwork& net, apb::BunchedPair* p) {
  p->set_route_id(net.RouteId(b.route));
  p->set_stop_id(net.StopId(b.stop));
  p->set_leader_vehicle_id(b.leader_vehicle);
  p->set_follower_vehicle_id(b.follower_vehicle);
  p->set_leader_trip_id(net.TripId(b.leader_trip));
  p->set_follower_trip_id(net.TripId(b.follower_trip));
  p->set_leader_arrival(b.leader_arrival_s);
  p->set_follower_arrival(b.follower_arrival_s);
  p->set_headway_s(b.headway_s);
  p->set_scheduled_headway_s(b.scheduled_headway_s);
}

void FillCongestion(const SegmentCongestion& c, const AnalyticsNetwork& net,
                    apb::SegmentCongestion* p) {
  p->set_from_stop_id(net.StopId(c.from_stop));
  p->set_to_stop_id(net.StopId(c.to_stop));
  p->set_route_id(net.RouteId(c.route));
  p->set_distance_m(c.distance_m);
  p->set_now_traversals(Count(c.now_traversals));
  p->set_now_speed_kmh(c.now_speed_kmh);
  p->set_usual_traversals(Count(c.usual_traversals));
  if (std::isfinite(c.usual_speed_kmh)) p->set_usual_speed_kmh(c.usual_speed_kmh);
  if (std::isfinite(c.ratio)) p->set_ratio(c.ratio);
}

void FillUsualJam(const UsualJam& j, const AnalyticsNetwork& net, apb::UsualJam* p) {
  p->set_from_stop_id(net.StopId(j.from_stop));
  p->set_to_stop_id(net.StopId(j.to_stop));
  p->set_route_id(net.RouteId(j.route));
  p->set_bin_start_s(j.bin_start_s);
  p->set_traversals(Count(j.traversals));
  p->set_speed_kmh(j.speed_kmh);
  p->set_reference_speed_kmh(j.reference_speed_kmh);
  p->set_ratio(j.ratio);
}

void FillFleetCondition(const FleetCondition& f, const AnalyticsNetwork& net,
                        apb::GetFleetConditionResponse* resp) {
  resp->set_ok(Count(f.ok));
  resp->set_stale(Count(f.stale));
  resp->set_silent(Count(f.silent));
  resp->set_off_route(Count(f.off_route));
  for (const FleetVehicle& v : f.vehicles) {
    apb::VehicleCondition* p = resp->add_vehicles();
    p->set_vehicle_id(v.vehicle_id);
    p->set_last_report_age_s(v.last_report_age_s);
    p->set_condition(VehicleConditionName(v.condition));
    p->set_off_route(v.off_route);
    p->set_state(std::string(MatchStateName(v.state)));
    if (v.route != kNoIndex) p->set_route_id(net.RouteId(v.route));
    if (v.trip != kNoIndex) p->set_trip_id(net.TripId(v.trip));
    if (std::isfinite(v.delay_s)) p->set_delay_s(v.delay_s);
    p->set_lat(v.pos.lat);
    p->set_lon(v.pos.lon);
    if (std::isfinite(v.speed_mps)) p->set_speed_mps(v.speed_mps);
    if (std::isfinite(v.driving_s)) p->set_driving_s(v.driving_s);
  }
}

void FillDriving(const VehicleDriving& d, apb::VehicleDriving* p) {
  p->set_vehicle_id(d.vehicle_id);
  p->set_trips(Count(d.trips));
  p->set_driving_s(d.driving_s);
  p->set_scheduled_s(d.scheduled_s);
  if (std::isfinite(d.last_visit_s)) p->set_last_visit(d.last_visit_s);
}

void FillRankings(const RouteRanking& ranking, const std::vector<RouteStats>& routes,
                  const AnalyticsNetwork& net, apb::RouteRankings* p) {
  for (size_t i : ranking.busiest) p->add_busiest_route_ids(net.RouteId(routes[i].route));
  p->set_busiest_by(ranking.busiest_by_boardings ? "boardings" : "visits (no passenger counts)");
  for (size_t i : ranking.most_crowded)
    p->add_most_crowded_route_ids(net.RouteId(routes[i].route));
  for (const auto& [r, s] : ranking.most_crowded_segments) {
    apb::RouteRankings::Segment* x = p->add_most_crowded_segments();
    x->set_route_id(net.RouteId(routes[r].route));
    x->set_from_stop_id(net.StopId(routes[r].segments[s].from_stop));
    x->set_to_stop_id(net.StopId(routes[r].segments[s].to_stop));
  }
  switch (ranking.crowding_by) {
    case RouteRanking::CrowdingBy::kMeanLoad: p->set_crowding_by("mean_load"); break;
    case RouteRanking::CrowdingBy::kMeanOccupancy:
      p->set_crowding_by("mean_occupancy (no passenger counts)");
      break;
    case RouteRanking::CrowdingBy::kNone: p->set_crowding_by("none (no passenger data)"); break;
  }
}

void FillReport(const VisitAggregator& agg, const std::vector<RouteStats>& routes,
                const AnalyticsNetwork& net, const TimeWindow& window, double now_s,
                size_t limit, apb::AnalyticsReport* out) {
  if (std::isfinite(window.from_s)) out->set_from(window.from_s);
  if (std::isfinite(window.to_s)) out->set_to(window.to_s);
  for (const RouteStats& r : routes) FillRoute(r, net, out->add_routes());
  FillRankings(RankRoutes(routes), routes, net, out->mutable_rankings());
  if (std::isfinite(now_s)) {
    out->set_now(now_s);
    for (const BunchedPair& b : agg.BunchedPairs(now_s)) FillBunchedPair(b, net, out->add_bunched_pairs());
    for (const SegmentCongestion& c : agg.Congestion(now_s, limit))
      FillCongestion(c, net, out->add_congestion());
  }
  for (const UsualJam& j : agg.UsualJams(limit)) FillUsualJam(j, net, out->add_usual_jams());
  for (const VehicleDriving& d : agg.Driving(window)) FillDriving(d, out->add_vehicles());
}

}  // namespace smartbus::server
