#include "services/core/tracking/trip_inference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/time/civil_time.h"
#include "services/core/tracking/tracker.h"

namespace smartbus {
namespace {

constexpr double kInfCost = std::numeric_limits<double>::infinity();
// A trail position nearest the very start of a path (within this, m) may have come there
// from anywhere (a bus driving to its first stop): it says nothing about the path.
constexpr double kTrailStartM = 1.0;

}  // namespace

bool TripInference::TakeGivenTrip(Track& v, const Fix& fix) {
  if (fix.trip_id.empty()) return false;
  if (v.run.trip != kNoIndex && v.run.given() && net_.feed().trips[v.run.trip].id == fix.trip_id)
    return true;
  std::optional<TripIdx> trip = net_.FindTrip(fix.trip_id);
  if (!trip) {
    ++stats_->unknown_trip_ids;
    return false;
  }
  int32_t date;
  int64_t day_start;
  InstanceFor(*trip, fix.timestamp_s, &date, &day_start);
  Assign(v, *trip, date, day_start, true);
  return true;
}

void TripInference::TrackMotion(Track& v, Vec2 p, int64_t t, bool reset) {
  MotionHistory& m = v.motion;
  // The trail: positions before this one, within trail_max_age_s.
  if (reset) m.trail_n = 0;
  int keep = 0;
  for (int i = 0; i < m.trail_n; ++i) {
    if (t - m.trail_ts[i] > inf_.trail_max_age_s) continue;
    m.trail_xy[keep] = m.trail_xy[i];
    m.trail_ts[keep++] = m.trail_ts[i];
  }
  m.trail_n = keep;
  if (!reset && m.has_last) {
    if (m.trail_n == kTrailSize) {
      std::copy(m.trail_xy + 1, m.trail_xy + kTrailSize, m.trail_xy);
      std::copy(m.trail_ts + 1, m.trail_ts + kTrailSize, m.trail_ts);
      --m.trail_n;
    }
    m.trail_xy[m.trail_n] = m.last_xy;
    m.trail_ts[m.trail_n++] = m.last_ts;
  }
  m.last_xy = p;
  m.last_ts = t;
  m.has_last = true;
  if (reset || Dist(p, m.still_xy) > inf_.still_m) {
    m.still_xy = p;
    m.still_since = t;
  }
  if (reset) {
    m.move_xy = p;
    m.has_move_dir = false;
  } else if (double moved = Dist(p, m.move_xy); moved >= inf_.move_m) {
    m.move_dir = (p - m.move_xy) * (1.0 / moved);
    m.move_ts = t;
    m.move_xy = p;
    m.has_move_dir = true;
  }
  m.from_fix_seen = false;
}

void TripInference::Reanchored(Track& v) {
  if (v.run.trip == kNoIndex || v.run.finished()) return;
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  if (v.run.started() && !sd.empty() && !std::isnan(v.visit.mono_d) &&
      v.visit.mono_d >= sd.back() - opt_.trip_end.end_leave_zone_m) {
    v.run.phase = TripPhase::kFinished;  // EndOfTrip moves it on to the next trip
  } else {
    Unassign(v);
  }
}

void TripInference::EndOfTrip(Track& v, const Fix& fix, Vec2 p) {
  const TripEndOptions& end = opt_.trip_end;
  if (v.run.trip != kNoIndex && v.run.started() && !v.run.finished() && v.visit.mono_d >= 0) {
    // Blank mode near the end of the trip: finished when it leaves the shape or stops making
    // progress for a while close to the last stop. (Timepoint holds near the end are real:
    // standing still only ends the trip right at the last stop.)
    const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
    if (!sd.empty() &&
        ((v.visit.mono_d >= sd.back() - end.end_leave_zone_m && v.match.off_count >= 1) ||
         (v.visit.mono_d >= sd.back() - end.end_stall_zone_m &&
          fix.timestamp_s - v.visit.stalled_since > end.end_stall_s))) {
      v.run.phase = TripPhase::kFinished;
    }
  }
  if (v.run.trip == kNoIndex || !v.run.finished()) return;
  // Chain to the next trip of the block: the trip the bus finished is the best evidence of
  // what it runs next, however little of it was seen (a bus first seen near the end of its
  // trip), and the departure from the first stop re-decides anyway. Otherwise (no block) look
  // again from the terminal. (Issue 11: chaining only trips followed over 30 % of their length
  // left buses first seen late in a trip to the earliest free trip at the terminal; blind
  // agreement without that rule: NYC Staten Island +1.4 pp, WMATA day +0.13, demo city day
  // +0.1, WMATA shapeless and thinned -0.13, demo morning -1.1 (two buses).)
  std::optional<TripIdx> next = net_.NextTripInBlock(v.run.trip);
  v.infer.done_trip = v.run.trip;
  v.infer.done_date = v.run.service_date;
  v.infer.finished_at_ts = fix.timestamp_s;
  v.infer.finished_xy = p;
  if (next) {
    int32_t date = v.run.service_date;
    int64_t day_start = v.run.day_start_s;
    Assign(v, *next, date, day_start, false);
    v.run.source = TripSource::kConfirmed;
    ++stats_->block_transitions;
  } else {
    Unassign(v);
  }
}

bool TripInference::ShouldInfer(Track& v, Vec2 p, int64_t t) {
  // Look again when unassigned, or when an unconfirmed trip has lost the bus (but a bus
  // waiting off the shape near its first stop is simply in layover).
  if (v.match.off_count == 0) v.infer.off_since = t;
  const bool assigned = v.run.trip != kNoIndex;
  const bool recheck_due = t - v.infer.reinfer_ts >= inf_.infer_recheck_s;
  bool lost = assigned && v.match.off_count >= opt_.matching.off_route_fixes &&
              (v.run.started() || Dist(p, v.run.start_xy) > opt_.matching.layover_radius_m);
  // A confirmed trip is kept through detours, but not when the bus has been away from its
  // shape for long: the confirmation was wrong (e.g. made on a street the bus's real route
  // shares with this one).
  bool lost_confirmed =
      lost && v.run.confirmed() && t - v.infer.off_since >= inf_.infer_lost_s && recheck_due;
  // A bus standing mid-route well past its scheduled time there is rather waiting for a trip
  // that starts here (a terminal or hub shared with routes passing through): look again.
  bool standing = false;
  if (assigned && !v.run.confirmed() && !lost &&
      t - v.motion.still_since >= inf_.infer_standing_s && recheck_due &&
      !std::isnan(v.vs.dist_along_m)) {
    const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
    standing = !sd.empty() && MidRoute(sd, v.vs.dist_along_m);
  }
  // A bus matched further and further behind its progress is going the other way (the two
  // directions of a street, told apart only by motion when the bus is too slow for its
  // bearing to count): look again.
  bool backward = assigned && v.run.started() && !v.run.finished() &&
                  !std::isnan(v.visit.mono_d) && !std::isnan(v.vs.dist_along_m) &&
                  v.vs.dist_along_m < v.visit.mono_d - inf_.backward_tolerances *
                                                           opt_.matching.back_tolerance_m &&
                  recheck_due;
  return !assigned || (lost && !v.run.confirmed()) || lost_confirmed || standing || backward ||
         v.infer.evicted;
}

void TripInference::AssignForFix(Track& v, const Fix& fix, const FixObservation& obs,
                                 const Admission& adm) {
  if (TakeGivenTrip(v, fix)) {
    v.motion.from_fix_seen = true;
    return;
  }
  if (v.run.given()) Unassign(v);  // the bus stopped saying its trip: infer from here on
  // Where and since when it stands, and the direction of its recent travel (inference only:
  // a bus saying its trip does not need them).
  TrackMotion(v, obs.p, fix.timestamp_s, adm.first || adm.reanchor || v.motion.from_fix_seen);
  v.infer.route_hint = kNoIndex;
  if (!fix.route_id.empty()) {
    if (std::optional<uint32_t> r = net_.FindRoute(fix.route_id)) v.infer.route_hint = *r;
  }
  if (adm.reanchor) Reanchored(v);
  EndOfTrip(v, fix, obs.p);
  if (TakeForkedPattern(v, obs)) return;
  if (!ShouldInfer(v, obs.p, fix.timestamp_s)) return;
  v.infer.evicted = false;
  if (v.run.trip != kNoIndex) v.infer.reinfer_ts = fix.timestamp_s;
  Infer(v, obs);
}

bool TripInference::TakeForkedPattern(Track& v, const FixObservation& obs) {
  if (v.run.trip == kNoIndex || v.run.given() || !v.run.started() || v.run.finished() ||
      std::isnan(v.visit.mono_d))
    return false;
  const Pattern& own = sched_.Pat(v);
  if (own.stops.empty() || own.stop_dist_m.empty()) return false;
  const MatchingOptions& mo = opt_.matching;
  // Where the bus can be now along a path on which it was at progress d: behind by at most
  // the jitter, ahead by what it can run since its last fix.
  const double dt = std::max(0.0, static_cast<double>(obs.t - v.vs.timestamp_s));
  const double ahead = mo.max_speed_mps * dt + mo.reach_slack_m;
  auto fit = [&](const Polyline& line, double d, PolylinePoint* pp) {
    *pp = line.Project(obs.p, std::max(0.0, d - mo.back_tolerance_m), d + ahead);
    return ShapeMatcher::Excess(line, pp->segment, pp->offset_m);
  };
  PolylinePoint pp;
  // Off its path for as many fixes as make it off route: the previous ones, and this one.
  if (v.match.off_count + 1 < mo.off_route_fixes) return false;
  if (fit(*v.run.poly, v.visit.mono_d, &pp) <= mo.off_route_m) return false;  // back on it
  const std::vector<TripInstance>& around =
      RunningAround(obs.t, absl::Seconds(inf_.infer_early_s), absl::Seconds(inf_.infer_late_s));
  const double t = static_cast<double>(obs.t);
  double best_cost = kInfCost;
  TripInstance best{};
  double best_shift = 0;
  for (const auto& [pat, pos] : net_.stop_patterns(own.stops[0])) {
    if (pos != 0 || pat == v.run.pattern) continue;
    const Pattern& P = net_.pattern(pat);
    if (P.stop_dist_m.empty()) continue;
    const double shift = P.stop_dist_m[0] - own.stop_dist_m[0];
    if (fit(net_.polylines()[P.polyline], v.visit.mono_d + shift, &pp) > 0.5 * mo.off_route_m)
      continue;
    const bool departed = DepartedFrom(v, pat);
    for (const TripInstance& ti : around) {
      if (net_.trip_pattern(ti.trip) != pat) continue;
      const Track* holder = Holder(ti.trip, ti.service_date);
      if (holder && holder != &v && (holder->run.started() || holder->run.given())) continue;
      const int64_t ds = absl::ToUnixSeconds(ti.day_start);
      const double cost =
          departed ? DepartureCost(sched_.TimeAt(ti.trip, pat, ds, -1), v.infer.dep_t,
                                   v.infer.dep_ready)
                   : SchedCost(ti.trip, pat, ds, pp.dist_along_m, t);
      if (cost < best_cost) {
        best_cost = cost;
        best = ti;
        best_shift = shift;
      }
    }
  }
  // No pattern from its first stop goes on there: one from elsewhere whose path the bus has
  // followed (a shared corridor it joined mid-route, or an express leg).
  if (best_cost == kInfCost) return Infer(v, obs, /*at_fork=*/true);
  // A bus only waiting with that trip (or not started on it) looks again.
  auto held = claims_.find(ClaimKey(best.trip, best.service_date));
  if (held != claims_.end() && held->second != &v)
    Evict(*held->second, best.trip, best.service_date);
  const bool departed = DepartedFrom(v, net_.trip_pattern(best.trip));
  SwitchPattern(v, best.trip, best.service_date, absl::ToUnixSeconds(best.day_start), best_shift);
  if (departed) v.infer.dep_pattern = v.run.pattern;
  v.match.off_count = 0;
  ++stats_->retargets;
  return true;
}

void TripInference::AfterMatch(Track& v, MatchState state, int64_t t) {
  if (v.run.given() || v.run.confirmed() || state == MatchState::kOffRoute) return;
  uint32_t before = v.run.trip;
  SolvePattern(v.run.pattern, t);
  if (v.run.trip != before || !v.run.started()) v.run.stable_since = t;
  // Confirmed only once the bus has run a good way on the trip: a bus standing at a hub is
  // no evidence of the trip passing there.
  if (v.run.started() && t - v.run.stable_since >= inf_.infer_confirm_s &&
      !std::isnan(v.visit.mono_d) && v.visit.mono_d - v.visit.start_d >= inf_.infer_confirm_m)
    v.run.source = TripSource::kConfirmed;
}

const Track* TripInference::Holder(TripIdx trip, int32_t date) const {
  auto it = claims_.find(ClaimKey(trip, date));
  return it == claims_.end() ? nullptr : it->second;
}

double TripInference::SchedCost(TripIdx trip, uint32_t pattern, int64_t day_start, double d,
                                double t) const {
  const Pattern& P = net_.pattern(pattern);
  double start = sched_.TimeAt(trip, pattern, day_start, -1);
  const InferenceOptions& o = opt_.inference;
  if (d <= P.stop_dist_m[0] + o.mid_after_first_m && t < start)
    return (start - t) / o.wait_scale_s;  // waiting to leave
  return DelayCost(t - sched_.TimeAt(trip, pattern, day_start, d));
}

double TripInference::DelayCost(double delay) const {
  return delay >= 0 ? delay / inf_.late_scale_s : -delay / inf_.early_scale_s;
}

void TripInference::Retarget(Track& v, TripIdx trip, int32_t date, int64_t day_start) {
  auto it = claims_.find(ClaimKey(v.run.trip, v.run.service_date));
  if (it != claims_.end() && it->second == &v) claims_.erase(it);
  v.run.trip = trip;
  v.run.service_date = date;
  v.run.day_start_s = day_start;
  v.vs.trip = trip;
  v.vs.route = net_.feed().trips[trip].route;
  v.vs.service_date = date;
  v.vs.day_start_s = day_start;
  v.run.stable_since = v.fixes.pos_ts;
  claims_[ClaimKey(trip, date)] = &v;
}

void TripInference::TakeClaim(Track& v) {
  Track*& holder = claims_[ClaimKey(v.run.trip, v.run.service_date)];
  if (holder && holder != &v && !holder->run.given() && !holder->run.started())
    Evict(*holder, v.run.trip, v.run.service_date);
  holder = &v;
}

bool TripInference::DepartedFrom(const Track& v, uint32_t pat) const {
  const uint32_t dep = v.infer.dep_pattern;
  if (dep == kNoIndex || std::isnan(v.infer.dep_t)) return false;
  const Pattern& a = net_.pattern(dep);
  const Pattern& b = net_.pattern(pat);
  return dep == pat || (!a.stops.empty() && !b.stops.empty() && a.stops[0] == b.stops[0]);
}

double TripInference::DepartureCost(double sched, double t_dep, double t_ready) const {
  if (t_dep < sched) return (sched - t_dep) / inf_.depart_early_scale_s;
  double cost = (t_dep - sched) / inf_.depart_late_scale_s;
  if (!std::isnan(t_ready)) {
    double held = t_dep - std::max(sched, t_ready) - inf_.depart_ready_grace_s;
    if (held > 0) cost += held / inf_.depart_early_scale_s;
  }
  return cost;
}

const std::vector<TripInstance>& TripInference::RunningAround(int64_t t, absl::Duration before,
                                                              absl::Duration after) {
  ++around_calls_;
  AroundCache* slot = &around_cache_[0];
  for (AroundCache& c : around_cache_) {
    if (c.valid && c.t == t && c.before == before && c.after == after) {
      c.used = around_calls_;
      return c.trips;
    }
    if (c.used < slot->used) slot = &c;
  }
  slot->trips = net_.TripsAround(absl::FromUnixSeconds(t), before, after);
  slot->valid = true;
  slot->t = t;
  slot->before = before;
  slot->after = after;
  slot->used = around_calls_;
  return slot->trips;
}

bool TripInference::RedecideAtDeparture(Track& v, double t_dep, double t_ready) {
  const std::vector<TripInstance>& around =
      RunningAround(static_cast<int64_t>(t_dep), absl::Seconds(inf_.redecide_around_before_s),
                    absl::Seconds(inf_.redecide_around_after_s));
  // The trips of the bus's pattern, and of the patterns that start at the same stop and whose
  // shape the bus has followed so far (a route sharing the first streets, e.g. an express
  // leaving the same terminal): they are not told apart by the geometry yet, but by the time
  // the bus leaves.
  const Pattern& own = sched_.Pat(v);
  const double own_first = own.stop_dist_m.empty() ? 0 : own.stop_dist_m[0];
  const double run_m = v.visit.ring.n > 0 ? v.visit.ring.d[v.visit.ring.n - 1] - own_first : 0;
  struct PatOk {
    uint32_t pattern;
    bool ok;
    double shift_m;  // its first stop's distance minus ours
  };
  std::vector<PatOk> pats;
  auto pattern_ok = [&](uint32_t pat, double* shift_m) {
    if (pat == v.run.pattern) {
      *shift_m = 0;
      return true;
    }
    for (const PatOk& po : pats) {
      if (po.pattern == pat) {
        *shift_m = po.shift_m;
        return po.ok;
      }
    }
    const Pattern& P = net_.pattern(pat);
    bool ok = false;
    double shift = 0;
    if (!P.stops.empty() && !own.stops.empty() && P.stops[0] == own.stops[0] && run_m > 0) {
      const double first = P.stop_dist_m[0];
      PolylinePoint pp = net_.polylines()[P.polyline].Project(
          v.fixes.xy, first, first + run_m + inf_.redecide_search_slack_m);
      // Within the other path's slack: a path without a shape is uncertain in place by it,
      // and the road to a point beside its straight line is longer than the line to the
      // point's projection by up to the bend (slack + offset).
      const double slack = net_.polylines()[P.polyline].slack_m(pp.segment);
      const double bend = slack > 0 ? slack + pp.offset_m : 0;
      ok = ShapeMatcher::Excess(net_.polylines()[P.polyline], pp.segment, pp.offset_m) <=
               0.5 * opt_.matching.off_route_m &&
           std::fabs(pp.dist_along_m - first - run_m) <= inf_.depart_run_match_m + bend;
      shift = first - own_first;
    }
    pats.push_back({pat, ok, shift});
    *shift_m = shift;
    return ok;
  };
  double best_cost = kInfCost;
  const TripInstance* best = nullptr;
  double best_shift = 0;
  for (const TripInstance& ti : around) {
    uint32_t pat = net_.trip_pattern(ti.trip);
    double shift = 0;
    if (!pattern_ok(pat, &shift)) continue;
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    double sched = sched_.TimeAt(ti.trip, pat, ds, -1);
    if (sched < t_dep - inf_.depart_window_before_s ||
        sched > t_dep + inf_.depart_window_after_s)
      continue;
    auto it = claims_.find(ClaimKey(ti.trip, ti.service_date));
    const Track* holder = it == claims_.end() ? nullptr : it->second;
    if (holder && holder != &v && (holder->run.started() || holder->run.given())) continue;
    double cost = DepartureCost(sched, t_dep, t_ready);
    if (ti.trip == v.run.trip && ti.service_date == v.run.service_date)
      cost -= inf_.keep_bonus;
    if (cost < best_cost) {
      best_cost = cost;
      best = &ti;
      best_shift = shift;
    }
  }
  if (!best) return false;
  const TripInstance chosen = *best;  // `around` is not used past here
  best = &chosen;
  v.infer.dep_pattern = net_.trip_pattern(best->trip);
  v.infer.dep_t = t_dep;
  v.infer.dep_ready = t_ready;
  if (best->trip == v.run.trip && best->service_date == v.run.service_date) {
    TakeClaim(v);
    return false;
  }
  TripIdx old_trip = v.run.trip;
  uint32_t old_pattern = v.run.pattern;
  int32_t old_date = v.run.service_date;
  int64_t old_ds = v.run.day_start_s;
  auto it = claims_.find(ClaimKey(best->trip, best->service_date));
  Track* other = nullptr;
  if (it != claims_.end() && it->second != &v) other = it->second;
  uint32_t new_pattern = net_.trip_pattern(best->trip);
  if (new_pattern == v.run.pattern) {
    Retarget(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start));
  } else {
    SwitchPattern(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start),
                  best_shift);
  }
  ++stats_->retargets;
  if (other) {
    // The bus still waiting takes the trip this one was given.
    if (other->run.pattern == old_pattern) {
      Retarget(*other, old_trip, old_date, old_ds);
    } else if (!other->run.started()) {
      Assign(*other, old_trip, old_date, old_ds, false);
    } else {
      Unassign(*other);
    }
  }
  return new_pattern != old_pattern;
}

