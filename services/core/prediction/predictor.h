#pragma once
// SmartBus's own arrival predictor, in layers:
//   schedule  -> scheduled running time of each stop-to-stop segment;
//   history   -> segment running times learned online from observed stop visits (arrival to
//                next arrival, so dwell is included), by route and segment, with a time-of-day
//                profile (30-min buckets) that persists across days in the saved model;
//   live      -> the running times of the buses that just went through the same segments
//                (recent traversals dominate a time-decayed mean: half-life options below),
//                chained from the bus's own position now. Only the same service day's
//                traversals count here; earlier days' reach a prediction through the profile
//                (a model learned yesterday gives today its time-of-day history, not
//                yesterday evening's running times as if they were live).
// The estimate of a segment is a weighted mean: recent traversals (decayed weight), the
// time-of-day profile, and the schedule as a weak prior. The `source` of a prediction is the
// strongest layer used up to that stop: live (a traversal within live_window_s), history, or
// schedule.
// Rules: a bus that has not started its trip (layover) leaves its first stop at
// max(now, scheduled departure + its departure habit when early) -- that is the predicted
// departure given at the first stop -- unless it is already driving away from it
// (LeftFirstStop: then from its place); the next trip of the block is predicted too (leaves at
// max(arrival at the last stop, its scheduled departure + the habit when early)). Arrival times
// never decrease along a trip's stop sequence.
// P10/P90: empirical quantiles of the errors this predictor has itself observed (prediction vs
// the later stop visit), by predicted horizon and by phase (trip started or not), over a sliding
// window; a default spread until a bin has enough errors.
//
// Persistence: Serialize()/Deserialize() give the learned state as a string (ids, not indices,
// so it survives a GTFS reload); services/files/model_file.h puts it in a file. The state: segment
// statistics, the time-of-day profile by day type, the error windows (P10/P90), the blend's
// layer scores of all routes together (loaded as a prior worth layer_min_errors errors, so the
// next day's own errors take over within the first few dozen arrivals of each bin; a route's own
// scores start afresh each day: AppendLayerScores), the departure habit's pairs, and what the
// tracker learned of the feed (the network's chord bends and GPS noise, Network::AppendLearned;
// loading a model replaces them in the network this predictor reads).
// Thread safety: not thread-safe (one per engine shard). Allocation: per fix, none once the
// per-segment tables and output buffers have grown (pending-error bookkeeping aside).

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "services/core/prediction/prediction.h"
#include "services/core/tracking/tracker_options.h"

