#include "services/core/network/network.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/core/common/status_macros.h"

namespace smartbus {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kDayS = 86400;
// Share of a stop-to-stop segment's length a shapeless path may be off the road (see Build).
constexpr double kChordSlack = 0.2;
// Dates farther apart than this are not precomputed for ActiveServices (computed on demand).
constexpr int64_t kMaxPrecomputedDays = 4000;
// Weight of the schedule-consistency term in stop placement: metres of stop offset per metre of
// difference between the along-shape gap of two consecutive stops and the gap their scheduled
// times suggest. Small: it only decides between placements whose offsets are about equal (the
// two sides of an out-and-back street).
constexpr double kGapWeight = 0.002;
// Cost (metres of offset) of placing a stop on the side of the street opposite to where the
// feed's unambiguous stops stand (right in right-hand traffic): decides between the two passes
// of a street driven both ways along one centreline.
constexpr double kWrongSideM = 0.5;
// A pattern is non-monotone when keeping its stops in order puts a stop more than this much
// farther from the shape than its nearest pass.
constexpr double kOrderSlackM = 30;
// Weight of the agency's shape_dist_traveled, when given: metres of offset per metre between a
// placement and the distance shape_dist_traveled implies. Decides between passes (loops, both
// sides of a street) while the geometry still fixes the exact point.
constexpr double kShapeDistWeight = 0.1;
// shape_dist_traveled is ignored for a pattern (warning "shape_dist_traveled_ignored") when the
// points it implies lie farther than this from their stops (median over the pattern).
constexpr double kShapeDistMaxMedianOffsetM = 50;

uint64_t CellKey(int64_t cx, int64_t cy) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(cx)) << 32) | static_cast<uint32_t>(cy);
}

