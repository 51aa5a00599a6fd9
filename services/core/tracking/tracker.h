#pragma once
// The Tracker: one state per vehicle; turns each GPS fix into a MatchResult (a Matches CSV row),
// StopVisit events and an updated VehicleState.
//
// Map-matching (per vehicle, online): an HMM in the spirit of Newson & Krumm over positions along
// the assigned trip's shape. A few hypotheses (distance along, speed, cost) survive between fixes.
// Each fix proposes candidates -- one per pass of the shape near the fix (a loop or an
// out-and-back street gives several) inside the window the hypotheses can reach, plus each
// hypothesis moved on at its own speed (so a lone outlier fix does not drag the bus) -- scored by
//   emission:   robust Gaussian of the fix's offset from the shape (sigma = the fix's accuracy,
//               else options.gps_sigma_m, or with learn_gps_sigma the feed's GPS noise learned
//               from the offsets of fixes on known paths once it has enough of them, for a
//               started trip: GpsNoiseModel, fed by Impl::LearnGpsNoise), capped (an outlier
//               costs a constant);
//   transition: | travelled distance along the shape - straight-line distance between fixes |,
//               no going back beyond back_tolerance_m, no faster than max_speed_mps;
//   a path drawn without a shape (straight lines between stops, with a slack for the road's
//               bends, learned per feed from the buses on their trips by the segment's length:
//               ChordSlackModel, fed by Impl::LearnChordBend): the bus is where the fix's
//               nearest point on the line is (a place elsewhere costs its distance from it;
//               the slack only says whether that point is within reach of the road), and the
//               transition expects the fix's movement projected on the line
//               (ShapeMatcher::ExcessAt, TransitionGap);
//   heading:    when the bus moves (speed >= heading_min_speed_mps), passes whose direction
//               differs from the reported bearing cost more.
//
// States: in_service, layover (assigned trip not started yet: waiting at or driving to the first
// stop, WMATA's pre-trip moves), off_route (several fixes in a row far from the shape; back on
// route resumes), unassigned. Rejected fixes (see RejectReason) are counted and leave the state
// untouched; a late (out_of_order) fix still gets a Matches row (projected for history).
//
// Trip assignment: the fix's trip_id when given (a trip_id far from the fix for a long time is
// counted as trip_id_mismatch); otherwise inferred from the route (if given), the geometry, the
// direction of travel and the schedule; at the end of a trip the vehicle moves on to the next
// trip of its block (a bus waiting at the terminal is already on its next trip, in layover).
// Routes sharing streets make an inferred trip ambiguous until the shapes part, so it stays
// open to revision: the unconfirmed buses of one pattern are assigned jointly (they do not
// overtake); the departure time at the first stop decides among the trips of every pattern
// leaving that stop along the street the bus takes (an express and a local); a bus standing
// mid-route long past its scheduled time there is rather waiting for a trip starting there (a
// hub), and holds its trip only weakly (a bus running it takes it, the other looks again); a
// bus too slow for its bearing to count is given the direction of its recent travel, and one
// matched ever further behind its progress is going the other way. A trip is confirmed (no
// longer revised by the joint assignment) after infer_confirm_s and infer_confirm_m of running
// on it, and dropped when the bus stays off its shape for infer_lost_s. Where the shapes part
// (the fork: off its path for off_route_fixes), an inferred trip, confirmed or not, moves at
// once to the pattern the bus goes on along: one from its first stop (the instance by its
// departure when seen), else one whose path its trail followed for infer_confirm_m.
//
// Stop visits: the vehicle's progress is kept monotone; arrival = when it reaches
// stop_dist - arrival_radius_m, departure = when it passes stop_dist + departure_radius_m, both
// interpolated linearly between fixes (so stops skipped between sparse fixes get interpolated
// visits). No visits are emitted while the trip has not started (layover): the start is when the
// bus leaves the first stop going forward no earlier than early_start_s before its scheduled
// departure, or when it is pretrip_zone_m along the route whatever the time (in both cases on a
// fix that moves forward). Visits of the
// stops it passed before that are then derived from the remembered progress.
//
// Thread safety: not thread-safe; one Tracker per shard (all fixes of a vehicle go to one shard).
// Allocation: after a vehicle's first fixes, the per-fix path allocates nothing except when a
// trip must be (re)assigned.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "services/core/network/network.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct Track;  // per-vehicle state (track.h)

struct TrackerStats {
  int64_t fixes = 0;
  int64_t accepted = 0;
  std::array<int64_t, 7> rejected{};   // by RejectReason (index 0 unused)
  std::array<int64_t, 5> by_state{};   // by MatchState of the MatchResult
  int64_t stop_visits = 0;
  int64_t trips_started = 0;
  int64_t unknown_trip_ids = 0;        // fixes whose trip_id is not in the network
  int64_t trip_id_mismatches = 0;      // given trip_id clearly wrong (shape far away)
  int64_t inferred_assignments = 0;    // trips chosen by inference (no trip_id)
  int64_t block_transitions = 0;       // moved on to the next trip of the block
  int64_t retargets = 0;               // inferred trips changed (joint assignment, departure, fork)
  int64_t reanchors = 0;               // jumps accepted after several agreeing fixes
};

class Tracker {
 public:
  Tracker(std::shared_ptr<const Network> network, const TrackerOptions& options = {});
  ~Tracker();

  // Processes one fix at engine time now_s (epoch s). Always fills *match (one per fix); appends
  // the stop visits this fix completed to *visits (not cleared). Returns the vehicle's state
  // after the fix (nullptr when the fix had no usable vehicle id).
  const VehicleState* Process(const Fix& fix, int64_t now_s, MatchResult* match,
                              std::vector<StopVisit>* visits);

  // The state of a vehicle, or nullptr if never seen.
  const VehicleState* Vehicle(absl::string_view vehicle_id) const;
  // Calls f(const VehicleState&) for every vehicle (unspecified order).
  template <typename F>
  void ForEachVehicle(F f) const;
  size_t num_vehicles() const { return vehicles_.size(); }

  const TrackerStats& stats() const { return stats_; }
  const Network& network() const { return *net_; }
  const TrackerOptions& options() const { return opt_; }

 private:
  const VehicleState& StateOf(const Track& t) const;
  std::shared_ptr<const Network> net_;
  TrackerOptions opt_;
  TrackerStats stats_;
  absl::flat_hash_map<std::string, std::unique_ptr<Track>> vehicles_;
  // The parts (fix filter, shape matcher, visit detector, trip inference) and the pipeline.
  class Impl;
  std::unique_ptr<Impl> impl_;
  friend class Impl;
};

template <typename F>
void Tracker::ForEachVehicle(F f) const {
  for (const auto& [id, t] : vehicles_) f(StateOf(*t));
}

}  // namespace smartbus