namespace smartbus {
namespace prediction_internal {
struct TripView;
}

struct PredictorOptions {
  // Predictions reach at most this far ahead (s). Default 3600 (FORMATS.md).
  int64_t max_horizon_s = 3600;
  // Half-life of a traversal's weight in the segment mean (s): the longest of the candidates
  // (this, /2, /4, /8) the predictor chooses from online, by the error of each candidate's
  // estimate of the next traversal of each segment (the one that measures the lowest mean
  // absolute error over the last layer_window_errors traversals, once it has layer_min_errors;
  // this one until then). Running times change within hours on one feed (a peak that worsens)
  // and hardly at all on another; the choice follows the feed. Default 4 h.
  double half_life_s = 4 * 3600.0;
  // Weight of the scheduled running time, in traversals. Default 0.5.
  double schedule_weight = 0.5;
  // Weight of one time-of-day profile observation (from earlier days) and its cap. Default 0.5/2.
  double profile_weight = 0.5;
  double profile_weight_cap = 2.0;
  // A traversal this recent makes the source "live" (s). Default 1800.
  int64_t live_window_s = 1800;
  // Observed traversals longer than schedule * 4 + this are ignored as outliers (s). Default 900.
  double outlier_slack_s = 900;
  // Predict the next trip of the block. Default true.
  bool predict_next_trip = true;
  // Keep predicting (from the last position) while the bus is off route. Default true.
  bool predict_off_route = true;
  // Calibration: one pending prediction per (trip, stop) every sample_s seconds is compared
  // with the later visit (s); a bin uses its own quantiles once it has min_errors errors and
  // keeps the last window_errors. Defaults 60, 40, 1000.
  int64_t sample_s = 60;
  int min_errors = 40;
  int window_errors = 1000;
  // Shift the point prediction, by horizon, by the amount (at most max_shift_s either way) that
  // puts most of the observed errors inside the window riders tolerate there (a bus a little
  // later than announced is better than a missed bus: the Transit app ETA benchmark windows, up
  // to 15 min ahead). Learned from the predictor's own errors. Default on, 20 s.
  bool window_shift = true;
  int max_shift_s = 20;
  // Rate at which the P10/P90 tail level follows the realised share of arrivals outside the
  // interval (adaptive conformal inference). Default 0.002.
  float interval_adapt_rate = 0.002f;
  // Share of arrivals the P10-P90 interval aims to hold within its horizon bin. Default 0.83:
  // bins are by PREDICTED horizon, while the report buckets by observed horizon, where late
  // buses (whose predicted horizon was shorter, their interval narrower) land in the longer
  // buckets; aiming a little above 80 % keeps every observed-horizon bucket near 80 %.
  float interval_target = 0.83f;
  // A bus not started leaves its first stop when its departure habit says (DepartureHabit),
  // when that is before the timetable: the lateness of a departure from a first stop regressed
  // on the same bus's previous one over the feed's buses (a robust line, slope and intercept
  // learned from the last layer_window_errors pairs: the demo city's early runners leave every
  // trip 300 s early, a slope of about 1; on the WMATA day it says early by seconds, for a few
  // buses, and the suite's figures do not move). Default on.
  bool departure_habit = true;
  // Blend of layers by measured error: the engine's own estimate (history + live), delay
  // propagation (scheduled time + the delay at the bus's position, what OneBusAway does) and
  // the schedule are each scored against the arrivals observed later, per route and horizon
  // bin, over the last layer_window_errors arrivals (one arrival counts once per bin, its
  // predictions there, made a minute apart with nearly the same errors, averaged); a started
  // bus's prediction is their minimum-variance combination (Bates & Granger 1969: weights from
  // the errors' covariance, none negative), so a layer that is wrong for a route today stops
  // being trusted (a bus expected to leave before its timetable, DepartureHabit, is blended as
  // the started bus it will be when it leaves).
  // A bin blends once all routes together have layer_min_errors arrivals in it (before: the
  // engine's estimate alone); a route's own errors then weigh
  // n / (n + layer_min_errors) against all routes' (shrinkage: no jump of the route's weights
  // when its bin fills). Default on, 1000, 30.
  bool blend_layers = true;
  int layer_window_errors = 1000;
  int layer_min_errors = 30;
};

class LayeredPredictor : public ArrivalPredictor {
 public:
  // `tracker`: the settings of the tracker whose states this predictor reads (the engine's
  // EngineOptions::tracker): when a bus in layover is already driving away follows its start
  // gate and jitter tolerances (LeftFirstStop).
  explicit LayeredPredictor(std::shared_ptr<const Network> network,
                            const PredictorOptions& options = {},
                            const TrackerOptions& tracker = {});
  absl::string_view name() const override { return "smartbus"; }
  void ObserveVisit(const StopVisit& visit) override;
  void Predict(const VehicleState& state, std::vector<Prediction>* out) override;

  // The learned model (segment statistics, time-of-day profile, error quantiles) as bytes.
  std::string Serialize() const;
  // Replaces the learned model with one from Serialize(). Entries whose route or stops are not in
  // this network are skipped (counted in skipped_entries()). Fails on malformed input, naming
  // the line.
  absl::Status Deserialize(const std::string& bytes);
  int64_t skipped_entries() const { return skipped_entries_; }

  // Introspection for tests and reports.
  int64_t segments_learned() const;
  int64_t errors_observed() const { return errors_observed_; }
  // The half-life of the live layer in use (s; PredictorOptions::half_life_s).
  double half_life_s() const;
  // The pace of a bus (observed / expected running times recently, memory kPaceMemoryS of
  // expected running time, each segment's innovation clipped at kHuberK times the measured
  // scale; 1 when unknown or blend_layers is off).
  double PaceOf(const std::string& vehicle_id) const;

 private:
  static constexpr int kNumBins = 14;
  static constexpr int kPhases = 2;  // 0: trip started, 1: not started (layover, next trip)
  static constexpr int kBucketS = 1800;
  // The profile is kept per day type (0 Monday-Friday, 1 Saturday, 2 Sunday: running times
  // differ by day type, and a model learned on a Sunday must not stand for a Monday), in
  // kBucketsPerDay buckets of kBucketS each (32 h: GTFS times past 24:00 included). A holiday
  // running a Sunday timetable counts as its weekday (limit).
  static constexpr int kBucketsPerDay = 64;
  // The key of the profile for tod_s seconds into service date `service_date`: day type *
  // kBucketsPerDay * kBucketS + tod_s (clamped to the type's 32 h); negative tod_s: none.
  int64_t ProfileTime(int32_t service_date, int64_t tod_s);
  // The profile bucket of a ProfileTime (>= 0): kBucketS steps, at most 255.
  static uint32_t BucketOf(int64_t profile_s) {
    return static_cast<uint32_t>(std::min<int64_t>(profile_s / kBucketS, 255));
  }

