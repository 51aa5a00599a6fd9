#include "services/core/analytics/analytics.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/node_hash_map.h"

namespace smartbus {

void PassengerStats::Add(int32_t b, int32_t a, int32_t load, int32_t occupancy) {
  if (b >= 0 || a >= 0) {
    ++count_visits;
    if (b > 0) boardings += b;
    if (a > 0) alightings += a;
  }
  if (load >= 0) {
    ++load_visits;
    load_sum += load;
    max_load = std::max(max_load, load);
  }
  if (occupancy >= 0) {
    ++occupancy_visits;
    occupancy_sum += occupancy;
    if (occupancy >= kCrowdedOccupancy) ++crowded_visits;
  }
}

void PassengerStats::Merge(const PassengerStats& o) {
  count_visits += o.count_visits;
  boardings += o.boardings;
  alightings += o.alightings;
  load_visits += o.load_visits;
  max_load = std::max(max_load, o.max_load);
  load_sum += o.load_sum;
  occupancy_visits += o.occupancy_visits;
  occupancy_sum += o.occupancy_sum;
  crowded_visits += o.crowded_visits;
}

double HeadwayStats::cv() const {
  if (gaps == 0) return NAN;
  double mean = sum_s / gaps;
  if (mean <= 0) return NAN;
  double var = sum_sq / gaps - mean * mean;
  return std::sqrt(std::max(0.0, var)) / mean;
}

namespace {

constexpr double kMpsToKmh = 3.6;

// On-time class of a visit.
enum OnTimeClass : int8_t { kNotCounted = -2, kEarly = -1, kOnTime = 0, kLate = 1 };

// One visit at a stop, as the per-stop series keeps it (sorted by arrival, then schedule, trip).
struct VisitRec {
  double arrival_s;
  double sched_arrival_s;
  int32_t boardings;
  int32_t alightings;
  int32_t load;
  int32_t occupancy;
  TripIdx trip;
  uint32_t vehicle;
  int8_t on_time;  // OnTimeClass
};

bool RecLess(const VisitRec& a, const VisitRec& b) {
  return std::tie(a.arrival_s, a.sched_arrival_s, a.trip) <
         std::tie(b.arrival_s, b.sched_arrival_s, b.trip);
}

// Sums over a series prefix: pre[i] covers the visits [0, i); its gap terms cover the gaps that
// end at visits 1..i-1 (the gap ending at visit j is arrival[j] - arrival[j-1]). A window's
// figures are then two binary searches and a subtraction.
struct StopPre {
  int64_t counted = 0, on_time = 0, early = 0, late = 0;
  int64_t count_visits = 0, boardings = 0, alightings = 0, load_visits = 0, occ_visits = 0,
          crowded = 0;
  double load_sum = 0, occ_sum = 0;
  // gap terms
  int64_t bunched = 0, inversions = 0;
  double gap_sum = 0, gap_sq = 0, sgap_sum = 0, sgap_sq = 0;
};

struct StopSeries {
  uint32_t route;
  uint32_t stop;
  std::vector<VisitRec> recs;
  std::vector<StopPre> pre;  // recs.size() + 1
  int32_t max_load = -1;     // over all recs (a whole-series window needs no scan)
};

// One drive from a stop to the next stop of the same trip.
struct Trav {
  double from_arrival_s;
  double to_arrival_s;
  double dist_m;
  double time_s;
  double sched_time_s;
  int32_t load;
  int32_t occupancy;
  int32_t bin;  // time-of-day bin of the departure
};

struct SegPre {
  int64_t n = 0, load_visits = 0, occ_visits = 0, crowded = 0;
  double dist_m = 0, time_s = 0, sched_time_s = 0, load_sum = 0, occ_sum = 0;
};

struct SegSeries {
  uint32_t route;
  uint32_t from_stop;
  uint32_t to_stop;
  std::vector<Trav> travs;   // sorted by to_arrival_s
  std::vector<SegPre> pre;   // travs.size() + 1
  double max_span_s = 0;     // longest arrival-to-arrival span held (for window edges)
};

struct Bin {
  double dist_m = 0;
  double time_s = 0;
  int64_t n = 0;
};

// A stop-to-stop segment over every route that runs it: learned usual speeds per time of day.
struct GlobalSeg {
  uint32_t route;
  uint32_t from_stop;
  uint32_t to_stop;
  std::vector<uint32_t> series;  // SegSeries indices
  std::vector<Bin> bins;
};

struct TripPoint {
  uint32_t k;
  uint32_t stop;
  double arrival_s;
  double departure_s;
  int64_t sched_arrival_s;
  int64_t sched_departure_s;
  int32_t boardings;
  int32_t alightings;
  int32_t load;
  int32_t occupancy;
};

struct TripInst {
  uint64_t key;
  TripIdx trip;
  int32_t service_date;
  uint32_t route;
  uint32_t vehicle;
  std::vector<TripPoint> points;  // sorted by k
  // Over all points: for windows that hold the whole trip.
  double min_arrival_s = std::numeric_limits<double>::infinity();
  double max_arrival_s = -std::numeric_limits<double>::infinity();
  PassengerStats passengers;
};

uint64_t TripKey(uint32_t trip, int32_t service_date) {
  return (uint64_t{trip} << 32) | static_cast<uint32_t>(service_date);
}

// Position at which x goes in v (sorted by less); usually the end, so search from the back.
template <typename T, typename Less>
size_t InsertPos(const std::vector<T>& v, const T& x, Less less) {
  size_t i = v.size();
  int steps = 0;
  while (i > 0 && less(x, v[i - 1])) {
    if (++steps > 16) {
      return std::upper_bound(v.begin(), v.begin() + i, x, less) - v.begin();
    }
    --i;
  }
  return i;
}


// Adds one visit's load and occupancy (-1: absent) to a prefix-sum record (StopPre, SegPre).
template <typename Pre>
void AddLoadAndOccupancy(int32_t load, int32_t occupancy, Pre& n) {
  if (load >= 0) {
    ++n.load_visits;
    n.load_sum += load;
  }
  if (occupancy >= 0) {
    ++n.occ_visits;
    n.occ_sum += occupancy;
    if (occupancy >= kCrowdedOccupancy) ++n.crowded;
  }
}

StopPre Next(const StopPre& p, const VisitRec& r, const VisitRec* prev, double bunching_ratio) {
  StopPre n = p;
  switch (r.on_time) {
    case kEarly: ++n.counted; ++n.early; break;
    case kOnTime: ++n.counted; ++n.on_time; break;
    case kLate: ++n.counted; ++n.late; break;
    default: break;
  }
  if (r.boardings >= 0 || r.alightings >= 0) {
    ++n.count_visits;
    if (r.boardings > 0) n.boardings += r.boardings;
    if (r.alightings > 0) n.alightings += r.alightings;
  }
  AddLoadAndOccupancy(r.load, r.occupancy, n);
  if (prev) {
    double h = r.arrival_s - prev->arrival_s;
    n.gap_sum += h;
    n.gap_sq += h * h;
    double sd = r.sched_arrival_s - prev->sched_arrival_s;
    double sh = std::abs(sd);
    if (sh > 0 && h < bunching_ratio * sh) ++n.bunched;
    if (sd < 0) ++n.inversions;
    n.sgap_sum += sd;
    n.sgap_sq += sd * sd;
  }
  return n;
}

SegPre Next(const SegPre& p, const Trav& t) {
  SegPre n = p;
  ++n.n;
  n.dist_m += t.dist_m;
  n.time_s += t.time_s;
  n.sched_time_s += t.sched_time_s;
  AddLoadAndOccupancy(t.load, t.occupancy, n);
  return n;
}

}  // namespace

struct VisitAggregator::Impl {
  std::vector<StopSeries> stop_series;
  absl::flat_hash_map<uint64_t, uint32_t> stop_series_index;  // route<<32|stop
  std::vector<SegSeries> seg_series;
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, uint32_t> seg_series_index;
  std::vector<GlobalSeg> global_segs;
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, uint32_t> global_seg_index;
  std::vector<std::vector<uint32_t>> route_stop_series;  // sorted by stop
  std::vector<std::vector<uint32_t>> route_seg_series;   // sorted by (from, to)
  std::vector<std::vector<TripInst*>> route_trips;       // sorted by key
  absl::node_hash_map<uint64_t, TripInst> trips;
  std::vector<std::string> vehicles;
  absl::flat_hash_map<std::string, uint32_t> vehicle_index;
  double oldest_arrival_s = std::numeric_limits<double>::infinity();

