// smartbus analytics routes|bunching|congestion|fleet|advice: clients of smartbusd's
// AnalyticsService (proto/smartbus/v1/analytics.proto).
//
// --json prints protobuf's JSON mapping of the response: the same document as the HTTP API
// (/api/v1/analytics/...); `smartbus report --json` prints the same messages for a visits file.
// The text output is printed from the response; nothing is mapped back to the core structs.

#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "services/cli/args.h"
#include "services/cli/advice_print.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace apb = ::smartbus::v1;

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

double Opt(bool has, double v) { return has ? v : NAN; }

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
  if (!ParseClientArgs(cmd, usage, argc, argv, {"stops", "trips"},
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
  apb::GetRouteAnalyticsResponse resp;
  const int done = Call(cmd, a, &apb::AnalyticsService::Stub::GetRouteAnalytics, req, &resp);
  if (done >= 0) return done;
  std::printf("%lld stop visits held; on-time window %.0f..%+.0f s\n\n",
              static_cast<long long>(resp.visits_held()), resp.on_time_early_s(),
              resp.on_time_late_s());
  std::printf("%-12s %7s %7s %7s %7s %7s %9s %9s %9s\n", "route", "visits", "ontime%", "early%",
              "late%", "hw_cv", "exwait_s", "speedkmh", "crowding");
  for (const apb::RouteFigures& r : resp.routes()) {
    double d = 0, t = 0;
    for (const apb::SegmentFigures& x : r.segments()) {
      d += x.distance_m() * x.traversals();
      t += x.mean_time_s() * x.traversals();
    }
    const apb::PassengerFigures& ps = r.passengers();
    const apb::OnTimeFigures& ot = r.on_time();
    std::string crowd = ps.has_mean_load()        ? "load " + F(ps.mean_load())
                        : ps.has_mean_occupancy() ? "occ " + F(ps.mean_occupancy(), "%.2f")
                                                  : "no data";
    std::printf("%-12s %7d %7s %7s %7s %7s %9s %9s %9s\n", r.route_id().c_str(), r.visits(),
                F(Opt(ot.has_on_time_pct(), ot.on_time_pct())).c_str(),
                F(Opt(ot.has_early_pct(), ot.early_pct())).c_str(),
                F(Opt(ot.has_late_pct(), ot.late_pct())).c_str(),
                F(Opt(r.headways().has_cv(), r.headways().cv()), "%.3f").c_str(),
                F(Opt(r.has_excess_wait_s(), r.excess_wait_s())).c_str(),
                F(t > 0 ? d / t * 3.6 : NAN).c_str(), crowd.c_str());
  }
  return 0;
}

int RunAnalyticsBunching(int argc, char** argv) {
  const char* cmd = "analytics bunching";
  const char* usage = "smartbus analytics bunching [--now T]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {}, {"now"}, &a, &code)) return code;
  int64_t now;
  if (!InstantArg(a, "now", &now)) {
    std::fprintf(stderr, "smartbus %s: --now: epoch seconds or RFC 3339 time\n", cmd);
    return 2;
  }
  apb::GetBunchingRequest req;
  req.set_now(now);
  apb::GetBunchingResponse resp;
  const int done = Call(cmd, a, &apb::AnalyticsService::Stub::GetBunching, req, &resp);
  if (done >= 0) return done;
  std::printf("bunched pairs at %s (live window %.0f s, headway < %.0f%% of scheduled): %d\n",
              ClockTime(resp.now()).c_str(), resp.live_window_s(), 100 * resp.bunching_ratio(),
              resp.pairs_size());
  for (const apb::BunchedPair& p : resp.pairs()) {
    std::printf("  route %s stop %s: %s then %s %.0f s later (scheduled %.0f s)\n",
                p.route_id().c_str(), p.stop_id().c_str(), p.leader_vehicle_id().c_str(),
                p.follower_vehicle_id().c_str(), p.headway_s(), p.scheduled_headway_s());
  }
  return 0;
}

int RunAnalyticsCongestion(int argc, char** argv) {
  const char* cmd = "analytics congestion";
  const char* usage = "smartbus analytics congestion [--now T] [--limit N]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {}, {"now", "limit"}, &a, &code))
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
  apb::GetCongestionResponse resp;
  const int done = Call(cmd, a, &apb::AnalyticsService::Stub::GetCongestion, req, &resp);
  if (done >= 0) return done;
  std::printf("slowest segments at %s (now vs usual at this time of day):\n",
              ClockTime(resp.now()).c_str());
  for (const apb::SegmentCongestion& c : resp.now_segments()) {
    std::printf("  %s -> %s (route %s): %s km/h now, usual %s km/h\n", c.from_stop_id().c_str(),
                c.to_stop_id().c_str(), c.route_id().c_str(), F(c.now_speed_kmh()).c_str(),
                F(Opt(c.has_usual_speed_kmh(), c.usual_speed_kmh())).c_str());
  }
  std::printf("where jams happen usually:\n");
  for (const apb::UsualJam& j : resp.usual_jams()) {
    std::printf("  %s -> %s (route %s) at %02d:%02d: %s km/h (best %s km/h)\n",
                j.from_stop_id().c_str(), j.to_stop_id().c_str(), j.route_id().c_str(),
                j.bin_start_s() / 3600, j.bin_start_s() / 60 % 60, F(j.speed_kmh()).c_str(),
                F(j.reference_speed_kmh()).c_str());
  }
  return 0;
}

int RunAnalyticsFleet(int argc, char** argv) {
  const char* cmd = "analytics fleet";
  const char* usage = "smartbus analytics fleet [--stale S] [--silent S]";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {}, {"stale", "silent"}, &a, &code))
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
  apb::GetFleetConditionResponse resp;
  const int done = Call(cmd, a, &apb::AnalyticsService::Stub::GetFleetCondition, req, &resp);
  if (done >= 0) return done;
  std::printf("fleet condition at %s: %d ok, %d stale, %d silent, %d off route\n",
              ClockTime(resp.now()).c_str(), resp.ok(), resp.stale(), resp.silent(),
              resp.off_route());
  std::printf("%-12s %8s %-7s %-11s %-8s %9s %9s\n", "vehicle", "age_s", "cond", "state", "route",
              "delay_s", "driving_h");
  for (const apb::VehicleCondition& v : resp.vehicles()) {
    std::printf("%-12s %8.0f %-7s %-11s %-8s %9s %9s\n", v.vehicle_id().c_str(),
                v.last_report_age_s(), v.condition().c_str(), v.state().c_str(),
                v.route_id().c_str(), F(Opt(v.has_delay_s(), v.delay_s()), "%.0f").c_str(),
                F(Opt(v.has_driving_s(), v.driving_s()) / 3600, "%.2f").c_str());
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
  if (!ParseClientArgs(cmd, usage, argc, argv, {}, {"route", "from", "to", "limit"},
                       &a, &code))
    return code;
  apb::GetRouteAdviceRequest req;
  auto limit = a.GetInt("limit", 10);
  if (!SetRoutesAndWindow(a, &req) || !limit.ok()) {
    std::fprintf(stderr, "smartbus %s: --from/--to: epoch seconds, --limit: a number\n", cmd);
    return 2;
  }
  apb::GetRouteAdviceResponse resp;
  const int done = Call(cmd, a, &apb::AnalyticsService::Stub::GetRouteAdvice, req, &resp);
  if (done >= 0) return done;
  PrintRouteAdvice(resp, static_cast<size_t>(*limit));
  return 0;
}

}  // namespace smartbus::cli
