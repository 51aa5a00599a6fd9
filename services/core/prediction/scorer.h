#pragma once
// The accuracy harness: scores predictions against the arrivals observed later in the same trace
// with the definitions of issue 4 (and ../shared/tools/score.py, which must agree within 1 pp):
//   error   = observed - predicted (s; > 0: the bus came later than predicted)
//   horizon = observed - made_at; buckets [0,3) [3,6) [6,10) [10,15) [15,20) [20,30) min,
//             'overall' = every scored prediction with horizon < 30 min
//   MBTA accuracy: window by PREDICTED horizon (predicted - made_at, negative -> 0):
//             0-3 min -60..+60 s; 3-6 -90..+120; 6-12 -150..+210; 12-30 -240..+360 (inclusive;
//             exactly 30 min counts; beyond: not counted)
//   Transit app ETA Accuracy Benchmark: window by OBSERVED horizon: [0,3) -30..+90; [3,6)
//             -60..+150; [6,10) -60..+210; [10,15) -90..+270; score = mean of the four
//   P10-P90 coverage: share of scored predictions with p10 <= observed <= p90
//   coverage: share of observed arrivals with a prediction made 1-30 min before
// Observed arrivals come from stop visits; a trip's first stop (stop_index 0) is not scored, and
// a (trip instance, stop) visited more than once is ambiguous and dropped (as score.py does).
// Predictions with no observed arrival, or made at/after it, are counted but not scored.
//
// Memory: every prediction is kept (32 bytes) until Compute(). Not thread-safe. A server scores
// online with bounded memory instead: LiveAccuracy (live_accuracy.h), same definitions.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/core/prediction/prediction.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct AccuracyGroup {
  std::string label;
  int64_t n = 0;          // scored predictions
  double mae_s = NAN;
  double rmse_s = NAN;
  double bias_s = NAN;    // mean error (observed - predicted)
  double median_s = NAN;  // median error
  int64_t mbta_n = 0;      double mbta_pct = NAN;
  int64_t transit_n = 0;   double transit_pct = NAN;
  int64_t interval_n = 0;  double p10_p90_pct = NAN;
};

struct AccuracyReport {
  // counts
  int64_t rows = 0, scored = 0, unobserved = 0, after_arrival = 0, beyond_30min = 0;
  std::vector<AccuracyGroup> buckets;            // the six horizon buckets
  AccuracyGroup overall;                         // 0-30 min
  std::map<std::string, AccuracyGroup> by_source;
  std::array<AccuracyGroup, 4> mbta_by_predicted_horizon;  // only n, mbta_n, mbta_pct filled
  double mbta_pooled_pct = NAN;
  int64_t mbta_n = 0;
  std::array<AccuracyGroup, 4> transit_by_observed_horizon;  // only transit_n/pct filled
  double transit_score_pct = NAN;
  int64_t observed_arrivals = 0;
  int64_t arrivals_with_prediction_1_30min = 0;
  double coverage_pct = NAN;
};

// ---- The definitions above, in one place (AccuracyScorer and LiveAccuracy both use them) ----

inline constexpr int kAccuracyBuckets = 6;   // [0,3) [3,6) [6,10) [10,15) [15,20) [20,30) min
inline constexpr int kAccuracyWindows = 4;   // rows of the MBTA and Transit-app tables
// Labels ("0-3" ...) of the horizon buckets, MBTA rows (by predicted horizon) and Transit-app
// rows (by observed horizon).
const char* AccuracyBucketLabel(int bucket);
const char* MbtaWindowLabel(int row);
const char* TransitWindowLabel(int row);

// One prediction against its observed arrival.
struct ScoredPrediction {
  enum Outcome : uint8_t { kScored, kAfterArrival, kBeyond30Min } outcome = kScored;
  bool covers = false;       // horizon in [60, 1800] s: counts towards arrival coverage
  int8_t bucket = -1;        // horizon bucket (kScored only)
  int8_t mbta = -1;          // MBTA row by predicted horizon, -1 beyond 30 min
  int8_t transit = -1;       // Transit-app row by observed horizon, -1 from 15 min
  bool mbta_ok = false, transit_ok = false;
  bool has_interval = false, interval_ok = false;  // P10-P90 given / observed inside it
  double err_s = 0;          // observed - predicted
};
// p10/p90 kNoTime: no interval.
ScoredPrediction ScorePrediction(int64_t made_at_s, int64_t predicted_s, int64_t p10_s,
                                 int64_t p90_s, double observed_s);

// Running sums of one group of scored predictions (mergeable; `sign` -1 takes one back out).
struct AccuracySums {
  int64_t n = 0;
  double sum_s = 0, sum_abs_s = 0, sum_sq_s2 = 0;  // Σ error, Σ |error|, Σ error²
  int64_t mbta_n = 0, mbta_ok = 0, transit_n = 0, transit_ok = 0, interval_n = 0, interval_ok = 0;
  void Add(const ScoredPrediction& s, int sign = 1);
  AccuracySums& operator+=(const AccuracySums& o);
  // MAE, RMSE, bias and the three window shares (median_s stays NaN: sums cannot give it).
  AccuracyGroup Group(const std::string& label) const;
};

// Everything an AccuracyReport is made of, as sums: what LiveAccuracy keeps per route and hour
// and merges across shards. Medians are the only figure it cannot give.
struct AccuracyTally {
  int64_t rows = 0, scored = 0, unobserved = 0, after_arrival = 0, beyond_30min = 0;
  std::array<AccuracySums, kAccuracyBuckets> buckets;
  AccuracySums overall;
  std::array<AccuracySums, kNumPredictionSources> by_source;
  std::array<int64_t, kAccuracyWindows> mbta_n{}, mbta_ok{}, transit_n{}, transit_ok{};
  int64_t observed_arrivals = 0, arrivals_with_prediction_1_30min = 0;

  // A scored prediction's outcome (after_arrival / beyond_30min / scored with its figures);
  // `sign` -1 takes it back out. Does not count rows.
  void Add(const ScoredPrediction& s, PredictionSource source, int sign = 1);
  AccuracyTally& operator+=(const AccuracyTally& o);
  AccuracyReport Report() const;
};

class AccuracyScorer {
 public:
  // An observed arrival (first stops are ignored).
  void AddObserved(const StopVisit& visit);
  // Same, for tests and tools: the arrival of (trip, service_date, stop_index).
  void AddObserved(uint32_t trip, int32_t service_date, uint32_t stop_index, double arrival_s);
  void AddPrediction(const Prediction& p);
  AccuracyReport Compute() const;
  int64_t predictions() const { return static_cast<int64_t>(preds_.size()); }

 private:
  struct Key {
    uint32_t trip;
    int32_t service_date;
    uint32_t stop_index;
    bool operator==(const Key& o) const {
      return trip == o.trip && service_date == o.service_date && stop_index == o.stop_index;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.trip, k.service_date, k.stop_index);
    }
  };
  struct Stored {
    Key key;
    int64_t made_at_s;
    int64_t predicted_s;
    int64_t p10_s;
    int64_t p90_s;
    PredictionSource source;
  };
  struct Obs {
    double arrival_s;
    bool ambiguous;
  };
  absl::flat_hash_map<Key, Obs> observed_;
  std::vector<Stored> preds_;
};

// One JSON object (2-space indented) for a report: counts, buckets, overall, by_source, mbta,
// transitapp, coverage. Field names follow score.py's --json where they exist.
std::string AccuracyReportJson(const AccuracyReport& r);
// A human-readable table like score.py's.
std::string AccuracyReportTable(const AccuracyReport& r);

}  // namespace smartbus