  template <typename T>
  static std::vector<T>& RouteSlot(std::vector<std::vector<T>>& v, uint32_t route) {
    if (v.size() <= route) v.resize(route + 1);
    return v[route];
  }
  uint32_t Vehicle(const std::string& id) {
    auto [it, inserted] = vehicle_index.try_emplace(id, static_cast<uint32_t>(vehicles.size()));
    if (inserted) vehicles.push_back(id);
    return it->second;
  }
  StopSeries& Stop(uint32_t route, uint32_t stop) {
    uint64_t key = (uint64_t{route} << 32) | stop;
    auto [it, inserted] =
        stop_series_index.try_emplace(key, static_cast<uint32_t>(stop_series.size()));
    if (inserted) {
      stop_series.push_back(StopSeries{route, stop, {}, {StopPre{}}, -1});
      // Kept sorted by stop so that sums run in one order whatever the order of the visits.
      std::vector<uint32_t>& l = RouteSlot(route_stop_series, route);
      l.insert(std::upper_bound(l.begin(), l.end(), it->second,
                                [&](uint32_t a, uint32_t b) {
                                  return stop_series[a].stop < stop_series[b].stop;
                                }),
               it->second);
    }
    return stop_series[it->second];
  }
  uint32_t Seg(uint32_t route, uint32_t from, uint32_t to, int32_t num_bins) {
    auto [it, inserted] = seg_series_index.try_emplace(std::make_tuple(route, from, to),
                                                       static_cast<uint32_t>(seg_series.size()));
    if (inserted) {
      seg_series.push_back(SegSeries{route, from, to, {}, {SegPre{}}, 0});
      std::vector<uint32_t>& l = RouteSlot(route_seg_series, route);
      l.insert(std::upper_bound(l.begin(), l.end(), it->second,
                                [&](uint32_t a, uint32_t b) {
                                  return std::tie(seg_series[a].from_stop, seg_series[a].to_stop) <
                                         std::tie(seg_series[b].from_stop, seg_series[b].to_stop);
                                }),
               it->second);
      auto [g, ginserted] = global_seg_index.try_emplace(std::make_pair(from, to),
                                                         static_cast<uint32_t>(global_segs.size()));
      if (ginserted) {
        global_segs.push_back(GlobalSeg{route, from, to, {}, std::vector<Bin>(num_bins)});
      }
      global_segs[g->second].series.push_back(it->second);
    }
    return it->second;
  }
  static void InsertVisit(StopSeries& s, const VisitRec& r, double bunching_ratio) {
    size_t pos = InsertPos(s.recs, r, RecLess);
    s.recs.insert(s.recs.begin() + pos, r);
    s.pre.insert(s.pre.begin() + pos + 1, StopPre{});
    for (size_t i = pos; i < s.recs.size(); ++i) {
      s.pre[i + 1] = Next(s.pre[i], s.recs[i], i > 0 ? &s.recs[i - 1] : nullptr, bunching_ratio);
    }
    s.max_load = std::max(s.max_load, r.load);
  }
  static void InsertTrav(SegSeries& s, const Trav& t) {
    auto less = [](const Trav& a, const Trav& b) {
      return std::tie(a.to_arrival_s, a.from_arrival_s) < std::tie(b.to_arrival_s, b.from_arrival_s);
    };
    size_t pos = InsertPos(s.travs, t, less);
    s.travs.insert(s.travs.begin() + pos, t);
    s.pre.insert(s.pre.begin() + pos + 1, SegPre{});
    for (size_t i = pos; i < s.travs.size(); ++i) s.pre[i + 1] = Next(s.pre[i], s.travs[i]);
    s.max_span_s = std::max(s.max_span_s, t.to_arrival_s - t.from_arrival_s);
  }
};

VisitAggregator::VisitAggregator(std::shared_ptr<const AnalyticsNetwork> network,
                                 AnalyticsOptions options)
    : network_(std::move(network)), options_(std::move(options)), impl_(new Impl) {
  if (options_.usual_bin_s <= 0 || 86400 % options_.usual_bin_s != 0) options_.usual_bin_s = 3600;
}

VisitAggregator::~VisitAggregator() = default;

namespace {

// [lo, hi) of the records of a series sorted by time(record) whose time lies in the window.
// Unbounded sides need no search (the whole-day query touches only the prefix ends).
template <typename Rec, typename TimeOf>
std::pair<size_t, size_t> WindowRange(const std::vector<Rec>& recs, const TimeWindow& w,
                                      TimeOf time_of) {
  auto before = [&](const Rec& a, double t) { return time_of(a) < t; };
  size_t lo = std::isfinite(w.from_s)
                  ? std::lower_bound(recs.begin(), recs.end(), w.from_s, before) - recs.begin()
                  : 0;
  size_t hi = std::isfinite(w.to_s)
                  ? std::lower_bound(recs.begin() + lo, recs.end(), w.to_s, before) - recs.begin()
                  : recs.size();
  return {lo, hi};
}

int32_t SecondOfDay(double t_s, const absl::TimeZone& tz) {
  absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixSeconds(static_cast<int64_t>(
                                                std::floor(t_s))),
                                            tz);
  return c.hour() * 3600 + c.minute() * 60 + c.second();
}

}  // namespace

