#include "services/core/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/core/common/status_macros.h"

namespace smartbus {
namespace {

constexpr double kAccelMps2 = 1.0;
constexpr double kBrakeMps2 = 1.3;
constexpr double kTurnSpeedMps = 4.5;
constexpr double kTurnZoneM = 15;
constexpr double kSharpTurnDeg = 45;
constexpr double kDoorS = 6;
constexpr double kBoardS = 2.5;
constexpr double kAlightS = 1.5;
constexpr double kBoardingRatePerMin = 0.10;  // per unit of stop weight at demand factor 1
constexpr double kDefaultHeadwayMin = 12;     // assumed wait before the first bus of the day
constexpr double kMaxWaitMin = 30;

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double Unit01(uint64_t h) { return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0); }

double Bump(double h, double center, double width) {
  double z = (h - center) / width;
  return std::exp(-z * z);
}

}  // namespace

const char* SimPhaseName(SimPhase p) {
  switch (p) {
    case SimPhase::kLayover:
      return "layover";
    case SimPhase::kDwell:
      return "dwell";
    case SimPhase::kMoving:
      return "moving";
  }
  return "";
}

int OccupancyStatus(int load, int seats, int capacity) {
  if (load <= 0) return 0;
  if (load * 2 < seats) return 1;
  if (load < seats) return 2;
  if (load * 10 < capacity * 9) return 3;
  if (load < capacity) return 4;
  return 5;
}

struct FleetSimulator::PatternInfo {
  const Pattern* pattern = nullptr;
  const Polyline* line = nullptr;
  std::vector<double> free_mps;        // per segment k -> k+1
  std::vector<double> turns_m;         // sharp corners, ascending
  std::vector<int64_t> last_departure; // per stop position, epoch s, -1 when none yet
};

struct FleetSimulator::Vehicle {
  size_t index = 0;
  std::string id;
  std::vector<TripIdx> trips;
  size_t trip_pos = 0;
  int64_t pullout_s = 0;
  int64_t pullin_s = 0;  // set when the last trip ends
  bool active = false;
  bool finished = false;  // last trip done, waiting to pull in
  bool done = false;
  SimPhase phase = SimPhase::kLayover;
  PatternInfo* pat = nullptr;
  const GtfsTrip* trip = nullptr;
  double dist_m = 0;
  double v_mps = 0;
  uint32_t next_stop = 0;       // moving: stop ahead; dwell/layover: stop the bus is at
  double dwell_until_s = 0;
  bool boarded = false;         // layover: boarding at the first stop has started
  double arrived_s = 0;         // when the bus reached the stop it is at
  bool stop_at_next = false;
  int next_board = 0;
  int next_alight = 0;
  int stop_board = 0;           // counted at the stop the bus is at (for its visit)
  int stop_alight = 0;
  double signal_at_m = -1;      // red light ahead, -1 none
  double signal_wait_s = 0;
  double signal_until_s = -1;   // waiting at the light until then, -1 not waiting
  int load = 0;
  int fix_board = 0;            // since the previous fix
  int fix_alight = 0;
  double driver = 1;
  bool early = false;           // an early runner (SimOptions::early_share)
  bool gps_init = false;
  double gps_ex = 0;
  double gps_ey = 0;
  float bearing = NAN;
  int64_t next_fix_s = 0;
  std::mt19937_64 rng;

  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng); }
  double Normal() { return std::normal_distribution<double>(0, 1)(rng); }
};

FleetSimulator::~FleetSimulator() = default;

