#include "services/core/planner/timetable.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace smartbus::planner {

int32_t WalkSeconds(double straight_m, const WalkOptions& walk) {
  return static_cast<int32_t>(std::ceil(straight_m * walk.detour_factor / walk.speed_mps));
}

size_t RouteSet::MemoryBytes() const {
  return routes.capacity() * sizeof(Route) + stops.capacity() * sizeof(uint32_t) +
         flags.capacity() + trips.capacity() * sizeof(Trip) +
         (arr.capacity() + dep.capacity() + p10.capacity() + p90.capacity()) * sizeof(int32_t) +
         live.capacity() + at_begin.capacity() * sizeof(uint32_t) + at.capacity() * sizeof(At);
}

namespace {

// True when trip b never runs ahead of trip a (b departs and arrives no earlier at every stop).
bool NotBefore(const TripTimes& a, const TripTimes& b) {
  for (size_t i = 0; i < a.arr.size(); ++i)
    if (b.arr[i] < a.arr[i] || b.dep[i] < a.dep[i]) return false;
  return true;
}

// Splits one group (same pattern and flags) into FIFO chains, trips sorted by departure.
std::vector<std::vector<uint32_t>> FifoChains(const std::vector<TripTimes>& trips,
                                              std::vector<uint32_t> group) {
  std::sort(group.begin(), group.end(), [&](uint32_t a, uint32_t b) {
    const TripTimes& x = trips[a];
    const TripTimes& y = trips[b];
    if (x.dep[0] != y.dep[0]) return x.dep[0] < y.dep[0];
    if (x.arr.back() != y.arr.back()) return x.arr.back() < y.arr.back();
    return a < b;
  });
  std::vector<std::vector<uint32_t>> chains;
  for (uint32_t t : group) {
    bool placed = false;
    for (auto& c : chains) {
      if (NotBefore(trips[c.back()], trips[t])) {
        c.push_back(t);
        placed = true;
        break;
      }
    }
    if (!placed) chains.push_back({t});
  }
  return chains;
}

void AppendRoute(const std::vector<TripTimes>& trips, const std::vector<uint32_t>& chain,
                 const Network& network, bool with_live, RouteSet* rs) {
  const TripTimes& first = trips[chain.front()];
  const Pattern& pat = network.pattern(first.pattern);
  const uint32_t n = static_cast<uint32_t>(pat.stops.size());
  RouteSet::Route r;
  r.pattern = first.pattern;
  r.first_stop = static_cast<uint32_t>(rs->stops.size());
  r.num_stops = n;
  r.first_trip = static_cast<uint32_t>(rs->trips.size());
  r.num_trips = static_cast<uint32_t>(chain.size());
  r.first_time = rs->arr.size();
  rs->stops.insert(rs->stops.end(), pat.stops.begin(), pat.stops.end());
  rs->flags.insert(rs->flags.end(), first.flags.begin(), first.flags.end());
  for (uint32_t t : chain) {
    const TripTimes& tt = trips[t];
    rs->trips.push_back(tt.trip);
    rs->arr.insert(rs->arr.end(), tt.arr.begin(), tt.arr.end());
    rs->dep.insert(rs->dep.end(), tt.dep.begin(), tt.dep.end());
    if (with_live) {
      rs->p10.insert(rs->p10.end(), tt.p10.begin(), tt.p10.end());
      rs->p90.insert(rs->p90.end(), tt.p90.begin(), tt.p90.end());
      rs->live.insert(rs->live.end(), tt.live.begin(), tt.live.end());
    }
  }
  rs->routes.push_back(r);
}

void BuildStopIndex(size_t num_stops, RouteSet* rs) {
  rs->at_begin.assign(num_stops + 1, 0);
  for (uint32_t s : rs->stops) ++rs->at_begin[s + 1];
  for (size_t s = 0; s < num_stops; ++s) rs->at_begin[s + 1] += rs->at_begin[s];
  rs->at.resize(rs->stops.size());
  std::vector<uint32_t> fill(rs->at_begin.begin(), rs->at_begin.end() - 1);
  for (uint32_t r = 0; r < rs->routes.size(); ++r) {
    const RouteSet::Route& route = rs->routes[r];
    for (uint32_t i = 0; i < route.num_stops; ++i)
      rs->at[fill[rs->stops[route.first_stop + i]]++] = {r, i};
  }
}

}  // namespace

namespace {

// Groups `trips` (any patterns) into FIFO routes by pattern and flags and appends them.
void AppendTrips(std::vector<TripTimes> trips, const Network& network, bool with_live,
                 RouteSet* rs) {
  absl::flat_hash_map<std::pair<uint32_t, std::vector<uint8_t>>, std::vector<uint32_t>> groups;
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> order;  // deterministic route order
  for (uint32_t t = 0; t < trips.size(); ++t) {
    if (trips[t].arr.empty()) continue;
    auto key = std::make_pair(trips[t].pattern, trips[t].flags);
    auto [it, fresh] = groups.try_emplace(key);
    if (fresh) order.push_back(key);
    it->second.push_back(t);
  }
  std::sort(order.begin(), order.end());
  for (const auto& key : order) {
    for (const auto& chain : FifoChains(trips, std::move(groups[key])))
      AppendRoute(trips, chain, network, with_live, rs);
  }
}

}  // namespace

