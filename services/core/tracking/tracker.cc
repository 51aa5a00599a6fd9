#include "services/core/tracking/tracker.h"

#include <algorithm>
#include <cmath>

#include "services/core/tracking/fix_filter.h"
#include "services/core/tracking/shape_matcher.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/trip_inference.h"
#include "services/core/tracking/trip_schedule.h"
#include "services/core/tracking/visit_detector.h"

namespace smartbus {

// The tracker's parts and the pipeline one fix goes through (Process).
class Tracker::Impl {
 public:
  explicit Impl(Tracker& tr)
      : tr_(tr), net_(*tr.net_), opt_(tr.opt_), sched_(net_), filter_(opt_.rejection),
        matcher_(opt_.matching, &net_.gps_noise()), visits_(net_, opt_, &tr.stats_),
        inference_(net_, opt_, matcher_, tr.vehicles_, &tr.stats_) {}

  const VehicleState* Process(const Fix& fix, int64_t now_s, MatchResult* m,
                              std::vector<StopVisit>* visits);

 private:
  void Reject(MatchResult* m, RejectReason r);
  Track& NewTrack(const std::string& vehicle_id);
  // A fix the history rejects still gets a Matches row saying where the vehicle is.
  void ExplainRejection(const Track& v, Vec2 p, RejectReason r, MatchResult* m) const;
  // No trip: the state says where the vehicle is, nothing more.
  const VehicleState* Unassigned(Track& v, const Fix& fix, MatchResult* m);
  MatchOutcome MatchOnShape(Track& v, const FixObservation& obs, double g, bool near_start);
  // A given trip_id whose shape stays far from the fixes is counted as a mismatch.
  void CheckGivenTrip(Track& v, double off, bool near_start);
  MatchState Classify(const Track& v, bool on_route, bool near_start) const;
  // Visits and the start of the trip for a fix placed at d; returns d on the (possibly new)
  // shape.
  double Progress(Track& v, const Fix& fix, double d, std::vector<StopVisit>* visits);
  void UpdateState(Track& v, const Fix& fix, MatchState state, double d, double off);
  // A bus on its trip (given or confirmed) on a path drawn without a shape: its offsets from
  // the segment it is crossing are one traversal of the feed's chord bends once it is back in
  // service beyond that segment (a bus that leaves its path for good, or whose trip changes,
  // adds nothing).
  void LearnChordBend(Track& v, Vec2 p, double d, MatchState state);
  // A fix without an accuracy of a bus in service on its trip (given or confirmed), placed on
  // a path whose geometry is known (a shape or a learned path): its offset is evidence of the
  // feed's GPS noise (Network::gps_noise).
  void LearnGpsNoise(const Track& v, const Fix& fix, const MatchOutcome& mo,
                     MatchState state) const;

