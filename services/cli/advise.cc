// smartbus advise --gtfs FEED... --visits VISITS.csv [--route R]... [--json] [--limit N]
//
// Route and stop advice from observed stop visits (services/core/planner/advice.h): running
// times per segment and timepoint pair by time band (P50/P85/P95 vs schedule, recommended
// scheduled time at P85), whole-trip running time and the recovery it implies (P95 - P85),
// headway regularity and where bunching starts, late starts and why, stop spacing and low-use
// stops near a neighbour. Text: the headline figures per route; --json: everything, as the
// proto message GetRouteAdviceResponse (protobuf JSON mapping) that AnalyticsService answers.

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/core/network/network.h"
#include "services/core/planner/advice.h"
#include "services/core/tracking/csv_io.h"
#include "services/server/advice_proto.h"

namespace smartbus::cli {
namespace {

using planner::AdviceReport;

constexpr const char* kUsage =
    "usage: smartbus advise --gtfs FEED... --visits VISITS.csv [--route ROUTE_ID]... [--json]\n"
    "         [--limit N]\n"
    "  Advice per route from observed stop visits (one or more days): recommended scheduled\n"
    "  running times per segment, timepoint pair and time band (P85 of observed, TCQSM/TCRP 113\n"
    "  practice), recovery time (P95 - P85 of whole trips), headway regularity and where bunching\n"
    "  starts, late starts (late pull-out vs previous trip late), stop spacing and consolidation\n"
    "  candidates (with passenger counts). --limit: rows per list in the text output (10).\n"
    "  --json: the GetRouteAdviceResponse message (proto/smartbus/v1/analytics.proto).\n";

std::string StopId(const Network& net, uint32_t s) {
  return s == kNoIndex ? std::string() : net.feed().stops[s].id;
}

std::string F(double x) {
  if (!std::isfinite(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

void PrintRoute(const Network& net, const planner::RouteAdvice& r, size_t limit) {
  std::printf("\n== route %s: %lld trips started, %lld late > 2 min (%lld late pull-out, %lld "
              "previous trip late, %lld left late after an on-time arrival, %lld previous trip "
              "not observed)\n", net.feed().routes[r.route].id.c_str(),
              static_cast<long long>(r.trips_observed),
              static_cast<long long>(r.late_starts.size()),
              static_cast<long long>(r.late_pullouts),
              static_cast<long long>(r.late_after_previous_trip),
              static_cast<long long>(r.late_departures), static_cast<long long>(r.late_unexplained));
  std::printf("  whole trips (dir band: n, P50/P85/P95 vs scheduled -> recommended, recovery):\n");
  for (const auto& t : r.trips)
    std::printf("    %d %-8s n=%-4lld %s/%s/%s s vs %s -> %s s, recovery %s s\n", t.direction_id,
                t.running.band.c_str(), static_cast<long long>(t.running.samples),
                F(t.running.p50_s).c_str(), F(t.running.p85_s).c_str(), F(t.running.p95_s).c_str(),
                F(t.running.scheduled_s).c_str(), F(t.running.recommended_s).c_str(),
                F(t.recovery_s).c_str());
  std::printf("  timepoint pairs (band: n, P50/P85/P95 vs scheduled -> recommended):\n");
  size_t shown = 0;
  for (const auto& s : r.timepoint_pairs)
    for (const auto& b : s.bands) {
      if (shown++ >= limit) break;
      std::printf("    %s -> %s %-8s n=%-4lld %s/%s/%s vs %s -> %s s\n",
                  StopId(net, s.from_stop).c_str(), StopId(net, s.to_stop).c_str(), b.band.c_str(),
                  static_cast<long long>(b.samples), F(b.p50_s).c_str(), F(b.p85_s).c_str(),
                  F(b.p95_s).c_str(), F(b.scheduled_s).c_str(), F(b.recommended_s).c_str());
    }
  for (const auto& h : r.headways)
    std::printf("  headways dir %d: irregular (cv > 0.30) from stop %s, bunching from stop %s\n",
                h.direction_id, StopId(net, h.first_irregular_stop).c_str(),
                StopId(net, h.bunching_starts_at).c_str());
  for (const auto& s : r.spacing)
    std::printf("  stop spacing dir %d: %d stops, mean %s m, median %s m, %d gaps < 200 m\n",
                s.direction_id, s.stops, F(s.mean_m).c_str(), F(s.median_m).c_str(), s.below_200m);
  if (!r.passenger_data) std::printf("  no passenger counts: no stop-use advice\n");
  for (const auto& u : r.consolidation)
    std::printf("  consolidation candidate: stop %s, %.1f ons+offs/day, %s m from stop %s\n",
                StopId(net, u.stop).c_str(), u.ons_offs_per_day, F(u.neighbour_m).c_str(),
                StopId(net, u.neighbour).c_str());
}

}  // namespace

int RunAdvise(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"json", "help"});
  if (!args.ok() || args->Has("help")) {
    if (!args.ok()) std::fprintf(stderr, "smartbus advise: %s\n", std::string(args.status().message()).c_str());
    std::fprintf(args.ok() ? stdout : stderr, "%s", kUsage);
    return args.ok() ? 0 : 2;
  }
  if (auto s = args->CheckKnown({"json", "help", "gtfs", "visits", "route", "limit"}); !s.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n%s", std::string(s.message()).c_str(), kUsage);
    return 2;
  }
  const std::vector<std::string> feeds = args->GetAll("gtfs");
  auto limit = args->GetInt("limit", 10);
  if (feeds.empty() || !args->Has("visits") || !limit.ok()) {
    std::fprintf(stderr, "smartbus advise: --gtfs and --visits are required\n%s", kUsage);
    return 2;
  }
  auto feed = LoadGtfs(feeds);
  if (!feed.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  auto net = Network::Build(*std::move(feed));
  if (!net.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  std::vector<uint32_t> routes;
  for (const std::string& id : args->GetAll("route")) {
    auto r = (*net)->FindRoute(id);
    if (!r) {
      std::fprintf(stderr, "smartbus advise: --route %s: no such route in the feeds\n", id.c_str());
      return 2;
    }
    routes.push_back(*r);
  }
  VisitsCsvStats stats;
  auto visits = ReadStopVisitsCsv(args->Get("visits"), (*net)->feed(), &stats);
  if (!visits.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n", std::string(visits.status().message()).c_str());
    return 1;
  }
  planner::AdviceOptions opt;
  opt.time_zone = (*net)->time_zone();
  const AdviceReport rep = planner::BuildAdvice(**net, *visits, opt, routes);
  if (args->Has("json")) {  // the message AnalyticsService.GetRouteAdvice answers with
    v1::GetRouteAdviceResponse resp;
    server::FillRouteAdvice(**net, rep, opt, &resp);
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  std::printf("advice from %lld visits over %d day(s); recommended running time = P%.0f of the "
              "band, recovery = P%.0f - P%.0f of whole trips\n",
              static_cast<long long>(rep.visits), rep.days, opt.schedule_percentile,
              opt.cycle_percentile, opt.schedule_percentile);
  std::printf("segments whose recommended time most exceeds the schedule:\n");
  for (const auto& w : planner::WorstSegments(rep, static_cast<size_t>(*limit)))
    std::printf("  route %s %s -> %s %-8s n=%-4lld P50/P85/P95 %s/%s/%s vs %s s: +%s s\n",
                (*net)->feed().routes[w.segment->route].id.c_str(),
                StopId(**net, w.segment->from_stop).c_str(), StopId(**net, w.segment->to_stop).c_str(),
                w.band->band.c_str(), static_cast<long long>(w.band->samples), F(w.band->p50_s).c_str(),
                F(w.band->p85_s).c_str(), F(w.band->p95_s).c_str(), F(w.band->scheduled_s).c_str(),
                F(w.band->change_s).c_str());
  for (const auto& r : rep.routes) PrintRoute(**net, r, static_cast<size_t>(*limit));
  return 0;
}

}  // namespace smartbus::cli