RouteSet BuildRouteSet(std::vector<TripTimes> trips, const Network& network) {
  RouteSet rs;
  const bool with_live = std::any_of(trips.begin(), trips.end(),
                                     [](const TripTimes& t) { return !t.live.empty(); });
  AppendTrips(std::move(trips), network, with_live, &rs);
  BuildStopIndex(network.feed().stops.size(), &rs);
  return rs;
}

namespace {

// The times of one static trip (one TripTimes per run of a frequency-based trip) appended to
// *out.
void StaticTrip(const Network& network, TripIdx t, std::vector<TripTimes>* out) {
  const GtfsFeed& f = network.feed();
  const GtfsTrip& trip = f.trips[t];
  if (trip.num_stop_times < 2) return;
  TripTimes tt;
  tt.pattern = network.trip_pattern(t);
  tt.trip = {t, trip.service, 0, 0};
  const uint32_t n = trip.num_stop_times;
  tt.flags.resize(n);
  tt.arr.resize(n);
  tt.dep.resize(n);
  int32_t last = INT32_MIN;
  for (uint32_t k = 0; k < n; ++k) {
    const GtfsStopTime& st = f.stop_times[trip.first_stop_time + k];
    tt.flags[k] = static_cast<uint8_t>((st.pickup_type == 1 ? 0 : kCanBoard) |
                                       (st.drop_off_type == 1 ? 0 : kCanAlight));
    last = std::max(last, st.arrival_s);
    tt.arr[k] = last;
    last = std::max(last, st.departure_s);
    tt.dep[k] = last;
  }
  const std::vector<int32_t>* shifts = network.FrequencyShifts(t);
  if (shifts == nullptr) {
    out->push_back(std::move(tt));
    return;
  }
  for (int32_t shift : *shifts) {
    TripTimes run = tt;
    run.trip.shift_s = shift;
    for (uint32_t k = 0; k < n; ++k) {
      run.arr[k] += shift;
      run.dep[k] += shift;
    }
    out->push_back(std::move(run));
  }
}

// The static routes, built one pattern at a time (only one pattern's trips are staged at once,
// so the build needs little more memory than the index).
RouteSet StaticRoutes(const Network& network) {
  RouteSet rs;
  uint64_t cells = 0;
  for (const Pattern& pat : network.patterns()) {
    for (TripIdx t : pat.trips) {
      const std::vector<int32_t>* shifts = network.FrequencyShifts(t);
      cells += uint64_t{pat.stops.size()} * (shifts ? shifts->size() : 1);
    }
  }
  rs.arr.reserve(cells);
  rs.dep.reserve(cells);
  std::vector<TripTimes> staged;
  for (const Pattern& pat : network.patterns()) {
    staged.clear();
    for (TripIdx t : pat.trips) StaticTrip(network, t, &staged);
    AppendTrips(std::move(staged), network, false, &rs);
    staged = {};
  }
  BuildStopIndex(network.feed().stops.size(), &rs);
  return rs;
}

Footpaths BuildFootpaths(const Network& network, const WalkOptions& walk) {
  Footpaths fp;
  const auto& stops = network.feed().stops;
  fp.begin.assign(stops.size() + 1, 0);
  const double radius_m = walk.max_transfer_walk_m / walk.detour_factor;
  for (uint32_t s = 0; s < stops.size(); ++s) {
    for (const auto& [to, d] : network.StopsNear(stops[s].pos, radius_m, stops.size())) {
      if (to == s) continue;
      fp.edges.push_back({to, WalkSeconds(d, walk)});
    }
    fp.begin[s + 1] = static_cast<uint32_t>(fp.edges.size());
  }
  fp.edges.shrink_to_fit();
  return fp;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Timetable>> Timetable::Build(
    std::shared_ptr<const Network> network, const WalkOptions& walk) {
  if (network == nullptr) return absl::InvalidArgumentError("planner: no network loaded");
  if (!(walk.speed_mps > 0) || !(walk.detour_factor >= 1) || !(walk.max_transfer_walk_m >= 0) ||
      !(walk.max_access_walk_m >= 0))
    return absl::InvalidArgumentError(
        "planner: walking speed must be > 0, detour factor >= 1, walk limits >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  auto tt = std::shared_ptr<Timetable>(new Timetable());
  tt->network_ = std::move(network);
  tt->walk_ = walk;
  tt->routes_ = StaticRoutes(*tt->network_);
  tt->footpaths_ = BuildFootpaths(*tt->network_, walk);
  tt->build_s_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::shared_ptr<const Timetable>(std::move(tt));
}

}  // namespace smartbus::planner
