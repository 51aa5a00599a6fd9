#pragma once
// The accuracy harness run by `smartbus replay --predictions --report`: SmartBus's predictor and
// the two baselines fed with the same tracker output, each scored by its own AccuracyScorer
// against the stop visits observed later in the trace; the SmartBus predictions are written to
// the Predictions CSV. Hook OnStopVisit/OnVehicleUpdate to the Engine's listener calls (same
// names), in the engine's order (visits of a fix before its vehicle update).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/core/prediction/baselines.h"
#include "services/core/prediction/predictor.h"
#include "services/core/prediction/scorer.h"

namespace smartbus {

struct PredictionHarnessOptions {
  PredictorOptions predictor;
  BaselineOptions baselines;
  // Run and score the schedule and delay-propagation baselines too. Default true.
  bool baselines_enabled = true;
  // Score predictions (keeps every prediction in memory until the report). Default true.
  bool score = true;
};

class PredictionHarness {
 public:
  PredictionHarness(std::shared_ptr<const Network> network,
                    const PredictionHarnessOptions& options = {});
  LayeredPredictor& predictor() { return predictor_; }

  // Writes SmartBus's predictions to this file (Predictions CSV) from now on.
  absl::Status OpenPredictionsCsv(const std::string& path);
  void OnStopVisit(const StopVisit& visit);
  void OnVehicleUpdate(const VehicleState& state);
  absl::Status Close();  // flushes the CSV

  // The reports: "smartbus", "schedule", "oba" (the last two when baselines are enabled).
  std::vector<std::pair<std::string, AccuracyReport>> Reports() const;
  // {"smartbus": {...}, "baselines": {"schedule": {...}, "oba": {...}}, "predictions": N}
  std::string ReportJson() const;
  int64_t predictions_made() const { return predictions_made_; }

 private:
  std::shared_ptr<const Network> network_;
  PredictionHarnessOptions options_;
  LayeredPredictor predictor_;
  SchedulePredictor schedule_;
  DelayPropagationPredictor oba_;
  AccuracyScorer score_main_, score_schedule_, score_oba_;
  PredictionCsvWriter csv_;
  bool csv_open_ = false;
  std::vector<Prediction> buf_;
  int64_t predictions_made_ = 0;
};

}  // namespace smartbus
