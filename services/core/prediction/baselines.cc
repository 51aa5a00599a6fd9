#include "services/core/prediction/baselines.h"

#include <cmath>

#include "services/core/prediction/trip_view.h"

namespace smartbus {
namespace {

using prediction_internal::TripView;

bool Predictable(const VehicleState& s) {
  return s.trip != kNoIndex &&
         (s.state == MatchState::kInService || s.state == MatchState::kLayover);
}

}  // namespace

// delay_s added to every scheduled arrival (0 for the schedule baseline).
void BaselinePredictor::Predict(const VehicleState& s, std::vector<Prediction>* out) {
  const Network& net = *network_;
  const bool propagate = propagate_;
  const PredictionSource source = propagate ? PredictionSource::kOba : PredictionSource::kSchedule;
  const int64_t max_horizon_s = options_.max_horizon_s;
  out->clear();
  if (!Predictable(s)) return;
  TripView tv;
  if (!tv.Init(net, s.trip, s.day_start_s)) return;
  const int64_t now = s.timestamp_s;
  const bool has_pos = std::isfinite(s.dist_along_m);
  const double d = has_pos ? s.dist_along_m : -1.0;
  double delay = 0;
  if (propagate && has_pos) {
    delay = static_cast<double>(now) - tv.ScheduledAt(d);
    if (now < tv.dep(0) && delay < 0) delay = 0;
  }
  for (uint32_t k = has_pos ? tv.FirstStopAfter(d) : 0; k < tv.n; ++k) {
    const int64_t pred = std::llround(static_cast<double>(tv.arr(k)) + delay);
    if (pred > now + max_horizon_s) continue;
    Prediction& p = out->emplace_back();
    p.made_at_s = now;
    p.vehicle_id = s.vehicle_id;
    p.trip = s.trip;
    p.service_date = s.service_date;
    p.stop = tv.pattern->stops[k];
    p.stop_index = k;
    p.stop_sequence = tv.st[k].stop_sequence;
    p.scheduled_arrival_s = tv.arr(k);
    p.predicted_arrival_s = pred;
    p.p10_s = p.p90_s = kNoTime;
    p.predicted_departure_s = kNoTime;
    p.source = source;
  }
}

}  // namespace smartbus
