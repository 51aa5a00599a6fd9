#pragma once
// Geometry on a city-sized local plane: WGS84 <-> local east/north metres (GeographicLib
// LocalCartesian) and polylines with cumulative geodesic distance.
//
// Thread safety: every type here is immutable after construction and safe to share, except
// ChordSlackModel and GpsNoiseModel (learned while the engine runs; thread-safe).

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <deque>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "GeographicLib/LocalCartesian.hpp"
#include "absl/container/flat_hash_map.h"
#include "services/core/common/mutex.h"

namespace smartbus {

struct LatLon {
  double lat = 0;  // WGS84 degrees, -90..90
  double lon = 0;  // WGS84 degrees, -180..180
};

// True when lat/lon are finite and in range (a (0,0) fix is also rejected: GPS "null island").
bool IsValidLatLon(double lat, double lon);

// A point on the local plane: metres east and north of the projection origin.
struct Vec2 {
  double x = 0;
  double y = 0;
};
inline Vec2 operator-(Vec2 a, Vec2 b) { return {a.x - b.x, a.y - b.y}; }
inline Vec2 operator+(Vec2 a, Vec2 b) { return {a.x + b.x, a.y + b.y}; }
inline Vec2 operator*(Vec2 a, double k) { return {a.x * k, a.y * k}; }
inline double Dot(Vec2 a, Vec2 b) { return a.x * b.x + a.y * b.y; }
inline double Norm(Vec2 a) { return std::sqrt(a.x * a.x + a.y * a.y); }
inline double Dist(Vec2 a, Vec2 b) { return Norm(a - b); }

// Geodesic (WGS84 ellipsoid) distance in metres.
double GeodesicDistanceM(LatLon a, LatLon b);

// Bearing of a plane direction in degrees clockwise from north, 0..360.
double BearingDeg(Vec2 dir);
// Smallest absolute difference of two bearings in degrees, 0..180.
double BearingDiffDeg(double a_deg, double b_deg);

// Projects WGS84 onto a tangent plane at an origin (GeographicLib::LocalCartesian, height 0).
// Over a city (tens of km) the distortion of distances is below 0.01%.
class LocalProjection {
 public:
  LocalProjection() = default;
  explicit LocalProjection(LatLon origin);
  LatLon origin() const { return origin_; }
  Vec2 Forward(LatLon p) const;
  LatLon Reverse(Vec2 p) const;

 private:
  LatLon origin_;
  GeographicLib::LocalCartesian lc_;
};

// Where a point lies relative to a polyline.
struct PolylinePoint {
  double dist_along_m = 0;  // cumulative geodesic distance along the polyline
  double offset_m = std::numeric_limits<double>::infinity();  // distance from the polyline
  uint32_t segment = 0;     // index of the segment (points segment, segment+1)
};

// A polyline on the local plane with cumulative geodesic distance at every vertex. Zero-length
// segments (repeated points) are kept and handled. Built once, then immutable.
// How far buses run from the straight line between two stops of a path drawn without a shape,
// learned per feed from the buses themselves: the tracker adds every traversal of such a segment
// by a bus on its trip (the largest offset of its fixes from the segment, once the bus has come
// back onto its path beyond the segment). A segment's slack is then a high quantile
// (kQuantile) of offset / length over the traversals of segments of about its length (classes
// doubling from 500 m), and never below the floor share that holds before there is evidence.
// Why by length: on Staten Island's real shapes stop-to-stop chords of >= 4 km bend 0.23 of
// their length (median, p90 0.29), on WMATA's and the demo city's shorter chords p90 0.05-0.15
// (bench/RESULTS.md "Chords learned from the buses"); one share for all lengths either calls the
// motorway legs off route or makes short limited-stop chords confusable with their locals.
// A stop pair whose own road bends more than its class's quantile (one motorway leg among
// straighter ones) also follows its own traversals once a few agree (share(len, pair)).
class ChordSlackModel {
 public:
  // The 90 % quantile: the p90 of the chord bends measured on the three feeds' real shapes is
  // what a tolerance must cover; the last 10 % (detours, wrong trips noticed late) stay off.
  static constexpr double kQuantile = 0.9;
  // Traversals a length class needs before its quantile is used (with 20 the p90 is the 18th).
  static constexpr int kMinTraversals = 20;
  // Largest learned share: a road reaching 0.5 of its chord's length away is >= 1.41x the chord
  // (a loop or a badly placed stop, not a bent road); it also bounds what wrong trips add.
  static constexpr double kMaxShare = 0.5;

