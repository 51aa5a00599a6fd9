#include "services/server/planner_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "grpcpp/support/server_callback.h"
#include "services/core/common/mutex.h"
#include "services/core/planner/planner.h"
#include "services/server/convert.h"
#include "services/server/server.h"
#include "smartbus/v1/planner.grpc.pb.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;

// Live predictions are re-read at most this often (seconds of server time). A bus reports
// every 10-30 s, so a 10 s old prediction is as fresh as the data behind it, and a planner
// answering many requests per second rebuilds its live index only once per period.
constexpr int64_t kLiveRefreshS = 10;

// The vehicles' published predictions (and an optional extra source) as planner live times.
class VehicleLiveTimes : public planner::LiveTimes {
 public:
  VehicleLiveTimes(SmartbusServer* server, std::shared_ptr<const Network> network)
      : server_(server), network_(std::move(network)) {}

  void SetExtra(const planner::LiveTimes* extra) { extra_.store(extra); }

  uint64_t version() const override {
    const planner::LiveTimes* extra = extra_.load();
    const uint64_t period = static_cast<uint64_t>(server_->Now() / kLiveRefreshS);
    return period * 1000003u + (extra ? extra->version() * 7919u + extra->instance() : 0);
  }

  void Snapshot(std::vector<planner::LiveTrip>* out) const override {
    out->clear();
    std::map<std::pair<uint32_t, int32_t>, planner::LiveTrip> trips;
    for (const auto& snap : server_->AllVehicles()) {
      if (snap->network != network_) continue;
      for (const StopEta& e : snap->etas) {
        planner::LiveTrip& lt = trips[{e.trip, snap->state.service_date}];
        lt.trip = e.trip;
        lt.service_date = snap->state.service_date;
        planner::LiveStop s;
        s.stop_index = e.stop_index;
        s.arrival_s = e.predicted_arrival_s;
        if (e.predicted_departure_s() != kNoTime) s.departure_s = e.predicted_departure_s();
        if (e.p10_s() != kNoTime) s.p10_s = e.p10_s();
        if (e.p90_s() != kNoTime) s.p90_s = e.p90_s();
        lt.stops.push_back(s);
      }
    }
    if (const planner::LiveTimes* extra = extra_.load()) {
      std::vector<planner::LiveTrip> more;
      extra->Snapshot(&more);
      for (planner::LiveTrip& lt : more) trips[{lt.trip, lt.service_date}] = std::move(lt);
    }
    for (auto& [key, lt] : trips) {
      std::sort(lt.stops.begin(), lt.stops.end(),
                [](const auto& a, const auto& b) { return a.stop_index < b.stop_index; });
      out->push_back(std::move(lt));
    }
  }

 private:
  SmartbusServer* server_;
  std::shared_ptr<const Network> network_;
  std::atomic<const planner::LiveTimes*> extra_{nullptr};
};

struct PlannerState {
  std::shared_ptr<const Network> network;
  std::unique_ptr<planner::Planner> planner;
  std::unique_ptr<VehicleLiveTimes> live;
};

absl::Status ToEndpoint(const Network& net, const pb::Place& p, const char* what,
                        planner::Endpoint* out) {
  if (p.place_case() == pb::Place::kStopId) {
    auto s = net.FindStop(p.stop_id());
    if (!s) return absl::NotFoundError(absl::StrCat(what, ".stop_id '", p.stop_id(), "' is not a stop"));
    out->stop = *s;
    return absl::OkStatus();
  }
  if (p.place_case() != pb::Place::kPosition)
    return absl::InvalidArgumentError(absl::StrCat(what, ": give a stop_id or a position"));
  out->pos = {p.position().lat(), p.position().lon()};
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> RequestTime(const pb::PlanJourneyRequest& r, const Network& net,
                                       int64_t now_s) {
  if (r.time_s() != 0) return absl::FromUnixSeconds(r.time_s());
  if (r.local_time().empty()) return absl::FromUnixSeconds(now_s);
  const absl::TimeZone& tz = net.time_zone();
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%d %H:%M", r.local_time(), tz, &t, &err)) return t;
  absl::Time hm;
  if (absl::ParseTime("%H:%M", r.local_time(), absl::UTCTimeZone(), &hm, &err)) {
    const absl::CivilDay today = absl::ToCivilDay(absl::FromUnixSeconds(now_s), tz);
    const absl::CivilSecond c = absl::ToCivilSecond(hm, absl::UTCTimeZone());
    return absl::FromCivil(absl::CivilSecond(today.year(), today.month(), today.day(), c.hour(),
                                             c.minute(), 0), tz);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "local_time '", r.local_time(), "': expected HH:MM or YYYY-MM-DD HH:MM"));
}

std::string StopId(const Network& net, uint32_t s) {
  return s == kNoIndex ? "" : net.feed().stops[s].id;
}

