#include "services/core/planner/planner.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/core/common/mutex.h"
#include "services/core/planner/raptor.h"

namespace smartbus::planner {

// The live overlay: trips with predictions as their own routes (times relative to base_s), and
// the static trip instances they replace or that are cancelled.
struct Planner::LiveIndex {
  int64_t base_s = 0;  // epoch seconds that overlay time 0 stands for
  RouteSet routes;
  absl::flat_hash_set<uint64_t> excluded;     // TripDateKey
  std::vector<uint8_t> static_route_excluded;  // per static route
};

struct Planner::Cache {
  Mutex mu;
  uint64_t provider ABSL_GUARDED_BY(mu) = 0;  // LiveTimes::instance()
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  std::shared_ptr<const LiveIndex> live ABSL_GUARDED_BY(mu);
  std::map<int32_t, std::shared_ptr<const std::vector<uint8_t>>> active ABSL_GUARDED_BY(mu);  // date -> services
};

namespace {

int32_t ToYmd(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

// One live trip's times as TripTimes relative to base_s (see LiveTrip for the rules).
bool LiveTripTimes(const Network& net, const LiveTrip& lt, int64_t base_s, TripTimes* out) {
  const GtfsFeed& f = net.feed();
  const GtfsTrip& trip = f.trips[lt.trip];
  const uint32_t n = trip.num_stop_times;
  if (n < 2 || lt.stops.empty()) return false;
  const int64_t day = absl::ToUnixSeconds(net.ServiceDayStart(lt.service_date)) - base_s;
  out->pattern = net.trip_pattern(lt.trip);
  out->trip = {lt.trip, trip.service, 0, lt.service_date};
  out->flags.assign(n, 0);
  out->arr.assign(n, 0);
  out->dep.assign(n, 0);
  out->p10.assign(n, RouteSet::kNoSpread);
  out->p90.assign(n, RouteSet::kNoSpread);
  out->live.assign(n, 0);
  size_t next = 0;           // next listed stop
  int64_t delay = 0;         // of the last listed stop
  const uint32_t first_listed = lt.stops.front().stop_index;
  int64_t last = INT64_MIN;
  for (uint32_t k = 0; k < n; ++k) {
    const GtfsStopTime& st = f.stop_times[trip.first_stop_time + k];
    const int64_t sched_arr = day + st.arrival_s;
    const int64_t sched_dep = day + std::max(st.arrival_s, st.departure_s);
    int64_t a = sched_arr + delay, d = sched_dep + delay;
    uint8_t flags = static_cast<uint8_t>((st.pickup_type == 1 ? 0 : kCanBoard) |
                                         (st.drop_off_type == 1 ? 0 : kCanAlight));
    while (next < lt.stops.size() && lt.stops[next].stop_index < k) ++next;
    if (next < lt.stops.size() && lt.stops[next].stop_index == k &&
        lt.stops[next].arrival_s != kNoLiveTime) {
      const LiveStop& ls = lt.stops[next];
      a = ls.arrival_s - base_s;
      d = ls.departure_s != kNoLiveTime ? ls.departure_s - base_s : a + (sched_dep - sched_arr);
      delay = a - sched_arr;
      if (ls.skipped) flags = 0;
      if (ls.p10_s != kNoLiveTime) out->p10[k] = static_cast<int32_t>(ls.p10_s - ls.arrival_s);
      if (ls.p90_s != kNoLiveTime) out->p90[k] = static_cast<int32_t>(ls.p90_s - ls.arrival_s);
      out->live[k] = 1;
    }
    if (k < first_listed) flags = 0;  // already served: the bus has left
    last = std::max(last, a);
    out->arr[k] = static_cast<int32_t>(last);
    last = std::max(last, d);
    out->dep[k] = static_cast<int32_t>(last);
    out->flags[k] = flags;
  }
  if (first_listed > 0) {  // earlier stops: not usable; keep them FIFO-neutral
    for (uint32_t k = 0; k < first_listed && k < n; ++k)
      out->arr[k] = out->dep[k] = out->arr[std::min(first_listed, n - 1)];
  }
  return true;
}

std::shared_ptr<const Planner::LiveIndex> BuildLiveIndex(const Timetable& tt,
                                                         const std::vector<LiveTrip>& trips) {
  const Network& net = tt.network();
  auto idx = std::make_shared<Planner::LiveIndex>();
  int32_t min_date = 0;
  for (const LiveTrip& lt : trips)
    if (lt.trip < net.feed().trips.size() && (min_date == 0 || lt.service_date < min_date))
      min_date = lt.service_date;
  if (min_date == 0) return idx;
  idx->base_s = absl::ToUnixSeconds(net.ServiceDayStart(min_date)) - 86400;
  std::vector<TripTimes> times;
  absl::flat_hash_set<uint32_t> excluded_trips;
  for (const LiveTrip& lt : trips) {
    if (lt.trip >= net.feed().trips.size() || lt.service_date <= 0) continue;
    TripTimes t;
    const bool live = !lt.cancelled && LiveTripTimes(net, lt, idx->base_s, &t);
    if (!lt.cancelled && !live) continue;  // nothing known: stays as scheduled
    idx->excluded.insert(TripDateKey(lt.trip, lt.service_date));
    excluded_trips.insert(lt.trip);
    if (live) times.push_back(std::move(t));
  }
  idx->routes = BuildRouteSet(std::move(times), net);
  const RouteSet& rs = tt.routes();
  idx->static_route_excluded.assign(rs.routes.size(), 0);
  for (uint32_t r = 0; r < rs.routes.size(); ++r) {
    const RouteSet::Route& route = rs.routes[r];
    for (uint32_t j = 0; j < route.num_trips; ++j)
      if (excluded_trips.contains(rs.trips[route.first_trip + j].trip)) {
        idx->static_route_excluded[r] = 1;
        break;
      }
  }
  return idx;
}

}  // namespace

namespace {

// One query's search context: the days, the sets and the endpoints' stops.
// Stops within reach of an endpoint (the stop itself with 0 s and its footpaths; or every stop
// within the access walk of a place).
std::vector<StopWalk> EndpointStops(const Timetable& tt, const Endpoint& e) {
  std::vector<StopWalk> out;
  const WalkOptions& w = tt.walk();
  if (e.stop) {
    out.push_back({*e.stop, 0});
    const Footpaths& fp = tt.footpaths();
    for (uint32_t i = fp.begin[*e.stop]; i < fp.begin[*e.stop + 1]; ++i)
      out.push_back({fp.edges[i].to, fp.edges[i].walk_s});
    return out;
  }
  const auto& stops = tt.network().feed().stops;
  for (const auto& [s, d] :
       tt.network().StopsNear(e.pos, w.max_access_walk_m / w.detour_factor, stops.size()))
    out.push_back({s, WalkSeconds(d, w)});
  return out;
}

// Walking time between the two endpoints, -1 when beyond the walking limit.
int32_t DirectWalk(const Timetable& tt, const Endpoint& a, const Endpoint& b) {
  const WalkOptions& w = tt.walk();
  if (a.stop && b.stop) {
    if (*a.stop == *b.stop) return 0;
    const Footpaths& fp = tt.footpaths();
    for (uint32_t i = fp.begin[*a.stop]; i < fp.begin[*a.stop + 1]; ++i)
      if (fp.edges[i].to == *b.stop) return fp.edges[i].walk_s;
    return -1;
  }
  const LocalProjection& proj = tt.network().projection();
  const auto pos = [&](const Endpoint& e) {
    return proj.Forward(e.stop ? tt.network().feed().stops[*e.stop].pos : e.pos);
  };
  const double d = Dist(pos(a), pos(b));
  return d <= w.max_access_walk_m / w.detour_factor ? WalkSeconds(d, w) : -1;
}

absl::Status CheckEndpoint(const Network& net, const Endpoint& e, absl::string_view what) {
  if (e.stop) {
    if (*e.stop >= net.feed().stops.size())
      return absl::InvalidArgumentError(absl::StrCat("planner: ", what, " stop index ", *e.stop,
                                                     " is not a stop of the network"));
    return absl::OkStatus();
  }
  if (!IsValidLatLon(e.pos.lat, e.pos.lon))
    return absl::InvalidArgumentError(absl::StrCat("planner: ", what, " place (", e.pos.lat, ",",
                                                   e.pos.lon, ") is not a valid lat/lon"));
  return absl::OkStatus();
}

}  // namespace

Planner::Planner(std::shared_ptr<const Timetable> timetable, const PlannerOptions& options)
    : timetable_(std::move(timetable)), options_(options), cache_(std::make_unique<Cache>()) {}

Planner::~Planner() = default;

std::shared_ptr<const Planner::LiveIndex> Planner::LiveIndexFor(const LiveTimes* live) const {
  if (live == nullptr) return nullptr;
  const uint64_t version = live->version();
  {
    MutexLock lock(cache_->mu);
    if (cache_->provider == live->instance() && cache_->version == version && cache_->live) return cache_->live;
  }
  std::vector<LiveTrip> trips;
  live->Snapshot(&trips);
  auto idx = BuildLiveIndex(*timetable_, trips);
  MutexLock lock(cache_->mu);
  cache_->provider = live->instance();
  cache_->version = version;
  cache_->live = idx;
  return idx;
}

}  // namespace smartbus::planner

namespace smartbus::planner {
namespace {

// Turns the labels of one search into journeys (real order, real times).
class Reconstructor {
 public:
  Reconstructor(const Timetable& tt, const PlannerOptions& opt, const SearchInput& in,
                const SearchLabels& l, bool reverse, absl::Time day_start)
      : tt_(tt), opt_(opt), in_(in), l_(l), reverse_(reverse), day_start_(day_start) {}

