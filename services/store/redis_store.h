#pragma once
// Store on Redis (>= 5, streams) via hiredis 0.14. Key layout: deploy/REDIS_KEYS.md.
//
// One connection, guarded by a mutex; opened lazily, re-opened after any I/O error or timeout on
// the next call (the StoreWriter in front retries with backoff). Writes of Apply go out as one
// pipeline (one buffer, one round trip). Thread-safe.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "services/core/common/mutex.h"
#include "services/store/store.h"

struct redisContext;
struct redisReply;

namespace smartbus {

class RedisPipeline;  // redis_store.cc

// Where a Redis server is and who we are to it: parsed from
//   redis://[[user]:password@]host[:port][/db]     TCP, AUTH [user] password after connecting
//   unix:///path/to/redis.sock[?db=N]               a unix socket (no network exposure)
// (hiredis 0.14 parses no URLs). Without a password in the URL, $SMARTBUS_REDIS_PASSWORD (and
// $SMARTBUS_REDIS_USER for an ACL user) is used when set: keeps the secret out of `ps`.
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string unix_path;  // non-empty: connect to this unix socket instead of host:port
  std::string user;       // ACL user (Redis >= 6); empty: AUTH with the password only
  std::string password;   // empty: no AUTH
  std::string ToString() const;  // "host:port/db" or "unix:/path/db", never the password
};
// INVALID_ARGUMENT naming the part that is wrong ("redis://h:99999": port out of range...).
// TLS (rediss://) is not supported (hiredis 0.14) and says so: keep Redis on a private network
// or a unix socket.
absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url);

class RedisStore : public Store {
 public:
  RedisStore(RedisAddress address, StoreOptions options = {});
  ~RedisStore() override;

  absl::Status PutVehicle(const VehicleRecord& v) override;
  absl::StatusOr<VehicleRecord> GetVehicle(absl::string_view vehicle_id) override;
  absl::StatusOr<std::vector<VehicleRecord>> ListVehicles() override;
  absl::Status AppendPosition(const Fix& fix) override;
  absl::StatusOr<std::vector<std::string>> ListPositionVehicles() override;
  absl::StatusOr<std::vector<Fix>> ReadPositions(absl::string_view vehicle_id,
                                                 int64_t since_s) override;
  absl::Status AppendStopVisit(const StopVisitRecord& v) override;
  absl::StatusOr<std::vector<StopVisitRecord>> ReadStopVisits(const StopVisitQuery& q) override;
  absl::StatusOr<std::vector<ConditionEvent>> ReadConditionEvents(absl::string_view vehicle_id,
                                                                  int64_t from_s,
                                                                  int64_t to_s) override;
  absl::StatusOr<std::vector<DrivingDay>> ReadDrivingDays(absl::string_view vehicle_id) override;
  absl::Status PutModel(absl::string_view name, absl::string_view bytes) override;
  absl::StatusOr<std::string> GetModel(absl::string_view name) override;
  absl::Status PutLearnedPath(const LearnedPath& path) override;
  absl::StatusOr<std::vector<LearnedPath>> ListLearnedPaths() override;
  absl::Status ApplyServiceChanges(const ServiceChangeDiff& diff) override;
  absl::StatusOr<StoredServiceChanges> ListServiceChanges() override;
  absl::Status Apply(absl::Span<const StoreChange> changes) override;
  // Pings the server (connecting first if needed).
  StoreHealth Health() override;
  std::string Describe() const override;

  // Deletes every key under the key prefix (SCAN + UNLINK). For tests and `smartbus` tools.
  absl::Status DeleteAllKeys();

 private:
  struct ReplyDeleter {
    void operator()(redisReply* r) const;
  };
  using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

