#pragma once
// A tracking shard: owns the Engine (tracker) and the LayeredPredictor of the vehicles whose id
// hashes to it, and one worker thread that is the only one touching them. Ingest hands it
// fixes through a bounded queue (capacity counted in fixes; TryReserve is the back-pressure
// point). Per fix the worker runs the engine, the predictor, publishes the vehicle's snapshot
// (live_view.h), queues the changes for the store (write-behind), and when the last part of an
// IngestJob is done, calls the job's completion (which answers the RPC).
//
// Learning across shards: every stop visit a shard observes is also sent to the other shards'
// predictors, so each predictor learns from the whole fleet (with one shard this is exactly the
// engine + predictor sequence of `smartbus replay`).
//
// Thread safety: Submit*/TryReserve/stats may be called from any thread; everything else runs on
// the worker (RunOnShard gives control code a turn there).

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/core/common/mutex.h"
#include "services/core/condition/condition.h"
#include "services/core/engine/engine.h"
#include "services/core/paths/path_learner.h"
#include "services/core/prediction/live_accuracy.h"
#include "services/core/prediction/predictor.h"
#include "services/server/live_view.h"
#include "services/store/store_writer.h"

namespace smartbus::server {

// The clock queries and the wall-clock engine use. kFixes: the newest accepted fix time.
class ServerClock {
 public:
  explicit ServerClock(bool follow_fixes) : follow_fixes_(follow_fixes) {}
  bool follows_fixes() const { return follow_fixes_; }
  int64_t Now() const {
    return follow_fixes_ ? newest_fix_s_.load(std::memory_order_relaxed)
                         : absl::ToUnixSeconds(absl::Now());
  }
  void ObserveFix(int64_t t) {
    int64_t cur = newest_fix_s_.load(std::memory_order_relaxed);
    while (t > cur && !newest_fix_s_.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
    }
  }

 private:
  const bool follow_fixes_;
  std::atomic<int64_t> newest_fix_s_{0};
};

// Proto RejectReason numbers (ingest.proto); 1..6 equal the engine's RejectReason.
enum IngestReason : uint8_t {
  kAccepted = 0,
  kReasonInvalidField = 7,
  kReasonOverloaded = 8,
  kReasonTooManyVehicles = 9,
};

// One ingest request in flight: filled by the gRPC thread, processed by the shards.
struct IngestJob {
  std::vector<Fix> fixes;
  std::vector<uint8_t> reason;        // per fix: 0 accepted, else proto RejectReason number
  std::vector<std::string> detail;    // per fix, human-readable reason ("" when accepted)
  std::vector<std::vector<uint32_t>> by_shard;  // fix indices per shard
  std::atomic<int> parts{0};          // shards still to finish
  std::function<void(IngestJob&)> on_done;  // runs once, on the thread finishing the last part
};

struct ShardOptions {
  // Fixes the queue holds at most. Default 50,000.
  size_t queue_capacity = 50000;
  EngineOptions engine;
  PredictorOptions predictor;
  // Each vehicle's latest state is written to the store at most this often. Default 1 s.
  absl::Duration vehicle_flush_interval = absl::Seconds(1);
  // Shard 0 writes the learned model this often (and at shutdown). Default 60 s.
  absl::Duration model_save_interval = absl::Seconds(60);
  // Vehicles this shard tracks at most; a fix of one more new vehicle is rejected
  // (REJECT_REASON_TOO_MANY_VEHICLES). Tracking costs ~4.6 KB per vehicle (100,000 ids measured
  // +456 MB), so the default 25,000 per shard bounds it near 115 MB. Default 25,000.
  size_t max_vehicles = 25000;
  // Bus condition from terminal reports (its time zone is set to the network's).
  ConditionOptions condition;
  // Live accuracy: the predictions published scored against the arrivals observed
  // (live_accuracy.h; GetPredictionAccuracy).
  LiveAccuracyOptions accuracy;
};

class Shard;

// What the shards share with the server.
struct ShardShared {
  StoreWriter* writer = nullptr;
  ServerClock* clock = nullptr;
  std::atomic<std::shared_ptr<LiveView>> view;
  std::function<void()> poke_watchers;  // a watched stop changed
  std::vector<Shard*> shards;
  std::atomic<uint64_t> stop_visits{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> overloaded{0};
  // Rejected fixes by proto RejectReason number (validation and tracker; /metrics).
  std::array<std::atomic<uint64_t>, 16> rejected_by_reason{};
  // Arrival predictions published (one per stop ahead per vehicle update; /metrics).
  std::atomic<uint64_t> predictions{0};
  std::atomic<uint64_t> alarm_events{0};  // alarms raised or cleared
  // Learns the paths of the current network's patterns without shapes (every shard's engine
  // feeds it; replaced with the network on a reload). Null: no learning.
  std::atomic<std::shared_ptr<PathLearner>> paths;
};

inline constexpr const char* kModelName = "predictor";

// The shard (of `shards`) a vehicle's fixes go to.
inline size_t ShardIndexOf(absl::string_view vehicle_id, size_t shards) {
  return absl::Hash<absl::string_view>()(vehicle_id) % shards;
}

class Shard {
 public:
  Shard(int index, ShardShared* shared, std::shared_ptr<const Network> network,
        const ShardOptions& options);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  void Start();
  // Processes what is queued, writes dirty vehicle records (and the model, shard 0), stops.
  void Stop();

