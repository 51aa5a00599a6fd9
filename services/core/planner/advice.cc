#include "services/core/planner/advice.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace smartbus::planner {
namespace {

// Linear-interpolated percentile (p in 0..100) of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  const double x = p / 100.0 * (sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(x));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (x - i) * (sorted[i + 1] - sorted[i]);
}

int BandOf(const AdviceOptions& o, int64_t epoch_s) {
  const absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixSeconds(epoch_s), o.time_zone);
  const int32_t tod = c.hour() * 3600 + c.minute() * 60 + c.second();
  for (size_t b = 0; b < o.bands.size(); ++b)
    if (tod >= o.bands[b].start_s && tod < o.bands[b].end_s) return static_cast<int>(b);
  return -1;
}

// Observations of one segment per band: (observed, scheduled) running times.
struct Samples {
  std::vector<std::vector<std::pair<double, double>>> by_band;
};

RunningTimeBand Summarize(const std::string& name, std::vector<std::pair<double, double>> obs,
                          const AdviceOptions& o) {
  RunningTimeBand r;
  r.band = name;
  r.samples = static_cast<int64_t>(obs.size());
  std::vector<double> v;
  double sched = 0;
  for (const auto& [a, s] : obs) {
    v.push_back(a);
    sched += s;
  }
  std::sort(v.begin(), v.end());
  r.p50_s = Percentile(v, 50);
  r.p85_s = Percentile(v, 85);
  r.p95_s = Percentile(v, 95);
  r.scheduled_s = obs.empty() ? NAN : sched / obs.size();
  if (r.samples >= o.min_samples) {
    r.recommended_s = Percentile(v, o.schedule_percentile);
    r.change_s = r.recommended_s - r.scheduled_s;
  }
  return r;
}

std::vector<RunningTimeBand> Bands(const Samples& s, const AdviceOptions& o) {
  std::vector<RunningTimeBand> out;
  for (size_t b = 0; b < s.by_band.size(); ++b)
    if (!s.by_band[b].empty()) out.push_back(Summarize(o.bands[b].name, s.by_band[b], o));
  return out;
}

// One trip instance's visits, by stop_index.
struct TripRun {
  std::vector<const StopVisit*> visits;
};

using SegKey = std::tuple<uint32_t, int8_t, uint32_t, uint32_t>;  // route, dir, from, to

class Advisor {
 public:
  Advisor(const Network& net, const AdviceOptions& o) : net_(net), o_(o) {}

  AdviceReport Run(const std::vector<StopVisit>& visits, const std::vector<uint32_t>& routes);

 private:
  void AddRun(const TripRun& run);
  void AddSegments(const TripRun& run, uint32_t route, int8_t dir);
  void AddHeadways(const StopVisit& v, int8_t dir);
  void Finish(RouteAdvice* ra);
  void FinishHeadways(RouteAdvice* ra);
  void FinishStops(RouteAdvice* ra);
  void LateStarts(const std::vector<TripRun>& runs);
  Samples& SamplesOf(std::map<SegKey, Samples>& m, const SegKey& k) {
    Samples& s = m[k];
    if (s.by_band.empty()) s.by_band.resize(o_.bands.size());
    return s;
  }

  const Network& net_;
  const AdviceOptions& o_;
  std::map<SegKey, Samples> segments_, timepoints_;
  std::map<std::pair<uint32_t, int8_t>, Samples> trips_;
  std::map<std::pair<uint32_t, int8_t>, std::vector<double>> layovers_;
  // Headways: (route, dir, stop, date) -> (observed arrival, scheduled arrival).
  std::map<std::tuple<uint32_t, int8_t, uint32_t, int32_t>, std::vector<std::pair<double, double>>>
      arrivals_;
  // Passenger use: (route, stop) -> ons + offs.
  std::map<std::pair<uint32_t, uint32_t>, double> use_;
  std::set<uint32_t> routes_with_counts_;
  std::map<uint32_t, RouteAdvice> out_;
  std::set<int32_t> dates_;
  std::set<uint32_t> has_previous_in_block_;  // trips that are not the first of their block
};

