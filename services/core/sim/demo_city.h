#pragma once
// The demo city: a small, fictional but realistic GTFS feed that the project generates itself
// (data/demo-city, documented in data/README.md). `smartbus demo-feed --out DIR` writes it
// (the files are made here, in memory; the command writes them: core does no file I/O).
//
// What it holds: a street grid (500 m blocks) around a transfer hub, Central Station; six bus
// routes — two-direction trunk routes that share stops and a street with each other, a downtown
// loop (each trip starts and ends at Central Station), an out-and-back shuttle that doubles back
// on the same street (stops on both kerbs), and an airport express that skips stops; shapes with
// shape_dist_traveled; a weekday and a weekend service with calendar_dates holiday exceptions;
// a day of trips with peak/off-peak headways and run times, chained into blocks with layovers.
//
// The output is a pure function of the options: byte-identical on every run and machine.

#include <cstdint>
#include <string>
#include <vector>

#include "services/core/geo/geo.h"
#include "services/core/gtfs/source.h"

namespace smartbus {

struct DemoCityOptions {
  // Where Central Station (the grid origin) lies. Default: a fictional city in upstate New York
  // (agency time zone America/New_York).
  LatLon origin{42.1000, -75.9100};
  // calendar.txt validity, YYYYMMDD. Default: all of 2026 and 2027.
  int32_t start_date = 20260101;
  int32_t end_date = 20271231;
};

// Counts of what DemoCityFeed made.
struct DemoCityStats {
  int routes = 0;
  int stops = 0;
  int shapes = 0;
  int trips = 0;
  int stop_times = 0;
  int blocks = 0;
};

// The feed's files: agency, routes, stops, shapes, trips, stop_times, calendar, calendar_dates
// and feed_info (.txt), in that order.
std::vector<TextFile> DemoCityFeed(const DemoCityOptions& options = {},
                                   DemoCityStats* stats = nullptr);

}  // namespace smartbus
