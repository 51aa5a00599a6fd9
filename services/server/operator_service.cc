#include "services/server/operator_service.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/server/grpc_util.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "services/server/service_changes_rpc.h"
#include "services/server/watch_hub.h"
#include "smartbus/v1/operator.grpc.pb.h"

namespace smartbus::server {
namespace {

constexpr const char* kVersion = "0.1";

void GtfsRtToProto(const gtfs_rt::FeedStats& f, pb::GtfsRtFeedStatus* out) {
  out->set_source(f.source);
  out->set_kind(std::string(gtfs_rt::FeedKindName(f.kind)));
  out->set_polls(f.polls);
  out->set_good_polls(f.good_polls);
  for (int e = 0; e < gtfs_rt::kNumFeedErrors; ++e)
    if (f.errors[e] > 0)
      (*out->mutable_errors())[std::string(gtfs_rt::FeedErrorName(static_cast<gtfs_rt::FeedError>(e)))] =
          f.errors[e];
  out->set_entities(f.entities.entities);
  out->set_used(f.entities.used);
  out->set_duplicates(f.entities.duplicates);
  out->set_stale(f.entities.stale);
  out->set_invalid(f.entities.invalid);
  out->set_unknown_trips(f.entities.unknown_trips);
  out->set_fixes_accepted(f.fixes_accepted);
  out->set_fixes_rejected(f.fixes_rejected);
  out->set_fixes_overloaded(f.fixes_overloaded);
  out->set_last_header_timestamp(f.last_header_s);
  out->set_last_good_poll(f.last_good == absl::InfinitePast() ? 0 : absl::ToUnixSeconds(f.last_good));
  out->set_last_poll_ms(absl::ToDoubleMilliseconds(f.last_poll_time));
  out->set_last_error(f.last_error);
}

class OperatorServiceImpl final : public pb::OperatorService::CallbackService {
 public:
  OperatorServiceImpl(const SmartbusServer* server, std::function<uint32_t()> ingest_streams,
                      const WatchHub* hub)
      : server_(server), ingest_streams_(std::move(ingest_streams)), hub_(hub) {}

