#include "services/core/tracking/tracker.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/time/civil_time.h"

namespace smartbus {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kRingSize = 48;
constexpr int kMaxCandidates = 24;
constexpr double kTransitionBetaM = 20;  // scale of | along - straight | in the transition cost
constexpr double kMergeM = 10;           // hypotheses closer than this are one
constexpr double kFirstStopZoneM = 50;   // a bus waiting this close to the first stop is at it
constexpr double kStillM = 25;           // a bus within this of where it stood is still there
constexpr double kMoveM = 40;            // travel that gives the direction of a slow bus

// Trivially constructible on purpose (arrays of them live on the stack per fix): every field
// is set where a Hyp is made.
struct Hyp {
  double d;       // distance along the shape, m
  double v;       // speed along the shape, m/s
  double cost;    // negative log-likelihood so far (normalized: best = 0)
  double off;     // offset of the fix that placed it, m
  uint32_t seg;   // segment of the shape holding d
};

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

struct Tracker::Track {
  VehicleState vs;
  int64_t newest_ts = std::numeric_limits<int64_t>::min();
  bool has_pos = false;
  Vec2 xy;
  int64_t pos_ts = 0;
  int jump_count = 0;
  Vec2 jump_xy;
  int64_t jump_ts = 0;

  // Assignment.
  uint32_t trip = kNoIndex;
  uint32_t pattern = kNoIndex;
  const Polyline* poly = nullptr;
  Vec2 start_xy;  // the trip's first stop on its shape
  int32_t service_date = 0;
  int64_t day_start_s = 0;
  bool from_fix = false;   // the trip came from the fix's trip_id
  bool confirmed = false;  // inferred trip no longer re-examined
  int infer_fixes = 0;
  bool started = false;
  bool finished = false;
  int mismatch_count = 0;
  bool mismatch_counted = false;
  uint32_t route_hint = kNoIndex;
  uint32_t done_trip = kNoIndex;  // the trip this vehicle last finished (not inferred again)
  int32_t done_date = 0;
  int64_t finished_at_ts = 0;  // when and where it finished that trip
  Vec2 finished_xy;
  // Where the bus has been standing (within kStillM) since when; raw positions, any trip.
  Vec2 still_xy;
  int64_t still_since = 0;
  int64_t reinfer_ts = 0;  // last re-examination of an inferred trip (standing or lost)
  int64_t off_since = 0;   // first fix of the current run of off-shape fixes
  bool evicted = false;    // another bus took its trip: infer again
  int64_t assigned_ts = 0;  // when the current trip was assigned (Assign)
  uint32_t lost_trip = kNoIndex;  // the trip so taken (it does not take it back the same way)
  int32_t lost_date = 0;
  // Direction of the last >= kMoveM of travel (raw positions), and when it was seen.
  Vec2 move_xy;
  Vec2 move_dir;
  int64_t move_ts = 0;
  bool has_move_dir = false;
  bool from_fix_seen = false;  // fixes with a trip_id came since (stand/move history stale)

  // HMM.
  Hyp hyps[kMaxHypotheses];
  int n_hyps = 0;
  int64_t hyps_ts = 0;
  int off_count = 0;
  int64_t stalled_since = 0;  // time of the last forward progress (blank-mode trip ends)

  // Progress and visits.
  double mono_d = NAN;
  double mono_t = 0;
  uint32_t next_stop = 0;
  double pending_arrival = NAN;
  double last_d = NAN;  // distance along at the previous matched fix (before the start)
  double progress_d = 0;  // last point of >20 m progress before the start, and its time
  double progress_t = 0;
  bool seen_on_trip = false;  // Progress() ran for this trip before
  double start_d = 0;         // where the trip was started (or joined)
  int64_t stable_since = 0;   // inferred trip unchanged since (epoch s)
  double ring_arrive_t = 0;  // when the bus reached the ring's first point
  double ring_t[kRingSize];
  double ring_d[kRingSize];
  int ring_n = 0;
};

class Tracker::Impl {
 public:
  Impl(Tracker& tr) : tr_(tr), net_(*tr.net_), opt_(tr.opt_) {}

  const VehicleState* Process(const Fix& fix, int64_t now_s, MatchResult* m,
                              std::vector<StopVisit>* visits);

 private:
  // --- Schedule helpers ---
  const Pattern& Pat(const Track& v) const { return net_.pattern(v.pattern); }
  const GtfsStopTime& StopTime(const Track& v, uint32_t k) const {
    return net_.feed().stop_times[net_.feed().trips[v.trip].first_stop_time + k];
  }
  double SchedArr(const Track& v, uint32_t k) const {
    return static_cast<double>(v.day_start_s + StopTime(v, k).arrival_s);
  }
  double SchedDep(const Track& v, uint32_t k) const {
    return static_cast<double>(v.day_start_s + StopTime(v, k).departure_s);
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
    h.evicted = true;
    h.lost_trip = trip;
    h.lost_date = date;
  }
  // An inferred, unconfirmed bus mid-route that has not moved since it was given its trip
  // (nothing but the place says it runs it).
  bool StandingSinceAssigned(const Track& h) const {
    return WeaklyHeld(h) && h.still_since <= h.assigned_ts;
  }