bool VisitAggregator::Add(const StopVisit& v) {
  if (v.route == kNoIndex || v.stop == kNoIndex || v.trip == kNoIndex) return false;
  if (!std::isfinite(v.arrival_s)) return false;
  // Observed times are rounded to whole seconds, the precision of the Stop visits CSV, so that
  // the live figures equal `smartbus report` over the file exactly.
  const double arrival_s = std::round(v.arrival_s);
  const double departure_s =
      std::round(std::isfinite(v.departure_s) ? v.departure_s : v.arrival_s);
  Impl& m = *impl_;

  // Trip instance: one visit per stop_index.
  uint64_t tkey = TripKey(v.trip, v.service_date);
  auto [tit, tnew] = m.trips.try_emplace(tkey);
  TripInst& inst = tit->second;
  if (tnew) {
    inst.key = tkey;
    inst.trip = v.trip;
    inst.service_date = v.service_date;
    inst.route = v.route;
    inst.vehicle = m.Vehicle(v.vehicle_id);
    std::vector<TripInst*>& l = Impl::RouteSlot(m.route_trips, v.route);
    l.insert(std::upper_bound(l.begin(), l.end(), &inst,
                              [](const TripInst* a, const TripInst* b) { return a->key < b->key; }),
             &inst);
  }
  auto pit = std::lower_bound(inst.points.begin(), inst.points.end(), v.stop_index,
                              [](const TripPoint& p, uint32_t k) { return p.k < k; });
  if (pit != inst.points.end() && pit->k == v.stop_index) return false;
  pit = inst.points.insert(
      pit, TripPoint{v.stop_index, v.stop, arrival_s, departure_s, v.scheduled_arrival_s,
                     v.scheduled_departure_s, v.boardings, v.alightings, v.load, v.occupancy});
  const size_t pos = pit - inst.points.begin();
  inst.min_arrival_s = std::min(inst.min_arrival_s, arrival_s);
  inst.max_arrival_s = std::max(inst.max_arrival_s, arrival_s);
  inst.passengers.Add(v.boardings, v.alightings, v.load, v.occupancy);

  // On-time class (FORMATS.md): not at the first stop; at the last stop the arrival counts.
  int8_t on_time = kNotCounted;
  if (v.stop_index > 0) {
    uint32_t n = network_->TripNumStops(v.trip);
    bool last = n > 0 && v.stop_index + 1 == n;
    double dev = (last ? arrival_s : departure_s) - static_cast<double>(v.scheduled_departure_s);
    on_time = dev < options_.on_time_early_s  ? kEarly
              : dev > options_.on_time_late_s ? kLate
                                              : kOnTime;
  }
  uint32_t vehicle = inst.vehicle;
  if (m.vehicles[vehicle] != v.vehicle_id) vehicle = m.Vehicle(v.vehicle_id);
  Impl::InsertVisit(m.Stop(v.route, v.stop),
                    VisitRec{arrival_s, static_cast<double>(v.scheduled_arrival_s), v.boardings,
                             v.alightings, v.load, v.occupancy, v.trip, vehicle, on_time},
                    options_.bunching_ratio);

  // Segment traversals with the neighbouring stops of the same trip instance.
  auto add_trav = [&](const TripPoint& a, const TripPoint& b) {
    double da = network_->StopDistM(inst.trip, a.k);
    double db = network_->StopDistM(inst.trip, b.k);
    double dist = db - da;
    double time = b.arrival_s - a.departure_s;
    if (!std::isfinite(dist) || !(time > 0)) return;
    int32_t bin = SecondOfDay(a.departure_s, options_.time_zone) / options_.usual_bin_s;
    uint32_t si = m.Seg(inst.route, a.stop, b.stop, 86400 / options_.usual_bin_s);
    Impl::InsertTrav(m.seg_series[si],
                     Trav{a.arrival_s, b.arrival_s, dist, time,
                          static_cast<double>(b.sched_arrival_s - a.sched_departure_s), a.load,
                          a.occupancy, bin});
    Bin& gb = m.global_segs[m.global_seg_index[std::make_pair(a.stop, b.stop)]].bins[bin];
    gb.dist_m += dist;
    gb.time_s += time;
    ++gb.n;
  };
  const std::vector<TripPoint>& pts = inst.points;
  if (pos > 0 && pts[pos - 1].k + 1 == pts[pos].k) add_trav(pts[pos - 1], pts[pos]);
  if (pos + 1 < pts.size() && pts[pos].k + 1 == pts[pos + 1].k) add_trav(pts[pos], pts[pos + 1]);

  ++visits_;
  newest_arrival_s_ = std::max(newest_arrival_s_, arrival_s);
  m.oldest_arrival_s = std::min(m.oldest_arrival_s, arrival_s);
  if (++adds_since_prune_ >= 4096) {
    adds_since_prune_ = 0;
    if (m.oldest_arrival_s < newest_arrival_s_ - options_.retention_s) {
      Prune(newest_arrival_s_ - options_.retention_s);
    }
  }
  return true;
}

