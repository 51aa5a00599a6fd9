#include "services/core/paths/shapes_export.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/core/common/csv.h"
#include "services/core/gtfs/source.h"
#include "services/core/paths/path_learner.h"

namespace smartbus {
namespace {

// The files of a GTFS feed (reference), copied as they are when present.
constexpr const char* kCopiedFiles[] = {
    "agency.txt",        "stops.txt",       "routes.txt",      "stop_times.txt",
    "calendar.txt",      "calendar_dates.txt", "fare_attributes.txt", "fare_rules.txt",
    "frequencies.txt",   "transfers.txt",   "pathways.txt",    "levels.txt",
    "feed_info.txt",     "translations.txt", "attributions.txt", "fare_media.txt",
    "fare_products.txt", "fare_leg_rules.txt", "fare_transfer_rules.txt", "areas.txt",
    "stop_areas.txt",    "networks.txt",    "route_networks.txt", "timeframes.txt",
    "booking_rules.txt", "location_groups.txt", "location_group_stops.txt"};

// trips.txt of the source with shape_id set from `trip_shape` (trip_id -> shape_id).
absl::StatusOr<std::string> RewriteTrips(const FeedSource& src,
                                         const absl::flat_hash_map<std::string, std::string>& trip_shape) {
  auto buf = src.Read("trips.txt");
  if (!buf.ok()) return buf.status();
  CsvReader r(buf->data.get(), buf->size);
  std::vector<std::string> header = r.header();
  const int trip_col = r.Column("trip_id");
  if (trip_col < 0)
    return absl::InvalidArgumentError(src.Describe("trips.txt") + ": no trip_id column");
  int shape_col = r.Column("shape_id");
  if (shape_col < 0) {
    shape_col = static_cast<int>(header.size());
    header.push_back("shape_id");
  }
  std::string out;
  for (size_t i = 0; i < header.size(); ++i) {
    if (i) out.push_back(',');
    AppendCsvField(header[i], &out);
  }
  out.push_back('\n');
  while (r.Next()) {
    auto it = trip_shape.find(r.Trimmed(trip_col));
    for (int i = 0; i < static_cast<int>(header.size()); ++i) {
      if (i) out.push_back(',');
      AppendCsvField(i == shape_col && it != trip_shape.end() ? it->second : r.Field(i), &out);
    }
    out.push_back('\n');
  }
  return out;
}

std::string ShapesText(const Network& net, const std::vector<LearnedPath>& paths) {
  std::string out = "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled\n";
  auto add = [&](const std::string& id, const std::vector<LatLon>& pts,
                 const std::vector<float>* dist) {
    for (size_t i = 0; i < pts.size(); ++i) {
      AppendCsvField(id, &out);
      absl::StrAppendFormat(&out, ",%.6f,%.6f,%zu,", pts[i].lat, pts[i].lon, i + 1);
      if (dist && dist->size() == pts.size()) absl::StrAppendFormat(&out, "%g", (*dist)[i]);
      out.push_back('\n');
    }
  };
  for (const GtfsShape& s : net.feed().shapes) add(s.id, s.points, &s.dist);
  for (const LearnedPath& p : paths) {
    // shape_dist_traveled in metres along the learned path.
    std::vector<float> dist(p.points.size(), 0);
    for (size_t i = 1; i < p.points.size(); ++i)
      dist[i] = dist[i - 1] + static_cast<float>(GeodesicDistanceM(p.points[i - 1], p.points[i]));
    add(LearnedShapeId(p), p.points, &dist);
  }
  return out;
}

}  // namespace

std::string LearnedShapeId(const LearnedPath& path) {
  const size_t bar = path.key.rfind('|');
  const std::string hash = bar == std::string::npos ? path.key : path.key.substr(bar + 1);
  return absl::StrCat("learned_", path.route_id, "_", path.direction_id, "_", hash.substr(0, 8));
}

absl::StatusOr<std::vector<TextFile>> FeedWithLearnedShapes(
    const FeedSource& src, const Network& net, const std::vector<LearnedPath>& paths) {
  absl::flat_hash_map<std::string, uint32_t> pattern_of_key;
  for (uint32_t p = 0; p < net.patterns().size(); ++p) pattern_of_key[PatternKey(net.feed(), net.pattern(p))] = p;
  absl::flat_hash_map<std::string, std::string> trip_shape;
  for (const LearnedPath& path : paths) {
    auto it = pattern_of_key.find(path.key);
    if (it == pattern_of_key.end())
      return absl::InvalidArgumentError(
          absl::StrCat("learned path '", path.key, "' names no pattern of this feed"));
    if (path.points.size() < 2)
      return absl::InvalidArgumentError(
          absl::StrCat("learned path '", path.key, "' has fewer than 2 points"));
    for (uint32_t t : net.pattern(it->second).trips)
      if (net.feed().trips[t].shape == kNoIndex) trip_shape[net.feed().trips[t].id] = LearnedShapeId(path);
  }
  std::vector<TextFile> files;
  for (const char* name : kCopiedFiles) {
    if (!src.Has(name)) continue;
    auto buf = src.Read(name);
    if (!buf.ok()) return buf.status();
    files.push_back({name, std::string(buf->data.get(), buf->size)});
  }
  auto trips = RewriteTrips(src, trip_shape);
  if (!trips.ok()) return trips.status();
  files.push_back({"trips.txt", *std::move(trips)});
  files.push_back({"shapes.txt", ShapesText(net, paths)});
  return files;
}

}  // namespace smartbus
