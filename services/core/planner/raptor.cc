#include "services/core/planner/raptor.h"

#include <algorithm>

namespace smartbus::planner {
namespace {

// A trip instance being ridden: trip position (search order) on the route and its day.
struct Boarded {
  bool valid = false;
  uint32_t trip = 0;
  uint8_t day = 0;
  int32_t day_offset = 0;  // search-time offset of the day
  uint32_t board = 0;      // search position where it was boarded
};

class Raptor {
 public:
  Raptor(const SearchInput& in, bool reverse, SearchLabels* labels)
      : in_(in), reverse_(reverse), l_(*labels) {}

  void Run();

 private:
  void Init();
  void ScanRoutes(int k);
  void ScanRoute(int k, uint8_t set, uint32_t route, uint32_t from);
  // Earliest boardable instance at search position i for label `t`; `bound` prunes.
  Boarded EarliestTrip(const SearchSet& set, const RouteView& v, uint32_t route, uint32_t i,
                       int32_t t, int32_t bound) const;
  void Transfers(int k);
  void Destination(int k);

  const SearchInput& in_;
  const bool reverse_;
  SearchLabels& l_;
  size_t num_stops_ = 0;
  std::vector<int32_t> best_ride_, best_board_;
  int32_t best_dest_ = kInfTime;  // this run's best arrival at the target
  // Per round k: the best arrival at the target with at most k rides from the previous runs
  // (reuse_labels; kInfTime otherwise). Round k prunes with min(best_dest_, prev_dest_[k]).
  std::vector<int32_t> prev_dest_;
  std::vector<uint32_t> marked_board_, marked_ride_;  // stops improved in the current round
  std::vector<uint8_t> is_marked_board_;
  int32_t Bound(int k) const { return std::min(best_dest_, prev_dest_[std::min(k, in_.max_rides)]); }
  std::vector<uint8_t> is_marked_ride_;
  std::vector<int32_t> egress_of_;                    // per stop, -1 when not an egress stop
  // Routes to scan: per set, first search position per route (UINT32_MAX: not queued).
  std::vector<std::vector<uint32_t>> route_from_;
  std::vector<std::pair<uint8_t, uint32_t>> queue_;
};

void Raptor::Init() {
  num_stops_ = in_.footpaths->begin.size() - 1;
  const int rounds = in_.max_rides + 1;
  const bool reuse = in_.reuse_labels && l_.ride.size() == static_cast<size_t>(rounds) &&
                     l_.ride[0].size() == num_stops_;
  l_.rounds = 0;
  l_.routes_scanned = 0;
  prev_dest_.assign(rounds, kInfTime);
  if (reuse) {
    for (int k = 0; k < rounds; ++k)
      prev_dest_[k] = std::min(k > 0 ? prev_dest_[k - 1] : kInfTime, l_.dest[k]);
  } else {
    l_.ride.assign(rounds, std::vector<int32_t>(num_stops_, kInfTime));
    l_.ride_parent.assign(rounds, std::vector<RideParent>(num_stops_));
    l_.board.assign(rounds, std::vector<int32_t>(num_stops_, kInfTime));
    l_.board_parent.assign(rounds, std::vector<BoardParent>(num_stops_));
    l_.dest.assign(rounds, kInfTime);
    l_.dest_from.assign(rounds, kNoIndex);
  }
  l_.improved.assign(rounds, 0);
  best_ride_.assign(num_stops_, kInfTime);
  best_board_.assign(num_stops_, kInfTime);
  is_marked_ride_.assign(num_stops_, 0);
  is_marked_board_.assign(num_stops_, 0);
  egress_of_.assign(num_stops_, -1);
  for (const StopWalk& e : in_.egress)
    if (egress_of_[e.stop] < 0 || e.walk_s < egress_of_[e.stop]) egress_of_[e.stop] = e.walk_s;
  route_from_.resize(in_.sets.size());
  for (size_t s = 0; s < in_.sets.size(); ++s)
    route_from_[s].assign(in_.sets[s].routes->routes.size(), UINT32_MAX);
  if (in_.direct_walk_s >= 0 && in_.start + in_.direct_walk_s < prev_dest_[0]) {
    l_.dest[0] = in_.start + in_.direct_walk_s;
    l_.dest_from[0] = kNoIndex;
    l_.improved[0] = 1;
    best_dest_ = l_.dest[0];
  }
  for (const StopWalk& a : in_.access) {
    const int32_t t = in_.start + a.walk_s;
    if (t >= l_.board[0][a.stop] || t >= best_board_[a.stop]) continue;
    if (!is_marked_board_[a.stop]) {
      is_marked_board_[a.stop] = 1;
      marked_board_.push_back(a.stop);
    }
    l_.board[0][a.stop] = t;
    l_.board_parent[0][a.stop] = {kNoIndex, a.walk_s};
    best_board_[a.stop] = t;
  }
}

Boarded Raptor::EarliestTrip(const SearchSet& set, const RouteView& v, uint32_t route, uint32_t i,
                             int32_t t, int32_t bound) const {
  Boarded best;
  int32_t best_t = bound;
  const uint32_t m = v.r->num_trips;
  const bool check_excluded =
      set.route_has_excluded != nullptr && (*set.route_has_excluded)[route];
  for (size_t d = 0; d < set.days.size(); ++d) {
    const SearchDay& day = set.days[d];
    const int32_t off = reverse_ ? -day.offset_s : day.offset_s;
    const int32_t target = t - off;
    // First trip (search order) boarding at or after target: times are FIFO along the route.
    uint32_t lo = 0, hi = m;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (v.BoardTime(mid, i) < target) lo = mid + 1; else hi = mid;
    }
    for (uint32_t j = lo; j < m; ++j) {
      const int32_t bt = v.BoardTime(j, i) + off;
      if (bt >= best_t) break;
      const RouteSet::Trip& trip = v.rs->trips[v.r->first_trip + v.RealTrip(j)];
      if (day.active != nullptr && !(*day.active)[trip.service]) continue;
      if (check_excluded && set.excluded->contains(TripDateKey(trip.trip, day.date))) continue;
      best = {true, j, static_cast<uint8_t>(d), off, i};
      best_t = bt;
      break;
    }
  }
  return best;
}

void Raptor::ScanRoute(int k, uint8_t set_index, uint32_t route, uint32_t from) {
  const SearchSet& set = in_.sets[set_index];
  const RouteView v{set.routes, &set.routes->routes[route], reverse_};
  const std::vector<int32_t>& prev_board = l_.board[k - 1];
  std::vector<int32_t>& ride = l_.ride[k];
  const int32_t bound = Bound(k);
  Boarded cur;
  for (uint32_t i = from; i < v.r->num_stops; ++i) {
    const uint32_t s = v.Stop(i);
    if (cur.valid && v.CanAlight(i)) {
      const int32_t a = v.AlightTime(cur.trip, i) + cur.day_offset;
      if (a < best_ride_[s] && a < ride[s] && a < bound) {
        ride[s] = a;
        best_ride_[s] = a;
        l_.ride_parent[k][s] = {set_index, cur.day, route, v.RealTrip(cur.trip), cur.board, i};
        if (!is_marked_ride_[s]) {
          is_marked_ride_[s] = 1;
          marked_ride_.push_back(s);
        }
      }
    }
    if (!v.CanBoard(i) || prev_board[s] >= kInfTime) continue;
    const int32_t cur_t = cur.valid ? v.BoardTime(cur.trip, i) + cur.day_offset : kInfTime;
    if (prev_board[s] > cur_t) continue;
    // Only a strictly earlier instance is worth switching to (bound = current trip's time).
    Boarded b = EarliestTrip(set, v, route, i, prev_board[s], cur.valid ? cur_t : kInfTime);
    if (b.valid) cur = b;
  }
}

void Raptor::ScanRoutes(int k) {
  queue_.clear();
  for (uint32_t s : marked_board_) {
    for (size_t si = 0; si < in_.sets.size(); ++si) {
      const RouteSet& rs = *in_.sets[si].routes;
      for (uint32_t a = rs.at_begin[s]; a < rs.at_begin[s + 1]; ++a) {
        const RouteSet::At& at = rs.at[a];
        const uint32_t n = rs.routes[at.route].num_stops;
        const uint32_t pos = reverse_ ? n - 1 - at.pos : at.pos;
        uint32_t& from = route_from_[si][at.route];
        if (from == UINT32_MAX) queue_.emplace_back(static_cast<uint8_t>(si), at.route);
        from = std::min(from, pos);
      }
    }
  }
  for (uint32_t s : marked_board_) is_marked_board_[s] = 0;
  marked_board_.clear();
  for (const auto& [si, r] : queue_) {
    const uint32_t from = route_from_[si][r];
    route_from_[si][r] = UINT32_MAX;
    ScanRoute(k, si, r, from);
    ++l_.routes_scanned;
  }
}

void Raptor::Destination(int k) {
  for (uint32_t s : marked_ride_) {
    if (egress_of_[s] < 0) continue;
    const int32_t t = l_.ride[k][s] + egress_of_[s];
    if (t < best_dest_ && t < prev_dest_[k]) {
      best_dest_ = t;
      l_.dest[k] = t;
      l_.dest_from[k] = s;
      l_.improved[k] = 1;
    }
  }
}

void Raptor::Transfers(int k) {
  const Footpaths& fp = *in_.footpaths;
  std::vector<int32_t>& board = l_.board[k];
  const int32_t bound = Bound(k + 1);
  auto relax = [&](uint32_t from, uint32_t to, int32_t walk_s) {
    const int32_t t = l_.ride[k][from] + std::max(walk_s, in_.min_transfer_s);
    if (t >= best_board_[to] || t >= board[to] || t >= bound) return;
    if (!is_marked_board_[to]) {
      is_marked_board_[to] = 1;
      marked_board_.push_back(to);
    }
    board[to] = t;
    best_board_[to] = t;
    l_.board_parent[k][to] = {from, walk_s};
  };
  for (uint32_t s : marked_ride_) {
    relax(s, s, 0);
    for (uint32_t e = fp.begin[s]; e < fp.begin[s + 1]; ++e) relax(s, fp.edges[e].to, fp.edges[e].walk_s);
  }
  for (uint32_t s : marked_ride_) is_marked_ride_[s] = 0;
  marked_ride_.clear();
}

void Raptor::Run() {
  Init();
  for (int k = 1; k <= in_.max_rides && !marked_board_.empty(); ++k) {
    l_.rounds = k;
    ScanRoutes(k);
    Destination(k);
    if (k < in_.max_rides) {
      Transfers(k);
    } else {
      for (uint32_t s : marked_ride_) is_marked_ride_[s] = 0;
      marked_ride_.clear();
    }
  }
}

}  // namespace

void RunRaptor(const SearchInput& in, bool reverse, SearchLabels* labels) {
  Raptor(in, reverse, labels).Run();
}

}  // namespace smartbus::planner
