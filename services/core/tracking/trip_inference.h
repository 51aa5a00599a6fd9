#pragma once
// TripInference: which trip each vehicle runs. A fix's trip_id is taken when given; otherwise
// the trip is inferred from the route (if given), the geometry, the direction of travel, the
// pace over the bus's last positions and the schedule (Infer); the unconfirmed buses of one
// pattern are assigned jointly (SolvePattern: buses do not overtake); the departure time at
// the first stop re-decides among the trips leaving that stop (RedecideAtDeparture); a bus
// leaving its path where another pattern from its first stop goes on takes that pattern
// (TakeForkedPattern); at the end of a trip the bus moves on to the next trip of its block.
// Each trip instance is claimed by at most one vehicle (claims).
//
// It scores places with the matcher's emission and direction costs and the candidates of the
// network's polylines, but runs no HMM: the vehicle's place on its trip (vs.dist_along_m) and
// its progress come from the matcher and the visit detector.

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/core/network/network.h"
#include "services/core/tracking/fix_filter.h"
#include "services/core/tracking/shape_matcher.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/trip_schedule.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct TrackerStats;

// Every vehicle's Track by id (the Tracker owns them).
using TrackMap = absl::flat_hash_map<std::string, std::unique_ptr<Track>>;

class TripInference {
 public:
  TripInference(const Network& net, const TrackerOptions& options, const ShapeMatcher& matcher,
                const TrackMap& vehicles, TrackerStats* stats)
      : net_(net), sched_(net), opt_(options), inf_(options.inference), matcher_(matcher),
        vehicles_(vehicles), stats_(stats) {}

  // The trip for this (accepted) fix: the given trip_id, or, without one, the end of the
  // current trip (block chaining) and inference when the bus is unassigned or its trip is in
  // doubt. `adm` says whether this is the vehicle's first fix or a re-anchoring.
  void AssignForFix(Track& v, const Fix& fix, const FixObservation& obs, const Admission& adm);
  // After the fix was matched (state): the joint assignment of the vehicle's pattern, and the
  // confirmation of an inferred trip that has run long and far enough.
  void AfterMatch(Track& v, MatchState state, int64_t t);
  // An inferred trip leaving its first stop at t_dep, after standing ready at it since t_ready
  // (NaN: not seen there): the departure decides among the trips of the patterns leaving that
  // stop along the street the bus takes (DepartureCost). Returns true when the bus moved to a
  // trip of another pattern (the remembered distances moved to its shape).
  bool RedecideAtDeparture(Track& v, double t_dep, double t_ready = NAN);
  // How unlikely that departure is for a trip scheduled to leave at sched: leaving early or
  // late costs by the schedule's scales; and a bus that stood ready at the stop at (or after)
  // the scheduled time but left long after it was rather waiting for a later trip (a late bus
  // leaves once it is ready), as unlikely as leaving that much early.
  double DepartureCost(double sched, double t_dep, double t_ready) const;

  // --- The parts (public for the tests) ---
  void Assign(Track& v, TripIdx trip, int32_t date, int64_t day_start, bool given);
  void Unassign(Track& v);
  // The instance (service date, day start) of a named trip nearest t; false when none is
  // scheduled near t (then the local date of t).
  bool InstanceFor(TripIdx trip, int64_t t, int32_t* date, int64_t* day_start) const;
  // The best trip for the vehicle at obs among the trips around obs.t (schedule, geometry,
  // direction, claims); assigns it.
  // At a fork (TakeForkedPattern, no pattern from its first stop goes on there): only the
  // other patterns' trips whose path fits the fix (within half of off_route_m) and which the bus
  // came along (FollowedPath), none held by a bus that has started on it. True when it assigned
  // another trip.
  bool Infer(Track& v, const FixObservation& obs, bool at_fork = false);
  // Order-preserving joint assignment of the unconfirmed vehicles on one pattern.
  void SolvePattern(uint32_t pattern, int64_t t);
  // An inferred, unconfirmed trip held by a bus that rather waits (standing mid-route, or at
  // the first stop long past the departure): a bus running it may take it.
  bool WeaklyHeld(const Track& h) const;
  // How unlikely a bus at d at time t runs this trip instance (0 = on time).
  double SchedCost(TripIdx trip, uint32_t pattern, int64_t day_start, double d, double t) const;
  // A delay's cost (s; < 0: early): 1 per late_scale_s late, 1 per early_scale_s early
  // (SchedCost, PaceCost).
  double DelayCost(double delay) const;
  // The joint assignment's cost of bus o (at d, time t) running a trip instance of pattern pat
  // leaving its first stop at start: its departure's cost when the departure from this
  // pattern's first stop was seen, else its place's (SchedCost).
  double SolveCost(const Track& o, TripIdx trip, uint32_t pat, int64_t day_start, double start,
                   double d, double t) const;
  // The vehicle holding a trip instance, or nullptr.
  const Track* Holder(TripIdx trip, int32_t date) const;

