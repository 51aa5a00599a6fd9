#include "services/core/tracking/tracker.h"

#include "services/core/tracking/track.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/time/civil_time.h"

namespace smartbus {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxCandidates = 24;

// Segment holding distance d, searched from a nearby segment (no binary search).
inline uint32_t SegmentNear(const std::vector<double>& cum, uint32_t hint, double d) {
  uint32_t last = static_cast<uint32_t>(cum.size()) - 2;
  uint32_t s = std::min(hint, last);
  while (s > 0 && cum[s] > d) --s;
  while (s < last && cum[s + 1] <= d) ++s;
  return s;
}

// Point at distance d on segment s.
inline Vec2 PointOnSegment(const Polyline& poly, uint32_t s, double d) {
  const std::vector<double>& cum = poly.cum_m();
  const std::vector<Vec2>& pts = poly.points();
  double len = cum[s + 1] - cum[s];
  double u = len > 1e-12 ? std::clamp((d - cum[s]) / len, 0.0, 1.0) : 0.0;
  return pts[s] + (pts[s + 1] - pts[s]) * u;
}

inline double Dist2(Vec2 a, Vec2 b) {
  Vec2 d = a - b;
  return d.x * d.x + d.y * d.y;
}

struct Cand {
  double d;
  double off;
  uint32_t seg;
};

// Adds a candidate to a bounded set (when full, it replaces the farthest if nearer).
inline void AddCand(Cand* cands, int* nc, double d, double off, uint32_t seg) {
  if (*nc < kMaxCandidates) {
    cands[(*nc)++] = {d, off, seg};
    return;
  }
  int worst = 0;
  for (int i = 1; i < *nc; ++i)
    if (cands[i].off > cands[worst].off) worst = i;
  if (off < cands[worst].off) cands[worst] = {d, off, seg};
}

// Local minima of the distance from p to the shape over [wl, wh] (one per pass of the shape
// near p) within radius_m, added to cands; *min_off2 gets the smallest squared distance seen
// (a lower bound for far segments). Starts from segment `hint`. Allocates nothing.
void ScanWindow(const Polyline& poly, Vec2 p, double wl, double wh, uint32_t hint,
                double radius_m, Cand* cands, int* nc, double* min_off2) {
  const std::vector<Vec2>& pts = poly.points();
  const std::vector<double>& cum = poly.cum_m();
  if (pts.size() < 2) return;
  const double r2 = radius_m * radius_m;
  uint32_t s0 = SegmentNear(cum, hint, wl);
  uint32_t s1 = SegmentNear(cum, s0, wh);
  double prev_off2 = kInf;
  Cand pending{0, kInf, 0};
  bool descending = true;
  for (uint32_t s = s0; s <= s1; ++s) {
    Vec2 a = pts[s];
    double seg_len = cum[s + 1] - cum[s];
    double da2 = Dist2(p, a);
    double reach_m = radius_m + seg_len + 1;
    if (da2 > reach_m * reach_m) {
      // Every point of the shape less than (|p - a| - radius) further along is beyond the
      // radius (distance along >= straight distance): skip those segments.
      double da = std::sqrt(da2);
      double lb = da - seg_len - 1;
      if (lb * lb < *min_off2) *min_off2 = lb * lb;
      if (descending && pending.off <= r2) AddCand(cands, nc, pending.d, std::sqrt(pending.off), pending.seg);
      descending = false;
      prev_off2 = kInf;
      pending.off = kInf;
      double target = cum[s] + (da - radius_m - 1);
      if (target > cum[s + 1] && s + 1 <= s1) {
        // Last segment starting at or before target (at least s).
        uint32_t next = static_cast<uint32_t>(
            std::upper_bound(cum.begin() + s + 1, cum.begin() + s1 + 1, target) - cum.begin() - 1);
        if (next > s) {
          s = next - 1;  // the loop's ++s lands on `next`
          continue;
        }
      }
      continue;
    }
    Vec2 ab = pts[s + 1] - a;
    double len2 = Dot(ab, ab);
    double u = len2 > 1e-12 ? std::clamp(Dot(p - a, ab) / len2, 0.0, 1.0) : 0.0;
    double d = cum[s] + u * seg_len;
    if (d < wl || d > wh) {
      d = std::clamp(d, wl, wh);
      u = seg_len > 1e-9 ? std::clamp((d - cum[s]) / seg_len, 0.0, 1.0) : 0.0;
    }
    double off2 = Dist2(p, a + ab * u);
    if (off2 < *min_off2) *min_off2 = off2;
    if (off2 <= prev_off2) {
      pending = {d, off2, s};
      descending = true;
    } else if (descending) {
      if (pending.off <= r2) AddCand(cands, nc, pending.d, std::sqrt(pending.off), pending.seg);
      descending = false;
    }
    prev_off2 = off2;
  }
  if (descending && pending.off <= r2) AddCand(cands, nc, pending.d, std::sqrt(pending.off), pending.seg);
}

uint64_t ClaimKey(uint32_t trip, int32_t date) {
  return (static_cast<uint64_t>(trip) << 32) | static_cast<uint32_t>(date);
}

}  // namespace

class Tracker::Impl {
 public:
  Impl(Tracker& tr) : tr_(tr), net_(*tr.net_), opt_(tr.opt_) {}

  const VehicleState* Process(const Fix& fix, int64_t now_s, MatchResult* m,
                              std::vector<StopVisit>* visits);

 private:
  // Farther than mid_after_first_m past the first stop and more than mid_before_last_m before
  // the last one (sd: the pattern's stop distances, not empty).
  bool MidRoute(const std::vector<double>& sd, double d) const {
    return d > sd[0] + opt_.inference.mid_after_first_m &&
           d < sd.back() - opt_.inference.mid_before_last_m;
  }

  // --- Schedule helpers ---
  const Pattern& Pat(const Track& v) const { return net_.pattern(v.run.pattern); }
  const GtfsStopTime& StopTime(const Track& v, uint32_t k) const {
    return net_.feed().stop_times[net_.feed().trips[v.run.trip].first_stop_time + k];
  }
  double SchedArr(const Track& v, uint32_t k) const {
    return static_cast<double>(v.run.day_start_s + StopTime(v, k).arrival_s);
  }
  double SchedDep(const Track& v, uint32_t k) const {
    return static_cast<double>(v.run.day_start_s + StopTime(v, k).departure_s);
  }
  uint32_t NumStops(const Track& v) const {
    return static_cast<uint32_t>(Pat(v).stop_dist_m.size());
  }
  // Scheduled time at distance d along the trip (epoch s).
  double SchedTimeAt(const Track& v, double d) const;
  double SchedTimeAt(uint32_t trip, uint32_t pattern, int64_t day_start, double d) const;
  // How unlikely a bus at d at time t runs this trip instance (0 = on time).
  double SchedCost(uint32_t trip, uint32_t pattern, int64_t day_start, double d, double t) const;
  void Retarget(Track& v, uint32_t trip, int32_t date, int64_t day_start);
  void SolvePattern(uint32_t pattern, int64_t t);
  // Returns true when the bus moved to a trip of another pattern (same first stop; the
  // remembered distances were moved to the new shape).
  bool RedecideAtDeparture(Track& v, double t_dep);
  // Moves v to trip (of another pattern whose shape, from the first stop, it is on): the
  // distances it remembers before its start are shifted by shift_m.
  void SwitchPattern(Track& v, uint32_t trip, int32_t date, int64_t day_start, double shift_m);