  explicit ChordSlackModel(double floor_share) : floor_(floor_share) {
    for (auto& s : share_) s.store(static_cast<float>(floor_share), std::memory_order_relaxed);
    max_share_.store(static_cast<float>(floor_share), std::memory_order_relaxed);
  }
  // One traversal of a segment `len_m` long whose fixes were up to `offset_m` from it; `pair`:
  // the segment's stop pair (NewPair), or kNoPair.
  void Add(double len_m, double offset_m, uint32_t pair = kNoPair);
  // Share of a segment's length its slack is (floor until the class has kMinTraversals).
  double share(double len_m) const {
    return share_[Class(len_m)].load(std::memory_order_relaxed);
  }
  // The same for one stop pair: the larger of its class's share and what its own traversals
  // showed (the second largest once it has kMinPairTraversals: one road that bends more than
  // most of its length; two traversals must agree).
  double share(double len_m, uint32_t pair) const {
    const double c = share(len_m);
    return pair < pair_share_.size()
               ? std::max<double>(c, pair_share_[pair].load(std::memory_order_relaxed))
               : c;
  }
  static constexpr uint32_t kNoPair = 0xffffffffu;
  // Traversals of one stop pair before its own share counts: the second largest of three is
  // a bend two buses saw (one far traversal can be a wrong trip). Staten Island, 2-hour
  // window: right-trip off route 0.36 -> 0.21 % with it, WMATA and the demo city unchanged
  // (bench/RESULTS.md "Chords learned from the buses").
  static constexpr int kMinPairTraversals = 3;
  // A new stop pair (while the network is built, before any Add). `key` names it across
  // networks built from the same stops (the saved model's pairs are found by it: Load).
  uint32_t NewPair(std::string key = {}) {
    MutexLock lock(mu_);
    pair_share_.emplace_back(0.f);
    pair_top_.push_back({0, 0, 0});
    const auto id = static_cast<uint32_t>(pair_share_.size() - 1);
    if (!key.empty()) pair_index_.try_emplace(key, id);
    pair_key_.push_back(std::move(key));
    return id;
  }
  double max_share() const { return max_share_.load(std::memory_order_relaxed); }
  int64_t traversals(double len_m) const;

  static constexpr int kClasses = 6;  // < 500 m, 500-1000, 1-2 km, 2-4 km, 4-8 km, >= 8 km
  static constexpr int kBins = 51;    // share in steps of 0.01 up to kMaxShare
  // What a stop pair's traversals showed: the largest and second largest share, how many.
  struct PairTop {
    float first = 0, second = 0;
    int32_t n = 0;
  };
  // The learned evidence (persisted with the predictor's model: Network::AppendLearned).
  struct State {
    std::array<std::array<int64_t, kBins>, kClasses> hist{};  // traversals by class, share bin
    std::array<int64_t, kClasses> n{};
    std::vector<std::pair<std::string, PairTop>> pairs;  // by key; pairs with traversals only
  };
  State Save() const;
  // Replaces the evidence with `state` (the shares follow it). Pairs whose key this model does
  // not have (a pattern now drawn along a learned path, or not in this GTFS) are kept as they
  // are and saved again (a later network may draw them as chords); their number is returned.
  int64_t Load(const State& state);

 private:
  static int Class(double len_m);
  // The class's share from its histogram (once it has kMinTraversals) and max_share_.
  void UpdateClass(int c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdatePair(uint32_t pair) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double floor_;
  mutable Mutex mu_;
  std::array<std::array<int64_t, kBins>, kClasses> hist_ ABSL_GUARDED_BY(mu_){};
  std::array<int64_t, kClasses> n_ ABSL_GUARDED_BY(mu_){};
  std::array<std::atomic<float>, kClasses> share_;
  std::atomic<float> max_share_{0};
  std::deque<std::atomic<float>> pair_share_;
  std::vector<PairTop> pair_top_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pair_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> pair_index_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, PairTop>> carried_ ABSL_GUARDED_BY(mu_);  // Load's unknown
};

// The GPS noise of a feed's fixes that report no accuracy, learned from the fixes themselves:
// the tracker adds the offset of each such fix placed on a path whose geometry is known (a
// traced shape or a learned path, not a line drawn between stops) by a bus on its started trip.
// Offsets of a fix with independent Gaussian error of standard deviation sigma per axis from a
// straight road are |N(0, sigma^2)|: their median is 0.6745 sigma, so sigma = 1.4826 x the
// median offset (the MAD scale; outliers, wrong matches and stops at the kerb move a median
// little). Until kMinFixes offsets the model has no estimate (the matcher keeps its default).
// Recent evidence counts most: when the histogram holds 2 x kWindow offsets, every count is
// halved.
class GpsNoiseModel {
 public:
  static constexpr double kBinM = 0.25;  // offset histogram resolution (m)
  static constexpr int kBins = 480;      // up to 120 m (the matcher's candidate radius)
  // Offsets before the estimate counts: about one bus-hour of 10-s fixes, or 15 buses for 2
  // hours of 2-min fixes; the median of 500 half-normal offsets is within +-6 % (2 SE).
  static constexpr int64_t kMinFixes = 500;
  // The window: about a day of a mid-size fleet (the WMATA day, 31 buses: 17,309 offsets; the
  // Staten Island simulation, 2 hours at 30 s: 95,700), so the estimate follows a change of
  // receivers or of the agency's positioning within a day or so, not within an hour.
  static constexpr int64_t kWindow = 20000;
  static constexpr double kMadScale = 1.4826;

