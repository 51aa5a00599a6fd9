// smartbus report --gtfs FEED... --visits VISITS.csv [--from T --to T] [--json]
//
// Operator analytics computed offline from a Stop visits CSV with the same code smartbusd runs
// (services/core/analytics): per route on-time performance, headway CV, excess wait, segment
// speeds, run times, passenger load or crowding; the live lists (bunched pairs, congestion now
// vs usual) as of --now (default: the newest arrival in the file); where jams usually happen;
// driving time per vehicle. Definitions: ../shared/FORMATS.md.
// --vehicle V lists that vehicle's stop visits instead (trip, stop, scheduled and observed
// times in the agency's time zone): what an operator checks for one bus, e.g. the visits a
// terminal's blind-area upload filled in.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/cli/report_json.h"
#include "services/core/analytics/analytics.h"
#include "services/core/analytics/network_view.h"
#include "services/core/common/status_macros.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/tracking/csv_io.h"
#include "services/server/analytics_proto.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"

namespace smartbus::cli {
namespace {

constexpr const char* kReportUsage =
    "usage: smartbus report --gtfs FEED... --visits VISITS.csv [--from T] [--to T] [--json]\n"
    "         [--stops] [--trips] [--now T] [--on-time-early S] [--on-time-late S]\n"
    "         [--bunching-ratio X] [--live-window S] [--limit N]\n"
    "  T: epoch seconds or RFC 3339 (2026-02-16T16:00:00Z); --from/--to filter visits by\n"
    "  observed arrival, [from, to). --stops/--trips add per-stop and per-trip figures.\n"
    "  --now: the instant of the live lists (bunched pairs, congestion); default: newest arrival.\n"
    "  --on-time-early/-late: on-time window in seconds (default -60 and 300).\n"
    "  --vehicle V: list V's stop visits (in [from, to)) instead of the route figures.\n";

// Epoch seconds or RFC 3339.
bool ParseInstant(const std::string& text, double* out) {
  if (absl::SimpleAtod(text, out)) return true;
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    *out = absl::ToDoubleSeconds(t - absl::UnixEpoch());
    return true;
  }
  return false;
}

// --vehicle: the vehicle's visits in arrival order, in [window.from_s, window.to_s).
int PrintVehicleVisits(const std::vector<StopVisit>& visits, const std::string& vehicle,
                       const TimeWindow& window, const Network& net, bool json) {
  const GtfsFeed& feed = net.feed();
  auto local = [&](double t) {
    return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(std::llround(t)),
                            net.time_zone());
  };
  nlohmann::json rows = nlohmann::json::array();
  if (!json)
    std::printf("stop visits of %s (%s)\n%-14s %-10s %5s %-19s %-19s %-19s\n", vehicle.c_str(),
                net.time_zone().name().c_str(), "trip", "stop", "seq", "scheduled",
                "arrival", "departure");
  for (const StopVisit& v : visits) {
    if (v.vehicle_id != vehicle || v.arrival_s < window.from_s || v.arrival_s >= window.to_s)
      continue;
    const std::string trip = v.trip < feed.trips.size() ? feed.trips[v.trip].id : "";
    const std::string stop = v.stop < feed.stops.size() ? feed.stops[v.stop].id : "";
    if (json) {
      rows.push_back({{"trip_id", trip}, {"stop_id", stop}, {"stop_sequence", v.stop_sequence},
                      {"service_date", v.service_date},
                      {"scheduled_arrival", v.scheduled_arrival_s},
                      {"arrival", std::llround(v.arrival_s)},
                      {"departure", std::llround(v.departure_s)}});
      continue;
    }
    std::printf("%-14s %-10s %5u %-19s %-19s %-19s\n", trip.c_str(), stop.c_str(),
                v.stop_sequence, local(double(v.scheduled_arrival_s)).c_str(),
                local(v.arrival_s).c_str(), local(v.departure_s).c_str());
  }
  if (json)
    std::printf("%s\n", nlohmann::json{{"vehicle_id", vehicle}, {"visits", rows}}.dump(2).c_str());
  return 0;
}