void TripInference::SwitchPattern(Track& v, TripIdx trip, int32_t date, int64_t day_start,
                                  double shift_m) {
  Retarget(v, trip, date, day_start);
  v.run.pattern = net_.trip_pattern(trip);
  v.run.poly = &net_.trip_polyline(trip);
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  v.run.start_xy = v.run.poly->PointAt(sd.empty() ? 0 : sd[0]);
  for (int i = 0; i < v.visit.ring.n; ++i) v.visit.ring.d[i] += shift_m;
  v.visit.progress_d += shift_m;
  v.visit.last_d += shift_m;
  for (int i = 0; i < v.match.n_hyps; ++i) {
    v.match.hyps[i].d = std::clamp(v.match.hyps[i].d + shift_m, 0.0, v.run.poly->length_m());
    v.match.hyps[i].seg = SegmentNear(v.run.poly->cum_m(), 0, v.match.hyps[i].d);
  }
  v.visit.next_stop = 0;
  v.vs.next_stop_index = 0;
}

// Joint assignment of the unconfirmed vehicles on one pattern: buses do not overtake, so the
// bus farthest along runs the earliest trip. Order-preserving assignment by dynamic programming
// over (vehicles by distance along, trips by departure), each pair costing its schedule
// deviation; trips held by other vehicles are left out.
void TripInference::SolvePattern(uint32_t pat, int64_t t) {
  auto ls = last_solve_.find(pat);
  if (ls != last_solve_.end() && t - ls->second < inf_.solve_interval_s) return;
  last_solve_[pat] = t;
  struct V {
    Track* tr;
    double d;
    double t;
  };
  std::vector<V> vs;
  for (auto& [id, tp] : vehicles_) {
    Track& o = *tp;
    if (o.run.pattern != pat || o.run.given() || o.run.confirmed() || o.run.trip == kNoIndex) continue;
    if (std::isnan(o.vs.dist_along_m) || o.vs.state == MatchState::kOffRoute) continue;
    // Buses waiting at a terminal or about to end are not ordered by position, nor a bus
    // standing mid-route (maybe waiting for a trip that starts there).
    if (!o.run.started() || o.run.finished() || StandingSinceAssigned(o)) continue;
    const std::vector<double>& sd = net_.pattern(pat).stop_dist_m;
    if (o.vs.dist_along_m >= sd.back() - inf_.mid_before_last_m) continue;
    if (t - o.vs.timestamp_s > inf_.solve_max_age_s) continue;
    vs.push_back({&o, o.vs.dist_along_m, static_cast<double>(o.vs.timestamp_s)});
  }
  if (vs.empty()) return;
  std::sort(vs.begin(), vs.end(), [](const V& a, const V& b) { return a.d > b.d; });
  const std::vector<TripInstance>& around =
      RunningAround(t, absl::Seconds(inf_.infer_early_s), absl::Seconds(inf_.infer_late_s));
  struct T {
    TripIdx trip;
    int32_t date;
    int64_t day_start;
    double start;
  };
  std::vector<T> ts;
  for (const TripInstance& ti : around) {
    if (net_.trip_pattern(ti.trip) != pat) continue;
    auto it = claims_.find(ClaimKey(ti.trip, ti.service_date));
    if (it != claims_.end()) {
      const Track* holder = it->second;
      bool in_set = false;
      for (const V& x : vs) in_set |= x.tr == holder;
      if (!in_set && !StandingSinceAssigned(*holder)) continue;
    }
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    ts.push_back({ti.trip, ti.service_date, ds, sched_.TimeAt(ti.trip, pat, ds, -1)});
  }
  if (ts.empty()) return;
  std::sort(ts.begin(), ts.end(), [](const T& a, const T& b) { return a.start < b.start; });
  const size_t nv = vs.size(), nt = ts.size();
  const double kSkip = inf_.solve_skip_cost;  // a vehicle left on its current trip
  std::vector<double> f((nv + 1) * (nt + 1), kInfCost);
  std::vector<uint8_t> how((nv + 1) * (nt + 1), 0);
  auto F = [&](size_t i, size_t j) -> double& { return f[i * (nt + 1) + j]; };
  auto H = [&](size_t i, size_t j) -> uint8_t& { return how[i * (nt + 1) + j]; };
  for (size_t j = 0; j <= nt; ++j) F(0, j) = 0;
  for (size_t i = 1; i <= nv; ++i) {
    for (size_t j = 0; j <= nt; ++j) {
      double best = F(i - 1, j) + kSkip;
      uint8_t h = 1;  // skip vehicle
      if (j > 0) {
        if (F(i, j - 1) < best) {
          best = F(i, j - 1);
          h = 2;  // skip trip
        }
        const V& x = vs[i - 1];
        const T& y = ts[j - 1];
        double c = SolveCost(*x.tr, y.trip, pat, y.day_start, y.start, x.d, x.t);
        if (y.trip == x.tr->run.trip && y.date == x.tr->run.service_date)
          c -= inf_.solve_keep_bonus;
        if (F(i - 1, j - 1) + c < best) {
          best = F(i - 1, j - 1) + c;
          h = 3;
        }
      }
      F(i, j) = best;
      H(i, j) = h;
    }
  }
  size_t i = nv, j = nt;
  std::vector<int> pick(nv, -1);
  while (i > 0) {
    uint8_t h = H(i, j);
    if (h == 1) {
      --i;
    } else if (h == 2) {
      --j;
    } else {
      pick[i - 1] = static_cast<int>(j - 1);
      --i;
      --j;
    }
  }
  // Release every changed claim first, then take the new ones.
  for (size_t k = 0; k < nv; ++k) {
    if (pick[k] < 0) continue;
    const T& y = ts[pick[k]];
    Track& o = *vs[k].tr;
    if (y.trip == o.run.trip && y.date == o.run.service_date) continue;
    auto it = claims_.find(ClaimKey(o.run.trip, o.run.service_date));
    if (it != claims_.end() && it->second == &o) claims_.erase(it);
  }
  for (size_t k = 0; k < nv; ++k) {
    if (pick[k] < 0) continue;
    const T& y = ts[pick[k]];
    Track& o = *vs[k].tr;
    if (y.trip == o.run.trip && y.date == o.run.service_date) continue;
    auto held = claims_.find(ClaimKey(y.trip, y.date));
    if (held != claims_.end() && held->second != &o) {
      bool in_set = false;
      for (const V& x : vs) in_set |= x.tr == held->second;
      if (!in_set) {
        // Taken from a bus standing mid-route: it looks again at its next fix.
        Evict(*held->second, y.trip, y.date);
      }
    }
    Retarget(o, y.trip, y.date, y.day_start);
    ++stats_->retargets;
  }
}

