#include "services/server/http/frontend.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/server/http/gtfs_rt.h"
#include "services/server/http/json_api.h"
#include "services/server/http/metrics.h"
#include "services/server/http/siri.h"
#include "services/server/server.h"

namespace smartbus::server {
namespace {

// The HTTP options with HTTPS certificate messages going to the server's log.
HttpOptions WithLog(HttpOptions o, SmartbusServer* server) {
  if (!o.log)
    o.log = [server](const std::string& line) {
      const bool bad = line.find("still serving") != std::string::npos;
      server->Log(bad ? LogLevel::kWarn : LogLevel::kInfo, line);
    };
  return o;
}

}  // namespace

HttpFrontend::HttpFrontend(SmartbusServer* server, HttpFrontendOptions options,
                           std::shared_ptr<grpc::Channel> channel, Metrics* metrics)
    : server_(server), http_(WithLog(options.http, server)),
      feeds_(std::make_unique<GtfsRtFeeds>(server, options.gtfs_rt_refresh_s,
                                           options.gtfs_rt_max_age_s)) {
  http_.set_observer([metrics, server](const std::string& route, int status, double s) {
    if (metrics) metrics->ObserveHttp(route, status, s);
    if (status >= 500)  // every client may repeat a failing request: rate-limited
      server->log().WriteLimited(absl::StrCat("http ", route, " ", status), LogLevel::kError,
                                 absl::StrCat("HTTP ", route, " answered ", status));
  });
  http_.Get("/healthz", "healthz", [](const HttpRequest&, HttpResponse& res) {
    res.set_content("ok\n", "text/plain");
  });
  http_.Get("/readyz", "readyz", [server](const HttpRequest&, HttpResponse& res) {
    const StoreHealth h = server->StorageHealth();
    const bool ready = !server->draining();
    nlohmann::json j = {{"ready", ready},
                        {"draining", server->draining()},
                        {"storage", h.serving ? "SERVING" : "NOT_SERVING"},
                        {"storage_reason", h.reason}};
    res.status = ready ? 200 : 503;
    res.set_content(j.dump() + "\n", "application/json");
  });
  if (metrics)
    http_.Get("/metrics", "metrics", [server, metrics, this](const HttpRequest&, HttpResponse& res) {
      res.set_content(metrics->Scrape(*server, feeds_.get()), "text/plain; version=0.0.4");
    });
  // Before the JSON mirror: its /api/v1/stops/{stop_id} would take .../arrivals/events.
  pages_ = AddPageRoutes(&http_, server, channel, options.pages);
  AddJsonApi(&http_, std::move(channel));
  AddGtfsRtRoutes(&http_, feeds_.get());
  AddSiriRoutes(&http_, server);
}

HttpFrontend::~HttpFrontend() {
  EndPageStreams(pages_.get());  // an open board would hold its worker until its next heartbeat
  Stop();
}

}  // namespace smartbus::server
