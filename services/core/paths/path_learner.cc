#include "services/core/paths/path_learner.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A polyline on the plane with planar cumulative distance (the fit needs no geodesy).
struct PlanePath {
  std::vector<Vec2> pts;
  std::vector<double> cum;

  explicit PlanePath(std::vector<Vec2> p) : pts(std::move(p)), cum(pts.size(), 0) {
    for (size_t i = 1; i < pts.size(); ++i) cum[i] = cum[i - 1] + Dist(pts[i - 1], pts[i]);
  }
  double length() const { return cum.empty() ? 0 : cum.back(); }
  // Distance along the path of the nearest point to p among those in [lo, hi].
  double Project(Vec2 p, double lo, double hi) const {
    lo = std::max(lo, 0.0);
    hi = std::min(hi, length());
    if (pts.size() < 2 || hi < lo) return std::clamp(lo, 0.0, length());
    size_t i = std::upper_bound(cum.begin(), cum.end(), lo) - cum.begin();
    i = i == 0 ? 0 : i - 1;
    double best_t = lo, best_d2 = INFINITY;
    for (; i + 1 < pts.size() && cum[i] <= hi; ++i) {
      const double len = cum[i + 1] - cum[i];
      const Vec2 a = pts[i], ab = pts[i + 1] - pts[i];
      double u = len > 0 ? Dot(p - a, ab) / (len * len) : 0;
      double t = std::clamp(cum[i] + u * len, lo, hi);
      u = len > 0 ? (t - cum[i]) / len : 0;
      const Vec2 q = a + ab * std::clamp(u, 0.0, 1.0);
      const double d2 = Dot(p - q, p - q);
      if (d2 < best_d2) best_d2 = d2, best_t = t;
    }
    return best_t;
  }
};

// Douglas-Peucker: keeps the points needed to stay within tol_m of the input.
std::vector<Vec2> Simplify(const std::vector<Vec2>& in, double tol_m) {
  if (in.size() < 3 || tol_m <= 0) return in;
  std::vector<char> keep(in.size(), 0);
  keep.front() = keep.back() = 1;
  std::vector<std::pair<size_t, size_t>> stack = {{0, in.size() - 1}};
  while (!stack.empty()) {
    auto [a, b] = stack.back();
    stack.pop_back();
    const Vec2 ab = in[b] - in[a];
    const double len2 = Dot(ab, ab);
    double worst = -1;
    size_t at = a;
    for (size_t i = a + 1; i < b; ++i) {
      const double u = len2 > 0 ? std::clamp(Dot(in[i] - in[a], ab) / len2, 0.0, 1.0) : 0;
      const double d = Dist(in[i], in[a] + ab * u);
      if (d > worst) worst = d, at = i;
    }
    if (worst > tol_m) {
      keep[at] = 1;
      stack.push_back({a, at});
      stack.push_back({at, b});
    }
  }
  std::vector<Vec2> out;
  for (size_t i = 0; i < in.size(); ++i)
    if (keep[i]) out.push_back(in[i]);
  return out;
}

// Station centres along a curve of length `length` from samples sorted by distance along it.
// Returns the centres; counts the stations and those with a centre, and measures the longest
// run of stations without one between two with one (m). Stretches without a centre at the ends
// (the first few hundred metres of a trip are not yet "in service": the tracker's start gate)
// are not holes: the result joins them straight to the terminal stops.
std::vector<Vec2> Stations(const std::vector<std::pair<double, Vec2>>& sorted, double length,
                           const PathLearnerOptions& o, size_t* covered, size_t* stations,
                           double* longest_hole) {
  std::vector<Vec2> out;
  std::vector<double> xs, ys;
  auto at = [&](double t) {
    return std::lower_bound(sorted.begin(), sorted.end(), t,
                            [](const std::pair<double, Vec2>& s, double v) { return s.first < v; });
  };
  *covered = *stations = 0;
  *longest_hole = 0;
  double hole = 0;
  const double step = std::max(o.station_m, 1.0);
  for (double s = 0; s <= length + 1e-9; s += step) {
    ++*stations;
    double w = o.window_min_m;
    auto lo = at(s - w / 2), hi = at(s + w / 2);
    while (hi - lo < o.min_samples && w < o.window_max_m) {
      w = std::min(2 * w, o.window_max_m);
      lo = at(s - w / 2);
      hi = at(s + w / 2);
    }
    if (hi - lo < std::max(o.min_samples, 1)) {
      hole += step;
      continue;
    }
    if (*covered > 0) *longest_hole = std::max(*longest_hole, hole);  // interior holes only
    hole = 0;
    xs.clear();
    ys.clear();
    for (auto it = lo; it != hi; ++it) xs.push_back(it->second.x), ys.push_back(it->second.y);
    const size_t m = xs.size() / 2;
    std::nth_element(xs.begin(), xs.begin() + m, xs.end());
    std::nth_element(ys.begin(), ys.begin() + m, ys.end());
    out.push_back({xs[m], ys[m]});
    ++*covered;
  }
  return out;
}

}  // namespace

