#include "services/server/analytics_service.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/store/network_ids.h"
#include "grpcpp/support/server_callback.h"
#include "services/server/accuracy_proto.h"
#include "services/server/advice_proto.h"
#include "services/server/convert.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::server {
namespace {

namespace apb = ::smartbus::v1;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

void Fill(const OnTimeStats& s, apb::OnTimeFigures* p) {
  p->set_counted(s.counted);
  p->set_on_time(s.on_time);
  p->set_early(s.early);
  p->set_late(s.late);
  if (s.counted > 0) {
    p->set_on_time_pct(s.on_time_pct());
    p->set_early_pct(s.early_pct());
    p->set_late_pct(s.late_pct());
  }
}

void Fill(const HeadwayStats& s, apb::HeadwayFigures* p) {
  p->set_gaps(s.gaps);
  p->set_sum_s(s.sum_s);
  p->set_sum_sq_s2(s.sum_sq);
  if (std::isfinite(s.mean_s())) p->set_mean_s(s.mean_s());
  if (std::isfinite(s.cv())) p->set_cv(s.cv());
}

void Fill(const PassengerStats& s, apb::PassengerFigures* p) {
  p->set_passenger_data(s.has_counts() || s.has_load() ? "counts"
                        : s.has_occupancy()            ? "occupancy_only"
                                                       : "none");
  p->set_count_visits(s.count_visits);
  if (s.has_counts()) {
    p->set_boardings(s.boardings);
    p->set_alightings(s.alightings);
  }
  p->set_load_visits(s.load_visits);
  if (s.has_load()) {
    if (s.max_load >= 0) p->set_max_load(s.max_load);
    p->set_mean_load(s.mean_load());
  }
  p->set_load_sum(s.load_sum);
  p->set_occupancy_visits(s.occupancy_visits);
  p->set_occupancy_sum(s.occupancy_sum);
  p->set_crowded_visits(s.crowded_visits);
  if (s.has_occupancy()) {
    p->set_mean_occupancy(s.mean_occupancy());
    p->set_crowded_pct(s.crowded_pct());
  }
}

void Fill(const RouteStats& r, const AnalyticsNetwork& net, apb::RouteFigures* p) {
  p->set_route_id(net.RouteId(r.route));
  p->set_visits(r.visits);
  Fill(r.on_time, p->mutable_on_time());
  Fill(r.headways, p->mutable_headways());
  if (std::isfinite(r.excess_wait_s)) p->set_excess_wait_s(r.excess_wait_s);
  p->set_bunched_gaps(r.bunched_gaps);
  Fill(r.passengers, p->mutable_passengers());
  p->set_trips(r.trips);
  p->set_actual_run_s(r.actual_run_s);
  p->set_scheduled_run_s(r.scheduled_run_s);
  for (const SegmentStats& s : r.segments) {
    apb::SegmentFigures* x = p->add_segments();
    x->set_from_stop_id(net.StopId(s.from_stop));
    x->set_to_stop_id(net.StopId(s.to_stop));
    x->set_traversals(s.traversals);
    x->set_distance_m(s.distance_m);
    x->set_mean_speed_kmh(s.mean_speed_kmh);
    x->set_mean_time_s(s.mean_time_s);
    x->set_mean_scheduled_time_s(s.mean_scheduled_time_s);
    Fill(s.passengers, x->mutable_passengers());
  }
  for (const StopStats& s : r.stops) {
    apb::StopFigures* x = p->add_stops();
    x->set_stop_id(net.StopId(s.stop));
    x->set_visits(s.visits);
    Fill(s.on_time, x->mutable_on_time());
    Fill(s.headways, x->mutable_headways());
    if (std::isfinite(s.mean_scheduled_headway_s))
      x->set_mean_scheduled_headway_s(s.mean_scheduled_headway_s);
    if (std::isfinite(s.excess_wait_s)) x->set_excess_wait_s(s.excess_wait_s);
    x->set_bunched_gaps(s.bunched_gaps);
    Fill(s.passengers, x->mutable_passengers());
  }
  for (const TripStats& t : r.trip_list) {
    apb::TripFigures* x = p->add_trip_list();
    x->set_trip_id(net.TripId(t.trip));
    x->set_service_date(std::to_string(t.service_date));
    x->set_vehicle_id(t.vehicle_id);
    x->set_visits(t.visits);
    x->set_first_stop_index(t.first_stop_index);
    x->set_last_stop_index(t.last_stop_index);
    if (std::isfinite(t.actual_run_s)) x->set_actual_run_s(t.actual_run_s);
    if (std::isfinite(t.scheduled_run_s)) x->set_scheduled_run_s(t.scheduled_run_s);
    if (std::isfinite(t.end_delay_s)) x->set_end_delay_s(t.end_delay_s);
    Fill(t.passengers, x->mutable_passengers());
  }
}

// Advice over the visits the store holds in the window (read afresh: advice is asked for
// rarely and needs every visit, not the aggregator's running sums).
absl::Status RouteAdvice(SmartbusServer& server, const apb::GetRouteAdviceRequest& req,
                         apb::GetRouteAdviceResponse* resp) {
  auto network = server.view()->network;
  std::vector<uint32_t> routes;
  for (const std::string& id : req.route_ids()) {
    auto r = network->FindRoute(id);
    if (!r) return absl::NotFoundError(absl::StrCat("route_id \"", id, "\": no such route"));
    routes.push_back(*r);
  }
  StopVisitQuery q;
  if (req.window().from() > 0) q.from_s = static_cast<double>(req.window().from());
  if (req.window().to() > 0) q.to_s = static_cast<double>(req.window().to());
  q.limit = std::numeric_limits<size_t>::max();
  auto records = server.store().ReadStopVisits(q);
  if (!records.ok()) return records.status();
  std::vector<StopVisit> visits;
  visits.reserve(records->size());
  for (StopVisitRecord& r : *records) {
    ResolveIndices(r, *network);
    visits.push_back(std::move(r.visit));
  }
  planner::AdviceOptions opt;
  opt.time_zone = network->time_zone();
  FillRouteAdvice(*network, planner::BuildAdvice(*network, visits, opt, routes), opt, resp);
  return absl::OkStatus();
}

// Live prediction accuracy: every shard's tallies of the window and routes, merged.
absl::Status PredictionAccuracy(SmartbusServer& server, const apb::GetPredictionAccuracyRequest& req,
                                apb::GetPredictionAccuracyResponse* resp) {
  auto network = server.view()->network;
  absl::flat_hash_set<uint32_t> routes;
  for (const std::string& id : req.route_ids()) {
    auto r = network->FindRoute(id);
    if (!r) return absl::NotFoundError(absl::StrCat("route_id \"", id, "\": no such route"));
    routes.insert(*r);
  }
  int64_t from = req.window().from(), to = req.window().to();
  if (from < 0 || to < 0 || (from > 0 && to > 0 && to <= from)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window: from=", from, " to=", to, ": need 0 (unbounded) or epoch seconds with to > from"));
  }
  const int64_t now = server.Now();
  if (req.today()) {
    const absl::TimeZone& tz = network->time_zone();
    const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixSeconds(now), tz);
    from = absl::ToUnixSeconds(absl::FromCivil(day, tz));
  }
  resp->set_now(now);
  resp->set_from(from);
  resp->set_to(to);
  AccuracyTally all;
  absl::flat_hash_map<uint32_t, AccuracyTally> by_route;
  int64_t held = 0, bytes = 0, since = 0;
  for (const auto& shard : server.shards()) {
    shard->accuracy().Collect(from, to, routes, &all, &by_route);
    const LiveAccuracyStats st = shard->accuracy().Stats();
    held += st.predictions_held;
    bytes += st.memory_bytes;
    if (st.oldest_hour_s > 0 && (since == 0 || st.oldest_hour_s < since)) since = st.oldest_hour_s;
  }
  FillAccuracy(all, resp->mutable_all());
  std::vector<std::pair<std::string, const AccuracyTally*>> sorted;
  for (const auto& [r, tally] : by_route)
    if (r < network->feed().routes.size()) sorted.emplace_back(network->feed().routes[r].id, &tally);
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [id, tally] : sorted) {
    apb::RouteAccuracy* ra = resp->add_routes();
    ra->set_route_id(id);
    FillAccuracy(*tally, ra->mutable_figures());
  }
  resp->set_held_since(since);
  resp->set_predictions_held(held);
  resp->set_memory_bytes(bytes);
  return absl::OkStatus();
}