double TripInference::SolveCost(const Track& o, TripIdx trip, uint32_t pat, int64_t day_start,
                                double start, double d, double t) const {
  // The departure, when it was seen, says more than the place: it is the deviation from the
  // schedule before traffic and the bus's own pace added to it.
  if (o.infer.dep_pattern == pat) return DepartureCost(start, o.infer.dep_t, o.infer.dep_ready);
  return SchedCost(trip, pat, day_start, d, t);
}

bool TripInference::InstanceFor(TripIdx trip, int64_t t, int32_t* date,
                                int64_t* day_start) const {
  // The instance whose first departure is nearest t, among those scheduled to run within 4 h
  // of t (one trip's few candidate dates, not every trip around t: this runs whenever a bus
  // names a trip other than the one it is on, e.g. every fix while it still names the trip it
  // just finished).
  const int64_t kWindowS = inf_.instance_window_s;
  absl::Time at = absl::FromUnixSeconds(t);
  const GtfsTrip& tr = net_.feed().trips[trip];
  bool found = false;
  if (tr.num_stop_times > 0) {
    const GtfsStopTime* st = &net_.feed().stop_times[tr.first_stop_time];
    const int64_t dep0 = st[0].departure_s;
    const int64_t arr_n = st[tr.num_stop_times - 1].arrival_s;
    const int64_t dur = std::max<int64_t>(0, arr_n - dep0);
    std::optional<TripInstance> ti =
        net_.NearestTripInstance(trip, at, absl::Seconds(kWindowS + dur));
    if (ti) {
      const int64_t ds = absl::ToUnixSeconds(ti->day_start);
      if (t >= ds + dep0 - kWindowS && t <= ds + arr_n + kWindowS) {
        *date = ti->service_date;
        *day_start = ds;
        found = true;
      }
    }
  }
  if (found) return true;
  // Not scheduled near t: take the local date of t.
  absl::CivilDay day = absl::ToCivilDay(at, net_.time_zone());
  *date = static_cast<int32_t>(day.year() * 10000 + day.month() * 100 + day.day());
  *day_start = absl::ToUnixSeconds(net_.ServiceDayStart(*date));
  return false;
}