void Advisor::AddSegments(const TripRun& run, uint32_t route, int8_t dir) {
  const auto& vs = run.visits;
  for (size_t i = 0; i + 1 < vs.size(); ++i) {
    const StopVisit& a = *vs[i];
    const StopVisit& b = *vs[i + 1];
    if (b.stop_index != a.stop_index + 1) continue;
    const int band = BandOf(o_, a.scheduled_departure_s);
    const double obs = b.arrival_s - a.departure_s;
    if (band < 0 || !(obs > 0)) continue;
    SamplesOf(segments_, {route, dir, a.stop, b.stop})
        .by_band[band]
        .push_back({obs, double(b.scheduled_arrival_s - a.scheduled_departure_s)});
  }
  // Timepoint pairs: consecutive timepoints of the trip, both observed.
  const GtfsFeed& f = net_.feed();
  const GtfsTrip& trip = f.trips[vs.front()->trip];
  const StopVisit* prev_tp = nullptr;
  for (const StopVisit* v : vs) {
    if (v->stop_index >= trip.num_stop_times) continue;
    if (!f.stop_times[trip.first_stop_time + v->stop_index].timepoint) continue;
    if (prev_tp != nullptr) {
      bool consecutive = true;  // no timepoint of the trip between them
      for (uint32_t k = prev_tp->stop_index + 1; k < v->stop_index && consecutive; ++k)
        consecutive = !f.stop_times[trip.first_stop_time + k].timepoint;
      const int band = BandOf(o_, prev_tp->scheduled_departure_s);
      const double obs = v->arrival_s - prev_tp->departure_s;
      if (consecutive && band >= 0 && obs > 0)
        SamplesOf(timepoints_, {route, dir, prev_tp->stop, v->stop})
            .by_band[band]
            .push_back({obs, double(v->scheduled_arrival_s - prev_tp->scheduled_departure_s)});
    }
    prev_tp = v;
  }
}

void Advisor::AddRun(const TripRun& run) {
  const StopVisit& first = *run.visits.front();
  const uint32_t route = first.route;
  const int8_t dir = net_.feed().trips[first.trip].direction_id;
  AddSegments(run, route, dir);
  const StopVisit& last = *run.visits.back();
  const uint32_t n = net_.feed().trips[first.trip].num_stop_times;
  // A whole trip: from its first stop to its last or last but one (the tracker may end a trip
  // when the bus reaches its terminal's approach).
  if (first.stop_index == 0 && last.stop_index + 2 >= n) {
    const int band = BandOf(o_, first.scheduled_departure_s);
    const double obs = last.arrival_s - first.departure_s;
    if (band >= 0 && obs > 0) {
      Samples& s = trips_[{route, dir}];
      if (s.by_band.empty()) s.by_band.resize(o_.bands.size());
      s.by_band[band].push_back({obs, double(last.scheduled_arrival_s - first.scheduled_departure_s)});
    }
  }
  for (const StopVisit* v : run.visits) {
    arrivals_[{route, dir, v->stop, v->service_date}].push_back(
        {v->arrival_s, double(v->scheduled_arrival_s)});
    if (v->boardings >= 0 || v->alightings >= 0) {
      use_[{route, v->stop}] += std::max(0, v->boardings) + std::max(0, v->alightings);
      routes_with_counts_.insert(route);
    }
  }
}

void Advisor::FinishHeadways(RouteAdvice* ra) {
  // Route order per direction: the longest pattern of the route in that direction.
  std::map<int8_t, const Pattern*> longest;
  for (uint32_t p : net_.route_patterns(ra->route)) {
    const Pattern& pat = net_.pattern(p);
    const Pattern*& l = longest[pat.direction_id];
    if (l == nullptr || pat.stops.size() > l->stops.size()) l = &pat;
  }
  for (const auto& [dir, pat] : longest) {
    HeadwayAdvice h;
    h.route = ra->route;
    h.direction_id = dir;
    for (uint32_t stop : pat->stops) {
      HeadwayStop hs;
      hs.stop = stop;
      double sum = 0, sum_sq = 0;
      int64_t bunched = 0;
      for (int32_t date : dates_) {
        auto it = arrivals_.find({ra->route, dir, stop, date});
        if (it == arrivals_.end()) continue;
        auto v = it->second;
        std::sort(v.begin(), v.end());
        for (size_t i = 1; i < v.size(); ++i) {
          const double gap = v[i].first - v[i - 1].first;
          const double sched = std::fabs(v[i].second - v[i - 1].second);
          ++hs.gaps;
          sum += gap;
          sum_sq += gap * gap;
          if (sched > 0 && gap < o_.bunching_ratio * sched) ++bunched;
        }
      }
      if (hs.gaps >= 2 && sum > 0) {
        const double mean = sum / hs.gaps;
        hs.cv = std::sqrt(std::max(0.0, sum_sq / hs.gaps - mean * mean)) / mean;
        hs.bunched_share = double(bunched) / hs.gaps;
        if (h.first_irregular_stop == kNoIndex && hs.cv > o_.irregular_cv) h.first_irregular_stop = stop;
        if (h.bunching_starts_at == kNoIndex && hs.bunched_share >= o_.bunching_share)
          h.bunching_starts_at = stop;
      }
      h.stops.push_back(hs);
    }
    ra->headways.push_back(std::move(h));
  }
}