namespace {

absl::Status ValidateSimOptions(const SimOptions& options) {
  const int32_t date = options.service_date;
  if (date < 19000101 || date > 29991231) {
    return absl::InvalidArgumentError(
        absl::StrCat("sim: service_date must be YYYYMMDD, got ", date));
  }
  if (options.fix_interval_s < 1 || options.fix_interval_s > 600) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sim: fix interval must be 1..600 s, got ", options.fix_interval_s));
  }
  if (!(options.gps_sigma_m >= 0) || !(options.gps_correlation_s > 0) ||
      !(options.outlier_probability >= 0 && options.outlier_probability <= 1) ||
      !(options.peak_slowdown >= 0 && options.peak_slowdown <= 0.9) ||
      !(options.jam_probability >= 0 && options.jam_probability <= 1) ||
      !(options.signal_probability >= 0 && options.signal_probability <= 1) ||
      !(options.demand_scale >= 0) || options.seats < 1 || options.capacity < options.seats ||
      !(options.early_share >= 0 && options.early_share <= 1) || options.early_lead_s < 0 ||
      !(options.early_speedup >= 1 && options.early_speedup <= 3)) {
    return absl::InvalidArgumentError(
        "sim: an option is out of range (gps sigma >= 0, correlation > 0, probabilities 0..1, "
        "peak slowdown 0..0.9, demand >= 0, 1 <= seats <= capacity, early share 0..1, early lead "
        ">= 0, early speedup 1..3)");
  }
  return absl::OkStatus();
}

// The trips to drive: those running on the service date with two stops or more, of the chosen
// routes (all without SimOptions::route_ids).
absl::StatusOr<std::vector<TripIdx>> TripsToRun(const Network& net, const SimOptions& options) {
  const GtfsFeed& feed = net.feed();
  std::set<std::string> routes(options.route_ids.begin(), options.route_ids.end());
  for (const std::string& r : routes) {
    if (!net.FindRoute(r)) {
      return absl::NotFoundError(absl::StrCat("sim: unknown route_id '", r, "'"));
    }
  }
  std::vector<TripIdx> trips;
  for (TripIdx t : net.ActiveTrips(options.service_date)) {
    const GtfsTrip& trip = feed.trips[t];
    if (trip.num_stop_times < 2) continue;
    if (!routes.empty() && !routes.count(feed.routes[trip.route].id)) continue;
    trips.push_back(t);
  }
  if (trips.empty()) {
    return absl::NotFoundError(absl::StrCat("sim: no trips run on ", options.service_date,
                                            routes.empty() ? "" : " on the chosen routes"));
  }
  return trips;
}

int32_t FirstDeparture(const GtfsFeed& feed, TripIdx t) {
  return feed.stop_times[feed.trips[t].first_stop_time].departure_s;
}

int32_t LastArrival(const GtfsFeed& feed, TripIdx t) {
  const GtfsTrip& tr = feed.trips[t];
  return feed.stop_times[tr.first_stop_time + tr.num_stop_times - 1].arrival_s;
}

// One bus per block (a trip without a block is a bus of its own): (block id, its trips by
// first departure), the buses by their first departure.
std::vector<std::pair<std::string, std::vector<TripIdx>>> BusesByBlock(
    const GtfsFeed& feed, const std::vector<TripIdx>& trips) {
  auto first_dep = [&](TripIdx t) { return FirstDeparture(feed, t); };
  std::map<std::string, std::vector<TripIdx>> blocks;
  std::vector<std::pair<std::string, std::vector<TripIdx>>> buses;
  for (TripIdx t : trips) {
    const std::string& b = feed.trips[t].block_id;
    if (b.empty()) {
      buses.push_back({"", {t}});
    } else {
      blocks[b].push_back(t);
    }
  }
  for (auto& [b, ts] : blocks) buses.push_back({b, ts});
  for (auto& [b, ts] : buses) {
    std::sort(ts.begin(), ts.end(), [&](TripIdx x, TripIdx y) {
      return std::make_pair(first_dep(x), x) < std::make_pair(first_dep(y), y);
    });
  }
  std::sort(buses.begin(), buses.end(), [&](const auto& x, const auto& y) {
    return std::make_tuple(first_dep(x.second[0]), x.first, x.second[0]) <
           std::make_tuple(first_dep(y.second[0]), y.first, y.second[0]);
  });
  return buses;
}