  Journey Build(int k) const;

 private:
  struct Seg {
    bool ride = false;
    uint32_t from = kNoIndex, to = kNoIndex;  // real order; kNoIndex: a place
    int32_t walk_s = 0;
    RideParent rp;
  };
  std::vector<Seg> Segments(int k) const;
  Leg RideLeg(const Seg& seg) const;
  absl::Time At(int64_t real_s) const { return day_start_ + absl::Seconds(real_s); }

  const Timetable& tt_;
  const PlannerOptions& opt_;
  const SearchInput& in_;
  const SearchLabels& l_;
  const bool reverse_;
  const absl::Time day_start_;
};

std::vector<Reconstructor::Seg> Reconstructor::Segments(int k) const {
  std::vector<Seg> segs;  // search order, from the search target back to the search origin
  uint32_t q = l_.dest_from[k];
  int32_t egress = 0;
  for (const StopWalk& e : in_.egress)
    if (e.stop == q && (egress == 0 || e.walk_s < egress)) egress = e.walk_s;
  segs.push_back({false, q, kNoIndex, egress, {}});
  for (int r = k; r >= 1; --r) {
    const RideParent& rp = l_.ride_parent[r][q];
    const SearchSet& set = in_.sets[rp.set];
    const RouteView v{set.routes, &set.routes->routes[rp.route], reverse_};
    const uint32_t b = v.Stop(rp.board);
    segs.push_back({true, b, q, 0, rp});
    const BoardParent& bp = l_.board_parent[r - 1][b];
    segs.push_back({false, bp.from, b, bp.walk_s, {}});
    q = bp.from;
  }
  if (!reverse_) {
    std::reverse(segs.begin(), segs.end());
  } else {
    for (Seg& s : segs) std::swap(s.from, s.to);  // search direction was backwards
  }
  // Drop same-stop transfers (no walk).
  std::vector<Seg> out;
  for (const Seg& s : segs)
    if (s.ride || s.from == kNoIndex || s.to == kNoIndex || s.from != s.to) out.push_back(s);
  return out;
}

Leg Reconstructor::RideLeg(const Seg& seg) const {
  const SearchSet& set = in_.sets[seg.rp.set];
  const RouteSet& rs = *set.routes;
  const RouteSet::Route& route = rs.routes[seg.rp.route];
  const RouteView v{&rs, &route, reverse_};
  uint32_t board = v.RealPos(seg.rp.board), alight = v.RealPos(seg.rp.alight);
  if (reverse_) std::swap(board, alight);
  const RouteSet::Trip& trip = rs.trips[route.first_trip + seg.rp.trip];
  const SearchDay& day = set.days[seg.rp.day];
  const uint64_t base = route.first_time + static_cast<uint64_t>(seg.rp.trip) * route.num_stops;
  Leg leg;
  leg.kind = Leg::Kind::kRide;
  leg.from_stop = seg.from;
  leg.to_stop = seg.to;
  leg.trip = trip.trip;
  leg.service_date = trip.service_date ? trip.service_date : day.date;
  leg.board_index = board;
  leg.alight_index = alight;
  leg.depart = At(int64_t{rs.dep[base + board]} + day.offset_s);
  leg.arrive = At(int64_t{rs.arr[base + alight]} + day.offset_s);
  const Network& net = tt_.network();
  const GtfsFeed& f = net.feed();
  const absl::Time sched_day =
      net.ServiceDayStart(leg.service_date) + absl::Seconds(trip.shift_s);
  const GtfsTrip& gt = f.trips[trip.trip];
  leg.scheduled_depart = sched_day + absl::Seconds(f.stop_times[gt.first_stop_time + board].departure_s);
  leg.scheduled_arrive = sched_day + absl::Seconds(f.stop_times[gt.first_stop_time + alight].arrival_s);
  if (!rs.live.empty()) {
    leg.live = rs.live[base + board] || rs.live[base + alight];
    if (rs.p10[base + alight] != RouteSet::kNoSpread)
      leg.arrive_p10 = leg.arrive + absl::Seconds(rs.p10[base + alight]);
    if (rs.p90[base + alight] != RouteSet::kNoSpread)
      leg.arrive_p90 = leg.arrive + absl::Seconds(rs.p90[base + alight]);
  }
  return leg;
}

Journey Reconstructor::Build(int k) const {
  Journey j;
  const std::vector<Seg> segs = Segments(k);
  // Rides first (they fix the times), then the walks around them.
  std::vector<Leg> legs(segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    if (!segs[i].ride) continue;
    legs[i] = RideLeg(segs[i]);
    ++j.rides;
  }
  for (size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].ride) continue;
    Leg& w = legs[i];
    w.kind = Leg::Kind::kWalk;
    w.from_stop = segs[i].from;
    w.to_stop = segs[i].to;
    w.walk_m = segs[i].walk_s * tt_.walk().speed_mps;
    const absl::Duration d = absl::Seconds(segs[i].walk_s);
    if (i > 0) {
      w.depart = legs[i - 1].arrive;
      w.arrive = w.depart + d;
    } else {
      w.arrive = legs[i + 1].depart;
      w.depart = w.arrive - d;
    }
  }
  // Risky transfers: the previous ride's P90 arrival plus the transfer misses this departure.
  const Leg* prev = nullptr;
  int32_t walk_s = 0;
  for (size_t i = 0; i < legs.size(); ++i) {
    Leg& leg = legs[i];
    if (leg.kind != Leg::Kind::kRide) {
      walk_s = segs[i].walk_s;
      continue;
    }
    j.live |= leg.live;
    if (prev != nullptr && prev->arrive_p90 != absl::InfinitePast()) {
      const absl::Duration need = absl::Seconds(std::max(walk_s, opt_.min_transfer_s));
      leg.risky = prev->arrive_p90 + need > leg.depart;
      j.risky |= leg.risky;
    }
    prev = &leg;
    walk_s = 0;
  }
  // A zero-second walk at either end is the endpoint stop itself.
  if (legs.size() > 1 && legs.back().kind == Leg::Kind::kWalk && segs.back().walk_s == 0)
    legs.pop_back();
  if (legs.size() > 1 && legs.front().kind == Leg::Kind::kWalk && segs.front().walk_s == 0)
    legs.erase(legs.begin());
  j.legs = std::move(legs);
  j.depart = j.legs.front().depart;
  j.arrive = j.legs.back().arrive;
  return j;
}

}  // namespace
}  // namespace smartbus::planner

