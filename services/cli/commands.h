#pragma once
// The `smartbus` subcommands. Each takes the arguments after its name and returns the process
// exit code (0 success, 1 failure, 2 usage error), printing errors to stderr.

namespace smartbus::cli {

int RunGtfsInspect(int argc, char** argv);  // smartbus gtfs inspect FEED... [--date] [--json]
int RunReplay(int argc, char** argv);       // smartbus replay --gtfs ... --positions ...
int RunReport(int argc, char** argv);       // smartbus report --gtfs ... --visits ... [--json]
int RunSim(int argc, char** argv);          // smartbus sim --gtfs ... [--out CSV] [--server ADDR]
int RunDemoFeed(int argc, char** argv);     // smartbus demo-feed --out DIR

}  // namespace smartbus::cli
