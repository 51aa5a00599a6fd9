#pragma once
// Metrics: smartbusd's /metrics in the Prometheus text format (prometheus-cpp core,
// Debian prometheus-cpp-dev; exposed by our own HTTP server, not prometheus-cpp's).
//
// Two kinds of series:
//   - request latency histograms, observed as requests finish:
//       smartbus_http_request_duration_seconds{route,code}
//       smartbus_grpc_server_handling_seconds{method,code}    (unary calls)
//   - the server's own counters and gauges, read at scrape time (no double bookkeeping):
//       smartbus_fixes_received_total, smartbus_fixes_accepted_total,
//       smartbus_fixes_rejected_total{reason}, smartbus_stop_visits_total,
//       smartbus_predictions_total, smartbus_vehicles{state}, smartbus_vehicles_stale,
//       smartbus_shard_queue_depth{shard}, smartbus_shard_queue_capacity{shard},
//       smartbus_store_up, smartbus_store_queue_depth, smartbus_store_queue_capacity,
//       smartbus_store_changes_applied_total, smartbus_store_changes_rejected_total,
//       smartbus_store_failed_batches_total, smartbus_ingest_streams, smartbus_watch_streams,
//       smartbus_gtfs_rt_feed_age_seconds{feed}, smartbus_gtfs_rt_build_seconds{feed},
//       smartbus_gtfs_rt_entities{feed}, smartbus_newest_fix_age_seconds,
//       smartbus_gtfs_loaded_timestamp_seconds, smartbus_uptime_seconds,
//       smartbus_service_alerts, smartbus_trip_changes,
//       smartbus_service_changes_store_errors_total, and per GTFS-RT input feed
//       ({feed=<source>,kind}): smartbus_gtfs_rt_input_polls_total{result},
//       smartbus_gtfs_rt_input_entities_total{outcome}, smartbus_gtfs_rt_input_fixes_total{outcome},
//       smartbus_gtfs_rt_input_last_good_poll_age_seconds,
//       smartbus_gtfs_rt_input_header_unchanged_seconds, smartbus_gtfs_rt_input_healthy.
// Other parts may register their own families on registry().

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace smartbus::server {

class SmartbusServer;
class GtfsRtFeeds;

class Metrics {
 public:
  Metrics();
  ~Metrics();
  void ObserveHttp(const std::string& route, int status, double seconds);
  void ObserveGrpc(const std::string& method, int code, double seconds);
  // The text exposition (text/plain; version=0.0.4). `feeds` may be null.
  std::string Scrape(const SmartbusServer& server, GtfsRtFeeds* feeds) const;
  prometheus::Registry& registry() { return *registry_; }
  // A gRPC server interceptor factory timing every unary call into ObserveGrpc.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcInterceptor();

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Histogram>* http_;
  prometheus::Family<prometheus::Histogram>* grpc_;
};

}  // namespace smartbus::server
