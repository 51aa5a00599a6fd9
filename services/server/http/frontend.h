#pragma once
// HttpFrontend: what smartbusd serves over HTTP (--http_listen), on one HttpServer:
//   /healthz, /readyz                 liveness and readiness
//   /api/v1/...                       the JSON mirror of the gRPC API (json_api.h)
//   /gtfs-rt/trip-updates, /gtfs-rt/vehicle-positions, /gtfs-rt/alerts   (gtfs_rt.h)
//   /metrics                          Prometheus text format (metrics.h)
//   /siri/stop-monitoring.json, /siri/vehicle-monitoring.json        SIRI-Lite (siri.h)
// Later additions (web pages) register their routes on http().

#include <memory>

#include "absl/status/statusor.h"
#include "services/server/http/http_server.h"
#include "services/server/http/pages.h"

namespace grpc {
class Channel;
}

namespace smartbus::server {

class SmartbusServer;
class GtfsRtFeeds;
class Metrics;

struct HttpFrontendOptions {
  HttpOptions http;
  // GTFS-RT feeds are rebuilt at most this often (s); every request in between gets the cached
  // bytes. Default 5.
  int gtfs_rt_refresh_s = 5;
  // A vehicle whose newest fix is older than this (s) is left out of the GTFS-RT feeds (the
  // GTFS-RT best practices: data no older than 90 s). Default 90.
  int64_t gtfs_rt_max_age_s = 90;
  // The pages (board, passenger page, console) and their SSE / heat map routes (pages.h).
  PagesOptions pages;
};

class HttpFrontend {
 public:
  // `channel`: the gRPC server's in-process channel (the JSON mirror calls the services on it).
  HttpFrontend(SmartbusServer* server, HttpFrontendOptions options,
               std::shared_ptr<grpc::Channel> channel, Metrics* metrics);
  ~HttpFrontend();
  absl::Status Start() { return http_.Start(); }
  void Stop() { http_.Stop(); }
  int port() const { return http_.port(); }
  HttpServer& http() { return http_; }
  GtfsRtFeeds& gtfs_rt() { return *feeds_; }

 private:
  SmartbusServer* server_;
  HttpServer http_;
  std::unique_ptr<GtfsRtFeeds> feeds_;
  std::shared_ptr<PageStreams> pages_;
};

}  // namespace smartbus::server