  // --- Assignment ---
  void Assign(Track& v, uint32_t trip, int32_t date, int64_t day_start, bool from_fix);
  void Unassign(Track& v);
  bool InstanceFor(uint32_t trip, int64_t t, int32_t* date, int64_t* day_start) const;
  void Infer(Track& v, Vec2 p, const Fix& fix);
  bool WeaklyHeld(const Track& h) const;
  // Another bus took h's trip (trip, date): h looks again at its next fix, and does not take
  // that trip back the same way.
  static void Evict(Track& h, uint32_t trip, int32_t date) {
    h.infer.evicted = true;
    h.infer.lost_trip = trip;
    h.infer.lost_date = date;
  }
  // An inferred, unconfirmed bus mid-route that has not moved since it was given its trip
  // (nothing but the place says it runs it).
  bool StandingSinceAssigned(const Track& h) const {
    return WeaklyHeld(h) && h.motion.still_since <= h.run.assigned_ts;
  }

  // --- Matching ---
  double Emission(double off, double sigma) const {
    double z = off / sigma;
    return std::min(0.5 * z * z, opt_.matching.emission_cap) + opt_.matching.emission_per_m * off;
  }
  double HeadingCost(const Polyline& poly, uint32_t seg, const Fix& fix) const;
  // The same cost for a direction of travel u (unit vector).
  double DirCost(const Polyline& poly, uint32_t seg, Vec2 u) const;
  // Hypotheses from scratch over [from_m, to_m] of the shape (default: all of it).
  void InitHyps(Track& v, Vec2 p, const Fix& fix, double sigma, double from_m = 0,
                double to_m = kInf);
  // One HMM step into out[]; returns the number of hypotheses (0 = no feasible candidate).
  int Step(const Track& v, Vec2 p, const Fix& fix, double sigma, double g, Hyp* out,
           double* min_off) const;

  // --- Progress / visits ---
  void Advance(Track& v, double t0, double d0, double t1, double d1, std::vector<StopVisit>* out);
  void EmitVisit(Track& v, uint32_t k, double arr, double dep, std::vector<StopVisit>* out);
  void Progress(Track& v, double t, double d, const Fix& fix, std::vector<StopVisit>* out);
  void StartTrip(Track& v, const Fix& fix, std::vector<StopVisit>* out);

  Tracker& tr_;
  const Network& net_;
  const TrackerOptions& opt_;
  const Fix* fix_ = nullptr;
  mutable const Fix* heading_fix_ = nullptr;
  mutable Vec2 heading_;
};

double Tracker::Impl::SchedTimeAt(const Track& v, double d) const {
  return SchedTimeAt(v.run.trip, v.run.pattern, v.run.day_start_s, d);
}

double Tracker::Impl::SchedTimeAt(uint32_t trip, uint32_t pattern, int64_t day_start,
                                  double d) const {
  const std::vector<double>& sd = net_.pattern(pattern).stop_dist_m;
  const GtfsStopTime* st = &net_.feed().stop_times[net_.feed().trips[trip].first_stop_time];
  double ds = static_cast<double>(day_start);
  uint32_t n = static_cast<uint32_t>(sd.size());
  if (n == 0) return ds;
  if (d <= sd[0]) return ds + st[0].departure_s;
  if (d >= sd[n - 1]) return ds + st[n - 1].arrival_s;
  uint32_t k = static_cast<uint32_t>(std::upper_bound(sd.begin(), sd.end(), d) - sd.begin()) - 1;
  double a = ds + st[k].departure_s, b = ds + st[k + 1].arrival_s;
  double span = sd[k + 1] - sd[k];
  double f = span > 1e-6 ? (d - sd[k]) / span : 0;
  return a + f * (b - a);
}

double Tracker::Impl::SchedCost(uint32_t trip, uint32_t pattern, int64_t day_start, double d,
                                double t) const {
  const Pattern& P = net_.pattern(pattern);
  double start = SchedTimeAt(trip, pattern, day_start, -1);
  const InferenceOptions& o = opt_.inference;
  if (d <= P.stop_dist_m[0] + o.mid_after_first_m && t < start)
    return (start - t) / o.wait_scale_s;  // waiting to leave
  double delay = t - SchedTimeAt(trip, pattern, day_start, d);
  return delay >= 0 ? delay / o.late_scale_s : -delay / o.early_scale_s;
}

void Tracker::Impl::Retarget(Track& v, uint32_t trip, int32_t date, int64_t day_start) {
  auto it = tr_.claims_.find(ClaimKey(v.run.trip, v.run.service_date));
  if (it != tr_.claims_.end() && it->second == &v) tr_.claims_.erase(it);
  v.run.trip = trip;
  v.run.service_date = date;
  v.run.day_start_s = day_start;
  v.vs.trip = trip;
  v.vs.route = net_.feed().trips[trip].route;
  v.vs.service_date = date;
  v.vs.day_start_s = day_start;
  v.run.stable_since = v.fixes.pos_ts;
  tr_.claims_[ClaimKey(trip, date)] = &v;
}

bool Tracker::Impl::RedecideAtDeparture(Track& v, double t_dep) {
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(static_cast<int64_t>(t_dep)),
                       absl::Seconds(opt_.inference.redecide_around_before_s),
                       absl::Seconds(opt_.inference.redecide_around_after_s));
  // The trips of the bus's pattern, and of the patterns that start at the same stop and whose
  // shape the bus has followed so far (a route sharing the first streets, e.g. an express
  // leaving the same terminal): they are not told apart by the geometry yet, but by the time
  // the bus leaves.
  const Pattern& own = Pat(v);
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
          v.fixes.xy, first, first + run_m + opt_.inference.redecide_search_slack_m);
      ok = pp.offset_m <= 0.5 * opt_.matching.off_route_m &&
           std::fabs(pp.dist_along_m - first - run_m) <= opt_.inference.depart_run_match_m;
      shift = first - own_first;
    }
    pats.push_back({pat, ok, shift});
    *shift_m = shift;
    return ok;
  };
  double best_cost = kInf;
  const TripInstance* best = nullptr;
  double best_shift = 0;
  for (const TripInstance& ti : around) {
    uint32_t pat = net_.trip_pattern(ti.trip);
    double shift = 0;
    if (!pattern_ok(pat, &shift)) continue;
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    double sched = SchedTimeAt(ti.trip, pat, ds, -1);
    if (sched < t_dep - opt_.inference.depart_window_before_s ||
        sched > t_dep + opt_.inference.depart_window_after_s)
      continue;
    auto it = tr_.claims_.find(ClaimKey(ti.trip, ti.service_date));
    const Track* holder = it == tr_.claims_.end() ? nullptr : it->second;
    if (holder && holder != &v && (holder->run.started() || holder->run.given())) continue;
    double cost = t_dep >= sched ? (t_dep - sched) / opt_.inference.depart_late_scale_s
                                 : (sched - t_dep) / opt_.inference.depart_early_scale_s;
    if (ti.trip == v.run.trip && ti.service_date == v.run.service_date)
      cost -= opt_.inference.keep_bonus;
    if (cost < best_cost) {
      best_cost = cost;
      best = &ti;
      best_shift = shift;
    }
  }
  if (!best || (best->trip == v.run.trip && best->service_date == v.run.service_date)) return false;
  uint32_t old_trip = v.run.trip;
  uint32_t old_pattern = v.run.pattern;
  int32_t old_date = v.run.service_date;
  int64_t old_ds = v.run.day_start_s;
  auto it = tr_.claims_.find(ClaimKey(best->trip, best->service_date));
  Track* other = nullptr;
  if (it != tr_.claims_.end() && it->second != &v) other = it->second;
  uint32_t new_pattern = net_.trip_pattern(best->trip);
  if (new_pattern == v.run.pattern) {
    Retarget(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start));
  } else {
    SwitchPattern(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start),
                  best_shift);
  }
  ++tr_.stats_.retargets;
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

