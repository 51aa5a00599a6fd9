#pragma once
// Plugs the prediction stage (services/core/prediction) into the Engine as a listener: stop
// visits feed the predictor's learning and the accuracy scorers, each vehicle update produces
// that vehicle's predictions (and the baselines', when the harness scores them).
// Not thread-safe (one per Engine). The harness is not owned and must outlive the listener.

#include "services/core/engine/engine.h"
#include "services/core/prediction/harness.h"

namespace smartbus {

class PredictionListener : public EngineListener {
 public:
  explicit PredictionListener(PredictionHarness* harness) : harness_(harness) {}
  void OnStopVisit(const StopVisit& visit) override { harness_->OnStopVisit(visit); }
  void OnVehicleUpdate(const VehicleState& state) override { harness_->OnVehicleUpdate(state); }

 private:
  PredictionHarness* harness_;
};

}  // namespace smartbus
