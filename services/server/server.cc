#include "services/server/server.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "services/core/gtfs/feed.h"
#include "services/server/analytics_service.h"
#include "services/server/planner_service.h"
#include "services/server/health_names.h"
#include "services/server/http/metrics.h"
#include "services/server/services.h"
#include "services/store/network_ids.h"

namespace smartbus::server {
namespace {

absl::StatusOr<std::shared_ptr<const Network>> LoadNetwork(const std::vector<std::string>& paths) {
  if (paths.empty()) return absl::InvalidArgumentError("--gtfs: at least one GTFS feed is required");
  auto feed = LoadGtfs(paths);
  if (!feed.ok()) return feed.status();
  return Network::Build(std::move(*feed));
}

}  // namespace

SmartbusServer::SmartbusServer(const ServerOptions& options)
    : options_(options), clock_(options.clock_follows_fixes),
      metrics_(std::make_unique<Metrics>()), log_(std::make_unique<EventLog>([&] {
        LogOptions l = options.logging;
        l.enabled = l.enabled && options.log;
        return l;
      }())) {}

absl::StatusOr<std::unique_ptr<SmartbusServer>> SmartbusServer::Create(
    const ServerOptions& options) {
  if (options.shards < 1 || options.shards > 256)
    return absl::InvalidArgumentError(
        absl::StrCat("--shards=", options.shards, ": must be 1..256"));
  if (options.max_batch < 1)
    return absl::InvalidArgumentError("--max_batch: must be at least 1");
  std::unique_ptr<SmartbusServer> s(new SmartbusServer(options));
  if (auto st = s->Init(); !st.ok()) return st;
  return s;
}

absl::Status SmartbusServer::Init() {
  started_s_ = absl::ToUnixSeconds(absl::Now());
  absl::Time t0 = absl::Now();
  auto net = LoadNetwork(options_.gtfs);
  if (!net.ok()) return net.status();
  feeds_loaded_s_ = absl::ToUnixSeconds(absl::Now());
  Log(absl::StrCat("loaded ", absl::StrJoin(options_.gtfs, ", "), ": ",
                   (*net)->feed().routes.size(), " routes, ", (*net)->feed().stops.size(),
                   " stops, ", (*net)->feed().trips.size(), " trips in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));

  auto store = OpenStore(options_.store_url, options_.store);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  StoreWriterOptions wo = options_.writer;
  wo.on_health_change = [this](const StoreHealth& h) { SetStorageServing(h.serving, h.reason); };
  writer_ = std::make_unique<StoreWriter>(store_.get(), wo);

  shared_.writer = writer_.get();
  shared_.clock = &clock_;
  shared_.view.store(std::make_shared<LiveView>(*net));
  for (int i = 0; i < options_.shards; ++i)
    shards_.push_back(std::make_unique<Shard>(i, &shared_, *net, options_.shard));
  for (auto& sh : shards_) shared_.shards.push_back(sh.get());
  for (auto& sh : shards_) sh->Start();

  StoreHealth h = store_->Health();
  SetStorageServing(h.serving, h.reason);
  if (auto st = Recover(); !st.ok()) return st;
  IngestOptions io;
  io.max_batch = options_.max_batch;
  io.store_queue_capacity = options_.writer.queue_capacity;
  io.store_changes_per_fix = options_.store_changes_per_fix;
  ingest_ = std::make_unique<Ingest>(
      io, &shared_, [this] { return draining(); }, [this] { return StorageHealth(); });
  services_ = MakeServiceSet(this, ingest_.get());
  shared_.poke_watchers = [this] { services_->PokeWatchers(); };
  monitor_ = std::thread([this] { MonitorStorage(); });
  return absl::OkStatus();
}

size_t SmartbusServer::ShardIndex(absl::string_view vehicle_id) const {
  return ShardIndexOf(vehicle_id, shards_.size());
}

const Shard& SmartbusServer::ShardFor(absl::string_view vehicle_id) const {
  return *shards_[ShardIndex(vehicle_id)];
}

void SmartbusServer::WarmupFromStore(
    Shard& shard, const std::vector<std::pair<std::string, int64_t>>& ids) {
  std::vector<Fix> fixes;
  for (const auto& [id, last_seen] : ids) {
    auto pos = store_->ReadPositions(id, last_seen - options_.warmup_s);
    if (!pos.ok()) {
      Log(LogLevel::kWarn, absl::StrCat("warm-up: cannot read positions of vehicle ", id, ": ",
                       pos.status().message()));
      continue;
    }
    fixes.insert(fixes.end(), pos->begin(), pos->end());
  }
  std::stable_sort(fixes.begin(), fixes.end(),
                   [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });
  shard.RunOnShardAndWait([&](Shard& s) { s.Warmup(fixes); });
}

absl::Status SmartbusServer::Recover() {
  absl::Time t0 = absl::Now();
  auto list = store_->ListVehicles();
  if (!list.ok()) {
    Log(LogLevel::kWarn, absl::StrCat("recovery skipped: cannot list stored vehicles (", list.status().message(),
                     "); starting with no vehicles"));
    return absl::OkStatus();
  }
  std::vector<std::vector<std::pair<std::string, int64_t>>> per_shard(shards_.size());
  for (const VehicleRecord& r : *list) {
    per_shard[ShardIndex(r.state.vehicle_id)].emplace_back(r.state.vehicle_id,
                                                          r.state.timestamp_s);
    clock_.ObserveFix(r.state.timestamp_s);
  }
  for (size_t i = 0; i < shards_.size(); ++i)
    if (!per_shard[i].empty()) WarmupFromStore(*shards_[i], per_shard[i]);
  for (const VehicleRecord& r : *list)
    shards_[ShardIndex(r.state.vehicle_id)]->RunOnShard([r](Shard& s) { s.Restore(r); });
  auto model = store_->GetModel(kModelName);
  std::string model_note = "no learned model stored";
  if (model.ok()) {
    for (auto& sh : shards_) {
      absl::Status st;
      sh->RunOnShardAndWait([&](Shard& s) {
        st = s.LoadModel(*model);
        s.RepublishAll();  // predictions from the restored model, not the warm-up's
      });
      if (!st.ok()) {
        model_note = absl::StrCat("stored model unusable: ", st.message());
        break;
      }
      model_note = absl::StrCat("learned model restored (", model->size(), " bytes)");
    }
  } else if (!absl::IsNotFound(model.status())) {
    model_note = absl::StrCat("cannot read the learned model: ", model.status().message());
  }
  recovered_vehicles_ = list->size();
  for (auto& sh : shards_) sh->RunOnShardAndWait([](Shard&) {});
  Log(absl::StrCat("recovered ", list->size(), " vehicles from ", store_->Describe(), "; ",
                   model_note, " in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));
  return absl::OkStatus();
}

absl::Status SmartbusServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port_);
  // Large enough that an oversized batch reaches the service and gets a clear
  // INVALID_ARGUMENT naming the batch limit instead of a transport error.
  builder.SetMaxReceiveMessageSize(64 << 20);
  services_->Register(&builder);
  if (!analytics_service_) {
    AnalyticsHubOptions analytics = options_.analytics;
    analytics.fleet.stale_after_s = static_cast<double>(options_.stale_after_s);
    analytics_service_ = MakeAnalyticsService(this, analytics);
  }
  builder.RegisterService(analytics_service_.get());
  if (!planner_service_) planner_service_ = MakePlannerService(this);
  builder.RegisterService(planner_service_->service());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> timing;
  timing.push_back(metrics_->GrpcInterceptor());
  builder.experimental().SetInterceptorCreators(std::move(timing));
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || port_ == 0)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen,
                     ": address in use or not valid (check --listen)"));
  auto* health = grpc_server_->GetHealthCheckService();
  for (const char* name : kServiceHealthNames) health->SetServingStatus(name, true);
  {
    std::lock_guard lock(health_mu_);
    health->SetServingStatus(kStorageHealth, storage_serving_);
  }
  if (!options_.http.http.listen.empty()) {
    http_ = std::make_unique<HttpFrontend>(
        this, options_.http, grpc_server_->InProcessChannel(grpc::ChannelArguments()),
        metrics_.get());
    if (auto st = http_->Start(); !st.ok()) {
      http_.reset();
      grpc_server_->Shutdown();
      return st;
    }
    Log(absl::StrCat("HTTP on ", options_.http.http.listen, " (port ", http_->port(), ")"));
  }
  Log(absl::StrCat("serving on ", options_.listen, " (port ", port_, "), ", shards_.size(),
                   " shards, clock ", clock_.follows_fixes() ? "fixes" : "wall", ", store ",
                   store_->Describe()));
  return absl::OkStatus();
}

