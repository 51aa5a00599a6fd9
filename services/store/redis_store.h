#pragma once
// Store on Redis (>= 5, streams) via hiredis 0.14. Key layout: deploy/REDIS_KEYS.md.
//
// One connection, guarded by a mutex; opened lazily, re-opened after any I/O error or timeout on
// the next call (the StoreWriter in front retries with backoff). Writes of Apply go out as one
// pipeline (one buffer, one round trip). Thread-safe.

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "services/store/store.h"

struct redisContext;
struct redisReply;

namespace smartbus {

class RedisPipeline;  // redis_store.cc

// Where a Redis server is: parsed from "redis://host[:port][/db]" (hiredis 0.14 parses no URLs).
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string ToString() const;  // "host:port/db"
};
// INVALID_ARGUMENT naming the part that is wrong ("redis://h:99999": port out of range...).
// Passwords, TLS (rediss://) and unix sockets are not supported and say so.
absl::StatusOr<RedisAddress> ParseRedisUrl(absl::string_view url);

class RedisStore : public Store {
 public:
  RedisStore(RedisAddress address, StoreOptions options = {});
  ~RedisStore() override;

  absl::Status PutVehicle(const VehicleRecord& v) override;
  absl::StatusOr<VehicleRecord> GetVehicle(absl::string_view vehicle_id) override;
  absl::StatusOr<std::vector<VehicleRecord>> ListVehicles() override;
  absl::Status AppendPosition(const Fix& fix) override;
  absl::StatusOr<std::vector<Fix>> ReadPositions(absl::string_view vehicle_id,
                                                 int64_t since_s) override;
  absl::Status AppendStopVisit(const StopVisitRecord& v) override;
  absl::StatusOr<std::vector<StopVisitRecord>> ReadStopVisits(const StopVisitQuery& q) override;
  absl::Status PutModel(absl::string_view name, absl::string_view bytes) override;
  absl::StatusOr<std::string> GetModel(absl::string_view name) override;
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

  absl::Status EnsureConnectedLocked();
  absl::Status IoErrorLocked(absl::string_view what);
  // Sends `p` and reads its replies; all replies returned when `replies` is non-null.
  absl::Status RunLocked(RedisPipeline& p, std::vector<Reply>* replies);
  absl::Status ApplyLocked(absl::Span<const StoreChange> changes);
  // Runs one command given as arguments and returns its reply.
  absl::StatusOr<Reply> CommandLocked(std::initializer_list<absl::string_view> args);

  const RedisAddress address_;
  const StoreOptions options_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;  // null while disconnected
  std::string last_error_;
  // Per connection: vehicles known to be in the vehicles set, when each key's TTL was last
  // refreshed, appends since a stream was trimmed. Cleared on reconnect and on a failed batch.
  absl::flat_hash_set<std::string> known_vehicles_;
  absl::flat_hash_map<std::string, int64_t> veh_expire_s_;
  struct PosKeyState {
    int64_t expire_s = 0;     // when EXPIRE was last sent (unix seconds)
    size_t since_trim = 0;    // XADDs since the last XTRIM
  };
  absl::flat_hash_map<std::string, PosKeyState> pos_keys_;
  bool atomic_batches_ = false;  // MULTI/EXEC per Apply on this connection
  std::unique_ptr<RedisPipeline> pipeline_;  // reused by Apply (keeps its buffer)
};

}  // namespace smartbus
