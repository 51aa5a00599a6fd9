#include "services/core/analytics/analytics.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"

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
    if (occupancy >= 3) ++crowded_visits;
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

// One visit at a stop, as the per-stop series keeps it (sorted by arrival).
struct VisitRec {
  double arrival_s;
  double sched_arrival_s;
  double deviation_s;  // NaN: does not count for on-time (a trip's first stop)
  int32_t boardings;
  int32_t alightings;
  int32_t load;
  int32_t occupancy;
  uint32_t trip;
  uint32_t vehicle;
};

struct StopSeries {
  uint32_t route;
  uint32_t stop;
  std::vector<VisitRec> recs;
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

struct SegSeries {
  uint32_t route;
  uint32_t from_stop;
  uint32_t to_stop;
  std::vector<Trav> travs;  // sorted by to_arrival_s
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
  uint32_t trip;
  int32_t service_date;
  uint32_t route;
  uint32_t vehicle;
  std::vector<TripPoint> points;  // sorted by k
};

uint64_t TripKey(uint32_t trip, int32_t service_date) {
  return (uint64_t{trip} << 32) | static_cast<uint32_t>(service_date);
}

template <typename T, typename F>
void InsertSorted(std::vector<T>& v, T x, F key) {
  // Usually appended: search from the back.
  auto it = v.end();
  while (it != v.begin() && key(*(it - 1)) > key(x)) {
    if (v.end() - it > 16) {
      it = std::upper_bound(v.begin(), it, x,
                            [&](const T& a, const T& b) { return key(a) < key(b); });
      break;
    }
    --it;
  }
  v.insert(it, std::move(x));
}

}  // namespace

struct VisitAggregator::Impl {
  std::vector<StopSeries> stop_series;
  absl::flat_hash_map<uint64_t, uint32_t> stop_series_index;  // route<<32|stop
  std::vector<SegSeries> seg_series;
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, uint32_t> seg_series_index;
  std::vector<GlobalSeg> global_segs;
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, uint32_t> global_seg_index;
  std::vector<std::vector<uint32_t>> route_stop_series;
  std::vector<std::vector<uint32_t>> route_seg_series;
  std::vector<std::vector<uint64_t>> route_trips;
  absl::flat_hash_map<uint64_t, TripInst> trips;
  std::vector<std::string> vehicles;
  absl::flat_hash_map<std::string, uint32_t> vehicle_index;

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
      stop_series.push_back(StopSeries{route, stop, {}});
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
      seg_series.push_back(SegSeries{route, from, to, {}});
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
};

VisitAggregator::VisitAggregator(std::shared_ptr<const AnalyticsNetwork> network,
                                 AnalyticsOptions options)
    : network_(std::move(network)), options_(std::move(options)), impl_(new Impl) {
  if (options_.usual_bin_s <= 0 || 86400 % options_.usual_bin_s != 0) options_.usual_bin_s = 3600;
}

VisitAggregator::~VisitAggregator() = default;

namespace {

int32_t SecondOfDay(double t_s, const absl::TimeZone& tz) {
  absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixSeconds(static_cast<int64_t>(
                                                std::floor(t_s))),
                                            tz);
  return c.hour() * 3600 + c.minute() * 60 + c.second();
}

}  // namespace