void SmartbusServer::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

absl::Status SmartbusServer::Shutdown() {
  std::lock_guard control(control_mu_);
  if (shut_down_.exchange(true)) return absl::OkStatus();
  Log("shutting down: refusing new work, draining");
  draining_ = true;
  if (http_) http_->Stop();  // finishes its requests (they call the gRPC services in process)
  if (grpc_server_) grpc_server_->GetHealthCheckService()->Shutdown();
  if (services_) services_->BeginShutdown();
  if (grpc_server_) grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  for (auto& sh : shards_) sh->Stop();  // drains queues, writes vehicles and the model
  absl::Status flushed = writer_->Flush(absl::Seconds(10));
  {
    std::lock_guard lock(monitor_mu_);
    monitor_stop_ = true;
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  StoreWriterStats ws = writer_->Stats();
  Log(absl::StrCat("stopped: ", shared_.accepted.load(), " fixes accepted, ", ws.applied,
                   " store changes written, ", ws.queued, " not written",
                   flushed.ok() ? "" : absl::StrCat(" (", flushed.message(), ")")));
  return flushed;
}

SmartbusServer::~SmartbusServer() {
  (void)Shutdown();
  // Services may hold reactors referring to shards: destroy the gRPC server first.
  http_.reset();
  grpc_server_.reset();
  services_.reset();
  shards_.clear();
  writer_.reset();
  store_.reset();
}

absl::Status SmartbusServer::Reload() {
  std::lock_guard control(control_mu_);
  if (shut_down_) return absl::UnavailableError("server is shutting down");
  absl::Time t0 = absl::Now();
  Log(absl::StrCat("reloading GTFS: ", absl::StrJoin(options_.gtfs, ", ")));
  auto net = LoadNetwork(options_.gtfs);
  if (!net.ok()) {
    Log(LogLevel::kError, absl::StrCat("reload failed, keeping the current network: ", net.status().message()));
    return net.status();
  }
  // Every position acknowledged so far is what the new trackers are warmed up from.
  if (auto s = writer_->Flush(absl::Seconds(5)); !s.ok())
    Log(LogLevel::kWarn, absl::StrCat("reload: store flush incomplete (", s.message(),
                     "): the newest positions may be missing from the warm-up"));
  auto view = std::make_shared<LiveView>(*net);
  size_t vehicles = 0;
  for (auto& sh : shards_) {
    absl::Status model_status;
    sh->RunOnShardAndWait([&](Shard& s) {
      std::vector<std::pair<std::string, int64_t>> ids;
      for (const std::string& id : s.VehicleIds()) {
        auto slot = s.directory().Find(id);
        auto snap = slot ? slot->snapshot.load() : nullptr;
        if (snap) ids.emplace_back(id, snap->state.timestamp_s);
      }
      vehicles += ids.size();
      const std::string model = s.SerializeModel();
      model_status = s.SwitchNetwork(*net, view);
      std::vector<Fix> fixes;
      for (const auto& [id, last_seen] : ids) {
        auto pos = store_->ReadPositions(id, last_seen - options_.warmup_s);
        if (pos.ok()) fixes.insert(fixes.end(), pos->begin(), pos->end());
      }
      std::stable_sort(fixes.begin(), fixes.end(),
                       [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });
      s.Warmup(fixes);
      // The warm-up re-learned the last visits: put the carried-over model back as it was.
      if (model_status.ok()) model_status = s.LoadModel(model);
      s.RepublishAll();
    });
    if (!model_status.ok())
      Log(absl::StrCat("reload: shard ", sh->index(), " model carry-over: ",
                       model_status.message()));
  }
  shared_.view.store(view, std::memory_order_release);
  feeds_loaded_s_ = absl::ToUnixSeconds(absl::Now());
  Log(absl::StrCat("reloaded: ", (*net)->feed().routes.size(), " routes, ",
                   (*net)->feed().stops.size(), " stops; ", vehicles, " vehicles kept, in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));
  return absl::OkStatus();
}

StoreHealth SmartbusServer::StorageHealth() const {
  std::lock_guard lock(health_mu_);
  return StoreHealth{storage_serving_, storage_reason_};
}

void SmartbusServer::SetStorageServing(bool serving, const std::string& reason) {
  std::lock_guard lock(health_mu_);
  if (serving != storage_serving_)
    Log(serving ? LogLevel::kInfo : LogLevel::kError,
        serving ? absl::StrCat("storage SERVING again (", store_->Describe(), ")")
                : absl::StrCat("storage NOT_SERVING: ", reason,
                               " (serving from memory; queued writes are retried)"));
  storage_serving_ = serving;
  storage_reason_ = serving ? "" : reason;
  if (grpc_server_ && !shut_down_)
    grpc_server_->GetHealthCheckService()->SetServingStatus(kStorageHealth, serving);
}

void SmartbusServer::MonitorStorage() {
  std::unique_lock lock(monitor_mu_);
  while (!monitor_stop_) {
    monitor_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return monitor_stop_; });
    if (monitor_stop_) break;
    lock.unlock();
    StoreHealth h = writer_->Health();
    if (h.serving) h = store_->Health();
    SetStorageServing(h.serving, h.reason);
    lock.lock();
  }
}

std::vector<std::shared_ptr<const VehicleSnapshot>> SmartbusServer::AllVehicles() const {
  std::vector<std::shared_ptr<const VehicleSnapshot>> out;
  for (const auto& sh : shards_) sh->directory().Collect(&out);
  return out;
}


}  // namespace smartbus::server
