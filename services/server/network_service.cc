#include "services/server/network_service.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/server/grpc_util.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "smartbus/v1/network.grpc.pb.h"

namespace smartbus::server {
namespace {

class NetworkServiceImpl final : public pb::NetworkService::CallbackService {
 public:
  explicit NetworkServiceImpl(const SmartbusServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* ListRoutes(grpc::CallbackServerContext* ctx,
                                       const pb::ListRoutesRequest* req,
                                       pb::ListRoutesResponse* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    auto view = server_->view();
    const Network& net = *view->network;
    const GtfsFeed& feed = net.feed();
    std::vector<uint32_t> routes;
    for (const std::string& id : req->route_ids()) {
      auto r = net.FindRoute(id);
      if (!r)
        return Reply(ctx, absl::NotFoundError(absl::StrCat(
                              "route_ids: \"", id, "\": no such route in the loaded feeds")));
      routes.push_back(*r);
    }
    if (routes.empty())
      for (uint32_t r = 0; r < feed.routes.size(); ++r) routes.push_back(r);
    std::sort(routes.begin(), routes.end(),
              [&](uint32_t a, uint32_t b) { return feed.routes[a].id < feed.routes[b].id; });
    routes.erase(std::unique(routes.begin(), routes.end()), routes.end());
    for (uint32_t r : routes) {
      const GtfsRoute& gr = feed.routes[r];
      pb::Route* out = resp->add_routes();
      out->set_route_id(gr.id);
      out->set_short_name(gr.short_name);
      out->set_long_name(gr.long_name);
      out->set_route_type(gr.type);
      out->set_color(gr.color);
      out->set_text_color(gr.text_color);
      if (gr.agency < feed.agencies.size()) out->set_agency_name(feed.agencies[gr.agency].name);
      if (!req->include_shapes()) continue;
      for (uint32_t pi : net.route_patterns(r)) {
        const Pattern& p = net.pattern(pi);
        pb::RoutePattern* po = out->add_patterns();
        po->set_direction_id(p.direction_id);
        if (!p.trips.empty()) po->set_headsign(feed.trips[p.trips.front()].headsign);
        po->set_length_m(net.polylines()[p.polyline].length_m());
        if (p.shape != kNoIndex && p.shape < feed.shapes.size()) {
          po->set_shape_id(feed.shapes[p.shape].id);
          for (const LatLon& ll : feed.shapes[p.shape].points) {
            auto* pt = po->add_points();
            pt->set_lat(ll.lat);
            pt->set_lon(ll.lon);
          }
        } else if (p.learned_path) {  // drawn along the path learned from the buses' traces
          for (const Vec2& v : net.polylines()[p.polyline].points()) {
            const LatLon ll = net.projection().Reverse(v);
            auto* pt = po->add_points();
            pt->set_lat(ll.lat);
            pt->set_lon(ll.lon);
          }
        } else {
          for (uint32_t s : p.stops) {
            auto* pt = po->add_points();
            pt->set_lat(feed.stops[s].pos.lat);
            pt->set_lon(feed.stops[s].pos.lon);
          }
        }
        for (size_t k = 0; k < p.stops.size(); ++k) {
          po->add_stop_ids(feed.stops[p.stops[k]].id);
          po->add_stop_dist_m(k < p.stop_dist_m.size() ? p.stop_dist_m[k] : NAN);
        }
        po->set_trips(static_cast<uint32_t>(p.trips.size()));
      }
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* SearchStops(grpc::CallbackServerContext* ctx,
                                        const pb::SearchStopsRequest* req,
                                        pb::SearchStopsResponse* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    if (req->query().empty())
      return Reply(ctx, absl::InvalidArgumentError(
                            "query: required (part of a stop name, or a stop_code or stop_id)"));
    if (req->query().size() > 200)
      return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                            "query: ", req->query().size(), " bytes, at most 200")));
    if (req->limit() > 1000)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("limit=", req->limit(), ": must be 0..1000")));
    const size_t limit = req->limit() == 0 ? 20 : req->limit();
    auto view = server_->view();
    const Network& net = *view->network;
    const GtfsFeed& feed = net.feed();
    const std::string& q = req->query();
    const std::string q_lower = absl::AsciiStrToLower(q);
    std::string name_lower;
    std::vector<uint32_t> exact, by_name;
    for (uint32_t s = 0; s < feed.stops.size(); ++s) {
      const GtfsStop& st = feed.stops[s];
      if (st.id == q || (!st.code.empty() && st.code == q))
        exact.push_back(s);
      else if (name_lower = absl::AsciiStrToLower(st.name),
               absl::StrContains(name_lower, q_lower))
        by_name.push_back(s);
    }
    std::sort(by_name.begin(), by_name.end(), [&](uint32_t a, uint32_t b) {
      return feed.stops[a].name != feed.stops[b].name ? feed.stops[a].name < feed.stops[b].name
                                                      : feed.stops[a].id < feed.stops[b].id;
    });
    for (const auto* list : {&exact, &by_name})
      for (uint32_t s : *list)
        if (static_cast<size_t>(resp->stops_size()) < limit) StopToProto(net, s, resp->add_stops());
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetStop(grpc::CallbackServerContext* ctx,
                                    const pb::GetStopRequest* req, pb::Stop* resp) override {
    if (auto s = server_->auth().AdmitQuery(*ctx); !s.ok()) return Reply(ctx, s);
    if (req->stop_id().empty()) return Reply(ctx, absl::InvalidArgumentError("stop_id: required"));
    auto view = server_->view();
    auto s = view->network->FindStop(req->stop_id());
    if (!s)
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "stop_id \"", req->stop_id(), "\": no such stop in the loaded feeds")));
    StopToProto(*view->network, *s, resp);
    return Reply(ctx, absl::OkStatus());
  }

 private:
  const SmartbusServer* server_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeNetworkService(const SmartbusServer* server) {
  return std::make_unique<NetworkServiceImpl>(server);
}

}  // namespace smartbus::server
