#include "services/core/analytics/rankings.h"

#include <algorithm>
#include <cmath>

namespace smartbus {

RouteRanking RankRoutes(const std::vector<RouteStats>& routes) {
  RouteRanking out;
  std::vector<size_t> rs(routes.size());
  for (size_t i = 0; i < rs.size(); ++i) rs[i] = i;
  out.busiest_by_boardings = std::any_of(
      routes.begin(), routes.end(), [](const RouteStats& r) { return r.passengers.has_counts(); });
  const bool counts = out.busiest_by_boardings;
  std::stable_sort(rs.begin(), rs.end(), [&](size_t a, size_t b) {
    return counts ? routes[a].passengers.boardings > routes[b].passengers.boardings
                  : routes[a].visits > routes[b].visits;
  });
  out.busiest = rs;

  const bool loads = std::any_of(routes.begin(), routes.end(),
                                 [](const RouteStats& r) { return r.passengers.has_load(); });
  auto crowd = [&](const PassengerStats& p) { return loads ? p.mean_load() : p.mean_occupancy(); };
  for (size_t i : rs) {
    if (std::isfinite(crowd(routes[i].passengers))) out.most_crowded.push_back(i);
  }
  std::stable_sort(out.most_crowded.begin(), out.most_crowded.end(), [&](size_t a, size_t b) {
    return crowd(routes[a].passengers) > crowd(routes[b].passengers);
  });
  out.crowding_by = loads                      ? RouteRanking::CrowdingBy::kMeanLoad
                    : out.most_crowded.empty() ? RouteRanking::CrowdingBy::kNone
                                               : RouteRanking::CrowdingBy::kMeanOccupancy;

  auto& segs = out.most_crowded_segments;
  for (size_t r = 0; r < routes.size(); ++r) {
    for (size_t s = 0; s < routes[r].segments.size(); ++s) {
      if (std::isfinite(crowd(routes[r].segments[s].passengers))) segs.push_back({r, s});
    }
  }
  auto seg_crowd = [&](const std::pair<size_t, size_t>& x) {
    return crowd(routes[x.first].segments[x.second].passengers);
  };
  std::stable_sort(segs.begin(), segs.end(),
                   [&](const auto& a, const auto& b) { return seg_crowd(a) > seg_crowd(b); });
  if (segs.size() > RouteRanking::kMaxSegments) segs.resize(RouteRanking::kMaxSegments);
  return out;
}

}  // namespace smartbus
