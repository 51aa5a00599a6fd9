#pragma once
// A pattern's path learned from the buses' own GPS traces (PathLearner), as persisted by the
// store (Store::PutLearnedPath) and exported as a GTFS shape (`smartbus shapes`).
//
// Ids, not indices: a learned path names its pattern by route_id, direction and stop_id
// sequence (its key, PatternKey in services/core/network/network.h), so it survives a GTFS reload that reorders
// the feed; a pattern whose stops changed gets a new key and starts learning afresh.

#include <cstdint>
#include <string>
#include <vector>

#include "services/core/geo/geo.h"

namespace smartbus {

// One GPS fix of a bus in service on the pattern: where it was, and how far along the straight
// stop-to-stop path (the "chord" through the pattern's stops) the tracker placed it.
struct PathSample {
  float chord_m = 0;  // along the chord path, m (may be < 0 before the first stop)
  LatLon pos;
};

struct LearnedPath {
  std::string key;                    // PatternKey: route_id, direction, stop ids
  std::string route_id;
  int32_t direction_id = -1;
  std::vector<std::string> stop_ids;  // in stop_sequence order
  // Evidence: distinct runs (vehicle, trip, service date) seen in service on the pattern, and
  // the fixes seen per reservoir bin of the chord path (PathLearnerOptions::reservoir_bin_m),
  // with the kept sample of them (at most reservoir_per_bin per bin).
  int64_t traversals = 0;
  std::vector<uint32_t> bin_seen;
  std::vector<PathSample> samples;
  // Result: the learned polyline (in travel order; empty until built), the share of its
  // stations whose centre had enough samples, the longest hole, and whether it is trusted (PathLearnerOptions).
  std::vector<LatLon> points;
  double coverage = 0;
  double longest_hole_m = 0;  // longest stretch without enough samples (bridged straight), m
  bool confident = false;
};

}  // namespace smartbus