void TripInference::Unassign(Track& v) {
  if (v.run.trip != kNoIndex) {
    auto it = claims_.find(ClaimKey(v.run.trip, v.run.service_date));
    if (it != claims_.end() && it->second == &v) claims_.erase(it);
  }
  v.run.trip = kNoIndex;
  v.run.pattern = kNoIndex;
  v.run.poly = nullptr;
  v.infer.dep_pattern = kNoIndex;
  v.run.source = TripSource::kNone;
  v.match.n_hyps = 0;
  v.run.phase = TripPhase::kBeforeStart;
  v.visit.ring.n = 0;
  v.visit.seen_on_trip = false;
  v.visit.mono_d = NAN;
  v.visit.last_d = NAN;
  v.visit.pending_arrival = NAN;
  v.match.off_count = 0;
  v.vs.trip = kNoIndex;
  v.vs.route = kNoIndex;
  v.vs.service_date = 0;
  v.vs.day_start_s = 0;
}

void TripInference::Assign(Track& v, TripIdx trip, int32_t date, int64_t day_start,
                           bool given) {
  Unassign(v);
  v.run.trip = trip;
  v.run.pattern = net_.trip_pattern(trip);
  v.run.poly = &net_.trip_polyline(trip);
  {
    const std::vector<double>& sd = net_.pattern(v.run.pattern).stop_dist_m;
    v.run.start_xy = v.run.poly->PointAt(sd.empty() ? 0 : sd[0]);
  }
  v.run.service_date = date;
  v.run.day_start_s = day_start;
  v.run.source = given ? TripSource::kGiven : TripSource::kInferred;
  v.given.mismatch_count = 0;
  v.given.mismatch_counted = false;
  v.visit.next_stop = 0;
  v.visit.stalled_since = v.fixes.pos_ts;
  v.run.stable_since = v.fixes.pos_ts;
  v.run.assigned_ts = v.fixes.pos_ts;
  v.vs.trip = trip;
  v.vs.route = net_.feed().trips[trip].route;
  v.vs.service_date = date;
  v.vs.day_start_s = day_start;
  v.vs.next_stop_index = 0;
  claims_[ClaimKey(trip, date)] = &v;
}