absl::CivilDay ToCivilDay(int32_t yyyymmdd) {
  return absl::CivilDay(yyyymmdd / 10000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
}

int32_t FromCivilDay(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

// ---- Stop placement ----------------------------------------------------------------------

// A place for a stop along a polyline: one pass of the shape near the stop.
struct StopCand {
  double dist = 0;    // along the polyline, m
  double offset = 0;  // stop to polyline, m
  int8_t side = 0;    // +1 the stop is right of the direction of travel, -1 left, 0 on the line
};

// Which side of the polyline (seen in its direction) p lies on at `c`.
int8_t SideOf(const Polyline& line, Vec2 p, const PolylinePoint& c) {
  constexpr double kOnLineM = 2.0;
  if (c.offset_m < kOnLineM || line.size() < 2) return 0;
  const Vec2 a = line.points()[c.segment];
  Vec2 dir = line.points()[c.segment + 1] - a;
  if (Dot(dir, dir) <= 1e-12) dir = line.DirectionAt(c.dist_along_m);
  const Vec2 v = p - line.PointAt(c.dist_along_m);
  const double cross = dir.x * v.y - dir.y * v.x;
  return cross < 0 ? 1 : -1;
}

struct PlaceState {
  double dist = 0;     // along the polyline
  double offset = 0;   // stop to polyline
  double cost = 0;     // accumulated
  int32_t prev = -1;   // index into the previous stop's states
};

// Reusable scratch space for placement (one per Build).
struct Placer {
  std::vector<std::vector<PlaceState>> states;
  std::vector<double> nearest_offset;  // per stop, its smallest offset to any pass
};

// Keeps states sorted by dist with the cheapest per distinct dist, dropping states that an
// earlier, cheaper one dominates (every continuation of the later one is open to the earlier one
// at no more cost, the schedule term included).
void PruneStates(std::vector<PlaceState>* s) {
  std::sort(s->begin(), s->end(), [](const PlaceState& a, const PlaceState& b) {
    return a.dist != b.dist ? a.dist < b.dist : a.cost < b.cost;
  });
  size_t w = 0;
  for (size_t i = 0; i < s->size(); ++i) {
    const PlaceState& c = (*s)[i];
    bool dominated = false;
    for (size_t k = 0; k < w; ++k) {
      const PlaceState& a = (*s)[k];
      if (a.cost + kGapWeight * (c.dist - a.dist) <= c.cost) {
        dominated = true;
        break;
      }
    }
    if (!dominated) (*s)[w++] = c;
  }
  s->resize(w);
}

// Places the stops (plane positions `xy`, candidate passes `cands[cand_begin[i] ..
// cand_begin[i+1])`) along `line` at non-decreasing distances, minimising the sum of offsets
// plus two small tie-breakers: a schedule-consistency term (kGapWeight) and kWrongSideM for a
// stop on the side of the street opposite to the feed's usual one (`traffic_side`).
// `times_s` are the scheduled times of one trip of the pattern (may be empty).
void PlaceStops(const Polyline& line, const std::vector<Vec2>& xy, const StopCand* cands,
                const uint32_t* cand_begin, const std::vector<int32_t>& times_s,
                const std::vector<double>& implied_m, int8_t traffic_side, double radius_m,
                Placer* pl, Pattern* pat) {
  const size_t n = xy.size();
  pat->stop_dist_m.assign(n, 0);
  pat->stop_offset_m.assign(n, 0);
  pat->max_stop_offset_m = 0;
  pat->monotone = true;
  if (n == 0) return;

  // Expected along-shape gap between consecutive stops.
  double speed = 0;
  if (times_s.size() == n && times_s.back() > times_s.front()) {
    double straight = 0;
    for (size_t i = 1; i < n; ++i) straight += Dist(xy[i - 1], xy[i]);
    speed = straight / (times_s.back() - times_s.front());
  }
  auto expected_gap = [&](size_t i) {
    if (speed > 0) return speed * std::max(0, times_s[i] - times_s[i - 1]);
    return Dist(xy[i - 1], xy[i]);
  };
  auto side_cost = [traffic_side](int8_t side) {
    return side != 0 && side != traffic_side ? kWrongSideM : 0.0;
  };
  auto implied_cost = [&implied_m](size_t i, double d) {
    return implied_m.empty() ? 0.0 : kShapeDistWeight * std::fabs(d - implied_m[i]);
  };
  auto side_at = [&line](Vec2 p, double d) {
    PolylinePoint c;
    c.dist_along_m = d;
    c.segment = line.SegmentAt(d);
    c.offset_m = Dist(p, line.PointAt(d));
    return SideOf(line, p, c);
  };

  if (pl->states.size() < n) pl->states.resize(n);
  pl->nearest_offset.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    std::vector<PlaceState>& cur = pl->states[i];
    cur.clear();
    const StopCand* cb = cands + cand_begin[i];
    const StopCand* ce = cands + cand_begin[i + 1];
    double nearest = kInf;
    for (const StopCand* c = cb; c != ce; ++c) nearest = std::min(nearest, c->offset);
    if (cb == ce) nearest = line.Project(xy[i]).offset_m;
    pl->nearest_offset[i] = nearest;
    if (i == 0) {
      for (const StopCand* c = cb; c != ce; ++c)
        cur.push_back({c->dist, c->offset,
                       c->offset + side_cost(c->side) + implied_cost(i, c->dist), -1});
      if (cur.empty()) {
        PolylinePoint c = line.Project(xy[i]);
        cur.push_back({c.dist_along_m, c.offset_m, c.offset_m + implied_cost(i, c.dist_along_m),
                       -1});
      }
      PruneStates(&cur);
      continue;
    }
    const std::vector<PlaceState>& prev = pl->states[i - 1];
    const double gap = expected_gap(i);
    // Candidates (one per pass of the shape near the stop).
    for (const StopCand* c = cb; c != ce; ++c) {
      PlaceState best{c->dist, c->offset, kInf, -1};
      const double own = c->offset + side_cost(c->side) + implied_cost(i, c->dist);
      for (size_t j = 0; j < prev.size(); ++j) {
        if (prev[j].dist > c->dist + 1e-9) break;  // prev sorted by dist
        double cost = prev[j].cost + own + kGapWeight * std::fabs(c->dist - prev[j].dist - gap);
        if (cost < best.cost) {
          best.cost = cost;
          best.prev = static_cast<int32_t>(j);
        }
      }
      if (best.prev >= 0) cur.push_back(best);
    }
    // Boundary states: the stop at the same distance as the previous one (the constrained
    // nearest point when the stop's own nearest point lies just before the previous stop).
    for (size_t j = 0; j < prev.size(); ++j) {
      double off = Dist(xy[i], line.PointAt(prev[j].dist));
      if (off > radius_m) continue;
      cur.push_back({prev[j].dist, off,
                     prev[j].cost + off + side_cost(side_at(xy[i], prev[j].dist)) +
                         implied_cost(i, prev[j].dist) + kGapWeight * gap,
                     static_cast<int32_t>(j)});
    }
    if (cur.empty()) {
      // No in-order placement within the radius: the nearest point at or after each previous
      // placement.
      for (size_t j = 0; j < prev.size(); ++j) {
        PolylinePoint c = line.Project(xy[i], prev[j].dist);
        cur.push_back({c.dist_along_m, c.offset_m,
                       prev[j].cost + c.offset_m + implied_cost(i, c.dist_along_m) +
                           kGapWeight * std::fabs(c.dist_along_m - prev[j].dist - gap),
                       static_cast<int32_t>(j)});
      }
    }
    PruneStates(&cur);
  }
  // Backtrack from the cheapest final state.
  const std::vector<PlaceState>& last = pl->states[n - 1];
  int32_t k = 0;
  for (size_t j = 1; j < last.size(); ++j)
    if (last[j].cost < last[k].cost) k = static_cast<int32_t>(j);
  for (size_t i = n; i-- > 0;) {
    const PlaceState& s = pl->states[i][k];
    pat->stop_dist_m[i] = s.dist;
    pat->stop_offset_m[i] = static_cast<float>(s.offset);
    pat->max_stop_offset_m = std::max(pat->max_stop_offset_m, s.offset);
    // Out of order: the order pushed the stop well away from its nearest pass.
    if (s.offset - pl->nearest_offset[i] > kOrderSlackM) pat->monotone = false;
    k = s.prev;
  }
  // Guard against rounding: distances never decrease.
  for (size_t i = 1; i < n; ++i)
    pat->stop_dist_m[i] = std::max(pat->stop_dist_m[i], pat->stop_dist_m[i - 1]);
}

// Distances along `line` (metres) that the trip's shape_dist_traveled values imply for its
// stops, by interpolating them in the shape's own shape_dist_traveled. Empty when the feed does
// not give them (for the shape and for every stop), when they decrease, or when the points they
// imply lie far from the stops (then *ignored is set).
std::vector<double> ImpliedStopDistances(const GtfsShape& shape, const Polyline& line,
                                         const GtfsStopTime* st, uint32_t n,
                                         const std::vector<Vec2>& xy, bool* ignored) {
  std::vector<double> out;
  *ignored = false;
  const std::vector<float>& sd = shape.dist;
  if (n == 0 || sd.size() != shape.points.size() || sd.size() != line.size() || sd.size() < 2)
    return out;
  for (size_t k = 1; k < sd.size(); ++k)
    if (!(sd[k] >= sd[k - 1])) return out;
  for (uint32_t i = 0; i < n; ++i)
    if (std::isnan(st[i].shape_dist)) return out;
  out.resize(n);
  const std::vector<double>& cum = line.cum_m();
  for (uint32_t i = 0; i < n; ++i) {
    const float v = st[i].shape_dist;
    if (i > 0 && v < st[i - 1].shape_dist) {
      out.clear();
      *ignored = true;
      return out;
    }
    size_t k = static_cast<size_t>(std::upper_bound(sd.begin(), sd.end(), v) - sd.begin());
    if (k == 0) {
      out[i] = 0;
    } else if (k >= sd.size()) {
      out[i] = cum.back();
    } else {
      const double span = sd[k] - sd[k - 1];
      const double f = span > 0 ? (v - sd[k - 1]) / span : 0;
      out[i] = cum[k - 1] + f * (cum[k] - cum[k - 1]);
    }
  }
  std::vector<double> offsets(n);
  for (uint32_t i = 0; i < n; ++i) offsets[i] = Dist(xy[i], line.PointAt(out[i]));
  std::nth_element(offsets.begin(), offsets.begin() + n / 2, offsets.end());
  if (offsets[n / 2] > kShapeDistMaxMedianOffsetM) {
    out.clear();
    *ignored = true;
  }
  return out;
}

// A pattern without a shape (nor a learned path) drawn as straight lines between its stops.
void AddChordPath(const GtfsFeed& f, const LocalProjection& proj,
                  const std::shared_ptr<ChordSlackModel>& bends,
                  absl::flat_hash_map<uint64_t, uint32_t>* pair_index, Pattern* pat,
                  std::vector<Polyline>* polylines) {
  const size_t n = pat->stops.size();
  std::vector<LatLon> ll(n);
  for (size_t i = 0; i < n; ++i) ll[i] = f.stops[pat->stops[i]].pos;
  pat->polyline = static_cast<uint32_t>(polylines->size());
  polylines->emplace_back(ll, proj);
  Polyline& line = polylines->back();
  // No shape: the road between two stops may bend away from the straight line; tolerate
  // kChordSlack of the segment's length (the reference scorer's CHORD_SLACK in
  // ../shared/tools/sbeval.py; a road 1.1x as long as the line bends up to 0.23x away), more
  // where the buses of this feed are seen to run further from lines of that length (`bends`).
  std::vector<float> slack(line.size() > 1 ? line.size() - 1 : 0);
  for (size_t i = 0; i < slack.size(); ++i)
    slack[i] = static_cast<float>(kChordSlack * (line.cum_m()[i + 1] - line.cum_m()[i]));
  line.SetSegmentSlack(std::move(slack));
  std::vector<uint32_t> pairs(line.size() > 1 ? line.size() - 1 : 0, ChordSlackModel::kNoPair);
  for (size_t i = 0; i < pairs.size() && i + 1 < n; ++i) {
    auto [it, added] = pair_index->try_emplace(
        (static_cast<uint64_t>(pat->stops[i]) << 32) | pat->stops[i + 1], 0);
    if (added) {
      it->second = bends->NewPair(
          absl::StrCat(f.stops[pat->stops[i]].id, "\t", f.stops[pat->stops[i + 1]].id));
    }
    pairs[i] = it->second;
  }
  line.SetSlackModel(bends, std::move(pairs));
  pat->stop_dist_m.resize(n);
  pat->stop_offset_m.assign(n, 0);
  for (size_t i = 0; i < n; ++i) pat->stop_dist_m[i] = line.cum_m()[i];
  pat->max_stop_offset_m = 0;
  pat->monotone = true;
}

}  // namespace

