// smartbusd's gRPC API, in process: a SmartbusServer on a free loopback port with the embedded
// store and a tiny inline feed (one route S1 -> S2 -> S3 along a meridian, trip T1 on weekdays
// 08:00-08:10 America/New_York), driven through the generated stubs like any client.
// Every bad request is checked with its status code and a message naming the field or id.

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/server.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/minimal_server.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

// 2026-01-06 (a Tuesday) 08:00:00 America/New_York, epoch seconds.
constexpr int64_t kT0800 = 1767704400;

struct Client {
  explicit Client(int port) {
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                  grpc::InsecureChannelCredentials());
    ingest = pb::IngestService::NewStub(ch);
    passenger = pb::PassengerService::NewStub(ch);
    network = pb::NetworkService::NewStub(ch);
    op = pb::OperatorService::NewStub(ch);
    health = grpc::health::v1::Health::NewStub(ch);
  }
  std::unique_ptr<pb::IngestService::Stub> ingest;
  std::unique_ptr<pb::PassengerService::Stub> passenger;
  std::unique_ptr<pb::NetworkService::Stub> network;
  std::unique_ptr<pb::OperatorService::Stub> op;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return c;
}

pb::Fix MakeFix(const std::string& vehicle, int64_t t, double lat, double lon = -75.0,
                const std::string& trip = "T1") {
  pb::Fix f;
  f.set_vehicle_id(vehicle);
  f.set_timestamp(t);
  f.set_lat(lat);
  f.set_lon(lon);
  f.set_trip_id(trip);
  f.set_route_id("R1");
  return f;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer([](ServerOptions&) {}); }

  template <typename F>
  void StartServer(F adjust) {
    feed_dir_ = smartbus::testing::WriteFeedDir(tmp_.path() + "/feed",
                                                smartbus::testing::MinimalFeed());
    ServerOptions opt;
    opt.gtfs = {feed_dir_};
    opt.listen = "127.0.0.1:0";
    opt.clock_follows_fixes = true;
    opt.shard.engine.clock_mode = ClockMode::kFixes;
    opt.shards = 2;
    opt.max_batch = 100;
    opt.log = false;
    opt.shutdown_grace = absl::Milliseconds(200);
    adjust(opt);
    server_.reset();
    auto s = SmartbusServer::Create(opt);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<Client>(server_->port());
  }

  pb::IngestResponse Ingest(std::vector<pb::Fix> fixes, grpc::Status* status = nullptr) {
    pb::IngestRequest req;
    for (auto& f : fixes) *req.add_fixes() = f;
    pb::IngestResponse resp;
    grpc::Status s = client_->ingest->IngestBatch(Ctx().get(), req, &resp);
    if (status) *status = s;
    else EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // A bus driving trip T1 from S1 (lat 40.0000) to S3 (40.0020), about 40 m per 10 s.
  void DriveTo(double lat_end, int64_t t_start = kT0800 - 60) {
    std::vector<pb::Fix> fixes;
    int64_t t = t_start;
    for (double lat = 40.0; lat <= lat_end + 1e-9; lat += 0.0004, t += 10)
      fixes.push_back(MakeFix("bus1", t, lat));
    pb::IngestResponse r = Ingest(fixes);
    EXPECT_EQ(r.accepted(), fixes.size()) << r.DebugString();
    last_t_ = t - 10;
  }

  smartbus::testing::TempDir tmp_;
  std::string feed_dir_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<Client> client_;
  int64_t last_t_ = 0;
};

// ---- Ingest ------------------------------------------------------------------------------

TEST_F(ServerTest, BatchAcceptsFixesAndSaysWhyOthersWereRejected) {
  pb::Fix nan_lat = MakeFix("bus2", kT0800, NAN);
  pb::Fix no_id = MakeFix("", kT0800, 40.0);
  pb::Fix bad_speed = MakeFix("bus3", kT0800, 40.0);
  bad_speed.set_speed_mps(-3);
  pb::Fix bad_time = MakeFix("bus4", 0, 40.0);
  pb::IngestResponse r =
      Ingest({MakeFix("bus1", kT0800, 40.0), nan_lat, no_id, bad_speed, bad_time});
  EXPECT_EQ(r.accepted(), 1u);
  ASSERT_EQ(r.rejections_size(), 4);
  EXPECT_EQ(r.rejections(0).index(), 1u);
  EXPECT_EQ(r.rejections(0).reason(), pb::REJECT_REASON_INVALID_COORDINATES);
  EXPECT_THAT(r.rejections(0).detail(), HasSubstr("lat=nan"));
  EXPECT_EQ(r.rejections(1).reason(), pb::REJECT_REASON_INVALID_VEHICLE_ID);
  EXPECT_THAT(r.rejections(1).detail(), HasSubstr("vehicle_id"));
  EXPECT_EQ(r.rejections(2).reason(), pb::REJECT_REASON_INVALID_FIELD);
  EXPECT_THAT(r.rejections(2).detail(), HasSubstr("speed_mps=-3"));
  EXPECT_EQ(r.rejections(3).reason(), pb::REJECT_REASON_INVALID_FIELD);
  EXPECT_THAT(r.rejections(3).detail(), HasSubstr("timestamp"));
}

