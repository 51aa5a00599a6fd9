#pragma once
// Track: everything the Tracker keeps about one vehicle, one small struct per part of the
// tracker (the fix filter's history, the trip assignment, the HMM's hypotheses, the visit
// detector's progress, the memory trip inference keeps). Internal to services/core/tracking.

#include <cmath>
#include <cstdint>
#include <limits>

#include "services/core/geo/geo.h"
#include "services/core/network/network.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

inline constexpr int kRingSize = 48;  // pre-start progress points remembered
inline constexpr int kTrailSize = 4;  // recent positions trip inference weighs (MotionHistory)

// One HMM hypothesis. Trivially constructible on purpose (arrays of them live on the stack per
// fix): every field is set where a Hyp is made.
struct Hyp {
  double d;       // distance along the shape, m
  double v;       // speed along the shape, m/s
  double cost;    // negative log-likelihood so far (normalized: best = 0)
  double off;     // offset of the fix that placed it, m
  uint32_t seg;   // segment of the shape holding d
};

// Where the trip came from, and how sure the tracker is of it.
enum class TripSource : uint8_t {
  kNone,       // no trip
  kGiven,      // the fix's trip_id
  kInferred,   // inferred, still open to revision (joint assignment, re-examination)
  kConfirmed,  // inferred and confirmed (run long enough, or chained from a block)
};

// How far the vehicle is through its trip.
enum class TripPhase : uint8_t {
  kBeforeStart,  // layover: waiting at or driving to the first stop
  kRunning,      // started: visits are emitted
  kFinished,     // reached the last stop (or ended in blank mode)
};

// The fix filter's memory (rejections and re-anchoring).
struct FixHistory {
  int64_t newest_ts = std::numeric_limits<int64_t>::min();
  bool has_pos = false;  // an accepted fix was seen
  Vec2 xy;               // its position (projected) and time
  int64_t pos_ts = 0;
  int jump_count = 0;    // implausible jumps in a row that agree with each other
  Vec2 jump_xy;
  int64_t jump_ts = 0;
};

// The trip the vehicle runs.
struct TripRun {
  TripIdx trip = kNoIndex;
  uint32_t pattern = kNoIndex;
  const Polyline* poly = nullptr;
  Vec2 start_xy;  // the trip's first stop on its shape
  int32_t service_date = 0;
  int64_t day_start_s = 0;
  TripSource source = TripSource::kNone;
  TripPhase phase = TripPhase::kBeforeStart;
  int64_t assigned_ts = 0;   // when the current trip was assigned
  int64_t stable_since = 0;  // inferred trip unchanged since (epoch s)

  bool given() const { return source == TripSource::kGiven; }
  bool confirmed() const { return source == TripSource::kConfirmed; }
  bool started() const { return phase != TripPhase::kBeforeStart; }
  bool finished() const { return phase == TripPhase::kFinished; }
};

// A given trip_id far from the fix for several fixes (trip_id_mismatch).
struct TripIdCheck {
  int mismatch_count = 0;
  bool mismatch_counted = false;
};

// What trip inference remembers between fixes.
struct InferenceMemory {
  uint32_t route_hint = kNoIndex;
  TripIdx done_trip = kNoIndex;   // the trip this vehicle last finished (not inferred again)
  int32_t done_date = 0;
  int64_t finished_at_ts = 0;  // when and where it finished that trip
  Vec2 finished_xy;
  int64_t reinfer_ts = 0;  // last re-examination of an inferred trip (standing or lost)
  int64_t off_since = 0;   // first fix of the current run of off-shape fixes
  bool evicted = false;    // another bus took its trip: infer again
  TripIdx lost_trip = kNoIndex;   // the trip so taken (it does not take it back the same way)
  int32_t lost_date = 0;
  // The departure seen from the first stop of this pattern (RedecideAtDeparture), which the
  // joint assignment weighs instead of the place: when it left, and since when it stood ready.
  uint32_t dep_pattern = kNoIndex;
  double dep_t = NAN;
  double dep_ready = NAN;
};

// Where the bus stands and which way it moved (raw positions; inference only).
struct MotionHistory {
  Vec2 still_xy;  // where the bus has been standing (within still_m) since when
  int64_t still_since = 0;
  Vec2 move_xy;   // direction of the last >= move_m of travel, and when it was seen
  Vec2 move_dir;
  int64_t move_ts = 0;
  bool has_move_dir = false;
  bool from_fix_seen = false;  // fixes with a trip_id came since (stand/move history stale)
  // The bus's last positions before the current fix, oldest first (the way it came).
  Vec2 last_xy;  // the previous position (it joins the trail at the next fix)
  int64_t last_ts = 0;
  bool has_last = false;
  Vec2 trail_xy[kTrailSize];
  int64_t trail_ts[kTrailSize] = {};
  int trail_n = 0;
};

// The HMM's state on the trip's shape.
struct MatcherState {
  Hyp hyps[kMaxHypotheses];
  int n_hyps = 0;
  int64_t hyps_ts = 0;
  int off_count = 0;  // fixes in a row far from the shape
};

// Monotone progress before the start (the ring) and its first point's arrival time.
struct PreStartRing {
  double arrive_t = 0;  // when the bus reached the ring's first point
  double t[kRingSize];
  double d[kRingSize];
  int n = 0;
};

// The visit detector's progress along the trip.
struct VisitProgress {
  double mono_d = NAN;
  double mono_t = 0;
  uint32_t next_stop = 0;
  double pending_arrival = NAN;
  double last_d = NAN;     // distance along at the previous matched fix (before the start)
  double progress_d = 0;   // last point of real progress before the start, and its time
  double progress_t = 0;
  bool seen_on_trip = false;  // Progress() ran for this trip before
  double start_d = 0;         // where the trip was started (or joined)
  int64_t stalled_since = 0;  // time of the last forward progress (blank-mode trip ends)
  PreStartRing ring;
};

// Passenger counts a bus reported that wait for the visit of the stop where they were made
// (VisitDetector::AttributeRiders).
struct RiderTally {
  int32_t boardings = -1;  // -1: none counted
  int32_t alightings = -1;
  int32_t load = -1;       // the newest load reported with them
  bool pending = false;    // something waits for the next visit
  bool reports_counts = false;  // the bus's fixes carry counts (a visit without any: 0, not -1)
};

// The segment of a path drawn without a shape that a bus on its trip is crossing, for the
// feed's learned chord bends (Network::chord_slack): the largest offset of its fixes from it.
struct ChordTraversal {
  TripIdx trip = kNoIndex;
  uint32_t seg = kNoIndex;
  double max_off_m = 0;
};

struct Track {
  VehicleState vs;
  FixHistory fixes;
  TripRun run;
  TripIdCheck given;
  InferenceMemory infer;
  MotionHistory motion;
  MatcherState match;
  VisitProgress visit;
  RiderTally riders;
  ChordTraversal chord;
};

}  // namespace smartbus