void Tracker::Impl::SwitchPattern(Track& v, uint32_t trip, int32_t date, int64_t day_start,
                                  double shift_m) {
  Retarget(v, trip, date, day_start);
  v.run.pattern = net_.trip_pattern(trip);
  v.run.poly = &net_.trip_polyline(trip);
  const std::vector<double>& sd = Pat(v).stop_dist_m;
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
void Tracker::Impl::SolvePattern(uint32_t pat, int64_t t) {
  auto ls = tr_.last_solve_.find(pat);
  if (ls != tr_.last_solve_.end() && t - ls->second < opt_.inference.solve_interval_s) return;
  tr_.last_solve_[pat] = t;
  struct V {
    Track* tr;
    double d;
    double t;
  };
  std::vector<V> vs;
  for (auto& [id, tp] : tr_.vehicles_) {
    Track& o = *tp;
    if (o.run.pattern != pat || o.run.given() || o.run.confirmed() || o.run.trip == kNoIndex) continue;
    if (std::isnan(o.vs.dist_along_m) || o.vs.state == MatchState::kOffRoute) continue;
    // Buses waiting at a terminal or about to end are not ordered by position, nor a bus
    // standing mid-route (maybe waiting for a trip that starts there).
    if (!o.run.started() || o.run.finished() || StandingSinceAssigned(o)) continue;
    const std::vector<double>& sd = net_.pattern(pat).stop_dist_m;
    if (o.vs.dist_along_m >= sd.back() - opt_.inference.mid_before_last_m) continue;
    if (t - o.vs.timestamp_s > opt_.inference.solve_max_age_s) continue;
    vs.push_back({&o, o.vs.dist_along_m, static_cast<double>(o.vs.timestamp_s)});
  }
  if (vs.empty()) return;
  std::sort(vs.begin(), vs.end(), [](const V& a, const V& b) { return a.d > b.d; });
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(t), absl::Seconds(opt_.inference.infer_early_s),
                       absl::Seconds(opt_.inference.infer_late_s));
  struct T {
    uint32_t trip;
    int32_t date;
    int64_t day_start;
    double start;
  };
  std::vector<T> ts;
  for (const TripInstance& ti : around) {
    if (net_.trip_pattern(ti.trip) != pat) continue;
    auto it = tr_.claims_.find(ClaimKey(ti.trip, ti.service_date));
    if (it != tr_.claims_.end()) {
      const Track* holder = it->second;
      bool in_set = false;
      for (const V& x : vs) in_set |= x.tr == holder;
      if (!in_set && !StandingSinceAssigned(*holder)) continue;
    }
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    ts.push_back({ti.trip, ti.service_date, ds, SchedTimeAt(ti.trip, pat, ds, -1)});
  }
  if (ts.empty()) return;
  std::sort(ts.begin(), ts.end(), [](const T& a, const T& b) { return a.start < b.start; });
  const size_t nv = vs.size(), nt = ts.size();
  const double kSkip = opt_.inference.solve_skip_cost;  // a vehicle left on its current trip
  std::vector<double> f((nv + 1) * (nt + 1), kInf);
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
        double c = SchedCost(y.trip, pat, y.day_start, x.d, x.t);
        if (y.trip == x.tr->run.trip && y.date == x.tr->run.service_date)
          c -= opt_.inference.solve_keep_bonus;
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
    auto it = tr_.claims_.find(ClaimKey(o.run.trip, o.run.service_date));
    if (it != tr_.claims_.end() && it->second == &o) tr_.claims_.erase(it);
  }
  for (size_t k = 0; k < nv; ++k) {
    if (pick[k] < 0) continue;
    const T& y = ts[pick[k]];
    Track& o = *vs[k].tr;
    if (y.trip == o.run.trip && y.date == o.run.service_date) continue;
    auto held = tr_.claims_.find(ClaimKey(y.trip, y.date));
    if (held != tr_.claims_.end() && held->second != &o) {
      bool in_set = false;
      for (const V& x : vs) in_set |= x.tr == held->second;
      if (!in_set) {
        // Taken from a bus standing mid-route: it looks again at its next fix.
        Evict(*held->second, y.trip, y.date);
      }
    }
    Retarget(o, y.trip, y.date, y.day_start);
    ++tr_.stats_.retargets;
  }
}

