#pragma once
// JSON of the analytics results, the one shape `smartbus report --json` and the live CLI
// subcommands (`smartbus analytics ... --json`) print, so their outputs compare field by field.
// Unknown figures (NaN, no passenger data) are null, never invented.

#include <vector>

#include "nlohmann/json.hpp"
#include "services/core/analytics/analytics.h"

namespace smartbus {

// {"route_id", "visits", "on_time_pct", "early_pct", "late_pct", "headway_cv", "excess_wait_s",
//  "segments": [{from_stop_id, to_stop_id, traversals, mean_speed_kmh, ...}], "boardings",
//  "alightings", "max_load", "mean_occupancy", "passenger_data", ...} (FORMATS.md).
nlohmann::json RouteStatsJson(const RouteStats& r, const AnalyticsNetwork& net);
// {"routes": [...], "rankings": {busiest_routes, most_crowded_routes, most_crowded_segments}}.
nlohmann::json RoutesReportJson(const std::vector<RouteStats>& routes,
                                const AnalyticsNetwork& net);
nlohmann::json BunchedPairsJson(const std::vector<BunchedPair>& pairs,
                                const AnalyticsNetwork& net);
nlohmann::json CongestionJson(const std::vector<SegmentCongestion>& segs,
                              const AnalyticsNetwork& net);
nlohmann::json UsualJamsJson(const std::vector<UsualJam>& jams, const AnalyticsNetwork& net);
nlohmann::json DrivingJson(const std::vector<VehicleDriving>& driving);
nlohmann::json FleetConditionJson(const FleetCondition& fleet, const AnalyticsNetwork& net);

}  // namespace smartbus
