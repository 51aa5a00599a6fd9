#pragma once
// The `smartbus` subcommands. Each takes the arguments after its name and returns the process
// exit code (0 success, 1 failure, 2 usage error), printing errors to stderr.

namespace smartbus::cli {

int RunGtfsInspect(int argc, char** argv);  // smartbus gtfs inspect FEED... [--date] [--json]
int RunReplay(int argc, char** argv);       // smartbus replay --gtfs ... --positions ...
int RunReport(int argc, char** argv);
int RunAdvise(int argc, char** argv);      // smartbus advise --gtfs ... --visits ... [--json]       // smartbus report --gtfs ... --visits ... [--json]
int RunSim(int argc, char** argv);          // smartbus sim --gtfs ... [--out CSV] [--server ADDR]
int RunShapes(int argc, char** argv);       // smartbus shapes --gtfs FEED --positions CSV --out DIR
int RunDemoFeed(int argc, char** argv);     // smartbus demo-feed --out DIR

// Clients of a running smartbusd (services/cli/client_*.cc; --server HOST:PORT, --json).
int RunArrivals(int argc, char** argv);  // smartbus arrivals STOP_ID [--limit N] ...
int RunWatch(int argc, char** argv);     // smartbus watch STOP_ID (display board stream)
int RunNearby(int argc, char** argv);    // smartbus nearby LAT LON [--radius M]
int RunStops(int argc, char** argv);     // smartbus stops QUERY (name, stop_code, stop_id)
int RunStop(int argc, char** argv);      // smartbus stop STOP_ID
int RunRoutes(int argc, char** argv);    // smartbus routes [ROUTE_ID...] [--shapes]
int RunVehicle(int argc, char** argv);   // smartbus vehicle VEHICLE_ID
int RunVehicles(int argc, char** argv);  // smartbus vehicles --route R | --box S,W,N,E
int RunFleet(int argc, char** argv);
int RunEvents(int argc, char** argv);    // smartbus events VEHICLE_ID [--date YYYYMMDD]     // smartbus fleet [--route R]
int RunHealth(int argc, char** argv);    // smartbus health
int RunStatus(int argc, char** argv);    // smartbus status
int RunPush(int argc, char** argv);
int RunPlan(int argc, char** argv);      // smartbus plan FROM TO [--at|--by TIME] [--json]      // smartbus push --positions CSV --speed X [--batch N]

// Service changes (client_changes.cc).
int RunCancel(int argc, char** argv);     // smartbus cancel TRIP_ID [--stop S] [--date D]
int RunRestore(int argc, char** argv);    // smartbus restore TRIP_ID [--stop S] [--date D]
int RunAlertPost(int argc, char** argv);  // smartbus alert post --header TEXT --route R ...
int RunAlertEnd(int argc, char** argv);   // smartbus alert end ALERT_ID
int RunAlertList(int argc, char** argv);  // smartbus alert list

// Clients of smartbusd's AnalyticsService (analytics_client.cc); --json prints the shape of
// `smartbus report --json`.
int RunAnalyticsRoutes(int argc, char** argv);      // smartbus analytics routes [--route R] ...
int RunAnalyticsBunching(int argc, char** argv);    // smartbus analytics bunching [--now T]
int RunAnalyticsCongestion(int argc, char** argv);  // smartbus analytics congestion [--now T]
int RunAnalyticsFleet(int argc, char** argv);
int RunAnalyticsAdvice(int argc, char** argv);
int RunAnalyticsAccuracy(int argc, char** argv);    // smartbus analytics accuracy (accuracy_client.cc)      // smartbus analytics advice [--route R]       // smartbus analytics fleet [--stale S]

}  // namespace smartbus::cli
