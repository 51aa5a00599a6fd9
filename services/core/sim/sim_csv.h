#pragma once
// CSV output of the simulator: the Positions CSV (../shared/FORMATS.md, with the optional
// passenger and accuracy columns) and a truth CSV that says where each bus really was.

#include <string>

#include "absl/strings/string_view.h"
#include "services/core/gtfs/feed.h"
#include "services/core/sim/simulator.h"
#include "services/core/tracking/types.h"

namespace smartbus {

// "vehicle_id,timestamp,lat,lon,bearing,speed,trip_id,route_id,occupancy,boardings,alightings,
// load,accuracy\n"
absl::string_view PositionsCsvHeader();
// Appends one Positions row (with newline). Unknown values (NaN, -1) are written empty; lat/lon
// with 6 decimals, bearing with 0 and speed with 1.
void AppendPositionsRow(const Fix& f, std::string* out);

// "vehicle_id,timestamp,trip_id,phase,dist_along_m,true_lat,true_lon,true_speed,delay_s\n"
// phase: layover, dwell or moving; trip_id empty after the bus's last trip.
absl::string_view SimTruthCsvHeader();
void AppendSimTruthRow(const SimFix& f, const GtfsFeed& feed, std::string* out);

}  // namespace smartbus