void VisitAggregator::Prune(double before_s) {
  Impl& m = *impl_;
  int64_t total = 0;
  double oldest = std::numeric_limits<double>::infinity();
  for (StopSeries& s : m.stop_series) {
    auto it = std::lower_bound(s.recs.begin(), s.recs.end(), before_s,
                               [](const VisitRec& r, double t) { return r.arrival_s < t; });
    size_t k = it - s.recs.begin();
    s.recs.erase(s.recs.begin(), it);
    s.pre.erase(s.pre.begin(), s.pre.begin() + k);  // differences stay valid
    s.max_load = -1;
    for (const VisitRec& r : s.recs) s.max_load = std::max(s.max_load, r.load);
    total += static_cast<int64_t>(s.recs.size());
    if (!s.recs.empty()) oldest = std::min(oldest, s.recs.front().arrival_s);
  }
  for (SegSeries& s : m.seg_series) {
    auto it = std::lower_bound(s.travs.begin(), s.travs.end(), before_s,
                               [](const Trav& r, double t) { return r.to_arrival_s < t; });
    size_t k = it - s.travs.begin();
    s.travs.erase(s.travs.begin(), it);
    s.pre.erase(s.pre.begin(), s.pre.begin() + k);
  }
  for (std::vector<TripInst*>& l : m.route_trips) {
    l.erase(std::remove_if(l.begin(), l.end(),
                           [&](TripInst* inst) {
                             if (inst->min_arrival_s >= before_s) return false;
                             std::vector<TripPoint>& p = inst->points;
                             p.erase(std::remove_if(p.begin(), p.end(),
                                                    [&](const TripPoint& x) {
                                                      return x.arrival_s < before_s;
                                                    }),
                                     p.end());
                             if (p.empty()) {
                               m.trips.erase(inst->key);
                               return true;
                             }
                             inst->min_arrival_s = std::numeric_limits<double>::infinity();
                             inst->passengers = PassengerStats{};
                             for (const TripPoint& x : p) {
                               inst->min_arrival_s = std::min(inst->min_arrival_s, x.arrival_s);
                               inst->passengers.Add(x.boardings, x.alightings, x.load,
                                                    x.occupancy);
                             }
                             return false;
                           }),
            l.end());
  }
  visits_ = total;
  m.oldest_arrival_s = oldest;
}

