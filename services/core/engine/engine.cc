#include "services/core/engine/engine.h"

namespace smartbus {

Engine::Engine(std::shared_ptr<const Network> network, const EngineOptions& options)
    : network_(network), options_(options), tracker_(network, options.tracker) {
  visits_.reserve(64);
}

void Engine::Process(const Fix& fix) {
  visits_.clear();
  int64_t now = clock_s_;
  if (options_.clock_mode == ClockMode::kFixes) {
    if (!clock_set_) {
      now = fix.timestamp_s;
    } else if (fix.timestamp_s > clock_s_ &&
               fix.timestamp_s - clock_s_ <= options_.max_clock_jump_s) {
      now = fix.timestamp_s;
    } else if (fix.timestamp_s > clock_s_) {
      // Too far ahead: let the tracker reject it against the current clock.
      now = clock_s_ + options_.max_clock_jump_s - options_.tracker.rejection.future_tolerance_s;
    }
  }
  const VehicleState* state = tracker_.Process(fix, now, &match_, &visits_);
  if (options_.clock_mode == ClockMode::kFixes && match_.state != MatchState::kRejected &&
      (!clock_set_ || fix.timestamp_s > clock_s_)) {
    clock_s_ = fix.timestamp_s;
    clock_set_ = true;
  }
  for (EngineListener* l : listeners_) {
    for (const StopVisit& v : visits_) l->OnStopVisit(v);
    l->OnMatch(match_);
    if (state) l->OnVehicleUpdate(*state);
  }
}

}  // namespace smartbus