bool VisitAggregator::Add(const StopVisit& visit) {
  if (visit.route == kNoIndex || visit.stop == kNoIndex || visit.trip == kNoIndex) return false;
  if (!std::isfinite(visit.arrival_s)) return false;
  // Observed times are rounded to whole seconds, the precision of the Stop visits CSV, so that
  // the live figures equal `smartbus report` over the file exactly.
  StopVisit v = visit;
  v.arrival_s = std::round(visit.arrival_s);
  const double departure_s =
      std::round(std::isfinite(visit.departure_s) ? visit.departure_s : visit.arrival_s);
  Impl& m = *impl_;

  // Trip instance: one visit per stop_index.
  uint64_t tkey = TripKey(v.trip, v.service_date);
  auto [tit, tnew] = m.trips.try_emplace(tkey);
  TripInst& inst = tit->second;
  if (tnew) {
    inst.trip = v.trip;
    inst.service_date = v.service_date;
    inst.route = v.route;
    inst.vehicle = m.Vehicle(v.vehicle_id);
    std::vector<uint64_t>& l = Impl::RouteSlot(m.route_trips, v.route);
    l.insert(std::upper_bound(l.begin(), l.end(), tkey), tkey);
  }
  auto pit = std::lower_bound(inst.points.begin(), inst.points.end(), v.stop_index,
                              [](const TripPoint& p, uint32_t k) { return p.k < k; });
  if (pit != inst.points.end() && pit->k == v.stop_index) return false;
  pit = inst.points.insert(
      pit, TripPoint{v.stop_index, v.stop, v.arrival_s, departure_s, v.scheduled_arrival_s,
                     v.scheduled_departure_s, v.boardings, v.alightings, v.load, v.occupancy});
  const size_t pos = pit - inst.points.begin();

  // On-time deviation (FORMATS.md): not at the first stop; at the last stop the arrival.
  double deviation = NAN;
  if (v.stop_index > 0) {
    uint32_t n = network_->TripNumStops(v.trip);
    bool last = n > 0 && v.stop_index + 1 == n;
    deviation = (last ? v.arrival_s : departure_s) - static_cast<double>(v.scheduled_departure_s);
  }
  uint32_t vehicle = inst.vehicle;
  if (m.vehicles[vehicle] != v.vehicle_id) vehicle = m.Vehicle(v.vehicle_id);
  StopSeries& ss = m.Stop(v.route, v.stop);
  InsertSorted(ss.recs,
               VisitRec{v.arrival_s, static_cast<double>(v.scheduled_arrival_s), deviation,
                        v.boardings, v.alightings, v.load, v.occupancy, v.trip, vehicle},
               [](const VisitRec& r) { return r.arrival_s; });

  // Segment traversals with the neighbouring stops of the same trip instance.
  auto add_trav = [&](const TripPoint& a, const TripPoint& b) {
    double da = network_->StopDistM(inst.trip, a.k);
    double db = network_->StopDistM(inst.trip, b.k);
    double dist = db - da;
    double time = b.arrival_s - a.departure_s;
    if (!std::isfinite(dist) || !(time > 0)) return;
    int32_t bin = SecondOfDay(a.departure_s, options_.time_zone) / options_.usual_bin_s;
    uint32_t si = m.Seg(inst.route, a.stop, b.stop, 86400 / options_.usual_bin_s);
    InsertSorted(m.seg_series[si].travs,
                 Trav{a.arrival_s, b.arrival_s, dist, time,
                      static_cast<double>(b.sched_arrival_s - a.sched_departure_s), a.load,
                      a.occupancy, bin},
                 [](const Trav& t) { return t.to_arrival_s; });
    Bin& gb = m.global_segs[m.global_seg_index[std::make_pair(a.stop, b.stop)]].bins[bin];
    gb.dist_m += dist;
    gb.time_s += time;
    ++gb.n;
  };
  const std::vector<TripPoint>& pts = inst.points;
  if (pos > 0 && pts[pos - 1].k + 1 == pts[pos].k) add_trav(pts[pos - 1], pts[pos]);
  if (pos + 1 < pts.size() && pts[pos].k + 1 == pts[pos + 1].k) add_trav(pts[pos], pts[pos + 1]);

  ++visits_;
  newest_arrival_s_ = std::max(newest_arrival_s_, v.arrival_s);
  if (++adds_since_prune_ >= 4096) {
    adds_since_prune_ = 0;
    Prune(newest_arrival_s_ - options_.retention_s);
  }
  return true;
}

void VisitAggregator::Prune(double before_s) {
  Impl& m = *impl_;
  int64_t total = 0;
  for (StopSeries& s : m.stop_series) {
    auto it = std::lower_bound(s.recs.begin(), s.recs.end(), before_s,
                               [](const VisitRec& r, double t) { return r.arrival_s < t; });
    s.recs.erase(s.recs.begin(), it);
    total += static_cast<int64_t>(s.recs.size());
  }
  for (SegSeries& s : m.seg_series) {
    auto it = std::lower_bound(s.travs.begin(), s.travs.end(), before_s,
                               [](const Trav& r, double t) { return r.to_arrival_s < t; });
    s.travs.erase(s.travs.begin(), it);
  }
  for (std::vector<uint64_t>& keys : m.route_trips) {
    keys.erase(std::remove_if(keys.begin(), keys.end(),
                              [&](uint64_t key) {
                                auto it = m.trips.find(key);
                                std::vector<TripPoint>& p = it->second.points;
                                p.erase(std::remove_if(p.begin(), p.end(),
                                                       [&](const TripPoint& x) {
                                                         return x.arrival_s < before_s;
                                                       }),
                                        p.end());
                                if (!p.empty()) return false;
                                m.trips.erase(it);
                                return true;
                              }),
               keys.end());
  }
  visits_ = total;
}

