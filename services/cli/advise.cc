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

#include "services/cli/advice_print.h"
#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/core/network/network.h"
#include "services/core/planner/advice.h"
#include "services/core/tracking/csv_io.h"
#include "services/server/advice_proto.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"

namespace smartbus::cli {
namespace {

constexpr const char* kAdviseUsage =
    "usage: smartbus advise --gtfs FEED... --visits VISITS.csv [--route ROUTE_ID]... [--json]\n"
    "         [--limit N]\n"
    "  Advice per route from observed stop visits (one or more days): recommended scheduled\n"
    "  running times per segment, timepoint pair and time band (P85 of observed, TCQSM/TCRP 113\n"
    "  practice), recovery time (P95 - P85 of whole trips), headway regularity and where bunching\n"
    "  starts, late starts (late pull-out vs previous trip late), stop spacing and consolidation\n"
    "  candidates (with passenger counts). --limit: rows per list in the text output (10).\n"
    "  --json: the GetRouteAdviceResponse message (proto/smartbus/v1/analytics.proto).\n";

}  // namespace

int RunAdvise(int argc, char** argv) {
  Args args;
  int code;
  if (!ParseCommandArgs("advise", kAdviseUsage, argc, argv, {"json"},
                        {"gtfs", "visits", "route", "limit"}, &args, &code))
    return code;
  const std::vector<std::string> feeds = args.GetAll("gtfs");
  auto limit = args.GetInt("limit", 10);
  if (feeds.empty() || !args.Has("visits") || !limit.ok()) {
    std::fprintf(stderr, "smartbus advise: --gtfs and --visits are required\n%s", kAdviseUsage);
    return 2;
  }
  auto net = LoadNetwork(feeds);
  if (!net.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  std::vector<uint32_t> routes;
  for (const std::string& id : args.GetAll("route")) {
    auto r = (*net)->FindRoute(id);
    if (!r) {
      std::fprintf(stderr, "smartbus advise: --route %s: no such route in the feeds\n", id.c_str());
      return 2;
    }
    routes.push_back(*r);
  }
  VisitsCsvStats stats;
  auto visits = ReadStopVisitsCsv(args.Get("visits"), (*net)->feed(), &stats);
  if (!visits.ok()) {
    std::fprintf(stderr, "smartbus advise: %s\n", std::string(visits.status().message()).c_str());
    return 1;
  }
  planner::AdviceOptions opt;
  opt.time_zone = (*net)->time_zone();
  const planner::AdviceReport rep = planner::BuildAdvice(**net, *visits, opt, routes);
  v1::GetRouteAdviceResponse resp;  // the message AnalyticsService.GetRouteAdvice answers
  server::FillRouteAdvice(**net, rep, opt, &resp);
  if (args.Has("json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
  } else {
    PrintRouteAdvice(resp, static_cast<size_t>(*limit));
  }
  return 0;
}

}  // namespace smartbus::cli