  absl::Status EnsureConnectedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status IoErrorLocked(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `p` and reads its replies; all replies returned when `replies` is non-null.
  absl::Status RunLocked(RedisPipeline& p, std::vector<Reply>* replies)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyLocked(absl::Span<const StoreChange> changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The steps of ApplyLocked: plan the batch, encode it into pipeline_, run it.
  struct BatchPlan;
  void PlanBatchLocked(absl::Span<const StoreChange> changes, BatchPlan* b)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void GroupFixLocked(const Fix& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PlanVisitLocked(const StopVisitRecord& sv, BatchPlan* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeVisitsLocked(const BatchPlan& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodePositionsLocked(BatchPlan* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeVehiclesLocked(BatchPlan* b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeVisitTrimsLocked(const BatchPlan& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RunTransactionLocked(RedisPipeline& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one command given as arguments and returns its reply.
  absl::StatusOr<Reply> CommandLocked(std::initializer_list<absl::string_view> args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisAddress address_;
  const StoreOptions options_;
  Mutex mu_;
  redisContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // null while disconnected
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  // Per connection: vehicles known to be in the vehicles set, when each key's TTL was last
  // refreshed, what was appended to each position stream since its last trim. Cleared on
  // reconnect and on a failed batch.
  absl::flat_hash_set<std::string> known_vehicles_ ABSL_GUARDED_BY(mu_);
  // Vehicle hash bookkeeping: an HSET sends only the fields that differ from the state this
  // connection wrote last (`last`), and all of them when there is none or the last full write
  // is kFullStateEveryS old (which also heals a hash deleted or expired behind our back).
  struct VehKeyState {
    static constexpr int64_t kFullStateEveryS = 60;
    int64_t expire_s = 0;  // when EXPIRE was last sent (unix seconds)
    int64_t full_s = 0;    // when every field was last sent
    bool has_last = false;
    VehicleRecord last;
  };
  absl::flat_hash_map<std::string, VehKeyState> veh_keys_ ABSL_GUARDED_BY(mu_);
  // Position stream bookkeeping. A stream entry holds one or several fixes, so the trim length
  // (in entries) that keeps the newest positions_cap fixes is found from checkpoints (entries
  // and fixes appended on this connection, taken at each trim): the entries appended since the
  // newest checkpoint at least positions_cap fixes back. Entries from before the connection
  // count as one fix each (the least an entry holds), so a trim never drops a needed fix.
  struct PosKeyState {
    static constexpr int kCheckpoints = 12;  // trims every cap/10 fixes: > 1.1 cap back
    struct Checkpoint {
      uint64_t entries = 0;
      uint64_t fixes = 0;
    };
    int64_t expire_s = 0;     // when EXPIRE was last sent (unix seconds)
    size_t since_trim = 0;    // fixes appended since the last XTRIM
    uint64_t entries = 0;     // entries appended on this connection
    uint64_t fixes = 0;       // fixes in them
    Checkpoint checkpoints[kCheckpoints];  // ring, the newest at next_checkpoint - 1
    int num_checkpoints = 0;
    int next_checkpoint = 0;
    // Entries that hold at least `cap` of the newest fixes.
    uint64_t EntriesForNewest(uint64_t cap) const;
  };
  absl::flat_hash_map<std::string, PosKeyState> pos_keys_ ABSL_GUARDED_BY(mu_);
  // Visit sorted set key -> when its retention trim (ZREMRANGEBYSCORE) was last sent (unix s).
  absl::flat_hash_map<std::string, int64_t> visit_trim_s_ ABSL_GUARDED_BY(mu_);
  // Reused by ApplyLocked to group a batch's fixes per vehicle (one stream entry per group).
  struct FixGroup {
    const Fix* first = nullptr;
    uint32_t head = 0, tail = 0, count = 0;  // indices into batch_fixes_ / batch_next_
  };
  absl::flat_hash_map<absl::string_view, uint32_t> group_of_ ABSL_GUARDED_BY(mu_);
  std::vector<FixGroup> groups_ ABSL_GUARDED_BY(mu_);
  std::vector<const Fix*> batch_fixes_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> batch_next_ ABSL_GUARDED_BY(mu_);
  bool atomic_batches_ ABSL_GUARDED_BY(mu_) = false;  // MULTI/EXEC per Apply on this connection
  // Reused by Apply (keeps its buffer).
  std::unique_ptr<RedisPipeline> pipeline_ ABSL_GUARDED_BY(mu_);
};

}  // namespace smartbus
