#include "services/server/http/metrics.h"

#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/server/http/gtfs_rt.h"
#include "services/server/server.h"
#include "services/server/services.h"
#include "smartbus/v1/ingest.pb.h"

namespace smartbus::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Request latency buckets, seconds: 0.5 ms .. 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *b;
}

class Families {
 public:
  explicit Families(std::vector<MetricFamily>* out) : out_(out) {}
  // Starts a family (name, help, type); Add() then appends samples to it.
  Families& Family(const std::string& name, const std::string& help, MetricType type) {
    out_->push_back(MetricFamily{name, help, type, {}});
    return *this;
  }
  Families& Add(double v, std::vector<ClientMetric::Label> labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (out_->back().type == MetricType::Counter) m.counter.value = v;
    else m.gauge.value = v;
    out_->back().metric.push_back(std::move(m));
    return *this;
  }

 private:
  std::vector<MetricFamily>* out_;
};

void FixesAndVehicles(const SmartbusServer& server, Families& f) {
  const ShardShared& sh = server.shared();
  f.Family("smartbus_fixes_received_total", "Fixes received by Ingest.", MetricType::Counter)
      .Add(static_cast<double>(server.fixes_received()));
  f.Family("smartbus_fixes_accepted_total", "Fixes accepted by the tracker.", MetricType::Counter)
      .Add(static_cast<double>(sh.accepted.load()));
  f.Family("smartbus_fixes_rejected_total",
           "Fixes not accepted, by reason (overloaded: refused for back-pressure, not processed).",
           MetricType::Counter);
  for (int r = 1; r < static_cast<int>(sh.rejected_by_reason.size()); ++r) {
    if (!smartbus::v1::RejectReason_IsValid(r)) continue;
    const std::string full =
        smartbus::v1::RejectReason_Name(static_cast<smartbus::v1::RejectReason>(r));
    const std::string name(absl::StripPrefix(full, "REJECT_REASON_"));
    const double v = r == smartbus::v1::REJECT_REASON_OVERLOADED
                         ? static_cast<double>(sh.overloaded.load())
                         : static_cast<double>(sh.rejected_by_reason[r].load());
    f.Add(v, {{"reason", absl::AsciiStrToLower(name)}});
  }
  f.Family("smartbus_stop_visits_total", "Stop visits detected.", MetricType::Counter)
      .Add(static_cast<double>(sh.stop_visits.load()));
  f.Family("smartbus_predictions_total",
           "Arrival predictions published (one per stop ahead, per vehicle update).",
           MetricType::Counter)
      .Add(static_cast<double>(sh.predictions.load()));
  double states[5] = {0, 0, 0, 0, 0};
  double stale = 0;
  int64_t newest = 0;
  const int64_t now = server.Now();
  for (const auto& v : server.AllVehicles()) {
    const VehicleState& st = v->state;
    newest = std::max(newest, st.timestamp_s);
    if (now - st.timestamp_s > server.options().stale_after_s) ++stale;
    switch (st.state) {
      case MatchState::kInService: ++states[0]; break;
      case MatchState::kLayover: ++states[1]; break;
      case MatchState::kOffRoute: ++states[2]; break;
      default: ++states[3]; break;
    }
  }
  f.Family("smartbus_vehicles", "Tracked vehicles by tracking state.", MetricType::Gauge)
      .Add(states[0], {{"state", "in_service"}})
      .Add(states[1], {{"state", "layover"}})
      .Add(states[2], {{"state", "off_route"}})
      .Add(states[3], {{"state", "unassigned"}});
  f.Family("smartbus_vehicles_stale", "Vehicles whose newest fix is older than --stale_after_s.",
           MetricType::Gauge)
      .Add(stale);
  f.Family("smartbus_newest_fix_age_seconds",
           "Server clock minus the newest fix of any vehicle (NaN: no vehicle).", MetricType::Gauge)
      .Add(newest ? static_cast<double>(now - newest) : NAN);
}

