#include "services/core/sim/sim_csv.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smartbus {
namespace {

void AppendInt(int32_t v, std::string* out) {
  if (v >= 0) absl::StrAppend(out, v);
}

}  // namespace

absl::string_view PositionsCsvHeader() {
  return "vehicle_id,timestamp,lat,lon,bearing,speed,trip_id,route_id,occupancy,boardings,"
         "alightings,load,accuracy\n";
}

void AppendPositionsRow(const Fix& f, std::string* out) {
  absl::StrAppend(out, f.vehicle_id, ",", f.timestamp_s, ",",
                  absl::StrFormat("%.6f,%.6f", f.lat, f.lon), ",");
  if (std::isfinite(f.bearing_deg)) absl::StrAppend(out, absl::StrFormat("%.0f", f.bearing_deg));
  out->push_back(',');
  if (std::isfinite(f.speed_mps)) absl::StrAppend(out, absl::StrFormat("%.1f", f.speed_mps));
  absl::StrAppend(out, ",", f.trip_id, ",", f.route_id, ",");
  AppendInt(f.occupancy, out);
  out->push_back(',');
  AppendInt(f.boardings, out);
  out->push_back(',');
  AppendInt(f.alightings, out);
  out->push_back(',');
  AppendInt(f.load, out);
  out->push_back(',');
  if (std::isfinite(f.accuracy_m)) absl::StrAppend(out, absl::StrFormat("%.1f", f.accuracy_m));
  out->push_back('\n');
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
