#pragma once
// Exports learned paths as a GTFS feed an agency can publish: a copy of the source feed whose
// trips.txt gives every trip of a learned pattern its learned shape_id and whose shapes.txt
// holds the feed's own shapes plus the learned ones (`smartbus shapes`).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/core/gtfs/source.h"
#include "services/core/network/network.h"
#include "services/core/paths/learned_path.h"

namespace smartbus {

// The shape_id a learned path is published under: "learned_<route_id>_<direction>_<hash>".
std::string LearnedShapeId(const LearnedPath& path);

// The feed `source` (the one feed `net` was built from) with `paths` (each of >= 2 points;
// learned on `net`) as shapes of the trips of their patterns: its GTFS files copied, trips.txt
// with the learned shape_ids and shapes.txt with the learned shapes added. Trips that have a
// shape keep it. Fails naming the file that could not be read, or the path whose key names no
// pattern of `net`. (`smartbus shapes` writes the files: services/files/files.h.)
absl::StatusOr<std::vector<TextFile>> FeedWithLearnedShapes(
    const FeedSource& source, const Network& net, const std::vector<LearnedPath>& paths);

}  // namespace smartbus
