#include "services/server/passenger_service.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/server/grpc_util.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "services/server/trip_details.h"
#include "services/server/watch_hub.h"
#include "smartbus/v1/passenger.grpc.pb.h"

namespace smartbus::server {
namespace {

class PassengerServiceImpl final : public pb::PassengerService::CallbackService {
 public:
  PassengerServiceImpl(const SmartbusServer* server, WatchHub* hub) : server_(server), hub_(hub) {}

  grpc::ServerUnaryReactor* GetArrivals(grpc::CallbackServerContext* ctx,
                                        const pb::GetArrivalsRequest* req,
                                        pb::ArrivalsBoard* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    auto view = server_->view();
    ArrivalsQuery q;
    absl::Status st = ResolveArrivalsQuery(*req, *view, server_->options().live_max_age_s, &q);
    if (st.ok()) BuildBoard(*view, q, server_->Now(), QueryVersion(*view, q), false, resp);
    return Reply(ctx, st);
  }

  grpc::ServerWriteReactor<pb::ArrivalsBoard>* WatchArrivals(
      grpc::CallbackServerContext* ctx, const pb::WatchArrivalsRequest* req) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok())
      return new ErrorWriteReactor<pb::ArrivalsBoard>(ToGrpc(s));
    return hub_->Watch(*req);
  }

  grpc::ServerUnaryReactor* FindStopsNear(grpc::CallbackServerContext* ctx,
                                          const pb::FindStopsNearRequest* req,
                                          pb::FindStopsNearResponse* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    if (!req->has_position())
      return Reply(ctx, absl::InvalidArgumentError("position: required (lat/lon in degrees)"));
    if (auto st = CheckLatLon(req->position(), "position"); !st.ok()) return Reply(ctx, st);
    if (!std::isfinite(req->radius_m()) || req->radius_m() < 0 || req->radius_m() > 5000)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("radius_m=", req->radius_m(), ": must be 0..5000 metres")));
    if (req->limit() > 200)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("limit=", req->limit(), ": must be 0..200")));
    auto view = server_->view();
    const Network& net = *view->network;
    auto near = net.StopsNear(LatLon{req->position().lat(), req->position().lon()},
                              req->radius_m() == 0 ? 500 : req->radius_m(),
                              req->limit() == 0 ? 20 : req->limit());
    for (const auto& [stop, d] : near) {
      auto* sd = resp->add_stops();
      StopToProto(net, stop, sd->mutable_stop());
      sd->set_distance_m(d);
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetTripDetails(grpc::CallbackServerContext* ctx,
                                           const pb::GetTripDetailsRequest* req,
                                           pb::TripDetails* resp) override {
    std::vector<std::shared_ptr<const VehicleSnapshot>> vehicles;
    if (!req->vehicle_id().empty()) {
      auto slot = server_->ShardFor(req->vehicle_id()).directory().Find(req->vehicle_id());
      auto snap = slot ? slot->snapshot.load(std::memory_order_acquire) : nullptr;
      if (!snap)
        return Reply(ctx, absl::NotFoundError(absl::StrCat(
                              "vehicle_id \"", req->vehicle_id(), "\": no such vehicle")));
      vehicles.push_back(std::move(snap));
    } else {
      vehicles = server_->AllVehicles();
    }
    const ServerOptions& o = server_->options();
    return Reply(ctx, BuildTripDetails(*server_->view(), vehicles, *req, server_->Now(),
                                       o.live_max_age_s, o.stale_after_s, resp));
  }

  grpc::ServerUnaryReactor* GetVehicle(grpc::CallbackServerContext* ctx,
                                       const pb::GetVehicleRequest* req,
                                       pb::Vehicle* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    if (req->vehicle_id().empty())
      return Reply(ctx, absl::InvalidArgumentError("vehicle_id: required"));
    auto slot = server_->ShardFor(req->vehicle_id()).directory().Find(req->vehicle_id());
    auto snap = slot ? slot->snapshot.load(std::memory_order_acquire) : nullptr;
    if (!snap)
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "vehicle_id \"", req->vehicle_id(),
                            "\": no fix received from this vehicle (nor recovered from the store)")));
    VehicleToProto(*snap, server_->Now(), server_->options().stale_after_s, resp);
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListVehicles(grpc::CallbackServerContext* ctx,
                                         const pb::ListVehiclesRequest* req,
                                         pb::ListVehiclesResponse* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    auto view = server_->view();
    std::string route_id;
    pb::BoundingBox box;
    switch (req->selector_case()) {
      case pb::ListVehiclesRequest::kRouteId:
        if (req->route_id().empty())
          return Reply(ctx, absl::InvalidArgumentError("route_id: empty"));
        if (!view->network->FindRoute(req->route_id()))
          return Reply(ctx, absl::NotFoundError(absl::StrCat(
                                "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
        route_id = req->route_id();
        break;
      case pb::ListVehiclesRequest::kBox: {
        box = req->box();
        pb::LatLon sw, ne;
        sw.set_lat(box.south());
        sw.set_lon(box.west());
        ne.set_lat(box.north());
        ne.set_lon(box.east());
        if (auto st = CheckLatLon(sw, "box.south/west"); !st.ok()) return Reply(ctx, st);
        if (auto st = CheckLatLon(ne, "box.north/east"); !st.ok()) return Reply(ctx, st);
        if (box.south() > box.north() || box.west() > box.east())
          return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "box: south=", box.south(), " north=", box.north(), " west=",
                                box.west(), " east=", box.east(),
                                ": need south <= north and west <= east")));
        break;
      }
      default:
        return Reply(ctx, absl::InvalidArgumentError("selector: set route_id or box"));
    }
    const int64_t now = server_->Now();
    resp->set_now(now);
    auto all = server_->AllVehicles();
    std::vector<const VehicleSnapshot*> hits;
    for (const auto& s : all) {
      const VehicleState& st = s->state;
      if (!route_id.empty()) {
        const GtfsFeed& f = s->network->feed();
        uint32_t r = st.route;
        if (r == kNoIndex && st.trip != kNoIndex && st.trip < f.trips.size()) r = f.trips[st.trip].route;
        if (r == kNoIndex || r >= f.routes.size() || f.routes[r].id != route_id) continue;
      } else if (st.pos.lat < box.south() || st.pos.lat > box.north() ||
                 st.pos.lon < box.west() || st.pos.lon > box.east()) {
        continue;
      }
      hits.push_back(s.get());
    }
    std::sort(hits.begin(), hits.end(), [](auto* a, auto* b) {
      return a->state.vehicle_id < b->state.vehicle_id;
    });
    if (req->limit() > 0 && hits.size() > req->limit()) hits.resize(req->limit());
    for (const VehicleSnapshot* s : hits)
      VehicleToProto(*s, now, server_->options().stale_after_s, resp->add_vehicles());
    return Reply(ctx, absl::OkStatus());
  }

 private:
  const SmartbusServer* server_;
  WatchHub* hub_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakePassengerService(const SmartbusServer* server, WatchHub* hub) {
  return std::make_unique<PassengerServiceImpl>(server, hub);
}

}  // namespace smartbus::server
