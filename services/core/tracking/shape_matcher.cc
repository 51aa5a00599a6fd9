#include "services/core/tracking/shape_matcher.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace smartbus {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxCandidates = 24;

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

// Offsets of the candidates made offsets beyond their segment's slack (Polyline::slack_m: a
// path without a shape is uncertain by a share of each segment's length); candidates farther
// than radius_m beyond it are dropped. Returns the count kept (0 slack: unchanged).
int ToExcess(const Polyline& poly, Vec2 p, double radius_m, Cand* cands, int n) {
  if (poly.max_slack_m() <= 0) return n;
  int w = 0;
  for (int i = 0; i < n; ++i) {
    Cand c = cands[i];
    c.off = ShapeMatcher::ExcessAt(poly, c.seg, c.d, p);
    if (c.off <= radius_m) cands[w++] = c;
  }
  return w;
}

}  // namespace

double ShapeMatcher::TransitionGap(const Polyline& poly, uint32_t from_seg, uint32_t to_seg,
                                   double delta, Vec2 chord, const FixObservation& obs,
                                   double g) {
  const bool drawn = poly.slack_m(from_seg) > 0 || poly.slack_m(to_seg) > 0;
  if (!drawn || (obs.move.x == 0 && obs.move.y == 0)) return std::fabs(delta) - g;
  // A line without a shape: the road is not the line, and the bus's progress along the line
  // is its movement projected on it (the road may cross the line at any angle), scaled by the
  // line's length per metre of straight distance between the two places (a bend at a stop).
  const double c2 = Dot(chord, chord);
  if (c2 < 1.0) {
    const uint32_t seg = std::min<uint32_t>(from_seg, static_cast<uint32_t>(poly.size() - 2));
    const Vec2 dir = poly.points()[seg + 1] - poly.points()[seg];
    const double n = Norm(dir);
    return n < 1e-9 ? std::fabs(delta) - g : delta - Dot(obs.move, dir) / n;
  }
  return delta - delta * Dot(obs.move, chord) / c2;
}

double ShapeMatcher::ExcessAt(const Polyline& poly, uint32_t seg, double d, Vec2 p) {
  if (poly.slack_m(seg) <= 0) return Dist(p, PointOnSegment(poly, seg, d));
  // The fix lies within the slack of the line if its nearest point on the segment is within
  // it; the place along the line is that point's, and any other place is as far from it as
  // along a traced shape.
  auto from = [&](uint32_t s) {
    const PolylinePoint pp = poly.ProjectOnSegment(p, s);
    return std::hypot(d - pp.dist_along_m, std::max(0.0, pp.offset_m - poly.slack_m(s)));
  };
  double e = from(seg);
  // At a vertex the place belongs to both segments.
  const std::vector<double>& cum = poly.cum_m();
  if (d >= cum[seg + 1] - 1e-6 && seg + 2 < poly.size()) e = std::min(e, from(seg + 1));
  if (d <= cum[seg] + 1e-6 && seg > 0) e = std::min(e, from(seg - 1));
  return e;
}

FixObservation ShapeMatcher::Observe(const Fix& fix, Vec2 p) const {
  FixObservation o;
  o.p = p;
  o.t = fix.timestamp_s;
  const bool reported = ReportsAccuracy(fix);
  o.sigma = reported ? std::max<double>(fix.accuracy_m, opt_.min_sigma_m) : DefaultSigma();
  o.sigma_learned = !reported && o.sigma != opt_.gps_sigma_m;
  o.speed = std::isfinite(fix.speed_mps) ? std::clamp<double>(fix.speed_mps, 0, opt_.max_speed_mps)
                                         : 0.0;
  o.has_heading = fix.speed_mps >= opt_.heading_min_speed_mps && !std::isnan(fix.bearing_deg);
  if (o.has_heading) {
    // Unit vector of the reported bearing (clockwise from north: x east = sin, y north = cos).
    double b = fix.bearing_deg * (M_PI / 180.0);
    o.heading = {std::sin(b), std::cos(b)};
  }
  return o;
}

double ShapeMatcher::DirCost(const Polyline& poly, uint32_t seg, Vec2 u) const {
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
  return opt_.heading_weight * c * c;
}