  // Candidate half-lives of the live layer (PredictorOptions::half_life_s): half_life_s >> i,
  // i < kHalfLives; the last is half_life_s itself (the one saved in the model).
  static constexpr int kHalfLives = 4;
  static constexpr int kLongest = kHalfLives - 1;
  struct SegStats {
    uint32_t route = kNoIndex, from = kNoIndex, to = kNoIndex;
    // Per candidate half-life (index kLongest: half_life_s, halved at each lower index).
    std::array<double, kHalfLives> w{};   // decayed weight at t_last
    std::array<double, kHalfLives> wd{};  // decayed weighted sum of durations at t_last
    int64_t t_last = 0;
  };
  struct Profile {
    float mean_s = 0;
    float n = 0;
    bool present = false;  // an entry of the model (learned or loaded)
  };
  struct ErrorBin {
    std::vector<float> ring;
    size_t next = 0;
    int64_t added = 0;
    int64_t added_at_compute = -1;
    float q10 = 0, q90 = 0, shift = 0;
    float tail_adjust = 0;  // adaptive correction of the 10 % tail level
    // The ring sorted as of the last quantile computation, and the values added to / dropped
    // from the ring since then, so the next computation merges instead of sorting the window
    // again. `resort`: these are not tracked (too many changes, or a NaN): sort from scratch.
    std::vector<float> sorted;
    std::vector<float> added_since;
    std::vector<float> dropped_since;
    bool resort = true;
  };
  struct Pending {
    int64_t made_at_s;
    int64_t predicted_s;
    uint8_t bin;
    uint8_t phase;
    // Each layer's prediction minus predicted_s (the bus's own trip only; NaN: not made).
    std::array<float, 4> layer_delta;
  };
  // Layers of the blend (blend_layers): the engine's estimate, delay propagation, schedule, and
  // the engine's estimate at this bus's own pace (its recent running times relative to the
  // estimates: a driver, or a bus running ahead of a padded timetable, keeps a pace).
  static constexpr int kLayers = 4;
  // Running second moments of the layers' errors (exponentially weighted over the last
  // layer_window_errors arrivals): cov[i][j] = E[e_i e_j].
  struct LayerScore {
    std::array<std::array<double, kLayers>, kLayers> cov{};
    int32_t n = 0;
  };
  // A trip instance; its pending predictions are kept per stop index (one hash lookup per trip
  // in Predict, not one per stop).
  using TripKey = TripInstanceKey;
  // Pending predictions of a trip instance by stop index (an empty vector = none pending), and
  // per stop the time of its newest pending prediction (kNoSample: none), kept contiguous so
  // the once-per-prediction "is a sample due?" test reads one array instead of chasing a
  // vector per stop.
  static constexpr int64_t kNoSample = INT64_MIN;
  struct TripPending {
    std::vector<int64_t> newest_s;
    std::vector<std::vector<Pending>> by_stop;
    void Resize(size_t n) {
      newest_s.resize(n, kNoSample);
      by_stop.resize(n);
    }
    void Clear(size_t k) {
      newest_s[k] = kNoSample;
      by_stop[k].clear();
    }
  };
  // Per vehicle: its last stop visit and pace, and where it waited before its trip started.
  struct LastVisit {
    uint32_t trip = kNoIndex;
    int32_t service_date = 0;
    uint32_t stop_index = 0;
    double arrival_s = 0;
    double departure_s = 0;
    // The bus's pace: exponentially weighted mean of log(observed / expected running time)
    // over its recent running time (predictor.cc, kPaceMemoryS, kHuberK); pace_n segments
    // so far.
    double log_pace = 0;
    int pace_n = 0;
    // Before its trip starts (LeftFirstStop): the trip waited for, the distance along it at the
    // last fix, and whether the bus has left the first stop.
    uint32_t waiting_trip = kNoIndex;
    double waiting_d = NAN;
    bool left_first_stop = false;
    // Its last departure from a trip's first stop minus the scheduled departure (s; NaN: none).
    double departure_lateness = NAN;
  };

