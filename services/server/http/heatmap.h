#pragma once
// GET /api/v1/heatmap: the city's passenger and service figures over a square grid, as GeoJSON
// (RFC 7946), for the console's heat map and for other tools (QGIS, kepler.gl, ...).
//
//   /api/v1/heatmap?from=EPOCH_S&to=EPOCH_S&cell_m=250
//
// from / to: the time window of the stop visits (epoch s; 0 or absent = unbounded, as in
// /api/v1/analytics/routes); pick one hour of a day for a "time of day" layer. cell_m: the
// grid's cell size in metres, 50..5000, default 250.
//
// The figures are the analytics' own (GetRouteAnalytics with per-stop figures, the code that
// `smartbus report` runs), summed per cell over every route and stop in it: a FeatureCollection
// of Polygon cells (only cells with visits), each with properties
//   visits            stop visits in the window
//   boardings, alightings   passengers counted (0 when no vehicle counted)
//   counted_visits    visits that carried counts (boardings/alightings are over these)
//   on_time_pct, late_pct   share of the cell's counted on-time visits (absent without any)
//   mean_speed_kmh    space-mean bus speed of the segments leaving the cell's stops (absent
//                     without traversals)
//   stops             stops of the cell with visits
// and, at the top level, "window" {from, to}, "cell_m", "max" (the largest value of each
// property over the cells, for scaling a legend).

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace smartbus {
class Network;
}
namespace smartbus::v1 {
class GetRouteAnalyticsResponse;
}

namespace smartbus::server {

struct HeatmapQuery {
  int64_t from = 0;     // epoch s, 0 = unbounded
  int64_t to = 0;       // epoch s, 0 = unbounded
  double cell_m = 250;  // 50..5000
};

// From the request's query parameters; INVALID_ARGUMENT naming the parameter and value.
absl::StatusOr<HeatmapQuery> ParseHeatmapQuery(const std::multimap<std::string, std::string>& params);

// The GeoJSON text (see above). Stops the network does not know (an older feed) are skipped.
std::string HeatmapGeoJson(const smartbus::v1::GetRouteAnalyticsResponse& analytics,
                           const Network& network, const HeatmapQuery& query);

}  // namespace smartbus::server
