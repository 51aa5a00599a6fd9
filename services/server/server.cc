#include "services/server/server.h"

#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "services/core/gtfs/feed.h"
#include "services/server/analytics_service.h"
#include "services/server/condition_service.h"
#include "services/server/planner_service.h"
#include "services/server/gtfs_rt_bridge.h"
#include "services/server/health_names.h"
#include "services/server/http/metrics.h"
#include "services/server/services.h"
#include "services/store/network_ids.h"
#include "services/files/feed_files.h"

namespace smartbus::server {
namespace {

// The network of the feeds, with the confident ones of `learned` drawn for the patterns
// without shapes (*used: how many).
absl::StatusOr<std::shared_ptr<const Network>> LoadNetwork(const std::vector<std::string>& paths,
                                                           const std::vector<LearnedPath>& learned,
                                                           size_t* used) {
  if (paths.empty()) return absl::InvalidArgumentError("--gtfs: at least one GTFS feed is required");
  auto feed = LoadGtfs(paths);
  if (!feed.ok()) return feed.status();
  NetworkOptions options;
  *used = UseConfidentPaths(learned, &options);
  return Network::Build(std::move(*feed), options);
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
  AuthOptions ao = options_.auth;
  if (!ao.log) ao.log = [this](const std::string& line) { Log(line); };
  auth_ = std::make_unique<Authorizer>(ao);
  if (auto st = auth_->Reload(); !st.ok()) return st;
  Log(auth_->enabled() ? absl::StrCat("tokens from ", ao.tokens_file,
                                      ": ingest, operator and analytics calls need one")
                       : "no --tokens: every call is allowed (keep the port on a private network)");
  absl::Time t0 = absl::Now();
  auto store = OpenStore(options_.store_url, options_.store);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto learned = store_->ListLearnedPaths();
  if (!learned.ok()) {
    Log(LogLevel::kWarn, absl::StrCat("cannot read the learned paths (", learned.status().message(),
                                      "): patterns without shapes use straight lines"));
    learned = std::vector<LearnedPath>{};
  }
  size_t paths_used = 0;
  auto net = LoadNetwork(options_.gtfs, *learned, &paths_used);
  if (!net.ok()) return net.status();
  feeds_loaded_s_ = absl::ToUnixSeconds(absl::Now());
  Log(absl::StrCat("loaded ", absl::StrJoin(options_.gtfs, ", "), ": ",
                   (*net)->feed().routes.size(), " routes, ", (*net)->feed().stops.size(),
                   " stops, ", (*net)->feed().trips.size(), " trips, ", paths_used,
                   " learned paths in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));
  StartLearningPaths(*net, *learned);
  StoreWriterOptions wo = options_.writer;
  if (options_.ack_persisted) wo.position_window = absl::ZeroDuration();  // FIFO: see WhenApplied
  wo.on_health_change = [this](const StoreHealth& h) { SetStorageServing(h.serving, h.reason); };
  writer_ = std::make_unique<StoreWriter>(store_.get(), wo);
  service_changes_ = std::make_unique<ServiceChangeKeeper>(
      store_.get(),
      [this](std::shared_ptr<const ServiceChangeSet> set) { PublishServiceChanges(set); },
      [this](const std::string& line) { Log(line); });

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
  if (auto st = service_changes_->Recover(); !st.ok())
    Log(absl::StrCat("service changes: cannot read them from the store (", st.message(),
                     "): starting with none; the store is rewritten when it answers"));
  IngestOptions io;
  io.max_batch = options_.max_batch;
  io.store_queue_capacity = options_.writer.queue_capacity;
  io.store_changes_per_fix = options_.store_changes_per_fix;
  io.ack_persisted = options_.ack_persisted;
  ingest_ = std::make_unique<Ingest>(
      io, &shared_, [this] { return draining(); }, [this] { return StorageHealth(); });
  services_ = MakeServiceSet(this, ingest_.get());
  shared_.poke_watchers = [this] { services_->PokeWatchers(); };
  if (!options_.gtfs_rt.feeds.empty()) {
    gtfs_rt::PollerOptions po = options_.gtfs_rt;
    po.max_batch = options_.max_batch;
    gtfs_rt_sink_ = MakeGtfsRtSink(this);
    gtfs_rt_ = std::make_unique<gtfs_rt::Poller>(std::move(po), gtfs_rt_sink_.get(),
                                                 [this](const std::string& l) { Log(l); });
  }
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
    // last_seen is the stored state's time (0 when only positions were stored): the history
    // may hold newer fixes than it (acknowledged after the last state flush); the warm-up
    // replays warmup_s before the newest one, so the vehicle ends at its newest stored fix.
    auto pos = store_->ReadPositions(id, last_seen > 0 ? last_seen - options_.warmup_s : 0);
    if (!pos.ok()) {
      Log(LogLevel::kWarn, absl::StrCat("warm-up: cannot read positions of vehicle ", id, ": ",
                       pos.status().message()));
      continue;
    }
    if (pos->empty()) continue;
    const int64_t from = pos->back().timestamp_s - options_.warmup_s;
    for (const Fix& f : *pos)
      if (f.timestamp_s >= from) fixes.push_back(f);
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
  // Vehicles with position history but no stored state (killed before the first state flush)
  // are rebuilt from their positions alone.
  auto with_positions = store_->ListPositionVehicles();
  if (!with_positions.ok()) {
    Log(absl::StrCat("recovery: cannot list stored position histories (",
                     with_positions.status().message(), "); using stored states only"));
    with_positions = std::vector<std::string>{};
  }
  std::vector<std::vector<std::pair<std::string, int64_t>>> per_shard(shards_.size());
  absl::flat_hash_set<std::string> known;
  for (const VehicleRecord& r : *list) {
    per_shard[ShardIndex(r.state.vehicle_id)].emplace_back(r.state.vehicle_id,
                                                          r.state.timestamp_s);
    known.insert(r.state.vehicle_id);
    clock_.ObserveFix(r.state.timestamp_s);
  }
  // The tracker's learned state in the model (chord bends, GPS noise: Network::AppendLearned)
  // counts from the warm-up's first fix; every shard loads the whole model again after it.
  auto model = store_->GetModel(kModelName);
  if (model.ok() && !shards_.empty())
    shards_[0]->RunOnShardAndWait([&](Shard& s) { (void)s.LoadModel(*model); });
  size_t from_positions_only = 0;
  for (const std::string& id : *with_positions) {
    if (known.contains(id)) continue;
    per_shard[ShardIndex(id)].emplace_back(id, 0);
    ++from_positions_only;
  }
  for (size_t i = 0; i < shards_.size(); ++i)
    if (!per_shard[i].empty()) WarmupFromStore(*shards_[i], per_shard[i]);
  for (const VehicleRecord& r : *list)
    shards_[ShardIndex(r.state.vehicle_id)]->RunOnShard([r](Shard& s) { s.Restore(r); });
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
  recovered_vehicles_ = list->size() + from_positions_only;
  for (auto& sh : shards_) sh->RunOnShardAndWait([](Shard&) {});
  Log(absl::StrCat("recovered ", recovered_vehicles_, " vehicles (", from_positions_only,
                   " from position history only) from ", store_->Describe(), "; ",
                   model_note, " in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));
  return absl::OkStatus();
}

absl::Status SmartbusServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    for (const std::string* f : {&options_.tls_cert_file, &options_.tls_key_file}) {
      if (f->empty() || ::access(f->c_str(), R_OK) != 0)
        return absl::InvalidArgumentError(absl::StrCat(
            "TLS needs both --tls_cert and --tls_key, readable; cannot read '", *f, "'"));
    }
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        options_.tls_key_file, options_.tls_cert_file, std::max(1u, options_.tls_reload_s));
    grpc::experimental::TlsServerCredentialsOptions tls(provider);
    tls.watch_identity_key_cert_pairs();
    creds = grpc::experimental::TlsServerCredentials(tls);
  }
  builder.AddListeningPort(options_.listen, creds, &port_);
  // Large enough that an oversized batch reaches the service and gets a clear
  // INVALID_ARGUMENT naming the batch limit; bounded, with all requests in flight bounded by a
  // resource quota (8 concurrent 60 MB requests once took 1.5 GB).
  builder.SetMaxReceiveMessageSize(options_.max_request_bytes);
  grpc::ResourceQuota quota("smartbusd");
  quota.Resize(static_cast<size_t>(options_.request_memory_bytes));
  builder.SetResourceQuota(quota);
  services_->Register(&builder);
  if (!analytics_service_) {
    AnalyticsHubOptions analytics = options_.analytics;
    analytics.fleet.stale_after_s = static_cast<double>(options_.stale_after_s);
    analytics_service_ = MakeAnalyticsService(this, analytics);
  }
  builder.RegisterService(analytics_service_.get());
  if (!planner_service_) planner_service_ = MakePlannerService(this);
  // Cancelled trips are never ridden by PlanJourney.
  if (!changes_live_) changes_live_ = MakeCancelledTripsLiveTimes(this);
  planner_service_->SetExtraLiveTimes(changes_live_.get());
  builder.RegisterService(planner_service_->service());
  if (!condition_service_) condition_service_ = MakeConditionService(this);
  builder.RegisterService(condition_service_.get());
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
    MutexLock lock(health_mu_);
    health->SetServingStatus(kStorageHealth, storage_serving_);
  }
  if (!options_.http.http.listen.empty()) {
    http_ = std::make_unique<HttpFrontend>(
        this, options_.http, grpc_server_->InProcessChannel(grpc::ChannelArguments()),
        metrics_.get());
    // GTFS-RT out: CANCELED trips, SKIPPED stops and Alerts from the service changes.
    if (!changes_view_) changes_view_ = MakeServiceChangesView(this);
    http_->gtfs_rt().set_changes(changes_view_.get());
    if (auto st = http_->Start(); !st.ok()) {
      http_.reset();
      grpc_server_->Shutdown();
      return st;
    }
    Log(absl::StrCat(http_->http().https() ? "HTTPS" : "HTTP", " on ", options_.http.http.listen,
                     " (port ", http_->port(), ")"));
  }
  if (gtfs_rt_) {
    health->SetServingStatus(kGtfsRtHealth, true);
    gtfs_rt_->Start();
    Log(absl::StrCat("polling ", gtfs_rt_->num_feeds(), " GTFS-RT feeds every ",
                     absl::FormatDuration(options_.gtfs_rt.interval)));
  }
  Log(absl::StrCat("serving on ", options_.listen, " (port ", port_, ", ",
                   options_.tls_cert_file.empty() ? "plaintext" : "TLS", "), ", shards_.size(),
                   " shards, clock ", clock_.follows_fixes() ? "fixes" : "wall", ", store ",
                   store_->Describe()));
  return absl::OkStatus();
}

void SmartbusServer::Wait() {
  if (grpc_server_) grpc_server_->Wait();
}

absl::Status SmartbusServer::Shutdown() {
  MutexLock control(control_mu_);
  if (shut_down_.exchange(true)) return absl::OkStatus();
  Log("shutting down: refusing new work, draining");
  if (gtfs_rt_) gtfs_rt_->Stop();  // waits for a poll in progress (its fixes are processed)
  draining_ = true;
  if (http_) http_->Stop();  // finishes its requests (they call the gRPC services in process)
  if (grpc_server_) grpc_server_->GetHealthCheckService()->Shutdown();
  if (services_) services_->BeginShutdown();
  if (grpc_server_) grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  for (auto& sh : shards_) sh->Stop();  // drains queues, writes vehicles and the model
  SavePaths();
  absl::Status flushed = writer_->Flush(absl::Seconds(10));
  {
    MutexLock lock(monitor_mu_);
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

absl::Status SmartbusServer::ReloadTokens() {
  if (!auth_->enabled()) return absl::OkStatus();
  absl::Status st = auth_->Reload();
  Log(st.ok() ? absl::StrCat("tokens reloaded from ", options_.auth.tokens_file)
              : absl::StrCat("token reload failed, keeping the tokens in use: ", st.message()));
  return st;
}

absl::Status SmartbusServer::ReloadHttpTls() {
  if (!http_ || !http_->http().https()) return absl::OkStatus();
  absl::Status st = http_->http().ReloadTls();
  if (!st.ok())
    Log(LogLevel::kWarn, absl::StrCat("HTTPS certificate reload failed, keeping the one in use: ",
                                      st.message()));
  return st;
}

absl::Status SmartbusServer::Reload() {
  MutexLock control(control_mu_);
  if (shut_down_) return absl::UnavailableError("server is shutting down");
  absl::Time t0 = absl::Now();
  Log(absl::StrCat("reloading GTFS: ", absl::StrJoin(options_.gtfs, ", ")));
  // The paths learned so far (stored now too) draw the new network's patterns without shapes.
  const std::vector<LearnedPath> learned = SavePaths();
  size_t paths_used = 0;
  auto net = LoadNetwork(options_.gtfs, learned, &paths_used);
  if (!net.ok()) {
    Log(LogLevel::kError, absl::StrCat("reload failed, keeping the current network: ", net.status().message()));
    return net.status();
  }
  // Every position acknowledged so far is what the new trackers are warmed up from.
  if (auto s = writer_->Flush(absl::Seconds(5)); !s.ok())
    Log(LogLevel::kWarn, absl::StrCat("reload: store flush incomplete (", s.message(),
                     "): the newest positions may be missing from the warm-up"));
  auto view = std::make_shared<LiveView>(*net);
  StartLearningPaths(*net, learned);  // before the shards switch: their new engines feed it
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
  view->service_changes.store(service_changes_->Current(), std::memory_order_release);
  shared_.view.store(view, std::memory_order_release);
  // An edit made while the new view was built went to the old one: carry the newest over.
  view->service_changes.store(service_changes_->Current(), std::memory_order_release);
  feeds_loaded_s_ = absl::ToUnixSeconds(absl::Now());
  Log(absl::StrCat("reloaded: ", (*net)->feed().routes.size(), " routes, ",
                   (*net)->feed().stops.size(), " stops, ", paths_used, " learned paths; ",
                   vehicles, " vehicles kept, in ",
                   absl::FormatDuration(absl::Trunc(absl::Now() - t0, absl::Milliseconds(1)))));
  return absl::OkStatus();
}

StoreHealth SmartbusServer::StorageHealth() const {
  MutexLock lock(health_mu_);
  return StoreHealth{storage_serving_, storage_reason_};
}

void SmartbusServer::SetStorageServing(bool serving, const std::string& reason) {
  MutexLock lock(health_mu_);
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
  UniqueLock lock(monitor_mu_);
  absl::Time next_paths_save = absl::Now() + options_.shard.model_save_interval;
  while (!monitor_stop_) {
    monitor_cv_.wait_for(lock.native(), std::chrono::seconds(1),
                         [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(monitor_mu_) {
                           return monitor_stop_;
                         });
    if (monitor_stop_) break;
    lock.Unlock();
    StoreHealth h = writer_->Health();
    if (h.serving) h = store_->Health();
    SetStorageServing(h.serving, h.reason);
    if (absl::Now() >= next_paths_save) {
      SavePaths();
      next_paths_save = absl::Now() + options_.shard.model_save_interval;
    }
    if (gtfs_rt_ && grpc_server_ && !shut_down_) {
      const std::string why = gtfs_rt_->Unhealthy(absl::Now());
      if (why != gtfs_rt_unhealthy_) {
        Log(why.empty() ? "gtfs-rt feeds SERVING again" : absl::StrCat("gtfs-rt NOT_SERVING: ", why));
        grpc_server_->GetHealthCheckService()->SetServingStatus(kGtfsRtHealth, why.empty());
        gtfs_rt_unhealthy_ = why;
      }
    }
    // Service changes: prune what is over (trips of days before yesterday), retry the store.
    if (const int64_t now = Now(); now > 0) {
      const absl::CivilDay today =
          absl::ToCivilDay(absl::FromUnixSeconds(now), view()->network->time_zone());
      const absl::CivilDay keep_from = today - 1;
      service_changes_->Tick(static_cast<int32_t>(keep_from.year() * 10000 +
                                                  keep_from.month() * 100 + keep_from.day()),
                             now);
    }
    lock.Lock();
  }
}

void SmartbusServer::StartLearningPaths(const std::shared_ptr<const Network>& net,
                                        const std::vector<LearnedPath>& evidence) {
  auto learner = std::make_shared<PathLearner>(net);
  size_t skipped = 0;
  const size_t restored = learner->RestoreAll(evidence, &skipped);
  if (restored + skipped > 0)
    Log(absl::StrCat("learned paths: evidence of ", restored, " patterns restored (", skipped,
                     " of patterns the feed no longer has)"));
  shared_.paths.store(std::move(learner));
}

std::vector<LearnedPath> SmartbusServer::SavePaths() {
  MutexLock lock(paths_save_mu_);
  std::shared_ptr<PathLearner> learner = shared_.paths.load();
  if (!learner) return {};
  std::vector<LearnedPath> paths = learner->BuildAll();
  size_t confident = 0;
  absl::Status failed;
  for (const LearnedPath& p : paths) {
    confident += p.confident;
    if (absl::Status st = store_->PutLearnedPath(p); !st.ok() && failed.ok()) failed = st;
  }
  if (!failed.ok()) {
    Log(LogLevel::kWarn, absl::StrCat("learned paths not stored: ", failed.message()));
  } else if (confident != paths_confident_) {
    Log(absl::StrCat("learned paths: ", paths.size(), " patterns stored, ", confident,
                     " confident (drawn from the next GTFS reload or restart)"));
  }
  paths_confident_ = confident;
  return paths;
}

std::vector<gtfs_rt::FeedStats> SmartbusServer::GtfsRtStats() const {
  return gtfs_rt_ ? gtfs_rt_->Stats() : std::vector<gtfs_rt::FeedStats>{};
}

std::string SmartbusServer::GtfsRtUnhealthy() const {
  return gtfs_rt_ ? gtfs_rt_->Unhealthy(absl::Now()) : std::string();
}

void SmartbusServer::PublishServiceChanges(std::shared_ptr<const ServiceChangeSet> set) {
  auto v = view();
  const bool trips_changed = v->changes()->trips() != set->trips();
  v->service_changes.store(std::move(set), std::memory_order_release);
  // Predictions are made again at once for every vehicle: a cancelled trip loses them, a
  // restored one gets them back without waiting for its bus's next fix.
  if (trips_changed)
    for (auto& sh : shards_) sh->RunOnShard([](Shard& s) { s.RepublishAll(); });
  if (shared_.poke_watchers) shared_.poke_watchers();
}

std::vector<std::shared_ptr<const VehicleSnapshot>> SmartbusServer::AllVehicles() const {
  std::vector<std::shared_ptr<const VehicleSnapshot>> out;
  for (const auto& sh : shards_) sh->directory().Collect(&out);
  return out;
}


}  // namespace smartbus::server
