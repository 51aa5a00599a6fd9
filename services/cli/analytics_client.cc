// smartbus analytics routes|bunching|congestion|fleet: clients of smartbusd's AnalyticsService
// (proto/smartbus/v1/analytics.proto).
//
// --json prints the SAME JSON shape as `smartbus report --json` (services/core/analytics/
// analytics_json.h): the response is turned back into the core result structs and printed by
// the same code, so the live figures and the offline report compare field by field.
// --proto-json prints protobuf's JSON mapping of the response instead.

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/advice_print.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/core/analytics/analytics.h"
#include "services/core/analytics/analytics_json.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace apb = ::smartbus::v1;

// Ids received from the server, interned into indices so that the core JSON writers can name
// them (the client has no GTFS network).
class IdTable : public AnalyticsNetwork {
 public:
  uint32_t Route(const std::string& id) { return Intern(routes_, route_ids_, id); }
  uint32_t Stop(const std::string& id) { return Intern(stops_, stop_ids_, id); }
  uint32_t Trip(const std::string& id) { return Intern(trips_, trip_ids_, id); }
  std::string RouteId(uint32_t i) const override { return Get(route_ids_, i); }
  std::string StopId(uint32_t i) const override { return Get(stop_ids_, i); }
  std::string TripId(uint32_t i) const override { return Get(trip_ids_, i); }
  uint32_t TripNumStops(uint32_t) const override { return 0; }
  double StopDistM(uint32_t, uint32_t) const override { return NAN; }

 private:
  static uint32_t Intern(absl::flat_hash_map<std::string, uint32_t>& m,
                         std::vector<std::string>& ids, const std::string& id) {
    if (id.empty()) return kNoIndex;
    auto [it, inserted] = m.try_emplace(id, static_cast<uint32_t>(ids.size()));
    if (inserted) ids.push_back(id);
    return it->second;
  }
  static std::string Get(const std::vector<std::string>& ids, uint32_t i) {
    return i < ids.size() ? ids[i] : std::string();
  }
  absl::flat_hash_map<std::string, uint32_t> routes_, stops_, trips_;
  std::vector<std::string> route_ids_, stop_ids_, trip_ids_;
};

double Opt(bool has, double v) { return has ? v : NAN; }

OnTimeStats ToCore(const apb::OnTimeFigures& p) {
  OnTimeStats s;
  s.counted = p.counted();
  s.on_time = p.on_time();
  s.early = p.early();
  s.late = p.late();
  return s;
}

HeadwayStats ToCore(const apb::HeadwayFigures& p) {
  HeadwayStats s;
  s.gaps = p.gaps();
  s.sum_s = p.sum_s();
  s.sum_sq = p.sum_sq_s2();
  return s;
}

PassengerStats ToCore(const apb::PassengerFigures& p) {
  PassengerStats s;
  s.count_visits = p.count_visits();
  s.boardings = p.has_boardings() ? p.boardings() : 0;
  s.alightings = p.has_alightings() ? p.alightings() : 0;
  s.load_visits = p.load_visits();
  s.max_load = p.has_max_load() ? p.max_load() : -1;
  s.load_sum = p.load_sum();
  s.occupancy_visits = p.occupancy_visits();
  s.occupancy_sum = p.occupancy_sum();
  s.crowded_visits = p.crowded_visits();
  return s;
}