class AnalyticsServiceImpl : public apb::AnalyticsService::CallbackService {
 public:
  AnalyticsServiceImpl(SmartbusServer* server, const AnalyticsHubOptions& options)
      : server_(server), hub_(options) {}

  grpc::ServerUnaryReactor* GetRouteAnalytics(grpc::CallbackServerContext* ctx,
                                              const apb::GetRouteAnalyticsRequest* req,
                                              apb::GetRouteAnalyticsResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetRouteAnalytics"); !p.ok())
      return Finish(ctx, p.status());
    auto network = server_->view()->network;
    RouteQuery q;
    if (!req->route_id().empty()) {
      auto r = network->FindRoute(req->route_id());
      if (!r) {
        return Finish(ctx, absl::NotFoundError(absl::StrCat(
                               "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
      }
      q.route = *r;
    }
    const int64_t from = req->window().from(), to = req->window().to();
    if (from < 0 || to < 0 || (from > 0 && to > 0 && to <= from)) {
      return Finish(ctx, absl::InvalidArgumentError(absl::StrCat(
                             "window: from=", from, " to=", to,
                             ": need 0 (unbounded) or epoch seconds with to > from")));
    }
    if (from > 0) q.window.from_s = static_cast<double>(from);
    if (to > 0) q.window.to_s = static_cast<double>(to);
    q.stops = req->stops();
    q.trips = req->trips();
    resp->set_now(server_->Now());
    resp->set_on_time_early_s(hub_.options().analytics.on_time_early_s);
    resp->set_on_time_late_s(hub_.options().analytics.on_time_late_s);
    absl::Status s = hub_.WithAggregator(
        server_->store(), network, [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          resp->set_visits_held(agg.visits());
          for (const RouteStats& r : agg.Routes(q)) Fill(r, net, resp->add_routes());
        });
    return Finish(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetRouteAdvice(grpc::CallbackServerContext* ctx,
                                           const apb::GetRouteAdviceRequest* req,
                                           apb::GetRouteAdviceResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetRouteAdvice"); !p.ok())
      return Finish(ctx, p.status());
    return Finish(ctx, RouteAdvice(*server_, *req, resp));
  }

  grpc::ServerUnaryReactor* GetPredictionAccuracy(
      grpc::CallbackServerContext* ctx, const apb::GetPredictionAccuracyRequest* req,
      apb::GetPredictionAccuracyResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetPredictionAccuracy"); !p.ok())
      return Finish(ctx, p.status());
    return Finish(ctx, PredictionAccuracy(*server_, *req, resp));
  }

  grpc::ServerUnaryReactor* GetBunching(grpc::CallbackServerContext* ctx,
                                        const apb::GetBunchingRequest* req,
                                        apb::GetBunchingResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetBunching"); !p.ok())
      return Finish(ctx, p.status());
    if (req->now() < 0) {
      return Finish(ctx, absl::InvalidArgumentError(
                             absl::StrCat("now=", req->now(), ": must be epoch seconds or 0")));
    }
    const int64_t now = req->now() > 0 ? req->now() : server_->Now();
    resp->set_now(now);
    resp->set_live_window_s(hub_.options().analytics.live_window_s);
    resp->set_bunching_ratio(hub_.options().analytics.bunching_ratio);
    absl::Status s = hub_.WithAggregator(
        server_->store(), server_->view()->network,
        [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          for (const BunchedPair& b : agg.BunchedPairs(static_cast<double>(now))) {
            apb::BunchedPair* p = resp->add_pairs();
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
        });
    return Finish(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetCongestion(grpc::CallbackServerContext* ctx,
                                          const apb::GetCongestionRequest* req,
                                          apb::GetCongestionResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetCongestion"); !p.ok())
      return Finish(ctx, p.status());
    if (req->now() < 0) {
      return Finish(ctx, absl::InvalidArgumentError(
                             absl::StrCat("now=", req->now(), ": must be epoch seconds or 0")));
    }
    if (req->limit() > 1000) {
      return Finish(ctx, absl::InvalidArgumentError(
                             absl::StrCat("limit=", req->limit(), ": must be 0..1000")));
    }
    const int64_t now = req->now() > 0 ? req->now() : server_->Now();
    const size_t limit = req->limit() == 0 ? 20 : req->limit();
    resp->set_now(now);
    absl::Status s = hub_.WithAggregator(
        server_->store(), server_->view()->network,
        [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          for (const SegmentCongestion& c : agg.Congestion(static_cast<double>(now), limit)) {
            apb::SegmentCongestion* p = resp->add_now_segments();
            p->set_from_stop_id(net.StopId(c.from_stop));
            p->set_to_stop_id(net.StopId(c.to_stop));
            p->set_route_id(net.RouteId(c.route));
            p->set_distance_m(c.distance_m);
            p->set_now_traversals(c.now_traversals);
            p->set_now_speed_kmh(c.now_speed_kmh);
            p->set_usual_traversals(c.usual_traversals);
            if (std::isfinite(c.usual_speed_kmh)) p->set_usual_speed_kmh(c.usual_speed_kmh);
            if (std::isfinite(c.ratio)) p->set_ratio(c.ratio);
          }
          for (const UsualJam& j : agg.UsualJams(limit)) {
            apb::UsualJam* p = resp->add_usual_jams();
            p->set_from_stop_id(net.StopId(j.from_stop));
            p->set_to_stop_id(net.StopId(j.to_stop));
            p->set_route_id(net.RouteId(j.route));
            p->set_bin_start_s(j.bin_start_s);
            p->set_traversals(j.traversals);
            p->set_speed_kmh(j.speed_kmh);
            p->set_reference_speed_kmh(j.reference_speed_kmh);
            p->set_ratio(j.ratio);
          }
        });
    return Finish(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetFleetCondition(grpc::CallbackServerContext* ctx,
                                              const apb::GetFleetConditionRequest* req,
                                              apb::GetFleetConditionResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetFleetCondition"); !p.ok())
      return Finish(ctx, p.status());
    for (auto [name, v] : {std::pair<const char*, int64_t>{"stale_after_s", req->stale_after_s()},
                           {"silent_after_s", req->silent_after_s()}}) {
      if (v < 0 || v > 86400) {
        return Finish(ctx, absl::InvalidArgumentError(
                               absl::StrCat(name, "=", v, ": must be 0..86400")));
      }
    }
    FleetOptions fo = hub_.options().fleet;
    if (req->stale_after_s() > 0) fo.stale_after_s = static_cast<double>(req->stale_after_s());
    if (req->silent_after_s() > 0) fo.silent_after_s = static_cast<double>(req->silent_after_s());
    const int64_t now = server_->Now();
    resp->set_now(now);
    auto network = server_->view()->network;
    std::vector<VehicleState> states;
    for (const auto& snap : server_->AllVehicles()) {
      VehicleState st = snap->state;
      if (snap->network != network) st.trip = st.route = kNoIndex;  // indices of an old feed
      states.push_back(std::move(st));
    }
    absl::Status s = hub_.WithAggregator(
        server_->store(), network, [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          FleetCondition f = BuildFleetCondition(states, static_cast<double>(now), fo,
                                                 agg.Driving(TimeWindow{}));
          resp->set_ok(f.ok);
          resp->set_stale(f.stale);
          resp->set_silent(f.silent);
          resp->set_off_route(f.off_route);
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
        });
    return Finish(ctx, Tolerate(s));
  }

 private:
  // The store being unreachable does not fail a query: the hub answers with what it holds
  // (storage health says NOT_SERVING meanwhile).
  absl::Status Tolerate(const absl::Status& s) {
    if (s.ok() || absl::IsUnavailable(s)) return absl::OkStatus();
    return s;
  }

  SmartbusServer* server_;
  AnalyticsHub hub_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAnalyticsService(SmartbusServer* server,
                                                    const AnalyticsHubOptions& options) {
  return std::make_unique<AnalyticsServiceImpl>(server, options);
}

}  // namespace smartbus::server