namespace {

// Figures of one stop series over [lo, hi).
void StopFigures(const StopSeries& s, size_t lo, size_t hi, std::vector<double>& scratch,
                 StopStats& out) {
  const StopPre& a = s.pre[lo];
  const StopPre& b = s.pre[hi];
  out.visits = static_cast<int64_t>(hi - lo);
  out.on_time.counted = b.counted - a.counted;
  out.on_time.on_time = b.on_time - a.on_time;
  out.on_time.early = b.early - a.early;
  out.on_time.late = b.late - a.late;
  PassengerStats& p = out.passengers;
  p.count_visits = b.count_visits - a.count_visits;
  p.boardings = b.boardings - a.boardings;
  p.alightings = b.alightings - a.alightings;
  p.load_visits = b.load_visits - a.load_visits;
  p.load_sum = b.load_sum - a.load_sum;
  p.occupancy_visits = b.occ_visits - a.occ_visits;
  p.occupancy_sum = b.occ_sum - a.occ_sum;
  p.crowded_visits = b.crowded - a.crowded;
  if (lo == 0 && hi == s.recs.size()) {
    p.max_load = s.max_load;
  } else if (p.load_visits > 0) {
    for (size_t i = lo; i < hi; ++i) p.max_load = std::max(p.max_load, s.recs[i].load);
  }
  if (hi - lo < 2) return;
  const StopPre& g = s.pre[lo + 1];  // gap terms: gaps ending at lo+1 .. hi-1
  out.headways.gaps = static_cast<int64_t>(hi - lo - 1);
  out.headways.sum_s = b.gap_sum - g.gap_sum;
  out.headways.sum_sq = b.gap_sq - g.gap_sq;
  out.bunched_gaps = b.bunched - g.bunched;
  double ss, ssq;
  if (b.inversions == g.inversions) {  // scheduled times already in order
    ss = b.sgap_sum - g.sgap_sum;
    ssq = b.sgap_sq - g.sgap_sq;
  } else {
    scratch.clear();
    for (size_t i = lo; i < hi; ++i) scratch.push_back(s.recs[i].sched_arrival_s);
    std::sort(scratch.begin(), scratch.end());
    ss = ssq = 0;
    for (size_t i = 1; i < scratch.size(); ++i) {
      double h = scratch[i] - scratch[i - 1];
      ss += h;
      ssq += h * h;
    }
  }
  double w_obs = out.headways.sum_s > 0 ? out.headways.sum_sq / (2 * out.headways.sum_s) : 0;
  double w_sched = ss > 0 ? ssq / (2 * ss) : 0;
  out.excess_wait_s = w_obs - w_sched;
  out.mean_scheduled_headway_s = ss / static_cast<double>(out.headways.gaps);
}

// Decorate-sort: sorts v by key(element) computed once per element.
template <typename T, typename K>
void SortByKey(std::vector<T>& v, K key) {
  using Key = decltype(key(v[0]));
  std::vector<std::pair<Key, size_t>> keys;
  keys.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) keys.emplace_back(key(v[i]), i);
  std::sort(keys.begin(), keys.end());
  std::vector<T> out;
  out.reserve(v.size());
  for (auto& [k, i] : keys) out.push_back(std::move(v[i]));
  v = std::move(out);
}

// a - b, field by field.
SegPre Minus(const SegPre& a, const SegPre& b) {
  SegPre d = a;
  d.n -= b.n;
  d.dist_m -= b.dist_m;
  d.time_s -= b.time_s;
  d.sched_time_s -= b.sched_time_s;
  d.load_visits -= b.load_visits;
  d.load_sum -= b.load_sum;
  d.occ_visits -= b.occ_visits;
  d.occ_sum -= b.occ_sum;
  d.crowded -= b.crowded;
  return d;
}

// The route's stop figures in the window (`series`: the route's stop series), summed into
// `rs` (per stop too with q.stops).
void AddStopFigures(const std::vector<StopSeries>& stop_series,
                    const std::vector<uint32_t>& series, const RouteQuery& q,
                    std::vector<double>& scratch, RouteStats& rs) {
  double excess_sum = 0;
  for (uint32_t si : series) {
    const StopSeries& s = stop_series[si];
    auto [lo, hi] = WindowRange(s.recs, q.window, [](const VisitRec& a) { return a.arrival_s; });
    if (lo >= hi) continue;
    StopStats st;
    st.stop = s.stop;
    StopFigures(s, lo, hi, scratch, st);
    rs.visits += st.visits;
    rs.on_time.counted += st.on_time.counted;
    rs.on_time.on_time += st.on_time.on_time;
    rs.on_time.early += st.on_time.early;
    rs.on_time.late += st.on_time.late;
    rs.headways.gaps += st.headways.gaps;
    rs.headways.sum_s += st.headways.sum_s;
    rs.headways.sum_sq += st.headways.sum_sq;
    rs.bunched_gaps += st.bunched_gaps;
    rs.passengers.Merge(st.passengers);
    if (st.headways.gaps > 0) excess_sum += st.excess_wait_s * static_cast<double>(st.headways.gaps);
    if (q.stops) rs.stops.push_back(std::move(st));
  }
  if (rs.headways.gaps > 0) rs.excess_wait_s = excess_sum / static_cast<double>(rs.headways.gaps);
}