TEST_F(ServerTest, DuplicateAndOutOfOrderFixesAreRejectedWithTheEngineReason) {
  Ingest({MakeFix("bus1", kT0800, 40.0), MakeFix("bus1", kT0800 + 20, 40.0002)});
  pb::IngestResponse r =
      Ingest({MakeFix("bus1", kT0800 + 20, 40.0002), MakeFix("bus1", kT0800 + 10, 40.0001)});
  EXPECT_EQ(r.accepted(), 0u);
  ASSERT_EQ(r.rejections_size(), 2);
  EXPECT_EQ(r.rejections(0).reason(), pb::REJECT_REASON_DUPLICATE);
  EXPECT_EQ(r.rejections(1).reason(), pb::REJECT_REASON_OUT_OF_ORDER);
  EXPECT_EQ(r.rejections(1).vehicle_id(), "bus1");
  EXPECT_EQ(r.rejections(1).timestamp(), kT0800 + 10);
}

TEST_F(ServerTest, EmptyBatchIsInvalidArgument) {
  grpc::Status s;
  Ingest({}, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("fixes"));
}

TEST_F(ServerTest, HugeBatchIsInvalidArgumentNamingTheLimit) {
  std::vector<pb::Fix> fixes;
  for (int i = 0; i < 101; ++i) fixes.push_back(MakeFix("bus1", kT0800 + i, 40.0));
  grpc::Status s;
  Ingest(fixes, &s);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("101 fixes"));
  EXPECT_THAT(s.error_message(), HasSubstr("limit is 100"));
}

TEST_F(ServerTest, StreamAnswersEveryRequestWithItsSequenceAndRefusesEmptyOnesInBand) {
  grpc::ClientContext ctx;
  auto stream = client_->ingest->StreamFixes(&ctx);
  pb::IngestRequest req;
  req.set_sequence(7);
  *req.add_fixes() = MakeFix("bus1", kT0800, 40.0);
  ASSERT_TRUE(stream->Write(req));
  pb::IngestRequest empty;
  empty.set_sequence(8);
  ASSERT_TRUE(stream->Write(empty));
  req.set_sequence(9);
  *req.mutable_fixes(0) = MakeFix("bus1", kT0800 + 10, 40.0004);
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  std::map<uint64_t, pb::IngestResponse> got;
  pb::IngestResponse r;
  while (stream->Read(&r)) got[r.sequence()] = r;
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[7].accepted(), 1u);
  EXPECT_EQ(got[7].status_code(), 0);
  EXPECT_EQ(got[8].status_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(got[8].status_message(), HasSubstr("fixes"));
  EXPECT_EQ(got[9].accepted(), 1u);
}

TEST(ServerBackPressureTest, FullShardQueueIsResourceExhausted) {
  smartbus::testing::TempDir tmp;
  std::unique_ptr<SmartbusServer> server;
  StartMinimalServer(tmp, &server, [](ServerOptions& opt) {
    opt.shards = 1;
    opt.shard.queue_capacity = 1;  // one fix at a time
  });
  ASSERT_TRUE(server);
  Client c(server->port());
  pb::IngestRequest req;
  *req.add_fixes() = MakeFix("bus1", kT0800, 40.0);
  *req.add_fixes() = MakeFix("bus1", kT0800 + 10, 40.0004);
  pb::IngestResponse resp;
  grpc::Status s = c.ingest->IngestBatch(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("retry"));
}

TEST(ServerBackPressureTest, FullStoreQueueIsResourceExhausted) {
  smartbus::testing::TempDir tmp;
  std::unique_ptr<SmartbusServer> server;
  StartMinimalServer(tmp, &server, [](ServerOptions& opt) {
    opt.writer.queue_capacity = 5;  // a 2-fix request needs room for 6 changes
  });
  ASSERT_TRUE(server);
  Client c(server->port());
  pb::IngestRequest req;
  *req.add_fixes() = MakeFix("bus1", kT0800, 40.0);
  *req.add_fixes() = MakeFix("bus2", kT0800, 40.0004);
  pb::IngestResponse resp;
  grpc::Status s = c.ingest->IngestBatch(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("store write queue full"));
}