std::string PatternKey(const GtfsFeed& feed, const Pattern& pattern) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a over the stop ids, 0x1f between them
  for (uint32_t s : pattern.stops) {
    for (char c : feed.stops[s].id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    h = (h ^ 0x1fu) * 1099511628211ULL;
  }
  const std::string route = pattern.route < feed.routes.size() ? feed.routes[pattern.route].id : "";
  return absl::StrCat(route, "|", static_cast<int>(pattern.direction_id), "|",
                      absl::Hex(h, absl::kZeroPad16));
}

// ---- Build ---------------------------------------------------------------------------------

namespace {

// The feed's time zone: its own, else the first agency's.
absl::StatusOr<absl::TimeZone> FeedTimeZone(const GtfsFeed& f) {
  std::string tz_name = f.timezone;
  if (tz_name.empty() && !f.agencies.empty()) tz_name = f.agencies[0].timezone;
  if (tz_name.empty())
    return absl::InvalidArgumentError(
        "agency.txt: agency_timezone is empty; service days cannot be resolved");
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(tz_name, &tz))
    return absl::InvalidArgumentError(absl::StrCat(
        "agency.txt: agency_timezone '", tz_name,
        "' is not a time zone known to tzdata (expected an IANA name like America/New_York)"));
  return tz;
}

// Validates the cross references Build relies on (the first bad one, naming its trip).
absl::Status ValidateReferences(const GtfsFeed& f) {
  const uint32_t num_stops = static_cast<uint32_t>(f.stops.size());
  for (TripIdx t : f.trips.ids()) {
    const GtfsTrip& trip = f.trips[t];
    if (static_cast<uint64_t>(trip.first_stop_time) + trip.num_stop_times > f.stop_times.size())
      return absl::InvalidArgumentError(absl::StrCat("trip '", trip.id,
                                                     "': stop_times range out of bounds"));
    if (trip.route >= f.routes.size())
      return absl::InvalidArgumentError(absl::StrCat("trip '", trip.id, "': unknown route"));
    if (trip.service >= f.services.size())
      return absl::InvalidArgumentError(absl::StrCat("trip '", trip.id, "': unknown service"));
    if (trip.shape != kNoIndex && trip.shape >= f.shapes.size())
      return absl::InvalidArgumentError(absl::StrCat("trip '", trip.id, "': unknown shape"));
    for (uint32_t k = 0; k < trip.num_stop_times; ++k)
      if (f.stop_times[trip.first_stop_time + k].stop >= num_stops)
        return absl::InvalidArgumentError(
            absl::StrCat("trip '", trip.id, "': stop_time ", k, " has an unknown stop"));
  }
  return absl::OkStatus();
}

// A trip's first departure (0 for a trip without stop times).
int32_t FirstDeparture(const GtfsFeed& f, TripIdx t) {
  const GtfsTrip& trip = f.trips[t];
  return trip.num_stop_times ? f.stop_times[trip.first_stop_time].departure_s : 0;
}

}  // namespace

// Every pattern stop's candidate passes along its pattern's polyline (flattened), found by
// DrawPaths for PlacePatternStops.
struct Network::StopCandidates {
  std::vector<StopCand> cands;
  std::vector<uint32_t> cand_begin;  // per pattern stop (flattened), plus an end per pattern
  std::vector<uint32_t> pattern_cand_base;  // per pattern: its first entry in cand_begin
  int8_t traffic_side = 1;  // +1: the stops with a single pass stand mostly on the right
};

absl::StatusOr<std::shared_ptr<const Network>> Network::Build(GtfsFeed feed,
                                                             const NetworkOptions& options) {
  std::shared_ptr<Network> net(new Network());
  net->feed_ = std::move(feed);
  SB_ASSIGN_OR_RETURN(net->tz_, FeedTimeZone(net->feed_));
  SB_RETURN_IF_ERROR(ValidateReferences(net->feed_));
  net->ProjectStops();
  net->GroupPatterns();
  // Pass 1 draws the polylines and finds each stop's candidate passes; the stops with a single
  // pass tell which side of the street stops stand on. Pass 2 places the stops.
  StopCandidates cands;
  net->DrawPaths(options, &cands);
  net->PlacePatternStops(options, cands);
  net->IndexPatterns();
  net->IndexFrequencies();
  net->IndexServiceSpans();
  net->PrecomputeActiveDays();
  net->ChainBlocks();
  net->BuildStopGrid();
  net->BuildPathGrid();
  return std::shared_ptr<const Network>(std::move(net));
}

// Projection: origin at the centre of the stops' bounding box; every stop projected.
void Network::ProjectStops() {
  const GtfsFeed& f = feed_;
  double lat0 = 90, lat1 = -90, lon0 = 180, lon1 = -180;
  for (const GtfsStop& s : f.stops) {
    lat0 = std::min(lat0, s.pos.lat);
    lat1 = std::max(lat1, s.pos.lat);
    lon0 = std::min(lon0, s.pos.lon);
    lon1 = std::max(lon1, s.pos.lon);
  }
  LatLon origin = f.stops.empty() ? LatLon{0, 0} : LatLon{(lat0 + lat1) / 2, (lon0 + lon1) / 2};
  projection_ = LocalProjection(origin);
  const uint32_t num_stops = static_cast<uint32_t>(f.stops.size());
  stop_xy_.resize(num_stops);
  for (uint32_t s = 0; s < num_stops; ++s) stop_xy_[s] = projection_.Forward(f.stops[s].pos);
}