void QueuesAndStore(const SmartbusServer& server, Families& f) {
  f.Family("smartbus_shard_queue_depth", "Fixes waiting in a tracking shard's queue.",
           MetricType::Gauge);
  for (auto& s : server.shards())
    f.Add(static_cast<double>(s->queued()), {{"shard", std::to_string(s->index())}});
  f.Family("smartbus_shard_queue_capacity", "Fixes a tracking shard's queue holds.",
           MetricType::Gauge);
  for (auto& s : server.shards())
    f.Add(static_cast<double>(s->capacity()), {{"shard", std::to_string(s->index())}});
  const StoreWriterStats ws = server.writer().Stats();
  f.Family("smartbus_store_up", "1 while the store can be written.", MetricType::Gauge)
      .Add(server.StorageHealth().serving ? 1 : 0);
  f.Family("smartbus_store_queue_depth",
           "Changes waiting in the store write-behind queue (the store's lag).", MetricType::Gauge)
      .Add(static_cast<double>(ws.queued));
  f.Family("smartbus_store_queue_capacity", "Changes the store write-behind queue holds.",
           MetricType::Gauge)
      .Add(static_cast<double>(server.options().writer.queue_capacity));
  f.Family("smartbus_store_changes_applied_total", "Changes the store acknowledged.",
           MetricType::Counter)
      .Add(static_cast<double>(ws.applied));
  f.Family("smartbus_store_changes_rejected_total", "Changes refused: store queue full.",
           MetricType::Counter)
      .Add(static_cast<double>(ws.rejected));
  f.Family("smartbus_store_failed_batches_total", "Store writes that failed (and were retried).",
           MetricType::Counter)
      .Add(static_cast<double>(ws.failed_batches));
  if (const ServiceSet* s = server.services()) {
    f.Family("smartbus_ingest_streams", "Open StreamFixes calls.", MetricType::Gauge)
        .Add(s->ingest_streams());
    f.Family("smartbus_watch_streams", "Open WatchArrivals calls.", MetricType::Gauge)
        .Add(s->watch_streams());
  }
  f.Family("smartbus_gtfs_loaded_timestamp_seconds", "When the GTFS feeds were (re)loaded.",
           MetricType::Gauge)
      .Add(static_cast<double>(server.feeds_loaded_s()));
  f.Family("smartbus_uptime_seconds", "Seconds since the server started.", MetricType::Gauge)
      .Add(static_cast<double>(absl::ToUnixSeconds(absl::Now()) - server.started_s()));
}

void Feeds(const SmartbusServer& server, GtfsRtFeeds* feeds, Families& f) {
  if (!feeds) return;
  const std::pair<const char*, FeedKind> kinds[] = {{"trip_updates", FeedKind::kTripUpdates},
                                                    {"vehicle_positions", FeedKind::kVehiclePositions},
                                                    {"alerts", FeedKind::kAlerts}};
  std::shared_ptr<const BuiltFeed> built[3];
  for (int i = 0; i < 3; ++i) built[i] = feeds->Last(kinds[i].second);
  f.Family("smartbus_gtfs_rt_feed_age_seconds",
           "Server clock minus the header timestamp of the last GTFS-RT build (absent: never "
           "requested).",
           MetricType::Gauge);
  for (int i = 0; i < 3; ++i)
    if (built[i])
      f.Add(static_cast<double>(server.Now() - built[i]->timestamp), {{"feed", kinds[i].first}});
  f.Family("smartbus_gtfs_rt_build_seconds", "Time the last GTFS-RT build took.",
           MetricType::Gauge);
  for (int i = 0; i < 3; ++i)
    if (built[i]) f.Add(built[i]->build_seconds, {{"feed", kinds[i].first}});
  f.Family("smartbus_gtfs_rt_entities", "Entities in the last GTFS-RT build.", MetricType::Gauge);
  for (int i = 0; i < 3; ++i)
    if (built[i]) f.Add(static_cast<double>(built[i]->entities), {{"feed", kinds[i].first}});
}