  // One offset (dropped when another thread is adding one: no waiting on the hot path).
  void Add(double offset_m);
  // Sigma per axis (m), or NaN until kMinFixes offsets (the matcher bounds it below by
  // MatchingOptions::min_sigma_m).
  double sigma_m() const { return sigma_.load(std::memory_order_relaxed); }
  int64_t fixes() const;

  struct State {
    std::array<int64_t, kBins> hist{};
    int64_t n = 0;
    int64_t added = 0;  // offsets ever added (n is halved, this is not)
  };
  State Save() const;
  void Load(const State& state);

 private:
  void Update() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  mutable Mutex mu_;
  State s_ ABSL_GUARDED_BY(mu_);
  std::atomic<double> sigma_{std::numeric_limits<double>::quiet_NaN()};
};

class Polyline {
 public:
  Polyline() = default;
  // `points` in WGS84 order; `proj` places them on the plane. Fewer than 2 points gives an
  // empty polyline of length 0 (a single point is duplicated so that it has one segment).
  Polyline(const std::vector<LatLon>& points, const LocalProjection& proj);

  size_t size() const { return pts_.size(); }
  double length_m() const { return cum_m_.empty() ? 0 : cum_m_.back(); }
  const std::vector<Vec2>& points() const { return pts_; }
  const std::vector<double>& cum_m() const { return cum_m_; }

  // Nearest point of the polyline to `p` restricted to distances [from_m, to_m] along it.
  PolylinePoint Project(Vec2 p, double from_m = 0,
                        double to_m = std::numeric_limits<double>::infinity()) const;
  // Nearest point on one segment.
  PolylinePoint ProjectOnSegment(Vec2 p, uint32_t segment) const;
  // Every local minimum of the distance from `p` to the polyline within `radius_m`, one per
  // separate pass of the polyline near `p` (a loop or out-and-back street gives several, also
  // when the street turns back on itself within the radius), sorted by dist_along_m. Minima
  // not separated by a rise of at least 2 m (noise in a traced shape) count as one, the nearer.
  // Uses a segment grid: cost grows with the segments near `p`.
  void Candidates(Vec2 p, double radius_m, std::vector<PolylinePoint>* out) const;

  // Point and direction (unit vector) at a distance along the polyline (clamped to its ends).
  Vec2 PointAt(double dist_m) const;
  Vec2 DirectionAt(double dist_m) const;
  uint32_t SegmentAt(double dist_m) const;

  // How uncertain the path is around each segment (m): 0 for a traced shape; for a path drawn
  // as straight lines between stops (no shape), the road may bend away from the line by up to
  // a share of its length (Network sets it). Matchers tolerate offsets up to it.
  void SetSegmentSlack(std::vector<float> slack_m);
  // The slack of each segment with one follows this feed's learned chord bends (at least the
  // slack set above).
  // `pairs`: each segment's stop pair in the model (ChordSlackModel::NewPair).
  void SetSlackModel(std::shared_ptr<const ChordSlackModel> model,
                     std::vector<uint32_t> pairs = {}) {
    model_ = std::move(model);
    pairs_ = std::move(pairs);
  }
  uint32_t slack_pair(uint32_t segment) const {
    return segment < pairs_.size() ? pairs_[segment] : ChordSlackModel::kNoPair;
  }
  double slack_m(uint32_t segment) const {
    if (segment >= slack_m_.size()) return 0.0;
    if (!model_ || slack_m_[segment] <= 0) return slack_m_[segment];
    const double len = cum_m_[segment + 1] - cum_m_[segment];
    return std::max<double>(slack_m_[segment], model_->share(len, slack_pair(segment)) * len);
  }
  double max_slack_m() const {
    return model_ ? std::max(max_slack_m_, model_->max_share() * max_slack_seg_m_) : max_slack_m_;
  }

 private:
  void BuildGrid();
  std::vector<float> slack_m_;
  double max_slack_m_ = 0;
  double max_slack_seg_m_ = 0;  // longest segment with a slack
  std::shared_ptr<const ChordSlackModel> model_;
  std::vector<uint32_t> pairs_;
  std::vector<Vec2> pts_;
  std::vector<double> cum_m_;      // geodesic distance at each vertex
  std::vector<double> seg_scale_;  // geodesic / planar length of each segment (1 if zero)
  // Segment grid: cell key -> segment indices.
  double cell_m_ = 100;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> grid_;
};

}  // namespace smartbus
