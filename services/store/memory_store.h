#pragma once
// The embedded default Store: everything in process memory, gone at exit. Thread-safe (one
// mutex). Same contract as RedisStore (tests/store/store_contract_test.cc runs both), except
// that TTLs (positions_ttl_s, vehicle_ttl_s) are not applied: nothing outlives the process.

#include <deque>
#include <map>
#include <set>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "services/core/common/mutex.h"
#include "services/store/store.h"

namespace smartbus {

class MemoryStore : public Store {
 public:
  explicit MemoryStore(StoreOptions options = {});

  absl::Status PutVehicle(const VehicleRecord& v) override;
  absl::StatusOr<VehicleRecord> GetVehicle(absl::string_view vehicle_id) override;
  absl::StatusOr<std::vector<VehicleRecord>> ListVehicles() override;
  absl::Status AppendPosition(const Fix& fix) override;
  absl::StatusOr<std::vector<std::string>> ListPositionVehicles() override;
  absl::StatusOr<std::vector<Fix>> ReadPositions(absl::string_view vehicle_id,
                                                 int64_t since_s) override;
  absl::Status AppendStopVisit(const StopVisitRecord& v) override;
  absl::StatusOr<std::vector<StopVisitRecord>> ReadStopVisits(const StopVisitQuery& q) override;
  absl::Status PutModel(absl::string_view name, absl::string_view bytes) override;
  absl::StatusOr<std::string> GetModel(absl::string_view name) override;
  absl::StatusOr<std::vector<ConditionEvent>> ReadConditionEvents(absl::string_view vehicle_id,
                                                                  int64_t from_s,
                                                                  int64_t to_s) override;
  absl::StatusOr<std::vector<DrivingDay>> ReadDrivingDays(absl::string_view vehicle_id) override;
  absl::Status PutLearnedPath(const LearnedPath& path) override;
  absl::StatusOr<std::vector<LearnedPath>> ListLearnedPaths() override;
  absl::Status ApplyServiceChanges(const ServiceChangeDiff& diff) override;
  absl::StatusOr<StoredServiceChanges> ListServiceChanges() override;
  absl::Status Apply(absl::Span<const StoreChange> changes) override;
  StoreHealth Health() override { return {}; }
  std::string Describe() const override { return "memory"; }

 private:
  absl::Status PutVehicleLocked(const VehicleRecord& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AppendPositionLocked(const Fix& fix) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AppendStopVisitLocked(const StopVisitRecord& v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutModelLocked(absl::string_view name, absl::string_view bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrimVisitsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StoreOptions options_;
  Mutex mu_;
  std::map<std::string, VehicleRecord, std::less<>> vehicles_ ABSL_GUARDED_BY(mu_);
  // A vehicle's newest positions_cap fixes in append order, one per timestamp (a fix whose
  // timestamp is held already is not appended again: the first appended wins, as in Redis).
  struct History {
    std::deque<Fix> fixes;
    absl::flat_hash_set<int64_t> timestamps;
  };
  absl::flat_hash_map<std::string, History> positions_ ABSL_GUARDED_BY(mu_);
  // Encoded visit -> arrival_s (dedupe) and arrival_s -> encoded visit (retention, windows).
  absl::flat_hash_map<std::string, double> visit_keys_ ABSL_GUARDED_BY(mu_);
  std::multimap<double, StopVisitRecord> visits_ ABSL_GUARDED_BY(mu_);
  double newest_visit_s_ ABSL_GUARDED_BY(mu_) = -1e300;
  absl::flat_hash_map<std::string, std::string> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LearnedPath, std::less<>> paths_ ABSL_GUARDED_BY(mu_);
  // Per vehicle: alarm events by time, driving seconds by day.
  absl::flat_hash_map<std::string, std::multimap<int64_t, ConditionEvent>> events_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::map<int32_t, int64_t>> driving_ ABSL_GUARDED_BY(mu_);
  // Service changes, encoded as in Redis (so both stores share the codec), by key.
  std::map<std::string, std::string> trip_changes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> alerts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace smartbus
