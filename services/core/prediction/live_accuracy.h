#pragma once
// LiveAccuracy: the accuracy of the predictions a server publishes, scored online against the
// arrivals it observes, with the definitions of AccuracyScorer (scorer.h: error, horizon
// buckets, MBTA windows by predicted horizon, Transit-app windows by observed horizon, P10-P90
// coverage, arrival coverage; a trip's first stop is not scored; a (trip instance, stop) visited
// twice is dropped). Kept as sums per route and hour (AccuracyTally), so any window and route
// set is a merge; medians are not available.
//
// How a prediction travels:
//   AddPrediction: held per (trip instance, stop) while that stop is not observed yet;
//   AddObserved (the stop's first visit): every held prediction of the stop is scored into the
//     tally of its route and of the hour it was made, and kept a little longer (ambiguity_hold_s)
//     so that a second visit of the same stop can take them back out (dropped, as offline);
//     predictions of an observed stop are scored at once;
//   Advance (the clock): predictions of a stop still unobserved pending_max_age_s after they
//     were made are counted unobserved and forgotten; a trip instance with no prediction or visit
//     for trip_idle_s is over: its held predictions are counted unobserved and it is forgotten.
// So memory follows the predictions of the trips in progress, not the day: 16 bytes per
// prediction held, ~40 bytes per stop of a trip instance in progress, ~1.3 KB per route and hour
// of tally (retention_hours). WMATA day (42 predictions per fix, a fix per ~30 s): 76 KB per
// vehicle at the peak (2.36 MB for 31 buses); min_interval_s 60 halves it and costs 0.8 pp of
// MBTA (bench/RESULTS.md, "Live prediction accuracy"). Cost: one lock per vehicle update, a few
// hash lookups per trip, scoring when the stop is observed; the sweep (once a minute of clock)
// visits only trips with something due.
// Differences from the offline scorer (none on an ordered stream where no prediction waits
// longer than pending_max_age_s for its stop and no stop is visited twice more than
// ambiguity_hold_s apart): those two cases, and `unobserved` counting predictions forgotten
// (the offline scorer calls the ones whose stop is seen later `beyond_30min`).
// Restart or a GTFS reload: the figures start again (nothing is persisted; a reload counts the
// held predictions unobserved).
//
// Thread safety: every method locks one mutex (a shard's worker feeds it; queries read it from
// any thread).

#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/types/span.h"
#include "services/core/common/mutex.h"
#include "services/core/prediction/prediction.h"
#include "services/core/prediction/scorer.h"

namespace smartbus {

struct LiveAccuracyOptions {
  // A trip instance with no prediction and no visit for this long (s of the feeding clock) is
  // over. Default 1800: longer than any layover-free gap between two fixes of a moving bus that
  // still carries its trip (the tracker ends a trip well before).
  int64_t trip_idle_s = 1800;
  // A prediction whose stop is not observed this long after it was made is forgotten (counted
  // unobserved). Must exceed 1800 (only horizons below 30 min are scored) plus how late a visit
  // can be emitted after its arrival (the backfill hold, 120 s by default, after a signal gap).
  // Default 2400.
  int64_t pending_max_age_s = 2400;
  // The predictions of an observed stop are kept this long after its arrival to take them back
  // out if the stop is visited again (the offline scorer drops such stops). Default 600.
  int64_t ambiguity_hold_s = 600;
  // Hours of tallies kept (by the hour the predictions were made). Default 48.
  int retention_hours = 48;
  // Thinning: of the predictions of one (trip instance, stop), keep at most one per this many
  // seconds of made_at (the others are not scored at all). 0 keeps every one. Default 0.
  int64_t min_interval_s = 0;
};

struct LiveAccuracyStats {
  int64_t trips_open = 0;             // trip instances held
  int64_t predictions_held = 0;       // waiting for their stop (or for the ambiguity hold)
  int64_t memory_bytes = 0;           // held predictions, stops, trips and tallies (estimate)
  int64_t thinned = 0;                // predictions skipped by min_interval_s
  int64_t late_second_visits = 0;     // stops visited again after the ambiguity hold (kept)
  int64_t oldest_hour_s = 0;          // start of the oldest hour held (0: none)
};

class LiveAccuracy {
 public:
  explicit LiveAccuracy(const LiveAccuracyOptions& options = {}) : options_(options) {}