std::string Fmt(double x, const char* fmt = "%.1f") {
  if (!std::isfinite(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

// The report's flags: the route query (window, --stops, --trips), the analytics options and
// --limit; each error names its flag.
struct ReportFlags {
  RouteQuery query;
  AnalyticsOptions options;
  int64_t limit = 20;
};

absl::StatusOr<ReportFlags> ParseReportFlags(const Args& args) {
  ReportFlags flags;
  RouteQuery& q = flags.query;
  q.stops = args.Has("stops");
  q.trips = args.Has("trips");
  for (const char* name : {"from", "to"}) {
    if (!args.Has(name)) continue;
    double t;
    if (!ParseInstant(args.Get(name), &t)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, ": not epoch seconds or RFC 3339 time: '", args.Get(name), "'"));
    }
    (std::string(name) == "from" ? q.window.from_s : q.window.to_s) = t;
  }
  AnalyticsOptions& options = flags.options;
  auto early = args.GetDouble("on-time-early", options.on_time_early_s);
  auto late = args.GetDouble("on-time-late", options.on_time_late_s);
  auto ratio = args.GetDouble("bunching-ratio", options.bunching_ratio);
  auto live = args.GetDouble("live-window", options.live_window_s);
  auto limit = args.GetInt("limit", 20);
  for (const absl::Status& s : {early.status(), late.status(), ratio.status(), live.status(),
                                limit.status()}) {
    SB_RETURN_IF_ERROR(s);
  }
  options.on_time_early_s = *early;
  options.on_time_late_s = *late;
  options.bunching_ratio = *ratio;
  options.live_window_s = *live;
  flags.limit = *limit;
  return flags;
}

// What the report is made of: the visits read, the aggregate over them, the live instant.
struct ReportData {
  const Args& args;
  const ReportFlags& flags;
  const NetworkAnalyticsView& view;
  const VisitsCsvStats& stats;
  const VisitAggregator& agg;
  const std::vector<RouteStats>& routes;
  int64_t ignored = 0;  // visits the aggregator did not take
  double now = NAN;     // the live lists' instant (not finite: none)
  size_t n = 0;         // --limit
};

// --json: every figure as one JSON document.
void PrintReportJson(const ReportData& r) {
  v1::AnalyticsReport report;
  report.set_visits_file(r.args.Get("visits"));
  report.set_visits_read(r.stats.rows);
  report.set_visits_used(r.agg.visits());
  report.set_visits_ignored(r.ignored);
  report.mutable_warnings()->insert(r.stats.warnings.begin(), r.stats.warnings.end());
  report.set_on_time_early_s(r.flags.options.on_time_early_s);
  report.set_on_time_late_s(r.flags.options.on_time_late_s);
  server::FillReport(r.agg, r.routes, r.view, r.flags.query.window, r.now, r.n, &report);
  std::fputs(ReportJson(report).c_str(), stdout);
}

// The text report's table: one row per route.
void PrintRouteTable(const std::vector<RouteStats>& routes, const NetworkAnalyticsView& view) {
  std::printf("\n%-12s %7s %7s %7s %7s %7s %9s %9s %9s %9s\n", "route", "visits", "ontime%",
              "early%", "late%", "hw_cv", "exwait_s", "speedkmh", "run/sch", "crowding");
  for (const RouteStats& r : routes) {
    double d = 0, t = 0;
    for (const SegmentStats& s : r.segments) {
      d += s.distance_m * s.traversals;
      t += s.mean_time_s * s.traversals;
    }
    std::string crowd = r.passengers.has_load()        ? "load " + Fmt(r.passengers.mean_load())
                        : r.passengers.has_occupancy() ? "occ " + Fmt(r.passengers.mean_occupancy(), "%.2f")
                                                       : "no data";
    std::printf("%-12s %7lld %7s %7s %7s %7s %9s %9s %9s %9s\n", view.RouteId(r.route).c_str(),
                static_cast<long long>(r.visits), Fmt(r.on_time.on_time_pct()).c_str(),
                Fmt(r.on_time.early_pct()).c_str(), Fmt(r.on_time.late_pct()).c_str(),
                Fmt(r.headways.cv(), "%.3f").c_str(), Fmt(r.excess_wait_s).c_str(),
                Fmt(t > 0 ? d / t * 3.6 : NAN).c_str(),
                Fmt(r.scheduled_run_s > 0 ? r.actual_run_s / r.scheduled_run_s : NAN, "%.2f").c_str(),
                crowd.c_str());
  }
}

// The text report's live lists as of r.now: bunched pairs and the slowest segments.
void PrintLiveLists(const ReportData& r) {
  const NetworkAnalyticsView& view = r.view;
  std::vector<BunchedPair> pairs = r.agg.BunchedPairs(r.now);
  std::printf("\nbunched pairs in the %.0f s before %s: %zu\n", r.flags.options.live_window_s,
              absl::FormatTime(absl::RFC3339_sec, absl::FromUnixSeconds(std::llround(r.now)),
                               absl::UTCTimeZone()).c_str(),
              pairs.size());
  for (const BunchedPair& p : pairs) {
    std::printf("  route %s stop %s: %s then %s %.0f s later (scheduled %.0f s)\n",
                view.RouteId(p.route).c_str(), view.StopId(p.stop).c_str(),
                p.leader_vehicle.c_str(), p.follower_vehicle.c_str(), p.headway_s,
                p.scheduled_headway_s);
  }
  std::vector<SegmentCongestion> cong = r.agg.Congestion(r.now, std::min<size_t>(r.n, 10));
  std::printf("\nslowest segments now (vs usual at this time of day):\n");
  for (const SegmentCongestion& c : cong) {
    std::printf("  %s -> %s (route %s): %s km/h now, usual %s km/h\n",
                view.StopId(c.from_stop).c_str(), view.StopId(c.to_stop).c_str(),
                view.RouteId(c.route).c_str(), Fmt(c.now_speed_kmh).c_str(),
                Fmt(c.usual_speed_kmh).c_str());
  }
}

// The text report: what was read, the route table, the live lists.
void PrintReportText(const ReportData& r) {
  std::printf("%zu visits read from %s (%lld used)\n", static_cast<size_t>(r.stats.rows),
              r.args.Get("visits").c_str(), static_cast<long long>(r.agg.visits()));
  for (const auto& [kind, count] : r.stats.warnings) {
    std::printf("  skipped %lld rows: %s\n", static_cast<long long>(count), kind.c_str());
  }
  PrintRouteTable(r.routes, r.view);
  if (std::isfinite(r.now)) PrintLiveLists(r);
  std::printf("\n(--json for every figure: segments, rankings, usual jams, vehicles)\n");
}

}  // namespace

