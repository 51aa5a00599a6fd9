// The pages' routes of smartbusd's HTTP server (services/server/http/pages.h, heatmap.h), in
// process: a SmartbusServer with HTTP on a free port over the tiny inline feed (trip T1
// S1 -> S2 -> S3, weekdays 08:00-08:10), the repository's web/ folder, one bus driven over gRPC.
// The browser tests of the pages themselves are tests/web (chromium).

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/server/http/heatmap.h"
#include "services/server/http/pages.h"
#include "services/server/server.h"
#include "smartbus/v1/analytics.pb.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/minimal_server.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 (Tuesday) 08:00 America/New_York

class PagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.shard.engine.clock_mode = ClockMode::kFixes;
      opt.shutdown_grace = absl::Milliseconds(200);
      opt.http.http.listen = "127.0.0.1:0";
      opt.http.pages.web_dir = SMARTBUS_WEB_DIR;
    });
    ASSERT_TRUE(server_);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    ingest_ = pb::IngestService::NewStub(ch);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
  }

  // bus1 on T1 at `lat` (S1 is 40.0000, S2 40.0010), fix time t.
  void Fix(int64_t t, double lat) {
    pb::IngestRequest req;
    pb::Fix* f = req.add_fixes();
    f->set_vehicle_id("bus1");
    f->set_timestamp(t);
    f->set_lat(lat);
    f->set_lon(-75.0);
    f->set_trip_id("T1");
    f->set_route_id("R1");
    pb::IngestResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(ingest_->IngestBatch(&ctx, req, &resp).ok());
  }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(PagesTest, ServesThePagesAndTheirFiles) {
  for (const char* path : {"/", "/board/S2", "/console"}) {
    auto r = http_->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_THAT(r->get_header_value("Content-Type"), HasSubstr("text/html")) << path;
    EXPECT_THAT(r->body, HasSubstr("/static/common.js")) << path;
  }
  auto js = http_->Get("/static/board.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_THAT(js->body, HasSubstr("EventSource"));
  auto missing = http_->Get("/static/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto cfg = http_->Get("/api/v1/pages/config");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(nlohmann::json::parse(cfg->body)["map_tiles_url"], "");
}

// The board's stream: the current board at once, then a new one after a fix changes the stop.
TEST_F(PagesTest, BoardEventsPushAChangedBoard) {
  Fix(kT0800 - 60, 40.0);
  Fix(kT0800 + 30, 40.0002);
  std::vector<nlohmann::json> boards;
  std::string buf;
  std::thread pusher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    Fix(kT0800 + 60, 40.0005);
  });
  httplib::Client c("127.0.0.1", server_->http_port());
  c.set_read_timeout(10, 0);
  auto r = c.Get("/api/v1/stops/S3/arrivals/events?heartbeat_s=30", httplib::Headers{},
                 [&](const httplib::Response& res) {
                   EXPECT_EQ(res.get_header_value("Content-Type"), "text/event-stream");
                   return true;
                 },
                 [&](const char* data, size_t n) {
                   buf.append(data, n);
                   for (size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
                     const std::string ev = buf.substr(0, end);
                     buf.erase(0, end + 2);
                     EXPECT_EQ(ev.rfind("event: board\ndata: ", 0), 0u) << ev;
                     boards.push_back(nlohmann::json::parse(ev.substr(ev.find("data: ") + 6)));
                   }
                   // Stop at the board of the pushed fix. A board may come in between when the
                   // fix before it is still being published as the stream opens (a loaded
                   // machine): the stream then pushes that change too.
                   return boards.size() < 4 &&
                          boards.back()["now"] != std::to_string(kT0800 + 60);
                 });
  pusher.join();
  ASSERT_GE(boards.size(), 2u);
  EXPECT_EQ(boards[0]["stop_id"], "S3");
  EXPECT_EQ(boards[0]["now"], std::to_string(kT0800 + 30));
  EXPECT_EQ(boards.back()["now"], std::to_string(kT0800 + 60));
  EXPECT_FALSE(boards.back()["heartbeat"].get<bool>());
  EXPECT_NE(boards[0]["version"], boards.back()["version"]);
}

TEST_F(PagesTest, BoardEventsOfAnUnknownStopAre404NamingIt) {
  auto r = http_->Get("/api/v1/stops/NOPE/arrivals/events");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_THAT(r->body, HasSubstr("NOPE"));
  auto bad = http_->Get("/api/v1/stops/S1/arrivals/events?heartbeat_s=abc");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("heartbeat_s"));
}

TEST_F(PagesTest, ShutdownEndsOpenBoardsAtOnce) {
  Fix(kT0800, 40.0);
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server_->http_port());
    c.Get("/api/v1/stops/S2/arrivals/events?heartbeat_s=3600", httplib::Headers{},
          [](const char*, size_t) { return true; });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_->Shutdown().ok());
  client.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 3.0) << "an open board held the shutdown";
}

// A board client that reads its response's first bytes and then never again: it holds its
// HTTP worker (and the server's events pile up in its socket). Returns the socket (-1 when the
// connection failed) and the status line's code in *status.
int OpenBoardNeverRead(int port, const std::string& path, int* status) {
  *status = 0;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return -1;
  }
  char line[13] = {};
  if (::recv(fd, line, 12, MSG_WAITALL) == 12) *status = std::atoi(line + 9);  // "HTTP/1.1 200"
  return fd;
}