  Tracker& tr_;
  const Network& net_;
  const TrackerOptions& opt_;
  TripSchedule sched_;
  FixFilter filter_;
  ShapeMatcher matcher_;
  VisitDetector visits_;
  TripInference inference_;
};

void Tracker::Impl::Reject(MatchResult* m, RejectReason r) {
  m->state = MatchState::kRejected;
  m->reason = r;
  ++tr_.stats_.rejected[static_cast<int>(r)];
  ++tr_.stats_.by_state[static_cast<int>(MatchState::kRejected)];
}

Track& Tracker::Impl::NewTrack(const std::string& vehicle_id) {
  auto t = std::make_unique<Track>();
  t->vs.vehicle_id = vehicle_id;
  Track& v = *t;
  tr_.vehicles_.emplace(vehicle_id, std::move(t));
  return v;
}

void Tracker::Impl::ExplainRejection(const Track& v, Vec2 p, RejectReason r,
                                     MatchResult* m) const {
  if (r == RejectReason::kDuplicate) {
    m->dist_along_m = v.vs.dist_along_m;
    m->offset_m = v.vs.offset_m;
  } else if (r == RejectReason::kOutOfOrder && v.run.poly) {
    // Late fix: projected near the current position for history; the state does not move.
    double d = std::isnan(v.vs.dist_along_m) ? 0 : v.vs.dist_along_m;
    PolylinePoint pp = v.run.poly->Project(p, d - opt_.rejection.late_fix_window_m,
                                           d + opt_.matching.back_tolerance_m);
    m->dist_along_m = pp.dist_along_m;
    m->offset_m = pp.offset_m;
  } else if (r == RejectReason::kImplausibleJump && v.run.poly) {
    m->dist_along_m = v.vs.dist_along_m;
    m->offset_m = v.vs.offset_m;
  }
}

const VehicleState* Tracker::Impl::Unassigned(Track& v, const Fix& fix, MatchResult* m) {
  VehicleState& vs = v.vs;
  vs.state = MatchState::kUnassigned;
  vs.dist_along_m = NAN;
  vs.offset_m = NAN;
  vs.delay_s = NAN;
  vs.speed_mps = fix.speed_mps;
  m->trip = kNoIndex;
  m->state = MatchState::kUnassigned;
  ++tr_.stats_.by_state[static_cast<int>(MatchState::kUnassigned)];
  return &vs;
}

MatchOutcome Tracker::Impl::MatchOnShape(Track& v, const FixObservation& obs, double g,
                                         bool near_start) {
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  MatchContext ctx;
  ctx.started = v.run.started();
  ctx.first_stop_d = sd.empty() ? 0 : sd[0];
  ctx.progress_d = v.visit.mono_d;
  ctx.near_start = near_start;
  ctx.last_d = v.vs.trip == v.run.trip ? v.vs.dist_along_m : NAN;
  // Weak prior when the hypotheses start from scratch: where the schedule puts the bus.
  auto prior_d = [&] { return sched_.ExpectedDistAt(v, static_cast<double>(obs.t)); };
  if (!ctx.started && obs.sigma_learned) {
    // The learned noise is that of buses in service on their path (LearnGpsNoise); before its
    // trip starts a bus is at or driving to its stand, often beside the path: the default.
    FixObservation o = obs;
    o.sigma = opt_.matching.gps_sigma_m;
    return matcher_.Match(v.match, *v.run.poly, ctx, o, g, prior_d);
  }
  return matcher_.Match(v.match, *v.run.poly, ctx, obs, g, prior_d);
}

void Tracker::Impl::CheckGivenTrip(Track& v, double off, bool near_start) {
  const InferenceOptions& inf = opt_.inference;
  if (v.run.given() && off > inf.trip_mismatch_m && !near_start) {
    if (++v.given.mismatch_count >= inf.trip_mismatch_fixes && !v.given.mismatch_counted) {
      ++tr_.stats_.trip_id_mismatches;
      v.given.mismatch_counted = true;
    }
  } else {
    v.given.mismatch_count = 0;
  }
}

void Tracker::Impl::LearnChordBend(Track& v, Vec2 p, double d, MatchState state) {
  ChordTraversal& c = v.chord;
  const Polyline* poly = v.run.poly;
  const bool sure = (v.run.given() || v.run.confirmed()) && v.run.started() && poly != nullptr &&
                    poly->max_slack_m() > 0 && !std::isnan(d);
  if (!sure || c.trip != v.run.trip) c = {sure ? v.run.trip : kNoIndex, kNoIndex, 0};
  if (!sure) return;
  const uint32_t seg = poly->SegmentAt(d);
  if (state == MatchState::kInService && seg != c.seg) {
    const std::vector<double>& cum = poly->cum_m();
    if (c.seg != kNoIndex && seg > c.seg)
      net_.chord_slack().Add(cum[c.seg + 1] - cum[c.seg], c.max_off_m, poly->slack_pair(c.seg));
    c.seg = seg;
    c.max_off_m = 0;
  }
  if (c.seg == kNoIndex) return;
  // Off its path the bus is placed where it left it: past the segment's end it may already be
  // on the next one (the nearer of the two counts).
  double off = poly->ProjectOnSegment(p, c.seg).offset_m;
  if (c.seg + 2 < poly->size()) off = std::min(off, poly->ProjectOnSegment(p, c.seg + 1).offset_m);
  c.max_off_m = std::max(c.max_off_m, off);
}

void Tracker::Impl::LearnGpsNoise(const Track& v, const Fix& fix, const MatchOutcome& mo,
                                  MatchState state) const {
  if (!opt_.matching.learn_gps_sigma || ReportsAccuracy(fix) ||
      state != MatchState::kInService || !mo.on_route || !std::isfinite(mo.off) ||
      !(v.run.given() || v.run.confirmed()) || v.run.poly == nullptr ||
      v.run.poly->max_slack_m() > 0) {
    return;
  }
  net_.gps_noise().Add(mo.off);
}

MatchState Tracker::Impl::Classify(const Track& v, bool on_route, bool near_start) const {
  bool off_now = v.match.off_count >= opt_.matching.off_route_fixes ||
                 (!on_route && v.match.n_hyps == 0);
  if (!v.run.started())
    return (off_now && !near_start) ? MatchState::kOffRoute : MatchState::kLayover;
  return off_now ? MatchState::kOffRoute : MatchState::kInService;
}

double Tracker::Impl::Progress(Track& v, const Fix& fix, double d,
                               std::vector<StopVisit>* visits) {
  const uint32_t pattern_before = v.run.pattern;
  StartGate gate = visits_.Progress(v, static_cast<double>(fix.timestamp_s), d, fix, visits);
  if (gate.start) {
    if (gate.redecide) inference_.RedecideAtDeparture(v, gate.t_dep, gate.t_ready);
    visits_.StartTrip(v, fix, visits);
  }
  if (v.run.pattern != pattern_before && v.match.n_hyps > 0) d = v.match.hyps[0].d;  // new shape
  return d;
}

void Tracker::Impl::UpdateState(Track& v, const Fix& fix, MatchState state, double d,
                                double off) {
  VehicleState& vs = v.vs;
  vs.state = state;
  vs.dist_along_m = d;
  vs.offset_m = off;
  double hv = v.match.n_hyps > 0 ? v.match.hyps[0].v : NAN;
  vs.speed_mps = std::isnan(fix.speed_mps) ? static_cast<float>(hv) : fix.speed_mps;
  vs.next_stop_index = v.visit.next_stop;
  const double t = static_cast<double>(fix.timestamp_s);
  if (v.run.started() && !std::isnan(v.visit.mono_d)) {
    vs.delay_s = t - sched_.TimeAt(v, v.visit.mono_d);
  } else if (!v.run.started()) {
    double late = t - sched_.Dep(v, 0);
    vs.delay_s = late > 0 ? late : 0;
  }
}

const VehicleState* Tracker::Impl::Process(const Fix& fix, int64_t now_s, MatchResult* m,
                                           std::vector<StopVisit>* visits) {
  ++tr_.stats_.fixes;
  const size_t first_new = visits->size();
  m->vehicle_id = fix.vehicle_id;
  m->timestamp_s = fix.timestamp_s;
  m->trip = kNoIndex;
  m->dist_along_m = NAN;
  m->offset_m = NAN;
  m->state = MatchState::kRejected;
  m->reason = RejectReason::kNone;

  // 1. Fix filter: what needs no history, then duplicates, late fixes and jumps.
  const RejectReason screened = filter_.Screen(fix, now_s);
  if (screened == RejectReason::kInvalidVehicleId) {
    Reject(m, screened);
    return nullptr;
  }
  auto it = tr_.vehicles_.find(fix.vehicle_id);
  Track* known = it == tr_.vehicles_.end() ? nullptr : it->second.get();
  if (known) m->trip = known->run.trip;
  if (screened != RejectReason::kNone) {
    Reject(m, screened);
    return known ? &known->vs : nullptr;
  }
  Track& v = known ? *known : NewTrack(fix.vehicle_id);
  const Vec2 p = net_.projection().Forward({fix.lat, fix.lon});
  const Admission adm = filter_.Admit(v.fixes, fix, p);
  if (adm.reason != RejectReason::kNone) {
    ExplainRejection(v, p, adm.reason, m);
    Reject(m, adm.reason);
    return &v.vs;
  }
  if (adm.reanchor) ++tr_.stats_.reanchors;
  ++tr_.stats_.accepted;
  if (adm.reanchor) v.match.n_hyps = 0;
  FixObservation obs = matcher_.Observe(fix, p);
  obs.move = adm.move;

  // 2. Trip: given, or inferred (end of trip, block chaining, re-examination).
  inference_.AssignForFix(v, fix, obs, adm);
  VehicleState& vs = v.vs;
  vs.timestamp_s = fix.timestamp_s;
  vs.pos = {fix.lat, fix.lon};
  vs.bearing_deg = fix.bearing_deg;
  vs.occupancy = fix.occupancy;
  vs.load = fix.load;
  if (v.run.trip == kNoIndex) {
    visits_.AttributeRiders(v, fix, visits, first_new);  // waits for the next visit
    return Unassigned(v, fix, m);
  }

  // 3. Map matching on the trip's shape.
  const bool near_start = Dist(p, v.run.start_xy) <= opt_.matching.layover_radius_m;
  const MatchOutcome mo = MatchOnShape(v, obs, adm.g, near_start);
  CheckGivenTrip(v, mo.off, near_start);
  MatchState state = Classify(v, mo.on_route, near_start);

  // 4. Stop visits (and the start of the trip).
  double d = mo.d;
  if (mo.on_route) d = Progress(v, fix, d, visits);
  visits_.AttributeRiders(v, fix, visits, first_new);
  if (v.run.started() && state == MatchState::kLayover) state = MatchState::kInService;

  // 5. The vehicle's state, then the joint assignment of its pattern.
  LearnChordBend(v, p, d, state);
  LearnGpsNoise(v, fix, mo, state);
  UpdateState(v, fix, state, d, mo.off);
  inference_.AfterMatch(v, state, fix.timestamp_s);
  m->trip = v.run.trip;
  m->dist_along_m = d;
  m->offset_m = mo.off;
  m->state = state;
  ++tr_.stats_.by_state[static_cast<int>(state)];
  return &vs;
}

Tracker::Tracker(std::shared_ptr<const Network> network, const TrackerOptions& options)
    : net_(std::move(network)), opt_(options) {
  opt_.matching.max_hypotheses = std::clamp(opt_.matching.max_hypotheses, 1, kMaxHypotheses);
  impl_ = std::make_unique<Impl>(*this);
}

Tracker::~Tracker() = default;

const VehicleState* Tracker::Process(const Fix& fix, int64_t now_s, MatchResult* match,
                                     std::vector<StopVisit>* visits) {
  return impl_->Process(fix, now_s, match, visits);
}

const VehicleState* Tracker::Vehicle(absl::string_view vehicle_id) const {
  auto it = vehicles_.find(vehicle_id);
  return it == vehicles_.end() ? nullptr : &it->second->vs;
}

const VehicleState& Tracker::StateOf(const Track& t) const { return t.vs; }

}  // namespace smartbus