namespace {

// Figures of one stop series over [lo, hi).
void StopFigures(const std::vector<VisitRec>& recs, size_t lo, size_t hi,
                 const AnalyticsOptions& o, std::vector<double>& scratch, StopStats& out,
                 double* excess_weighted) {
  out.visits = static_cast<int64_t>(hi - lo);
  for (size_t i = lo; i < hi; ++i) {
    const VisitRec& r = recs[i];
    if (!std::isnan(r.deviation_s)) {
      ++out.on_time.counted;
      if (r.deviation_s < o.on_time_early_s) {
        ++out.on_time.early;
      } else if (r.deviation_s > o.on_time_late_s) {
        ++out.on_time.late;
      } else {
        ++out.on_time.on_time;
      }
    }
    out.passengers.Add(r.boardings, r.alightings, r.load, r.occupancy);
    if (i > lo) {
      double h = r.arrival_s - recs[i - 1].arrival_s;
      ++out.headways.gaps;
      out.headways.sum_s += h;
      out.headways.sum_sq += h * h;
      double sh = std::abs(r.sched_arrival_s - recs[i - 1].sched_arrival_s);
      if (sh > 0 && h < o.bunching_ratio * sh) ++out.bunched_gaps;
    }
  }
  *excess_weighted = 0;
  if (out.headways.gaps == 0) return;
  scratch.clear();
  for (size_t i = lo; i < hi; ++i) scratch.push_back(recs[i].sched_arrival_s);
  std::sort(scratch.begin(), scratch.end());
  double ss = 0, ssq = 0;
  for (size_t i = 1; i < scratch.size(); ++i) {
    double h = scratch[i] - scratch[i - 1];
    ss += h;
    ssq += h * h;
  }
  double w_obs = out.headways.sum_s > 0 ? out.headways.sum_sq / (2 * out.headways.sum_s) : 0;
  double w_sched = ss > 0 ? ssq / (2 * ss) : 0;
  out.excess_wait_s = w_obs - w_sched;
  out.mean_scheduled_headway_s = ss / out.headways.gaps;
  *excess_weighted = out.excess_wait_s * static_cast<double>(out.headways.gaps);
}

}  // namespace

