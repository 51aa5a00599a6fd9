#include "services/server/http/pages.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "services/core/common/mutex.h"
#include "services/server/http/heatmap.h"
#include "services/server/http/http_server.h"
#include "services/server/http/json_api.h"
#include "services/server/server.h"
#include "smartbus/v1/analytics.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"

namespace smartbus::server {

namespace pb = ::smartbus::v1;

// The open display-board streams: each is a WatchArrivals call on the in-process channel whose
// boards an HTTP worker writes out as Server-Sent Events. A watcher thread cancels them all when
// the server starts draining (the HTTP server waits for its requests before the gRPC server
// ends the watch streams, so they must end first) or when this object goes.
class PageStreams {
 public:
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<pb::ArrivalsBoard>> reader;
    pb::ArrivalsBoard first;  // read before answering, so a bad stop id gets a plain 404
  };

  PageStreams(SmartbusServer* server, std::shared_ptr<grpc::Channel> channel, size_t max_open)
      : server_(server),
        stub_(pb::PassengerService::NewStub(std::move(channel))),
        max_open_(max_open) {
    watcher_ = std::thread([this] { WatchForShutdown(); });
  }
  ~PageStreams() { End(); }
  void End() {
    stop_ = true;
    if (watcher_.joinable()) watcher_.join();
    CancelAll();
  }

  // Starts a watch and reads its first board; the call's status when that fails.
  grpc::Status Open(const pb::WatchArrivalsRequest& req, std::shared_ptr<Stream>* out) {
    auto s = std::make_shared<Stream>();
    {
      MutexLock lock(mu_);
      if (stop_ || server_->draining())
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
      if (open_.size() >= max_open_)
        return grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("too many open boards: ", open_.size(), " of at most ", max_open_,
                         " (each holds an HTTP worker; smartbusd --http_threads sets how many, ",
                         "less ", kWorkersKeptForRequests, " kept for other requests)"));
      open_.insert(s.get());
    }
    s->reader = stub_->WatchArrivals(&s->ctx, req);
    if (!s->reader->Read(&s->first)) {
      grpc::Status st = s->reader->Finish();
      Close(s.get());
      return st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended") : st;
    }
    *out = std::move(s);
    return grpc::Status::OK;
  }
  void Close(Stream* s) {
    MutexLock lock(mu_);
    open_.erase(s);
  }
  size_t size() const {
    MutexLock lock(mu_);
    return open_.size();
  }

 private:
  void CancelAll() {
    MutexLock lock(mu_);
    for (Stream* s : open_) s->ctx.TryCancel();
  }
  void WatchForShutdown() {
    constexpr auto kPoll = std::chrono::milliseconds(100);
    while (!stop_ && !server_->draining()) std::this_thread::sleep_for(kPoll);
    CancelAll();
    // Streams opened after the first cancel are refused by Open (draining or stop_).
  }

  SmartbusServer* server_;
  std::unique_ptr<pb::PassengerService::Stub> stub_;
  const size_t max_open_;
  mutable Mutex mu_;
  std::unordered_set<Stream*> open_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

namespace {

// One SSE event; `data` must be one line (protobuf JSON without whitespace is).
std::string SseEvent(const std::string& event, std::string data) {
  while (!data.empty() && data.back() == '\n') data.pop_back();
  return absl::StrCat("event: ", event, "\ndata: ", data, "\n\n");
}

std::string ErrorJson(const grpc::Status& st) {
  nlohmann::json j = {{"code", static_cast<int>(st.error_code())},
                      {"message", st.error_message()}};
  return j.dump();
}

// The WatchArrivalsRequest of a board request: path stop id, the GetArrivals parameters, and
// the stream's own heartbeat_s / min_interval_ms.
absl::Status WatchRequestOf(const HttpRequest& req, pb::WatchArrivalsRequest* w) {
  std::vector<std::pair<std::string, std::string>> query_params = {
      {"stop_id", req.matches[1].str()}};
  std::vector<std::pair<std::string, std::string>> stream_params;
  for (const auto& [k, v] : req.params) {
    if (k == "heartbeat_s" || k == "min_interval_ms")
      stream_params.emplace_back(k, v);
    else
      query_params.emplace_back(k, v);
  }
  if (auto st = FillFromParams(stream_params, {}, w); !st.ok()) return st;
  return FillFromParams(query_params, {}, w->mutable_query());
}

void ServeBoardEvents(const std::shared_ptr<PageStreams>& streams, const HttpRequest& req, HttpResponse& res) {
  pb::WatchArrivalsRequest w;
  if (auto st = WatchRequestOf(req, &w); !st.ok())
    return HttpError(res, 400, std::string(st.message()));
  std::shared_ptr<PageStreams::Stream> s;
  if (grpc::Status st = streams->Open(w, &s); !st.ok()) {
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      res.set_header("Retry-After", "30");  // the board page retries by itself (board.js)
    }
    return HttpError(res, HttpStatusOf(st.error_code()), st.error_message());
  }
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  auto sent_first = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      "text/event-stream",
      [s, sent_first](size_t, httplib::DataSink& sink) {
        pb::ArrivalsBoard board;
        if (!*sent_first) {
          *sent_first = true;
          board = std::move(s->first);
        } else if (!s->reader->Read(&board)) {
          const grpc::Status st = s->reader->Finish();
          const std::string ev = SseEvent("error", ErrorJson(st));
          sink.write(ev.data(), ev.size());
          sink.done();
          return true;
        }
        const std::string ev = SseEvent("board", ToJson(board));
        return sink.write(ev.data(), ev.size());
      },
      [streams, s](bool) {
        s->ctx.TryCancel();
        streams->Close(s.get());
      });
}