  grpc::ServerUnaryReactor* GetFleetStatus(grpc::CallbackServerContext* ctx,
                                           const pb::GetFleetStatusRequest* req,
                                           pb::GetFleetStatusResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetFleetStatus"); !p.ok())
      return Reply(ctx, p.status());
    if (req->stale_after_s() < 0 || req->stale_after_s() > 86400)
      return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                            "stale_after_s=", req->stale_after_s(), ": must be 0..86400")));
    auto view = server_->view();
    if (!req->route_id().empty() && !view->network->FindRoute(req->route_id()))
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
    const int64_t stale = req->stale_after_s() == 0 ? server_->options().stale_after_s
                                                    : req->stale_after_s();
    const int64_t now = server_->Now();
    resp->set_now(now);
    auto all = server_->AllVehicles();
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a->state.vehicle_id < b->state.vehicle_id; });
    for (const auto& s : all) {
      pb::Vehicle v;
      VehicleToProto(*s, now, stale, &v);
      if (!req->route_id().empty() && v.route_id() != req->route_id()) continue;
      switch (v.status()) {
        case pb::VEHICLE_STATUS_IN_SERVICE: resp->set_in_service(resp->in_service() + 1); break;
        case pb::VEHICLE_STATUS_LAYOVER: resp->set_layover(resp->layover() + 1); break;
        case pb::VEHICLE_STATUS_OFF_ROUTE: resp->set_off_route(resp->off_route() + 1); break;
        default: resp->set_unassigned(resp->unassigned() + 1); break;
      }
      if (v.stale()) resp->set_stale(resp->stale() + 1);
      *resp->add_vehicles() = std::move(v);
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* ctx,
                                            const pb::GetServerStatusRequest*,
                                            pb::ServerStatus* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "GetServerStatus"); !p.ok())
      return Reply(ctx, p.status());
    const ServerOptions& opt = server_->options();
    auto view = server_->view();
    const GtfsFeed& feed = view->network->feed();
    const ShardShared& sh = server_->shared();
    resp->set_version(kVersion);
    resp->set_now(server_->Now());
    resp->set_clock(opt.clock_follows_fixes ? "fixes" : "wall");
    resp->set_started(server_->started_s());
    for (const auto& f : opt.gtfs) resp->add_feeds(f);
    resp->set_feeds_loaded_at(server_->feeds_loaded_s());
    resp->set_routes(static_cast<uint32_t>(feed.routes.size()));
    resp->set_stops(static_cast<uint32_t>(feed.stops.size()));
    resp->set_trips(static_cast<uint32_t>(feed.trips.size()));
    uint32_t vehicles = 0;
    for (auto& shard : server_->shards()) {
      auto* so = resp->add_shards();
      so->set_shard(static_cast<uint32_t>(shard->index()));
      so->set_vehicles(static_cast<uint32_t>(shard->directory().size()));
      so->set_queued_fixes(static_cast<uint32_t>(shard->queued()));
      so->set_queue_capacity(static_cast<uint32_t>(shard->capacity()));
      so->set_fixes_processed(shard->processed());
      vehicles += so->vehicles();
    }
    resp->set_vehicles(vehicles);
    resp->set_fixes_received(server_->fixes_received());
    resp->set_fixes_accepted(sh.accepted.load());
    resp->set_fixes_rejected(sh.rejected.load());
    resp->set_fixes_overloaded(sh.overloaded.load());
    resp->set_stop_visits(sh.stop_visits.load());
    const StoreWriterStats ws = server_->writer().Stats();
    const StoreHealth h = server_->StorageHealth();
    auto* st = resp->mutable_store();
    st->set_backend(server_->store().Describe());
    st->set_serving(h.serving);
    st->set_reason(h.reason);
    st->set_enqueued(ws.enqueued);
    st->set_applied(ws.applied);
    st->set_rejected(ws.rejected);
    st->set_queued(ws.queued);
    st->set_queue_capacity(opt.writer.queue_capacity);
    st->set_coalesced(ws.coalesced);
    resp->set_ingest_streams(ingest_streams_());
    resp->set_watch_streams(hub_->size());
    resp->set_recovered_vehicles(server_->recovered_vehicles());
    // The learned model, as shard 0 holds it (every shard learns from every visit).
    const uint64_t segments = static_cast<uint64_t>(server_->shards()[0]->segments_learned());
    const std::string summary =
        absl::StrCat("smartbus layered predictor: ", segments, " segments learned");
    resp->set_model(summary);
    resp->set_model_observations(segments);
    for (const gtfs_rt::FeedStats& f : server_->GtfsRtStats()) GtfsRtToProto(f, resp->add_gtfs_rt_feeds());
    resp->set_gtfs_rt_unhealthy(server_->GtfsRtUnhealthy());
    const ServiceChangeStats sc = server_->service_changes().Stats();
    resp->set_service_alerts(static_cast<uint32_t>(sc.alerts));
    resp->set_trip_changes(static_cast<uint32_t>(sc.trips));
    return Reply(ctx, absl::OkStatus());
  }

  // Service changes: service_changes_rpc.h. Writes need a dispatcher token, the list a
  // viewer token (auth.h), when smartbusd has --tokens.
  grpc::ServerUnaryReactor* CancelTrip(grpc::CallbackServerContext* ctx,
                                       const pb::CancelTripRequest* req,
                                       pb::TripChangeResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kDispatcher, "CancelTrip"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, CancelTripCall(*server_, *req, resp));
  }
  grpc::ServerUnaryReactor* RestoreTrip(grpc::CallbackServerContext* ctx,
                                        const pb::RestoreTripRequest* req,
                                        pb::TripChangeResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kDispatcher, "RestoreTrip"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, RestoreTripCall(*server_, *req, resp));
  }
  grpc::ServerUnaryReactor* PostAlert(grpc::CallbackServerContext* ctx,
                                      const pb::PostAlertRequest* req,
                                      pb::PostAlertResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kDispatcher, "PostAlert"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, PostAlertCall(*server_, *req, resp));
  }
  grpc::ServerUnaryReactor* EndAlert(grpc::CallbackServerContext* ctx,
                                     const pb::EndAlertRequest* req,
                                     pb::EndAlertResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kDispatcher, "EndAlert"); !p.ok())
      return Reply(ctx, p.status());
    return Reply(ctx, EndAlertCall(*server_, *req, resp));
  }
  grpc::ServerUnaryReactor* ListServiceChanges(grpc::CallbackServerContext* ctx,
                                               const pb::ListServiceChangesRequest*,
                                               pb::ListServiceChangesResponse* resp) override {
    if (auto p = server_->auth().Check(*ctx, Role::kViewer, "ListServiceChanges"); !p.ok())
      return Reply(ctx, p.status());
    ListServiceChangesCall(*server_, resp);
    return Reply(ctx, absl::OkStatus());
  }

 private:
  const SmartbusServer* server_;
  const std::function<uint32_t()> ingest_streams_;
  const WatchHub* hub_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeOperatorService(const SmartbusServer* server,
                                                   std::function<uint32_t()> ingest_streams,
                                                   const WatchHub* hub) {
  return std::make_unique<OperatorServiceImpl>(server, std::move(ingest_streams), hub);
}

}  // namespace smartbus::server
