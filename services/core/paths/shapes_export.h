#pragma once
// Exports learned paths as a GTFS feed an agency can publish: a copy of the source feed whose
// trips.txt gives every trip of a learned pattern its learned shape_id and whose shapes.txt
// holds the feed's own shapes plus the learned ones (`smartbus shapes`).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/core/network/network.h"
#include "services/core/paths/learned_path.h"

namespace smartbus {

// The shape_id a learned path is published under: "learned_<route_id>_<direction>_<hash>".
std::string LearnedShapeId(const LearnedPath& path);

// Writes the feed at `source` (a directory or .zip, the one feed `net` was built from) to the
// directory `out_dir` (created if missing; its GTFS files are overwritten), with `paths` (each
// of >= 2 points; learned on `net`) as shapes of the trips of their patterns. Trips that have a
// shape keep it. Fails naming the file that could not be read or written, or the path whose key
// names no pattern of `net`.
absl::Status WriteFeedWithLearnedShapes(const std::string& source, const Network& net,
                                        const std::vector<LearnedPath>& paths,
                                        const std::string& out_dir);

}  // namespace smartbus