// Stop weights: transfer stops and terminals draw more riders.
std::vector<double> StopWeights(const Network& net) {
  const GtfsFeed& feed = net.feed();
  std::vector<double> weight(feed.stops.size(), 1.0);
  for (uint32_t s = 0; s < feed.stops.size(); ++s) {
    std::set<uint32_t> rs;
    bool terminal = false;
    for (auto [p, pos] : net.stop_patterns(s)) {
      rs.insert(net.pattern(p).route);
      if (pos == 0 || pos + 1 == net.pattern(p).stops.size()) terminal = true;
    }
    weight[s] = 1.0 + 0.8 * (rs.size() > 1 ? rs.size() - 1 : 0) + (terminal ? 1.0 : 0);
  }
  return weight;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FleetSimulator>> FleetSimulator::Create(
    std::shared_ptr<const Network> network, const SimOptions& options) {
  if (network == nullptr) return absl::InvalidArgumentError("sim: no network");
  SB_RETURN_IF_ERROR(ValidateSimOptions(options));
  std::unique_ptr<FleetSimulator> sim(new FleetSimulator());
  SB_RETURN_IF_ERROR(sim->AddCongestion(*network, options.congestion));
  sim->network_ = network;
  sim->options_ = options;
  const Network& net = *network;
  sim->day_start_s_ = absl::ToUnixSeconds(net.ServiceDayStart(options.service_date));
  SB_ASSIGN_OR_RETURN(const std::vector<TripIdx> trips, TripsToRun(net, options));
  const std::vector<std::pair<std::string, std::vector<TripIdx>>> buses =
      BusesByBlock(net.feed(), trips);
  // Patterns: free-flow speeds from the schedules of all their trips, sharp corners.
  sim->patterns_.resize(net.patterns().size());
  for (const auto& [b, ts] : buses) {
    for (TripIdx t : ts) {
      uint32_t p = net.trip_pattern(t);
      if (!sim->patterns_[p]) sim->patterns_[p] = DescribePattern(net, p);
    }
  }
  sim->stop_weight_ = StopWeights(net);
  sim->AddBuses(buses);
  sim->now_s_ = sim->first_s_ - 1;
  return sim;
}

absl::Status FleetSimulator::AddCongestion(const Network& net,
                                           const std::vector<SimOptions::Congestion>& added) {
  for (const SimOptions::Congestion& c : added) {
    auto from = net.FindStop(c.from_stop_id), to = net.FindStop(c.to_stop_id);
    if (!from || !to)
      return absl::InvalidArgumentError(absl::StrCat("sim: congestion on an unknown stop: '",
                                                     from ? c.to_stop_id : c.from_stop_id, "'"));
    if (!(c.speed_factor >= 0.05 && c.speed_factor <= 1) || c.end_s <= c.start_s)
      return absl::InvalidArgumentError(absl::StrCat(
          "sim: congestion ", c.from_stop_id, "->", c.to_stop_id,
          ": speed factor must be 0.05..1 and the end after the start"));
    congestion_.push_back({*from, *to, c.start_s, c.end_s, c.speed_factor});
  }
  return absl::OkStatus();
}

std::unique_ptr<FleetSimulator::PatternInfo> FleetSimulator::DescribePattern(const Network& net,
                                                                             uint32_t p) {
  const GtfsFeed& feed = net.feed();
  auto info = std::make_unique<PatternInfo>();
  const Pattern& pat = net.pattern(p);
  info->pattern = &pat;
  info->line = &net.polylines()[pat.polyline];
  size_t n = pat.stops.size();
  info->last_departure.assign(n, -1);
  info->free_mps.assign(n > 0 ? n - 1 : 0, 8.0);
  for (size_t k = 0; k + 1 < n; ++k) {
    double d = std::max(0.0, pat.stop_dist_m[k + 1] - pat.stop_dist_m[k]);
    double sum_d = 0, sum_t = 0;
    for (TripIdx pt : pat.trips) {
      const GtfsTrip& tr = feed.trips[pt];
      if (tr.num_stop_times != n) continue;
      double sched = feed.stop_times[tr.first_stop_time + k + 1].arrival_s -
                     feed.stop_times[tr.first_stop_time + k].departure_s;
      double eff = std::max(sched - 25.0, 0.4 * sched);
      if (eff <= 0) continue;
      sum_d += d;
      sum_t += eff;
    }
    if (sum_t > 0) info->free_mps[k] = std::clamp(1.2 * sum_d / sum_t, 3.0, 22.0);
  }
  const auto& pts = info->line->points();
  const auto& cum = info->line->cum_m();
  for (size_t i = 1; i + 1 < pts.size(); ++i) {
    Vec2 a = pts[i] - pts[i - 1], c = pts[i + 1] - pts[i];
    if (Norm(a) < 0.5 || Norm(c) < 0.5) continue;
    if (BearingDiffDeg(BearingDeg(a), BearingDeg(c)) > kSharpTurnDeg) {
      info->turns_m.push_back(cum[i]);
    }
  }
  return info;
}

void FleetSimulator::AddBuses(
    const std::vector<std::pair<std::string, std::vector<TripIdx>>>& buses) {
  const GtfsFeed& feed = network_->feed();
  const SimOptions& options = options_;
  first_s_ = INT64_MAX;
  last_s_ = INT64_MIN;
  for (size_t i = 0; i < buses.size(); ++i) {
    auto v = std::make_unique<Vehicle>();
    v->index = i;
    v->id = absl::StrCat(1001 + i);
    v->trips = buses[i].second;
    v->pullout_s = day_start_s_ + FirstDeparture(feed, v->trips.front()) - options.pullout_lead_s;
    v->rng.seed(SplitMix(options.seed * 1000003 + i));
    v->driver = std::clamp(1.0 + 0.06 * v->Normal(), 0.85, 1.15);
    // Drawn from a hash, not the bus's generator, so runs without early runners are unchanged.
    v->early = Unit01(SplitMix(options.seed * 7919 + i + 0x5eed)) < options.early_share;
    if (v->early) v->driver *= options.early_speedup;
    v->next_fix_s = v->pullout_s + static_cast<int64_t>((i * 7) % options.fix_interval_s);
    SimVehicleInfo info;
    info.vehicle_id = v->id;
    info.block_id = buses[i].first;
    info.early_runner = v->early;
    info.trips = v->trips;
    info.pullout_s = v->pullout_s;
    info.pullin_s = day_start_s_ + LastArrival(feed, v->trips.back()) + options.pullin_after_s;
    first_s_ = std::min(first_s_, info.pullout_s);
    last_s_ = std::max(last_s_, info.pullin_s);
    infos_.push_back(std::move(info));
    vehicles_.push_back(std::move(v));
  }
}

double FleetSimulator::DemandFactor(int64_t t) const {
  double h = (t - day_start_s_) / 3600.0;
  return 0.25 + 1.1 * Bump(h, 7.9, 1.0) + 1.0 * Bump(h, 17.0, 1.3) + 0.35 * Bump(h, 12.5, 2.5);
}

double FleetSimulator::StopWeight(uint32_t stop) const { return stop_weight_[stop]; }

int FleetSimulator::Occupancy(int load) const {
  return OccupancyStatus(load, options_.seats, options_.capacity);
}

double FleetSimulator::TrafficFactor(int64_t t, uint32_t from_stop, uint32_t to_stop) const {
  double h = (t - day_start_s_) / 3600.0;
  double tod = 1.0 - options_.peak_slowdown * (Bump(h, 8.0, 0.9) + Bump(h, 17.25, 1.1));
  tod = std::max(tod, 0.1);
  int64_t window = (t - day_start_s_) / 900;
  uint64_t key = SplitMix(options_.seed ^ SplitMix((static_cast<uint64_t>(from_stop) << 32) ^
                                                   to_stop ^ SplitMix(window)));
  double u = Unit01(key);
  if (u < options_.jam_probability) {
    tod *= 0.2 + 0.3 * (u / options_.jam_probability);
  }
  const int64_t of_day = t - day_start_s_;
  for (const AddedCongestion& c : congestion_)
    if (c.from == from_stop && c.to == to_stop && of_day >= c.start_s && of_day < c.end_s)
      tod *= c.factor;
  return tod;
}

void FleetSimulator::BeginTrip(Vehicle& v, int64_t t) {
  const Network& net = *network_;
  TripIdx trip = v.trips[v.trip_pos];
  v.trip = &net.feed().trips[trip];
  v.pat = patterns_[net.trip_pattern(trip)].get();
  v.dist_m = v.pat->pattern->stop_dist_m[0];
  v.v_mps = 0;
  v.next_stop = 0;
  v.phase = SimPhase::kLayover;
  v.boarded = false;
  v.arrived_s = static_cast<double>(t);
  v.stop_board = v.stop_alight = 0;
  v.signal_at_m = -1;
  v.signal_until_s = -1;
  v.bearing = static_cast<float>(BearingDeg(v.pat->line->DirectionAt(v.dist_m)));
}

void FleetSimulator::PlanNextStop(Vehicle& v, int64_t t) {
  const GtfsFeed& feed = network_->feed();
  const Pattern& pat = *v.pat->pattern;
  uint32_t n = static_cast<uint32_t>(pat.stops.size());
  uint32_t k = v.next_stop;  // the stop ahead
  const GtfsStopTime& st = feed.stop_times[v.trip->first_stop_time + k];
  v.next_board = 0;
  v.next_alight = 0;
  if (k + 1 >= n) {
    v.next_alight = v.load;
    v.stop_at_next = true;
  } else {
    double sum_w = 0;
    for (uint32_t j = k; j < n; ++j) sum_w += StopWeight(pat.stops[j]);
    double p = sum_w > 0 ? StopWeight(pat.stops[k]) / sum_w : 0;
    if (st.drop_off_type != 1 && v.load > 0) {
      v.next_alight = std::binomial_distribution<int>(v.load, std::clamp(p, 0.0, 1.0))(v.rng);
    }
    if (st.pickup_type != 1) {
      int64_t last = v.pat->last_departure[k];
      double wait_min = last < 0 ? kDefaultHeadwayMin : std::min(kMaxWaitMin, (t - last) / 60.0);
      double lambda = options_.demand_scale * kBoardingRatePerMin * StopWeight(pat.stops[k]) *
                      DemandFactor(t) * std::max(wait_min, 0.0);
      if (lambda > 0) v.next_board = std::poisson_distribution<int>(lambda)(v.rng);
      v.next_board = std::min(v.next_board, options_.capacity - (v.load - v.next_alight));
      v.next_board = std::max(v.next_board, 0);
    }
    bool timepoint = st.departure_s > st.arrival_s;
    v.stop_at_next = v.next_board + v.next_alight > 0 || timepoint;
  }
  // A red light somewhere on the segment ahead.
  v.signal_at_m = -1;
  if (k > 0) {
    double from = pat.stop_dist_m[k - 1], to = pat.stop_dist_m[k];
    if (to - from > 100 && v.Uniform() < options_.signal_probability) {
      v.signal_at_m = from + 40 + v.Uniform() * (to - from - 80);
      v.signal_wait_s = 8 + v.Uniform() * 37;
    }
  }
}

void FleetSimulator::RecordVisit(Vehicle& v, uint32_t k, double arrival_s, double departure_s,
                                 int boardings, int alightings, std::vector<StopVisit>* visits) {
  if (visits == nullptr) return;
  const GtfsFeed& feed = network_->feed();
  const GtfsStopTime& st = feed.stop_times[v.trip->first_stop_time + k];
  StopVisit sv;
  sv.vehicle_id = v.id;
  sv.trip = v.trips[v.trip_pos];
  sv.route = v.trip->route;
  sv.stop = st.stop;
  sv.stop_index = k;
  sv.stop_sequence = st.stop_sequence;
  sv.service_date = options_.service_date;
  sv.scheduled_arrival_s = day_start_s_ + st.arrival_s;
  sv.scheduled_departure_s = day_start_s_ + st.departure_s;
  sv.arrival_s = arrival_s;
  sv.departure_s = departure_s;
  if (options_.report_passengers) {
    sv.boardings = boardings;
    sv.alightings = alightings;
    sv.load = v.load;
    sv.occupancy = Occupancy(v.load);
  }
  visits->push_back(std::move(sv));
}

void FleetSimulator::ArriveAtStop(Vehicle& v, int64_t t, std::vector<StopVisit>* visits) {
  const GtfsFeed& feed = network_->feed();
  uint32_t k = v.next_stop;
  uint32_t n = static_cast<uint32_t>(v.pat->pattern->stops.size());
  v.dist_m = v.pat->pattern->stop_dist_m[k];
  v.v_mps = 0;
  v.load += v.next_board - v.next_alight;
  v.fix_board += v.next_board;
  v.fix_alight += v.next_alight;
  v.stop_board = v.next_board;
  v.stop_alight = v.next_alight;
  v.arrived_s = static_cast<double>(t);
  if (k + 1 >= n) {
    // End of the trip: everyone alights.
    RecordVisit(v, k, t, t + kDoorS + kAlightS * v.stop_alight, 0, v.stop_alight, visits);
    v.pat->last_departure[k] = t;
    if (v.trip_pos + 1 < v.trips.size()) {
      ++v.trip_pos;
      BeginTrip(v, t);
    } else {
      v.finished = true;
      v.phase = SimPhase::kLayover;
      v.pullin_s = t + options_.pullin_after_s;
    }
    return;
  }
  const GtfsStopTime& st = feed.stop_times[v.trip->first_stop_time + k];
  double dwell = kDoorS + std::max(kBoardS * v.stop_board, kAlightS * v.stop_alight);
  if (v.stop_board + v.stop_alight == 0) dwell = 4;
  v.dwell_until_s = t + dwell;
  const double sched_dep = static_cast<double>(day_start_s_ + st.departure_s);
  if (v.early) {
    // no holding
  } else if (st.departure_s > st.arrival_s) {
    v.dwell_until_s = std::max(v.dwell_until_s, sched_dep);
  } else if (options_.max_early_s >= 0) {
    v.dwell_until_s = std::max(v.dwell_until_s, sched_dep - options_.max_early_s);
  }
  v.phase = SimPhase::kDwell;
}

void FleetSimulator::EmitFix(Vehicle& v, int64_t t, std::vector<SimFix>* fixes) {
  const Network& net = *network_;
  const GtfsFeed& feed = net.feed();
  SimFix sf;
  Vec2 truth = v.pat->line->PointAt(v.dist_m);
  // GPS error: AR(1) per axis with the configured stationary standard deviation.
  double sigma = options_.gps_sigma_m;
  double rho = std::exp(-options_.fix_interval_s / options_.gps_correlation_s);
  if (!v.gps_init) {
    v.gps_ex = sigma * v.Normal();
    v.gps_ey = sigma * v.Normal();
    v.gps_init = true;
  } else {
    double q = sigma * std::sqrt(1 - rho * rho);
    v.gps_ex = rho * v.gps_ex + q * v.Normal();
    v.gps_ey = rho * v.gps_ey + q * v.Normal();
  }
  Vec2 noisy{truth.x + v.gps_ex, truth.y + v.gps_ey};
  if (v.Uniform() < options_.outlier_probability) {
    double r = 40 + 80 * v.Uniform(), a = 2 * M_PI * v.Uniform();
    noisy.x += r * std::cos(a);
    noisy.y += r * std::sin(a);
  }
  if (v.v_mps > 0.5) {
    double b = BearingDeg(v.pat->line->DirectionAt(v.dist_m)) + 3 * v.Normal();
    b = std::fmod(b + 360.0, 360.0);
    v.bearing = static_cast<float>(std::round(b));
  }
  LatLon ll = net.projection().Reverse(noisy);
  Fix& f = sf.fix;
  f.vehicle_id = v.id;
  f.timestamp_s = t;
  f.lat = std::round(ll.lat * 1e6) / 1e6;
  f.lon = std::round(ll.lon * 1e6) / 1e6;
  f.bearing_deg = v.bearing;
  f.speed_mps = v.v_mps <= 0 ? 0.0f
                             : static_cast<float>(std::round(
                                   std::max(0.0, v.v_mps + 0.2 * v.Normal()) * 10) / 10);
  f.accuracy_m = static_cast<float>(std::round(sigma * std::sqrt(2.0) * 10) / 10);
  TripIdx trip = v.finished ? kNoIndex : v.trips[v.trip_pos];
  if (options_.report_trip_id && trip != kNoIndex) {
    f.trip_id = feed.trips[trip].id;
    f.route_id = feed.routes[feed.trips[trip].route].id;
  }
  if (options_.report_passengers) {
    f.boardings = v.fix_board;
    f.alightings = v.fix_alight;
    f.load = v.load;
    f.occupancy = Occupancy(v.load);
  }
  v.fix_board = v.fix_alight = 0;
  sf.trip = trip;
  sf.phase = v.phase;
  sf.dist_along_m = v.dist_m;
  sf.true_pos = net.projection().Reverse(truth);
  sf.true_speed_mps = v.v_mps;
  // Schedule deviation at this distance.
  if (trip != kNoIndex) {
    const Pattern& pat = *v.pat->pattern;
    const GtfsStopTime* st = &feed.stop_times[v.trip->first_stop_time];
    double sched;
    if (v.phase == SimPhase::kLayover) {
      sched = std::max<double>(t, day_start_s_ + st[0].departure_s);
    } else if (v.phase == SimPhase::kDwell) {
      sched = day_start_s_ + st[v.next_stop].arrival_s;
    } else {
      uint32_t k = v.next_stop;
      double d0 = pat.stop_dist_m[k - 1], d1 = pat.stop_dist_m[k];
      double frac = d1 > d0 ? std::clamp((v.dist_m - d0) / (d1 - d0), 0.0, 1.0) : 1.0;
      sched = day_start_s_ + st[k - 1].departure_s +
              frac * (st[k].arrival_s - st[k - 1].departure_s);
    }
    sf.delay_s = t - sched;
  }
  fixes->push_back(std::move(sf));
}

void FleetSimulator::Step(Vehicle& v, int64_t t, std::vector<SimFix>* fixes,
                          std::vector<StopVisit>* visits) {
  if (v.done || t < v.pullout_s) return;
  if (!v.active) {
    v.active = true;
    BeginTrip(v, t);
  }
  const GtfsFeed& feed = network_->feed();
  if (v.finished) {
    if (t >= v.pullin_s) {
      v.done = true;
      return;
    }
  } else if (v.phase == SimPhase::kLayover) {
    int64_t dep = day_start_s_ + feed.stop_times[v.trip->first_stop_time].departure_s;
    if (v.early) dep -= options_.early_lead_s;
    if (!v.boarded && t >= dep - 30) {
      // Riders board in the last half minute before departure (or as soon as a late bus is in).
      v.next_stop = 0;
      PlanNextStop(v, t);
      v.load += v.next_board;
      v.fix_board += v.next_board;
      v.stop_board = v.next_board;
      v.stop_alight = 0;
      v.dwell_until_s = std::max<double>(dep, t + kDoorS + kBoardS * v.next_board);
      v.boarded = true;
    }
    if (v.boarded && t >= v.dwell_until_s) {
      RecordVisit(v, 0, v.arrived_s, t, v.stop_board, 0, visits);
      v.pat->last_departure[0] = t;
      v.next_stop = 1;
      PlanNextStop(v, t);
      v.phase = SimPhase::kMoving;
    }
  } else if (v.phase == SimPhase::kDwell) {
    if (t >= v.dwell_until_s) {
      RecordVisit(v, v.next_stop, v.arrived_s, t, v.stop_board, v.stop_alight, visits);
      v.pat->last_departure[v.next_stop] = t;
      ++v.next_stop;
      PlanNextStop(v, t);
      v.phase = SimPhase::kMoving;
    }
  } else {
    // Moving, 1 s step.
    const Pattern& pat = *v.pat->pattern;
    const std::vector<double>& sd = pat.stop_dist_m;
    if (v.signal_until_s >= 0) {
      if (t >= v.signal_until_s) {
        v.signal_until_s = -1;
        v.signal_at_m = -1;
      }
    } else {
      uint32_t k = v.next_stop;
      double target = v.pat->free_mps[k - 1] *
                      TrafficFactor(t, pat.stops[k - 1], pat.stops[k]) * v.driver;
      double stop_point = v.stop_at_next ? sd[k] : INFINITY;
      bool at_signal = false;
      if (v.signal_at_m >= v.dist_m && v.signal_at_m < stop_point) {
        stop_point = v.signal_at_m;
        at_signal = true;
      }
      double cap = target;
      if (std::isfinite(stop_point)) {
        cap = std::min(cap, std::sqrt(2 * kBrakeMps2 * std::max(0.0, stop_point - v.dist_m)));
      }
      const auto& turns = v.pat->turns_m;
      auto it = std::lower_bound(turns.begin(), turns.end(), v.dist_m - kTurnZoneM);
      if (it != turns.end()) {
        double ahead = *it - v.dist_m;
        if (ahead <= kTurnZoneM) {
          cap = std::min(cap, kTurnSpeedMps);
        } else {
          cap = std::min(cap, std::sqrt(kTurnSpeedMps * kTurnSpeedMps +
                                        2 * kBrakeMps2 * (ahead - kTurnZoneM)));
        }
      }
      double v_new = std::max(0.0, std::min(v.v_mps + kAccelMps2, cap));
      double d_new = v.dist_m + 0.5 * (v.v_mps + v_new);
      if (std::isfinite(stop_point) &&
          (d_new >= stop_point - 0.5 || (v_new < 0.5 && stop_point - d_new < 3))) {
        v.dist_m = stop_point;
        v.v_mps = 0;
        if (at_signal) {
          v.signal_until_s = t + v.signal_wait_s;
        } else {
          ArriveAtStop(v, t, visits);
        }
      } else {
        // Stops passed without stopping.
        double d_old = v.dist_m;
        while (!v.stop_at_next && v.next_stop + 1 < pat.stops.size() && d_new >= sd[v.next_stop]) {
          double frac = d_new > d_old ? (sd[v.next_stop] - d_old) / (d_new - d_old) : 1.0;
          double when = t - 1 + std::clamp(frac, 0.0, 1.0);
          RecordVisit(v, v.next_stop, when, when, 0, 0, visits);
          v.pat->last_departure[v.next_stop] = t;
          ++v.next_stop;
          PlanNextStop(v, t);
        }
        v.dist_m = std::min(d_new, v.pat->line->length_m());
        v.v_mps = v_new;
      }
    }
  }
  if (t >= v.next_fix_s) {
    // Fixes are drawn even when not wanted, so that the random streams (and so every later
    // fix) do not depend on how the caller slices time.
    if (fixes != nullptr) {
      EmitFix(v, t, fixes);
    } else {
      scratch_.clear();
      EmitFix(v, t, &scratch_);
    }
  }
  while (v.next_fix_s <= t) v.next_fix_s += options_.fix_interval_s;
}

void FleetSimulator::AdvanceTo(absl::Time t, std::vector<SimFix>* fixes,
                               std::vector<StopVisit>* visits) {
  int64_t end = absl::ToUnixSeconds(t);
  for (int64_t s = now_s_ + 1; s <= end; ++s) {
    for (auto& v : vehicles_) Step(*v, s, fixes, visits);
  }
  now_s_ = std::max(now_s_, end);
}

}  // namespace smartbus