void Advisor::FinishStops(RouteAdvice* ra) {
  ra->passenger_data = routes_with_counts_.count(ra->route) > 0;
  std::map<int8_t, const Pattern*> longest;
  for (uint32_t p : net_.route_patterns(ra->route)) {
    const Pattern& pat = net_.pattern(p);
    const Pattern*& l = longest[pat.direction_id];
    if (l == nullptr || pat.stops.size() > l->stops.size()) l = &pat;
  }
  const double days = std::max<size_t>(1, dates_.size());
  for (const auto& [dir, pat] : longest) {
    StopSpacing sp;
    sp.route = ra->route;
    sp.direction_id = dir;
    sp.stops = static_cast<int>(pat->stops.size());
    std::vector<double> gaps;
    for (size_t i = 1; i < pat->stop_dist_m.size(); ++i)
      gaps.push_back(pat->stop_dist_m[i] - pat->stop_dist_m[i - 1]);
    if (!gaps.empty()) {
      double sum = 0;
      for (double g : gaps) sum += g, sp.below_200m += g < 200;
      std::sort(gaps.begin(), gaps.end());
      sp.mean_m = sum / gaps.size();
      sp.median_m = Percentile(gaps, 50);
      sp.min_m = gaps.front();
      sp.max_m = gaps.back();
    }
    ra->spacing.push_back(sp);
    if (!ra->passenger_data) continue;
    for (size_t i = 0; i < pat->stops.size(); ++i) {
      auto it = use_.find({ra->route, pat->stops[i]});
      const double per_day = it == use_.end() ? 0 : it->second / days;
      if (per_day >= o_.low_use_per_day) continue;
      StopUse u{ra->route, pat->stops[i], per_day, kNoIndex, NAN};
      for (size_t j : {i - 1, i + 1}) {  // i - 1 wraps for i == 0: out of range, skipped
        if (j >= pat->stops.size()) continue;
        const double d = std::fabs(pat->stop_dist_m[j] - pat->stop_dist_m[i]);
        if (!(d >= u.neighbour_m)) u.neighbour = pat->stops[j], u.neighbour_m = d;
      }
      if (u.neighbour_m <= o_.consolidation_gap_m) ra->consolidation.push_back(u);
    }
  }
}

void Advisor::Finish(RouteAdvice* ra) {
  for (auto& [key, s] : segments_) {
    if (std::get<0>(key) != ra->route) continue;
    ra->segments.push_back({ra->route, std::get<1>(key), std::get<2>(key), std::get<3>(key), false,
                            Bands(s, o_)});
  }
  for (auto& [key, s] : timepoints_) {
    if (std::get<0>(key) != ra->route) continue;
    ra->timepoint_pairs.push_back({ra->route, std::get<1>(key), std::get<2>(key),
                                   std::get<3>(key), true, Bands(s, o_)});
  }
  for (auto& [key, s] : trips_) {
    if (key.first != ra->route) continue;
    for (RunningTimeBand& b : Bands(s, o_)) {
      TripTimeAdvice t;
      t.route = ra->route;
      t.direction_id = key.second;
      t.running = b;
      if (b.samples >= o_.min_samples) {
        std::vector<double> v;
        for (size_t i = 0; i < o_.bands.size(); ++i)
          if (o_.bands[i].name == b.band)
            for (const auto& [obs, sched] : s.by_band[i]) v.push_back(obs);
        std::sort(v.begin(), v.end());
        t.recovery_s = Percentile(v, o_.cycle_percentile) - Percentile(v, o_.schedule_percentile);
      }
      auto lay = layovers_.find(key);
      if (lay != layovers_.end() && !lay->second.empty()) {
        double sum = 0;
        for (double x : lay->second) sum += x;
        t.scheduled_layover_s = sum / lay->second.size();
      }
      ra->trips.push_back(t);
    }
  }
  FinishHeadways(ra);
  FinishStops(ra);
}

