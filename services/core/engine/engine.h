#pragma once
// The Engine: runs the per-fix pipeline (tracker now; the predictor plugs in as another stage)
// single-threaded. `smartbus replay` runs one Engine over a recorded file; the server runs one
// Engine per shard (all fixes of a vehicle go to the same shard). No gRPC, no Redis here.
//
// Per fix, Process() runs the Tracker, then calls every listener, in the order they were added:
//   OnStopVisit(v)       for each stop visit this fix completed (in stop order),
//   OnMatch(m)           exactly once per fix (rejected fixes too),
//   OnVehicleUpdate(s)   once per fix that has a vehicle (not for an empty vehicle id),
//                        after OnMatch; for a rejected fix `s` is the unchanged state.
// A predictor is a listener: it reads VehicleState/StopVisit and emits its own output.
//
// Clock: with ClockMode::kFixes (replay, smartbusd --clock=fixes), the engine clock is the newest
// accepted fix time, but one vehicle cannot drag it far: a fix more than clock_step_s ahead of
// the clock is rejected as future_timestamp until clock_quorum distinct vehicles (or every
// vehicle seen so far, when fewer) have reported beyond clock + clock_step_s; the clock then
// moves to the earliest of their times. A fix more than max_clock_jump_s ahead is always
// future_timestamp (a bogus date in a file), unless it is the very first.
// With ClockMode::kExternal (server), SetClock() sets it.
//
// Late fixes: with options.backfill.enabled, a fix older than its vehicle's newest one is kept
// and merged into the past by FlushLate() (backfill.h): visits of a signal gap are held until
// the late fixes of that gap came in (or hold_s passed) and are then emitted once.
//
// Thread safety: not thread-safe. Listeners are not owned and must outlive the Engine.
// Allocation: Process allocates nothing per fix once buffers have grown (see Tracker).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "services/core/engine/backfill.h"
#include "services/core/network/network.h"
#include "services/core/tracking/tracker.h"
#include "services/core/tracking/types.h"

namespace smartbus {

class EngineListener {
 public:
  virtual ~EngineListener() = default;
  virtual void OnStopVisit(const StopVisit& visit) { (void)visit; }
  virtual void OnMatch(const MatchResult& match) { (void)match; }
  virtual void OnVehicleUpdate(const VehicleState& state) { (void)state; }
};

enum class ClockMode : uint8_t { kFixes, kExternal };

struct EngineOptions {
  TrackerOptions tracker;
  // Default: kFixes (replay).
  ClockMode clock_mode = ClockMode::kFixes;
  // kFixes: a fix this far ahead of the clock is future_timestamp (s). Default 6 h.
  int64_t max_clock_jump_s = 6 * 3600;
  // kFixes: how far one vehicle alone may move the clock ahead (s). Default 1 h: a whole fleet
  // silent for longer than that is a break in service (the night), after which the first
  // clock_quorum vehicles agree on the new time. A lone unit with a wrong clock moves nothing.
  int64_t clock_step_s = 3600;
  // kFixes: distinct vehicles needed to move the clock by more than clock_step_s. Default 3.
  int clock_quorum = 3;
  // Late fixes merged into the past (backfill.h). Default off.
  BackfillOptions backfill;
};

class Engine {
 public:
  Engine(std::shared_ptr<const Network> network, const EngineOptions& options = {});

  void AddListener(EngineListener* listener) { listeners_.push_back(listener); }
  // kExternal clock: the current time (epoch s).
  void SetClock(int64_t now_s) { clock_s_ = now_s; }
  int64_t clock_s() const { return clock_s_; }

  // Runs the pipeline on one fix; the results are also kept until the next call.
  void Process(const Fix& fix);
  const MatchResult& last_match() const { return match_; }
  // Whether the last Process()ed fix was late (out_of_order) and kept for a backfill: it fills
  // the history (store it) but changed nothing live.
  bool last_fix_backfilled() const { return last_late_; }
  // Runs the backfills due and releases expired held visits (backfill.h), calling the
  // listeners' OnStopVisit for each visit (`all`: release every hold, e.g. at the end of a
  // replay or at shutdown). Process() already runs it (not `all`) after every fix. No-op
  // unless backfill is enabled.
  void FlushLate(bool all = false);
  const BackfillStats* backfill_stats() const { return backfill_ ? &backfill_->stats() : nullptr; }
  const std::vector<StopVisit>& last_visits() const { return visits_; }

  const Tracker& tracker() const { return tracker_; }
  const Network& network() const { return *network_; }
  std::shared_ptr<const Network> network_ptr() const { return network_; }

 private:
  std::shared_ptr<const Network> network_;
  EngineOptions options_;
  Tracker tracker_;
  std::vector<EngineListener*> listeners_;
  // kFixes: the clock a fix is processed against (and, through the quorum, the new clock).
  int64_t FixesClock(const Fix& fix);

  int64_t clock_s_ = 0;
  bool clock_set_ = false;
  // kFixes: vehicles that reported beyond clock + clock_step_s, with their newest such time.
  std::vector<std::pair<std::string, int64_t>> ahead_;
  MatchResult match_;
  std::vector<StopVisit> visits_;
  // Backfill bookkeeping of a processed fix at engine time now_s (remember, hold the visits of
  // a gap, keep a late fix).
  void TrackLate(const Fix& fix, int64_t now_s);
  std::unique_ptr<Backfill> backfill_;  // when options_.backfill.enabled
  bool last_late_ = false;
  std::vector<StopVisit> late_visits_;
};

}  // namespace smartbus
