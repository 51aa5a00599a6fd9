#pragma once
// ShapeMatcher: the HMM map matcher of one vehicle on one shape (in the spirit of Newson &
// Krumm; tracker.h describes the costs). It takes a polyline, the vehicle's hypotheses and one
// fix at a time, and knows no schedule: where the schedule expects the bus is handed in by the
// caller (prior_d) when the hypotheses start from scratch.
//
// Allocation: none (candidates and hypotheses live in fixed arrays).

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <limits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "services/core/geo/geo.h"
#include "services/core/network/network.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

// Segment holding distance d, searched from a nearby segment (no binary search).
inline uint32_t SegmentNear(const std::vector<double>& cum, uint32_t hint, double d) {
  uint32_t last = static_cast<uint32_t>(cum.size()) - 2;
  uint32_t s = std::min(hint, last);
  while (s > 0 && cum[s] > d) --s;
  while (s < last && cum[s + 1] <= d) ++s;
  return s;
}

// Whether the fix reports its accuracy (the matcher takes it as the fix's sigma); a fix without
// one takes the feed's GPS noise and is evidence of it (Tracker::Impl::LearnGpsNoise).
inline bool ReportsAccuracy(const Fix& fix) {
  return std::isfinite(fix.accuracy_m) && fix.accuracy_m > 0;
}

// One fix as the matcher sees it.
struct FixObservation {
  Vec2 p;               // position in the network's plane
  int64_t t = 0;        // epoch s
  double sigma = 0;     // GPS noise, m (the fix's accuracy, or the default)
  bool sigma_learned = false;  // sigma is the feed's learned noise (DefaultSigma, learned)
  bool has_heading = false;  // the reported bearing counts (moving fast enough)
  Vec2 heading;         // its unit vector (x east, y north)
  Vec2 move;            // displacement from the vehicle's previous accepted fix (0: none)
  double speed = 0;     // the reported speed (m/s, clamped to max_speed_mps; 0 when none)
};

// What the matcher is told about the vehicle's trip on this shape.
struct MatchContext {
  bool started = false;      // progress may not go back more than back_tolerance_m
  double first_stop_d = 0;   // the trip's first stop along the shape, m
  double progress_d = NAN;   // monotone progress of a started trip (NaN: none)
  bool near_start = false;   // the fix is within layover_radius_m of the first stop
  double last_d = NAN;       // the vehicle's last place on this shape (NaN: none)
};

struct MatchOutcome {
  double d = NAN;         // distance along the shape
  double off = NAN;       // offset of the fix from it
  bool on_route = false;  // the fix was placed on the shape (hypotheses updated)
};

class ShapeMatcher {
 public:
  // `noise`: the feed's learned GPS noise (null: gps_sigma_m throughout).
  explicit ShapeMatcher(const MatchingOptions& options, const GpsNoiseModel* noise = nullptr)
      : opt_(options), noise_(noise) {}

  FixObservation Observe(const Fix& fix, Vec2 p) const;
  // The GPS noise of a fix without an accuracy (m): the feed's learned noise once it has enough
  // evidence (learn_gps_sigma), never below min_sigma_m; gps_sigma_m before.
  double DefaultSigma() const {
    const double s = noise_ && opt_.learn_gps_sigma ? noise_->sigma_m() : NAN;
    return std::isnan(s) ? opt_.gps_sigma_m : std::max(s, opt_.min_sigma_m);
  }

  // Cost of a fix `off` metres from the shape (robust Gaussian, capped).
  double Emission(double off, double sigma) const {
    double z = off / sigma;
    return std::min(0.5 * z * z, opt_.emission_cap) + opt_.emission_per_m * off;
  }
  // A fix `off` metres from segment seg of the path, counted beyond the path's slack there
  // (Polyline::slack_m: a path drawn without a shape is uncertain by a share of each segment's
  // length; 0 for a traced shape).
  static double Excess(const Polyline& poly, uint32_t seg, double off) {
    return std::max(0.0, off - poly.slack_m(seg));
  }
  // How far fix p is from the place at d on segment seg, beyond the path's slack there. On a
  // traced shape (no slack) the distance. On a line drawn without a shape the slack says how
  // far the road may lie from the line, not where along it the bus is: the fix is within it
  // when its nearest point on the segment is, the bus is at that point, and a place elsewhere
  // on the line is as far as it is from that point (before, any place within the slack of the
  // fix cost nothing, and the bus ran ahead of its fixes at its speed).
  static double ExcessAt(const Polyline& poly, uint32_t seg, double d, Vec2 p);
  // The transition's gap (its cost is |gap| / transition_beta_m) from a hypothesis on segment
  // from_seg to a candidate delta metres further along on to_seg, `chord` apart in the plane:
  // on a traced shape the distance along it minus the straight distance g between the fixes
  // (Newson & Krumm); on a line drawn without a shape (slack > 0) the road is not the line, and
  // the expected progress is the fix's movement (obs.move) projected on the line.
  static double TransitionGap(const Polyline& poly, uint32_t from_seg, uint32_t to_seg,
                              double delta, Vec2 chord, const FixObservation& obs, double g);
  // Cost of travelling in direction u (unit vector) on segment seg.
  double DirCost(const Polyline& poly, uint32_t seg, Vec2 u) const;
  // The same for the fix's reported bearing (0 when it does not count).
  double HeadingCost(const Polyline& poly, uint32_t seg, const FixObservation& obs) const {
    return obs.has_heading ? DirCost(poly, seg, obs.heading) : 0;
  }

  // Hypotheses from scratch over [from_m, to_m] of the shape; prior_d (called only when there
  // are candidates) is where the bus is expected.
  void Init(MatcherState& s, const Polyline& poly, const FixObservation& obs,
            absl::FunctionRef<double()> prior_d, double from_m = 0,
            double to_m = std::numeric_limits<double>::infinity()) const;
  // One HMM step into out[] (g: straight-line distance from the previous fix); returns the
  // number of hypotheses (0 = no feasible candidate), *min_off the nearest offset seen.
  int Step(const MatcherState& s, const Polyline& poly, const MatchContext& ctx,
           const FixObservation& obs, double g, Hyp* out, double* min_off) const;
  // One fix: a step (or a fresh start), off-route counting, the rescan of the whole shape after
  // off_route_fixes far fixes, and a place on the shape even when no hypothesis holds.
  MatchOutcome Match(MatcherState& s, const Polyline& poly, const MatchContext& ctx,
                     const FixObservation& obs, double g,
                     absl::FunctionRef<double()> prior_d) const;

 private:
  // After off_route_fixes far fixes: looks along the whole shape (a started trip only accepts a
  // place ahead of its progress). True when the bus is back on the shape.
  bool Rescan(MatcherState& s, const Polyline& poly, const MatchContext& ctx,
              const FixObservation& obs, absl::FunctionRef<double()> prior_d,
              MatchOutcome* out) const;

  const MatchingOptions& opt_;
  const GpsNoiseModel* noise_;
};

}  // namespace smartbus
