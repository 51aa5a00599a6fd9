#pragma once
// Arrival predictions: one Prediction = one Predictions CSV row (../shared/FORMATS.md) plus what
// a passenger board needs (scheduled time, service date, stop position in the trip).
// ArrivalPredictor is the interface every prediction method implements (SmartBus's own layered
// predictor and the two reference baselines), so the accuracy harness treats them alike.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/core/network/network.h"
#include "services/core/tracking/types.h"

namespace smartbus {

inline constexpr int64_t kNoTime = INT64_MIN;

// Which layer produced a prediction (the `source` column).
enum class PredictionSource : uint8_t {
  kSchedule,  // "schedule": scheduled running times only
  kHistory,   // "history": learned segment running times (earlier traversals, time of day)
  kLive,      // "live": running times of the buses just ahead (traversals in the last 30 min)
  kOba,       // "oba": OneBusAway-style delay propagation (baseline)
};
inline constexpr int kNumPredictionSources = 4;
absl::string_view PredictionSourceName(PredictionSource s);

// A trip instance (a trip on a service date) as a hash map key.
struct TripInstanceKey {
  uint32_t trip;
  int32_t service_date;
  bool operator==(const TripInstanceKey&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const TripInstanceKey& k) {
    return H::combine(std::move(h), k.trip, k.service_date);
  }
};

struct Prediction {
  int64_t made_at_s = 0;          // epoch s: the fix time the prediction was made at
  std::string vehicle_id;
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;       // YYYYMMDD of the trip instance
  uint32_t stop = kNoIndex;
  uint32_t stop_index = 0;        // 0-based position of the stop in the trip
  uint32_t stop_sequence = 0;     // GTFS stop_sequence
  int64_t scheduled_arrival_s = 0;
  int64_t predicted_arrival_s = 0;
  int64_t p10_s = kNoTime;        // 10th / 90th percentile of the arrival; kNoTime when none
  int64_t p90_s = kNoTime;
  // Only at a trip's first stop (stop_index 0): when the bus leaves. kNoTime elsewhere.
  int64_t predicted_departure_s = kNoTime;
  PredictionSource source = PredictionSource::kSchedule;
};

// A prediction method. Not thread-safe: one instance per engine shard.
class ArrivalPredictor {
 public:
  virtual ~ArrivalPredictor() = default;
  virtual absl::string_view name() const = 0;
  // A stop visit the tracker observed (learning input). Default: ignored.
  virtual void ObserveVisit(const StopVisit& visit) { (void)visit; }
  // Replaces *out with the predictions for the vehicle's downstream stops (horizon up to the
  // predictor's limit) given its newest state. Vehicles not in service or layover on a trip get
  // none. `out` keeps its capacity: no allocation per fix once it has grown.
  virtual void Predict(const VehicleState& state, std::vector<Prediction>* out) = 0;
};

// The Predictions CSV (one row per prediction; services/files/csv_files.h writes the file):
// made_at,vehicle_id,trip_id,stop_id,stop_sequence,predicted_arrival,p10,p90,source,predicted_departure
// Appends one CSV row (with trailing newline) to *out.
void AppendPredictionCsvRow(const Network& network, const Prediction& p, std::string* out);
inline constexpr absl::string_view kPredictionsCsvHeader =
    "made_at,vehicle_id,trip_id,stop_id,stop_sequence,predicted_arrival,p10,p90,source,"
    "predicted_departure\n";

}  // namespace smartbus