  // --- Matching ---
  double Emission(double off, double sigma) const {
    double z = off / sigma;
    return std::min(0.5 * z * z, 4.5) + 0.01 * off;
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
  return SchedTimeAt(v.trip, v.pattern, v.day_start_s, d);
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
  if (d <= P.stop_dist_m[0] + 200 && t < start) return (start - t) / 600.0;  // waiting to leave
  double delay = t - SchedTimeAt(trip, pattern, day_start, d);
  return delay >= 0 ? delay / 300.0 : -delay / 120.0;
}

void Tracker::Impl::Retarget(Track& v, uint32_t trip, int32_t date, int64_t day_start) {
  auto it = tr_.claims_.find(ClaimKey(v.trip, v.service_date));
  if (it != tr_.claims_.end() && it->second == &v) tr_.claims_.erase(it);
  v.trip = trip;
  v.service_date = date;
  v.day_start_s = day_start;
  v.vs.trip = trip;
  v.vs.route = net_.feed().trips[trip].route;
  v.vs.service_date = date;
  v.vs.day_start_s = day_start;
  v.stable_since = v.pos_ts;
  tr_.claims_[ClaimKey(trip, date)] = &v;
}

bool Tracker::Impl::RedecideAtDeparture(Track& v, double t_dep) {
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(static_cast<int64_t>(t_dep)), absl::Minutes(15),
                       absl::Hours(3));
  // The trips of the bus's pattern, and of the patterns that start at the same stop and whose
  // shape the bus has followed so far (a route sharing the first streets, e.g. an express
  // leaving the same terminal): they are not told apart by the geometry yet, but by the time
  // the bus leaves.
  const Pattern& own = Pat(v);
  const double own_first = own.stop_dist_m.empty() ? 0 : own.stop_dist_m[0];
  const double run_m = v.ring_n > 0 ? v.ring_d[v.ring_n - 1] - own_first : 0;
  struct PatOk {
    uint32_t pattern;
    bool ok;
    double shift_m;  // its first stop's distance minus ours
  };
  std::vector<PatOk> pats;
  auto pattern_ok = [&](uint32_t pat, double* shift_m) {
    if (pat == v.pattern) {
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
      PolylinePoint pp = net_.polylines()[P.polyline].Project(v.xy, first, first + run_m + 100);
      ok = pp.offset_m <= 0.5 * opt_.off_route_m &&
           std::fabs(pp.dist_along_m - first - run_m) <= 50;
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
    if (sched < t_dep - 1800 || sched > t_dep + 900) continue;
    auto it = tr_.claims_.find(ClaimKey(ti.trip, ti.service_date));
    const Track* holder = it == tr_.claims_.end() ? nullptr : it->second;
    if (holder && holder != &v && (holder->started || holder->from_fix)) continue;
    double cost = t_dep >= sched ? (t_dep - sched) / 300.0 : (sched - t_dep) / 60.0;
    if (ti.trip == v.trip && ti.service_date == v.service_date) cost -= 1.0;
    if (cost < best_cost) {
      best_cost = cost;
      best = &ti;
      best_shift = shift;
    }
  }
  if (!best || (best->trip == v.trip && best->service_date == v.service_date)) return false;
  uint32_t old_trip = v.trip;
  uint32_t old_pattern = v.pattern;
  int32_t old_date = v.service_date;
  int64_t old_ds = v.day_start_s;
  auto it = tr_.claims_.find(ClaimKey(best->trip, best->service_date));
  Track* other = nullptr;
  if (it != tr_.claims_.end() && it->second != &v) other = it->second;
  uint32_t new_pattern = net_.trip_pattern(best->trip);
  if (new_pattern == v.pattern) {
    Retarget(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start));
  } else {
    SwitchPattern(v, best->trip, best->service_date, absl::ToUnixSeconds(best->day_start),
                  best_shift);
  }
  ++tr_.stats_.retargets;
  if (other) {
    // The bus still waiting takes the trip this one was given.
    if (other->pattern == old_pattern) {
      Retarget(*other, old_trip, old_date, old_ds);
    } else if (!other->started) {
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
  v.pattern = net_.trip_pattern(trip);
  v.poly = &net_.trip_polyline(trip);
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  v.start_xy = v.poly->PointAt(sd.empty() ? 0 : sd[0]);
  for (int i = 0; i < v.ring_n; ++i) v.ring_d[i] += shift_m;
  v.progress_d += shift_m;
  v.last_d += shift_m;
  for (int i = 0; i < v.n_hyps; ++i) {
    v.hyps[i].d = std::clamp(v.hyps[i].d + shift_m, 0.0, v.poly->length_m());
    v.hyps[i].seg = SegmentNear(v.poly->cum_m(), 0, v.hyps[i].d);
  }
  v.next_stop = 0;
  v.vs.next_stop_index = 0;
}

// Joint assignment of the unconfirmed vehicles on one pattern: buses do not overtake, so the
// bus farthest along runs the earliest trip. Order-preserving assignment by dynamic programming
// over (vehicles by distance along, trips by departure), each pair costing its schedule
// deviation; trips held by other vehicles are left out.
void Tracker::Impl::SolvePattern(uint32_t pat, int64_t t) {
  auto ls = tr_.last_solve_.find(pat);
  if (ls != tr_.last_solve_.end() && t - ls->second < 20) return;
  tr_.last_solve_[pat] = t;
  struct V {
    Track* tr;
    double d;
    double t;
  };
  std::vector<V> vs;
  for (auto& [id, tp] : tr_.vehicles_) {
    Track& o = *tp;
    if (o.pattern != pat || o.from_fix || o.confirmed || o.trip == kNoIndex) continue;
    if (std::isnan(o.vs.dist_along_m) || o.vs.state == MatchState::kOffRoute) continue;
    // Buses waiting at a terminal or about to end are not ordered by position, nor a bus
    // standing mid-route (maybe waiting for a trip that starts there).
    if (!o.started || o.finished || StandingSinceAssigned(o)) continue;
    const std::vector<double>& sd = net_.pattern(pat).stop_dist_m;
    if (o.vs.dist_along_m >= sd.back() - 300) continue;
    if (t - o.vs.timestamp_s > 300) continue;
    vs.push_back({&o, o.vs.dist_along_m, static_cast<double>(o.vs.timestamp_s)});
  }
  if (vs.empty()) return;
  std::sort(vs.begin(), vs.end(), [](const V& a, const V& b) { return a.d > b.d; });
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(t), absl::Seconds(opt_.infer_early_s),
                       absl::Seconds(opt_.infer_late_s));
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
  const double kSkip = 8.0;  // a vehicle left on its current trip
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
        if (y.trip == x.tr->trip && y.date == x.tr->service_date) c -= 0.3;
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
    if (y.trip == o.trip && y.date == o.service_date) continue;
    auto it = tr_.claims_.find(ClaimKey(o.trip, o.service_date));
    if (it != tr_.claims_.end() && it->second == &o) tr_.claims_.erase(it);
  }
  for (size_t k = 0; k < nv; ++k) {
    if (pick[k] < 0) continue;
    const T& y = ts[pick[k]];
    Track& o = *vs[k].tr;
    if (y.trip == o.trip && y.date == o.service_date) continue;
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
  constexpr int64_t kWindowS = 4 * 3600;
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
  if (v.trip != kNoIndex) {
    auto it = tr_.claims_.find(ClaimKey(v.trip, v.service_date));
    if (it != tr_.claims_.end() && it->second == &v) tr_.claims_.erase(it);
  }
  v.trip = kNoIndex;
  v.pattern = kNoIndex;
  v.poly = nullptr;
  v.from_fix = false;
  v.confirmed = false;
  v.n_hyps = 0;
  v.started = false;
  v.finished = false;
  v.ring_n = 0;
  v.seen_on_trip = false;
  v.mono_d = NAN;
  v.last_d = NAN;
  v.pending_arrival = NAN;
  v.off_count = 0;
  v.vs.trip = kNoIndex;
  v.vs.route = kNoIndex;
  v.vs.service_date = 0;
  v.vs.day_start_s = 0;
}

void Tracker::Impl::Assign(Track& v, uint32_t trip, int32_t date, int64_t day_start,
                           bool from_fix) {
  Unassign(v);
  v.trip = trip;
  v.pattern = net_.trip_pattern(trip);
  v.poly = &net_.trip_polyline(trip);
  {
    const std::vector<double>& sd = net_.pattern(v.pattern).stop_dist_m;
    v.start_xy = v.poly->PointAt(sd.empty() ? 0 : sd[0]);
  }
  v.service_date = date;
  v.day_start_s = day_start;
  v.from_fix = from_fix;
  v.infer_fixes = 0;
  v.mismatch_count = 0;
  v.mismatch_counted = false;
  v.next_stop = 0;
  v.stalled_since = v.pos_ts;
  v.stable_since = v.pos_ts;
  v.assigned_ts = v.pos_ts;
  v.vs.trip = trip;
  v.vs.route = net_.feed().trips[trip].route;
  v.vs.service_date = date;
  v.vs.day_start_s = day_start;
  v.vs.next_stop_index = 0;
  tr_.claims_[ClaimKey(trip, date)] = &v;
}

double Tracker::Impl::HeadingCost(const Polyline& poly, uint32_t seg, const Fix& fix) const {
  if (!(fix.speed_mps >= opt_.heading_min_speed_mps) || std::isnan(fix.bearing_deg)) return 0;
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
  return 2.25 * c * c;
}

void Tracker::Impl::InitHyps(Track& v, Vec2 p, const Fix& fix, double sigma, double from_m,
                             double to_m) {
  v.n_hyps = 0;
  const Polyline& poly = *v.poly;
  Cand found[kMaxCandidates];
  int nfound = 0;
  double min_off2 = kInf;
  // Candidates farther than off_route_m would not be kept.
  ScanWindow(poly, p, from_m, std::min(to_m, poly.length_m()), 0,
             std::min(opt_.candidate_radius_m, opt_.off_route_m), found, &nfound, &min_off2);
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
             std::fabs(c.d - d_exp) / 1500.0;
    tmp[nt++] = h;
  }
  std::sort(tmp, tmp + nt, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = std::min(nt, std::min(opt_.max_hypotheses, kMaxHypotheses));
  double base = tmp[0].cost;
  for (int i = 0; i < k; ++i) {
    v.hyps[i] = tmp[i];
    v.hyps[i].cost -= base;
  }
  v.n_hyps = k;
  v.hyps_ts = fix.timestamp_s;
}

int Tracker::Impl::Step(const Track& v, Vec2 p, const Fix& fix, double sigma, double g,
                        Hyp* out, double* min_off) const {
  const Polyline& poly = *v.poly;
  const std::vector<Vec2>& pts = poly.points();
  const std::vector<double>& cum = poly.cum_m();
  double L = poly.length_m();
  double dt = std::max<double>(1.0, static_cast<double>(fix.timestamp_s - v.hyps_ts));
  double lo = kInf, hi = -kInf;
  for (int i = 0; i < v.n_hyps; ++i) {
    lo = std::min(lo, v.hyps[i].d);
    hi = std::max(hi, v.hyps[i].d);
  }
  double reach = opt_.max_speed_mps * dt + 50;
  lo = v.started ? std::max(0.0, lo - opt_.back_tolerance_m) : 0.0;
  hi = std::min(L, hi + reach);
  if (hi < lo) hi = lo;

  const std::vector<double>& sd = net_.pattern(v.pattern).stop_dist_m;
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
      for (int i = 0; i < v.n_hyps; ++i) hs[i] = v.hyps[i];
      for (int i = 1; i < v.n_hyps; ++i)  // insertion sort by d (at most kMaxHypotheses)
        for (int j = i; j > 0 && hs[j].d < hs[j - 1].d; --j) std::swap(hs[j], hs[j - 1]);
      for (int i = 0; i < v.n_hyps; ++i) {
        double a = v.started ? std::max(lo, hs[i].d - opt_.back_tolerance_m) : lo;
        // A bus speeds up by at most ~12 m/s over its current speed between two fixes.
        double vmax = std::min(opt_.max_speed_mps, 2 * hs[i].v + 12);
        double b = std::min(hi, hs[i].d + vmax * dt + 50);
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
      ScanWindow(poly, p, wlo[w], whi[w], whint[w], opt_.candidate_radius_m, cands, &nc, &min_off2);
    *min_off = std::sqrt(min_off2);
  }
  // Each hypothesis carried on at its own speed (explains an outlier fix).
  for (int i = 0; i < v.n_hyps; ++i) {
    double d = std::clamp(v.hyps[i].d + v.hyps[i].v * dt, lo, hi);
    uint32_t seg = SegmentNear(cum, v.hyps[i].seg, d);
    add(d, Dist(p, PointOnSegment(poly, seg, d)), seg);
  }

  Hyp next[kMaxCandidates];
  int nn = 0;
  for (int c = 0; c < nc; ++c) {
    double best = kInf, best_v = 0;
    for (int i = 0; i < v.n_hyps; ++i) {
      const Hyp& h = v.hyps[i];
      double delta = cands[c].d - h.d;
      if (v.started && delta < -opt_.back_tolerance_m) continue;
      if (delta > reach) continue;
      double tr = h.cost + std::fabs(std::fabs(delta) - g) / kTransitionBetaM;
      if (tr < best) {
        best = tr;
        best_v = 0.5 * h.v + 0.5 * std::clamp(delta / dt, 0.0, opt_.max_speed_mps);
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
    if (!v.started) h.cost += std::max(0.0, cands[c].d - first_d) / 1000.0;
    next[nn++] = h;
  }
  if (nn == 0) return 0;
  std::sort(next, next + nn, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = 0;
  int kmax = std::min(opt_.max_hypotheses, kMaxHypotheses);
  for (int i = 0; i < nn && k < kmax; ++i) {
    bool dup = false;
    for (int j = 0; j < k; ++j)
      if (std::fabs(out[j].d - next[i].d) < kMergeM) dup = true;
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
  sv.trip = v.trip;
  sv.route = net_.feed().trips[v.trip].route;
  sv.stop = Pat(v).stops[k];
  sv.stop_index = k;
  sv.stop_sequence = StopTime(v, k).stop_sequence;
  sv.service_date = v.service_date;
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
  while (v.next_stop < n) {
    uint32_t k = v.next_stop;
    bool last = k + 1 == n;
    double x = sd[k];
    if (std::isnan(v.pending_arrival)) {
      double xa = x - (last ? std::max(opt_.arrival_radius_m, opt_.end_radius_m)
                            : opt_.arrival_radius_m);
      if (xa > d1) break;
      v.pending_arrival = at(xa);
    }
    if (last) {
      EmitVisit(v, k, v.pending_arrival, v.pending_arrival, out);
      v.pending_arrival = NAN;
      v.next_stop = n;
      v.finished = true;
      break;
    }
    double xd = x + opt_.departure_radius_m;
    if (xd > d1) break;
    EmitVisit(v, k, v.pending_arrival, at(xd), out);
    v.pending_arrival = NAN;
    ++v.next_stop;
  }
  v.vs.next_stop_index = v.next_stop;
}

void Tracker::Impl::Progress(Track& v, double t, double d, const Fix& fix,
                             std::vector<StopVisit>* out) {
  (void)fix;
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  if (sd.empty()) return;
  if (v.started) {
    if (v.finished) return;
    if (d <= v.mono_d + 1.0) {
      // No progress. Away from the next stop (a red light, traffic) the crossing times later are
      // interpolated from this latest fix; at the stop the bus has arrived already.
      if (v.next_stop < sd.size() && std::isnan(v.pending_arrival) &&
          sd[v.next_stop] - v.mono_d > opt_.stop_zone_m)
        v.mono_t = t;
      return;
    }
    {
      Advance(v, v.mono_t, v.mono_d, t, d, out);
      v.mono_d = d;
      v.mono_t = t;
      v.stalled_since = fix.timestamp_s;
    }
    return;
  }
  // Not started: remember the monotone progress since the last time the bus went back.
  if (v.ring_n == 0 || d < v.ring_d[v.ring_n - 1] - opt_.back_tolerance_m) {
    v.ring_n = 0;
    v.ring_arrive_t = t;
  }
  if (v.ring_n > 0 && d <= v.ring_d[v.ring_n - 1] + 1.0) {
    v.ring_t[v.ring_n - 1] = t;  // standing: the bus is still there now
  } else {
    if (v.ring_n == kRingSize) {
      std::copy(v.ring_t + 1, v.ring_t + kRingSize, v.ring_t);
      std::copy(v.ring_d + 1, v.ring_d + kRingSize, v.ring_d);
      --v.ring_n;
    }
    v.ring_t[v.ring_n] = t;
    v.ring_d[v.ring_n] = d;
    ++v.ring_n;
  }
  // Parked away from the first stop for a while (a pre-trip layover spot): the stops behind
  // were passed before the trip, so the remembered progress restarts here.
  double back = v.ring_d[v.ring_n - 1];
  if (v.ring_n == 1 || d > v.progress_d + 20) {
    v.progress_d = d;
    v.progress_t = t;
  }
  if (v.ring_n > 1 && back > sd[0] + opt_.start_leave_m &&
      t - v.progress_t > static_cast<double>(opt_.parked_s)) {
    v.ring_t[0] = t;
    v.ring_d[0] = back;
    v.ring_n = 1;
  }
  bool moving = !std::isnan(v.last_d) && d >= v.last_d + 10;
  v.last_d = d;
  double leave_m = std::min(opt_.start_leave_m, 0.3 * (sd.back() - sd[0]));
  bool left_start = moving && back >= sd[0] + leave_m;
  bool time_ok = t >= SchedDep(v, 0) - static_cast<double>(opt_.early_start_s);
  bool far = back >= sd[0] + opt_.pretrip_zone_m;
  // Joined mid-route (first sight of the bus on this trip is well along it): started.
  bool joined = !v.seen_on_trip && d >= sd[0] + opt_.pretrip_zone_m;
  v.seen_on_trip = true;
  if (!((left_start && (time_ok || far)) || joined)) return;
  if (!v.from_fix && !joined) {
    // An inferred trip leaving its first stop: the departure time says which trip it is.
    double t_dep = v.ring_t[0];
    for (int i = 1; i < v.ring_n; ++i) {
      double x = sd[0] + 30;
      if (v.ring_d[i] >= x) {
        double d0 = v.ring_d[i - 1], d1 = v.ring_d[i];
        t_dep = d1 > d0 ? v.ring_t[i - 1] + (std::max(x, d0) - d0) / (d1 - d0) *
                                               (v.ring_t[i] - v.ring_t[i - 1])
                        : v.ring_t[i];
        break;
      }
    }
    RedecideAtDeparture(v, t_dep);
  }
  StartTrip(v, fix, out);
}

void Tracker::Impl::StartTrip(Track& v, const Fix& fix, std::vector<StopVisit>* out) {
  const std::vector<double>& sd = Pat(v).stop_dist_m;
  const double front = v.ring_d[0];
  v.started = true;
  ++tr_.stats_.trips_started;
  // Stops already behind the low point are not visited (the bus joined mid-route), except the
  // first stop when the bus waited at it.
  uint32_t n = static_cast<uint32_t>(sd.size());
  v.next_stop = 0;
  if (front > sd[0] + std::max(opt_.arrival_radius_m, kFirstStopZoneM)) {
    while (v.next_stop < n && sd[v.next_stop] - opt_.arrival_radius_m <= front) ++v.next_stop;
  }
  v.pending_arrival = NAN;
  v.mono_t = v.ring_t[0];
  v.mono_d = front;
  v.start_d = front;
  if (v.next_stop == 0) v.pending_arrival = v.ring_arrive_t;
  for (int i = 1; i < v.ring_n; ++i) {
    Advance(v, v.ring_t[i - 1], v.ring_d[i - 1], v.ring_t[i], v.ring_d[i], out);
    v.mono_t = v.ring_t[i];
    v.mono_d = v.ring_d[i];
  }
  v.ring_n = 0;
  v.stalled_since = fix.timestamp_s;
}

void Tracker::Impl::Infer(Track& v, Vec2 p, const Fix& fix) {
  int64_t t = fix.timestamp_s;
  std::vector<TripInstance> around =
      net_.TripsAround(absl::FromUnixSeconds(t), absl::Seconds(opt_.infer_early_s),
                       absl::Seconds(opt_.infer_late_s));
  double sigma = std::isfinite(fix.accuracy_m) && fix.accuracy_m > 0
                     ? std::max<double>(fix.accuracy_m, 3.0) : opt_.gps_sigma_m;
  const double standing_s = static_cast<double>(t - v.still_since);
  // Too slow (or no bearing) for the reported heading to count: the direction of its recent
  // travel tells the two directions of a street apart.
  const bool use_move = !(fix.speed_mps >= opt_.heading_min_speed_mps &&
                          !std::isnan(fix.bearing_deg)) &&
                        v.has_move_dir && t - v.move_ts <= 120;
  // Candidates per pattern, computed once.
  std::vector<std::pair<uint32_t, std::vector<PolylinePoint>>> per_pattern;
  double best_cost = kInf;
  const TripInstance* best = nullptr;
  for (const TripInstance& ti : around) {
    const GtfsTrip& trip = net_.feed().trips[ti.trip];
    if (v.route_hint != kNoIndex && trip.route != v.route_hint) continue;
    if (trip.num_stop_times < 2) continue;
    if (ti.trip == v.done_trip && ti.service_date == v.done_date) continue;  // just ran it
    uint32_t pat = net_.trip_pattern(ti.trip);
    const std::vector<PolylinePoint>* cands = nullptr;
    for (auto& [pp, c] : per_pattern)
      if (pp == pat) cands = &c;
    if (!cands) {
      per_pattern.emplace_back(pat, std::vector<PolylinePoint>());
      net_.polylines()[net_.pattern(pat).polyline].Candidates(p, opt_.candidate_radius_m,
                                                              &per_pattern.back().second);
      cands = &per_pattern.back().second;
    }
    if (cands->empty()) continue;
    auto it = tr_.claims_.find(ClaimKey(ti.trip, ti.service_date));
    double claim_cost = 0;
    if (it != tr_.claims_.end() && it->second != &v)
      claim_cost = WeaklyHeld(*it->second) ? 1.0 : 6.0;
    double cont = (ti.trip == v.trip && ti.service_date == v.service_date) ? -1.0 : 0.0;
    const Pattern& P = net_.pattern(pat);
    const Polyline& poly = net_.polylines()[P.polyline];
    int64_t ds = absl::ToUnixSeconds(ti.day_start);
    for (const PolylinePoint& c : *cands) {
      double heading = use_move ? DirCost(poly, c.segment, v.move_dir)
                                : HeadingCost(poly, c.segment, fix);
      double cost = Emission(c.offset_m, sigma) + heading +
                    SchedCost(ti.trip, pat, ds, c.dist_along_m, static_cast<double>(t));
      // At the end of a trip a bus is rather waiting for its next one; one that has just
      // finished a trip here is not finishing another.
      if (c.dist_along_m >= P.stop_dist_m.back() - 300 && v.finished_at_ts > 0 &&
          Dist(p, v.finished_xy) < opt_.layover_radius_m)
        continue;
      if (c.dist_along_m >= P.stop_dist_m.back() - 150) cost += 1.0;
      // A bus stands at a mid-route stop for a minute or so, and a timepoint holds it only
      // until its scheduled time there; at its first stop it waits for its departure. So a bus
      // standing longer than that after the scheduled time is rather on a trip starting here.
      if (standing_s > 0 && c.dist_along_m > P.stop_dist_m[0] + 200 &&
          c.dist_along_m < P.stop_dist_m.back() - 300) {
        double over = std::min(standing_s, static_cast<double>(t) -
                                               SchedTimeAt(ti.trip, pat, ds, c.dist_along_m)) -
                      60;
        if (over > 0) cost += over / 60.0;
      }
      cost += claim_cost + cont;
      if (cost < best_cost) {
        best_cost = cost;
        best = &ti;
      }
    }
  }
  if (!best) {
    if (v.trip != kNoIndex && !v.from_fix) return;  // keep the tentative trip
    return;
  }
  if (best->trip == v.trip && best->service_date == v.service_date) return;
  auto held = tr_.claims_.find(ClaimKey(best->trip, best->service_date));
  if (held != tr_.claims_.end() && held->second != &v && !held->second->from_fix &&
      !held->second->confirmed &&
      !(v.lost_trip == best->trip && v.lost_date == best->service_date)) {
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
  if (h.from_fix || h.confirmed || h.trip == kNoIndex || std::isnan(h.vs.dist_along_m))
    return false;
  // Likewise a bus still waiting at the first stop of a trip that should have left minutes ago.
  if (!h.started && static_cast<double>(h.pos_ts) > SchedDep(h, 0) + 120 &&
      Dist(h.xy, h.start_xy) <= opt_.layover_radius_m)
    return true;
  if (h.pos_ts - h.still_since < 60) return false;
  const std::vector<double>& sd = Pat(h).stop_dist_m;
  return !sd.empty() && h.vs.dist_along_m > sd[0] + 200 && h.vs.dist_along_m < sd.back() - 300;
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
  if (vp) m->trip = vp->trip;
  if (!IsValidLatLon(fix.lat, fix.lon)) {
    reject(RejectReason::kInvalidCoordinates);
    return vp ? &vp->vs : nullptr;
  }
  if (fix.timestamp_s > now_s + opt_.future_tolerance_s) {
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
  if (fix.timestamp_s == v.newest_ts) {
    m->dist_along_m = v.vs.dist_along_m;
    m->offset_m = v.vs.offset_m;
    reject(RejectReason::kDuplicate);
    return &v.vs;
  }
  if (fix.timestamp_s < v.newest_ts) {
    // Late fix: projected near the current position for history; the state does not move.
    if (v.poly) {
      double d = std::isnan(v.vs.dist_along_m) ? 0 : v.vs.dist_along_m;
      PolylinePoint pp = v.poly->Project(p, d - 3000, d + opt_.back_tolerance_m);
      m->dist_along_m = pp.dist_along_m;
      m->offset_m = pp.offset_m;
    }
    reject(RejectReason::kOutOfOrder);
    return &v.vs;
  }
  // Implausible jump from the previous accepted position?
  bool reanchor = false;
  if (v.has_pos) {
    double dt = static_cast<double>(fix.timestamp_s - v.pos_ts);
    double g = Dist(p, v.xy);
    if (g > opt_.jump_speed_mps * dt + opt_.jump_slack_m) {
      if (v.jump_count > 0 &&
          Dist(p, v.jump_xy) <= opt_.jump_speed_mps * static_cast<double>(fix.timestamp_s - v.jump_ts) +
                                    opt_.jump_slack_m) {
        ++v.jump_count;
      } else {
        v.jump_count = 1;
      }
      v.jump_xy = p;
      v.jump_ts = fix.timestamp_s;
      if (v.jump_count < opt_.jump_reanchor_fixes) {
        if (v.poly) {
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
  v.jump_count = 0;
  ++st.accepted;
  double g = v.has_pos ? Dist(p, v.xy) : 0;
  const bool first_pos = !v.has_pos;
  v.has_pos = true;
  v.xy = p;
  v.pos_ts = fix.timestamp_s;
  v.newest_ts = fix.timestamp_s;
  if (reanchor) v.n_hyps = 0;
  double sigma = std::isfinite(fix.accuracy_m) && fix.accuracy_m > 0
                     ? std::max<double>(fix.accuracy_m, 3.0) : opt_.gps_sigma_m;

  // --- Trip assignment ---
  bool given = false;
  if (!fix.trip_id.empty()) {
    if (v.trip != kNoIndex && v.from_fix && net_.feed().trips[v.trip].id == fix.trip_id) {
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
  if (given) v.from_fix_seen = true;
  if (!given) {
    if (v.from_fix) Unassign(v);  // the bus stopped saying its trip: infer from here on
    // Where and since when it stands, and the direction of its recent travel (inference only:
    // a bus saying its trip does not need them).
    if (first_pos || reanchor || v.from_fix_seen || Dist(p, v.still_xy) > kStillM) {
      v.still_xy = p;
      v.still_since = fix.timestamp_s;
    }
    if (first_pos || reanchor || v.from_fix_seen) {
      v.move_xy = p;
      v.has_move_dir = false;
    } else if (double moved = Dist(p, v.move_xy); moved >= kMoveM) {
      v.move_dir = (p - v.move_xy) * (1.0 / moved);
      v.move_ts = fix.timestamp_s;
      v.move_xy = p;
      v.has_move_dir = true;
    }
    v.from_fix_seen = false;
    v.route_hint = kNoIndex;
    if (!fix.route_id.empty()) {
      if (std::optional<uint32_t> r = net_.FindRoute(fix.route_id)) v.route_hint = *r;
    }
    if (v.trip != kNoIndex && v.started && !v.finished && v.mono_d >= 0) {
      // Blank mode near the end of the trip: finished when it leaves the shape or stops making
      // progress for a while close to the last stop.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      // (Timepoint holds near the end are real: standing still only ends the trip right at
      // the last stop.)
      if (!sd.empty() && ((v.mono_d >= sd.back() - opt_.end_leave_zone_m && v.off_count >= 1) ||
                          (v.mono_d >= sd.back() - opt_.end_stall_zone_m &&
                           fix.timestamp_s - v.stalled_since > opt_.end_stall_s))) {
        v.finished = true;
      }
    }
    if (v.trip != kNoIndex && v.finished) {
      // Chain to the next trip of the block when this trip is known well: confirmed, or
      // followed over a good part of its length. Otherwise look again from the terminal.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      bool known = v.confirmed || (!sd.empty() && !std::isnan(v.mono_d) &&
                                   v.mono_d - v.start_d >= 0.3 * (sd.back() - sd[0]));
      std::optional<uint32_t> next = known ? net_.NextTripInBlock(v.trip) : std::nullopt;
      v.done_trip = v.trip;
      v.done_date = v.service_date;
      v.finished_at_ts = fix.timestamp_s;
      v.finished_xy = p;
      if (next) {
        int32_t date = v.service_date;
        int64_t day_start = v.day_start_s;
        Assign(v, *next, date, day_start, false);
        v.confirmed = true;
        ++st.block_transitions;
      } else {
        Unassign(v);
      }
    }
    // Look again when unassigned, or when an unconfirmed trip has lost the bus (but a bus
    // waiting off the shape near its first stop is simply in layover).
    const int64_t t = fix.timestamp_s;
    if (v.off_count == 0) v.off_since = t;
    bool lost = v.trip != kNoIndex && v.off_count >= opt_.off_route_fixes &&
                (v.started || Dist(p, v.start_xy) > opt_.layover_radius_m);
    // A confirmed trip is kept through detours, but not when the bus has been away from its
    // shape for long: the confirmation was wrong (e.g. made on a street the bus's real route
    // shares with this one).
    bool lost_confirmed = lost && v.confirmed && t - v.off_since >= opt_.infer_lost_s &&
                          t - v.reinfer_ts >= opt_.infer_recheck_s;
    // A bus standing mid-route well past its scheduled time there is rather waiting for a trip
    // that starts here (a terminal or hub shared with routes passing through): look again.
    bool standing = false;
    if (v.trip != kNoIndex && !v.confirmed && !lost &&
        t - v.still_since >= opt_.infer_standing_s && t - v.reinfer_ts >= opt_.infer_recheck_s &&
        !std::isnan(v.vs.dist_along_m)) {
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      standing = !sd.empty() && v.vs.dist_along_m > sd[0] + 200 &&
                 v.vs.dist_along_m < sd.back() - 300;
    }
    // A bus matched further and further behind its progress is going the other way (the two
    // directions of a street, told apart only by motion when the bus is too slow for its
    // bearing to count): look again.
    bool backward = v.trip != kNoIndex && v.started && !v.finished && !std::isnan(v.mono_d) &&
                    !std::isnan(v.vs.dist_along_m) &&
                    v.vs.dist_along_m < v.mono_d - 3 * opt_.back_tolerance_m &&
                    t - v.reinfer_ts >= opt_.infer_recheck_s;
    if (v.trip == kNoIndex || (lost && !v.confirmed) || lost_confirmed || standing || backward ||
        v.evicted) {
      v.evicted = false;
      if (v.trip != kNoIndex) v.reinfer_ts = t;
      Infer(v, p, fix);
    }
  }

  VehicleState& vs = v.vs;
  vs.timestamp_s = fix.timestamp_s;
  vs.pos = {fix.lat, fix.lon};
  vs.bearing_deg = fix.bearing_deg;
  vs.occupancy = fix.occupancy;
  vs.load = fix.load;
  if (v.trip == kNoIndex) {
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
  const Polyline& poly = *v.poly;
  bool near_start = Dist(p, v.start_xy) <= opt_.layover_radius_m;
  double d = NAN, off = NAN;
  bool on_route = false;  // this fix placed on the shape (hypotheses updated)
  auto commit = [&](const Hyp* h, int k) {
    std::copy(h, h + k, v.hyps);
    v.n_hyps = k;
    v.hyps_ts = fix.timestamp_s;
    d = v.hyps[0].d;
    off = v.hyps[0].off;
  };
  if (v.n_hyps == 0) {
    if (near_start && v.off_count > 0) {
      // Still waiting away from the shape near the first stop: look only around there.
      const std::vector<double>& sd = Pat(v).stop_dist_m;
      InitHyps(v, p, fix, sigma, 0, (sd.empty() ? 0 : sd[0]) + 2 * opt_.layover_radius_m);
    } else {
      InitHyps(v, p, fix, sigma);
    }
    if (v.n_hyps > 0) {
      d = v.hyps[0].d;
      off = v.hyps[0].off;
      on_route = off <= opt_.off_route_m;
      if (!on_route) v.n_hyps = 0;  // too far to trust: look again at the next fix
      v.off_count = on_route ? 0 : v.off_count + 1;
    } else {
      ++v.off_count;
    }
  } else {
    Hyp next[kMaxHypotheses];
    double min_off = kInf;
    int k = Step(v, p, fix, sigma, g, next, &min_off);
    bool far = k == 0 || next[0].off > opt_.off_route_m;
    v.off_count = far ? v.off_count + 1 : 0;
    if (k > 0 && v.off_count < opt_.off_route_fixes) {
      // On the shape, or a lone outlier (carried by the motion of the hypotheses).
      commit(next, k);
      on_route = !far;
    } else {
      off = k > 0 ? next[0].off : min_off;
      d = v.hyps[0].d;  // frozen where the bus left the shape
      if (v.off_count >= opt_.off_route_fixes) {
        // Back on the shape outside the reachable window (behind, or a long way ahead)? Look
        // along the whole shape; a started trip only accepts a place ahead of its progress.
        Hyp keep[kMaxHypotheses];
        int nkeep = v.n_hyps;
        std::copy(v.hyps, v.hyps + nkeep, keep);
        InitHyps(v, p, fix, sigma);
        int w = 0;
        for (int i = 0; i < v.n_hyps; ++i) {
          bool ok = v.hyps[i].off <= opt_.off_route_m &&
                    (!v.started || std::isnan(v.mono_d) ||
                     v.hyps[i].d >= v.mono_d - opt_.back_tolerance_m);
          if (ok) v.hyps[w++] = v.hyps[i];
        }
        if (w > 0) {
          double base = v.hyps[0].cost;
          for (int i = 0; i < w; ++i) v.hyps[i].cost -= base;
          v.n_hyps = w;
          v.off_count = 0;
          on_route = true;
          d = v.hyps[0].d;
          off = v.hyps[0].off;
        } else {
          std::copy(keep, keep + nkeep, v.hyps);
          v.n_hyps = nkeep;
        }
      }
    }
  }
  if (std::isnan(d)) {
    // No hypothesis: near the first stop, place it there; else keep the last known place.
    const std::vector<double>& sd = Pat(v).stop_dist_m;
    if (near_start) {
      PolylinePoint pp = poly.Project(p, 0, (sd.empty() ? 0 : sd[0]) + opt_.layover_radius_m);
      d = pp.dist_along_m;
      off = pp.offset_m;
    } else if (!std::isnan(vs.dist_along_m) && vs.trip == v.trip) {
      d = vs.dist_along_m;
      off = Dist(p, poly.PointAt(d));
    } else {
      PolylinePoint pp = poly.Project(p);
      d = pp.dist_along_m;
      off = pp.offset_m;
    }
  }
  // Given trip_id clearly wrong?
  if (v.from_fix && off > opt_.trip_mismatch_m && !near_start) {
    if (++v.mismatch_count >= opt_.trip_mismatch_fixes && !v.mismatch_counted) {
      ++st.trip_id_mismatches;
      v.mismatch_counted = true;
    }
  } else {
    v.mismatch_count = 0;
  }

  MatchState state;
  bool off_now = v.off_count >= opt_.off_route_fixes || (!on_route && v.n_hyps == 0);
  if (!v.started) {
    state = (off_now && !near_start) ? MatchState::kOffRoute : MatchState::kLayover;
  } else {
    state = off_now ? MatchState::kOffRoute : MatchState::kInService;
  }
  if (on_route) {
    const uint32_t pattern_before = v.pattern;
    Progress(v, static_cast<double>(fix.timestamp_s), d, fix, visits);
    if (v.pattern != pattern_before && v.n_hyps > 0) d = v.hyps[0].d;  // now on another shape
  }
  if (v.started && state == MatchState::kLayover) state = MatchState::kInService;

  vs.state = state;
  vs.dist_along_m = d;
  vs.offset_m = off;
  double hv = v.n_hyps > 0 ? v.hyps[0].v : NAN;
  vs.speed_mps = std::isnan(fix.speed_mps) ? static_cast<float>(hv) : fix.speed_mps;
  vs.next_stop_index = v.next_stop;
  if (v.started && !std::isnan(v.mono_d)) {
    vs.delay_s = static_cast<double>(fix.timestamp_s) - SchedTimeAt(v, v.mono_d);
  } else if (!v.started) {
    double late = static_cast<double>(fix.timestamp_s) - SchedDep(v, 0);
    vs.delay_s = late > 0 ? late : 0;
  }
  if (!v.from_fix && !v.confirmed && state != MatchState::kOffRoute) {
    uint32_t before = v.trip;
    SolvePattern(v.pattern, fix.timestamp_s);
    if (v.trip != before || !v.started) v.stable_since = fix.timestamp_s;
    // Confirmed only once the bus has run a good way on the trip: a bus standing at a hub is
    // no evidence of the trip passing there.
    if (v.started && fix.timestamp_s - v.stable_since >= opt_.infer_confirm_s &&
        !std::isnan(v.mono_d) && v.mono_d - v.start_d >= opt_.infer_confirm_m)
      v.confirmed = true;
  }
  m->trip = v.trip;
  m->dist_along_m = d;
  m->offset_m = off;
  m->state = state;
  ++st.by_state[static_cast<int>(state)];
  return &vs;
}

Tracker::Tracker(std::shared_ptr<const Network> network, const TrackerOptions& options)
    : net_(std::move(network)), opt_(options) {
  opt_.max_hypotheses = std::clamp(opt_.max_hypotheses, 1, kMaxHypotheses);
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
