#include "services/core/geo/geo.h"

#include <algorithm>
#include <cmath>

#include "GeographicLib/Geodesic.hpp"

namespace smartbus {
namespace {

uint64_t CellKey(int64_t cx, int64_t cy) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(cx)) << 32) |
         static_cast<uint32_t>(cy);
}

}  // namespace

bool IsValidLatLon(double lat, double lon) {
  if (!std::isfinite(lat) || !std::isfinite(lon)) return false;
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return false;
  if (lat == 0 && lon == 0) return false;
  return true;
}

double GeodesicDistanceM(LatLon a, LatLon b) {
  double s12 = 0;
  GeographicLib::Geodesic::WGS84().Inverse(a.lat, a.lon, b.lat, b.lon, s12);
  return s12;
}

double BearingDeg(Vec2 dir) {
  double deg = std::atan2(dir.x, dir.y) * 180.0 / M_PI;
  return deg < 0 ? deg + 360.0 : deg;
}

double BearingDiffDeg(double a_deg, double b_deg) {
  double d = std::fmod(std::fabs(a_deg - b_deg), 360.0);
  return d > 180 ? 360 - d : d;
}

LocalProjection::LocalProjection(LatLon origin)
    : origin_(origin), lc_(origin.lat, origin.lon, 0, GeographicLib::Geocentric::WGS84()) {}

Vec2 LocalProjection::Forward(LatLon p) const {
  double x, y, z;
  lc_.Forward(p.lat, p.lon, 0, x, y, z);
  return {x, y};
}

LatLon LocalProjection::Reverse(Vec2 p) const {
  double lat, lon, h;
  lc_.Reverse(p.x, p.y, 0, lat, lon, h);
  return {lat, lon};
}

Polyline::Polyline(const std::vector<LatLon>& points, const LocalProjection& proj) {
  if (points.empty()) return;
  std::vector<LatLon> ll = points;
  if (ll.size() == 1) ll.push_back(ll[0]);
  pts_.reserve(ll.size());
  cum_m_.reserve(ll.size());
  seg_scale_.reserve(ll.size() - 1);
  for (const LatLon& p : ll) pts_.push_back(proj.Forward(p));
  cum_m_.push_back(0);
  for (size_t i = 1; i < ll.size(); ++i) {
    double geo = GeodesicDistanceM(ll[i - 1], ll[i]);
    double plane = Dist(pts_[i - 1], pts_[i]);
    seg_scale_.push_back(plane > 1e-9 ? geo / plane : 1.0);
    cum_m_.push_back(cum_m_.back() + geo);
  }
  BuildGrid();
}

void Polyline::BuildGrid() {
  for (uint32_t s = 0; s + 1 < pts_.size(); ++s) {
    Vec2 a = pts_[s], b = pts_[s + 1];
    int64_t x0 = static_cast<int64_t>(std::floor(std::min(a.x, b.x) / cell_m_));
    int64_t x1 = static_cast<int64_t>(std::floor(std::max(a.x, b.x) / cell_m_));
    int64_t y0 = static_cast<int64_t>(std::floor(std::min(a.y, b.y) / cell_m_));
    int64_t y1 = static_cast<int64_t>(std::floor(std::max(a.y, b.y) / cell_m_));
    for (int64_t cx = x0; cx <= x1; ++cx)
      for (int64_t cy = y0; cy <= y1; ++cy) grid_[CellKey(cx, cy)].push_back(s);
  }
}

PolylinePoint Polyline::ProjectOnSegment(Vec2 p, uint32_t s) const {
  PolylinePoint r;
  Vec2 a = pts_[s], b = pts_[s + 1];
  Vec2 ab = b - a;
  double len2 = Dot(ab, ab);
  double t = len2 > 1e-12 ? std::clamp(Dot(p - a, ab) / len2, 0.0, 1.0) : 0.0;
  Vec2 q = a + ab * t;
  r.offset_m = Dist(p, q);
  r.dist_along_m = cum_m_[s] + t * (cum_m_[s + 1] - cum_m_[s]);
  r.segment = s;
  return r;
}