// Patterns: trips grouped by (route, direction, shape, stop sequence), each pattern's trips by
// first departure.
void Network::GroupPatterns() {
  GtfsFeed& f = feed_;
  const uint32_t num_trips = static_cast<uint32_t>(f.trips.size());
  trip_pattern_.assign(num_trips, kNoIndex);
  absl::flat_hash_map<uint64_t, std::vector<uint32_t>> by_hash;
  by_hash.reserve(num_trips / 8 + 16);
  std::vector<Pattern>& patterns = patterns_;
  for (TripIdx t : f.trips.ids()) {
    const GtfsTrip& trip = f.trips[t];
    uint32_t shape = trip.shape;
    if (shape != kNoIndex && f.shapes[shape].points.size() < 2) shape = kNoIndex;
    const GtfsStopTime* st = f.stop_times.data() + trip.first_stop_time;
    uint64_t h = Mix(Mix(Mix(trip.route, static_cast<uint64_t>(trip.direction_id + 1)), shape),
                     trip.num_stop_times);
    for (uint32_t k = 0; k < trip.num_stop_times; ++k) h = Mix(h, st[k].stop);
    std::vector<uint32_t>& bucket = by_hash[h];
    uint32_t found = kNoIndex;
    for (uint32_t p : bucket) {
      const Pattern& pat = patterns[p];
      if (pat.route != trip.route || pat.direction_id != trip.direction_id || pat.shape != shape ||
          pat.stops.size() != trip.num_stop_times)
        continue;
      bool same = true;
      for (uint32_t k = 0; k < trip.num_stop_times && same; ++k) same = pat.stops[k] == st[k].stop;
      if (same) {
        found = p;
        break;
      }
    }
    if (found == kNoIndex) {
      found = static_cast<uint32_t>(patterns.size());
      Pattern pat;
      pat.route = trip.route;
      pat.direction_id = trip.direction_id;
      pat.shape = shape;
      pat.stops.resize(trip.num_stop_times);
      for (uint32_t k = 0; k < trip.num_stop_times; ++k) pat.stops[k] = st[k].stop;
      patterns.push_back(std::move(pat));
      bucket.push_back(found);
    }
    patterns[found].trips.push_back(t);
    trip_pattern_[t] = found;
    if (trip.shape != kNoIndex && shape == kNoIndex) ++f.warnings["shape_too_short"];
    if (trip.num_stop_times == 0) ++f.warnings["trip_without_stop_times"];
  }
  for (Pattern& pat : patterns) {
    std::stable_sort(pat.trips.begin(), pat.trips.end(), [&](TripIdx a, TripIdx b) {
      return FirstDeparture(f, a) < FirstDeparture(f, b);
    });
  }
}

// Pass 1 of stop placement: one polyline per used shape, per learned path and per shapeless
// pattern (chords, its stops placed here), and the candidate passes of every stop of a pattern
// with a shape or a learned path.
void Network::DrawPaths(const NetworkOptions& options, StopCandidates* out) {
  const GtfsFeed& f = feed_;
  chord_slack_ = std::make_shared<ChordSlackModel>(kChordSlack);
  absl::flat_hash_map<uint64_t, uint32_t> chord_pairs;  // (stop, next stop) -> model pair
  std::vector<uint32_t> shape_polyline(f.shapes.size(), kNoIndex);
  out->pattern_cand_base.assign(patterns_.size(), 0);
  std::vector<PolylinePoint> found;
  int64_t right_side = 0, left_side = 0;
  for (Pattern& pat : patterns_) {
    const size_t n = pat.stops.size();
    const std::vector<LatLon>* learned = nullptr;
    if (pat.shape == kNoIndex && !options.learned_paths.empty()) {
      auto it = options.learned_paths.find(PatternKey(f, pat));
      if (it != options.learned_paths.end() && it->second.size() >= 2) learned = &it->second;
    }
    if (pat.shape == kNoIndex && !learned) {
      AddChordPath(f, projection_, chord_slack_, &chord_pairs, &pat, &polylines_);
      continue;
    }
    uint32_t pl = learned ? static_cast<uint32_t>(polylines_.size()) : shape_polyline[pat.shape];
    if (learned) {
      polylines_.emplace_back(*learned, projection_);
      pat.learned_path = true;
      ++learned_path_patterns_;
    } else if (pl == kNoIndex) {
      pl = shape_polyline[pat.shape] = static_cast<uint32_t>(polylines_.size());
      polylines_.emplace_back(f.shapes[pat.shape].points, projection_);
    }
    pat.polyline = pl;
    const Polyline& line = polylines_[pl];
    out->pattern_cand_base[&pat - patterns_.data()] = static_cast<uint32_t>(out->cand_begin.size());
    for (size_t i = 0; i < n; ++i) {
      out->cand_begin.push_back(static_cast<uint32_t>(out->cands.size()));
      const Vec2 p = stop_xy_[pat.stops[i]];
      line.Candidates(p, options.max_stop_offset_m, &found);
      for (const PolylinePoint& c : found)
        out->cands.push_back({c.dist_along_m, c.offset_m, SideOf(line, p, c)});
      if (found.size() == 1) {
        if (out->cands.back().side > 0) ++right_side;
        if (out->cands.back().side < 0) ++left_side;
      }
    }
    out->cand_begin.push_back(static_cast<uint32_t>(out->cands.size()));
  }
  out->traffic_side = right_side >= left_side ? 1 : -1;
}