bool Tracker::Impl::InstanceFor(uint32_t trip, int64_t t, int32_t* date,
                                int64_t* day_start) const {
  // The instance whose first departure is nearest t, among those scheduled to run within 4 h
  // of t (one trip's few candidate dates, not every trip around t: this runs whenever a bus
  // names a trip other than the one it is on, e.g. every fix while it still names the trip it
  // just finished).
  const int64_t kWindowS = opt_.inference.instance_window_s;
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

void Tracker::Impl::Unassign(Track& v) {
  if (v.run.trip != kNoIndex) {
    auto it = tr_.claims_.find(ClaimKey(v.run.trip, v.run.service_date));
    if (it != tr_.claims_.end() && it->second == &v) tr_.claims_.erase(it);
  }
  v.run.trip = kNoIndex;
  v.run.pattern = kNoIndex;
  v.run.poly = nullptr;
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

void Tracker::Impl::Assign(Track& v, uint32_t trip, int32_t date, int64_t day_start,
                           bool from_fix) {
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
  v.run.source = from_fix ? TripSource::kGiven : TripSource::kInferred;
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
  tr_.claims_[ClaimKey(trip, date)] = &v;
}

double Tracker::Impl::HeadingCost(const Polyline& poly, uint32_t seg, const Fix& fix) const {
  if (!(fix.speed_mps >= opt_.matching.heading_min_speed_mps) || std::isnan(fix.bearing_deg)) return 0;
  // Unit vector of the reported bearing (clockwise from north: x east = sin, y north = cos),
  // computed once per fix.
  if (fix_ != heading_fix_) {
    double b = fix.bearing_deg * (M_PI / 180.0);
    heading_ = {std::sin(b), std::cos(b)};
    heading_fix_ = fix_;
  }
  return DirCost(poly, seg, heading_);
}

double Tracker::Impl::DirCost(const Polyline& poly, uint32_t seg, Vec2 u) const {
  const std::vector<Vec2>& pts = poly.points();
  if (seg + 1 >= pts.size()) return 0;
  Vec2 dir = pts[seg + 1] - pts[seg];
  double n = Norm(dir);
  if (n < 1e-6) {
    dir = poly.DirectionAt(poly.cum_m()[seg]);
    n = 1;
  }
  // (1 - cos)^2 * 2.25: 0 when aligned, ~0.6 at 60 deg, 2.25 at 90 deg, 9 when opposite.
  double c = 1.0 - Dot(dir, u) / n;
  return opt_.matching.heading_weight * c * c;
}

void Tracker::Impl::InitHyps(Track& v, Vec2 p, const Fix& fix, double sigma, double from_m,
                             double to_m) {
  v.match.n_hyps = 0;
  const Polyline& poly = *v.run.poly;
  Cand found[kMaxCandidates];
  int nfound = 0;
  double min_off2 = kInf;
  // Candidates farther than off_route_m would not be kept.
  ScanWindow(poly, p, from_m, std::min(to_m, poly.length_m()), 0,
             std::min(opt_.matching.candidate_radius_m, opt_.matching.off_route_m), found, &nfound, &min_off2);
  if (nfound == 0) return;
  // Weak prior: where the schedule says the bus should be.
  double t = static_cast<double>(fix.timestamp_s);
  const Pattern& pat = Pat(v);
  double d_exp = pat.stop_dist_m.empty() ? 0 : pat.stop_dist_m[0];
  uint32_t n = NumStops(v);
  if (n >= 2 && t > SchedDep(v, 0)) {
    d_exp = pat.stop_dist_m[n - 1];
    for (uint32_t k = 0; k + 1 < n; ++k) {
      if (t < SchedArr(v, k + 1)) {
        double a = SchedDep(v, k), b = SchedArr(v, k + 1);
        double f = b > a ? std::clamp((t - a) / (b - a), 0.0, 1.0) : 0;
        d_exp = pat.stop_dist_m[k] + f * (pat.stop_dist_m[k + 1] - pat.stop_dist_m[k]);
        break;
      }
    }
  }
  Hyp tmp[kMaxCandidates];
  int nt = 0;
  for (int i = 0; i < nfound; ++i) {
    const Cand& c = found[i];
    Hyp h;
    h.d = c.d;
    h.off = c.off;
    h.seg = c.seg;
    h.v = 0;
    h.cost = Emission(c.off, sigma) + HeadingCost(poly, c.seg, fix) +
             std::fabs(c.d - d_exp) / opt_.matching.schedule_prior_m;
    tmp[nt++] = h;
  }
  std::sort(tmp, tmp + nt, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = std::min(nt, std::min(opt_.matching.max_hypotheses, kMaxHypotheses));
  double base = tmp[0].cost;
  for (int i = 0; i < k; ++i) {
    v.match.hyps[i] = tmp[i];
    v.match.hyps[i].cost -= base;
  }
  v.match.n_hyps = k;
  v.match.hyps_ts = fix.timestamp_s;
}

int Tracker::Impl::Step(const Track& v, Vec2 p, const Fix& fix, double sigma, double g,
                        Hyp* out, double* min_off) const {
  const Polyline& poly = *v.run.poly;
  const std::vector<Vec2>& pts = poly.points();
  const std::vector<double>& cum = poly.cum_m();
  double L = poly.length_m();
  double dt = std::max<double>(1.0, static_cast<double>(fix.timestamp_s - v.match.hyps_ts));
  double lo = kInf, hi = -kInf;
  for (int i = 0; i < v.match.n_hyps; ++i) {
    lo = std::min(lo, v.match.hyps[i].d);
    hi = std::max(hi, v.match.hyps[i].d);
  }
  double reach = opt_.matching.max_speed_mps * dt + opt_.matching.reach_slack_m;
  lo = v.run.started() ? std::max(0.0, lo - opt_.matching.back_tolerance_m) : 0.0;
  hi = std::min(L, hi + reach);
  if (hi < lo) hi = lo;

  const std::vector<double>& sd = net_.pattern(v.run.pattern).stop_dist_m;
  const double first_d = sd.empty() ? 0 : sd[0];
  Cand cands[kMaxCandidates];
  int nc = 0;
  auto add = [&](double d, double off, uint32_t seg) { AddCand(cands, &nc, d, off, seg); };
  // Local minima of the offset over the segments each hypothesis can reach (the windows of
  // hypotheses on different passes are scanned separately, not the stretch between them).
  *min_off = kInf;
  if (pts.size() >= 2) {
    double wlo[kMaxHypotheses], whi[kMaxHypotheses];
    uint32_t whint[kMaxHypotheses];
    int nw = 0;
    {
      Hyp hs[kMaxHypotheses];
      for (int i = 0; i < v.match.n_hyps; ++i) hs[i] = v.match.hyps[i];
      for (int i = 1; i < v.match.n_hyps; ++i)  // insertion sort by d (at most kMaxHypotheses)
        for (int j = i; j > 0 && hs[j].d < hs[j - 1].d; --j) std::swap(hs[j], hs[j - 1]);
      for (int i = 0; i < v.match.n_hyps; ++i) {
        double a = v.run.started() ? std::max(lo, hs[i].d - opt_.matching.back_tolerance_m) : lo;
        // A bus speeds up by at most ~12 m/s over its current speed between two fixes.
        double vmax = std::min(opt_.matching.max_speed_mps, 2 * hs[i].v + opt_.matching.accel_slack_mps);
        double b = std::min(hi, hs[i].d + vmax * dt + opt_.matching.reach_slack_m);
        if (nw > 0 && a <= whi[nw - 1]) {
          whi[nw - 1] = std::max(whi[nw - 1], b);
        } else {
          wlo[nw] = a;
          whi[nw] = std::max(a, b);
          whint[nw] = hs[i].seg;
          ++nw;
        }
      }
    }
    double min_off2 = kInf;
    for (int w = 0; w < nw; ++w)
      ScanWindow(poly, p, wlo[w], whi[w], whint[w], opt_.matching.candidate_radius_m, cands, &nc, &min_off2);
    *min_off = std::sqrt(min_off2);
  }
  // Each hypothesis carried on at its own speed (explains an outlier fix).
  for (int i = 0; i < v.match.n_hyps; ++i) {
    double d = std::clamp(v.match.hyps[i].d + v.match.hyps[i].v * dt, lo, hi);
    uint32_t seg = SegmentNear(cum, v.match.hyps[i].seg, d);
    add(d, Dist(p, PointOnSegment(poly, seg, d)), seg);
  }

  Hyp next[kMaxCandidates];
  int nn = 0;
  for (int c = 0; c < nc; ++c) {
    double best = kInf, best_v = 0;
    for (int i = 0; i < v.match.n_hyps; ++i) {
      const Hyp& h = v.match.hyps[i];
      double delta = cands[c].d - h.d;
      if (v.run.started() && delta < -opt_.matching.back_tolerance_m) continue;
      if (delta > reach) continue;
      double tr = h.cost + std::fabs(std::fabs(delta) - g) / opt_.matching.transition_beta_m;
      if (tr < best) {
        best = tr;
        best_v = 0.5 * h.v + 0.5 * std::clamp(delta / dt, 0.0, opt_.matching.max_speed_mps);
      }
    }
    if (best == kInf) continue;
    Hyp h;
    h.d = cands[c].d;
    h.v = best_v;
    h.off = cands[c].off;
    h.seg = cands[c].seg;
    h.cost = best + Emission(cands[c].off, sigma) + HeadingCost(poly, cands[c].seg, fix);
    // Before its start a bus is near its first stop (a pre-trip move goes a few hundred metres).
    if (!v.run.started()) h.cost += std::max(0.0, cands[c].d - first_d) / opt_.matching.prestart_prior_m;
    next[nn++] = h;
  }
  if (nn == 0) return 0;
  std::sort(next, next + nn, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = 0;
  int kmax = std::min(opt_.matching.max_hypotheses, kMaxHypotheses);
  for (int i = 0; i < nn && k < kmax; ++i) {
    bool dup = false;
    for (int j = 0; j < k; ++j)
      if (std::fabs(out[j].d - next[i].d) < opt_.matching.merge_m) dup = true;
    if (!dup) out[k++] = next[i];
  }
  double base = out[0].cost;
  for (int i = 0; i < k; ++i) out[i].cost -= base;
  return k;
}

void Tracker::Impl::EmitVisit(Track& v, uint32_t k, double arr, double dep,
                              std::vector<StopVisit>* out) {
  StopVisit sv;
  sv.vehicle_id = v.vs.vehicle_id;
  sv.trip = v.run.trip;
  sv.route = net_.feed().trips[v.run.trip].route;
  sv.stop = Pat(v).stops[k];
  sv.stop_index = k;
  sv.stop_sequence = StopTime(v, k).stop_sequence;
  sv.service_date = v.run.service_date;
  sv.scheduled_arrival_s = static_cast<int64_t>(SchedArr(v, k));
  sv.scheduled_departure_s = static_cast<int64_t>(SchedDep(v, k));
  sv.arrival_s = arr;
  sv.departure_s = std::max(arr, dep);
  if (fix_) {
    sv.boardings = fix_->boardings;
    sv.alightings = fix_->alightings;
    sv.load = fix_->load;
    sv.occupancy = fix_->occupancy;
  }
  out->push_back(std::move(sv));
  ++tr_.stats_.stop_visits;
}

// Progress from (t0, d0) to (t1, d1), d1 >= d0: emits the visits it completes.
void Tracker::Impl::Advance(Track& v, double t0, double d0, double t1, double d1,
                            std::vector<StopVisit>* out) {
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  uint32_t n = static_cast<uint32_t>(sd.size());
  auto at = [&](double x) {
    if (x <= d0 || d1 <= d0) return t0;
    if (x >= d1) return t1;
    return t0 + (x - d0) / (d1 - d0) * (t1 - t0);
  };
  while (v.visit.next_stop < n) {
    uint32_t k = v.visit.next_stop;
    bool last = k + 1 == n;
    double x = sd[k];
    if (std::isnan(v.visit.pending_arrival)) {
      double xa = x - (last ? std::max(opt_.visits.arrival_radius_m, opt_.trip_end.end_radius_m)
                            : opt_.visits.arrival_radius_m);
      if (xa > d1) break;
      v.visit.pending_arrival = at(xa);
    }
    if (last) {
      EmitVisit(v, k, v.visit.pending_arrival, v.visit.pending_arrival, out);
      v.visit.pending_arrival = NAN;
      v.visit.next_stop = n;
      v.run.phase = TripPhase::kFinished;
      break;
    }
    double xd = x + opt_.visits.departure_radius_m;
    if (xd > d1) break;
    EmitVisit(v, k, v.visit.pending_arrival, at(xd), out);
    v.visit.pending_arrival = NAN;
    ++v.visit.next_stop;
  }
  v.vs.next_stop_index = v.visit.next_stop;
}

void Tracker::Impl::Progress(Track& v, double t, double d, const Fix& fix,
                             std::vector<StopVisit>* out) {
  (void)fix;
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  if (sd.empty()) return;
  if (v.run.started()) {
    if (v.run.finished()) return;
    if (d <= v.visit.mono_d + 1.0) {
      // No progress. Away from the next stop (a red light, traffic) the crossing times later are
      // interpolated from this latest fix; at the stop the bus has arrived already.
      if (v.visit.next_stop < sd.size() && std::isnan(v.visit.pending_arrival) &&
          sd[v.visit.next_stop] - v.visit.mono_d > opt_.visits.stop_zone_m)
        v.visit.mono_t = t;
      return;
    }
    {
      Advance(v, v.visit.mono_t, v.visit.mono_d, t, d, out);
      v.visit.mono_d = d;
      v.visit.mono_t = t;
      v.visit.stalled_since = fix.timestamp_s;
    }
    return;
  }
  // Not started: remember the monotone progress since the last time the bus went back.
  if (v.visit.ring.n == 0 || d < v.visit.ring.d[v.visit.ring.n - 1] - opt_.matching.back_tolerance_m) {
    v.visit.ring.n = 0;
    v.visit.ring.arrive_t = t;
  }
  if (v.visit.ring.n > 0 && d <= v.visit.ring.d[v.visit.ring.n - 1] + 1.0) {
    v.visit.ring.t[v.visit.ring.n - 1] = t;  // standing: the bus is still there now
  } else {
    if (v.visit.ring.n == kRingSize) {
      std::copy(v.visit.ring.t + 1, v.visit.ring.t + kRingSize, v.visit.ring.t);
      std::copy(v.visit.ring.d + 1, v.visit.ring.d + kRingSize, v.visit.ring.d);
      --v.visit.ring.n;
    }
    v.visit.ring.t[v.visit.ring.n] = t;
    v.visit.ring.d[v.visit.ring.n] = d;
    ++v.visit.ring.n;
  }
  // Parked away from the first stop for a while (a pre-trip layover spot): the stops behind
  // were passed before the trip, so the remembered progress restarts here.
  double back = v.visit.ring.d[v.visit.ring.n - 1];
  if (v.visit.ring.n == 1 || d > v.visit.progress_d + opt_.visits.parked_progress_m) {
    v.visit.progress_d = d;
    v.visit.progress_t = t;
  }
  if (v.visit.ring.n > 1 && back > sd[0] + opt_.visits.start_leave_m &&
      t - v.visit.progress_t > static_cast<double>(opt_.visits.parked_s)) {
    v.visit.ring.t[0] = t;
    v.visit.ring.d[0] = back;
    v.visit.ring.n = 1;
  }
  bool moving = !std::isnan(v.visit.last_d) && d >= v.visit.last_d + opt_.visits.moving_m;
  v.visit.last_d = d;
  double leave_m = std::min(opt_.visits.start_leave_m, opt_.visits.start_leave_fraction * (sd.back() - sd[0]));
  bool left_start = moving && back >= sd[0] + leave_m;
  bool time_ok = t >= SchedDep(v, 0) - static_cast<double>(opt_.visits.early_start_s);
  bool far = back >= sd[0] + opt_.visits.pretrip_zone_m;
  // Joined mid-route (first sight of the bus on this trip is well along it): started.
  bool joined = !v.visit.seen_on_trip && d >= sd[0] + opt_.visits.pretrip_zone_m;
  v.visit.seen_on_trip = true;
  if (!((left_start && (time_ok || far)) || joined)) return;
  if (!v.run.given() && !joined) {
    // An inferred trip leaving its first stop: the departure time says which trip it is.
    double t_dep = v.visit.ring.t[0];
    for (int i = 1; i < v.visit.ring.n; ++i) {
      double x = sd[0] + opt_.inference.depart_probe_m;
      if (v.visit.ring.d[i] >= x) {
        double d0 = v.visit.ring.d[i - 1], d1 = v.visit.ring.d[i];
        t_dep = d1 > d0 ? v.visit.ring.t[i - 1] + (std::max(x, d0) - d0) / (d1 - d0) *
                                               (v.visit.ring.t[i] - v.visit.ring.t[i - 1])
                        : v.visit.ring.t[i];
        break;
      }
    }
    RedecideAtDeparture(v, t_dep);
  }
  StartTrip(v, fix, out);
}

void Tracker::Impl::StartTrip(Track& v, const Fix& fix, std::vector<StopVisit>* out) {
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  const double front = v.visit.ring.d[0];
  v.run.phase = TripPhase::kRunning;
  ++tr_.stats_.trips_started;
  // Stops already behind the low point are not visited (the bus joined mid-route), except the
  // first stop when the bus waited at it.
  uint32_t n = static_cast<uint32_t>(sd.size());
  v.visit.next_stop = 0;
  if (front > sd[0] + std::max(opt_.visits.arrival_radius_m, opt_.visits.first_stop_zone_m)) {
    while (v.visit.next_stop < n && sd[v.visit.next_stop] - opt_.visits.arrival_radius_m <= front) ++v.visit.next_stop;
  }
  v.visit.pending_arrival = NAN;
  v.visit.mono_t = v.visit.ring.t[0];
  v.visit.mono_d = front;
  v.visit.start_d = front;
  if (v.visit.next_stop == 0) v.visit.pending_arrival = v.visit.ring.arrive_t;
  for (int i = 1; i < v.visit.ring.n; ++i) {
    Advance(v, v.visit.ring.t[i - 1], v.visit.ring.d[i - 1], v.visit.ring.t[i], v.visit.ring.d[i], out);
    v.visit.mono_t = v.visit.ring.t[i];
    v.visit.mono_d = v.visit.ring.d[i];
  }
  v.visit.ring.n = 0;
  v.visit.stalled_since = fix.timestamp_s;
}

void Tracker::Impl::Infer(Track& v, Vec2 p, const Fix& fix) {
  int64_t t = fix.timestamp_s;
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(t), absl::Seconds(opt_.inference.infer_early_s),
                       absl::Seconds(opt_.inference.infer_late_s));
  double sigma = std::isfinite(fix.accuracy_m) && fix.accuracy_m > 0
                     ? std::max<double>(fix.accuracy_m, opt_.matching.min_sigma_m) : opt_.matching.gps_sigma_m;
  const double standing_s = static_cast<double>(t - v.motion.still_since);
  // Too slow (or no bearing) for the reported heading to count: the direction of its recent
  // travel tells the two directions of a street apart.
  const bool use_move = !(fix.speed_mps >= opt_.matching.heading_min_speed_mps &&
                          !std::isnan(fix.bearing_deg)) &&
                        v.motion.has_move_dir && t - v.motion.move_ts <= opt_.inference.move_max_age_s;
  // Candidates per pattern, computed once.
  std::vector<std::pair<uint32_t, std::vector<PolylinePoint>>> per_pattern;
  double best_cost = kInf;
  const TripInstance* best = nullptr;
  for (const TripInstance& ti : around) {
    const GtfsTrip& trip = net_.feed().trips[ti.trip];
    if (v.infer.route_hint != kNoIndex && trip.route != v.infer.route_hint) continue;
    if (trip.num_stop_times < 2) continue;
    if (ti.trip == v.infer.done_trip && ti.service_date == v.infer.done_date) continue;  // just ran it
    uint32_t pat = net_.trip_pattern(ti.trip);
    const std::vector<PolylinePoint>* cands = nullptr;
    for (auto& [pp, c] : per_pattern)
      if (pp == pat) cands = &c;
    if (!cands) {
      per_pattern.emplace_back(pat, std::vector<PolylinePoint>());
      net_.polylines()[net_.pattern(pat).polyline].Candidates(p, opt_.matching.candidate_radius_m,
                                                              &per_pattern.back().second);
      cands = &per_pattern.back().second;
    }
    if (cands->empty()) continue;
    auto it = tr_.claims_.find(ClaimKey(ti.trip, ti.service_date));
    double claim_cost = 0;
    if (it != tr_.claims_.end() && it->second != &v)
      claim_cost = WeaklyHeld(*it->second) ? opt_.inference.claim_cost_weak
                                              : opt_.inference.claim_cost_strong;
    double cont = (ti.trip == v.run.trip && ti.service_date == v.run.service_date) ? -1.0 : 0.0;
    const Pattern& P = net_.pattern(pat);
    const Polyline& poly = net_.polylines()[P.polyline];
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    for (const PolylinePoint& c : *cands) {
      double heading = use_move ? DirCost(poly, c.segment, v.motion.move_dir)
                                : HeadingCost(poly, c.segment, fix);
      double cost = Emission(c.offset_m, sigma) + heading +
                    SchedCost(ti.trip, pat, ds, c.dist_along_m, static_cast<double>(t));
      // At the end of a trip a bus is rather waiting for its next one; one that has just
      // finished a trip here is not finishing another.
      if (c.dist_along_m >= P.stop_dist_m.back() - opt_.inference.finished_zone_m &&
          v.infer.finished_at_ts > 0 &&
          Dist(p, v.infer.finished_xy) < opt_.matching.layover_radius_m)
        continue;
      if (c.dist_along_m >= P.stop_dist_m.back() - opt_.inference.near_end_m)
        cost += opt_.inference.near_end_cost;
      // A bus stands at a mid-route stop for a minute or so, and a timepoint holds it only
      // until its scheduled time there; at its first stop it waits for its departure. So a bus
      // standing longer than that after the scheduled time is rather on a trip starting here.
      if (standing_s > 0 && MidRoute(P.stop_dist_m, c.dist_along_m)) {
        double over = std::min(standing_s, static_cast<double>(t) -
                                               SchedTimeAt(ti.trip, pat, ds, c.dist_along_m)) -
                      opt_.inference.stand_grace_s;
        if (over > 0) cost += over / opt_.inference.stand_scale_s;
      }
      cost += claim_cost + cont;
      if (cost < best_cost) {
        best_cost = cost;
        best = &ti;
      }
    }
  }
  if (!best) {
    if (v.run.trip != kNoIndex && !v.run.given()) return;  // keep the tentative trip
    return;
  }
  if (best->trip == v.run.trip && best->service_date == v.run.service_date) return;
  auto held = tr_.claims_.find(ClaimKey(best->trip, best->service_date));
  if (held != tr_.claims_.end() && held->second != &v && !held->second->run.given() &&
      !held->second->run.confirmed() &&
      !(v.infer.lost_trip == best->trip && v.infer.lost_date == best->service_date)) {
    // Taken from a bus holding it by inference, not confirmed: that bus looks again at its
    // next fix (and may keep it too, but does not take it back: the two would take it from
    // each other on every fix).
    Evict(*held->second, best->trip, best->service_date);
  }
  Assign(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start), false);
  ++tr_.stats_.inferred_assignments;
}

bool Tracker::Impl::WeaklyHeld(const Track& h) const {
  // An inferred, unconfirmed trip whose bus has been standing mid-route for a minute: the
  // trip more likely belongs to a bus actually running it (see Process: standing buses are
  // examined again).
  if (h.run.given() || h.run.confirmed() || h.run.trip == kNoIndex || std::isnan(h.vs.dist_along_m))
    return false;
  // Likewise a bus still waiting at the first stop of a trip that should have left minutes ago.
  if (!h.run.started() && static_cast<double>(h.fixes.pos_ts) > SchedDep(h, 0) + opt_.inference.weak_late_s &&
      Dist(h.fixes.xy, h.run.start_xy) <= opt_.matching.layover_radius_m)
    return true;
  if (h.fixes.pos_ts - h.motion.still_since < opt_.inference.weak_standing_s) return false;
  const std::vector<double>& sd = Pat(h).stop_dist_m;
  return !sd.empty() && MidRoute(sd, h.vs.dist_along_m);
}

const VehicleState* Tracker::Impl::Process(const Fix& fix, int64_t now_s, MatchResult* m,
                                           std::vector<StopVisit>* visits) {
  TrackerStats& st = tr_.stats_;
  ++st.fixes;
  fix_ = &fix;
  m->vehicle_id = fix.vehicle_id;
  m->timestamp_s = fix.timestamp_s;
  m->trip = kNoIndex;
  m->dist_along_m = NAN;
  m->offset_m = NAN;
  m->state = MatchState::kRejected;
  m->reason = RejectReason::kNone;
  auto reject = [&](RejectReason r) {
    m->state = MatchState::kRejected;
    m->reason = r;
    ++st.rejected[static_cast<int>(r)];
    ++st.by_state[static_cast<int>(MatchState::kRejected)];
  };
  if (fix.vehicle_id.empty()) {
    reject(RejectReason::kInvalidVehicleId);
    return nullptr;
  }
  auto it = tr_.vehicles_.find(fix.vehicle_id);
  Track* vp = it == tr_.vehicles_.end() ? nullptr : it->second.get();
  if (vp) m->trip = vp->run.trip;
  if (!IsValidLatLon(fix.lat, fix.lon)) {
    reject(RejectReason::kInvalidCoordinates);
    return vp ? &vp->vs : nullptr;
  }
  if (fix.timestamp_s > now_s + opt_.rejection.future_tolerance_s) {
    reject(RejectReason::kFutureTimestamp);
    return vp ? &vp->vs : nullptr;
  }
  if (!vp) {
    auto t = std::make_unique<Track>();
    t->vs.vehicle_id = fix.vehicle_id;
    vp = t.get();
    tr_.vehicles_.emplace(fix.vehicle_id, std::move(t));
  }
  Track& v = *vp;
  Vec2 p = net_.projection().Forward({fix.lat, fix.lon});
  if (fix.timestamp_s == v.fixes.newest_ts) {
    m->dist_along_m = v.vs.dist_along_m;
    m->offset_m = v.vs.offset_m;
    reject(RejectReason::kDuplicate);
    return &v.vs;
  }
  if (fix.timestamp_s < v.fixes.newest_ts) {
    // Late fix: projected near the current position for history; the state does not move.
    if (v.run.poly) {
      double d = std::isnan(v.vs.dist_along_m) ? 0 : v.vs.dist_along_m;
      PolylinePoint pp = v.run.poly->Project(p, d - opt_.rejection.late_fix_window_m,
                                             d + opt_.matching.back_tolerance_m);
      m->dist_along_m = pp.dist_along_m;
      m->offset_m = pp.offset_m;
    }
    reject(RejectReason::kOutOfOrder);
    return &v.vs;
  }
  // Implausible jump from the previous accepted position?
  bool reanchor = false;
  if (v.fixes.has_pos) {
    double dt = static_cast<double>(fix.timestamp_s - v.fixes.pos_ts);
    double g = Dist(p, v.fixes.xy);
    if (g > opt_.rejection.jump_speed_mps * dt + opt_.rejection.jump_slack_m) {
      if (v.fixes.jump_count > 0 &&
          Dist(p, v.fixes.jump_xy) <= opt_.rejection.jump_speed_mps * static_cast<double>(fix.timestamp_s - v.fixes.jump_ts) +
                                    opt_.rejection.jump_slack_m) {
        ++v.fixes.jump_count;
      } else {
        v.fixes.jump_count = 1;
      }
      v.fixes.jump_xy = p;
      v.fixes.jump_ts = fix.timestamp_s;
      if (v.fixes.jump_count < opt_.rejection.jump_reanchor_fixes) {
        if (v.run.poly) {
          m->dist_along_m = v.vs.dist_along_m;
          m->offset_m = v.vs.offset_m;
        }
        reject(RejectReason::kImplausibleJump);
        return &v.vs;
      }
      reanchor = true;
      ++st.reanchors;
    }
  }
  v.fixes.jump_count = 0;
  ++st.accepted;
  double g = v.fixes.has_pos ? Dist(p, v.fixes.xy) : 0;
  const bool first_pos = !v.fixes.has_pos;
  v.fixes.has_pos = true;
  v.fixes.xy = p;
  v.fixes.pos_ts = fix.timestamp_s;
  v.fixes.newest_ts = fix.timestamp_s;
  if (reanchor) v.match.n_hyps = 0;
  double sigma = std::isfinite(fix.accuracy_m) && fix.accuracy_m > 0
                     ? std::max<double>(fix.accuracy_m, opt_.matching.min_sigma_m) : opt_.matching.gps_sigma_m;

  // --- Trip assignment ---
  bool given = false;
  if (!fix.trip_id.empty()) {
    if (v.run.trip != kNoIndex && v.run.given() && net_.feed().trips[v.run.trip].id == fix.trip_id) {
      given = true;
    } else if (std::optional<uint32_t> trip = net_.FindTrip(fix.trip_id)) {
      int32_t date;
      int64_t day_start;
      InstanceFor(*trip, fix.timestamp_s, &date, &day_start);
      Assign(v, *trip, date, day_start, true);
      given = true;
    } else {
      ++st.unknown_trip_ids;
    }
  }
  if (given) v.motion.from_fix_seen = true;
  if (!given) {
    if (v.run.given()) Unassign(v);  // the bus stopped saying its trip: infer from here on
    // Where and since when it stands, and the direction of its recent travel (inference only:
    // a bus saying its trip does not need them).
    if (first_pos || reanchor || v.motion.from_fix_seen || Dist(p, v.motion.still_xy) > opt_.inference.still_m) {
      v.motion.still_xy = p;
      v.motion.still_since = fix.timestamp_s;
    }
    if (first_pos || reanchor || v.motion.from_fix_seen) {
      v.motion.move_xy = p;
      v.motion.has_move_dir = false;
    } else if (double moved = Dist(p, v.motion.move_xy); moved >= opt_.inference.move_m) {
      v.motion.move_dir = (p - v.motion.move_xy) * (1.0 / moved);
      v.motion.move_ts = fix.timestamp_s;
      v.motion.move_xy = p;
      v.motion.has_move_dir = true;
    }
    v.motion.from_fix_seen = false;
    v.infer.route_hint = kNoIndex;
    if (!fix.route_id.empty()) {
      if (std::optional<uint32_t> r = net_.FindRoute(fix.route_id)) v.infer.route_hint = *r;
    }
    if (v.run.trip != kNoIndex && v.run.started() && !v.run.finished() && v.visit.mono_d >= 0) {
      // Blank mode near the end of the trip: finished when it leaves the shape or stops making
      // progress for a while close to the last stop.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      // (Timepoint holds near the end are real: standing still only ends the trip right at
      // the last stop.)
      if (!sd.empty() && ((v.visit.mono_d >= sd.back() - opt_.trip_end.end_leave_zone_m && v.match.off_count >= 1) ||
                          (v.visit.mono_d >= sd.back() - opt_.trip_end.end_stall_zone_m &&
                           fix.timestamp_s - v.visit.stalled_since > opt_.trip_end.end_stall_s))) {
        v.run.phase = TripPhase::kFinished;
      }
    }
    if (v.run.trip != kNoIndex && v.run.finished()) {
      // Chain to the next trip of the block when this trip is known well: confirmed, or
      // followed over a good part of its length. Otherwise look again from the terminal.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      bool known = v.run.confirmed() || (!sd.empty() && !std::isnan(v.visit.mono_d) &&
                                   v.visit.mono_d - v.visit.start_d >=
                                       opt_.trip_end.chain_known_fraction * (sd.back() - sd[0]));
      std::optional<uint32_t> next = known ? net_.NextTripInBlock(v.run.trip) : std::nullopt;
      v.infer.done_trip = v.run.trip;
      v.infer.done_date = v.run.service_date;
      v.infer.finished_at_ts = fix.timestamp_s;
      v.infer.finished_xy = p;
      if (next) {
        int32_t date = v.run.service_date;
        int64_t day_start = v.run.day_start_s;
        Assign(v, *next, date, day_start, false);
        v.run.source = TripSource::kConfirmed;
        ++st.block_transitions;
      } else {
        Unassign(v);
      }
    }
    // Look again when unassigned, or when an unconfirmed trip has lost the bus (but a bus
    // waiting off the shape near its first stop is simply in layover).
    const int64_t t = fix.timestamp_s;
    if (v.match.off_count == 0) v.infer.off_since = t;
    bool lost = v.run.trip != kNoIndex && v.match.off_count >= opt_.matching.off_route_fixes &&
                (v.run.started() || Dist(p, v.run.start_xy) > opt_.matching.layover_radius_m);
    // A confirmed trip is kept through detours, but not when the bus has been away from its
    // shape for long: the confirmation was wrong (e.g. made on a street the bus's real route
    // shares with this one).
    bool lost_confirmed = lost && v.run.confirmed() && t - v.infer.off_since >= opt_.inference.infer_lost_s &&
                          t - v.infer.reinfer_ts >= opt_.inference.infer_recheck_s;
    // A bus standing mid-route well past its scheduled time there is rather waiting for a trip
    // that starts here (a terminal or hub shared with routes passing through): look again.
    bool standing = false;
    if (v.run.trip != kNoIndex && !v.run.confirmed() && !lost &&
        t - v.motion.still_since >= opt_.inference.infer_standing_s && t - v.infer.reinfer_ts >= opt_.inference.infer_recheck_s &&
        !std::isnan(v.vs.dist_along_m)) {
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      standing = !sd.empty() && MidRoute(sd, v.vs.dist_along_m);
    }
    // A bus matched further and further behind its progress is going the other way (the two
    // directions of a street, told apart only by motion when the bus is too slow for its
    // bearing to count): look again.
    bool backward = v.run.trip != kNoIndex && v.run.started() && !v.run.finished() && !std::isnan(v.visit.mono_d) &&
                    !std::isnan(v.vs.dist_along_m) &&
                    v.vs.dist_along_m < v.visit.mono_d - opt_.inference.backward_tolerances *
                                                          opt_.matching.back_tolerance_m &&
                    t - v.infer.reinfer_ts >= opt_.inference.infer_recheck_s;
    if (v.run.trip == kNoIndex || (lost && !v.run.confirmed()) || lost_confirmed || standing || backward ||
        v.infer.evicted) {
      v.infer.evicted = false;
      if (v.run.trip != kNoIndex) v.infer.reinfer_ts = t;
      Infer(v, p, fix);
    }
  }

  VehicleState& vs = v.vs;
  vs.timestamp_s = fix.timestamp_s;
  vs.pos = {fix.lat, fix.lon};
  vs.bearing_deg = fix.bearing_deg;
  vs.occupancy = fix.occupancy;
  vs.load = fix.load;
  if (v.run.trip == kNoIndex) {
    vs.state = MatchState::kUnassigned;
    vs.dist_along_m = NAN;
    vs.offset_m = NAN;
    vs.delay_s = NAN;
    vs.speed_mps = fix.speed_mps;
    m->trip = kNoIndex;
    m->state = MatchState::kUnassigned;
    ++st.by_state[static_cast<int>(MatchState::kUnassigned)];
    return &vs;
  }

  // --- Map-matching on the trip's shape ---
  const Polyline& poly = *v.run.poly;
  bool near_start = Dist(p, v.run.start_xy) <= opt_.matching.layover_radius_m;
  double d = NAN, off = NAN;
  bool on_route = false;  // this fix placed on the shape (hypotheses updated)
  auto commit = [&](const Hyp* h, int k) {
    std::copy(h, h + k, v.match.hyps);
    v.match.n_hyps = k;
    v.match.hyps_ts = fix.timestamp_s;
    d = v.match.hyps[0].d;
    off = v.match.hyps[0].off;
  };
  if (v.match.n_hyps == 0) {
    if (near_start && v.match.off_count > 0) {
      // Still waiting away from the shape near the first stop: look only around there.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      InitHyps(v, p, fix, sigma, 0, (sd.empty() ? 0 : sd[0]) + 2 * opt_.matching.layover_radius_m);
    } else {
      InitHyps(v, p, fix, sigma);
    }
    if (v.match.n_hyps > 0) {
      d = v.match.hyps[0].d;
      off = v.match.hyps[0].off;
      on_route = off <= opt_.matching.off_route_m;
      if (!on_route) v.match.n_hyps = 0;  // too far to trust: look again at the next fix
      v.match.off_count = on_route ? 0 : v.match.off_count + 1;
    } else {
      ++v.match.off_count;
    }
  } else {
    Hyp next[kMaxHypotheses];
    double min_off = kInf;
    int k = Step(v, p, fix, sigma, g, next, &min_off);
    bool far = k == 0 || next[0].off > opt_.matching.off_route_m;
    v.match.off_count = far ? v.match.off_count + 1 : 0;
    if (k > 0 && v.match.off_count < opt_.matching.off_route_fixes) {
      // On the shape, or a lone outlier (carried by the motion of the hypotheses).
      commit(next, k);
      on_route = !far;
    } else {
      off = k > 0 ? next[0].off : min_off;
      d = v.match.hyps[0].d;  // frozen where the bus left the shape
      if (v.match.off_count >= opt_.matching.off_route_fixes) {
        // Back on the shape outside the reachable window (behind, or a long way ahead)? Look
        // along the whole shape; a started trip only accepts a place ahead of its progress.
        Hyp keep[kMaxHypotheses];
        int nkeep = v.match.n_hyps;
        std::copy(v.match.hyps, v.match.hyps + nkeep, keep);
        InitHyps(v, p, fix, sigma);
        int w = 0;
        for (int i = 0; i < v.match.n_hyps; ++i) {
          bool ok = v.match.hyps[i].off <= opt_.matching.off_route_m &&
                    (!v.run.started() || std::isnan(v.visit.mono_d) ||
                     v.match.hyps[i].d >= v.visit.mono_d - opt_.matching.back_tolerance_m);
          if (ok) v.match.hyps[w++] = v.match.hyps[i];
        }
        if (w > 0) {
          double base = v.match.hyps[0].cost;
          for (int i = 0; i < w; ++i) v.match.hyps[i].cost -= base;
          v.match.n_hyps = w;
          v.match.off_count = 0;
          on_route = true;
          d = v.match.hyps[0].d;
          off = v.match.hyps[0].off;
        } else {
          std::copy(keep, keep + nkeep, v.match.hyps);
          v.match.n_hyps = nkeep;
        }
      }
    }
  }
  if (std::isnan(d)) {
    // No hypothesis: near the first stop, place it there; else keep the last known place.
    const std::vector<double>& sd = Pat(v).stop_dist_m;
    if (near_start) {
      PolylinePoint pp = poly.Project(p, 0, (sd.empty() ? 0 : sd[0]) + opt_.matching.layover_radius_m);
      d = pp.dist_along_m;
      off = pp.offset_m;
    } else if (!std::isnan(vs.dist_along_m) && vs.trip == v.run.trip) {
      d = vs.dist_along_m;
      off = Dist(p, poly.PointAt(d));
    } else {
      PolylinePoint pp = poly.Project(p);
      d = pp.dist_along_m;
      off = pp.offset_m;
    }
  }
  // Given trip_id clearly wrong?
  if (v.run.given() && off > opt_.inference.trip_mismatch_m && !near_start) {
    if (++v.given.mismatch_count >= opt_.inference.trip_mismatch_fixes && !v.given.mismatch_counted) {
      ++st.trip_id_mismatches;
      v.given.mismatch_counted = true;
    }
  } else {
    v.given.mismatch_count = 0;
  }

  MatchState state;
  bool off_now = v.match.off_count >= opt_.matching.off_route_fixes || (!on_route && v.match.n_hyps == 0);
  if (!v.run.started()) {
    state = (off_now && !near_start) ? MatchState::kOffRoute : MatchState::kLayover;
  } else {
    state = off_now ? MatchState::kOffRoute : MatchState::kInService;
  }
  if (on_route) {
    const uint32_t pattern_before = v.run.pattern;
    Progress(v, static_cast<double>(fix.timestamp_s), d, fix, visits);
    if (v.run.pattern != pattern_before && v.match.n_hyps > 0) d = v.match.hyps[0].d;  // now on another shape
  }
  if (v.run.started() && state == MatchState::kLayover) state = MatchState::kInService;

  vs.state = state;
  vs.dist_along_m = d;
  vs.offset_m = off;
  double hv = v.match.n_hyps > 0 ? v.match.hyps[0].v : NAN;
  vs.speed_mps = std::isnan(fix.speed_mps) ? static_cast<float>(hv) : fix.speed_mps;
  vs.next_stop_index = v.visit.next_stop;
  if (v.run.started() && !std::isnan(v.visit.mono_d)) {
    vs.delay_s = static_cast<double>(fix.timestamp_s) - SchedTimeAt(v, v.visit.mono_d);
  } else if (!v.run.started()) {
    double late = static_cast<double>(fix.timestamp_s) - SchedDep(v, 0);
    vs.delay_s = late > 0 ? late : 0;
  }
  if (!v.run.given() && !v.run.confirmed() && state != MatchState::kOffRoute) {
    uint32_t before = v.run.trip;
    SolvePattern(v.run.pattern, fix.timestamp_s);
    if (v.run.trip != before || !v.run.started()) v.run.stable_since = fix.timestamp_s;
    // Confirmed only once the bus has run a good way on the trip: a bus standing at a hub is
    // no evidence of the trip passing there.
    if (v.run.started() && fix.timestamp_s - v.run.stable_since >= opt_.inference.infer_confirm_s &&
        !std::isnan(v.visit.mono_d) && v.visit.mono_d - v.visit.start_d >= opt_.inference.infer_confirm_m)
      v.run.source = TripSource::kConfirmed;
  }
  m->trip = v.run.trip;
  m->dist_along_m = d;
  m->offset_m = off;
  m->state = state;
  ++st.by_state[static_cast<int>(state)];
  return &vs;
}

Tracker::Tracker(std::shared_ptr<const Network> network, const TrackerOptions& options)
    : net_(std::move(network)), opt_(options) {
  opt_.matching.max_hypotheses = std::clamp(opt_.matching.max_hypotheses, 1, kMaxHypotheses);
  scratch_points_.reserve(64);
}

Tracker::~Tracker() = default;

const VehicleState* Tracker::Process(const Fix& fix, int64_t now_s, MatchResult* match,
                                     std::vector<StopVisit>* visits) {
  Impl impl(*this);
  return impl.Process(fix, now_s, match, visits);
}

const VehicleState* Tracker::Vehicle(absl::string_view vehicle_id) const {
  auto it = vehicles_.find(vehicle_id);
  return it == vehicles_.end() ? nullptr : &it->second->vs;
}

const VehicleState& Tracker::StateOf(const Track& t) const { return t.vs; }

}  // namespace smartbus