PolylinePoint Polyline::Project(Vec2 p, double from_m, double to_m) const {
  PolylinePoint best;
  if (pts_.size() < 2) return best;
  from_m = std::max(0.0, from_m);
  to_m = std::min(to_m, length_m());
  if (to_m < from_m) to_m = from_m;
  uint32_t s0 = SegmentAt(from_m), s1 = SegmentAt(to_m);
  for (uint32_t s = s0; s <= s1; ++s) {
    PolylinePoint c = ProjectOnSegment(p, s);
    // Clamp to the allowed range on the boundary segments.
    if (c.dist_along_m < from_m || c.dist_along_m > to_m) {
      double d = std::clamp(c.dist_along_m, from_m, to_m);
      c.dist_along_m = d;
      c.offset_m = Dist(p, PointAt(d));
    }
    if (c.offset_m < best.offset_m) best = c;
  }
  return best;
}

void Polyline::Candidates(Vec2 p, double radius_m, std::vector<PolylinePoint>* out) const {
  out->clear();
  if (pts_.size() < 2) return;
  int64_t x0 = static_cast<int64_t>(std::floor((p.x - radius_m) / cell_m_));
  int64_t x1 = static_cast<int64_t>(std::floor((p.x + radius_m) / cell_m_));
  int64_t y0 = static_cast<int64_t>(std::floor((p.y - radius_m) / cell_m_));
  int64_t y1 = static_cast<int64_t>(std::floor((p.y + radius_m) / cell_m_));
  std::vector<PolylinePoint> hits;
  for (int64_t cx = x0; cx <= x1; ++cx) {
    for (int64_t cy = y0; cy <= y1; ++cy) {
      auto it = grid_.find(CellKey(cx, cy));
      if (it == grid_.end()) continue;
      for (uint32_t s : it->second) {
        PolylinePoint c = ProjectOnSegment(p, s);
        if (c.offset_m <= radius_m) hits.push_back(c);
      }
    }
  }
  if (hits.empty()) return;
  std::sort(hits.begin(), hits.end(), [](const PolylinePoint& a, const PolylinePoint& b) {
    return a.segment < b.segment;
  });
  hits.erase(std::unique(hits.begin(), hits.end(),
                         [](const PolylinePoint& a, const PolylinePoint& b) {
                           return a.segment == b.segment;
                         }),
             hits.end());
  // The distance from p is convex along each segment, so its local minima along the polyline
  // are (a) a segment's interior nearest point, or (b) a vertex where the segment before it ends
  // nearest and the one after it starts nearest (zero-length segments skipped), or (c) an end of
  // the polyline. Runs of consecutive hit segments are passes near p; a pass that turns back
  // (a U-turn at the end of an out-and-back street) holds several minima.
  const uint32_t num_segs = static_cast<uint32_t>(pts_.size() - 1);
  auto degenerate = [this](uint32_t s) {
    Vec2 d = pts_[s + 1] - pts_[s];
    return Dot(d, d) <= 1e-12;
  };
  // Raw parameter of p's foot on segment s: <= 0 at its start, >= 1 at its end.
  auto param = [this, p](uint32_t s) {
    Vec2 ab = pts_[s + 1] - pts_[s];
    return Dot(p - pts_[s], ab) / Dot(ab, ab);
  };
  std::vector<PolylinePoint> minima;
  size_t i = 0;
  while (i < hits.size()) {
    size_t j = i + 1;
    while (j < hits.size() && hits[j].segment == hits[j - 1].segment + 1) ++j;
    minima.clear();
    for (size_t k = i; k < j; ++k) {
      const uint32_t s = hits[k].segment;
      if (degenerate(s)) {
        // A polyline of repeated points only: its single point is the minimum.
        bool all_degenerate = true;
        for (uint32_t q = 0; q < num_segs && all_degenerate; ++q) all_degenerate = degenerate(q);
        if (all_degenerate && k == i) minima.push_back(hits[k]);
        continue;
      }
      const double t = param(s);
      if (t > 0 && t < 1) {
        minima.push_back(hits[k]);
      } else if (t <= 0) {
        // At the start vertex: a minimum when nothing before it approaches p further.
        int64_t q = static_cast<int64_t>(s) - 1;
        while (q >= 0 && degenerate(static_cast<uint32_t>(q))) --q;
        if (q < 0 || param(static_cast<uint32_t>(q)) >= 1) minima.push_back(hits[k]);
      } else {
        // At the end vertex: a minimum here only at the end of the polyline (otherwise the
        // next non-degenerate segment reports it from its start).
        uint32_t q = s + 1;
        while (q < num_segs && degenerate(q)) ++q;
        if (q == num_segs) minima.push_back(hits[k]);
      }
    }
    // Merge minima of one pass not separated by a rise of at least kMinRiseM (noise in a shape
    // traced by GPS), keeping the nearer.
    constexpr double kMinRiseM = 2.0;
    size_t first_out = out->size();
    for (const PolylinePoint& m : minima) {
      if (out->size() > first_out) {
        PolylinePoint& last = out->back();
        double peak = std::max(last.offset_m, m.offset_m);
        for (uint32_t v = last.segment + 1; v <= m.segment; ++v)
          peak = std::max(peak, Dist(p, pts_[v]));
        if (peak - std::max(last.offset_m, m.offset_m) < kMinRiseM) {
          if (m.offset_m < last.offset_m) last = m;
          continue;
        }
      }
      out->push_back(m);
    }
    i = j;
  }
}

