#pragma once
// A fleet simulator: drives buses along a GTFS network's trips for one service day and reports
// what their on-board units would send (GPS fixes with noise, speed, bearing, trip, passenger
// counts), plus the ground truth (where each bus really was, which trip it was on, when it
// really served each stop).
//
// The model, per bus (one bus per block_id; a trip without a block is a bus of its own):
// - Pull-out: the bus appears at its first trip's first stop `pullout_lead_s` before departure
//   and waits (layover); between trips of its block it lays over at the terminal; it leaves
//   `pullin_after_s` after its last trip ends.
// - Driving: 1 s steps along the trip's shape (Network polyline). Free-flow speed per
//   stop-to-stop segment comes from the schedule of all trips of the pattern (pooled, so a feed
//   rounded to minutes works); it is scaled by a time-of-day factor (morning and evening rush),
//   by random jams (a segment, identified by its two stop ids, is jammed for a 15-minute window
//   with `jam_probability`; every bus on it that window crawls) and by a per-bus driver factor.
//   Acceleration 1.0 m/s², braking 1.3 m/s², slow (4.5 m/s) through sharp corners, red lights
//   (`signal_probability` per segment, 8-45 s).
// - Stops: waiting passengers arrive at a rate that follows the time of day and the stop's
//   importance (transfer stops and terminals draw more), since the previous bus of the same
//   pattern left; riders alight with a probability weighted by the importance of the stops
//   ahead, all at the last stop. A bus skips a stop nobody uses. Dwell = 6 s + max(2.5 s per
//   boarding, 1.5 s per alighting). Timepoints (departure later than arrival in the feed) and
//   the first stop hold the bus until the scheduled departure; elsewhere a bus that stops
//   waits until it is no more than `max_early_s` ahead of schedule.
// - GPS: every `fix_interval_s` (each bus with its own phase) a fix with time-correlated
//   Gaussian error (AR(1), per-axis standard deviation `gps_sigma_m`, time constant
//   `gps_correlation_s`) and rare outliers; speed with 0.2 m/s noise; bearing of the street.
//
// Output is a pure function of (network, options): the same seed gives the same fixes, however
// the caller slices time with AdvanceTo.
//
// Thread safety: a FleetSimulator is not thread-safe; the Network it reads is shared.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/core/network/network.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct SimOptions {
  // Service date to run, YYYYMMDD. Required.
  int32_t service_date = 0;
  // Random seed. Default 1.
  uint64_t seed = 1;
  // Seconds between two fixes of one bus, 1..600. Default 10.
  int fix_interval_s = 10;
  // GPS error: per-axis standard deviation (m), time constant (s), and the probability that a
  // fix is an outlier 40-120 m off. Defaults 4 m, 20 s, 0.001.
  double gps_sigma_m = 4;
  double gps_correlation_s = 20;
  double outlier_probability = 0.001;
  // Fixes carry trip_id and route_id (what most on-board units do). false: empty, the server
  // must work out the trip. Default true.
  bool report_trip_id = true;
  // Fixes carry occupancy, boardings, alightings and load. Default true.
  bool report_passengers = true;
  // Traffic: fraction of the speed lost at the height of the morning (08:00) and evening
  // (17:15) rush, 0..0.9; probability that a segment is jammed in a 15-minute window, 0..1;
  // probability of a red light per stop-to-stop segment, 0..1. Defaults 0.35, 0.02, 0.3.
  double peak_slowdown = 0.35;
  double jam_probability = 0.02;
  double signal_probability = 0.3;
  // Drivers do not run early: at a stop where the bus stops, it waits until it is at most this
  // many seconds ahead of the scheduled departure (timepoints and first stops: not ahead at
  // all). Negative: no such holding. Default 60.
  int max_early_s = 60;
  // Early runners (timetables padded for traffic that did not come): this share of the buses,
  // chosen per bus from the seed, never hold (neither at timepoints nor for max_early_s), leave
  // each trip's first stop up to `early_lead_s` before its scheduled departure and drive
  // `early_speedup` times faster than the schedule's free-flow speed. Defaults 0 (none), 300 s,
  // 1.25.
  double early_share = 0;
  int early_lead_s = 300;
  double early_speedup = 1.25;
  // Scales the passenger arrival rates. Default 1.
  double demand_scale = 1.0;
  // Seats and total capacity of a bus (occupancy status thresholds). Defaults 40, 70.
  int seats = 40;
  int capacity = 70;
  // A bus appears this long before its first departure and disappears this long after its last
  // arrival. Defaults 300 s, 120 s.
  int pullout_lead_s = 300;
  int pullin_after_s = 120;
  // Only trips of these route ids (empty: all routes).
  std::vector<std::string> route_ids;
  // Added congestion on chosen segments (for studies and tests of the route advice): a bus
  // driving from stop `from_stop_id` to the next stop `to_stop_id` between start_s and end_s
  // (seconds after the service day start) drives at `speed_factor` (0.05..1) times its speed.
  // Applied on top of the rush and the random jams. Default: none.
  struct Congestion {
    std::string from_stop_id;
    std::string to_stop_id;
    int32_t start_s = 0;
    int32_t end_s = 86400;
    double speed_factor = 0.5;
  };
  std::vector<Congestion> congestion;
};

