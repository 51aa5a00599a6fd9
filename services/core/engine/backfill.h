#pragma once
// Late fixes merged into the past (a terminal's blind-area upload, JT/T 808 0x0704): the live
// tracker rejects a fix older than the vehicle's newest one (out_of_order) and never moves a bus
// back; the Backfill fills the history that fix belongs to instead.
//
//   1. Hold: when an accepted fix follows the vehicle's previous one after more than hold_gap_s
//      (a signal loss) and completed stop visits, those visits were interpolated across the
//      gap. The Engine hands them to Hold() instead of emitting them, for up to hold_s of engine
//      clock.
//   2. Late fixes (AddLate) are kept per vehicle until Flush().
//   3. Flush(): late fixes inside a vehicle's held gap are gathered (an upload may come in
//      several messages). Once they cover the gap (no hole longer than hold_gap_s left), or
//      when the hold expires (hold_s), a separate Tracker (same network and options, its own
//      state) runs over the vehicle's remembered fixes (up to history_fixes, the gap's
//      neighbours included) and the gathered ones, in time order; its stop visits that arrive
//      inside the gap replace the held, interpolated ones. A hold that expires with nothing
//      gathered is released as it is. Late fixes outside a held gap only fill the position
//      history (their visits were emitted long ago).
// So every stop visit is emitted once, with the times the late fixes show when they came in
// time, and the live state (position, trip, predictions) never sees a late fix.
//
// Memory: history_fixes compact fixes (40 bytes) per vehicle. Cost on the per-fix path: one
// hash lookup and a copy into the vehicle's ring.
// Thread safety: not thread-safe (one per Engine).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/core/network/network.h"
#include "services/core/tracking/tracker.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct BackfillOptions {
  // Off: late fixes are rejected as out_of_order, nothing is held. Default off (replay sorts
  // its fixes, so nothing is late there); smartbusd turns it on (--backfill).
  bool enabled = false;
  // A gap longer than this between two accepted fixes of a vehicle holds the visits of the
  // second (s). Default 120: JT/T 808 terminals report every 10-30 s while driving, so 120 s
  // is several missed reports, not jitter.
  int64_t hold_gap_s = 120;
  // Held visits are released as they are after this much engine clock (s). Default 120: a
  // terminal uploads its blind-area reports right after it reconnects.
  int64_t hold_s = 120;
  // Accepted fixes remembered per vehicle for the backfill pass (the lead that lets the pass
  // find the trip). Default 120 (20 min at one fix per 10 s).
  int history_fixes = 120;
};

struct BackfillStats {
  int64_t late_fixes = 0;        // kept for a backfill
  int64_t holds = 0;             // gaps whose visits were held
  int64_t backfills = 0;         // holds whose visits were replaced by a backfill pass
  int64_t released = 0;          // holds released unchanged (no late fixes in time)
  int64_t visits_replaced = 0;   // held visits dropped ...
  int64_t visits_backfilled = 0; // ... and backfilled visits emitted instead
};

class Backfill {
 public:
  Backfill(std::shared_ptr<const Network> network, const TrackerOptions& tracker,
           const BackfillOptions& options);
  ~Backfill();

  // An accepted fix: remembered; returns the time of the vehicle's previous remembered fix
  // (0 when none).
  int64_t Remember(const Fix& fix);
  // A fix the tracker found out_of_order.
  void AddLate(const Fix& fix);
  // Holds *visits (completed by the fix at t_s after the gap since prev_s) at engine time now_s;
  // *visits is replaced by the visits of an older hold of the vehicle (released), if any.
  void Hold(const std::string& vehicle_id, int64_t prev_s, int64_t t_s, int64_t now_s,
            std::vector<StopVisit>* visits);
  // Runs the backfill passes due and releases expired holds (all holds when `all`), appending
  // the visits to emit to *out.
  void Flush(int64_t now_s, bool all, std::vector<StopVisit>* out);
  bool pending() const { return pending_late_ > 0 || held_ > 0; }
  const BackfillStats& stats() const { return stats_; }
  const BackfillOptions& options() const { return opt_; }

 private:
  struct Vehicle;
  // Moves the vehicle's new late fixes inside its held gap to its gap fixes (others: history
  // only).
  void Gather(Vehicle& v);
  // Whether the gap fixes leave no hole longer than hold_gap_s between the fixes around it.
  bool Covered(const Vehicle& v) const;
  // The separate tracker pass; appends its visits inside the gap to *out (false: none).
  bool Pass(const std::string& id, Vehicle& v, std::vector<StopVisit>* out);
  void EndHold(Vehicle& v);
  void List(const std::string& id, Vehicle& v);

  std::shared_ptr<const Network> net_;
  TrackerOptions tracker_opt_;
  BackfillOptions opt_;
  BackfillStats stats_;
  absl::flat_hash_map<std::string, std::unique_ptr<Vehicle>> vehicles_;
  std::vector<std::string> dirty_;  // vehicles with late fixes or a hold
  int64_t pending_late_ = 0;
  int64_t held_ = 0;
};

}  // namespace smartbus