  uint32_t SegmentId(uint32_t route, uint32_t from, uint32_t to);
  // Segment ids of a pattern (entry k: stop k-1 -> k; entry 0 unused), built once.
  const std::vector<uint32_t>& PatternSegments(uint32_t pattern);
  // A segment's running time (s) for a trip of the service day starting at day_start_s, at
  // profile_s (ProfileTime of the time it enters the segment): the schedule as a weak prior,
  // the day's traversals (recent ones weigh most) and the profile.
  // `hl`: the candidate half-life (kHalfLives), -1 for the one chosen (half_life_).
  double Estimate(uint32_t seg, double sched_s, int64_t now, int64_t day_start_s,
                  int64_t profile_s, PredictionSource* layer, int hl = -1) const;
  // Scores each candidate half-life's estimate of a traversal (dur_s) about to be learned and
  // chooses the best (PredictorOptions::half_life_s).
  void ScoreHalfLives(uint32_t seg, double sched_s, double dur_s, int64_t from_s,
                      int64_t day_start_s, int64_t profile_s);
  void Learn(uint32_t seg, double dur_s, int64_t t, int64_t day_start_s, int64_t profile_s);
  // Starts loading what chaining along trip `t` from stop `from` reads (stop times, segment
  // statistics and profiles at about tod_s, pending samples): with thousands of buses these
  // are cache misses, which then overlap instead of coming one by one.
  void PrefetchChain(const prediction_internal::TripView& t, const std::vector<uint32_t>& segs,
                     uint32_t from, int64_t tod_s, const TripPending& pending) const;
  // The profile entry of (seg, bucket), created (present, zero) if absent.
  Profile& ProfileAt(uint32_t seg, uint32_t bucket);
  static int HorizonBin(int64_t horizon_s);
  // The middle of horizon bin b (s; the last, open bin: 15 min past its start).
  static double BinCentreS(int b);
  // The error bin of (phase, bin) with at least min_errors errors (its own phase, else the
  // other), its quantiles and shift up to date; null when neither has enough.
  ErrorBin* ReadyBin(int phase, int bin);
  // Point prediction (raw + learned shift, interpolated between the nearest bins), P10 and
  // P90 from the raw model time.
  // `bin` is HorizonBin(max(0, raw - now)).
  void Calibrate(int phase, int bin, int64_t now, int64_t raw, int64_t* pred, int64_t* p10,
                 int64_t* p90);
  // Out of line so Calibrate's common path stays small.
  [[gnu::noinline]] void RecomputeBin(ErrorBin* e, int bin);
  void AddError(int phase, int bin, float err);
  // Second moments of the layers' errors, m[i][j] = E[e_i e_j] (LayerScore::cov), of one
  // arrival's predictions in one (phase, bin).
  using LayerMoments = std::array<std::array<double, kLayers>, kLayers>;
  void AddLayerErrors(uint32_t route, int phase, int bin, const LayerMoments& m);
  // Blend weights for (route, phase, bin); false: not enough errors yet (use the engine's
  // estimate).
  bool LayerWeights(uint32_t route, int phase, int bin, std::array<double, kLayers>* w) const;
  // The blended arrival at stop k of the bus's own trip from the engine's estimate `engine`,
  // delay propagation's delay and the bus's pace, with the weights of `phase` at the horizon
  // from from_s, when the bus leaves its place; each layer's value minus the result in *delta
  // (NaN when not blended). A started bus: phase 0 from now. A bus not started: phase 1 from
  // now (the not-started phase's weights, learned from these buses' own errors), except one
  // expected to leave before its timetable (DepartureHabit), blended as the started bus it will
  // be: phase 0 from its expected departure, its pace from then, so its prediction does not jump
  // when it leaves then (with phase 1's weights, learned from buses leaving on the timetable,
  // the hand-over reversed: bench/RESULTS.md, "the departure habit").
  double Blend(const prediction_internal::TripView& t, uint32_t k, int phase, int64_t now,
               double from_s, double dp_delay, double pace, double engine,
               std::array<float, kLayers>* delta) const;
  void PurgePending(int64_t now);
  // The weights at a horizon (s): interpolated between the two nearest bins' LayerWeights.
  bool BlendWeights(uint32_t route, int phase, double horizon_s,
                    std::array<double, kLayers>* w) const;
  int64_t DayStart(int32_t service_date);
  // A segment's pace innovation (its log ratio minus the bus's pace) as the pace takes it:
  // clipped at kHuberK times the scale measured so far (predictor.cc), which it then updates.
  double PaceInnovation(double innovation);
  // Whether a bus in layover (trip not started) has left its first stop, and is predicted from
  // its place along the route as a started bus: it moved forward (VisitOptions::moving_m) past
  // the first stop's zone (VisitOptions::first_stop_zone_m), no earlier than the tracker's start
  // gate before its scheduled departure (VisitOptions::early_start_s), and has not gone back
  // since by more than the matcher's jitter (MatchingOptions::back_tolerance_m). The tracker
  // starts the trip only 400 m past the first stop (VisitOptions::start_leave_m): until then
  // every prediction had the bus leave the first stop now while it was already driving (on the
  // WMATA day 2-5 fixes per departure, their predictions MBTA 78 % against 91 % for started
  // buses). Earlier moves are layover manoeuvres (WMATA buses drive 600 m down the route to a
  // stand 15 min before departure and come back). 120-300 s gave the same figures on the WMATA
  // day, 600 s 0.3 pp less MBTA; a first stop zone of 20-100 m the same figures.
  bool LeftFirstStop(const VehicleState& s, const prediction_internal::TripView& tv);
  // A bus's departure from a trip's first stop given its previous one (DepartureHabit): the last
  // layer_window_errors pairs of consecutive departure latenesses of one vehicle (x the previous,
  // y the next, s), over all vehicles, and the robust line y = a + b x fitted to them (ready
  // once layer_min_errors pairs).
  struct HabitFit {
    std::vector<std::pair<float, float>> pairs;
    size_t next = 0;
    double a = 0, b = 0;
    bool ready = false;
    std::vector<double> scratch;
  };
  void LearnDepartureHabit(double previous_s, double next_s);
  void FitDepartureHabit();  // habit_'s line from its pairs
  // How much before its scheduled departure this bus is expected to leave a first stop (s,
  // <= 0): the regression of a departure's lateness on the same bus's previous one, learned from
  // the departures observed, when it says early; 0 until layer_min_errors pairs.
  double DepartureHabit(const std::string& vehicle_id) const;
  // When a bus not started leaves trip t's first stop: not before `not_before` (now, or its
  // arrival at the end of the trip before) nor its scheduled departure, unless its habit says
  // early (DepartureHabit).
  double LeavesAt(const std::string& vehicle_id, const prediction_internal::TripView& t,
                  double not_before) const;
  // The blend's scores in the model (Serialize / Deserialize).
  void AppendLayerScores(std::string* out) const;
  bool ParseLayerScore(const std::vector<absl::string_view>& fields, LayeredPredictor* fresh) const;