// Serves one file of the pages' folder (read per request: small, and edits show at once).
void ServeFile(const std::string& path, const std::string& type, HttpResponse& res) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return HttpError(res, 404, absl::StrCat("page file missing: ", path));
  std::stringstream body;
  body << in.rdbuf();
  res.set_header("Cache-Control", "no-cache");
  res.set_content(body.str(), type);
}

void AddPageFiles(HttpServer* http, const PagesOptions& o) {
  if (o.web_dir.empty()) return;
  const std::string dir = o.web_dir;
  auto page = [dir](const std::string& file) {
    return [path = dir + "/" + file](const HttpRequest&, HttpResponse& res) {
      ServeFile(path, "text/html; charset=utf-8", res);
    };
  };
  http->Get("/", "page.passenger", page("index.html"));
  http->Get("/board/(.+)", "page.board", page("board.html"));
  http->Get("/console", "page.console", page("console.html"));
  if (!http->Mount("/static/", dir))
    fprintf(stderr, "smartbusd: --web_dir %s is not a folder: no pages\n", dir.c_str());
  // The libraries are optional: pages without them say what is missing.
  http->Mount("/vendor/leaflet/", o.leaflet_dir);
  http->Mount("/vendor/chart.js/", o.chartjs_dir);
}

void AddHeatmapRoute(HttpServer* http, SmartbusServer* server,
                     std::shared_ptr<grpc::Channel> channel) {
  std::shared_ptr<pb::AnalyticsService::Stub> stub = pb::AnalyticsService::NewStub(channel);
  http->Get("/api/v1/heatmap", "api.heatmap",
            [server, stub](const HttpRequest& req, HttpResponse& res) {
              auto q = ParseHeatmapQuery(req.params);
              if (!q.ok()) return HttpError(res, 400, std::string(q.status().message()));
              pb::GetRouteAnalyticsRequest areq;
              areq.mutable_window()->set_from(q->from);
              areq.mutable_window()->set_to(q->to);
              areq.set_stops(true);
              pb::GetRouteAnalyticsResponse aresp;
              grpc::ClientContext ctx;
              ForwardCaller(req, &ctx);  // analytics: a viewer token under --tokens
              grpc::Status st = stub->GetRouteAnalytics(&ctx, areq, &aresp);
              if (!st.ok()) return HttpErrorFromGrpc(st, res);
              res.set_content(HeatmapGeoJson(aresp, *server->view()->network, *q),
                              "application/geo+json");
            });
}

}  // namespace

std::shared_ptr<PageStreams> AddPageRoutes(HttpServer* http, SmartbusServer* server,
                                           std::shared_ptr<grpc::Channel> channel,
                                           const PagesOptions& options) {
  const int max_boards =
      options.max_boards > 0
          ? options.max_boards
          : std::max(1, http->options().threads - kWorkersKeptForRequests);
  auto streams = std::make_shared<PageStreams>(server, channel, static_cast<size_t>(max_boards));
  http->Get("/api/v1/stops/(.+)/arrivals/events", "sse.board",
            [streams](const HttpRequest& req, HttpResponse& res) {
              ServeBoardEvents(streams, req, res);
            });
  http->Get("/api/v1/pages/config", "api.pages_config",
            [options](const HttpRequest&, HttpResponse& res) {
              nlohmann::json j = {{"map_tiles_url", options.map_tiles_url},
                                  {"map_tiles_attribution", options.map_tiles_attribution}};
              res.set_content(j.dump() + "\n", "application/json");
            });
  AddHeatmapRoute(http, server, std::move(channel));
  AddPageFiles(http, options);
  return streams;
}

void EndPageStreams(PageStreams* streams) {
  if (streams) streams->End();
}

}  // namespace smartbus::server
