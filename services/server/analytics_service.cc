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
#include "services/server/analytics_proto.h"
#include "services/server/convert.h"
#include "services/server/grpc_util.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::server {
namespace {

namespace apb = ::smartbus::v1;

// The routes named by `ids`; NOT_FOUND naming the first one the network does not have.
absl::StatusOr<std::vector<uint32_t>> FindRoutes(
    const Network& network, const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<uint32_t> routes;
  for (const std::string& id : ids) {
    auto r = network.FindRoute(id);
    if (!r) return absl::NotFoundError(absl::StrCat("route_id \"", id, "\": no such route"));
    routes.push_back(*r);
  }
  return routes;
}

// A request's time window: 0 is unbounded on that side, else epoch seconds with to > from.
absl::Status CheckWindow(int64_t from, int64_t to) {
  if (from < 0 || to < 0 || (from > 0 && to > 0 && to <= from)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window: from=", from, " to=", to, ": need 0 (unbounded) or epoch seconds with to > from"));
  }
  return absl::OkStatus();
}

// A request's `now`: epoch seconds, or 0 for the server's clock.
absl::StatusOr<int64_t> RequestNow(int64_t now, const SmartbusServer& server) {
  if (now < 0)
    return absl::InvalidArgumentError(absl::StrCat("now=", now, ": must be epoch seconds or 0"));
  return now > 0 ? now : server.Now();
}

// Advice over the visits the store holds in the window (read afresh: advice is asked for
// rarely and needs every visit, not the aggregator's running sums).
absl::Status RouteAdvice(SmartbusServer& server, const apb::GetRouteAdviceRequest& req,
                         apb::GetRouteAdviceResponse* resp) {
  auto network = server.view()->network;
  auto routes = FindRoutes(*network, req.route_ids());
  if (!routes.ok()) return routes.status();
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
  FillRouteAdvice(*network, planner::BuildAdvice(*network, visits, opt, *routes), opt, resp);
  return absl::OkStatus();
}

// Live prediction accuracy: every shard's tallies of the window and routes, merged.
absl::Status PredictionAccuracy(SmartbusServer& server, const apb::GetPredictionAccuracyRequest& req,
                                apb::GetPredictionAccuracyResponse* resp) {
  auto network = server.view()->network;
  auto route_list = FindRoutes(*network, req.route_ids());
  if (!route_list.ok()) return route_list.status();
  const absl::flat_hash_set<uint32_t> routes(route_list->begin(), route_list->end());
  int64_t from = req.window().from(), to = req.window().to();
  if (absl::Status s = CheckWindow(from, to); !s.ok()) return s;
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
      return Reply(ctx, p.status());
    auto network = server_->view()->network;
    RouteQuery q;
    if (!req->route_id().empty()) {
      auto r = network->FindRoute(req->route_id());
      if (!r) {
        return Reply(ctx, absl::NotFoundError(absl::StrCat(
                               "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
      }
      q.route = *r;
    }
    const int64_t from = req->window().from(), to = req->window().to();
    if (absl::Status s = CheckWindow(from, to); !s.ok()) return Reply(ctx, s);
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
          for (const RouteStats& r : agg.Routes(q)) FillRoute(r, net, resp->add_routes());
        });
    return Reply(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetRouteAdvice(grpc::CallbackServerContext* ctx,
                                           const apb::GetRouteAdviceRequest* req,
                                           apb::GetRouteAdviceResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetRouteAdvice"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, RouteAdvice(*server_, *req, resp));
  }

  grpc::ServerUnaryReactor* GetPredictionAccuracy(
      grpc::CallbackServerContext* ctx, const apb::GetPredictionAccuracyRequest* req,
      apb::GetPredictionAccuracyResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetPredictionAccuracy"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, PredictionAccuracy(*server_, *req, resp));
  }

  grpc::ServerUnaryReactor* GetBunching(grpc::CallbackServerContext* ctx,
                                        const apb::GetBunchingRequest* req,
                                        apb::GetBunchingResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetBunching"); !p.ok())
      return Reply(ctx, p.status());
    const absl::StatusOr<int64_t> now_or = RequestNow(req->now(), *server_);
    if (!now_or.ok()) return Reply(ctx, now_or.status());
    const int64_t now = *now_or;
    resp->set_now(now);
    resp->set_live_window_s(hub_.options().analytics.live_window_s);
    resp->set_bunching_ratio(hub_.options().analytics.bunching_ratio);
    absl::Status s = hub_.WithAggregator(
        server_->store(), server_->view()->network,
        [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          for (const BunchedPair& b : agg.BunchedPairs(static_cast<double>(now)))
            FillBunchedPair(b, net, resp->add_pairs());
        });
    return Reply(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetCongestion(grpc::CallbackServerContext* ctx,
                                          const apb::GetCongestionRequest* req,
                                          apb::GetCongestionResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetCongestion"); !p.ok())
      return Reply(ctx, p.status());
    const absl::StatusOr<int64_t> now_or = RequestNow(req->now(), *server_);
    if (!now_or.ok()) return Reply(ctx, now_or.status());
    if (req->limit() > 1000) {
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("limit=", req->limit(), ": must be 0..1000")));
    }
    const int64_t now = *now_or;
    const size_t limit = req->limit() == 0 ? 20 : req->limit();
    resp->set_now(now);
    absl::Status s = hub_.WithAggregator(
        server_->store(), server_->view()->network,
        [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          for (const SegmentCongestion& c : agg.Congestion(static_cast<double>(now), limit))
            FillCongestion(c, net, resp->add_now_segments());
          for (const UsualJam& j : agg.UsualJams(limit)) FillUsualJam(j, net, resp->add_usual_jams());
        });
    return Reply(ctx, Tolerate(s));
  }

  grpc::ServerUnaryReactor* GetFleetCondition(grpc::CallbackServerContext* ctx,
                                              const apb::GetFleetConditionRequest* req,
                                              apb::GetFleetConditionResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetFleetCondition"); !p.ok())
      return Reply(ctx, p.status());
    for (auto [name, v] : {std::pair<const char*, int64_t>{"stale_after_s", req->stale_after_s()},
                           {"silent_after_s", req->silent_after_s()}}) {
      if (v < 0 || v > 86400) {
        return Reply(ctx, absl::InvalidArgumentError(
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
      if (snap->network != network) {  // indices of an old feed
        st.trip = kNoIndex;
        st.route = kNoIndex;
      }
      states.push_back(std::move(st));
    }
    absl::Status s = hub_.WithAggregator(
        server_->store(), network, [&](const VisitAggregator& agg, const AnalyticsNetwork& net) {
          FleetCondition f = BuildFleetCondition(states, static_cast<double>(now), fo,
                                                 agg.Driving(TimeWindow{}));
          FillFleetCondition(f, net, resp);
        });
    return Reply(ctx, Tolerate(s));
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