// Pass 2 of stop placement: the stops of every pattern with a shape or a learned path placed
// among their candidates; the warnings and figures of the placement.
void Network::PlacePatternStops(const NetworkOptions& options, const StopCandidates& c) {
  GtfsFeed& f = feed_;
  Placer placer;
  std::vector<Vec2> xy;
  std::vector<int32_t> times;
  std::vector<double> implied;
  for (uint32_t p = 0; p < patterns_.size(); ++p) {
    Pattern& pat = patterns_[p];
    const size_t n = pat.stops.size();
    if (pat.shape != kNoIndex || pat.learned_path) {
      xy.resize(n);
      for (size_t i = 0; i < n; ++i) xy[i] = stop_xy_[pat.stops[i]];
      times.clear();
      const GtfsTrip& rep = f.trips[pat.trips.front()];
      for (uint32_t k = 0; k < rep.num_stop_times; ++k)
        times.push_back(f.stop_times[rep.first_stop_time + k].arrival_s);
      bool ignored = false;
      implied.clear();
      if (pat.shape != kNoIndex)
        implied = ImpliedStopDistances(f.shapes[pat.shape], polylines_[pat.polyline],
                                       f.stop_times.data() + rep.first_stop_time,
                                       rep.num_stop_times, xy, &ignored);
      if (ignored) ++f.warnings["shape_dist_traveled_ignored"];
      PlaceStops(polylines_[pat.polyline], xy, c.cands.data(),
                 c.cand_begin.data() + c.pattern_cand_base[p], times, implied, c.traffic_side,
                 options.max_stop_offset_m, &placer, &pat);
    }
    for (float off : pat.stop_offset_m)
      if (off > options.max_stop_offset_m) ++f.warnings["stop_far_from_shape"];
    if (!pat.monotone) {
      ++f.warnings["nonmonotone_pattern"];
      ++nonmonotone_patterns_;
    }
    max_stop_offset_all_m_ = std::max(max_stop_offset_all_m_, pat.max_stop_offset_m);
  }
}

// Per-route and per-stop pattern lists.
void Network::IndexPatterns() {
  route_patterns_.assign(feed_.routes.size(), {});
  stop_patterns_.assign(feed_.stops.size(), {});
  for (uint32_t p = 0; p < patterns_.size(); ++p) {
    route_patterns_[patterns_[p].route].push_back(p);
    for (uint32_t k = 0; k < patterns_[p].stops.size(); ++k)
      stop_patterns_[patterns_[p].stops[k]].emplace_back(p, k);
  }
}

// Frequency-based trips: one run per headway from start_time while before end_time, as shifts
// of the template trip (sorted, without repeats).
void Network::IndexFrequencies() {
  const GtfsFeed& f = feed_;
  for (const GtfsFrequency& fq : f.frequencies) {
    if (fq.trip >= f.trips.size() || fq.headway_s <= 0 || f.trips[fq.trip].num_stop_times == 0)
      continue;
    const int32_t dep0 = f.stop_times[f.trips[fq.trip].first_stop_time].departure_s;
    std::vector<int32_t>& shifts = frequency_shifts_[fq.trip];
    for (int32_t s = fq.start_s; s < fq.end_s; s += fq.headway_s) shifts.push_back(s - dep0);
  }
  for (auto& [trip, shifts] : frequency_shifts_) {
    std::sort(shifts.begin(), shifts.end());
    shifts.erase(std::unique(shifts.begin(), shifts.end()), shifts.end());
  }
}

// Calendar index: every run's span per service (sorted by start) and per route and service,
// each service's trips and longest span, the earliest start and latest end over all trips.
void Network::IndexServiceSpans() {
  const GtfsFeed& f = feed_;
  const size_t num_services = f.services.size();
  service_spans_.assign(num_services, {});
  service_trips_.assign(num_services, {});
  service_max_duration_s_.assign(num_services, 0);
  min_start_s_ = std::numeric_limits<int32_t>::max();
  max_end_s_ = std::numeric_limits<int32_t>::min();
  for (TripIdx t : f.trips.ids()) {
    const GtfsTrip& trip = f.trips[t];
    service_trips_[trip.service].push_back(t);
    if (trip.num_stop_times == 0) continue;
    const GtfsStopTime* st = f.stop_times.data() + trip.first_stop_time;
    const int32_t start = st[0].departure_s;
    const int32_t end = std::max(start, st[trip.num_stop_times - 1].arrival_s);
    auto add = [&](int32_t shift) {
      service_spans_[trip.service].push_back({start + shift, end + shift, t, shift});
      min_start_s_ = std::min(min_start_s_, start + shift);
      max_end_s_ = std::max(max_end_s_, end + shift);
    };
    auto fit = frequency_shifts_.find(t);
    if (fit == frequency_shifts_.end()) {
      add(0);
    } else {
      for (int32_t shift : fit->second) add(shift);
    }
    service_max_duration_s_[trip.service] =
        std::max(service_max_duration_s_[trip.service], end - start);
  }
  if (min_start_s_ > max_end_s_) min_start_s_ = max_end_s_ = 0;
  auto by_start = [](const TripSpan& a, const TripSpan& b) {
    return a.start_s != b.start_s ? a.start_s < b.start_s : a.trip < b.trip;
  };
  for (auto& spans : service_spans_) std::sort(spans.begin(), spans.end(), by_start);
  route_spans_.assign(f.routes.size(), {});
  for (uint32_t s = 0; s < num_services; ++s) {
    for (const TripSpan& span : service_spans_[s]) {
      std::vector<RouteServiceSpans>& groups = route_spans_[f.trips[span.trip].route];
      if (groups.empty() || groups.back().service != s) groups.push_back({s, 0, {}});
      groups.back().spans.push_back(span);  // stays sorted by start
      groups.back().max_duration_s =
          std::max(groups.back().max_duration_s, span.end_s - span.start_s);
    }
  }
}

// The active services of every date the calendar covers, when it covers fewer than
// kMaxPrecomputedDays (others are computed on demand).
void Network::PrecomputeActiveDays() {
  int32_t first = 0, last = 0;
  auto widen = [&](int32_t d) {
    if (d <= 0) return;
    if (first == 0 || d < first) first = d;
    if (last == 0 || d > last) last = d;
  };
  for (const GtfsService& s : feed_.services) {
    if (s.start_date > 0 && s.weekdays != 0) {
      widen(s.start_date);
      widen(s.end_date);
    }
    if (!s.added_dates.empty()) {
      widen(s.added_dates.front());
      widen(s.added_dates.back());
    }
  }
  if (first == 0) return;
  absl::CivilDay d0 = ToCivilDay(first), d1 = ToCivilDay(last);
  if (d1 < d0 || d1 - d0 >= kMaxPrecomputedDays) return;
  first_day_ = d0;
  active_by_day_.resize(static_cast<size_t>(d1 - d0 + 1));
  for (absl::CivilDay d = d0; d <= d1; ++d)
    active_by_day_[static_cast<size_t>(d - d0)] = ComputeActiveServices(FromCivilDay(d));
}