// The segment's traversals that arrived in the window and left in it, summed (prefix sums; the
// few that left before the window, only near its start, taken out one by one).
SegPre SegmentSumIn(const SegSeries& s, size_t lo, size_t hi, const TimeWindow& w) {
  SegPre sum = Minus(s.pre[hi], s.pre[lo]);
  if (std::isfinite(w.from_s)) {
    for (size_t i = lo; i < hi && s.travs[i].to_arrival_s <= w.from_s + s.max_span_s; ++i) {
      const Trav& t = s.travs[i];
      if (t.from_arrival_s >= w.from_s) continue;
      sum = Minus(sum, Next(SegPre{}, t));
    }
  }
  return sum;
}

// The route's segment figures in the window (`series`: the route's segment series).
void AddSegmentFigures(const std::vector<SegSeries>& seg_series,
                       const std::vector<uint32_t>& series, const TimeWindow& w,
                       RouteStats& rs) {
  for (uint32_t si : series) {
    const SegSeries& s = seg_series[si];
    auto [lo, hi] = WindowRange(s.travs, w, [](const Trav& a) { return a.to_arrival_s; });
    if (lo >= hi) continue;
    const SegPre sum = SegmentSumIn(s, lo, hi, w);
    if (sum.n <= 0) continue;
    SegmentStats seg;
    seg.from_stop = s.from_stop;
    seg.to_stop = s.to_stop;
    seg.traversals = sum.n;
    double n = static_cast<double>(sum.n);
    seg.distance_m = sum.dist_m / n;
    seg.mean_speed_kmh = sum.dist_m / sum.time_s * kMpsToKmh;
    seg.mean_time_s = sum.time_s / n;
    seg.mean_scheduled_time_s = sum.sched_time_s / n;
    seg.passengers.load_visits = sum.load_visits;
    seg.passengers.load_sum = sum.load_sum;
    seg.passengers.occupancy_visits = sum.occ_visits;
    seg.passengers.occupancy_sum = sum.occ_sum;
    seg.passengers.crowded_visits = sum.crowded;
    rs.segments.push_back(std::move(seg));
  }
}

// The route's trip figures in the window (`trips`: the route's trip instances): trips seen,
// run times, and per trip with q.trips.
void AddTripFigures(const std::vector<TripInst*>& trips, const std::vector<std::string>& vehicles,
                    const RouteQuery& q, RouteStats& rs) {
  const TimeWindow& w = q.window;
  for (const TripInst* inst : trips) {
    const TripPoint* a = nullptr;
    const TripPoint* b = nullptr;
    TripStats ts;
    if (inst->points.empty()) continue;
    if (inst->max_arrival_s < w.from_s || inst->min_arrival_s >= w.to_s) continue;
    if (w.from_s <= inst->min_arrival_s && inst->max_arrival_s < w.to_s) {
      a = &inst->points.front();
      b = &inst->points.back();
      ts.visits = static_cast<int64_t>(inst->points.size());
      ts.passengers = inst->passengers;
    } else {
      for (const TripPoint& p : inst->points) {
        if (!w.Contains(p.arrival_s)) continue;
        if (!a) a = &p;
        b = &p;
        ++ts.visits;
        ts.passengers.Add(p.boardings, p.alightings, p.load, p.occupancy);
      }
    }
    if (!a) continue;
    ++rs.trips;
    ts.trip = inst->trip;
    ts.service_date = inst->service_date;
    ts.first_stop_index = a->k;
    ts.last_stop_index = b->k;
    ts.end_delay_s = b->arrival_s - static_cast<double>(b->sched_arrival_s);
    if (a != b) {
      ts.actual_run_s = b->arrival_s - a->departure_s;
      ts.scheduled_run_s = static_cast<double>(b->sched_arrival_s - a->sched_departure_s);
      rs.actual_run_s += ts.actual_run_s;
      rs.scheduled_run_s += ts.scheduled_run_s;
    }
    if (q.trips) {
      ts.vehicle_id = vehicles[inst->vehicle];
      rs.trip_list.push_back(std::move(ts));
    }
  }
}

// Routes by id; in each, stops by id, segments by (from, to) id, trips by (date, id).
void SortRouteFigures(const AnalyticsNetwork& net, std::vector<RouteStats>& out) {
  SortByKey(out, [&](const RouteStats& r) { return net.RouteId(r.route); });
  for (RouteStats& rs : out) {
    SortByKey(rs.stops, [&](const StopStats& s) { return net.StopId(s.stop); });
    SortByKey(rs.segments, [&](const SegmentStats& s) {
      return std::make_pair(net.StopId(s.from_stop), net.StopId(s.to_stop));
    });
    SortByKey(rs.trip_list, [&](const TripStats& t) {
      return std::make_pair(t.service_date, net.TripId(t.trip));
    });
  }
}

}  // namespace

std::vector<RouteStats> VisitAggregator::Routes(const RouteQuery& q) const {
  const Impl& m = *impl_;
  std::vector<RouteStats> out;
  std::vector<double> scratch;
  uint32_t first = 0, last = static_cast<uint32_t>(m.route_stop_series.size());
  if (q.route != kNoIndex) {
    first = q.route;
    last = std::min(last, q.route + 1);
  }
  for (uint32_t r = first; r < last; ++r) {
    RouteStats rs;
    rs.route = r;
    AddStopFigures(m.stop_series, m.route_stop_series[r], q, scratch, rs);
    if (rs.visits == 0) continue;
    if (r < m.route_seg_series.size()) {
      AddSegmentFigures(m.seg_series, m.route_seg_series[r], q.window, rs);
    }
    if (r < m.route_trips.size()) AddTripFigures(m.route_trips[r], m.vehicles, q, rs);
    out.push_back(std::move(rs));
  }
  SortRouteFigures(*network_, out);
  return out;
}