bool TripInference::Infer(Track& v, const FixObservation& obs, bool at_fork) {
  const int64_t t = obs.t;
  const Vec2 p = obs.p;
  const std::vector<TripInstance>& around =
      RunningAround(t, absl::Seconds(inf_.infer_early_s), absl::Seconds(inf_.infer_late_s));
  const double standing_s = static_cast<double>(t - v.motion.still_since);
  // Too slow (or no bearing) for the reported heading to count: the direction of its recent
  // travel tells the two directions of a street apart.
  const bool use_move = !obs.has_heading && v.motion.has_move_dir &&
                        t - v.motion.move_ts <= inf_.move_max_age_s;
  // Candidates per pattern, computed once, and only for the paths passing near the fix (a
  // trip far away has none: on a city of thousands of running trips most are skipped here).
  net_.PolylinesNear(p, opt_.matching.candidate_radius_m, &near_polylines_);
  cand_slot_.resize(net_.patterns().size(), -1);
  size_t used = 0;
  double best_cost = kInfCost;
  const TripInstance* best = nullptr;
  for (const TripInstance& ti : around) {
    const GtfsTrip& trip = net_.feed().trips[ti.trip];
    if (v.infer.route_hint != kNoIndex && trip.route != v.infer.route_hint) continue;
    if (trip.num_stop_times < 2) continue;
    if (ti.trip == v.infer.done_trip && ti.service_date == v.infer.done_date) continue;  // just ran it
    uint32_t pat = net_.trip_pattern(ti.trip);
    if (at_fork && pat == v.run.pattern) continue;
    const uint32_t line = net_.pattern(pat).polyline;
    if (!std::binary_search(near_polylines_.begin(), near_polylines_.end(), line)) continue;
    if (cand_slot_[pat] < 0) {
      if (used == cands_.size()) cands_.emplace_back();
      cand_slot_[pat] = static_cast<int32_t>(used++);
      cand_patterns_.push_back(pat);
      net_.polylines()[line].Candidates(p, opt_.matching.candidate_radius_m,
                                        &cands_[cand_slot_[pat]]);
    }
    const std::vector<PolylinePoint>* cands = &cands_[cand_slot_[pat]];
    if (cands->empty()) continue;
    auto it = claims_.find(ClaimKey(ti.trip, ti.service_date));
    double claim_cost = 0;
    if (it != claims_.end() && it->second != &v) {
      if (at_fork && (it->second->run.started() || it->second->run.given())) continue;
      claim_cost = WeaklyHeld(*it->second) ? inf_.claim_cost_weak
                                              : inf_.claim_cost_strong;
    }
    const Polyline& poly = net_.polylines()[line];
    double cont =
        (ti.trip == v.run.trip && ti.service_date == v.run.service_date) ? -inf_.keep_bonus : 0.0;
    for (const PolylinePoint& c : *cands) {
      if (at_fork && (ShapeMatcher::Excess(poly, c.segment, c.offset_m) >
                          0.5 * opt_.matching.off_route_m ||
                      !FollowedPath(v, poly, c.dist_along_m, obs.t)))
        continue;
      double cost = PlaceCost(v, obs, ti, pat, c, use_move, standing_s);
      if (cost == kInfCost) continue;
      cost += claim_cost + cont;
      if (cost < best_cost) {
        best_cost = cost;
        best = &ti;
      }
    }
  }
  for (uint32_t pat : cand_patterns_) cand_slot_[pat] = -1;
  cand_patterns_.clear();
  if (!best) return false;  // a tentative trip is kept
  const TripInstance chosen = *best;  // `around` is not used past here
  best = &chosen;
  if (best->trip == v.run.trip && best->service_date == v.run.service_date) return false;
  auto held = claims_.find(ClaimKey(best->trip, best->service_date));
  if (held != claims_.end() && held->second != &v && !held->second->run.given() &&
      !held->second->run.confirmed() &&
      !(v.infer.lost_trip == best->trip && v.infer.lost_date == best->service_date)) {
    // Taken from a bus holding it by inference, not confirmed: that bus looks again at its
    // next fix (and may keep it too, but does not take it back: the two would take it from
    // each other on every fix).
    Evict(*held->second, best->trip, best->service_date);
  }
  // The departure seen from a first stop is evidence for every pattern leaving that stop: it
  // stays the joint assignment's evidence when the bus turns out to run another of them.
  const InferenceMemory seen = v.infer;
  const bool departed = DepartedFrom(v, net_.trip_pattern(best->trip));
  Assign(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start), false);
  if (departed) {
    v.infer.dep_pattern = v.run.pattern;
    v.infer.dep_t = seen.dep_t;
    v.infer.dep_ready = seen.dep_ready;
  }
  ++stats_->inferred_assignments;
  return true;
}

