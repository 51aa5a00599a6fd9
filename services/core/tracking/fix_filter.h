#pragma once
// FixFilter: which fixes reach a vehicle's state. Rejects fixes without a vehicle id, with
// unusable coordinates or too far in the future (Screen, no history needed), then duplicates,
// late fixes and implausible jumps against the vehicle's history (Admit). Several jumps in a
// row that agree with each other mean the previous position was the wrong one: the vehicle is
// re-anchored at the new place.

#include <cstdint>

#include "services/core/geo/geo.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

// What Admit decided for a fix.
struct Admission {
  RejectReason reason = RejectReason::kNone;  // kNone: accepted
  bool reanchor = false;  // accepted after agreeing jumps: forget the hypotheses
  bool first = false;     // the vehicle's first accepted fix
  double g = 0;           // straight-line distance from the previous accepted fix, m
  Vec2 move;              // the displacement from it (0 for the first fix)
};

class FixFilter {
 public:
  explicit FixFilter(const RejectionOptions& options) : opt_(options) {}

  // kInvalidVehicleId, kInvalidCoordinates, kFutureTimestamp (engine time now_s), or kNone.
  RejectReason Screen(const Fix& fix, int64_t now_s) const;
  // kDuplicate, kOutOfOrder, kImplausibleJump against the history, or an acceptance, which is
  // recorded in it (p: the fix's position in the network's plane).
  Admission Admit(FixHistory& h, const Fix& fix, Vec2 p) const;

 private:
  const RejectionOptions& opt_;
};

}  // namespace smartbus