// The GTFS-RT input (--gtfs_rt_* feeds, services/gtfs_rt/poller.h), one series per feed
// (label feed = its source name, the URL without query string) and the service changes in force.
void GtfsRtInput(const SmartbusServer& server, Families& f) {
  const ServiceChangeStats sc = server.service_changes().Stats();
  f.Family("smartbus_service_alerts", "Rider alerts in force (operator and agency feeds).",
           MetricType::Gauge)
      .Add(static_cast<double>(sc.alerts));
  f.Family("smartbus_trip_changes", "Trip changes in force (cancelled trips, skipped stops).",
           MetricType::Gauge)
      .Add(static_cast<double>(sc.trips));
  f.Family("smartbus_service_changes_store_errors_total",
           "Service-change writes the store refused (kept in force, rewritten later).",
           MetricType::Counter)
      .Add(static_cast<double>(sc.store_errors));
  const std::vector<gtfs_rt::FeedStats> feeds = server.GtfsRtStats();
  if (feeds.empty()) return;
  auto labels = [](const gtfs_rt::FeedStats& s, const char* k = nullptr, std::string v = "") {
    std::vector<ClientMetric::Label> l = {{"feed", s.source},
                                          {"kind", std::string(gtfs_rt::FeedKindName(s.kind))}};
    if (k) l.push_back({k, std::move(v)});
    return l;
  };
  f.Family("smartbus_gtfs_rt_input_polls_total",
           "Polls of an agency GTFS-RT feed by result (good, or why it was refused).",
           MetricType::Counter);
  for (const auto& s : feeds) {
    f.Add(static_cast<double>(s.good_polls), labels(s, "result", "good"));
    for (int e = 0; e < gtfs_rt::kNumFeedErrors; ++e)
      f.Add(static_cast<double>(s.errors[e]),
            labels(s, "result", std::string(gtfs_rt::FeedErrorName(gtfs_rt::FeedError(e)))));
  }
  f.Family("smartbus_gtfs_rt_input_entities_total",
           "Entities read from good polls, by what became of them.", MetricType::Counter);
  for (const auto& s : feeds) {
    const gtfs_rt::EntityCounts& c = s.entities;
    const std::pair<const char*, uint64_t> outcomes[] = {
        {"used", c.used},   {"other_type", c.other_type},       {"invalid", c.invalid},
        {"duplicate", c.duplicates}, {"stale", c.stale}, {"unknown_trip", c.unknown_trips},
        {"deleted", c.deleted},     {"added_trip", c.added_trips}};
    for (const auto& [name, n] : outcomes) f.Add(static_cast<double>(n), labels(s, "outcome", name));
  }
  f.Family("smartbus_gtfs_rt_input_fixes_total",
           "VehiclePositions fixes sent to ingest, by its answer.", MetricType::Counter);
  for (const auto& s : feeds)
    if (s.kind == gtfs_rt::FeedKind::kVehiclePositions)
      f.Add(static_cast<double>(s.fixes_accepted), labels(s, "outcome", "accepted"))
          .Add(static_cast<double>(s.fixes_rejected), labels(s, "outcome", "rejected"))
          .Add(static_cast<double>(s.fixes_overloaded), labels(s, "outcome", "overloaded"));
  const absl::Time now = absl::Now();
  f.Family("smartbus_gtfs_rt_input_last_good_poll_age_seconds",
           "Seconds since the feed's last good poll (absent: none yet).", MetricType::Gauge);
  for (const auto& s : feeds)
    if (s.last_good != absl::InfinitePast())
      f.Add(absl::ToDoubleSeconds(now - s.last_good), labels(s));
  f.Family("smartbus_gtfs_rt_input_header_unchanged_seconds",
           "Seconds since the feed's header timestamp last moved (a stalled feed grows).",
           MetricType::Gauge);
  for (const auto& s : feeds)
    if (s.header_changed != absl::InfinitePast())
      f.Add(absl::ToDoubleSeconds(now - s.header_changed), labels(s));
  f.Family("smartbus_gtfs_rt_input_healthy",
           "1 while every GTFS-RT input feed polls well (health service smartbus.gtfs_rt).",
           MetricType::Gauge)
      .Add(server.GtfsRtUnhealthy().empty() ? 1 : 0);
}

class TimingInterceptor final : public grpc::experimental::Interceptor {
 public:
  TimingInterceptor(Metrics* m, grpc::experimental::ServerRpcInfo* info)
      : metrics_(m), method_(info->method()),
        unary_(info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY),
        start_(std::chrono::steady_clock::now()) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (unary_ &&
        methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_->ObserveGrpc(method_, methods->GetSendStatus().error_code(), s);
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  std::string method_;
  bool unary_;
  std::chrono::steady_clock::time_point start_;
};

class TimingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit TimingFactory(Metrics* m) : metrics_(m) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new TimingInterceptor(metrics_, info);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  http_ = &prometheus::BuildHistogram()
               .Name("smartbus_http_request_duration_seconds")
               .Help("HTTP requests served, by route and status code, seconds.")
               .Register(*registry_);
  grpc_ = &prometheus::BuildHistogram()
               .Name("smartbus_grpc_server_handling_seconds")
               .Help("Unary gRPC calls handled, by method and status code, seconds.")
               .Register(*registry_);
}

Metrics::~Metrics() = default;

void Metrics::ObserveHttp(const std::string& route, int status, double seconds) {
  http_->Add({{"route", route}, {"code", std::to_string(status)}}, LatencyBuckets())
      .Observe(seconds);
}

void Metrics::ObserveGrpc(const std::string& method, int code, double seconds) {
  grpc_->Add({{"method", method}, {"code", std::to_string(code)}}, LatencyBuckets())
      .Observe(seconds);
}

std::string Metrics::Scrape(const SmartbusServer& server, GtfsRtFeeds* feeds) const {
  std::vector<MetricFamily> fams = registry_->Collect();
  Families f(&fams);
  FixesAndVehicles(server, f);
  QueuesAndStore(server, f);
  Feeds(server, feeds, f);
  GtfsRtInput(server, f);
  return prometheus::TextSerializer().Serialize(fams);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Metrics::GrpcInterceptor() {
  return std::make_unique<TimingFactory>(this);
}

}  // namespace smartbus::server