// ---- Passenger -----------------------------------------------------------------------------

TEST_F(ServerTest, ArrivalsShowTheLiveBusWithPredictionAndScheduledTime) {
  DriveTo(40.0008);  // between S1 and S2 (S2 at 40.0010), on T1
  pb::GetArrivalsRequest req;
  req.set_stop_id("S3");
  pb::ArrivalsBoard b;
  ASSERT_TRUE(client_->passenger->GetArrivals(Ctx().get(), req, &b).ok());
  EXPECT_EQ(b.stop_id(), "S3");
  EXPECT_EQ(b.stop_name(), "Third");
  EXPECT_EQ(b.time_zone(), "America/New_York");  // boards show clock times in the agency's zone
  EXPECT_EQ(b.now(), last_t_);
  ASSERT_GE(b.arrivals_size(), 1);
  const pb::Arrival& a = b.arrivals(0);
  EXPECT_TRUE(a.live());
  EXPECT_EQ(a.vehicle_id(), "bus1");
  EXPECT_EQ(a.trip_id(), "T1");
  EXPECT_EQ(a.route_id(), "R1");
  EXPECT_EQ(a.stop_sequence(), 3u);
  EXPECT_EQ(a.scheduled_arrival(), kT0800 + 600);
  EXPECT_GT(a.predicted_arrival(), b.now());
  EXPECT_LE(a.predicted_arrival_p10(), a.predicted_arrival());
  EXPECT_GE(a.predicted_arrival_p90(), a.predicted_arrival());
  EXPECT_EQ(a.stops_away(), 1);  // S2 first
  EXPECT_GT(a.distance_m(), 100);
  EXPECT_LT(a.distance_m(), 200);
  EXPECT_EQ(a.vehicle_last_seen(), last_t_);
}

TEST_F(ServerTest, ArrivalsBadRequests) {
  pb::ArrivalsBoard b;
  pb::GetArrivalsRequest req;
  grpc::Status s = client_->passenger->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("stop_id"));

  req.set_stop_id("NOPE");
  s = client_->passenger->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"NOPE\""));

  req.set_stop_id("S1");
  req.set_limit(101);
  s = client_->passenger->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("limit=101"));

  req.set_limit(0);
  req.set_horizon_s(-5);
  s = client_->passenger->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("horizon_s=-5"));

  req.set_horizon_s(0);
  req.set_route_id("R9");
  s = client_->passenger->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("R9"));

  pb::WatchArrivalsRequest w;
  w.mutable_query()->set_stop_id("NOPE");
  grpc::ClientContext ctx;
  auto reader = client_->passenger->WatchArrivals(&ctx, w);
  pb::ArrivalsBoard board;
  EXPECT_FALSE(reader->Read(&board));
  s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, WatchPushesANewBoardWhenTheBusMoves) {
  DriveTo(40.0004);
  pb::WatchArrivalsRequest w;
  w.mutable_query()->set_stop_id("S3");
  w.set_heartbeat_s(60);
  w.set_min_interval_ms(1);
  grpc::ClientContext ctx;
  auto reader = client_->passenger->WatchArrivals(&ctx, w);
  pb::ArrivalsBoard first, second;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_FALSE(first.heartbeat());
  ASSERT_GE(first.arrivals_size(), 1);
  Ingest({MakeFix("bus1", last_t_ + 10, 40.0008)});
  // Pushed on change, long before the 60 s heartbeat. A board in between (the previous fix
  // still being published as the stream opened, seen once on a loaded machine) is skipped.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader->Read(&second));
    if (second.now() == last_t_ + 10) break;
  }
  EXPECT_FALSE(second.heartbeat());
  EXPECT_GT(second.version(), first.version());
  EXPECT_EQ(second.now(), last_t_ + 10);
  ctx.TryCancel();
}