// As many boards as the server has HTTP workers, their clients never reading: before, they held
// every worker and the server answered nothing else (health checks and the API queued until the
// boards went). Now boards past max_boards (workers - 2) are refused with 429 naming the limit,
// and the server keeps answering; a closed board frees its place. (A refused client that keeps
// its connection open idle holds a worker until keep_alive_timeout_s, as any idle client does.)
TEST_F(PagesTest, BoardsThatNeverReadCannotTakeEveryWorker) {
  Fix(kT0800, 40.0);
  const int workers = 8;  // HttpOptions::threads default, as the fixture runs it
  std::vector<int> fds;
  int opened = 0, refused = 0;
  for (int i = 0; i < workers; ++i) {
    int status = 0;
    const int fd = OpenBoardNeverRead(server_->http_port(),
                                      "/api/v1/stops/S2/arrivals/events?heartbeat_s=1", &status);
    ASSERT_GE(fd, 0);
    opened += status == 200;
    refused += status == 429;
    if (status == 200)
      fds.push_back(fd);
    else
      ::close(fd);  // refused: goes away (as the board page does) and frees its worker
  }
  EXPECT_EQ(opened, workers - kWorkersKeptForRequests);
  EXPECT_EQ(refused, kWorkersKeptForRequests);
  http_->set_read_timeout(3, 0);
  auto health = http_->Get("/healthz");
  ASSERT_TRUE(health) << "the server answered nothing with every board open";
  EXPECT_EQ(health->status, 200);
  auto api = http_->Get("/api/v1/stops/S2/arrivals");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200);
  auto more = http_->Get("/api/v1/stops/S2/arrivals/events");
  ASSERT_TRUE(more);
  EXPECT_EQ(more->status, 429);
  EXPECT_EQ(more->get_header_value("Retry-After"), "30");
  EXPECT_THAT(more->body, HasSubstr("too many open boards: 6 of at most 6"));
  for (int fd : fds) ::close(fd);
  // The boards notice their clients gone at their next write (heartbeat every 1 s).
  bool reopened = false;
  for (int i = 0; i < 50 && !reopened; ++i) {
    int status = 0;
    const int fd = OpenBoardNeverRead(server_->http_port(),
                                      "/api/v1/stops/S2/arrivals/events?heartbeat_s=1", &status);
    if (fd >= 0) ::close(fd);
    reopened = status == 200;
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reopened) << "closed boards did not free their places";
}

TEST(HeatmapQueryTest, ErrorsNameTheParameter) {
  auto q = ParseHeatmapQuery({{"from", "100"}, {"to", "200"}, {"cell_m", "500"}});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->from, 100);
  EXPECT_EQ(q->to, 200);
  EXPECT_EQ(q->cell_m, 500);
  EXPECT_EQ(ParseHeatmapQuery({})->cell_m, 250);
  EXPECT_THAT(std::string(ParseHeatmapQuery({{"cell_m", "10"}}).status().message()),
              HasSubstr("cell_m=\"10\""));
  EXPECT_THAT(std::string(ParseHeatmapQuery({{"from", "x"}}).status().message()),
              HasSubstr("from=\"x\""));
  EXPECT_THAT(std::string(ParseHeatmapQuery({{"from", "9"}, {"to", "5"}}).status().message()),
              HasSubstr("to must be after from"));
  EXPECT_THAT(std::string(ParseHeatmapQuery({{"hour", "5"}}).status().message()),
              HasSubstr("unknown parameter \"hour\""));
}

TEST_F(PagesTest, HeatmapSumsStopFiguresPerCell) {
  // S1 and S2 are 111 m apart: one 5 km cell holds both, 50 m cells hold one each.
  pb::GetRouteAnalyticsResponse a;
  pb::RouteFigures* r = a.add_routes();
  r->set_route_id("R1");
  for (auto [id, boardings] : {std::pair{"S1", 7}, std::pair{"S2", 5}}) {
    pb::StopFigures* s = r->add_stops();
    s->set_stop_id(id);
    s->set_visits(2);
    s->mutable_passengers()->set_boardings(boardings);
    s->mutable_on_time()->set_counted(2);
    s->mutable_on_time()->set_on_time(1);
    s->mutable_on_time()->set_late(1);
  }
  pb::SegmentFigures* seg = r->add_segments();
  seg->set_from_stop_id("S1");
  seg->set_to_stop_id("S2");
  seg->set_traversals(2);
  seg->set_distance_m(111);
  seg->set_mean_time_s(20);
  const auto net = server_->view()->network;
  auto big = nlohmann::json::parse(HeatmapGeoJson(a, *net, {0, 0, 5000}));
  EXPECT_EQ(big["type"], "FeatureCollection");
  ASSERT_EQ(big["features"].size(), 1u);
  const auto& p = big["features"][0]["properties"];
  EXPECT_EQ(p["boardings"], 12);
  EXPECT_EQ(p["visits"], 4);
  EXPECT_DOUBLE_EQ(p["late_pct"].get<double>(), 50.0);
  EXPECT_NEAR(p["mean_speed_kmh"].get<double>(), 111 / 20.0 * 3.6, 1e-9);
  EXPECT_EQ(big["features"][0]["geometry"]["coordinates"][0].size(), 5u);  // closed ring
  auto small = nlohmann::json::parse(HeatmapGeoJson(a, *net, {0, 0, 50}));
  EXPECT_EQ(small["features"].size(), 2u);
  EXPECT_EQ(small["max"]["boardings"], 7);
}

TEST_F(PagesTest, HeatmapRouteAnswersGeoJsonAndNamedErrors) {
  auto r = http_->Get("/api/v1/heatmap?cell_m=300");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/geo+json");
  EXPECT_EQ(nlohmann::json::parse(r->body)["cell_m"], 300);
  auto bad = http_->Get("/api/v1/heatmap?cell_m=0");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("cell_m"));
}

}  // namespace
}  // namespace smartbus::server
