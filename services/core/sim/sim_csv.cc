#include "services/core/sim/sim_csv.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/core/common/csv.h"

namespace smartbus {
absl::string_view PositionsCsvHeader() {
  return "vehicle_id,timestamp,lat,lon,bearing,speed,trip_id,route_id,occupancy,boardings,"
         "alightings,load,accuracy\n";
}

void AppendPositionsRow(const Fix& f, std::string* out) {
  CsvRow(out)
      .Text(f.vehicle_id)
      .Int(f.timestamp_s)
      .Fixed(f.lat, 6)
      .Fixed(f.lon, 6)
      .OptFixed(f.bearing_deg, 0)
      .OptFixed(f.speed_mps, 1)
      .Text(f.trip_id)
      .Text(f.route_id)
      .OptInt(f.occupancy)
      .OptInt(f.boardings)
      .OptInt(f.alightings)
      .OptInt(f.load)
      .OptFixed(f.accuracy_m, 1)
      .End();
}

absl::string_view SimTruthCsvHeader() {
  return "vehicle_id,timestamp,trip_id,phase,dist_along_m,true_lat,true_lon,true_speed,delay_s\n";
}

void AppendSimTruthRow(const SimFix& f, const GtfsFeed& feed, std::string* out) {
  absl::StrAppend(out, f.fix.vehicle_id, ",", f.fix.timestamp_s, ",",
                  f.trip == kNoIndex ? "" : feed.trips[f.trip].id, ",", SimPhaseName(f.phase),
                  ",",
                  absl::StrFormat("%.1f,%.6f,%.6f,%.1f,%.0f\n", f.dist_along_m, f.true_pos.lat,
                                  f.true_pos.lon, f.true_speed_mps, f.delay_s));
}

}  // namespace smartbus