std::vector<BunchedPair> VisitAggregator::BunchedPairs(double now_s) const {
  const Impl& m = *impl_;
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, BunchedPair> by_pair;
  for (const StopSeries& s : m.stop_series) {
    auto end = std::upper_bound(s.recs.begin(), s.recs.end(), now_s,
                                [](double t, const VisitRec& r) { return t < r.arrival_s; });
    if (end - s.recs.begin() < 2) continue;
    const VisitRec& b = *(end - 1);
    const VisitRec& a = *(end - 2);
    if (b.arrival_s < now_s - options_.live_window_s) continue;
    if (a.vehicle == b.vehicle) continue;
    double h = b.arrival_s - a.arrival_s;
    double sh = std::abs(b.sched_arrival_s - a.sched_arrival_s);
    if (!(sh > 0 && h < options_.bunching_ratio * sh)) continue;
    BunchedPair p;
    p.route = s.route;
    p.stop = s.stop;
    p.leader_vehicle = m.vehicles[a.vehicle];
    p.follower_vehicle = m.vehicles[b.vehicle];
    p.leader_trip = a.trip;
    p.follower_trip = b.trip;
    p.leader_arrival_s = a.arrival_s;
    p.follower_arrival_s = b.arrival_s;
    p.headway_s = h;
    p.scheduled_headway_s = sh;
    auto [it, inserted] = by_pair.try_emplace(std::make_pair(a.vehicle, b.vehicle), p);
    if (!inserted && std::tie(it->second.follower_arrival_s, it->second.stop) <
                         std::tie(p.follower_arrival_s, p.stop)) {
      it->second = p;
    }
  }
  std::vector<BunchedPair> out;
  for (auto& [k, p] : by_pair) out.push_back(std::move(p));
  std::sort(out.begin(), out.end(), [](const BunchedPair& a, const BunchedPair& b) {
    return std::tie(b.follower_arrival_s, a.leader_vehicle, a.follower_vehicle) <
           std::tie(a.follower_arrival_s, b.leader_vehicle, b.follower_vehicle);
  });
  return out;
}

std::vector<SegmentCongestion> VisitAggregator::Congestion(double now_s, size_t limit) const {
  const Impl& m = *impl_;
  const double from = now_s - options_.live_window_s;
  const int32_t bin = SecondOfDay(now_s, options_.time_zone) / options_.usual_bin_s;
  std::vector<SegmentCongestion> out;
  for (const GlobalSeg& g : m.global_segs) {
    SegmentCongestion c;
    double d = 0, t = 0, bd = 0, bt = 0;
    int64_t bn = 0;
    for (uint32_t si : g.series) {
      const std::vector<Trav>& tr = m.seg_series[si].travs;
      auto lo = std::lower_bound(tr.begin(), tr.end(), from,
                                 [](const Trav& a, double x) { return a.to_arrival_s < x; });
      for (auto it = lo; it != tr.end() && it->to_arrival_s <= now_s; ++it) {
        ++c.now_traversals;
        d += it->dist_m;
        t += it->time_s;
        if (it->bin == bin) {
          bd += it->dist_m;
          bt += it->time_s;
          ++bn;
        }
      }
    }
    if (c.now_traversals == 0) continue;
    c.from_stop = g.from_stop;
    c.to_stop = g.to_stop;
    c.route = g.route;
    c.distance_m = d / static_cast<double>(c.now_traversals);
    c.now_speed_kmh = d / t * kMpsToKmh;
    const Bin& b = g.bins[bin];
    c.usual_traversals = b.n - bn;
    double ut = b.time_s - bt;
    if (c.usual_traversals >= options_.min_usual_traversals && ut > 0) {
      c.usual_speed_kmh = (b.dist_m - bd) / ut * kMpsToKmh;
      if (c.usual_speed_kmh > 0) c.ratio = c.now_speed_kmh / c.usual_speed_kmh;
    }
    out.push_back(c);
  }
  auto worse = [](const SegmentCongestion& a, const SegmentCongestion& b) {
    bool ha = !std::isnan(a.ratio), hb = !std::isnan(b.ratio);
    if (ha != hb) return ha;
    if (ha && a.ratio != b.ratio) return a.ratio < b.ratio;
    if (a.now_speed_kmh != b.now_speed_kmh) return a.now_speed_kmh < b.now_speed_kmh;
    return std::tie(a.from_stop, a.to_stop) < std::tie(b.from_stop, b.to_stop);
  };
  if (out.size() > limit) {
    std::partial_sort(out.begin(), out.begin() + limit, out.end(), worse);
    out.resize(limit);
  } else {
    std::sort(out.begin(), out.end(), worse);
  }
  return out;
}