// Blocks: trips of the same block_id and service, ordered by first departure, each linked to
// the next.
void Network::ChainBlocks() {
  const GtfsFeed& f = feed_;
  const uint32_t num_trips = static_cast<uint32_t>(f.trips.size());
  next_in_block_.assign(num_trips, kNoIndex);
  std::vector<TripIdx> blocked;
  for (TripIdx t : f.trips.ids())
    if (!f.trips[t].block_id.empty()) blocked.push_back(t);
  std::sort(blocked.begin(), blocked.end(), [&](TripIdx a, TripIdx b) {
    const GtfsTrip& ta = f.trips[a];
    const GtfsTrip& tb = f.trips[b];
    if (ta.service != tb.service) return ta.service < tb.service;
    int c = ta.block_id.compare(tb.block_id);
    if (c != 0) return c < 0;
    int32_t da = FirstDeparture(f, a), db = FirstDeparture(f, b);
    return da != db ? da < db : a < b;
  });
  for (size_t i = 0; i + 1 < blocked.size(); ++i) {
    const GtfsTrip& a = f.trips[blocked[i]];
    const GtfsTrip& b = f.trips[blocked[i + 1]];
    if (a.service == b.service && a.block_id == b.block_id)
      next_in_block_[blocked[i]] = blocked[i + 1];
  }
}

// Stop grid for StopsNear.
void Network::BuildStopGrid() {
  for (uint32_t s = 0; s < stop_xy_.size(); ++s) {
    const Vec2 p = stop_xy_[s];
    stop_grid_[CellKey(static_cast<int64_t>(std::floor(p.x / stop_cell_m_)),
                       static_cast<int64_t>(std::floor(p.y / stop_cell_m_)))]
        .push_back(s);
  }
}

// Path grid for PolylinesNear: every cell a segment's bounding box touches holds its polyline.
void Network::BuildPathGrid() {
  for (uint32_t l = 0; l < polylines_.size(); ++l) {
    const std::vector<Vec2>& pts = polylines_[l].points();
    for (size_t i = 0; i + 1 < pts.size(); ++i) {
      const Vec2 a = pts[i], b = pts[i + 1];
      const int64_t x0 = static_cast<int64_t>(std::floor(std::min(a.x, b.x) / path_cell_m_));
      const int64_t x1 = static_cast<int64_t>(std::floor(std::max(a.x, b.x) / path_cell_m_));
      const int64_t y0 = static_cast<int64_t>(std::floor(std::min(a.y, b.y) / path_cell_m_));
      const int64_t y1 = static_cast<int64_t>(std::floor(std::max(a.y, b.y) / path_cell_m_));
      for (int64_t cx = x0; cx <= x1; ++cx) {
        for (int64_t cy = y0; cy <= y1; ++cy) {
          std::vector<uint32_t>& cell = path_grid_[CellKey(cx, cy)];
          if (cell.empty() || cell.back() != l) cell.push_back(l);  // polylines in order
        }
      }
    }
  }
}