enum class SimPhase : uint8_t {
  kLayover,  // at a trip's first stop (before pull-out departure or between trips)
  kDwell,    // stopped at a stop serving passengers (or held at a timepoint)
  kMoving,   // driving (includes waiting at a red light or crawling in a jam)
};
const char* SimPhaseName(SimPhase p);  // "layover", "dwell", "moving"

// One fix as sent, plus the truth behind it.
struct SimFix {
  Fix fix;
  TripIdx trip = kNoIndex;   // trip the bus is on; in a layover, the trip it will run next
  SimPhase phase = SimPhase::kLayover;
  double dist_along_m = 0;   // true distance along that trip's shape
  LatLon true_pos;           // true position (the fix has GPS error added)
  double true_speed_mps = 0;
  // True schedule deviation at this instant, seconds (+ late): now minus the scheduled time at
  // this distance (interpolated between stops). 0 in a layover before the scheduled departure.
  double delay_s = 0;
};

struct SimVehicleInfo {
  std::string vehicle_id;
  bool early_runner = false;     // SimOptions::early_share
  std::string block_id;          // empty when the trip has no block
  std::vector<TripIdx> trips;    // in running order
  int64_t pullout_s = 0;         // epoch seconds
  int64_t pullin_s = 0;
};

class FleetSimulator {
 public:
  // Fails when the date has no trips (naming the date) or an option is out of range.
  static absl::StatusOr<std::unique_ptr<FleetSimulator>> Create(
      std::shared_ptr<const Network> network, const SimOptions& options);

  // Simulated time: every fix with timestamp <= now() has been produced.
  absl::Time now() const { return absl::FromUnixSeconds(now_s_); }
  // When the first bus pulls out and the last one pulls in.
  absl::Time first_pullout() const { return absl::FromUnixSeconds(first_s_); }
  absl::Time last_pullin() const { return absl::FromUnixSeconds(last_s_); }
  const std::vector<SimVehicleInfo>& vehicles() const { return infos_; }
  const Network& network() const { return *network_; }

  // Runs the simulation up to `t` (no-op when t <= now()), appending every fix with timestamp in
  // (now(), t] to *fixes in timestamp order (ties: vehicle order), and every stop served or
  // passed to *visits (true arrival/departure times, passenger counts). Either may be null.
  void AdvanceTo(absl::Time t, std::vector<SimFix>* fixes, std::vector<StopVisit>* visits);

  ~FleetSimulator();

 private:
  struct Vehicle;
  struct PatternInfo;
  FleetSimulator() = default;
  // The steps of Create.
  absl::Status AddCongestion(const Network& net, const std::vector<SimOptions::Congestion>& added);
  static std::unique_ptr<PatternInfo> DescribePattern(const Network& net, uint32_t p);
  // One vehicle per (block id, trips) in `buses`; sets first_s_ and last_s_.
  void AddBuses(const std::vector<std::pair<std::string, std::vector<TripIdx>>>& buses);
  void Step(Vehicle& v, int64_t t, std::vector<SimFix>* fixes, std::vector<StopVisit>* visits);
  void BeginTrip(Vehicle& v, int64_t t);
  void PlanNextStop(Vehicle& v, int64_t t);
  void ArriveAtStop(Vehicle& v, int64_t t, std::vector<StopVisit>* visits);
  void RecordVisit(Vehicle& v, uint32_t k, double arrival_s, double departure_s, int boardings,
                   int alightings, std::vector<StopVisit>* visits);
  void EmitFix(Vehicle& v, int64_t t, std::vector<SimFix>* fixes);
  double TrafficFactor(int64_t t, uint32_t from_stop, uint32_t to_stop) const;
  double StopWeight(uint32_t stop) const;
  double DemandFactor(int64_t t) const;
  int Occupancy(int load) const;

  std::shared_ptr<const Network> network_;
  SimOptions options_;
  int64_t day_start_s_ = 0;
  int64_t now_s_ = 0;
  int64_t first_s_ = 0;
  int64_t last_s_ = 0;
  std::vector<std::unique_ptr<Vehicle>> vehicles_;
  std::vector<SimVehicleInfo> infos_;
  std::vector<std::unique_ptr<PatternInfo>> patterns_;  // per Network pattern, lazily filled
  std::vector<double> stop_weight_;                      // per stop
  struct AddedCongestion {  // SimOptions::congestion with stop indices
    uint32_t from = kNoIndex, to = kNoIndex;
    int32_t start_s = 0, end_s = 0;
    double factor = 1;
  };
  std::vector<AddedCongestion> congestion_;
  std::vector<SimFix> scratch_;
};

// GTFS-RT OccupancyStatus for a load: 0 EMPTY (no one aboard), 1 MANY_SEATS_AVAILABLE (under
// half the seats taken), 2 FEW_SEATS_AVAILABLE, 3 STANDING_ROOM_ONLY, 4 CRUSHED_STANDING_ROOM_ONLY
// (over 90% of capacity), 5 FULL.
int OccupancyStatus(int load, int seats, int capacity);

}  // namespace smartbus
