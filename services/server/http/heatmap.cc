#include "services/server/http/heatmap.h"

#include <cmath>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/core/network/network.h"
#include "smartbus/v1/analytics.pb.h"

namespace smartbus::server {

namespace pb = ::smartbus::v1;

namespace {

constexpr double kMetresPerDegreeLat = 111320.0;  // mean; the grid is for display, not survey
constexpr double kMinCellM = 50, kMaxCellM = 5000, kDefaultCellM = 250;

struct Cell {
  int64_t visits = 0, boardings = 0, alightings = 0, counted_visits = 0, stops = 0;
  int64_t on_time_counted = 0, on_time = 0, late = 0;
  int64_t traversals = 0;
  double distance_m = 0, time_s = 0;  // Σ over traversals: space-mean speed
};

struct Grid {
  double dlat = 0, dlon = 0;
  int64_t Key(double lat, double lon) const {
    const int64_t i = static_cast<int64_t>(std::floor(lat / dlat));
    const int64_t j = static_cast<int64_t>(std::floor(lon / dlon));
    return (i << 32) ^ (j & 0xffffffff);
  }
  // Corners of the cell holding (lat, lon): closed ring, lon/lat order (GeoJSON).
  nlohmann::json Ring(double lat, double lon) const {
    const double s = std::floor(lat / dlat) * dlat, w = std::floor(lon / dlon) * dlon;
    const double n = s + dlat, e = w + dlon;
    return nlohmann::json::array({nlohmann::json::array(
        {{w, s}, {e, s}, {e, n}, {w, n}, {w, s}})});
  }
};

Grid GridFor(const Network& network, double cell_m) {
  double lat_sum = 0;
  const auto& stops = network.feed().stops;
  for (const auto& s : stops) lat_sum += s.pos.lat;
  const double lat0 = stops.empty() ? 0 : lat_sum / stops.size();
  Grid g;
  g.dlat = cell_m / kMetresPerDegreeLat;
  g.dlon = cell_m / (kMetresPerDegreeLat * std::max(0.01, std::cos(lat0 * M_PI / 180)));
  return g;
}

void SetMax(nlohmann::json& max, const char* key, double v) {
  if (!max.contains(key) || max[key].get<double>() < v) max[key] = v;
}

}  // namespace

absl::StatusOr<HeatmapQuery> ParseHeatmapQuery(
    const std::multimap<std::string, std::string>& params) {
  HeatmapQuery q;
  q.cell_m = kDefaultCellM;
  for (const auto& [k, v] : params) {
    if (k == "from" || k == "to") {
      int64_t t = 0;
      if (!absl::SimpleAtoi(v, &t) || t < 0)
        return absl::InvalidArgumentError(
            absl::StrCat(k, "=\"", v, "\": not epoch seconds (an integer >= 0)"));
      (k == "from" ? q.from : q.to) = t;
    } else if (k == "cell_m") {
      double c = 0;
      if (!absl::SimpleAtod(v, &c) || !(c >= kMinCellM && c <= kMaxCellM))
        return absl::InvalidArgumentError(
            absl::StrCat("cell_m=\"", v, "\": must be metres, ", kMinCellM, "..", kMaxCellM));
      q.cell_m = c;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter \"", k, "\" (this call takes: from, to, cell_m)"));
    }
  }
  if (q.from > 0 && q.to > 0 && q.to <= q.from)
    return absl::InvalidArgumentError(
        absl::StrCat("from=", q.from, " to=", q.to, ": to must be after from"));
  return q;
}

std::string HeatmapGeoJson(const pb::GetRouteAnalyticsResponse& analytics, const Network& network,
                           const HeatmapQuery& query) {
  const Grid grid = GridFor(network, query.cell_m);
  const auto& stops = network.feed().stops;
  std::unordered_map<int64_t, Cell> cells;
  std::unordered_map<int64_t, LatLon> where;  // a point of each cell
  auto cell_of = [&](const std::string& stop_id) -> Cell* {
    auto s = network.FindStop(stop_id);
    if (!s) return nullptr;
    const LatLon p = stops[*s].pos;
    const int64_t key = grid.Key(p.lat, p.lon);
    where.emplace(key, p);
    return &cells[key];
  };
  for (const pb::RouteFigures& r : analytics.routes()) {
    for (const pb::StopFigures& s : r.stops()) {
      Cell* c = cell_of(s.stop_id());
      if (!c || s.visits() == 0) continue;
      c->visits += s.visits();
      c->stops += 1;
      c->boardings += s.passengers().boardings();
      c->alightings += s.passengers().alightings();
      c->counted_visits += s.passengers().count_visits();
      c->on_time_counted += s.on_time().counted();
      c->on_time += s.on_time().on_time();
      c->late += s.on_time().late();
    }
    for (const pb::SegmentFigures& seg : r.segments()) {
      Cell* c = cell_of(seg.from_stop_id());
      if (!c || seg.traversals() == 0 || !(seg.mean_time_s() > 0)) continue;
      c->traversals += seg.traversals();
      c->distance_m += seg.distance_m() * seg.traversals();
      c->time_s += seg.mean_time_s() * seg.traversals();
    }
  }
  nlohmann::json features = nlohmann::json::array();
  nlohmann::json max = nlohmann::json::object();
  for (const auto& [key, c] : cells) {
    if (c.visits == 0) continue;
    const LatLon p = where[key];
    nlohmann::json props = {{"visits", c.visits},         {"boardings", c.boardings},
                            {"alightings", c.alightings}, {"counted_visits", c.counted_visits},
                            {"stops", c.stops}};
    if (c.on_time_counted > 0) {
      props["on_time_pct"] = 100.0 * c.on_time / c.on_time_counted;
      props["late_pct"] = 100.0 * c.late / c.on_time_counted;
    }
    if (c.time_s > 0) props["mean_speed_kmh"] = 3.6 * c.distance_m / c.time_s;
    for (auto it = props.begin(); it != props.end(); ++it)
      SetMax(max, it.key().c_str(), it.value().get<double>());
    features.push_back({{"type", "Feature"},
                        {"geometry", {{"type", "Polygon"}, {"coordinates", grid.Ring(p.lat, p.lon)}}},
                        {"properties", std::move(props)}});
  }
  nlohmann::json out = {{"type", "FeatureCollection"},
                        {"window", {{"from", query.from}, {"to", query.to}}},
                        {"cell_m", query.cell_m},
                        {"now", analytics.now()},
                        {"max", max},
                        {"features", std::move(features)}};
  return out.dump() + "\n";
}

}  // namespace smartbus::server
