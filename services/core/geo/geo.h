#pragma once
// Geometry on a city-sized local plane: WGS84 <-> local east/north metres (GeographicLib
// LocalCartesian) and polylines with cumulative geodesic distance.
//
// Thread safety: every type here is immutable after construction and safe to share.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "GeographicLib/LocalCartesian.hpp"
#include "absl/container/flat_hash_map.h"

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
  double slack_m(uint32_t segment) const {
    return segment < slack_m_.size() ? slack_m_[segment] : 0.0;
  }
  double max_slack_m() const { return max_slack_m_; }

 private:
  void BuildGrid();
  std::vector<float> slack_m_;
  double max_slack_m_ = 0;
  std::vector<Vec2> pts_;
  std::vector<double> cum_m_;      // geodesic distance at each vertex
  std::vector<double> seg_scale_;  // geodesic / planar length of each segment (1 if zero)
  // Segment grid: cell key -> segment indices.
  double cell_m_ = 100;
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> grid_;
};

}  // namespace smartbus
