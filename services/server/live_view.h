#pragma once
// What queries read: immutable snapshots published by the tracking shards.
//
//   VehicleSnapshot  one vehicle after its newest fix: state, ids and its arrival predictions.
//                    Immutable; a shard publishes a new one per fix by swapping a shared_ptr.
//   VehicleSlot      the atomic pointer to a vehicle's current snapshot (stable address).
//   VehicleDirectory vehicle id -> slot, one per shard. Readers take a shared lock only for the
//                    lookup; the owning shard takes the exclusive lock only to add a vehicle.
//   StopSlot         per stop of the network: the vehicles with a prediction at the stop
//                    (copy-on-write list, swapped atomically) and when it last changed; the
//                    stop's version is computed from those stamps by the reader.
//   LiveView         the network plus its StopSlots and the service changes in force
//                    (cancellations, alerts); replaced as a whole on a GTFS reload.
//
// Readers never wait on the per-fix path: they load shared_ptrs and read immutable data.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "services/core/common/mutex.h"
#include "services/core/condition/condition.h"
#include "services/core/network/network.h"
#include "services/core/prediction/prediction.h"
#include "services/core/service_changes/service_changes.h"
#include "services/core/tracking/types.h"

namespace smartbus::server {

// One predicted arrival of a vehicle at a stop, compact (32 bytes): a snapshot holds one per
// downstream stop and is rewritten on every fix, so its size is the per-fix memory traffic.
// What the network knows (scheduled time, stop_sequence) and what follows from the vehicle's
// state (service date, distance, stops away) is looked up by the reader (arrivals.cc).
struct StopEta {
  static constexpr int32_t kNoOffset = INT32_MIN;
  int64_t predicted_arrival_s = 0;
  uint32_t stop = kNoIndex;
  TripIdx trip = kNoIndex;      // the vehicle's trip, or the next trip of its block
  uint32_t stop_index : 24;     // position of the stop in the trip
  uint32_t source : 8;          // PredictionSource
  int32_t p10_offset_s = kNoOffset;        // P10 - predicted arrival (kNoOffset: none)
  int32_t p90_offset_s = kNoOffset;        // P90 - predicted arrival
  int32_t departure_offset_s = kNoOffset;  // predicted departure - arrival (first stop only)

  StopEta() : stop_index(0), source(0) {}
  PredictionSource prediction_source() const { return static_cast<PredictionSource>(source); }
  int64_t p10_s() const { return Abs(p10_offset_s); }
  int64_t p90_s() const { return Abs(p90_offset_s); }
  int64_t predicted_departure_s() const { return Abs(departure_offset_s); }
  // kNoTime stays kNoTime; a time further than 2^31 s from the arrival is clamped.
  static int32_t Offset(int64_t t, int64_t from) {
    if (t == kNoTime) return kNoOffset;
    return static_cast<int32_t>(std::clamp<int64_t>(t - from, INT32_MIN + 1, INT32_MAX));
  }

 private:
  int64_t Abs(int32_t off) const {
    return off == kNoOffset ? kNoTime : predicted_arrival_s + off;
  }
};
static_assert(sizeof(StopEta) == 32, "StopEta is rewritten per fix: keep it small");

// A monotonic stamp of a change (steady clock, ns): versions are maxima of stamps.
inline uint64_t ChangeStamp() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct VehicleSnapshot {
  uint64_t stamp = 0;  // ChangeStamp() when published
  std::shared_ptr<const Network> network;  // the network the indices below refer to
  VehicleState state;
  bool has_condition = false;  // the vehicle's terminal reported its condition
  BusCondition condition;
  std::vector<StopEta> etas;  // in the order the vehicle reaches the stops; service date:
                              // state.service_date
};

struct VehicleSlot {
  std::atomic<std::shared_ptr<const VehicleSnapshot>> snapshot;
};

class VehicleDirectory {
 public:
  // nullptr when unknown.
  std::shared_ptr<VehicleSlot> Find(absl::string_view vehicle_id) const {
    ReaderLock lock(mu_);
    auto it = slots_.find(vehicle_id);
    return it == slots_.end() ? nullptr : it->second;
  }
  // The slot of a vehicle, created when new (owning shard only).
  std::shared_ptr<VehicleSlot> GetOrAdd(const std::string& vehicle_id) {
    {
      ReaderLock lock(mu_);
      auto it = slots_.find(vehicle_id);
      if (it != slots_.end()) return it->second;
    }
    WriterLock lock(mu_);
    auto& s = slots_[vehicle_id];
    if (!s) s = std::make_shared<VehicleSlot>();
    return s;
  }
  // Current snapshots of every vehicle (unordered).
  void Collect(std::vector<std::shared_ptr<const VehicleSnapshot>>* out) const {
    ReaderLock lock(mu_);
    for (const auto& [id, slot] : slots_) {
      auto s = slot->snapshot.load(std::memory_order_acquire);
      if (s) out->push_back(std::move(s));
    }
  }
  size_t size() const {
    ReaderLock lock(mu_);
    return slots_.size();
  }

