#pragma once
// Routes ranked by passengers and crowding, for `smartbus report` (AnalyticsReport.rankings in
// proto/smartbus/v1/analytics.proto).

#include <cstddef>
#include <utility>
#include <vector>

#include "services/core/analytics/analytics.h"

namespace smartbus {

struct RouteRanking {
  enum class CrowdingBy : uint8_t { kMeanLoad, kMeanOccupancy, kNone };
  // Indices into the ranked routes: most boardings first when any route has passenger counts
  // (busiest_by_boardings), else most visits first.
  std::vector<size_t> busiest;
  bool busiest_by_boardings = false;
  // Highest mean load first when any route has loads, else highest mean occupancy; routes
  // without the figure are left out.
  std::vector<size_t> most_crowded;
  // (route index, segment index) in the same order over segments, at most kMaxSegments.
  std::vector<std::pair<size_t, size_t>> most_crowded_segments;
  CrowdingBy crowding_by = CrowdingBy::kNone;
  static constexpr size_t kMaxSegments = 20;
};

RouteRanking RankRoutes(const std::vector<RouteStats>& routes);

}  // namespace smartbus