TEST_F(ServerTest, StopsNearAPoint) {
  pb::FindStopsNearRequest req;
  req.mutable_position()->set_lat(40.0011);
  req.mutable_position()->set_lon(-75.0);
  req.set_radius_m(150);
  pb::FindStopsNearResponse resp;
  ASSERT_TRUE(client_->passenger->FindStopsNear(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.stops_size(), 3);
  EXPECT_EQ(resp.stops(0).stop().stop_id(), "S2");
  EXPECT_NEAR(resp.stops(0).distance_m(), 11.1, 1);
  EXPECT_THAT(resp.stops(0).stop().route_ids(), ::testing::ElementsAre("R1"));
}

TEST_F(ServerTest, StopsNearBadRequests) {
  pb::FindStopsNearResponse resp;
  pb::FindStopsNearRequest req;
  grpc::Status s = client_->passenger->FindStopsNear(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("position"));
  req.mutable_position()->set_lat(NAN);
  s = client_->passenger->FindStopsNear(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("lat=nan"));
  req.mutable_position()->set_lat(40);
  req.mutable_position()->set_lon(-75);
  req.set_radius_m(1e6);
  s = client_->passenger->FindStopsNear(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("radius_m"));
}

TEST_F(ServerTest, VehicleAndVehiclesOfARouteOrInABox) {
  DriveTo(40.0012);
  pb::GetVehicleRequest gv;
  gv.set_vehicle_id("bus1");
  pb::Vehicle v;
  ASSERT_TRUE(client_->passenger->GetVehicle(Ctx().get(), gv, &v).ok());
  EXPECT_EQ(v.trip_id(), "T1");
  EXPECT_EQ(v.route_id(), "R1");
  EXPECT_EQ(v.status(), pb::VEHICLE_STATUS_IN_SERVICE);
  EXPECT_EQ(v.last_seen(), last_t_);
  EXPECT_NEAR(v.position().lat(), 40.0012, 1e-9);
  EXPECT_EQ(v.next_stop_id(), "S3");

  pb::ListVehiclesRequest lr;
  lr.set_route_id("R1");
  pb::ListVehiclesResponse lv;
  ASSERT_TRUE(client_->passenger->ListVehicles(Ctx().get(), lr, &lv).ok());
  ASSERT_EQ(lv.vehicles_size(), 1);
  EXPECT_EQ(lv.vehicles(0).vehicle_id(), "bus1");

  auto* box = lr.mutable_box();
  box->set_south(39.99);
  box->set_north(40.01);
  box->set_west(-75.01);
  box->set_east(-74.99);
  ASSERT_TRUE(client_->passenger->ListVehicles(Ctx().get(), lr, &lv).ok());
  EXPECT_EQ(lv.vehicles_size(), 1);
  box->set_south(41);
  box->set_north(41.1);
  lv.Clear();
  ASSERT_TRUE(client_->passenger->ListVehicles(Ctx().get(), lr, &lv).ok());
  EXPECT_EQ(lv.vehicles_size(), 0);
}

TEST_F(ServerTest, VehicleBadRequests) {
  pb::Vehicle v;
  pb::GetVehicleRequest gv;
  grpc::Status s = client_->passenger->GetVehicle(Ctx().get(), gv, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("vehicle_id"));
  gv.set_vehicle_id("ghost");
  s = client_->passenger->GetVehicle(Ctx().get(), gv, &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("\"ghost\""));

  pb::ListVehiclesResponse lv;
  pb::ListVehiclesRequest lr;
  s = client_->passenger->ListVehicles(Ctx().get(), lr, &lv);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("route_id or box"));
  lr.set_route_id("R9");
  s = client_->passenger->ListVehicles(Ctx().get(), lr, &lv);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  auto* box = lr.mutable_box();
  box->set_south(41);
  box->set_north(40);
  s = client_->passenger->ListVehicles(Ctx().get(), lr, &lv);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("south <= north"));
  box->set_north(NAN);
  s = client_->passenger->ListVehicles(Ctx().get(), lr, &lv);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// ---- Network ---------------------------------------------------------------------------------

