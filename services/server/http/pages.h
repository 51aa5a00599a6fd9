#pragma once
// The pages people look at (web/: plain HTML/CSS/JS, no build step), served by smartbusd's
// HTTP server next to the JSON mirror:
//   /                       passenger page (web/index.html)
//   /board/{stop_id}        station display board (web/board.html; the stop id is read by the page)
//   /console                operator console (web/console.html)
//   /static/...             the files of web/
//   /vendor/leaflet/...     Debian's libjs-leaflet (/usr/share/javascript/leaflet)
//   /vendor/chart.js/...    Debian's libjs-chart.js (/usr/share/javascript/chart.js)
//   /api/v1/pages/config    what the pages need to know: {"map_tiles_url": "..."}
//   /api/v1/stops/{stop_id}/arrivals/events
//                           Server-Sent Events: one `board` event (an ArrivalsBoard in the JSON
//                           mirror's shape) per board WatchArrivals pushes (the same watch hub),
//                           heartbeats included; `error` event with the gRPC error and the
//                           stream ends when the call fails (bad stop id, shutdown). Query
//                           parameters as /api/v1/stops/{stop_id}/arrivals (limit, horizon_s,
//                           route_id, live_only) plus heartbeat_s and min_interval_ms.
//   /api/v1/heatmap         GeoJSON grid of passenger and service figures (heatmap.h)
// An open board holds one HTTP worker thread for as long as it is open (cpp-httplib serves a
// connection on one thread): --http_threads must exceed the boards expected at once.

#include <memory>
#include <string>

namespace grpc {
class Channel;
}

namespace smartbus::server {

class HttpServer;
class SmartbusServer;

struct PagesOptions {
  // The folder of the pages (the repository's web/). "" = no pages (the API routes stay).
  std::string web_dir;
  // Folders of the JavaScript libraries (Debian's libjs-leaflet and libjs-chart.js).
  std::string leaflet_dir = "/usr/share/javascript/leaflet";
  std::string chartjs_dir = "/usr/share/javascript/chart.js";
  // A map tile URL template for the console (e.g. "https://tile.example/{z}/{x}/{y}.png");
  // "" = no tile layer: route lines on a plain background (works with no internet).
  std::string map_tiles_url;
  // Attribution shown under the tile layer (the tile provider's terms usually require one).
  std::string map_tiles_attribution;
  // Display boards (SSE) open at once. Each open board holds one HTTP worker while open
  // (cpp-httplib serves a connection on one thread), so boards beyond the workers would starve
  // every other request (the JSON API, feeds, health checks): a board past the limit is refused
  // (429, Retry-After). 0 = the HTTP workers less kWorkersKeptForRequests, at least 1.
  int max_boards = 0;
};
// HTTP workers never taken by boards when max_boards is 0: one for the API and pages, one for
// the feeds and health checks, so that a wall of boards (or boards whose clients never read)
// leaves the server answering.
inline constexpr int kWorkersKeptForRequests = 2;

class PageStreams;  // the open SSE streams (pages.cc)

// Registers the routes above on `http`. `channel`: the gRPC server's in-process channel (SSE
// boards are WatchArrivals calls on it). The open SSE streams end when the server starts
// draining, or at EndPageStreams (call it before stopping the HTTP server otherwise).
std::shared_ptr<PageStreams> AddPageRoutes(HttpServer* http, SmartbusServer* server,
                                           std::shared_ptr<grpc::Channel> channel,
                                           const PagesOptions& options);
// Ends the open SSE streams and refuses new ones.
void EndPageStreams(PageStreams* streams);

}  // namespace smartbus::server