// Late starts and their cause: runs grouped by vehicle and date, in scheduled order.
void Advisor::LateStarts(const std::vector<TripRun>& runs) {
  std::map<std::pair<std::string, int32_t>, std::vector<const TripRun*>> by_vehicle;
  for (const TripRun& r : runs) {
    const StopVisit& f = *r.visits.front();
    by_vehicle[{f.vehicle_id, f.service_date}].push_back(&r);
  }
  for (auto& [key, list] : by_vehicle) {
    std::sort(list.begin(), list.end(), [](const TripRun* a, const TripRun* b) {
      return a->visits.front()->scheduled_departure_s < b->visits.front()->scheduled_departure_s;
    });
    for (size_t i = 0; i < list.size(); ++i) {
      const StopVisit& f = *list[i]->visits.front();
      auto it = out_.find(f.route);
      if (it == out_.end()) continue;
      RouteAdvice& ra = it->second;
      const StopVisit* prev_end = i > 0 ? list[i - 1]->visits.back() : nullptr;
      if (prev_end != nullptr && f.stop_index == 0) {
        const int8_t dir = net_.feed().trips[f.trip].direction_id;
        layovers_[{f.route, dir}].push_back(double(f.scheduled_departure_s - prev_end->scheduled_arrival_s));
      }
      if (f.stop_index != 0) continue;
      ++ra.trips_observed;
      const double delay = f.departure_s - f.scheduled_departure_s;
      if (delay <= o_.late_start_s) continue;
      LateStart ls{f.route, f.trip, f.service_date, f.vehicle_id, delay, "", NAN};
      if (prev_end != nullptr) {
        ls.previous_end_delay_s = prev_end->arrival_s - prev_end->scheduled_arrival_s;
        ls.cause = prev_end->arrival_s > f.scheduled_departure_s ? "previous_trip_late"
                                                                 : "late_departure";
      } else {
        ls.cause = has_previous_in_block_.count(f.trip) ? "previous_trip_unobserved" : "late_pullout";
      }
      if (ls.cause == "late_pullout") ++ra.late_pullouts;
      else if (ls.cause == "previous_trip_late") ++ra.late_after_previous_trip;
      else if (ls.cause == "late_departure") ++ra.late_departures;
      else ++ra.late_unexplained;
      ra.late_starts.push_back(ls);
    }
  }
}

AdviceReport Advisor::Run(const std::vector<StopVisit>& visits, const std::vector<uint32_t>& routes) {
  const std::set<uint32_t> wanted(routes.begin(), routes.end());
  std::map<std::pair<uint32_t, int32_t>, TripRun> by_trip;
  AdviceReport rep;
  for (const StopVisit& v : visits) {
    if (v.trip >= net_.feed().trips.size() || v.stop >= net_.feed().stops.size()) continue;
    if (!wanted.empty() && !wanted.count(v.route)) continue;
    by_trip[{v.trip, v.service_date}].visits.push_back(&v);
    dates_.insert(v.service_date);
    ++rep.visits;
  }
  for (TripIdx t : net_.feed().trips.ids())
    if (auto next = net_.NextTripInBlock(t)) has_previous_in_block_.insert(*next);
  std::vector<TripRun> runs;
  for (auto& [key, run] : by_trip) {
    std::sort(run.visits.begin(), run.visits.end(), [](const StopVisit* a, const StopVisit* b) {
      return a->stop_index < b->stop_index;
    });
    AddRun(run);
    out_[run.visits.front()->route].route = run.visits.front()->route;
    runs.push_back(std::move(run));
  }
  LateStarts(runs);
  for (auto& [route, ra] : out_) {
    Finish(&ra);
    std::sort(ra.late_starts.begin(), ra.late_starts.end(),
              [](const LateStart& a, const LateStart& b) { return a.start_delay_s > b.start_delay_s; });
    rep.routes.push_back(std::move(ra));
  }
  std::sort(rep.routes.begin(), rep.routes.end(), [&](const RouteAdvice& a, const RouteAdvice& b) {
    return net_.feed().routes[a.route].id < net_.feed().routes[b.route].id;
  });
  rep.days = static_cast<int>(dates_.size());
  return rep;
}

}  // namespace

AdviceReport BuildAdvice(const Network& net, const std::vector<StopVisit>& visits,
                         const AdviceOptions& options, const std::vector<uint32_t>& routes) {
  return Advisor(net, options).Run(visits, routes);
}

std::vector<SegmentExcess> WorstSegments(const AdviceReport& report, size_t limit) {
  std::vector<SegmentExcess> out;
  for (const RouteAdvice& r : report.routes)
    for (const SegmentAdvice& s : r.segments)
      for (const RunningTimeBand& b : s.bands)
        if (std::isfinite(b.change_s)) out.push_back({&s, &b});
  std::sort(out.begin(), out.end(), [](const SegmentExcess& a, const SegmentExcess& b) {
    return a.band->change_s > b.band->change_s;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace smartbus::planner
