#pragma once
// PathLearner: learns the real path of every shapeless pattern (a pattern whose trips have no
// GTFS shape, so the network draws it as straight lines between its stops) from the GPS fixes of
// the buses the engine matches in service on it.
//
// Feeding (PathListener on an Engine, or Add()): every accepted fix matched in service keeps (position,
// distance along the stop-to-stop "chord" path). The tracker's distance along the pattern's
// current polyline is mapped to the chord through the stops, so evidence keeps its meaning when
// the network later draws the pattern along a learned path. Memory is bounded by a reservoir per
// bin of the chord (reservoir_bin_m, reservoir_per_bin samples, uniform over all fixes seen).
//
// Fitting (Build): a principal curve. Start from the chord; then, `iterations` times, project
// every sample onto the current curve (only between the stops that bracket its chord distance,
// so loops and out-and-back streets do not mix their passes), and put a station every
// station_m along the curve whose centre is the coordinate-wise median of the samples projected
// within a window around it (widened from window_min_m up to window_max_m until it holds
// min_samples). The stations, with the first and last stop as anchors (in the last pass only
// where no station reaches them: the tracker calls a bus in service only a few hundred metres
// after its first stop), are the next curve. Each pass unfolds more of a road that bends away from the chord.
// The result is simplified (Douglas-Peucker, simplify_m).
//
// Confidence: at least min_traversals runs, and no run of stations without min_samples within
// window_max_m between two stations with a centre (a hole, bridged by a straight line) longer
// than max_hole_m, and at least min_coverage of the stations with a centre.
//
// Thread safety: not thread-safe (one per engine/shard, like the Engine's other listeners).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "services/core/common/mutex.h"
#include "services/core/engine/engine.h"
#include "services/core/geo/geo.h"
#include "services/core/network/network.h"
#include "services/core/paths/learned_path.h"

namespace smartbus {

// Parameters; the evidence for each default is in bench/RESULTS.md "Learned paths" (the demo
// city with 120-s fixes, and WMATA with shapes.txt removed).
struct PathLearnerOptions {
  // Spacing of the learned path's stations, m. Below the 15 m the paths must be within.
  double station_m = 10;
  // Window of samples around a station: starts at window_min_m, doubles until it holds
  // min_samples, at most window_max_m (then the station has no centre).
  double window_min_m = 30;
  double window_max_m = 120;
  int min_samples = 3;
  // Principal-curve passes.
  int iterations = 3;
  // A sample may project this far before the stop before it / after the stop after it (the
  // tracker tolerates chord slack, so its stop segment can be off near a stop), m.
  double stop_margin_m = 50;
  // Reservoir of samples per bin of the chord path.
  double reservoir_bin_m = 25;
  int reservoir_per_bin = 16;
  // Confidence thresholds.
  int64_t min_traversals = 5;
  // Longest run of stations without a centre a confident path may have, m (the path bridges it
  // with a straight line).
  double max_hole_m = 200;
  // Share of the stations that must have a centre (the rest: the ends before/after the tracker
  // calls the bus in service, and holes).
  double min_coverage = 0.8;
  // Douglas-Peucker tolerance of the output, m.
  double simplify_m = 1.0;
};

// The evidence of every shapeless pattern of one Network, and the fits. Thread-safe: every
// method may be called from any thread (one mutex; the fits run outside it).
class PathLearner {
 public:
  explicit PathLearner(std::shared_ptr<const Network> net, PathLearnerOptions options = {});

  // True when the pattern is learned (it has no GTFS shape; a learned path drawn by the
  // network from earlier evidence is learned on).
  bool Learns(uint32_t pattern) const;
  // The state after an accepted fix: an in-service fix on a learned pattern is a sample, and
  // counts a run when it is the first of its (vehicle, trip, service date).
  void Observe(const VehicleState& state);
  // One fix on `pattern` at `dist_along_m` along the network's polyline of the pattern.
  void Add(uint32_t pattern, double dist_along_m, LatLon pos);

