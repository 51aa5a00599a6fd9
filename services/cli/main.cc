// smartbus: the command-line tool (offline tools over GTFS and recorded fixes, and a client of
// a running smartbusd).

#include <cstdio>
#include <cstring>
#include <string>

#include "services/cli/commands.h"

namespace {

struct Command {
  const char* name;
  const char* help;
  int (*run)(int, char**);
  int skip;  // how many words name the command
};

const Command kCommands[] = {
    {"gtfs inspect", "FEED... [--date YYYYMMDD] [--json]  summarize GTFS feeds",
     smartbus::cli::RunGtfsInspect, 2},
    {"replay", "--gtfs FEED... --positions CSV [--matches OUT] [--visits OUT] ...  run the engine "
               "over recorded fixes", smartbus::cli::RunReplay, 1},
    {"report", "--gtfs FEED... --visits CSV [--from T --to T] [--json]  operator analytics from "
               "stop visits", smartbus::cli::RunReport, 1},
    {"advise", "--gtfs FEED... --visits CSV [--route R]... [--json]  route and stop advice: "
               "running times, recovery, headways, late starts, stops", smartbus::cli::RunAdvise, 1},
    {"sim", "--gtfs FEED... [--date D] [--start T] [--end T] [--out CSV] [--server ADDR --speed X] "
            "...  simulate a fleet (--help for all options)", smartbus::cli::RunSim, 1},
    {"shapes", "--gtfs FEED --positions CSV --out DIR [--all] [--json]  learn the paths of "
               "patterns without shapes from fixes; write FEED with them as shapes.txt",
     smartbus::cli::RunShapes, 1},
    {"demo-feed", "--out DIR  write the demo city GTFS feed (data/demo-city)",
     smartbus::cli::RunDemoFeed, 1},
    // Clients of a running smartbusd (--server HOST:PORT, default $SMARTBUS_SERVER or
    // 127.0.0.1:50051; --json for scripts).
    {"arrivals", "STOP_ID [--limit N] [--horizon S] [--route R] [--live-only]  next arrivals",
     smartbus::cli::RunArrivals, 1},
    {"watch", "STOP_ID [...]  live arrivals board (pushed on change)", smartbus::cli::RunWatch, 1},
    {"nearby", "LAT LON [--radius M] [--limit N]  stops near a point", smartbus::cli::RunNearby, 1},
    {"stops", "QUERY  stops by name, stop_code or stop_id", smartbus::cli::RunStops, 1},
    {"stop", "STOP_ID  one stop", smartbus::cli::RunStop, 1},
    {"routes", "[ROUTE_ID...] [--shapes]  routes (with shapes)", smartbus::cli::RunRoutes, 1},
    {"vehicle", "VEHICLE_ID  one vehicle", smartbus::cli::RunVehicle, 1},
    {"vehicles", "--route R | --box S,W,N,E  vehicles of a route or in a box",
     smartbus::cli::RunVehicles, 1},
    {"fleet", "[--route R] [--stale S]  fleet status (and each bus's condition)",
     smartbus::cli::RunFleet, 1},
    {"events", "VEHICLE_ID [--date YYYYMMDD]  a bus's alarms raised/cleared and driving time",
     smartbus::cli::RunEvents, 1},
    {"health", "  server and storage health (exit 0 when serving)", smartbus::cli::RunHealth, 1},
    {"status", "  server counters: shards, queues, store", smartbus::cli::RunStatus, 1},
    {"analytics routes", "[--route R] [--from T --to T] [--stops] [--trips]  on-time, headways, "
                         "segment speeds, load per route", smartbus::cli::RunAnalyticsRoutes, 2},
    {"analytics bunching", "[--now T]  live bunched pairs", smartbus::cli::RunAnalyticsBunching, 2},
    {"analytics congestion", "[--now T] [--limit N]  segment speed now vs usual; usual jams",
     smartbus::cli::RunAnalyticsCongestion, 2},
    {"analytics fleet", "[--stale S] [--silent S]  report age, stale/silent, off route, driving "
                        "time", smartbus::cli::RunAnalyticsFleet, 2},
    {"plan", "FROM TO [--at|--by TIME] [--window MIN] [--json]  journeys (stop_id or LAT,LON)",
     smartbus::cli::RunPlan, 1},
    {"analytics advice", "[--route R]... [--from T --to T]  route and stop advice over the "
                         "visits held (GetRouteAdvice)", smartbus::cli::RunAnalyticsAdvice, 2},
    {"analytics accuracy", "[--route R]... [--today | --from T] [--to T]  live prediction "
                           "accuracy by horizon and route", smartbus::cli::RunAnalyticsAccuracy, 2},
    {"push", "--positions CSV [--speed X] [--batch N]  replay fixes into a running server",
     smartbus::cli::RunPush, 1},
    {"cancel", "TRIP_ID [--stop S] [--stop-sequence N] [--date YYYYMMDD] [--reason T]  cancel a "
               "trip (or skip one stop)", smartbus::cli::RunCancel, 1},
    {"restore", "TRIP_ID [--stop S] [--stop-sequence N] [--date YYYYMMDD]  undo a cancel",
     smartbus::cli::RunRestore, 1},
    {"alert post", "--header [LANG:]TEXT [--route R] [--stop S] [--trip T] [--start T --end T] "
                   "...  post a rider alert", smartbus::cli::RunAlertPost, 2},
    {"alert end", "ALERT_ID  end an alert", smartbus::cli::RunAlertEnd, 2},
    {"alert list", "  alerts and trip changes in force", smartbus::cli::RunAlertList, 2},
};

void Usage() {
  std::fprintf(stderr, "usage: smartbus COMMAND [options]\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(stderr, "  smartbus %s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    Usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    std::string name;
    for (int i = 1; i <= c.skip && i < argc; ++i) name += (i > 1 ? " " : "") + std::string(argv[i]);
    if (name == c.name) return c.run(argc - 1 - c.skip, argv + 1 + c.skip);
  }
  std::fprintf(stderr, "smartbus: unknown command '%s'\n", argv[1]);
  Usage();
  return 2;
}