void ShapeMatcher::Init(MatcherState& s, const Polyline& poly, const FixObservation& obs,
                        absl::FunctionRef<double()> prior_d, double from_m, double to_m) const {
  s.n_hyps = 0;
  Cand found[kMaxCandidates];
  int nfound = 0;
  double min_off2 = kInf;
  // Candidates farther than off_route_m (beyond the path's slack) would not be kept.
  const double radius = std::min(opt_.candidate_radius_m, opt_.off_route_m);
  ScanWindow(poly, obs.p, from_m, std::min(to_m, poly.length_m()), 0,
             radius + poly.max_slack_m(), found, &nfound, &min_off2);
  nfound = ToExcess(poly, obs.p, radius, found, nfound);
  if (nfound == 0) return;
  // Weak prior: where the schedule says the bus should be.
  const double d_exp = prior_d();
  Hyp tmp[kMaxCandidates];
  int nt = 0;
  for (int i = 0; i < nfound; ++i) {
    const Cand& c = found[i];
    Hyp h;
    h.d = c.d;
    h.off = c.off;
    h.seg = c.seg;
    // A fresh start knows the bus's speed only from the fix (0: none): it sets how far the
    // next fix may be (an express bus starts on a motorway, 2 km further 2 minutes later).
    h.v = obs.speed;
    h.cost = Emission(c.off, obs.sigma) + HeadingCost(poly, c.seg, obs) +
             std::fabs(c.d - d_exp) / opt_.schedule_prior_m;
    tmp[nt++] = h;
  }
  std::sort(tmp, tmp + nt, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = std::min(nt, std::min(opt_.max_hypotheses, kMaxHypotheses));
  double base = tmp[0].cost;
  for (int i = 0; i < k; ++i) {
    s.hyps[i] = tmp[i];
    s.hyps[i].cost -= base;
  }
  s.n_hyps = k;
  s.hyps_ts = obs.t;
}

int ShapeMatcher::Step(const MatcherState& s, const Polyline& poly, const MatchContext& ctx,
                       const FixObservation& obs, double g, Hyp* out, double* min_off) const {
  const std::vector<Vec2>& pts = poly.points();
  const std::vector<double>& cum = poly.cum_m();
  double L = poly.length_m();
  double dt = std::max<double>(1.0, static_cast<double>(obs.t - s.hyps_ts));
  double lo = kInf, hi = -kInf;
  for (int i = 0; i < s.n_hyps; ++i) {
    lo = std::min(lo, s.hyps[i].d);
    hi = std::max(hi, s.hyps[i].d);
  }
  double reach = opt_.max_speed_mps * dt + opt_.reach_slack_m;
  lo = ctx.started ? std::max(0.0, lo - opt_.back_tolerance_m) : 0.0;
  hi = std::min(L, hi + reach);
  if (hi < lo) hi = lo;

  const double first_d = ctx.first_stop_d;
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
      for (int i = 0; i < s.n_hyps; ++i) hs[i] = s.hyps[i];
      for (int i = 1; i < s.n_hyps; ++i)  // insertion sort by d (at most kMaxHypotheses)
        for (int j = i; j > 0 && hs[j].d < hs[j - 1].d; --j) std::swap(hs[j], hs[j - 1]);
      for (int i = 0; i < s.n_hyps; ++i) {
        double a = ctx.started ? std::max(lo, hs[i].d - opt_.back_tolerance_m) : lo;
        // A bus speeds up by at most ~12 m/s over its current speed between two fixes.
        double vmax = std::min(opt_.max_speed_mps, 2 * hs[i].v + opt_.accel_slack_mps);
        double b = std::min(hi, hs[i].d + vmax * dt + opt_.reach_slack_m);
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
    for (int w = 0; w < nw; ++w) {
      ScanWindow(poly, obs.p, wlo[w], whi[w], whint[w],
                 opt_.candidate_radius_m + poly.max_slack_m(), cands, &nc, &min_off2);
    }
    nc = ToExcess(poly, obs.p, opt_.candidate_radius_m, cands, nc);
    *min_off = std::max(0.0, std::sqrt(min_off2) - poly.max_slack_m());
  }
  // Each hypothesis carried on at its own speed (explains an outlier fix).
  for (int i = 0; i < s.n_hyps; ++i) {
    double d = std::clamp(s.hyps[i].d + s.hyps[i].v * dt, lo, hi);
    uint32_t seg = SegmentNear(cum, s.hyps[i].seg, d);
    add(d, ExcessAt(poly, seg, d, obs.p), seg);
  }

  // Where each hypothesis lies in the plane (for the progress a line without a shape expects).
  Vec2 hyp_xy[kMaxHypotheses];
  for (int i = 0; i < s.n_hyps; ++i) hyp_xy[i] = PointOnSegment(poly, s.hyps[i].seg, s.hyps[i].d);
  Hyp next[kMaxCandidates];
  int nn = 0;
  for (int c = 0; c < nc; ++c) {
    double best = kInf, best_v = 0;
    const Vec2 cand_xy = PointOnSegment(poly, cands[c].seg, cands[c].d);
    for (int i = 0; i < s.n_hyps; ++i) {
      const Hyp& h = s.hyps[i];
      double delta = cands[c].d - h.d;
      if (ctx.started && delta < -opt_.back_tolerance_m) continue;
      if (delta > reach) continue;
      double tr = h.cost + std::fabs(TransitionGap(poly, h.seg, cands[c].seg, delta,
                                                    cand_xy - hyp_xy[i], obs, g)) /
                               opt_.transition_beta_m;
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
    h.cost = best + Emission(cands[c].off, obs.sigma) + HeadingCost(poly, cands[c].seg, obs);
    // Before its start a bus is near its first stop (a pre-trip move goes a few hundred metres).
    if (!ctx.started) h.cost += std::max(0.0, cands[c].d - first_d) / opt_.prestart_prior_m;
    next[nn++] = h;
  }
  if (nn == 0) return 0;
  std::sort(next, next + nn, [](const Hyp& a, const Hyp& b) { return a.cost < b.cost; });
  int k = 0;
  int kmax = std::min(opt_.max_hypotheses, kMaxHypotheses);
  for (int i = 0; i < nn && k < kmax; ++i) {
    bool dup = false;
    for (int j = 0; j < k; ++j)
      if (std::fabs(out[j].d - next[i].d) < opt_.merge_m) dup = true;
    if (!dup) out[k++] = next[i];
  }
  double base = out[0].cost;
  for (int i = 0; i < k; ++i) out[i].cost -= base;
  return k;
}

bool ShapeMatcher::Rescan(MatcherState& s, const Polyline& poly, const MatchContext& ctx,
                          const FixObservation& obs, absl::FunctionRef<double()> prior_d,
                          MatchOutcome* out) const {
  Hyp keep[kMaxHypotheses];
  int nkeep = s.n_hyps;
  std::copy(s.hyps, s.hyps + nkeep, keep);
  Init(s, poly, obs, prior_d);
  int w = 0;
  for (int i = 0; i < s.n_hyps; ++i) {
    bool ok = s.hyps[i].off <= opt_.off_route_m &&
              (!ctx.started || std::isnan(ctx.progress_d) ||
               s.hyps[i].d >= ctx.progress_d - opt_.back_tolerance_m);
    if (ok) s.hyps[w++] = s.hyps[i];
  }
  if (w == 0) {
    std::copy(keep, keep + nkeep, s.hyps);
    s.n_hyps = nkeep;
    return false;
  }
  double base = s.hyps[0].cost;
  for (int i = 0; i < w; ++i) s.hyps[i].cost -= base;
  s.n_hyps = w;
  s.off_count = 0;
  out->on_route = true;
  out->d = s.hyps[0].d;
  out->off = s.hyps[0].off;
  return true;
}

MatchOutcome ShapeMatcher::Match(MatcherState& s, const Polyline& poly, const MatchContext& ctx,
                                 const FixObservation& obs, double g,
                                 absl::FunctionRef<double()> prior_d) const {
  MatchOutcome r;
  if (s.n_hyps == 0) {
    if (ctx.near_start && s.off_count > 0) {
      // Still waiting away from the shape near the first stop: look only around there.
      Init(s, poly, obs, prior_d, 0, ctx.first_stop_d + 2 * opt_.layover_radius_m);
    } else {
      Init(s, poly, obs, prior_d);
    }
    if (s.n_hyps > 0) {
      r.d = s.hyps[0].d;
      r.off = s.hyps[0].off;
      r.on_route = r.off <= opt_.off_route_m;
      if (!r.on_route) s.n_hyps = 0;  // too far to trust: look again at the next fix
      s.off_count = r.on_route ? 0 : s.off_count + 1;
    } else {
      ++s.off_count;
    }
  } else {
    Hyp next[kMaxHypotheses];
    double min_off = kInf;
    int k = Step(s, poly, ctx, obs, g, next, &min_off);
    bool far = k == 0 || next[0].off > opt_.off_route_m;
    s.off_count = far ? s.off_count + 1 : 0;
    if (k > 0 && s.off_count < opt_.off_route_fixes) {
      // On the shape, or a lone outlier (carried by the motion of the hypotheses).
      std::copy(next, next + k, s.hyps);
      s.n_hyps = k;
      s.hyps_ts = obs.t;
      r.d = s.hyps[0].d;
      r.off = s.hyps[0].off;
      r.on_route = !far;
    } else {
      r.off = k > 0 ? next[0].off : min_off;
      r.d = s.hyps[0].d;  // frozen where the bus left the shape
      // Back on the shape outside the reachable window (behind, or a long way ahead)?
      if (s.off_count >= opt_.off_route_fixes) Rescan(s, poly, ctx, obs, prior_d, &r);
    }
  }
  if (std::isnan(r.d)) {
    // No hypothesis: near the first stop, place it there; else keep the last known place.
    if (ctx.near_start) {
      PolylinePoint pp = poly.Project(obs.p, 0, ctx.first_stop_d + opt_.layover_radius_m);
      r.d = pp.dist_along_m;
      r.off = pp.offset_m;
    } else if (!std::isnan(ctx.last_d)) {
      r.d = ctx.last_d;
      r.off = Dist(obs.p, poly.PointAt(r.d));
    } else {
      PolylinePoint pp = poly.Project(obs.p);
      r.d = pp.dist_along_m;
      r.off = pp.offset_m;
    }
  }
  return r;
}
}  // namespace smartbus