int RunReport(int argc, char** argv) {
  Args args;
  int code;
  if (!ParseCommandArgs("report", kReportUsage, argc, argv, {"json", "stops", "trips"},
                        {"gtfs", "visits", "from", "to", "now", "on-time-early", "on-time-late",
                         "bunching-ratio", "live-window", "limit", "vehicle"},
                        &args, &code))
    return code;
  std::vector<std::string> feeds = args.GetAll("gtfs");
  for (const std::string& p : args.positional()) feeds.push_back(p);
  if (feeds.empty() || !args.Has("visits")) {
    std::fprintf(stderr, "smartbus report: --gtfs and --visits are required\n%s", kReportUsage);
    return 2;
  }
  auto flags = ParseReportFlags(args);
  if (!flags.ok()) {
    std::fprintf(stderr, "smartbus report: %s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  AnalyticsOptions& options = flags->options;

  auto net = LoadNetwork(feeds);
  if (!net.ok()) {
    std::fprintf(stderr, "smartbus report: %s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  options.time_zone = (*net)->time_zone();
  auto view = std::make_shared<NetworkAnalyticsView>(*net);

  VisitsCsvStats stats;
  auto visits = ReadStopVisitsCsv(args.Get("visits"), (*net)->feed(), &stats);
  if (!visits.ok()) {
    std::fprintf(stderr, "smartbus report: %s\n", std::string(visits.status().message()).c_str());
    return 1;
  }
  // In arrival order, as the live server receives them (the figures do not depend on it).
  std::stable_sort(visits->begin(), visits->end(), [](const StopVisit& a, const StopVisit& b) {
    return a.arrival_s < b.arrival_s;
  });
  if (args.Has("vehicle")) {
    return PrintVehicleVisits(*visits, args.Get("vehicle"), flags->query.window, **net,
                              args.Has("json"));
  }
  AnalyticsOptions agg_options = options;
  agg_options.retention_s = std::numeric_limits<double>::infinity();  // a report keeps all
  VisitAggregator agg(view, agg_options);
  int64_t ignored = 0;
  for (const StopVisit& v : *visits) ignored += agg.Add(v) ? 0 : 1;

  double now = agg.newest_arrival_s();
  if (args.Has("now") && !ParseInstant(args.Get("now"), &now)) {
    std::fprintf(stderr, "smartbus report: --now: not epoch seconds or RFC 3339 time: '%s'\n",
                 args.Get("now").c_str());
    return 2;
  }
  std::vector<RouteStats> routes = agg.Routes(flags->query);
  const ReportData data{args, *flags, *view, stats, agg, routes, ignored, now,
                        static_cast<size_t>(std::max<int64_t>(0, flags->limit))};
  if (args.Has("json")) {
    PrintReportJson(data);
  } else {
    PrintReportText(data);
  }
  return 0;
}

}  // namespace smartbus::cli