void FillLeg(const Network& net, const planner::Leg& l, pb::JourneyLeg* p) {
  const auto& stops = net.feed().stops;
  p->set_kind(l.kind == planner::Leg::Kind::kRide ? pb::LEG_KIND_RIDE : pb::LEG_KIND_WALK);
  p->set_from_stop_id(StopId(net, l.from_stop));
  p->set_to_stop_id(StopId(net, l.to_stop));
  if (l.from_stop != kNoIndex) p->set_from_stop_name(stops[l.from_stop].name);
  if (l.to_stop != kNoIndex) p->set_to_stop_name(stops[l.to_stop].name);
  p->set_depart_s(absl::ToUnixSeconds(l.depart));
  p->set_arrive_s(absl::ToUnixSeconds(l.arrive));
  p->set_walk_m(l.walk_m);
  if (l.kind != planner::Leg::Kind::kRide) return;
  const GtfsTrip& trip = net.feed().trips[l.trip];
  const GtfsRoute& route = net.feed().routes[trip.route];
  p->set_trip_id(trip.id);
  p->set_route_id(route.id);
  p->set_route_short_name(route.short_name);
  p->set_headsign(trip.headsign);
  p->set_service_date(std::to_string(l.service_date));
  p->set_scheduled_depart_s(absl::ToUnixSeconds(l.scheduled_depart));
  p->set_scheduled_arrive_s(absl::ToUnixSeconds(l.scheduled_arrive));
  p->set_live(l.live);
  if (l.arrive_p10 != absl::InfinitePast()) p->set_arrive_p10_s(absl::ToUnixSeconds(l.arrive_p10));
  if (l.arrive_p90 != absl::InfinitePast()) p->set_arrive_p90_s(absl::ToUnixSeconds(l.arrive_p90));
  p->set_risky(l.risky);
  p->set_stops(l.alight_index - l.board_index);
}

class PlannerServiceImpl : public pb::PlannerService::CallbackService,
                           public PlannerServiceHandle {
 public:
  explicit PlannerServiceImpl(SmartbusServer* server) : server_(server) { State(); }

  grpc::Service* service() override { return this; }
  void SetExtraLiveTimes(const planner::LiveTimes* extra) override {
    MutexLock lock(mu_);
    extra_ = extra;
    if (state_ && state_->live) state_->live->SetExtra(extra);
  }

  grpc::ServerUnaryReactor* PlanJourney(grpc::CallbackServerContext* ctx,
                                        const pb::PlanJourneyRequest* req,
                                        pb::PlanJourneyResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    if (absl::Status a = server_->auth().AdmitQuery(*ctx); !a.ok()) {  // open, rate-limited
      reactor->Finish(ToGrpc(a));
      return reactor;
    }
    const absl::Status s = Plan(*req, resp);
    reactor->Finish(ToGrpc(s));  // message cut to kMaxStatusMessageBytes
    return reactor;
  }

 private:
  // The planner for the server's current network (built when the network changed).
  std::shared_ptr<PlannerState> State() {
    std::shared_ptr<const Network> net = server_->view()->network;
    MutexLock lock(mu_);
    if (state_ && state_->network == net) return state_;
    auto st = std::make_shared<PlannerState>();
    st->network = net;
    auto tt = planner::Timetable::Build(net);
    if (!tt.ok()) return state_;  // keeps the old planner (Build fails only on a null network)
    st->planner = std::make_unique<planner::Planner>(*tt);
    st->live = std::make_unique<VehicleLiveTimes>(server_, net);
    st->live->SetExtra(extra_);
    state_ = st;
    server_->Log(absl::StrCat("planner: index built in ", (*tt)->build_seconds(), " s, ",
                              (*tt)->MemoryBytes() >> 10, " KiB"));
    return state_;
  }

  absl::Status Plan(const pb::PlanJourneyRequest& req, pb::PlanJourneyResponse* resp) {
    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<PlannerState> st = State();
    if (!st || !st->planner) return absl::UnavailableError("planner: no network loaded");
    const Network& net = *st->network;
    planner::PlanRequest pr;
    if (absl::Status s = ToEndpoint(net, req.from(), "from", &pr.from); !s.ok()) return s;
    if (absl::Status s = ToEndpoint(net, req.to(), "to", &pr.to); !s.ok()) return s;
    auto when = RequestTime(req, net, server_->Now());
    if (!when.ok()) return when.status();
    pr.time = *when;
    pr.arrive_by = req.arrive_by();
    pr.window = absl::Seconds(req.window_s());
    pr.use_live = !req.timetable_only();
    auto res = st->planner->Plan(pr, st->live.get());
    if (!res.ok()) return res.status();
    for (const planner::Journey& j : res->journeys) {
      pb::Journey* pj = resp->add_journeys();
      pj->set_depart_s(absl::ToUnixSeconds(j.depart));
      pj->set_arrive_s(absl::ToUnixSeconds(j.arrive));
      pj->set_rides(j.rides);
      pj->set_transfers(j.transfers());
      pj->set_live(j.live);
      pj->set_risky(j.risky);
      for (const planner::Leg& l : j.legs) FillLeg(net, l, pj->add_legs());
    }
    resp->set_time_zone(net.feed().timezone);
    resp->set_time_s(absl::ToUnixSeconds(pr.time));
    resp->set_rounds(res->stats.rounds);
    resp->set_routes_scanned(res->stats.routes_scanned);
    resp->set_searches(res->stats.searches);
    resp->set_live_trips(res->stats.live_trips);
    resp->set_compute_ms(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return absl::OkStatus();
  }

  SmartbusServer* server_;
  Mutex mu_;
  std::shared_ptr<PlannerState> state_ ABSL_GUARDED_BY(mu_);
  const planner::LiveTimes* extra_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace

std::unique_ptr<PlannerServiceHandle> MakePlannerService(SmartbusServer* server) {
  return std::make_unique<PlannerServiceImpl>(server);
}

}  // namespace smartbus::server