 private:
  static uint64_t ClaimKey(TripIdx trip, int32_t date) {
    return (static_cast<uint64_t>(trip) << 32) | static_cast<uint32_t>(date);
  }
  // Farther than mid_after_first_m past the first stop and more than mid_before_last_m before
  // the last one (sd: the pattern's stop distances, not empty).
  bool MidRoute(const std::vector<double>& sd, double d) const {
    return d > sd[0] + inf_.mid_after_first_m && d < sd.back() - inf_.mid_before_last_m;
  }
  // Another bus took h's trip (trip, date): h looks again at its next fix, and does not take
  // that trip back the same way.
  static void Evict(Track& h, TripIdx trip, int32_t date) {
    h.infer.evicted = true;
    h.infer.lost_trip = trip;
    h.infer.lost_date = date;
  }
  // An inferred, unconfirmed bus mid-route that has not moved since it was given its trip
  // (nothing but the place says it runs it).
  bool StandingSinceAssigned(const Track& h) const {
    return WeaklyHeld(h) && h.motion.still_since <= h.run.assigned_ts;
  }
  // v leaves on its trip: it holds the trip from now on. Another bus still waiting with the
  // same trip (two buses may wait for one trip, e.g. one chained to it by its block while the
  // other inferred it) looks again at its next fix.
  void TakeClaim(Track& v);
  // Whether the departure v was seen making (RedecideAtDeparture) was from pattern pat's
  // first stop: pat's own, or another pattern's starting at the same stop.
  bool DepartedFrom(const Track& v, uint32_t pat) const;
  // The fix's trip_id, when it names a trip of the network (unknown ones are counted).
  bool TakeGivenTrip(Track& v, const Fix& fix);
  // Where and since when the bus stands, and the direction of its recent travel.
  void TrackMotion(Track& v, Vec2 p, int64_t t, bool reset);
  // The vehicle was re-anchored (a jump that several fixes in a row confirmed: it moved
  // where it could not have driven, e.g. its AVL unit reappeared at another terminal): its
  // place on an inferred trip is lost. Near the trip's end (within end_leave_zone_m of the
  // last stop) it has finished that trip and moves on to the next of its block; elsewhere its
  // trip is inferred afresh. (Kept, a bus at the first stop stayed "running" its old trip
  // there, and the joint assignment moved it from trip to trip while it waited.)
  void Reanchored(Track& v);
  // Blank mode: the end of the trip near its last stop, then the next trip of the block.
  void EndOfTrip(Track& v, const Fix& fix, Vec2 p);
  // The fork (issue 11): a started bus on an inferred trip (confirmed or not) that leaves its
  // path, for as many fixes as make it off route, where another pattern from the same first
  // stop goes on (express pairs sharing their first streets, a limited-stop and a local): it
  // ran that pattern from the start, so it takes that pattern's trip at once, the instance
  // chosen by its departure when seen there (else by its place and time), instead of being
  // called off route and looked for afresh (a confirmed trip only after infer_lost_s). Where
  // no pattern from its first stop goes on, the trip of another pattern whose path the bus
  // came along (Infer at_fork). True when it moved.
  bool TakeForkedPattern(Track& v, const FixObservation& obs);
  // Whether the vehicle's trip must be inferred (again) at this fix.
  bool ShouldInfer(Track& v, Vec2 p, int64_t t);
  // Moves v to another instance of its pattern (or, by SwitchPattern, another pattern).
  void Retarget(Track& v, TripIdx trip, int32_t date, int64_t day_start);
  // Moves v to trip (of another pattern whose shape, from the first stop, it is on): the
  // distances it remembers before its start are shifted by shift_m.
  void SwitchPattern(Track& v, TripIdx trip, int32_t date, int64_t day_start, double shift_m);
  // Where the bus, at d on this path at t, could have been at its trail position i: the
  // nearest point of the path to it behind d by at most what the bus can run since then
  // (TrailCost, PaceCost, FollowedPath).
  PolylinePoint TrailPointOn(const Polyline& poly, const MotionHistory& m, int i, double d,
                             int64_t t) const;
  // How badly the way the bus came (its trail: its last positions) fits a path on which it
  // is at d now: each trail position's offset from where it could have been on the path, in
  // units of the path's uncertainty there (GPS noise + slack), costed like an emission.
  double TrailCost(const Track& v, const Polyline& poly, double d, int64_t t) const;
  // How unlikely the bus's pace over its trail is on this trip instance (at d on its path
  // now): the delay it gained (or made up) since its oldest trail position, costed by the
  // schedule's scales like a delay (SchedCost), times pace_weight. Patterns sharing a street
  // run it at their own scheduled pace (an express on a local's street): the place and the
  // timetable at one fix do not tell them apart, the movement does. 0 without a trail, or
  // when the bus was still at the first stop then.
  double PaceCost(const Track& v, const Polyline& poly, TripIdx trip, uint32_t pat,
                  int64_t day_start, double d, int64_t t) const;
  // Whether the bus, at d on this path now, came along it: its trail has at least
  // fork_trail_positions positions, each within off_route_m (beyond the slack) of where it
  // could have been on the path then, the oldest at least infer_confirm_m behind d.
  bool FollowedPath(const Track& v, const Polyline& poly, double d, int64_t t) const;
  // The cost of a trip instance for v at candidate place c (Infer).
  double PlaceCost(const Track& v, const FixObservation& obs, const TripInstance& ti,
                   uint32_t pat, const PolylinePoint& c, bool use_move, double standing_s) const;