uint32_t Polyline::SegmentAt(double dist_m) const {
  if (pts_.size() < 2) return 0;
  auto it = std::upper_bound(cum_m_.begin(), cum_m_.end(), dist_m);
  int64_t s = static_cast<int64_t>(it - cum_m_.begin()) - 1;
  return static_cast<uint32_t>(std::clamp<int64_t>(s, 0, static_cast<int64_t>(pts_.size()) - 2));
}

Vec2 Polyline::PointAt(double dist_m) const {
  if (pts_.empty()) return {};
  if (pts_.size() < 2) return pts_[0];
  uint32_t s = SegmentAt(dist_m);
  double len = cum_m_[s + 1] - cum_m_[s];
  double t = len > 1e-12 ? std::clamp((dist_m - cum_m_[s]) / len, 0.0, 1.0) : 0.0;
  return pts_[s] + (pts_[s + 1] - pts_[s]) * t;
}

Vec2 Polyline::DirectionAt(double dist_m) const {
  if (pts_.size() < 2) return {0, 1};
  uint32_t s = SegmentAt(dist_m);
  // Skip zero-length segments forward, then backward.
  for (uint32_t k = s; k + 1 < pts_.size(); ++k) {
    Vec2 d = pts_[k + 1] - pts_[k];
    double n = Norm(d);
    if (n > 1e-9) return d * (1.0 / n);
  }
  for (int64_t k = s; k >= 0; --k) {
    Vec2 d = pts_[k + 1] - pts_[k];
    double n = Norm(d);
    if (n > 1e-9) return d * (1.0 / n);
  }
  return {0, 1};
}

void Polyline::SetSegmentSlack(std::vector<float> slack_m) {
  slack_m_ = std::move(slack_m);
  max_slack_m_ = 0;
  max_slack_seg_m_ = 0;
  for (size_t i = 0; i < slack_m_.size(); ++i) {
    max_slack_m_ = std::max<double>(max_slack_m_, slack_m_[i]);
    if (slack_m_[i] > 0 && i + 1 < cum_m_.size())
      max_slack_seg_m_ = std::max(max_slack_seg_m_, cum_m_[i + 1] - cum_m_[i]);
  }
}

int ChordSlackModel::Class(double len_m) {
  int c = 0;
  for (double edge = 500; c + 1 < kClasses && len_m >= edge; edge *= 2) ++c;
  return c;
}

void ChordSlackModel::Add(double len_m, double offset_m, uint32_t pair) {
  if (!(len_m > 0) || !(offset_m >= 0) || !std::isfinite(offset_m)) return;
  const int c = Class(len_m);
  // Bounded as a double: a share beyond int's range (a stop pair nearly 0 m long) cast to int
  // is undefined.
  const int bin = static_cast<int>(
      std::min<double>(kBins - 1, std::ceil(offset_m / len_m * 100 - 1e-9)));
  MutexLock lock(mu_);
  if (pair < pair_top_.size()) {
    PairTop& t = pair_top_[pair];
    const float sh = static_cast<float>(bin / 100.0);
    if (sh > t.first) {
      t.second = t.first;
      t.first = sh;
    } else {
      t.second = std::max(t.second, sh);
    }
    ++t.n;
    UpdatePair(pair);
  }
  ++hist_[c][bin];
  ++n_[c];
  UpdateClass(c);
}

void ChordSlackModel::UpdatePair(uint32_t pair) {
  const PairTop& t = pair_top_[pair];
  if (t.n < kMinPairTraversals) return;
  pair_share_[pair].store(t.second, std::memory_order_relaxed);
  if (t.second > max_share_.load(std::memory_order_relaxed))
    max_share_.store(t.second, std::memory_order_relaxed);
}