 private:
  mutable SharedMutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<VehicleSlot>> slots_ ABSL_GUARDED_BY(mu_);
};

// Raw pointers: a VehicleSlot lives as long as its directory (vehicles are never removed from
// one, and the server outlives every view), so registering a vehicle at a stop copies no
// reference counts.
using SlotList = std::vector<const VehicleSlot*>;

struct StopSlot {
  std::atomic<std::shared_ptr<const SlotList>> vehicles{std::make_shared<const SlotList>()};
  // ChangeStamp() of the newest change to `vehicles` (a vehicle added or removed).
  std::atomic<uint64_t> membership_stamp{0};
  // Serializes the writers (shards) of `vehicles` (AddVehicle, RemoveVehicle: load, copy, store);
  // readers load the atomic and never take it, so `vehicles` cannot be ABSL_GUARDED_BY it.
  Mutex write_mu;
};

struct LiveView {
  explicit LiveView(std::shared_ptr<const Network> n)
      : network(std::move(n)),
        stops(network->feed().stops.size()),
        watchers_(new std::atomic<int32_t>[stops.size()]()) {}
  std::shared_ptr<const Network> network;
  std::vector<StopSlot> stops;  // indexed by stop index of `network`
  // The service changes in force (cancelled trips, skipped stops, alerts), by string ids; the
  // server's ServiceChangeKeeper swaps a new snapshot in on every edit (and into a new view on
  // a reload). Never null.
  std::atomic<std::shared_ptr<const ServiceChangeSet>> service_changes{
      std::make_shared<const ServiceChangeSet>()};
  std::shared_ptr<const ServiceChangeSet> changes() const {
    return service_changes.load(std::memory_order_acquire);
  }

  // The version of a stop's live predictions: increases whenever one of them changes (a vehicle
  // registered at the stop publishes, or one is added or removed). The maximum of change stamps,
  // computed by the reader, so the per-fix path writes nothing per predicted stop. A service
  // change (any stop) also moves every stop's version: boards show cancellations and alerts.
  uint64_t StopVersion(uint32_t stop) const {
    const StopSlot& s = stops[stop];
    auto list = s.vehicles.load(std::memory_order_acquire);
    uint64_t v = std::max(s.membership_stamp.load(std::memory_order_acquire),
                          changes()->version());
    for (const VehicleSlot* slot : *list) {
      auto snap = slot->snapshot.load(std::memory_order_acquire);
      if (snap) v = std::max(v, snap->stamp);
    }
    return v;
  }

  void AddVehicle(uint32_t stop, const VehicleSlot* slot) {
    StopSlot& s = stops[stop];
    MutexLock lock(s.write_mu);
    auto cur = s.vehicles.load(std::memory_order_acquire);
    auto next = std::make_shared<SlotList>();
    next->reserve(cur->size() + 1);
    next->assign(cur->begin(), cur->end());
    next->push_back(slot);
    s.membership_stamp.store(ChangeStamp(), std::memory_order_release);
    s.vehicles.store(std::move(next), std::memory_order_release);
  }
  void RemoveVehicle(uint32_t stop, const VehicleSlot* slot) {
    StopSlot& s = stops[stop];
    MutexLock lock(s.write_mu);
    auto cur = s.vehicles.load(std::memory_order_acquire);
    auto next = std::make_shared<SlotList>();
    next->reserve(cur->size());
    for (const VehicleSlot* v : *cur)
      if (v != slot) next->push_back(v);
    // Stamped before the list changes: a reader that sees the list without the vehicle also
    // sees a membership stamp newer than the vehicle's snapshot (StopVersion never goes back).
    s.membership_stamp.store(ChangeStamp(), std::memory_order_release);
    s.vehicles.store(std::move(next), std::memory_order_release);
  }

  // Display boards watching a stop (WatchArrivals). Kept apart from StopSlot, dense, and with a
  // total, because the per-fix path asks "is any of these stops watched?".
  void Watch(uint32_t stop) {
    watchers_[stop].fetch_add(1, std::memory_order_relaxed);
    total_watchers_.fetch_add(1, std::memory_order_relaxed);
  }
  void Unwatch(uint32_t stop) {
    watchers_[stop].fetch_sub(1, std::memory_order_relaxed);
    total_watchers_.fetch_sub(1, std::memory_order_relaxed);
  }
  bool AnyWatched() const { return total_watchers_.load(std::memory_order_relaxed) > 0; }
  bool Watched(uint32_t stop) const {
    return watchers_[stop].load(std::memory_order_relaxed) > 0;
  }

 private:
  std::unique_ptr<std::atomic<int32_t>[]> watchers_;
  std::atomic<int32_t> total_watchers_{0};
};

}  // namespace smartbus::server