  const Network& net_;
  TripSchedule sched_;
  const TrackerOptions& opt_;
  const InferenceOptions& inf_;
  const ShapeMatcher& matcher_;
  const TrackMap& vehicles_;
  TrackerStats* stats_;
  // Trip instance (trip index, service date) -> vehicle holding it (inference avoids them).
  absl::flat_hash_map<uint64_t, Track*> claims_;
  // Pattern -> time of its last joint assignment (SolvePattern), epoch s.
  absl::flat_hash_map<uint32_t, int64_t> last_solve_;
  // Network::TripsAround(t, before, after), kept for the next call with the same arguments:
  // fixes arrive by the hundred per second and the trips running do not change within one, so
  // most calls are answered from here. The reference is valid until the next call.
  const std::vector<TripInstance>& RunningAround(int64_t t, absl::Duration before,
                                                 absl::Duration after);
  struct AroundCache {
    bool valid = false;
    int64_t t = 0;
    absl::Duration before, after;
    uint64_t used = 0;  // when last asked (counter): the least recently used slot is replaced
    std::vector<TripInstance> trips;
  };
  std::array<AroundCache, 2> around_cache_;  // Infer/SolvePattern's window and Redecide's
  uint64_t around_calls_ = 0;
  // Infer's scratch, kept between calls so that a fix allocates nothing: the polylines near
  // the fix, and per pattern the slot of its candidates in `cands_` (-1: not computed yet).
  std::vector<uint32_t> near_polylines_;
  std::vector<int32_t> cand_slot_;
  std::vector<std::vector<PolylinePoint>> cands_;
  std::vector<uint32_t> cand_patterns_;
};

}  // namespace smartbus
