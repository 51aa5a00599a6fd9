#pragma once
// SmartbusServer: the smartbusd process minus its flags. Loads the GTFS feeds, opens the store,
// recovers vehicles and the learned model from it, runs the tracking shards and serves the
// gRPC API (proto/smartbus/v1) plus grpc.health.v1 and server reflection.
//
//   auto server = SmartbusServer::Create(options);   // load feeds, open store, recover
//   (*server)->Start();                              // bind and serve (port() after this)
//   (*server)->Reload();                             // SIGHUP: new feeds, same vehicles/model
//   (*server)->Shutdown();                           // drain, persist, stop
//
// Health service names: "" (the server), each smartbus.v1 service, and "smartbus.storage"
// (NOT_SERVING while the store cannot be written; the server keeps serving from memory).
//
// Thread safety: Start/Reload/Shutdown from one control thread; the accessors used by the gRPC
// services from any thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/core/common/mutex.h"
#include "services/gtfs_rt/poller.h"
#include "services/server/analytics_hub.h"
#include "services/server/ingest.h"
#include "services/server/auth.h"
#include "services/server/http/frontend.h"
#include "services/server/live_view.h"
#include "services/server/log.h"
#include "services/server/service_changes_keeper.h"
#include "services/server/service_changes_view.h"
#include "services/server/shard.h"
#include "services/store/store.h"
#include "services/store/store_writer.h"

namespace grpc {
class Server;
class Service;
}

namespace smartbus::server {

struct ServerOptions {
  // GTFS feeds (directories or .zip), loaded as one network. Required.
  std::vector<std::string> gtfs;
  // Address to serve on. Port 0 picks a free port (see port()). Default 127.0.0.1:50051.
  std::string listen = "127.0.0.1:50051";
  // Store URL: "" or "memory" = embedded in-memory store; "redis://host[:port][/db]".
  std::string store_url;
  StoreOptions store;
  StoreWriterOptions writer;
  // Clock: false = wall clock; true = the newest accepted fix time (replays, tests, demos).
  bool clock_follows_fixes = false;
  // Tracking shards (worker threads). Default 2.
  int shards = 2;
  ShardOptions shard;
  // Most fixes in one IngestRequest. Default 10,000.
  size_t max_batch = 10000;
  // IngestRequests one stream may have in flight before the server stops reading it (the
  // client then feels HTTP/2 flow control). Default 64.
  int max_stream_inflight = 64;
  // Admission: a request is refused (RESOURCE_EXHAUSTED) when the store queue has less room
  // than this many changes per fix of the request plus the fixes already queued. Default 3.
  int store_changes_per_fix = 3;
  // A vehicle is live for arrival boards while its newest fix is at most this old (s).
  // Default 600.
  int64_t live_max_age_s = 600;
  // Fleet status marks a vehicle stale past this age unless the request says otherwise (s).
  // Default 120.
  int64_t stale_after_s = 120;
  // Recovery and reload replay this much of each vehicle's stored position history through the
  // tracker (s). Default 1800.
  int64_t warmup_s = 1800;
  // Shutdown: in-flight calls get this long to finish before they are cancelled. Default 5 s.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // TLS: PEM certificate chain and private key. Both set: the port speaks only TLS (plaintext
  // clients cannot connect). The files are watched and re-read every tls_reload_s seconds
  // (certificate rotation needs no restart and no SIGHUP). Default: plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  unsigned tls_reload_s = 10;
  // Tokens, roles and per-client rate limits (services/server/auth.h). Default: no tokens, no
  // limits.
  AuthOptions auth;
  // Acknowledgement of ingested fixes. false (--ack=received): a fix is acknowledged once the
  // tracker accepted it; it reaches the store within the writer's position_window plus a batch
  // (~0.3 s) and is lost if smartbusd dies in between. true (--ack=persisted): acknowledged only
  // once the store applied it (writes batched across requests; position_window 0).
  bool ack_persisted = false;
  // Open WatchArrivals streams at most; one more is refused RESOURCE_EXHAUSTED. A stream costs
  // ~22 KB (20,000 measured +447 MB). Default 5,000.
  uint32_t max_watch_streams = 5000;
  // Largest request message accepted (bytes). A full IngestRequest of max_batch fixes with
  // 256-byte trip and route ids is ~7 MB. Default 16 MiB.
  int max_request_bytes = 16 << 20;
  // Memory gRPC may use for requests in flight (bytes, grpc::ResourceQuota); beyond it new
  // requests wait. Default 512 MiB.
  int64_t request_memory_bytes = int64_t{512} << 20;
  // gRPC server reflection. Default on.
  bool reflection = true;
  // Log lines to stderr. Default on.
  bool log = true;
  // Log format and minimum level (services/server/log.h); `log` false turns it off.
  LogOptions logging;
  // Operator analytics (AnalyticsService): on-time window, bunching, live window, retention.
  AnalyticsHubOptions analytics;
  // HTTP (JSON mirror, GTFS-RT, /metrics, health): off while http.http.listen is empty.
  HttpFrontendOptions http;
  // GTFS-Realtime feeds to poll (vehicle positions, trip updates, alerts); none by default.
  // gtfs_rt.max_batch is set to max_batch.
  gtfs_rt::PollerOptions gtfs_rt;
};

class ServiceSet;  // the gRPC services (services.cc)
class PlannerServiceHandle;  // planner_service.h
class Metrics;     // /metrics (http/metrics.h)

class SmartbusServer {
 public:
  static absl::StatusOr<std::unique_ptr<SmartbusServer>> Create(const ServerOptions& options);
  ~SmartbusServer();