  // Reserves room for n fixes; false when the queue is full (back-pressure).
  bool TryReserve(size_t n);
  // Processes job->by_shard[index()] (room reserved with TryReserve).
  void SubmitFixes(std::shared_ptr<IngestJob> job);
  // Stop visits another shard observed (learning input for this shard's predictor).
  void SubmitVisits(std::shared_ptr<const Network> network,
                    std::shared_ptr<const std::vector<StopVisit>> visits);
  // Runs fn on the worker, after what is queued; the future-less fire-and-forget form.
  void RunOnShard(std::function<void(Shard&)> fn);
  // Runs fn on the worker and waits for it.
  void RunOnShardAndWait(std::function<void(Shard&)> fn);

  int index() const { return index_; }
  VehicleDirectory& directory() { return directory_; }
  const VehicleDirectory& directory() const { return directory_; }
  size_t queued() const { return queued_.load(std::memory_order_relaxed); }
  size_t capacity() const { return options_.queue_capacity; }
  uint64_t processed() const { return processed_.load(std::memory_order_relaxed); }

  // --- Worker-only (call through RunOnShard) ---
  // Replays fixes through the engine and predictor without writing to the store (recovery
  // after a restart, or a GTFS reload). Fixes must be in time order per vehicle.
  void Warmup(const std::vector<Fix>& fixes);
  std::string SerializeModel() const { return predictor_->Serialize(); }
  absl::Status LoadModel(const std::string& bytes) {
    absl::Status s = predictor_->Deserialize(bytes);
    segments_learned_.store(predictor_->segments_learned(), std::memory_order_relaxed);
    return s;
  }
  // Segments the predictor has learned, as of the worker's last periodic update (any thread).
  int64_t segments_learned() const { return segments_learned_.load(std::memory_order_relaxed); }
  // Replaces engine and predictor with ones on `network` (the model carried over by bytes);
  // vehicles are re-registered into `view` as their next fixes (or a Warmup) arrive.
  absl::Status SwitchNetwork(std::shared_ptr<const Network> network,
                             std::shared_ptr<LiveView> view);
  // Predicts again and publishes every vehicle the tracker knows (after LoadModel).
  void RepublishAll();
  // Publishes a stored vehicle state the tracker has no fixes for (recovery): the vehicle is
  // listed (GetVehicle, fleet) until its next fix; no predictions. No-op for a known vehicle.
  void Restore(const VehicleRecord& record);
  // The accuracy of this shard's published predictions (any thread: it locks).
  const LiveAccuracy& accuracy() const { return accuracy_; }
  // Ids of the vehicles this shard tracks.
  std::vector<std::string> VehicleIds() const;
  // Enqueues the latest state of every vehicle changed since the last flush (all when `all`).
  void FlushVehicles(bool all);
  void SaveModel();

 private:
  struct Item {
    std::shared_ptr<IngestJob> job;
    std::shared_ptr<const Network> visits_network;
    std::shared_ptr<const std::vector<StopVisit>> visits;
    std::function<void(Shard&)> fn;
  };
  struct VehicleEntry {
    std::shared_ptr<VehicleSlot> slot;
    // The snapshot the slot held before the newest one, reused by the next Publish once no
    // reader holds it.
    std::shared_ptr<const VehicleSnapshot> spare;
    std::vector<uint32_t> stops;  // stops registered in view_ (sorted)
    LiveView* view = nullptr;     // the view `stops` are registered in
    bool dirty = false;
  };
  class Listener;

  void Run();
  void ProcessJob(IngestJob& job);
  void ProcessFix(const Fix& fix);
  // Moves the server clock to the engine's after an accepted live fix (before Publish).
  void ObserveClock();
  // The vehicle's condition from the fix's device report; events and finished days are queued
  // for the store with the job's changes.
  void UpdateCondition(const Fix& fix);
  // At shutdown: every held visit goes out (Engine::FlushLate(all)), stored and shared with the
  // other shards like the visits of the fixes. (Expired holds go out with the fix that expires
  // them: Engine::Process.)
  void FlushAllLate();
  // Predicts and publishes the vehicle's snapshot (not for a rejected first fix of a vehicle).
  void Publish(const VehicleState& state, bool force = false);
  void MakeEngine();
  // Live accuracy: the predictions just published, a visit (own: of this shard's vehicles).
  void ScorePredictions();
  void ScoreVisit(const StopVisit& v, bool own);

  const int index_;
  ShardShared* const shared_;
  const ShardOptions options_;
  std::shared_ptr<const Network> network_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<LayeredPredictor> predictor_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<PathListener> path_listener_;  // feeds shared_->paths (made with the engine)
  std::shared_ptr<LiveView> view_;

  VehicleDirectory directory_;
  absl::flat_hash_map<std::string, VehicleEntry> vehicles_;
  bool persist_ = true;                 // false during Warmup
  ConditionTracker condition_;
  LiveAccuracy accuracy_;
  std::vector<ConditionEvent> cond_events_;  // of the fix being processed
  std::vector<DrivingDay> finished_days_;
  std::vector<StopVisit> fix_visits_;   // visits of the fix being processed
  std::vector<StopVisit> part_visits_;  // visits of the job part (broadcast to other shards)
  std::vector<Prediction> predictions_;
  std::vector<StoreChange> changes_;
  std::vector<uint32_t> new_stops_;
  std::vector<uint32_t> added_stops_;
  std::vector<uint32_t> removed_stops_;
  absl::Time next_vehicle_flush_;
  absl::Time next_model_save_;

  Mutex mu_;
  std::condition_variable cv_;
  std::vector<Item> items_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> queued_{0};
  std::atomic<uint64_t> processed_{0};
  std::atomic<int64_t> segments_learned_{0};
  std::thread thread_;
};

}  // namespace smartbus::server