std::vector<RouteStats> VisitAggregator::Routes(const RouteQuery& q) const {
  const Impl& m = *impl_;
  const TimeWindow& w = q.window;
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
    double excess_sum = 0;
    for (uint32_t si : m.route_stop_series[r]) {
      const StopSeries& s = m.stop_series[si];
      auto cmp = [](const VisitRec& a, double t) { return a.arrival_s < t; };
      size_t lo = std::lower_bound(s.recs.begin(), s.recs.end(), w.from_s, cmp) - s.recs.begin();
      size_t hi = std::lower_bound(s.recs.begin() + lo, s.recs.end(), w.to_s, cmp) -
                  s.recs.begin();
      if (lo >= hi) continue;
      StopStats st;
      st.stop = s.stop;
      double ew = 0;
      StopFigures(s.recs, lo, hi, options_, scratch, st, &ew);
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
      excess_sum += ew;
      if (q.stops) rs.stops.push_back(std::move(st));
    }
    if (rs.visits == 0) continue;
    if (rs.headways.gaps > 0) rs.excess_wait_s = excess_sum / static_cast<double>(rs.headways.gaps);

    if (r < m.route_seg_series.size()) {
      for (uint32_t si : m.route_seg_series[r]) {
        const SegSeries& s = m.seg_series[si];
        auto cmp = [](const Trav& a, double t) { return a.to_arrival_s < t; };
        auto lo = std::lower_bound(s.travs.begin(), s.travs.end(), w.from_s, cmp);
        auto hi = std::lower_bound(lo, s.travs.end(), w.to_s, cmp);
        SegmentStats seg;
        seg.from_stop = s.from_stop;
        seg.to_stop = s.to_stop;
        double d = 0, t = 0, st = 0;
        for (auto it = lo; it != hi; ++it) {
          if (it->from_arrival_s < w.from_s) continue;
          ++seg.traversals;
          d += it->dist_m;
          t += it->time_s;
          st += it->sched_time_s;
          seg.passengers.Add(-1, -1, it->load, it->occupancy);
        }
        if (seg.traversals == 0) continue;
        double n = static_cast<double>(seg.traversals);
        seg.distance_m = d / n;
        seg.mean_speed_kmh = d / t * kMpsToKmh;
        seg.mean_time_s = t / n;
        seg.mean_scheduled_time_s = st / n;
        rs.segments.push_back(std::move(seg));
      }
    }

    if (r < m.route_trips.size()) {
      for (uint64_t key : m.route_trips[r]) {
        const TripInst& inst = m.trips.find(key)->second;
        const TripPoint* a = nullptr;
        const TripPoint* b = nullptr;
        TripStats ts;
        for (const TripPoint& p : inst.points) {
          if (!w.Contains(p.arrival_s)) continue;
          if (!a) a = &p;
          b = &p;
          ++ts.visits;
          ts.passengers.Add(p.boardings, p.alightings, p.load, p.occupancy);
        }
        if (!a) continue;
        ++rs.trips;
        ts.trip = inst.trip;
        ts.service_date = inst.service_date;
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
          ts.vehicle_id = m.vehicles[inst.vehicle];
          rs.trip_list.push_back(std::move(ts));
        }
      }
    }
    out.push_back(std::move(rs));
  }

  const AnalyticsNetwork& net = *network_;
  std::sort(out.begin(), out.end(), [&](const RouteStats& a, const RouteStats& b) {
    return net.RouteId(a.route) < net.RouteId(b.route);
  });
  for (RouteStats& rs : out) {
    std::sort(rs.stops.begin(), rs.stops.end(), [&](const StopStats& a, const StopStats& b) {
      return net.StopId(a.stop) < net.StopId(b.stop);
    });
    std::sort(rs.segments.begin(), rs.segments.end(),
              [&](const SegmentStats& a, const SegmentStats& b) {
                return std::make_pair(net.StopId(a.from_stop), net.StopId(a.to_stop)) <
                       std::make_pair(net.StopId(b.from_stop), net.StopId(b.to_stop));
              });
    std::sort(rs.trip_list.begin(), rs.trip_list.end(),
              [&](const TripStats& a, const TripStats& b) {
                return std::make_tuple(a.service_date, a.first_stop_index == 0, net.TripId(a.trip)) <
                       std::make_tuple(b.service_date, b.first_stop_index == 0, net.TripId(b.trip));
              });
  }
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
    if (!inserted && it->second.follower_arrival_s < p.follower_arrival_s) it->second = p;
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
  std::sort(out.begin(), out.end(), [](const SegmentCongestion& a, const SegmentCongestion& b) {
    bool ha = !std::isnan(a.ratio), hb = !std::isnan(b.ratio);
    if (ha != hb) return ha;
    if (ha && a.ratio != b.ratio) return a.ratio < b.ratio;
    if (a.now_speed_kmh != b.now_speed_kmh) return a.now_speed_kmh < b.now_speed_kmh;
    return std::tie(a.from_stop, a.to_stop) < std::tie(b.from_stop, b.to_stop);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<UsualJam> VisitAggregator::UsualJams(size_t limit) const {
  const Impl& m = *impl_;
  std::vector<UsualJam> out;
  for (const GlobalSeg& g : m.global_segs) {
    double ref = 0;
    size_t first = out.size();
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
      ref = std::max(ref, j.speed_kmh);
      out.push_back(j);
    }
    for (size_t i = first; i < out.size(); ++i) {
      out[i].reference_speed_kmh = ref;
      out[i].ratio = ref > 0 ? out[i].speed_kmh / ref : NAN;
    }
  }
  std::sort(out.begin(), out.end(), [](const UsualJam& a, const UsualJam& b) {
    if (a.ratio != b.ratio) return a.ratio < b.ratio;
    return std::tie(a.speed_kmh, a.from_stop, a.to_stop, a.bin_start_s) <
           std::tie(b.speed_kmh, b.from_stop, b.to_stop, b.bin_start_s);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<VehicleDriving> VisitAggregator::Driving(const TimeWindow& w) const {
  const Impl& m = *impl_;
  std::vector<VehicleDriving> by_vehicle(m.vehicles.size());
  for (const std::vector<uint64_t>& keys : m.route_trips) {
   for (uint64_t key : keys) {
    const TripInst& inst = m.trips.find(key)->second;
    const TripPoint* a = nullptr;
    const TripPoint* b = nullptr;
    for (const TripPoint& p : inst.points) {
      if (!w.Contains(p.arrival_s)) continue;
      if (!a) a = &p;
      b = &p;
    }
    if (!a) continue;
    VehicleDriving& d = by_vehicle[inst.vehicle];
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

const char* MatchStateLabel(MatchState s) {
  switch (s) {
    case MatchState::kInService: return "in_service";
    case MatchState::kLayover: return "layover";
    case MatchState::kOffRoute: return "off_route";
    case MatchState::kUnassigned: return "unassigned";
    case MatchState::kRejected: return "rejected";
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