RouteStats ToCore(const apb::RouteFigures& p, IdTable& ids) {
  RouteStats r;
  r.route = ids.Route(p.route_id());
  r.visits = p.visits();
  r.on_time = ToCore(p.on_time());
  r.headways = ToCore(p.headways());
  r.excess_wait_s = Opt(p.has_excess_wait_s(), p.excess_wait_s());
  r.bunched_gaps = p.bunched_gaps();
  r.passengers = ToCore(p.passengers());
  r.trips = p.trips();
  r.actual_run_s = p.actual_run_s();
  r.scheduled_run_s = p.scheduled_run_s();
  for (const apb::SegmentFigures& x : p.segments()) {
    SegmentStats s;
    s.from_stop = ids.Stop(x.from_stop_id());
    s.to_stop = ids.Stop(x.to_stop_id());
    s.traversals = x.traversals();
    s.distance_m = x.distance_m();
    s.mean_speed_kmh = x.mean_speed_kmh();
    s.mean_time_s = x.mean_time_s();
    s.mean_scheduled_time_s = x.mean_scheduled_time_s();
    s.passengers = ToCore(x.passengers());
    r.segments.push_back(s);
  }
  for (const apb::StopFigures& x : p.stops()) {
    StopStats s;
    s.stop = ids.Stop(x.stop_id());
    s.visits = x.visits();
    s.on_time = ToCore(x.on_time());
    s.headways = ToCore(x.headways());
    s.mean_scheduled_headway_s =
        Opt(x.has_mean_scheduled_headway_s(), x.mean_scheduled_headway_s());
    s.excess_wait_s = Opt(x.has_excess_wait_s(), x.excess_wait_s());
    s.bunched_gaps = x.bunched_gaps();
    s.passengers = ToCore(x.passengers());
    r.stops.push_back(s);
  }
  for (const apb::TripFigures& x : p.trip_list()) {
    TripStats t;
    t.trip = ids.Trip(x.trip_id());
    int32_t date = 0;
    (void)absl::SimpleAtoi(x.service_date(), &date);
    t.service_date = date;
    t.vehicle_id = x.vehicle_id();
    t.visits = x.visits();
    t.first_stop_index = x.first_stop_index();
    t.last_stop_index = x.last_stop_index();
    t.actual_run_s = Opt(x.has_actual_run_s(), x.actual_run_s());
    t.scheduled_run_s = Opt(x.has_scheduled_run_s(), x.scheduled_run_s());
    t.end_delay_s = Opt(x.has_end_delay_s(), x.end_delay_s());
    t.passengers = ToCore(x.passengers());
    r.trip_list.push_back(t);
  }
  return r;
}

// Epoch seconds or RFC 3339; 0 when absent.
bool InstantArg(const Args& a, const char* name, int64_t* out) {
  *out = 0;
  if (!a.Has(name)) return true;
  const std::string v = a.Get(name);
  if (absl::SimpleAtoi(v, out)) return true;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, v, &t, &err)) return false;
  *out = absl::ToUnixSeconds(t);
  return true;
}

std::string F(double x, const char* fmt = "%.1f") {
  if (!std::isfinite(x)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, fmt, x);
  return b;
}

}  // namespace