void Network::PolylinesNear(Vec2 p, double radius_m, std::vector<uint32_t>* out) const {
  out->clear();
  if (!(radius_m >= 0) || !std::isfinite(p.x) || !std::isfinite(p.y)) return;
  // A metre more than asked: the floor of a coordinate on a cell border must not lose a cell.
  const double r = radius_m + 1;
  const int64_t x0 = static_cast<int64_t>(std::floor((p.x - r) / path_cell_m_));
  const int64_t x1 = static_cast<int64_t>(std::floor((p.x + r) / path_cell_m_));
  const int64_t y0 = static_cast<int64_t>(std::floor((p.y - r) / path_cell_m_));
  const int64_t y1 = static_cast<int64_t>(std::floor((p.y + r) / path_cell_m_));
  for (int64_t cx = x0; cx <= x1; ++cx) {
    for (int64_t cy = y0; cy <= y1; ++cy) {
      auto it = path_grid_.find(CellKey(cx, cy));
      if (it != path_grid_.end()) out->insert(out->end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

// ---- Lookups -------------------------------------------------------------------------------

std::optional<TripIdx> Network::FindTrip(absl::string_view id) const {
  auto it = feed_.trip_index.find(id);
  if (it == feed_.trip_index.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Network::FindStop(absl::string_view id) const {
  auto it = feed_.stop_index.find(id);
  if (it == feed_.stop_index.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Network::FindRoute(absl::string_view id) const {
  auto it = feed_.route_index.find(id);
  if (it == feed_.route_index.end()) return std::nullopt;
  return it->second;
}

// ---- Calendar ------------------------------------------------------------------------------

absl::Time Network::ServiceDayStart(int32_t yyyymmdd) const {
  absl::CivilDay d = ToCivilDay(yyyymmdd);
  absl::CivilSecond noon(d.year(), d.month(), d.day(), 12, 0, 0);
  return absl::FromCivil(noon, tz_) - absl::Hours(12);
}

std::vector<uint32_t> Network::ComputeActiveServices(int32_t yyyymmdd) const {
  std::vector<uint32_t> out;
  for (uint32_t s = 0; s < feed_.services.size(); ++s)
    if (feed_.ServiceRunsOn(s, yyyymmdd)) out.push_back(s);
  std::sort(out.begin(), out.end(), [this](uint32_t a, uint32_t b) {
    const std::string& ia = feed_.services[a].id;
    const std::string& ib = feed_.services[b].id;
    return ia != ib ? ia < ib : a < b;
  });
  return out;
}

const std::vector<uint32_t>* Network::PrecomputedActive(int32_t yyyymmdd) const {
  if (active_by_day_.empty()) return nullptr;
  int64_t i = ToCivilDay(yyyymmdd) - first_day_;
  if (i < 0 || i >= static_cast<int64_t>(active_by_day_.size())) return nullptr;
  return &active_by_day_[static_cast<size_t>(i)];
}

std::vector<uint32_t> Network::ActiveServices(int32_t yyyymmdd) const {
  if (const std::vector<uint32_t>* pre = PrecomputedActive(yyyymmdd)) return *pre;
  return ComputeActiveServices(yyyymmdd);
}

std::vector<TripIdx> Network::ActiveTrips(int32_t yyyymmdd) const {
  std::vector<TripIdx> out;
  for (uint32_t s : ActiveServices(yyyymmdd))
    out.insert(out.end(), service_trips_[s].begin(), service_trips_[s].end());
  std::sort(out.begin(), out.end());
  return out;
}

void Network::DatesAround(absl::Time t, int64_t before_s, int64_t after_s, absl::CivilDay* first,
                          absl::CivilDay* last) const {
  // A service day starts within a few hours of local midnight; every date whose widened span
  // could contain t lies in this range (each is then checked exactly).
  const absl::CivilDay today = absl::ToCivilDay(t, tz_);
  *first = today - ((std::max<int64_t>(0, max_end_s_ + after_s)) / kDayS + 1);
  *last = today + ((std::max<int64_t>(0, before_s - min_start_s_)) / kDayS + 1);
}

namespace {

// Appends the spans with start - before <= off <= end + after. `spans` sorted by start_s, none
// longer than max_duration_s.
template <typename Span>
void AppendRunning(const std::vector<Span>& spans, int32_t max_duration_s, int64_t off,
                   int64_t before_s, int64_t after_s, int32_t date, absl::Time day_start,
                   std::vector<TripInstance>* out) {
  // end + after >= off and end <= start + max_duration  =>  start >= off - after - max_duration.
  const int64_t lo = off - after_s - max_duration_s;
  const int64_t hi = off + before_s;
  auto it = std::lower_bound(spans.begin(), spans.end(), lo,
                             [](const Span& a, int64_t v) { return a.start_s < v; });
  for (; it != spans.end() && it->start_s <= hi; ++it)
    if (it->end_s + after_s >= off)
      out->push_back({it->trip, date, day_start + absl::Seconds(it->shift_s), it->shift_s});
}

}  // namespace

std::vector<TripInstance> Network::TripsAround(absl::Time t, absl::Duration before,
                                               absl::Duration after) const {
  std::vector<TripInstance> out;
  if (service_spans_.empty()) return out;
  const int64_t before_s = absl::ToInt64Seconds(absl::Ceil(before, absl::Seconds(1)));
  const int64_t after_s = absl::ToInt64Seconds(absl::Ceil(after, absl::Seconds(1)));
  absl::CivilDay first, last;
  DatesAround(t, before_s, after_s, &first, &last);
  std::vector<uint32_t> computed;
  for (absl::CivilDay d = first; d <= last; ++d) {
    const int32_t date = FromCivilDay(d);
    const absl::Time day_start = ServiceDayStart(date);
    const int64_t off = absl::ToInt64Seconds(absl::Floor(t - day_start, absl::Seconds(1)));
    if (off < min_start_s_ - before_s || off > max_end_s_ + after_s) continue;
    const std::vector<uint32_t>* active = PrecomputedActive(date);
    if (active == nullptr) {
      computed = ComputeActiveServices(date);
      active = &computed;
    }
    for (uint32_t s : *active)
      AppendRunning(service_spans_[s], service_max_duration_s_[s], off, before_s, after_s, date,
                    day_start, &out);
  }
  return out;
}

std::vector<TripInstance> Network::TripsAroundOnRoute(uint32_t route, absl::Time t,
                                                      absl::Duration before,
                                                      absl::Duration after) const {
  std::vector<TripInstance> out;
  if (route >= route_spans_.size() || route_spans_[route].empty()) return out;
  const int64_t before_s = absl::ToInt64Seconds(absl::Ceil(before, absl::Seconds(1)));
  const int64_t after_s = absl::ToInt64Seconds(absl::Ceil(after, absl::Seconds(1)));
  absl::CivilDay first, last;
  DatesAround(t, before_s, after_s, &first, &last);
  for (absl::CivilDay d = first; d <= last; ++d) {
    const int32_t date = FromCivilDay(d);
    const absl::Time day_start = ServiceDayStart(date);
    const int64_t off = absl::ToInt64Seconds(absl::Floor(t - day_start, absl::Seconds(1)));
    if (off < min_start_s_ - before_s || off > max_end_s_ + after_s) continue;
    for (const RouteServiceSpans& g : route_spans_[route]) {
      if (!feed_.ServiceRunsOn(g.service, date)) continue;
      AppendRunning(g.spans, g.max_duration_s, off, before_s, after_s, date, day_start, &out);
    }
  }
  return out;
}

std::optional<TripInstance> Network::NearestTripInstance(TripIdx trip, absl::Time t,
                                                         absl::Duration max_gap) const {
  if (trip >= feed_.trips.size()) return std::nullopt;
  const GtfsTrip& tr = feed_.trips[trip];
  const int32_t dep_s = tr.num_stop_times ? feed_.stop_times[tr.first_stop_time].departure_s : 0;
  // The service day starts near t - dep; look one day either side of the gap's range.
  auto fit = frequency_shifts_.find(trip);
  const std::vector<int32_t>* shifts = fit == frequency_shifts_.end() ? nullptr : &fit->second;
  const int32_t min_shift = shifts && !shifts->empty() ? shifts->front() : 0;
  const int32_t max_shift = shifts && !shifts->empty() ? shifts->back() : 0;
  const absl::CivilDay d0 =
      absl::ToCivilDay(t - absl::Seconds(dep_s + max_shift) - max_gap, tz_) - 1;
  const absl::CivilDay d1 =
      absl::ToCivilDay(t - absl::Seconds(dep_s + min_shift) + max_gap, tz_) + 1;
  std::optional<TripInstance> best;
  absl::Duration best_gap = absl::InfiniteDuration();
  for (absl::CivilDay d = d0; d <= d1; ++d) {
    const int32_t date = FromCivilDay(d);
    if (!feed_.ServiceRunsOn(tr.service, date)) continue;
    const absl::Time day_start = ServiceDayStart(date);
    auto consider = [&](int32_t shift) {
      const absl::Time ds = day_start + absl::Seconds(shift);
      const absl::Duration gap = absl::AbsDuration(t - (ds + absl::Seconds(dep_s)));
      if (gap <= max_gap && gap < best_gap) {
        best_gap = gap;
        best = TripInstance{trip, date, ds, shift};
      }
    };
    if (shifts == nullptr) {
      consider(0);
    } else if (!shifts->empty()) {
      // The runs nearest to t: the first shift at or after the ideal one, and the one before.
      const int64_t ideal = absl::ToInt64Seconds(absl::Floor(t - day_start, absl::Seconds(1))) -
                            dep_s;
      auto it = std::lower_bound(shifts->begin(), shifts->end(), ideal);
      if (it != shifts->end()) consider(*it);
      if (it != shifts->begin()) consider(*(it - 1));
    }
  }
  return best;
}

absl::Time Network::ScheduledArrival(const TripInstance& ti, uint32_t k) const {
  const GtfsTrip& trip = feed_.trips[ti.trip];
  return ti.day_start + absl::Seconds(feed_.stop_times[trip.first_stop_time + k].arrival_s);
}

absl::Time Network::ScheduledDeparture(const TripInstance& ti, uint32_t k) const {
  const GtfsTrip& trip = feed_.trips[ti.trip];
  return ti.day_start + absl::Seconds(feed_.stop_times[trip.first_stop_time + k].departure_s);
}

// ---- Blocks --------------------------------------------------------------------------------

std::optional<TripIdx> Network::NextTripInBlock(TripIdx trip) const {
  if (trip >= next_in_block_.size() || next_in_block_[trip] == kNoIndex) return std::nullopt;
  return next_in_block_[trip];
}

// ---- Stops near a point --------------------------------------------------------------------

std::vector<std::pair<uint32_t, double>> Network::StopsNear(LatLon p, double radius_m,
                                                            size_t max_results) const {
  std::vector<std::pair<uint32_t, double>> out;
  if (max_results == 0 || !(radius_m >= 0)) return out;
  const Vec2 q = projection_.Forward(p);
  const int64_t x0 = static_cast<int64_t>(std::floor((q.x - radius_m) / stop_cell_m_));
  const int64_t x1 = static_cast<int64_t>(std::floor((q.x + radius_m) / stop_cell_m_));
  const int64_t y0 = static_cast<int64_t>(std::floor((q.y - radius_m) / stop_cell_m_));
  const int64_t y1 = static_cast<int64_t>(std::floor((q.y + radius_m) / stop_cell_m_));
  if ((x1 - x0 + 1) * (y1 - y0 + 1) > static_cast<int64_t>(stop_grid_.size())) {
    // A radius larger than the network: scan every stop.
    for (uint32_t s = 0; s < stop_xy_.size(); ++s) {
      double d = Dist(q, stop_xy_[s]);
      if (d <= radius_m) out.emplace_back(s, d);
    }
  } else {
    for (int64_t cx = x0; cx <= x1; ++cx)
      for (int64_t cy = y0; cy <= y1; ++cy) {
        auto it = stop_grid_.find(CellKey(cx, cy));
        if (it == stop_grid_.end()) continue;
        for (uint32_t s : it->second) {
          double d = Dist(q, stop_xy_[s]);
          if (d <= radius_m) out.emplace_back(s, d);
        }
      }
  }
  auto cmp = [](const std::pair<uint32_t, double>& a, const std::pair<uint32_t, double>& b) {
    return a.second != b.second ? a.second < b.second : a.first < b.first;
  };
  if (out.size() > max_results) {
    std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(max_results), out.end(),
                      cmp);
    out.resize(max_results);
  } else {
    std::sort(out.begin(), out.end(), cmp);
  }
  return out;
}

int Network::nonmonotone_patterns() const { return nonmonotone_patterns_; }
double Network::max_stop_offset_m() const { return max_stop_offset_all_m_; }

// ---------------------------------------------------------------- learned state

bool Network::IsLearnedRecord(absl::string_view kind) {
  return kind == "chord" || kind == "chordpair" || kind == "gps";
}

void Network::AppendLearned(std::string* out) const {
  const ChordSlackModel::State chord = chord_slack_->Save();
  for (int c = 0; c < ChordSlackModel::kClasses; ++c) {
    if (chord.n[c] <= 0) continue;
    absl::StrAppend(out, "chord\t", c, "\t", chord.n[c]);
    for (int64_t h : chord.hist[c]) absl::StrAppend(out, "\t", h);
    out->push_back('\n');
  }
  char buf[64];
  for (const auto& [key, top] : chord.pairs) {
    std::snprintf(buf, sizeof buf, "\t%.9g\t%.9g\t%d\n", top.first, top.second, top.n);
    absl::StrAppend(out, "chordpair\t", key, buf);
  }
  const GpsNoiseModel::State gps = gps_noise_->Save();
  if (gps.added > 0) {
    size_t last = gps.hist.size();
    while (last > 0 && gps.hist[last - 1] == 0) --last;
    absl::StrAppend(out, "gps\t", gps.added);
    for (size_t b = 0; b < last; ++b) absl::StrAppend(out, "\t", gps.hist[b]);
    out->push_back('\n');
  }
}

absl::StatusOr<int64_t> Network::LoadLearned(
    const std::vector<std::vector<absl::string_view>>& records) const {
  // Counts far beyond any feed's (2^50) and far from int64 overflow when summed or added to.
  constexpr int64_t kMaxCount = int64_t{1} << 50;
  ChordSlackModel::State chord;
  GpsNoiseModel::State gps;
  std::array<bool, ChordSlackModel::kClasses> class_seen{};
  bool gps_seen = false;
  int64_t skipped = 0;
  for (const auto& f : records) {
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("learned ", f.empty() ? "" : f[0], " record: ", what));
    };
    // A histogram's counts from f[first] on into `hist`: each >= 0, their sum (returned) at most
    // kMaxCount; -1: a bad count.
    auto counts = [&](size_t first, int64_t* hist) {
      int64_t sum = 0;
      for (size_t b = first; b < f.size(); ++b) {
        int64_t& h = hist[b - first];
        if (!absl::SimpleAtoi(f[b], &h) || h < 0 || h > kMaxCount - sum) return int64_t{-1};
        sum += h;
      }
      return sum;
    };
    if (f.empty()) continue;
    if (f[0] == "chord") {
      int c = 0;
      if (f.size() != 3u + ChordSlackModel::kBins || !absl::SimpleAtoi(f[1], &c) || c < 0 ||
          c >= ChordSlackModel::kClasses || !absl::SimpleAtoi(f[2], &chord.n[c])) {
        return bad("bad class");
      }
      if (class_seen[c]) return bad("class repeated");
      class_seen[c] = true;
      const int64_t sum = counts(3, chord.hist[c].data());
      if (sum < 0) return bad("bad count");
      if (sum != chord.n[c]) return bad("traversals differ from the histogram's");
    } else if (f[0] == "chordpair") {
      ChordSlackModel::PairTop top;
      // As Add keeps them: 0 <= second <= first <= kMaxShare (SimpleAtof takes inf and nan).
      if (f.size() != 6u || !absl::SimpleAtof(f[3], &top.first) ||
          !absl::SimpleAtof(f[4], &top.second) || !absl::SimpleAtoi(f[5], &top.n) ||
          top.n < 0 || top.n > (1 << 30) || !(top.second >= 0) || !(top.second <= top.first) ||
          !(top.first <= ChordSlackModel::kMaxShare)) {
        return bad("bad pair");
      }
      chord.pairs.emplace_back(absl::StrCat(f[1], "\t", f[2]), top);
    } else if (f[0] == "gps") {
      if (f.size() < 2u || f.size() > 2u + GpsNoiseModel::kBins ||
          !absl::SimpleAtoi(f[1], &gps.added) || gps.added < 0 || gps.added > kMaxCount) {
        return bad("bad header");
      }
      if (gps_seen) return bad("repeated");
      gps_seen = true;
      const int64_t sum = counts(2, gps.hist.data());
      if (sum < 0) return bad("bad count");
      // The histogram is halved, the count added never.
      if (sum > gps.added) return bad("more offsets than were added");
    } else {
      return bad("unknown kind");
    }
  }
  // A stop pair not drawn as a chord here (its pattern on a learned path now, or gone from the
  // GTFS) is kept and saved again (ChordSlackModel::Load), counted as skipped.
  skipped += chord_slack_->Load(chord);
  gps_noise_->Load(gps);
  return skipped;
}

}  // namespace smartbus