  std::shared_ptr<const Network> network_;
  PredictorOptions options_;
  TrackerOptions tracker_;
  std::array<double, kHalfLives> decay_per_s_;
  // Mean absolute error (s) of each candidate half-life's estimates of the traversals observed
  // (exponentially weighted over the last layer_window_errors), how many, the one in use.
  std::array<double, kHalfLives> half_life_mae_{};
  int32_t half_life_n_ = 0;
  int half_life_ = kLongest;
  std::vector<SegStats> segs_;
  absl::flat_hash_map<std::tuple<uint32_t, uint32_t, uint32_t>, uint32_t> seg_lookup_;
  // Time-of-day profile: profile_[bucket][seg] (bucket = BucketOf(ProfileTime); a model file
  // written before day types has buckets < kBucketsPerDay only: they load as Monday-Friday).
  // Bucket-major: the segments of a pattern have consecutive ids, so a prediction chaining
  // along a trip reads one contiguous run instead of one scattered allocation per segment.
  std::vector<std::vector<Profile>> profile_;
  int64_t profile_entries_ = 0;
  std::vector<std::vector<uint32_t>> pattern_segs_;
  std::array<std::array<ErrorBin, kNumBins>, kPhases> bins_;
  // Per (GTFS route, phase) at index 2 * route + phase, and over all routes per phase.
  HabitFit habit_;
  std::vector<std::array<LayerScore, kNumBins>> layer_by_route_;
  std::array<std::array<LayerScore, kNumBins>, kPhases> layer_all_;
  absl::flat_hash_map<TripKey, TripPending> pending_;
  absl::flat_hash_map<std::string, LastVisit> last_visit_;
  std::vector<float> merge_scratch_;  // Calibrate's merge buffer (swapped with a bin's `sorted`)
  int64_t last_purge_s_ = 0;
  int64_t errors_observed_ = 0;
  int64_t skipped_entries_ = 0;
  // Mean absolute pace innovation of all buses (exponentially weighted over the last
  // layer_window_errors segments) and how many (PaceInnovation).
  double pace_abs_innovation_ = 0;
  int32_t pace_innovations_ = 0;
  int32_t cached_date_ = 0;
  int32_t cached_type_date_ = 0;
  int64_t cached_type_offset_s_ = 0;
  int64_t cached_day_start_ = 0;
};

}  // namespace smartbus
