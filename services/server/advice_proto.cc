#include "services/server/advice_proto.h"

#include <cmath>
#include <string>

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;

std::string StopId(const Network& net, uint32_t s) {
  return s == kNoIndex ? std::string() : net.feed().stops[s].id;
}

void Fill(const planner::RunningTimeBand& b, pb::RunningTimeFigures* p) {
  p->set_band(b.band);
  p->set_samples(b.samples);
  if (std::isfinite(b.p50_s)) p->set_p50_s(b.p50_s);
  if (std::isfinite(b.p85_s)) p->set_p85_s(b.p85_s);
  if (std::isfinite(b.p95_s)) p->set_p95_s(b.p95_s);
  if (std::isfinite(b.scheduled_s)) p->set_scheduled_s(b.scheduled_s);
  if (std::isfinite(b.recommended_s)) p->set_recommended_s(b.recommended_s);
  if (std::isfinite(b.change_s)) p->set_change_s(b.change_s);
}

void Fill(const Network& net, const planner::SegmentAdvice& s, pb::SegmentRunningTimes* p) {
  p->set_direction_id(s.direction_id);
  p->set_from_stop_id(StopId(net, s.from_stop));
  p->set_to_stop_id(StopId(net, s.to_stop));
  for (const auto& b : s.bands) Fill(b, p->add_bands());
}

void FillHeadways(const Network& net, const planner::HeadwayAdvice& h, pb::HeadwayRegularity* p) {
  p->set_direction_id(h.direction_id);
  p->set_first_irregular_stop_id(StopId(net, h.first_irregular_stop));
  p->set_bunching_starts_at_stop_id(StopId(net, h.bunching_starts_at));
  for (const auto& s : h.stops) {
    pb::HeadwayAtStop* ps = p->add_stops();
    ps->set_stop_id(StopId(net, s.stop));
    ps->set_gaps(s.gaps);
    if (std::isfinite(s.cv)) ps->set_cv(s.cv);
    if (std::isfinite(s.bunched_share)) ps->set_bunched_share(s.bunched_share);
  }
}

void FillStops(const Network& net, const planner::RouteAdvice& r, pb::RouteAdviceFigures* p) {
  p->set_passenger_data(r.passenger_data);
  for (const auto& u : r.consolidation) {
    pb::StopUseFigures* pu = p->add_consolidation_candidates();
    pu->set_stop_id(StopId(net, u.stop));
    pu->set_ons_offs_per_day(u.ons_offs_per_day);
    pu->set_neighbour_stop_id(StopId(net, u.neighbour));
    if (std::isfinite(u.neighbour_m)) pu->set_neighbour_m(u.neighbour_m);
  }
  for (const auto& s : r.spacing) {
    pb::StopSpacingFigures* ps = p->add_stop_spacing();
    ps->set_direction_id(s.direction_id);
    ps->set_stops(s.stops);
    if (std::isfinite(s.mean_m)) ps->set_mean_m(s.mean_m);
    if (std::isfinite(s.median_m)) ps->set_median_m(s.median_m);
    if (std::isfinite(s.min_m)) ps->set_min_m(s.min_m);
    if (std::isfinite(s.max_m)) ps->set_max_m(s.max_m);
    ps->set_gaps_below_200m(s.below_200m);
  }
}

void FillRoute(const Network& net, const planner::RouteAdvice& r, pb::RouteAdviceFigures* p) {
  p->set_route_id(net.feed().routes[r.route].id);
  for (const auto& s : r.segments) Fill(net, s, p->add_segments());
  for (const auto& s : r.timepoint_pairs) Fill(net, s, p->add_timepoint_pairs());
  for (const auto& t : r.trips) {
    pb::TripRunningTimes* pt = p->add_trips();
    pt->set_direction_id(t.direction_id);
    Fill(t.running, pt->mutable_running());
    if (std::isfinite(t.recovery_s)) pt->set_recovery_s(t.recovery_s);
    if (std::isfinite(t.scheduled_layover_s)) pt->set_scheduled_layover_s(t.scheduled_layover_s);
  }
  for (const auto& h : r.headways) FillHeadways(net, h, p->add_headways());
  p->set_trips_observed(r.trips_observed);
  p->set_late_pullouts(r.late_pullouts);
  p->set_late_after_previous_trip(r.late_after_previous_trip);
  p->set_late_departures(r.late_departures);
  p->set_late_previous_trip_unobserved(r.late_unexplained);
  for (const auto& l : r.late_starts) {
    pb::LateStartFigures* pl = p->add_late_starts();
    pl->set_trip_id(net.feed().trips[l.trip].id);
    pl->set_service_date(std::to_string(l.service_date));
    pl->set_vehicle_id(l.vehicle_id);
    pl->set_start_delay_s(l.start_delay_s);
    pl->set_cause(l.cause);
    if (std::isfinite(l.previous_end_delay_s)) pl->set_previous_end_delay_s(l.previous_end_delay_s);
  }
  FillStops(net, r, p);
}

}  // namespace

void FillRouteAdvice(const Network& net, const planner::AdviceReport& report,
                     const planner::AdviceOptions& options, v1::GetRouteAdviceResponse* out) {
  out->set_days(report.days);
  out->set_visits(report.visits);
  out->set_schedule_percentile(options.schedule_percentile);
  out->set_cycle_percentile(options.cycle_percentile);
  for (const auto& r : report.routes) FillRoute(net, r, out->add_routes());
}

}  // namespace smartbus::server