  // A published prediction of a trip of `route` (any index the caller uses for routes).
  void AddPrediction(const Prediction& p, uint32_t route);
  // The predictions of one vehicle update, at one lock; route_of(trip) gives a trip's route
  // (asked once per trip of the batch).
  void AddPredictions(absl::Span<const Prediction> ps,
                      const std::function<uint32_t(uint32_t trip)>& route_of);
  // An observed stop visit. own: visits of the vehicles this instance predicts for (counted as
  // observed arrivals); other visits (another shard's) only score predictions held here.
  void AddObserved(const StopVisit& v, uint32_t route, bool own);
  // Moves the clock (epoch s; never backwards) and, once a minute of it, forgets what is due.
  void Advance(int64_t now_s);
  // Ends every trip instance now (held predictions counted unobserved): before a network switch.
  void FinishAll();
  // Renames route indices (old -> new; kNoIndex drops the route's tallies). After FinishAll.
  void RemapRoutes(const std::vector<uint32_t>& old_to_new);

  // Adds the tallies of the predictions made in the hours overlapping [from_s, to_s) (0: open)
  // of the routes in `routes` (empty: all) into *total and (*by_route)[route].
  void Collect(int64_t from_s, int64_t to_s, const absl::flat_hash_set<uint32_t>& routes,
               AccuracyTally* total, absl::flat_hash_map<uint32_t, AccuracyTally>* by_route) const;
  LiveAccuracyStats Stats() const;

 private:
  struct Held {              // one prediction, 16 bytes
    int32_t made_rel;        // made_at - base_s_
    int32_t predicted_off;   // predicted - made_at
    int16_t p10_off, p90_off;  // - predicted (clamped to +-9 h); kNoOff: none
    PredictionSource source;
  };
  struct StopEntry {
    double observed_s = 0;   // first observed arrival (visits >= 1)
    uint8_t visits = 0;      // 0, 1, 2 (= ambiguous)
    bool own = false;        // the first visit was own (counted as an observed arrival)
    bool covered = false;    // counted in arrivals_with_prediction_1_30min
    bool committed = false;  // held predictions dropped after the ambiguity hold
    std::vector<Held> held;
  };
  using TripKey = TripInstanceKey;
  struct TripEntry {
    uint32_t route = 0;
    int64_t last_s = 0;  // newest event (prediction made / visit) of the trip instance
    // The sweep has nothing to forget or commit in this trip before this clock.
    int64_t due_s = std::numeric_limits<int64_t>::max();
    std::vector<StopEntry> stops;  // by stop_index (grown on demand)
  };
  struct TallyKey {
    int64_t hour_s;
    uint32_t route;
    bool operator==(const TallyKey& o) const { return hour_s == o.hour_s && route == o.route; }
    template <typename H>
    friend H AbslHashValue(H h, const TallyKey& k) {
      return H::combine(std::move(h), k.hour_s, k.route);
    }
  };
  static constexpr int16_t kNoOff = INT16_MIN;

  AccuracyTally& TallyAt(int64_t t_s, uint32_t route) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t MadeAt(const Held& h) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return base_s_ + h.made_rel; }
  // What consecutive predictions of a batch share (null: look it up).
  struct Batch {
    TripEntry* trip = nullptr;     // of the current trip instance
    AccuracyTally* tally = nullptr;  // of (tally_hour, tally_route)
    int64_t tally_hour = 0;
    uint32_t tally_route = 0;
  };
  void AddLocked(const Prediction& p, uint32_t route, Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static StopEntry& StopAt(TripEntry& t, uint32_t stop_index);
  ScoredPrediction Score(const Held& h, double observed_s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Scores (sign +1) or takes back (-1) a held prediction against the stop's arrival.
  void Apply(const Held& h, StopEntry& s, uint32_t route, int sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SecondVisit(StopEntry& s, uint32_t route) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishTrip(TripEntry& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SweepTrip(TripEntry& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LiveAccuracyOptions options_;
  mutable Mutex mu_;
  int64_t clock_s_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t base_s_ ABSL_GUARDED_BY(mu_) = -1;  // Held::made_rel origin: the first made_at seen
  int64_t next_sweep_s_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<TripKey, TripEntry> trips_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<TallyKey, AccuracyTally> tallies_ ABSL_GUARDED_BY(mu_);  // stable addresses
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t thinned_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t late_second_visits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace smartbus