int RunAnalyticsRoutes(int argc, char** argv) {
  const char* cmd = "analytics routes";
  const char* usage =
      "smartbus analytics routes [--route R] [--from T] [--to T] [--stops] [--trips]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"stops", "trips", "proto-json"},
                       {"route", "from", "to"}, &a, &code))
    return code;
  apb::GetRouteAnalyticsRequest req;
  req.set_route_id(a.Get("route"));
  int64_t from, to;
  if (!InstantArg(a, "from", &from) || !InstantArg(a, "to", &to)) {
    std::fprintf(stderr, "smartbus %s: --from/--to: epoch seconds or RFC 3339 time\n", cmd);
    return 2;
  }
  req.mutable_window()->set_from(from);
  req.mutable_window()->set_to(to);
  req.set_stops(a.Has("stops"));
  req.set_trips(a.Has("trips"));
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetRouteAnalyticsResponse resp;
  grpc::Status s = stub->GetRouteAnalytics(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  IdTable ids;
  std::vector<RouteStats> routes;
  for (const apb::RouteFigures& r : resp.routes()) routes.push_back(ToCore(r, ids));
  if (a.Has("json")) {
    nlohmann::json out = RoutesReportJson(routes, ids);
    out["now"] = resp.now();
    out["visits_used"] = resp.visits_held();
    out["on_time_window_s"] = {resp.on_time_early_s(), resp.on_time_late_s()};
    out["from"] = from > 0 ? nlohmann::json(from) : nullptr;
    out["to"] = to > 0 ? nlohmann::json(to) : nullptr;
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%lld stop visits held; on-time window %.0f..%+.0f s\n\n",
              static_cast<long long>(resp.visits_held()), resp.on_time_early_s(),
              resp.on_time_late_s());
  std::printf("%-12s %7s %7s %7s %7s %7s %9s %9s %9s\n", "route", "visits", "ontime%", "early%",
              "late%", "hw_cv", "exwait_s", "speedkmh", "crowding");
  for (const RouteStats& r : routes) {
    double d = 0, t = 0;
    for (const SegmentStats& x : r.segments) {
      d += x.distance_m * x.traversals;
      t += x.mean_time_s * x.traversals;
    }
    std::string crowd = r.passengers.has_load()        ? "load " + F(r.passengers.mean_load())
                        : r.passengers.has_occupancy() ? "occ " + F(r.passengers.mean_occupancy(), "%.2f")
                                                       : "no data";
    std::printf("%-12s %7lld %7s %7s %7s %7s %9s %9s %9s\n", ids.RouteId(r.route).c_str(),
                static_cast<long long>(r.visits), F(r.on_time.on_time_pct()).c_str(),
                F(r.on_time.early_pct()).c_str(), F(r.on_time.late_pct()).c_str(),
                F(r.headways.cv(), "%.3f").c_str(), F(r.excess_wait_s).c_str(),
                F(t > 0 ? d / t * 3.6 : NAN).c_str(), crowd.c_str());
  }
  return 0;
}

