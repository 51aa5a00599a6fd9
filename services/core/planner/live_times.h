#pragma once
// What the journey planner needs to know about the live state of trips: predicted times (with
// their P10/P90), cancelled trips and skipped stops. The planner takes a LiveTimes provider and
// plugs it in per query; the server implements it over its published vehicle snapshots (and
// the GTFS-RT poller's cancellations), tests and tools over a plain list (LiveTripList).

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "services/core/common/mutex.h"
#include "services/core/gtfs/feed.h"

namespace smartbus::planner {

inline constexpr int64_t kNoLiveTime = INT64_MIN;

// A predicted stop of a trip. Times are epoch seconds.
struct LiveStop {
  uint32_t stop_index = 0;           // position of the stop in the trip (0-based)
  int64_t arrival_s = kNoLiveTime;   // predicted arrival (P50)
  int64_t departure_s = kNoLiveTime; // predicted departure; kNoLiveTime: arrival plus the
                                     // scheduled dwell
  int64_t p10_s = kNoLiveTime;       // 10th / 90th percentile of the arrival; kNoLiveTime: none
  int64_t p90_s = kNoLiveTime;
  bool skipped = false;              // the bus will not serve the stop (no boarding/alighting)
};

// The live state of one trip instance.
//
// Stops of the trip before the first listed one are taken as already served (the bus has left:
// no boarding there); stops after the last listed one keep the last listed stop's delay.
// A trip with no stops listed and not cancelled is left as scheduled.
struct LiveTrip {
  TripIdx trip = kNoIndex;    // GTFS trip index in the planner's network
  int32_t service_date = 0;   // YYYYMMDD
  bool cancelled = false;     // the whole trip will not run
  std::vector<LiveStop> stops;  // ascending stop_index
};

// A provider of live trip states. Thread safety: both methods may be called from any thread.
class LiveTimes {
 public:
  LiveTimes() : instance_(NextInstance()) {}
  virtual ~LiveTimes() = default;
  // Unique per provider object over the process lifetime (the planner's cache key, with
  // version(): a new provider at a reused address is not mistaken for an old one).
  uint64_t instance() const { return instance_; }
  // Increases whenever Snapshot would return something different (the planner rebuilds its
  // live index only then).
  virtual uint64_t version() const = 0;
  // The live trips now (replaces *out).
  virtual void Snapshot(std::vector<LiveTrip>* out) const = 0;

 private:
  static uint64_t NextInstance() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  const uint64_t instance_;
};

// A LiveTimes over a list set by its owner (tests, tools, the CLI).
class LiveTripList : public LiveTimes {
 public:
  void Set(std::vector<LiveTrip> trips) {
    MutexLock lock(mu_);
    trips_ = std::move(trips);
    ++version_;
  }
  uint64_t version() const override {
    MutexLock lock(mu_);
    return version_;
  }
  void Snapshot(std::vector<LiveTrip>* out) const override {
    MutexLock lock(mu_);
    *out = trips_;
  }

 private:
  mutable Mutex mu_;
  std::vector<LiveTrip> trips_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace smartbus::planner