void ChordSlackModel::UpdateClass(int c) {
  if (n_[c] < kMinTraversals) return;
  // The smallest share with at least kQuantile of the traversals at or below it.
  const auto need = static_cast<int64_t>(std::ceil(kQuantile * static_cast<double>(n_[c])));
  int64_t seen = 0;
  int b = 0;
  for (; b < kBins - 1; ++b) {
    seen += hist_[c][b];
    if (seen >= need) break;
  }
  share_[c].store(static_cast<float>(std::max(floor_, b / 100.0)), std::memory_order_relaxed);
  float m = max_share_.load(std::memory_order_relaxed);
  for (const auto& s : share_) m = std::max(m, s.load(std::memory_order_relaxed));
  max_share_.store(m, std::memory_order_relaxed);
}

ChordSlackModel::State ChordSlackModel::Save() const {
  MutexLock lock(mu_);
  State s;
  s.hist = hist_;
  s.n = n_;
  for (size_t i = 0; i < pair_top_.size(); ++i) {
    if (pair_top_[i].n > 0 && !pair_key_[i].empty()) s.pairs.emplace_back(pair_key_[i], pair_top_[i]);
  }
  s.pairs.insert(s.pairs.end(), carried_.begin(), carried_.end());
  return s;
}

int64_t ChordSlackModel::Load(const State& state) {
  MutexLock lock(mu_);
  hist_ = state.hist;
  n_ = state.n;
  for (auto& s : share_) s.store(static_cast<float>(floor_), std::memory_order_relaxed);
  for (auto& s : pair_share_) s.store(0.f, std::memory_order_relaxed);
  max_share_.store(static_cast<float>(floor_), std::memory_order_relaxed);
  for (PairTop& t : pair_top_) t = PairTop{};
  carried_.clear();
  int64_t skipped = 0;
  for (const auto& [key, top] : state.pairs) {
    auto it = pair_index_.find(key);
    if (it == pair_index_.end()) {
      ++skipped;
      carried_.emplace_back(key, top);
      continue;
    }
    pair_top_[it->second] = top;
    UpdatePair(it->second);
  }
  for (int c = 0; c < kClasses; ++c) UpdateClass(c);
  return skipped;
}

int64_t ChordSlackModel::traversals(double len_m) const {
  MutexLock lock(mu_);
  return n_[Class(len_m)];
}

void GpsNoiseModel::Add(double offset_m) {
  if (!(offset_m >= 0) || !std::isfinite(offset_m)) return;
  const int bin = static_cast<int>(std::min<double>(kBins - 1, offset_m / kBinM));
  // Every fix of every shard may come here: an offset that finds another shard adding is
  // dropped rather than waited for (a random sample's median is the same; no shard stalls).
  if (!mu_.TryLock()) return;
  ++s_.hist[bin];
  ++s_.n;
  ++s_.added;
  if (s_.n >= 2 * kWindow) {
    s_.n = 0;
    for (int64_t& h : s_.hist) s_.n += h /= 2;
  }
  Update();
  mu_.Unlock();
}

void GpsNoiseModel::Update() {
  if (s_.added < kMinFixes || s_.n <= 0) return;
  // The median offset, interpolated within its bin.
  const double half = 0.5 * static_cast<double>(s_.n);
  double seen = 0;
  int b = 0;
  for (; b < kBins - 1 && seen + static_cast<double>(s_.hist[b]) < half; ++b) {
    seen += static_cast<double>(s_.hist[b]);
  }
  const double in_bin = s_.hist[b] > 0 ? (half - seen) / static_cast<double>(s_.hist[b]) : 0;
  const double median = (b + std::clamp(in_bin, 0.0, 1.0)) * kBinM;
  sigma_.store(kMadScale * median, std::memory_order_relaxed);
}

int64_t GpsNoiseModel::fixes() const {
  MutexLock lock(mu_);
  return s_.added;
}

GpsNoiseModel::State GpsNoiseModel::Save() const {
  MutexLock lock(mu_);
  return s_;
}

void GpsNoiseModel::Load(const State& state) {
  MutexLock lock(mu_);
  s_ = state;
  s_.n = 0;
  for (int64_t h : s_.hist) s_.n += h;
  sigma_.store(std::numeric_limits<double>::quiet_NaN(), std::memory_order_relaxed);
  Update();
}

}  // namespace smartbus