TEST_F(ServerTest, RoutesWithShapesAndStops) {
  pb::ListRoutesRequest req;
  req.set_include_shapes(true);
  pb::ListRoutesResponse resp;
  ASSERT_TRUE(client_->network->ListRoutes(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.routes_size(), 1);
  EXPECT_EQ(resp.routes(0).short_name(), "1");
  ASSERT_GE(resp.routes(0).patterns_size(), 1);
  EXPECT_THAT(resp.routes(0).patterns(0).stop_ids(), ::testing::ElementsAre("S1", "S2", "S3"));
  EXPECT_GE(resp.routes(0).patterns(0).points_size(), 2);
  EXPECT_NEAR(resp.routes(0).patterns(0).length_m(), 222, 3);

  req.add_route_ids("R9");
  grpc::Status s = client_->network->ListRoutes(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("R9"));
}

TEST_F(ServerTest, StopsByNameCodeOrId) {
  pb::SearchStopsRequest req;
  req.set_query("sec");
  pb::SearchStopsResponse resp;
  ASSERT_TRUE(client_->network->SearchStops(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.stops_size(), 1);
  EXPECT_EQ(resp.stops(0).stop_id(), "S2");
  req.set_query("S3");
  resp.Clear();
  ASSERT_TRUE(client_->network->SearchStops(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.stops_size(), 1);
  EXPECT_EQ(resp.stops(0).name(), "Third");

  req.set_query("");
  grpc::Status s = client_->network->SearchStops(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("query"));

  pb::GetStopRequest g;
  pb::Stop stop;
  g.set_stop_id("S1");
  ASSERT_TRUE(client_->network->GetStop(Ctx().get(), g, &stop).ok());
  EXPECT_EQ(stop.name(), "First");
  g.set_stop_id("");
  s = client_->network->GetStop(Ctx().get(), g, &stop);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  g.set_stop_id("S99");
  s = client_->network->GetStop(Ctx().get(), g, &stop);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("S99"));
}

// ---- Operator and health -----------------------------------------------------------------------

TEST_F(ServerTest, FleetStatusCountsVehiclesAndMarksStaleOnes) {
  DriveTo(40.0008);
  Ingest({MakeFix("bus9", last_t_ + 600, 40.0, -75.0, "")});  // moves the clock 10 min on
  pb::GetFleetStatusRequest req;
  pb::GetFleetStatusResponse resp;
  ASSERT_TRUE(client_->op->GetFleetStatus(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.vehicles_size(), 2);
  EXPECT_EQ(resp.vehicles(0).vehicle_id(), "bus1");
  EXPECT_TRUE(resp.vehicles(0).stale());  // 600 s old > 120 s
  EXPECT_EQ(resp.vehicles(0).age_s(), 600);
  EXPECT_FALSE(resp.vehicles(1).stale());
  EXPECT_EQ(resp.stale(), 1u);
  EXPECT_EQ(resp.in_service() + resp.layover() + resp.off_route() + resp.unassigned(), 2u);

  req.set_stale_after_s(-1);
  grpc::Status s = client_->op->GetFleetStatus(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("stale_after_s"));
  req.set_stale_after_s(0);
  req.set_route_id("R9");
  s = client_->op->GetFleetStatus(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, HealthReportsServerAndStorage) {
  for (const char* name : {"", "smartbus.storage", "smartbus.v1.IngestService",
                           "smartbus.v1.PassengerService", "smartbus.v1.NetworkService",
                           "smartbus.v1.OperatorService", "smartbus.v1.AnalyticsService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = client_->health->Check(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
}

TEST_F(ServerTest, ServerStatusCountsFixes) {
  DriveTo(40.0008);
  pb::ServerStatus st;
  ASSERT_TRUE(client_->op->GetServerStatus(Ctx().get(), pb::GetServerStatusRequest(), &st).ok());
  EXPECT_EQ(st.clock(), "fixes");
  EXPECT_EQ(st.fixes_accepted(), 3u);
  EXPECT_EQ(st.vehicles(), 1u);
  EXPECT_EQ(st.store().backend(), "memory");
  EXPECT_TRUE(st.store().serving());
}

TEST_F(ServerTest, ReloadKeepsVehicles) {
  DriveTo(40.0008);
  ASSERT_TRUE(server_->Reload().ok());
  pb::GetVehicleRequest gv;
  gv.set_vehicle_id("bus1");
  pb::Vehicle v;
  ASSERT_TRUE(client_->passenger->GetVehicle(Ctx().get(), gv, &v).ok());
  EXPECT_EQ(v.trip_id(), "T1");
  EXPECT_EQ(v.last_seen(), last_t_);
  pb::GetArrivalsRequest req;
  req.set_stop_id("S3");
  req.set_live_only(true);
  pb::ArrivalsBoard b;
  ASSERT_TRUE(client_->passenger->GetArrivals(Ctx().get(), req, &b).ok());
  ASSERT_EQ(b.arrivals_size(), 1);
  EXPECT_EQ(b.arrivals(0).vehicle_id(), "bus1");
}

TEST_F(ServerTest, ShutdownRefusesIngestAfterwards) {
  ASSERT_TRUE(server_->Shutdown().ok());
  EXPECT_TRUE(server_->draining());
}

}  // namespace
}  // namespace smartbus::server