PathFit FitPath(const std::vector<Vec2>& stops, std::vector<std::pair<float, Vec2>> samples,
                const PathLearnerOptions& o) {
  PathFit fit;
  if (stops.size() < 2 || samples.empty()) return fit;
  const PlanePath chord(stops);
  PlanePath curve = chord;
  std::vector<std::pair<double, Vec2>> sorted(samples.size());
  std::vector<double> stop_t(stops.size());
  size_t covered = 0, stations = 0;
  double longest_hole = 0;
  for (int it = 0; it < std::max(o.iterations, 1); ++it) {
    const bool last = it + 1 >= std::max(o.iterations, 1);
    // Where each stop lies on the current curve, in order.
    for (size_t i = 0; i < stops.size(); ++i)
      stop_t[i] = curve.Project(stops[i], i == 0 ? 0 : stop_t[i - 1], curve.length());
    for (size_t k = 0; k < samples.size(); ++k) {
      const double c = samples[k].first;
      size_t i = std::upper_bound(chord.cum.begin(), chord.cum.end(), c) - chord.cum.begin();
      i = std::clamp<size_t>(i == 0 ? 0 : i - 1, 0, stops.size() - 2);
      const double lo = stop_t[i] - o.stop_margin_m, hi = stop_t[i + 1] + o.stop_margin_m;
      sorted[k] = {curve.Project(samples[k].second, lo, hi), samples[k].second};
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Vec2> centres = Stations(sorted, curve.length(), o, &covered, &stations, &longest_hole);
    if (centres.size() < 2) return fit;
    // The terminal stops anchor the ends (in the last pass only where no centre reaches them).
    if (!last || Dist(centres.front(), stops.front()) > o.window_min_m)
      centres.insert(centres.begin(), stops.front());
    if (!last || Dist(centres.back(), stops.back()) > o.window_min_m) centres.push_back(stops.back());
    curve = PlanePath(std::move(centres));
  }
  fit.points = Simplify(curve.pts, o.simplify_m);
  fit.coverage = stations ? static_cast<double>(covered) / stations : 0;
  fit.longest_hole_m = longest_hole;
  return fit;
}

PathLearner::PathLearner(std::shared_ptr<const Network> net, PathLearnerOptions options)
    : net_(std::move(net)), options_(options), chord_cum_(net_->patterns().size()) {
  const LocalProjection& proj = net_->projection();
  for (uint32_t p = 0; p < net_->patterns().size(); ++p) {
    if (!Learns(p)) continue;
    const Pattern& pat = net_->pattern(p);
    pattern_of_key_[PatternKey(net_->feed(), pat)] = p;
    std::vector<double>& cum = chord_cum_[p];
    cum.resize(pat.stops.size(), 0);
    Vec2 prev = proj.Forward(net_->feed().stops[pat.stops[0]].pos);
    for (size_t i = 1; i < pat.stops.size(); ++i) {
      const Vec2 xy = proj.Forward(net_->feed().stops[pat.stops[i]].pos);
      cum[i] = cum[i - 1] + Dist(prev, xy);
      prev = xy;
    }
  }
}

bool PathLearner::Learns(uint32_t pattern) const {
  if (pattern >= net_->patterns().size()) return false;
  const Pattern& p = net_->pattern(pattern);
  return p.shape == kNoIndex && p.stops.size() >= 2;
}

double PathLearner::ToChord(uint32_t pattern, double d) const {
  const std::vector<double>& sd = net_->pattern(pattern).stop_dist_m;
  const std::vector<double>& cc = chord_cum_[pattern];
  if (sd.size() != cc.size() || sd.size() < 2) return d;
  if (d <= sd.front()) return cc.front() + (d - sd.front());
  if (d >= sd.back()) return cc.back() + (d - sd.back());
  size_t i = std::upper_bound(sd.begin(), sd.end(), d) - sd.begin() - 1;
  const double len = sd[i + 1] - sd[i];
  const double u = len > 0 ? (d - sd[i]) / len : 0;
  return cc[i] + u * (cc[i + 1] - cc[i]);
}

PathLearner::PatternState& PathLearner::StateOf(uint32_t pattern) {
  PatternState& st = state_[pattern];
  if (st.bins.empty()) {
    const double len = chord_cum_[pattern].empty() ? 0 : chord_cum_[pattern].back();
    st.bins.resize(static_cast<size_t>(len / options_.reservoir_bin_m) + 1);
  }
  return st;
}

void PathLearner::Keep(uint32_t pattern, float chord_m, Vec2 xy) {
  PatternState& st = StateOf(pattern);
  const double b = std::floor(chord_m / options_.reservoir_bin_m);
  Bin& bin = st.bins[static_cast<size_t>(std::clamp(b, 0.0, double(st.bins.size() - 1)))];
  ++bin.seen;
  const size_t cap = static_cast<size_t>(std::max(options_.reservoir_per_bin, 1));
  if (bin.samples.size() < cap) {
    bin.samples.push_back({chord_m, xy});
    return;
  }
  // Reservoir sampling (deterministic): the n-th fix replaces a kept one with chance cap/n.
  const uint64_t j = SplitMix((uint64_t{pattern} << 32) ^ bin.seen ^ (uint64_t(b) << 20)) % bin.seen;
  if (j < cap) bin.samples[j] = {chord_m, xy};
}

void PathLearner::Add(uint32_t pattern, double dist_along_m, LatLon pos) {
  if (!Learns(pattern) || !std::isfinite(dist_along_m) || !IsValidLatLon(pos.lat, pos.lon)) return;
  const float chord = static_cast<float>(ToChord(pattern, dist_along_m));
  const Vec2 xy = net_->projection().Forward(pos);
  MutexLock lock(mu_);
  Keep(pattern, chord, xy);
}

void PathLearner::Observe(const VehicleState& s) {
  if (s.state != MatchState::kInService || s.trip == kNoIndex ||
      s.trip >= net_->feed().trips.size())
    return;
  const uint32_t pattern = net_->trip_pattern(s.trip);
  if (!Learns(pattern) || !std::isfinite(s.dist_along_m) || !IsValidLatLon(s.pos.lat, s.pos.lon))
    return;
  const float chord = static_cast<float>(ToChord(pattern, s.dist_along_m));
  const Vec2 xy = net_->projection().Forward(s.pos);
  MutexLock lock(mu_);
  Run& run = runs_[s.vehicle_id];
  if (run.trip != s.trip || run.service_date != s.service_date) {
    run = {s.trip, s.service_date};
    ++StateOf(pattern).traversals;
  }
  Keep(pattern, chord, xy);
}

LearnedPath PathLearner::EvidenceLocked(uint32_t pattern) const {
  LearnedPath out;
  const Pattern& pat = net_->pattern(pattern);
  out.key = PatternKey(net_->feed(), pat);
  out.route_id = pat.route < net_->feed().routes.size() ? net_->feed().routes[pat.route].id : "";
  out.direction_id = pat.direction_id;
  for (uint32_t s : pat.stops) out.stop_ids.push_back(net_->feed().stops[s].id);
  auto it = state_.find(pattern);
  if (it == state_.end()) return out;
  const LocalProjection& proj = net_->projection();
  out.traversals = it->second.traversals;
  for (const Bin& bin : it->second.bins) {
    out.bin_seen.push_back(bin.seen);
    for (const auto& s : bin.samples) out.samples.push_back({s.first, proj.Reverse(s.second)});
  }
  return out;
}

void PathLearner::Fit(uint32_t pattern, LearnedPath* out) const {
  const Pattern& pat = net_->pattern(pattern);
  const LocalProjection& proj = net_->projection();
  std::vector<std::pair<float, Vec2>> samples;
  samples.reserve(out->samples.size());
  for (const PathSample& s : out->samples) samples.push_back({s.chord_m, proj.Forward(s.pos)});
  std::vector<Vec2> stops;
  for (uint32_t s : pat.stops) stops.push_back(proj.Forward(net_->feed().stops[s].pos));
  PathFit fit = FitPath(stops, std::move(samples), options_);
  out->points.clear();
  for (const Vec2& p : fit.points) out->points.push_back(proj.Reverse(p));
  out->coverage = fit.coverage;
  out->longest_hole_m = fit.longest_hole_m;
  out->confident = !out->points.empty() && out->traversals >= options_.min_traversals &&
                   out->longest_hole_m <= options_.max_hole_m &&
                   out->coverage >= options_.min_coverage;
}

LearnedPath PathLearner::Build(uint32_t pattern) const {
  LearnedPath out;
  {
    MutexLock lock(mu_);
    out = EvidenceLocked(pattern);
  }
  if (!out.samples.empty()) Fit(pattern, &out);
  return out;
}

std::vector<LearnedPath> PathLearner::BuildAll() const {
  std::vector<uint32_t> patterns;
  std::vector<LearnedPath> out;
  {
    MutexLock lock(mu_);
    for (const auto& [p, st] : state_) patterns.push_back(p);
    std::sort(patterns.begin(), patterns.end());
    for (uint32_t p : patterns) out.push_back(EvidenceLocked(p));
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (!out[i].samples.empty()) Fit(patterns[i], &out[i]);
  return out;
}

absl::Status PathLearner::Restore(const LearnedPath& saved) {
  auto it = pattern_of_key_.find(saved.key);
  if (it == pattern_of_key_.end())
    return absl::NotFoundError(
        absl::StrCat("learned path '", saved.key, "': no shapeless pattern with these stops"));
  MutexLock lock(mu_);
  PatternState& st = StateOf(it->second);
  if (saved.bin_seen.size() != st.bins.size())
    return absl::InvalidArgumentError(absl::StrCat("learned path '", saved.key, "': ",
                                                   saved.bin_seen.size(), " bins, the pattern has ",
                                                   st.bins.size()));
  st.traversals += saved.traversals;
  for (size_t b = 0; b < st.bins.size(); ++b) st.bins[b].seen += saved.bin_seen[b];
  const size_t cap = static_cast<size_t>(std::max(options_.reservoir_per_bin, 1));
  for (const PathSample& s : saved.samples) {
    if (!IsValidLatLon(s.pos.lat, s.pos.lon)) continue;
    const double b = std::floor(s.chord_m / options_.reservoir_bin_m);
    Bin& bin = st.bins[static_cast<size_t>(std::clamp(b, 0.0, double(st.bins.size() - 1)))];
    if (bin.samples.size() < cap) bin.samples.push_back({s.chord_m, net_->projection().Forward(s.pos)});
  }
  return absl::OkStatus();
}

size_t PathLearner::RestoreAll(const std::vector<LearnedPath>& saved, size_t* skipped) {
  size_t restored = 0;
  *skipped = 0;
  for (const LearnedPath& p : saved) {
    if (Restore(p).ok()) {
      ++restored;
    } else {
      ++*skipped;
    }
  }
  return restored;
}

size_t UseConfidentPaths(const std::vector<LearnedPath>& paths, NetworkOptions* options) {
  size_t n = 0;
  for (const LearnedPath& p : paths) {
    if (!p.confident || p.points.size() < 2) continue;
    options->learned_paths[p.key] = p.points;
    ++n;
  }
  return n;
}

}  // namespace smartbus