  // Binds and starts serving. FAILED_PRECONDITION/UNAVAILABLE when the address cannot be bound.
  absl::Status Start();
  // The bound port (after Start).
  int port() const { return port_; }
  // The bound HTTP port (after Start; 0 when HTTP is off).
  int http_port() const { return http_ ? http_->port() : 0; }
  HttpFrontend* http() { return http_.get(); }
  Metrics& metrics() { return *metrics_; }
  // Blocks until Shutdown() has stopped the gRPC server.
  void Wait();
  // Stops accepting, lets in-flight calls finish (shutdown_grace), drains the shard queues,
  // writes every vehicle's state and the learned model, and flushes the store. Idempotent.
  // Returns the store flush result.
  absl::Status Shutdown();
  // Loads the GTFS feeds again and switches to them without dropping vehicles or the learned
  // model. On error the old network stays in service.
  absl::Status Reload();
  // Reads the token file again (SIGHUP, before the feeds): revoked tokens stop working, new ones
  // start; on error the tokens in use stay (logged).
  absl::Status ReloadTokens();
  // Re-reads the HTTPS certificate and key (SIGHUP; they are also re-read when they change):
  // on error the pair in use stays (logged). OK without HTTPS.
  absl::Status ReloadHttpTls();

  // --- For the gRPC services ---
  const ServerOptions& options() const { return options_; }
  std::shared_ptr<LiveView> view() const { return shared_.view.load(std::memory_order_acquire); }
  int64_t Now() const { return clock_.Now(); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  const ShardShared& shared() const { return shared_; }
  const std::vector<std::unique_ptr<Shard>>& shards() const { return shards_; }
  const Shard& ShardFor(absl::string_view vehicle_id) const;
  size_t ShardIndex(absl::string_view vehicle_id) const;
  const StoreWriter& writer() const { return *writer_; }
  Authorizer& auth() const { return *auth_; }
  Store& store() { return *store_; }
  const Store& store() const { return *store_; }
  // The ingest pipeline (IngestService's, and any other front that takes fixes).
  Ingest& ingest() { return *ingest_; }
  StoreHealth StorageHealth() const;
  const ServiceSet* services() const { return services_.get(); }
  int64_t started_s() const { return started_s_; }
  int64_t feeds_loaded_s() const { return feeds_loaded_s_.load(); }
  uint64_t recovered_vehicles() const { return recovered_vehicles_; }
  uint64_t fixes_received() const { return ingest_->fixes_received(); }
  // Cancelled trips, skipped stops and alerts in force (operator calls, GTFS-RT feeds), with
  // their persistence. Readers: service_changes().Current() — a ServiceChangeSet with
  // alerts(), trips(), TripStatus(trip_id, service_date, stop_id, stop_sequence),
  // AlertsFor(...) — or view()->changes(), the same snapshot.
  // Thread-safe inside, so reachable from the const server the services hold.
  ServiceChangeKeeper& service_changes() const { return *service_changes_; }
  // Counters of every GTFS-RT feed polled (empty when none); for health and /metrics.
  std::vector<gtfs_rt::FeedStats> GtfsRtStats() const;
  // "" when every GTFS-RT feed is healthy, else why not (health "smartbus.gtfs_rt").
  std::string GtfsRtUnhealthy() const;
  // Every vehicle snapshot (unordered).
  std::vector<std::shared_ptr<const VehicleSnapshot>> AllVehicles() const;
  // One event, one line (info, or the level given); WriteLimited for events that can flood.
  void Log(const std::string& line) const { log_->Write(LogLevel::kInfo, line); }
  void Log(LogLevel level, const std::string& line) const { log_->Write(level, line); }
  const EventLog& log() const { return *log_; }
  // The journey planner service (null before Start), e.g. to plug in more live sources.
  PlannerServiceHandle* planner_service() { return planner_service_.get(); }

 private:
  explicit SmartbusServer(const ServerOptions& options);
  absl::Status Init();
  absl::Status Recover();
  // Learning of the paths of patterns without shapes (services/core/paths): a learner for `net`
  // with `evidence` restored becomes shared_.paths; SavePaths fits and stores every learned
  // path (the monitor thread every model_save_interval, reloads, shutdown) and returns them.
  void StartLearningPaths(const std::shared_ptr<const Network>& net,
                          const std::vector<LearnedPath>& evidence);
  std::vector<LearnedPath> SavePaths();
  Mutex paths_save_mu_;  // one SavePaths at a time
  size_t paths_confident_ ABSL_GUARDED_BY(paths_save_mu_) = 0;  // as of the last SavePaths
  // Replays the stored recent positions of `ids` into `shard` (on its thread).
  void WarmupFromStore(Shard& shard, const std::vector<std::pair<std::string, int64_t>>& ids);
  void MonitorStorage();
  // Puts a new service-change snapshot into the live view and wakes the display boards.
  void PublishServiceChanges(std::shared_ptr<const ServiceChangeSet> set);
  void SetStorageServing(bool serving, const std::string& reason);

  const ServerOptions options_;
  ServerClock clock_;
  ShardShared shared_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<Authorizer> auth_;
  std::unique_ptr<ServiceChangeKeeper> service_changes_;
  // The service changes as the GTFS-RT output and the planner read them (service_changes_view.h);
  // declared before http_ and planner_service_, which use them, so they outlive them.
  std::unique_ptr<ServiceChangesView> changes_view_;
  std::unique_ptr<planner::LiveTimes> changes_live_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<gtfs_rt::GtfsRtSink> gtfs_rt_sink_;
  std::unique_ptr<gtfs_rt::Poller> gtfs_rt_;
  std::unique_ptr<ServiceSet> services_;
  std::unique_ptr<grpc::Service> analytics_service_;  // analytics_service.h
  std::unique_ptr<PlannerServiceHandle> planner_service_;  // planner_service.h
  std::unique_ptr<grpc::Service> condition_service_;  // condition_service.h
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<HttpFrontend> http_;
  int port_ = 0;
  int64_t started_s_ = 0;
  std::atomic<int64_t> feeds_loaded_s_{0};
  uint64_t recovered_vehicles_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<bool> shut_down_{false};
  Mutex control_mu_;  // Reload vs Shutdown: one at a time (guards no field)

  // Storage health monitor.
  std::thread monitor_;
  Mutex monitor_mu_;
  std::condition_variable monitor_cv_;
  bool monitor_stop_ ABSL_GUARDED_BY(monitor_mu_) = false;
  mutable Mutex health_mu_;
  bool storage_serving_ ABSL_GUARDED_BY(health_mu_) = true;
  std::string gtfs_rt_unhealthy_;  // monitor thread only
  std::string storage_reason_ ABSL_GUARDED_BY(health_mu_);
};

}  // namespace smartbus::server
