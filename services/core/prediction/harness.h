#pragma once
// The accuracy harness run by `smartbus replay --predictions --report`: SmartBus's predictor and
// the two baselines fed with the same tracker output, each scored by its own AccuracyScorer
// against the stop visits observed later in the trace; the SmartBus predictions go to a sink
// (e.g. services/files' PredictionsCsvWriter). Hook OnStopVisit/OnVehicleUpdate to the Engine's listener calls (same
// names), in the engine's order (visits of a fix before its vehicle update).

#include <functional>
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
  // The settings of the tracker whose states the harness is fed (the engine's
  // EngineOptions::tracker); the predictor follows them (LayeredPredictor's constructor).
  TrackerOptions tracker;
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

  // Hands every SmartBus prediction to `sink` from now on (replaces the previous one).
  void SendPredictionsTo(std::function<void(const Prediction&)> sink) { sink_ = std::move(sink); }
  void OnStopVisit(const StopVisit& visit);
  void OnVehicleUpdate(const VehicleState& state);

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
  std::function<void(const Prediction&)> sink_;
  std::vector<Prediction> buf_;
  int64_t predictions_made_ = 0;
};

}  // namespace smartbus