namespace smartbus::planner {
namespace {

bool Dominated(const Journey& j, const std::vector<Journey>& kept) {
  for (const Journey& o : kept)
    if (o.depart >= j.depart && o.arrive <= j.arrive && o.rides <= j.rides) return true;
  return false;
}

// Departure times (search time, forward) at which a range query runs a search: every boarding
// of a trip at an origin stop in the window, minus the walk there; latest first.
std::vector<int32_t> RangeDepartures(const SearchInput& in, int32_t window_s) {
  std::vector<int32_t> out;
  for (const StopWalk& a : in.access) {
    for (const SearchSet& set : in.sets) {
      const RouteSet& rs = *set.routes;
      for (uint32_t x = rs.at_begin[a.stop]; x < rs.at_begin[a.stop + 1]; ++x) {
        const RouteSet::Route& r = rs.routes[rs.at[x].route];
        if (!(rs.flags[r.first_stop + rs.at[x].pos] & kCanBoard)) continue;
        for (const SearchDay& day : set.days) {
          for (uint32_t j = 0; j < r.num_trips; ++j) {
            const int32_t t = rs.dep[r.first_time + uint64_t{j} * r.num_stops + rs.at[x].pos] +
                              day.offset_s - a.walk_s;
            if (t >= in.start && t <= in.start + window_s) out.push_back(t);
          }
        }
      }
    }
  }
  out.push_back(in.start);
  out.push_back(in.start + window_s);  // the end: what leaving later would give bounds the rest
  std::sort(out.begin(), out.end(), std::greater<int32_t>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Journey WalkOnly(const PlanRequest& req, int32_t walk_s, const WalkOptions& w) {
  Journey j;
  Leg leg;
  leg.kind = Leg::Kind::kWalk;
  if (req.from.stop) leg.from_stop = *req.from.stop;
  if (req.to.stop) leg.to_stop = *req.to.stop;
  leg.walk_m = walk_s * w.speed_mps;
  leg.depart = req.arrive_by ? req.time - absl::Seconds(walk_s) : req.time;
  leg.arrive = leg.depart + absl::Seconds(walk_s);
  j.depart = leg.depart;
  j.arrive = leg.arrive;
  j.legs.push_back(leg);
  return j;
}

}  // namespace

absl::StatusOr<PlanResult> Planner::Plan(const PlanRequest& req, const LiveTimes* live) const {
  const Network& net = timetable_->network();
  if (absl::Status s = CheckEndpoint(net, req.from, "origin"); !s.ok()) return s;
  if (absl::Status s = CheckEndpoint(net, req.to, "destination"); !s.ok()) return s;
  if (req.window < absl::ZeroDuration() || req.window > options_.max_window)
    return absl::InvalidArgumentError(absl::StrCat(
        "planner: departure window ", absl::FormatDuration(req.window), " outside 0..",
        absl::FormatDuration(options_.max_window)));
  if (req.arrive_by && req.window > absl::ZeroDuration())
    return absl::InvalidArgumentError("planner: a departure window needs a depart-at request");
  if (req.time == absl::InfinitePast() || req.time == absl::InfiniteFuture())
    return absl::InvalidArgumentError("planner: no request time");

  // Service days: the query's and its neighbours.
  const absl::CivilDay today = absl::ToCivilDay(req.time, net.time_zone());
  const absl::Time day_start = net.ServiceDayStart(ToYmd(today));
  SearchInput in;
  in.footpaths = &timetable_->footpaths();
  in.min_transfer_s = options_.min_transfer_s;
  in.max_rides = std::max(1, options_.max_rides);
  SearchSet stat;
  stat.routes = &timetable_->routes();
  std::vector<std::shared_ptr<const std::vector<uint8_t>>> keep;
  for (int d = -1; d <= 1; ++d) {
    const int32_t date = ToYmd(today + d);
    keep.push_back(ActiveServices(date));
    stat.days.push_back({static_cast<int32_t>(absl::ToInt64Seconds(
                             net.ServiceDayStart(date) - day_start)),
                         date, keep.back().get()});
  }
  int result_live_trips = 0;
  std::shared_ptr<const LiveIndex> li = req.use_live ? LiveIndexFor(live) : nullptr;
  if (li && !li->excluded.empty()) {
    result_live_trips = static_cast<int>(li->excluded.size());
    stat.excluded = &li->excluded;
    stat.route_has_excluded = &li->static_route_excluded;
  }
  in.sets.push_back(std::move(stat));
  if (li && !li->routes.routes.empty()) {
    SearchSet ls;
    ls.routes = &li->routes;
    ls.days.push_back({static_cast<int32_t>(li->base_s - absl::ToUnixSeconds(day_start)), 0,
                       nullptr});
    in.sets.push_back(std::move(ls));
  }
  const Endpoint& search_from = req.arrive_by ? req.to : req.from;
  const Endpoint& search_to = req.arrive_by ? req.from : req.to;
  in.access = EndpointStops(*timetable_, search_from);
  in.egress = EndpointStops(*timetable_, search_to);
  in.direct_walk_s = DirectWalk(*timetable_, req.from, req.to);
  const int32_t rel = static_cast<int32_t>(absl::ToInt64Seconds(req.time - day_start));
  in.start = req.arrive_by ? -rel : rel;

  PlanResult result;
  result.stats.live_trips = result_live_trips;
  std::vector<int32_t> starts{in.start};
  if (req.window > absl::ZeroDuration())
    starts = RangeDepartures(in, static_cast<int32_t>(absl::ToInt64Seconds(req.window)));
  SearchLabels labels;
  const int32_t first_start = in.start;
  for (int32_t start : starts) {  // latest first: a range query reuses the labels (rRAPTOR)
    in.start = start;
    RunRaptor(in, req.arrive_by, &labels);
    in.reuse_labels = true;
    ++result.stats.searches;
    result.stats.rounds = std::max(result.stats.rounds, labels.rounds);
    result.stats.routes_scanned += labels.routes_scanned;
    const Reconstructor rec(*timetable_, options_, in, labels, req.arrive_by, day_start);
    for (int k = 0; k <= labels.rounds; ++k) {
      if (!labels.improved[k]) continue;
      if (k == 0 && start != first_start) continue;  // one walk-only journey: at the start
      PlanRequest at = req;
      at.time = day_start + absl::Seconds(req.arrive_by ? -start : start);
      Journey j = k == 0 ? WalkOnly(at, in.direct_walk_s, timetable_->walk()) : rec.Build(k);
      // Walks from/to an endpoint stop (over a footpath) name it.
      if (req.from.stop && j.legs.front().from_stop == kNoIndex) j.legs.front().from_stop = *req.from.stop;
      if (req.to.stop && j.legs.back().to_stop == kNoIndex) j.legs.back().to_stop = *req.to.stop;
      if (!Dominated(j, result.journeys)) result.journeys.push_back(std::move(j));
    }
  }
  // A range query returns the journeys leaving in the window. A run near its end may find one
  // leaving later: it stays a dominator above (its labels bound the earlier runs), but is not
  // returned.
  if (req.window > absl::ZeroDuration()) {
    const absl::Time end = req.time + req.window;
    result.journeys.erase(std::remove_if(result.journeys.begin(), result.journeys.end(),
                                         [end](const Journey& j) { return j.depart > end; }),
                          result.journeys.end());
  }
  // Order: depart-at by arrival, arrive-by by departure (latest first), range by departure.
  std::sort(result.journeys.begin(), result.journeys.end(), [&](const Journey& a, const Journey& b) {
    if (req.window > absl::ZeroDuration() && a.depart != b.depart) return a.depart < b.depart;
    if (req.arrive_by && a.depart != b.depart) return a.depart > b.depart;
    if (a.arrive != b.arrive) return a.arrive < b.arrive;
    return a.rides < b.rides;
  });
  return result;
}

std::shared_ptr<const std::vector<uint8_t>> Planner::ActiveServices(int32_t date) const {
  {
    MutexLock lock(cache_->mu);
    auto it = cache_->active.find(date);
    if (it != cache_->active.end()) return it->second;
  }
  const GtfsFeed& f = timetable_->network().feed();
  auto v = std::make_shared<std::vector<uint8_t>>(f.services.size(), 0);
  for (uint32_t s = 0; s < f.services.size(); ++s) (*v)[s] = f.ServiceRunsOn(s, date) ? 1 : 0;
  MutexLock lock(cache_->mu);
  if (cache_->active.size() > 64) cache_->active.clear();
  cache_->active[date] = v;
  return v;
}

}  // namespace smartbus::planner