bool TripInference::WeaklyHeld(const Track& h) const {
  // An inferred, unconfirmed trip whose bus has been standing mid-route for a minute: the
  // trip more likely belongs to a bus actually running it (see Process: standing buses are
  // examined again).
  if (h.run.given() || h.run.confirmed() || h.run.trip == kNoIndex || std::isnan(h.vs.dist_along_m))
    return false;
  // Likewise a bus still waiting at the first stop of a trip that should have left minutes ago.
  if (!h.run.started() && static_cast<double>(h.fixes.pos_ts) > sched_.Dep(h, 0) + inf_.weak_late_s &&
      Dist(h.fixes.xy, h.run.start_xy) <= opt_.matching.layover_radius_m)
    return true;
  if (h.fixes.pos_ts - h.motion.still_since < inf_.weak_standing_s) return false;
  const std::vector<double>& sd = sched_.Pat(h).stop_dist_m;
  return !sd.empty() && MidRoute(sd, h.vs.dist_along_m);
}

PolylinePoint TripInference::TrailPointOn(const Polyline& poly, const MotionHistory& m, int i,
                                          double d, int64_t t) const {
  const double dt = static_cast<double>(t - m.trail_ts[i]);
  const double from =
      std::max(0.0, d - opt_.matching.max_speed_mps * dt - opt_.matching.reach_slack_m);
  return poly.Project(m.trail_xy[i], from, d + opt_.matching.back_tolerance_m);
}