int RunAnalyticsBunching(int argc, char** argv) {
  const char* cmd = "analytics bunching";
  const char* usage = "smartbus analytics bunching [--now T]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"proto-json"}, {"now"}, &a, &code)) return code;
  int64_t now;
  if (!InstantArg(a, "now", &now)) {
    std::fprintf(stderr, "smartbus %s: --now: epoch seconds or RFC 3339 time\n", cmd);
    return 2;
  }
  apb::GetBunchingRequest req;
  req.set_now(now);
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetBunchingResponse resp;
  grpc::Status s = stub->GetBunching(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  IdTable ids;
  std::vector<BunchedPair> pairs;
  for (const apb::BunchedPair& p : resp.pairs()) {
    BunchedPair b;
    b.route = ids.Route(p.route_id());
    b.stop = ids.Stop(p.stop_id());
    b.leader_vehicle = p.leader_vehicle_id();
    b.follower_vehicle = p.follower_vehicle_id();
    b.leader_trip = ids.Trip(p.leader_trip_id());
    b.follower_trip = ids.Trip(p.follower_trip_id());
    b.leader_arrival_s = p.leader_arrival();
    b.follower_arrival_s = p.follower_arrival();
    b.headway_s = p.headway_s();
    b.scheduled_headway_s = p.scheduled_headway_s();
    pairs.push_back(b);
  }
  if (a.Has("json")) {
    nlohmann::json out;
    out["now"] = resp.now();
    out["bunched_pairs"] = BunchedPairsJson(pairs, ids);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("bunched pairs at %s (live window %.0f s, headway < %.0f%% of scheduled): %zu\n",
              ClockTime(resp.now()).c_str(), resp.live_window_s(), 100 * resp.bunching_ratio(),
              pairs.size());
  for (const BunchedPair& p : pairs) {
    std::printf("  route %s stop %s: %s then %s %.0f s later (scheduled %.0f s)\n",
                ids.RouteId(p.route).c_str(), ids.StopId(p.stop).c_str(),
                p.leader_vehicle.c_str(), p.follower_vehicle.c_str(), p.headway_s,
                p.scheduled_headway_s);
  }
  return 0;
}

int RunAnalyticsCongestion(int argc, char** argv) {
  const char* cmd = "analytics congestion";
  const char* usage = "smartbus analytics congestion [--now T] [--limit N]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"proto-json"}, {"now", "limit"}, &a, &code))
    return code;
  int64_t now;
  auto limit = a.GetInt("limit", 20);
  if (!InstantArg(a, "now", &now) || !limit.ok()) {
    std::fprintf(stderr, "smartbus %s: --now: epoch seconds or RFC 3339; --limit: a number\n",
                 cmd);
    return 2;
  }
  apb::GetCongestionRequest req;
  req.set_now(now);
  req.set_limit(static_cast<uint32_t>(*limit));
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetCongestionResponse resp;
  grpc::Status s = stub->GetCongestion(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  IdTable ids;
  std::vector<SegmentCongestion> segs;
  for (const apb::SegmentCongestion& p : resp.now_segments()) {
    SegmentCongestion c;
    c.from_stop = ids.Stop(p.from_stop_id());
    c.to_stop = ids.Stop(p.to_stop_id());
    c.route = ids.Route(p.route_id());
    c.distance_m = p.distance_m();
    c.now_traversals = p.now_traversals();
    c.now_speed_kmh = p.now_speed_kmh();
    c.usual_traversals = p.usual_traversals();
    c.usual_speed_kmh = Opt(p.has_usual_speed_kmh(), p.usual_speed_kmh());
    c.ratio = Opt(p.has_ratio(), p.ratio());
    segs.push_back(c);
  }
  std::vector<UsualJam> jams;
  for (const apb::UsualJam& p : resp.usual_jams()) {
    UsualJam j;
    j.from_stop = ids.Stop(p.from_stop_id());
    j.to_stop = ids.Stop(p.to_stop_id());
    j.route = ids.Route(p.route_id());
    j.bin_start_s = p.bin_start_s();
    j.traversals = p.traversals();
    j.speed_kmh = p.speed_kmh();
    j.reference_speed_kmh = p.reference_speed_kmh();
    j.ratio = p.ratio();
    jams.push_back(j);
  }
  if (a.Has("json")) {
    nlohmann::json out;
    out["now"] = resp.now();
    out["congestion"] = CongestionJson(segs, ids);
    out["usual_jams"] = UsualJamsJson(jams, ids);
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("slowest segments at %s (now vs usual at this time of day):\n",
              ClockTime(resp.now()).c_str());
  for (const SegmentCongestion& c : segs) {
    std::printf("  %s -> %s (route %s): %s km/h now, usual %s km/h\n",
                ids.StopId(c.from_stop).c_str(), ids.StopId(c.to_stop).c_str(),
                ids.RouteId(c.route).c_str(), F(c.now_speed_kmh).c_str(),
                F(c.usual_speed_kmh).c_str());
  }
  std::printf("where jams happen usually:\n");
  for (const UsualJam& j : jams) {
    std::printf("  %s -> %s (route %s) at %02d:%02d: %s km/h (best %s km/h)\n",
                ids.StopId(j.from_stop).c_str(), ids.StopId(j.to_stop).c_str(),
                ids.RouteId(j.route).c_str(), j.bin_start_s / 3600, j.bin_start_s / 60 % 60,
                F(j.speed_kmh).c_str(), F(j.reference_speed_kmh).c_str());
  }
  return 0;
}

int RunAnalyticsFleet(int argc, char** argv) {
  const char* cmd = "analytics fleet";
  const char* usage = "smartbus analytics fleet [--stale S] [--silent S]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"proto-json"}, {"stale", "silent"}, &a, &code))
    return code;
  auto stale = a.GetInt("stale", 0);
  auto silent = a.GetInt("silent", 0);
  if (!stale.ok() || !silent.ok()) {
    std::fprintf(stderr, "smartbus %s: --stale/--silent: seconds\n", cmd);
    return 2;
  }
  apb::GetFleetConditionRequest req;
  req.set_stale_after_s(*stale);
  req.set_silent_after_s(*silent);
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetFleetConditionResponse resp;
  grpc::Status s = stub->GetFleetCondition(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  IdTable ids;
  FleetCondition f;
  f.ok = resp.ok();
  f.stale = resp.stale();
  f.silent = resp.silent();
  f.off_route = resp.off_route();
  for (const apb::VehicleCondition& p : resp.vehicles()) {
    FleetVehicle v;
    v.vehicle_id = p.vehicle_id();
    v.last_report_age_s = p.last_report_age_s();
    v.condition = p.condition() == "silent"  ? VehicleCondition::kSilent
                  : p.condition() == "stale" ? VehicleCondition::kStale
                                             : VehicleCondition::kOk;
    v.off_route = p.off_route();
    v.state = p.state() == "in_service" ? MatchState::kInService
              : p.state() == "layover"  ? MatchState::kLayover
              : p.state() == "off_route" ? MatchState::kOffRoute
                                         : MatchState::kUnassigned;
    v.route = ids.Route(p.route_id());
    v.trip = ids.Trip(p.trip_id());
    v.delay_s = Opt(p.has_delay_s(), p.delay_s());
    v.pos = {p.lat(), p.lon()};
    v.speed_mps = Opt(p.has_speed_mps(), p.speed_mps());
    v.driving_s = Opt(p.has_driving_s(), p.driving_s());
    f.vehicles.push_back(v);
  }
  if (a.Has("json")) {
    nlohmann::json out = FleetConditionJson(f, ids);
    out["now"] = resp.now();
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("fleet condition at %s: %lld ok, %lld stale, %lld silent, %lld off route\n",
              ClockTime(resp.now()).c_str(), static_cast<long long>(f.ok),
              static_cast<long long>(f.stale), static_cast<long long>(f.silent),
              static_cast<long long>(f.off_route));
  std::printf("%-12s %8s %-7s %-11s %-8s %9s %9s\n", "vehicle", "age_s", "cond", "state", "route",
              "delay_s", "driving_h");
  for (const FleetVehicle& v : f.vehicles) {
    std::printf("%-12s %8.0f %-7s %-11s %-8s %9s %9s\n", v.vehicle_id.c_str(), v.last_report_age_s,
                VehicleConditionName(v.condition), std::string(MatchStateName(v.state)).c_str(),
                ids.RouteId(v.route).c_str(), F(v.delay_s, "%.0f").c_str(),
                F(v.driving_s / 3600, "%.2f").c_str());
  }
  return 0;
}

int RunAnalyticsAdvice(int argc, char** argv) {
  const char* cmd = "analytics advice";
  const char* usage =
      "smartbus analytics advice [--route R]... [--from EPOCH] [--to EPOCH] [--limit N]\n"
      "  route and stop advice over the visits smartbusd holds (see smartbus advise)";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"proto-json"}, {"route", "from", "to", "limit"},
                       &a, &code))
    return code;
  auto from = a.GetInt("from", 0), to = a.GetInt("to", 0), limit = a.GetInt("limit", 10);
  if (!from.ok() || !to.ok() || !limit.ok()) {
    std::fprintf(stderr, "smartbus %s: --from/--to: epoch seconds, --limit: a number\n", cmd);
    return 2;
  }
  apb::GetRouteAdviceRequest req;
  for (const std::string& r : a.GetAll("route")) req.add_route_ids(r);
  req.mutable_window()->set_from(*from);
  req.mutable_window()->set_to(*to);
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetRouteAdviceResponse resp;
  grpc::Status s = stub->GetRouteAdvice(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json") || a.Has("json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  PrintRouteAdvice(resp, static_cast<size_t>(*limit));
  return 0;
}

}  // namespace smartbus::cli