  // The learned path of one pattern (evidence and fit); points empty when there are no samples.
  LearnedPath Build(uint32_t pattern) const;
  // Every learned pattern with at least one sample, in pattern order.
  std::vector<LearnedPath> BuildAll() const;
  // Adds evidence saved by Build (from the store, or another learner): NOT_FOUND when no
  // shapeless pattern of this network has the key (the stops changed), INVALID_ARGUMENT when
  // the bins do not fit.
  absl::Status Restore(const LearnedPath& saved);
  // Restores every path it can; returns how many, and counts in *skipped those it could not
  // (patterns this network does not have, bins that do not fit).
  size_t RestoreAll(const std::vector<LearnedPath>& saved, size_t* skipped);

  const PathLearnerOptions& options() const { return options_; }
  const std::shared_ptr<const Network>& network() const { return net_; }

 private:
  struct Bin {
    uint32_t seen = 0;
    std::vector<std::pair<float, Vec2>> samples;  // (chord_m, position)
  };
  struct PatternState {
    int64_t traversals = 0;
    std::vector<Bin> bins;
  };
  struct Run {
    uint32_t trip = kNoIndex;
    int32_t service_date = 0;
  };
  double ToChord(uint32_t pattern, double dist_along_m) const;
  void Keep(uint32_t pattern, float chord_m, Vec2 xy) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PatternState& StateOf(uint32_t pattern) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The pattern's ids and evidence, without the fit (mu_ held).
  LearnedPath EvidenceLocked(uint32_t pattern) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fits `path` (its evidence) on `pattern` and sets points, coverage, hole and confidence.
  void Fit(uint32_t pattern, LearnedPath* path) const;

  std::shared_ptr<const Network> net_;
  PathLearnerOptions options_;
  std::vector<std::vector<double>> chord_cum_;  // per pattern: chord distance of each stop
  absl::flat_hash_map<std::string, uint32_t> pattern_of_key_;  // learned patterns
  mutable Mutex mu_;
  absl::flat_hash_map<uint32_t, PatternState> state_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Run> runs_ ABSL_GUARDED_BY(mu_);  // per vehicle: the run last counted
};

// Feeds a PathLearner from one Engine (one listener per engine; engines may share a learner):
// every accepted fix's vehicle state goes to PathLearner::Observe.
class PathListener : public EngineListener {
 public:
  explicit PathListener(std::shared_ptr<PathLearner> learner) : learner_(std::move(learner)) {}
  void OnMatch(const MatchResult& match) override {
    accepted_ = match.state != MatchState::kRejected;
  }
  void OnVehicleUpdate(const VehicleState& state) override {
    if (accepted_ && enabled_) learner_->Observe(state);
  }
  // While disabled (e.g. replaying fixes already learned from), nothing is observed.
  void set_enabled(bool on) { enabled_ = on; }
  const std::shared_ptr<PathLearner>& learner() const { return learner_; }

 private:
  std::shared_ptr<PathLearner> learner_;
  bool accepted_ = false;
  bool enabled_ = true;
};

// Puts the confident paths among `paths` into options->learned_paths; returns how many.
size_t UseConfidentPaths(const std::vector<LearnedPath>& paths, NetworkOptions* options);

// The fit alone (exposed for tests): the learned polyline (plane coordinates) of samples
// (chord distance, position) on a pattern whose stops stand at `stops` (same plane), and the
// share of stations with a centre. Empty when fewer than 2 stations have a centre.
struct PathFit {
  std::vector<Vec2> points;
  double coverage = 0;
  double longest_hole_m = 0;  // longest run of stations without a centre
};
PathFit FitPath(const std::vector<Vec2>& stops,
                std::vector<std::pair<float, Vec2>> samples, const PathLearnerOptions& options);

}  // namespace smartbus