bool TripInference::FollowedPath(const Track& v, const Polyline& poly, double d,
                                 int64_t t) const {
  const MotionHistory& m = v.motion;
  if (m.trail_n < inf_.fork_trail_positions) return false;
  double oldest_d = d;
  for (int i = 0; i < m.trail_n; ++i) {
    const PolylinePoint pp = TrailPointOn(poly, m, i, d, t);
    if (ShapeMatcher::Excess(poly, pp.segment, pp.offset_m) > opt_.matching.off_route_m)
      return false;
    oldest_d = std::min(oldest_d, pp.dist_along_m);
  }
  // ... over as long a run as confirms an inferred trip (a detour onto another route's street
  // for a few hundred metres does not make the bus that route's).
  return d - oldest_d >= inf_.infer_confirm_m;
}

double TripInference::TrailCost(const Track& v, const Polyline& poly, double d, int64_t t) const {
  const MotionHistory& m = v.motion;
  double cost = 0;
  for (int i = 0; i < m.trail_n; ++i) {
    const PolylinePoint pp = TrailPointOn(poly, m, i, d, t);
    if (pp.dist_along_m <= kTrailStartM) continue;  // came to the path's start from elsewhere
    // The offset in units of the path's uncertainty there (GPS noise and, for a path without
    // a shape, its slack): a km-long straight line between two stops is no evidence against a
    // bus a few hundred metres beside it, a traced shape is.
    const double z = pp.offset_m / (matcher_.DefaultSigma() + poly.slack_m(pp.segment));
    cost += std::min(0.5 * z * z, opt_.matching.emission_cap);
  }
  return inf_.trail_weight * cost;
}

