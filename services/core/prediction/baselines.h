#pragma once
// The two reference methods the accuracy harness reports next to SmartBus's own predictor
// (same definitions as ../shared/tools/baselines.py):
//   SchedulePredictor:         predicted arrival = scheduled arrival.
//   DelayPropagationPredictor: OneBusAway-style: delay = now - scheduled time interpolated at the
//     bus's distance along its trip (between the bracketing stops' departure and arrival); every
//     downstream stop gets scheduled arrival + delay. Before the trip's scheduled departure from
//     its first stop a negative delay counts as zero (the bus is assumed to leave on time).
// Both predict every stop beyond the bus's distance along (all stops while it has no position on
// the trip yet) whose prediction is at most max_horizon_s ahead; no P10/P90.

#include <memory>

#include "services/core/prediction/prediction.h"

namespace smartbus {

struct BaselineOptions {
  // Stops predicted more than this after the fix are left out (s). Default 3600 (FORMATS.md).
  int64_t max_horizon_s = 3600;
};

// Both baselines: one loop, `propagate` says whether the bus's delay is carried downstream.
class BaselinePredictor : public ArrivalPredictor {
 public:
  absl::string_view name() const override { return propagate_ ? "oba" : "schedule"; }
  void Predict(const VehicleState& state, std::vector<Prediction>* out) override;

 protected:
  BaselinePredictor(std::shared_ptr<const Network> network, const BaselineOptions& options,
                    bool propagate)
      : network_(std::move(network)), options_(options), propagate_(propagate) {}

 private:
  std::shared_ptr<const Network> network_;
  BaselineOptions options_;
  bool propagate_;
};

class SchedulePredictor : public BaselinePredictor {
 public:
  SchedulePredictor(std::shared_ptr<const Network> network,
                    const BaselineOptions& options = {})
      : BaselinePredictor(std::move(network), options, false) {}
};

class DelayPropagationPredictor : public BaselinePredictor {
 public:
  DelayPropagationPredictor(std::shared_ptr<const Network> network,
                            const BaselineOptions& options = {})
      : BaselinePredictor(std::move(network), options, true) {}
};

}  // namespace smartbus
