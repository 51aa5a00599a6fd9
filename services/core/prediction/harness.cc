#include "services/core/prediction/harness.h"

#include "nlohmann/json.hpp"

namespace smartbus {

PredictionHarness::PredictionHarness(std::shared_ptr<const Network> network,
                                     const PredictionHarnessOptions& options)
    : network_(network),
      options_(options),
      predictor_(network, options.predictor, options.tracker),
      schedule_(network, options.baselines),
      oba_(network, options.baselines) {}

void PredictionHarness::OnStopVisit(const StopVisit& visit) {
  predictor_.ObserveVisit(visit);
  if (options_.score) {
    score_main_.AddObserved(visit);
    if (options_.baselines_enabled) {
      score_schedule_.AddObserved(visit);
      score_oba_.AddObserved(visit);
    }
  }
}

void PredictionHarness::OnVehicleUpdate(const VehicleState& state) {
  predictor_.Predict(state, &buf_);
  predictions_made_ += static_cast<int64_t>(buf_.size());
  for (const Prediction& p : buf_) {
    if (sink_) sink_(p);
    if (options_.score) score_main_.AddPrediction(p);
  }
  if (options_.baselines_enabled && options_.score) {
    schedule_.Predict(state, &buf_);
    for (const Prediction& p : buf_) score_schedule_.AddPrediction(p);
    oba_.Predict(state, &buf_);
    for (const Prediction& p : buf_) score_oba_.AddPrediction(p);
  }
}

std::vector<std::pair<std::string, AccuracyReport>> PredictionHarness::Reports() const {
  std::vector<std::pair<std::string, AccuracyReport>> out;
  out.emplace_back("smartbus", score_main_.Compute());
  if (options_.baselines_enabled) {
    out.emplace_back("schedule", score_schedule_.Compute());
    out.emplace_back("oba", score_oba_.Compute());
  }
  return out;
}

std::string PredictionHarness::ReportJson() const {
  nlohmann::json j;
  for (const auto& [name, r] : Reports()) {
    nlohmann::json one = nlohmann::json::parse(AccuracyReportJson(r));
    if (name == "smartbus") {
      j["smartbus"] = std::move(one);
    } else {
      j["baselines"][name] = std::move(one);
    }
  }
  j["predictions"] = predictions_made_;
  j["model"] = {{"segments_learned", predictor_.segments_learned()},
                {"errors_observed", predictor_.errors_observed()}};
  return j.dump(2);
}

}  // namespace smartbus