std::vector<UsualJam> VisitAggregator::UsualJams(size_t limit) const {
  const Impl& m = *impl_;
  auto worse = [](const UsualJam& a, const UsualJam& b) {
    if (a.ratio != b.ratio) return a.ratio < b.ratio;
    return std::tie(a.speed_kmh, a.from_stop, a.to_stop, a.bin_start_s) <
           std::tie(b.speed_kmh, b.from_stop, b.to_stop, b.bin_start_s);
  };
  // A bounded max-heap of the `limit` worst so far.
  std::vector<UsualJam> heap;
  if (limit == 0) return heap;
  for (const GlobalSeg& g : m.global_segs) {
    double ref = 0;
    for (const Bin& x : g.bins) {
      if (x.n >= options_.min_usual_traversals && x.time_s > 0) {
        ref = std::max(ref, x.dist_m / x.time_s * kMpsToKmh);
      }
    }
    if (!(ref > 0)) continue;
    for (size_t b = 0; b < g.bins.size(); ++b) {
      const Bin& x = g.bins[b];
      if (x.n < options_.min_usual_traversals || x.time_s <= 0) continue;
      UsualJam j;
      j.from_stop = g.from_stop;
      j.to_stop = g.to_stop;
      j.route = g.route;
      j.bin_start_s = static_cast<int32_t>(b) * options_.usual_bin_s;
      j.traversals = x.n;
      j.speed_kmh = x.dist_m / x.time_s * kMpsToKmh;
      j.reference_speed_kmh = ref;
      j.ratio = j.speed_kmh / ref;
      if (heap.size() < limit) {
        heap.push_back(j);
        std::push_heap(heap.begin(), heap.end(), worse);
      } else if (worse(j, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), worse);
        heap.back() = j;
        std::push_heap(heap.begin(), heap.end(), worse);
      }
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  return heap;
}

std::vector<VehicleDriving> VisitAggregator::Driving(const TimeWindow& w) const {
  const Impl& m = *impl_;
  std::vector<VehicleDriving> by_vehicle(m.vehicles.size());
  for (const std::vector<TripInst*>& l : m.route_trips) {
    for (const TripInst* inst : l) {
      if (inst->points.empty()) continue;
      if (inst->max_arrival_s < w.from_s || inst->min_arrival_s >= w.to_s) continue;
      const TripPoint* a = nullptr;
      const TripPoint* b = nullptr;
      if (w.from_s <= inst->min_arrival_s && inst->max_arrival_s < w.to_s) {
        a = &inst->points.front();
        b = &inst->points.back();
      } else {
        for (const TripPoint& p : inst->points) {
          if (!w.Contains(p.arrival_s)) continue;
          if (!a) a = &p;
          b = &p;
        }
      }
      if (!a) continue;
      VehicleDriving& d = by_vehicle[inst->vehicle];
      ++d.trips;
      d.driving_s += b->arrival_s - a->departure_s;
      d.scheduled_s += static_cast<double>(b->sched_arrival_s - a->sched_departure_s);
      if (std::isnan(d.last_visit_s) || b->arrival_s > d.last_visit_s) d.last_visit_s = b->arrival_s;
    }
  }
  std::vector<VehicleDriving> out;
  for (size_t i = 0; i < by_vehicle.size(); ++i) {
    if (by_vehicle[i].trips == 0) continue;
    by_vehicle[i].vehicle_id = m.vehicles[i];
    out.push_back(std::move(by_vehicle[i]));
  }
  std::sort(out.begin(), out.end(), [](const VehicleDriving& a, const VehicleDriving& b) {
    return a.vehicle_id < b.vehicle_id;
  });
  return out;
}

// ---- Fleet condition ----

const char* VehicleConditionName(VehicleCondition c) {
  switch (c) {
    case VehicleCondition::kOk: return "ok";
    case VehicleCondition::kStale: return "stale";
    case VehicleCondition::kSilent: return "silent";
  }
  return "unknown";
}

FleetCondition BuildFleetCondition(const std::vector<VehicleState>& states, double now_s,
                                   const FleetOptions& options,
                                   const std::vector<VehicleDriving>& driving) {
  absl::flat_hash_map<std::string, double> driving_s;
  for (const VehicleDriving& d : driving) driving_s[d.vehicle_id] = d.driving_s;
  FleetCondition out;
  for (const VehicleState& s : states) {
    FleetVehicle v;
    v.vehicle_id = s.vehicle_id;
    v.last_report_age_s = std::max(0.0, now_s - static_cast<double>(s.timestamp_s));
    v.condition = v.last_report_age_s > options.silent_after_s  ? VehicleCondition::kSilent
                  : v.last_report_age_s > options.stale_after_s ? VehicleCondition::kStale
                                                                : VehicleCondition::kOk;
    v.off_route = s.state == MatchState::kOffRoute;
    v.state = s.state;
    v.route = s.route;
    v.trip = s.trip;
    v.delay_s = s.delay_s;
    v.pos = s.pos;
    v.speed_mps = s.speed_mps;
    auto it = driving_s.find(s.vehicle_id);
    if (it != driving_s.end()) v.driving_s = it->second;
    switch (v.condition) {
      case VehicleCondition::kOk: ++out.ok; break;
      case VehicleCondition::kStale: ++out.stale; break;
      case VehicleCondition::kSilent: ++out.silent; break;
    }
    if (v.off_route) ++out.off_route;
    out.vehicles.push_back(std::move(v));
  }
  std::sort(out.vehicles.begin(), out.vehicles.end(), [](const FleetVehicle& a, const FleetVehicle& b) {
    if (a.last_report_age_s != b.last_report_age_s) return a.last_report_age_s > b.last_report_age_s;
    return a.vehicle_id < b.vehicle_id;
  });
  return out;
}

}  // namespace smartbus