double TripInference::PaceCost(const Track& v, const Polyline& poly, TripIdx trip, uint32_t pat,
                               int64_t day_start, double d, int64_t t) const {
  const MotionHistory& m = v.motion;
  if (m.trail_n == 0 || inf_.pace_weight <= 0) return 0;
  // Where the bus was on this path at its oldest trail position.
  const PolylinePoint pp = TrailPointOn(poly, m, 0, d, t);
  // Still at (or coming to) the first stop then: the wait there is no pace.
  if (pp.dist_along_m <= net_.pattern(pat).stop_dist_m[0] + inf_.mid_after_first_m) return 0;
  const double sched_dt =
      sched_.TimeAt(trip, pat, day_start, d) - sched_.TimeAt(trip, pat, day_start, pp.dist_along_m);
  // The delay the bus gained on this trip since then.
  const double gained = static_cast<double>(t - m.trail_ts[0]) - sched_dt;
  return inf_.pace_weight * DelayCost(gained);
}

double TripInference::PlaceCost(const Track& v, const FixObservation& obs,
                                const TripInstance& ti, uint32_t pat, const PolylinePoint& c,
                                bool use_move, double standing_s) const {
  const Pattern& P = net_.pattern(pat);
  const Polyline& poly = net_.polylines()[P.polyline];
  const int64_t ds = absl::ToUnixSeconds(ti.day_start);
  const double t = static_cast<double>(obs.t);
  double heading = use_move ? matcher_.DirCost(poly, c.segment, v.motion.move_dir)
                            : matcher_.HeadingCost(poly, c.segment, obs);
  double cost = matcher_.Emission(c.offset_m, obs.sigma) + heading +
                SchedCost(ti.trip, pat, ds, c.dist_along_m, t) +
                TrailCost(v, poly, c.dist_along_m, obs.t) +
                PaceCost(v, poly, ti.trip, pat, ds, c.dist_along_m, obs.t);
  // At the end of a trip a bus is rather waiting for its next one; one that has just
  // finished a trip here is not finishing another.
  if (c.dist_along_m >= P.stop_dist_m.back() - inf_.finished_zone_m &&
      v.infer.finished_at_ts > 0 &&
      Dist(obs.p, v.infer.finished_xy) < opt_.matching.layover_radius_m)
    return kInfCost;
  if (c.dist_along_m >= P.stop_dist_m.back() - inf_.near_end_m) cost += inf_.near_end_cost;
  // A bus stands at a mid-route stop for a minute or so, and a timepoint holds it only
  // until its scheduled time there; at its first stop it waits for its departure. So a bus
  // standing longer than that after the scheduled time is rather on a trip starting here.
  if (standing_s > 0 && MidRoute(P.stop_dist_m, c.dist_along_m)) {
    double over =
        std::min(standing_s, t - sched_.TimeAt(ti.trip, pat, ds, c.dist_along_m)) -
        inf_.stand_grace_s;
    if (over > 0) cost += over / inf_.stand_scale_s;
  }
  return cost;
}

}  // namespace smartbus
