// Service changes through smartbusd's gRPC API, in process: cancel / restore a trip or a stop,
// post / end alerts, what the arrival boards show, the display-board stream, and that both
// survive a restart (Redis store), on the boards and in the GTFS-RT feeds. Tiny inline feed (tests/core/gtfs/test_feed.h): route R1,
// S1 -> S2 -> S3 along a meridian; weekday trip T1 08:00-08:10 America/New_York.

// Before httplib.h: <netdb.h> defines a NO_DATA macro that clashes with the generated enum.
#include "transit_realtime/gtfs-realtime.pb.h"

#include <httplib.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/server.h"
#include "services/store/redis_store.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/store/redis_test_server.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

// 2026-01-06 (a Tuesday) 08:00:00 America/New_York, epoch seconds.
constexpr int64_t kT0800 = 1767704400;
constexpr uint32_t kDay = 20260106;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return c;
}

class ServiceChangesServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    feed_dir_ = smartbus::testing::WriteFeedDir(tmp_.path() + "/feed",
                                                smartbus::testing::MinimalFeed());
    int port = smartbus::testing::SharedRedisPort();
    if (port == 0) {
      ASSERT_TRUE(redis_.Start().ok());
      port = redis_.port();
    }
    redis_port_ = port;
    redis_url_ = "redis://127.0.0.1:" + std::to_string(port);
    prefix_ = "sbtest:svc:" + std::to_string(::getpid()) + ":" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
    Start();
  }

  void Start() {
    if (server_) {
      ASSERT_TRUE(server_->Shutdown().ok());
    }
    server_.reset();
    ServerOptions opt;
    opt.gtfs = {feed_dir_};
    opt.listen = "127.0.0.1:0";
    opt.store_url = redis_url_;
    opt.store.key_prefix = prefix_;
    opt.clock_follows_fixes = true;
    opt.shard.engine.clock_mode = ClockMode::kFixes;
    opt.log = false;
    opt.shutdown_grace = absl::Milliseconds(200);
    opt.http.http.listen = "127.0.0.1:0";
    opt.http.gtfs_rt_refresh_s = 0;  // every request sees the state of the moment
    auto s = SmartbusServer::Create(opt);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    ingest_ = pb::IngestService::NewStub(ch);
    passenger_ = pb::PassengerService::NewStub(ch);
    op_ = pb::OperatorService::NewStub(ch);
  }

  void TearDown() override {
    if (server_) (void)server_->Shutdown();
    server_.reset();
    StoreOptions o;
    o.key_prefix = prefix_;
    RedisAddress a;
    a.port = redis_port_;
    (void)RedisStore(a, o).DeleteAllKeys();
  }

  // bus1 on T1 from S1 to about a fifth of the way to S2 (the clock is then ~08:00).
  void DriveABit(const std::string& vehicle = "bus1", int64_t start = kT0800 - 30) {
    pb::IngestRequest req;
    int64_t t = start;
    for (double lat : {40.0, 40.0001, 40.0002, 40.0003}) {
      pb::Fix* f = req.add_fixes();
      f->set_vehicle_id(vehicle);
      f->set_timestamp(t += 10);
      f->set_lat(lat);
      f->set_lon(-75.0);
      f->set_trip_id("T1");
      f->set_route_id("R1");
    }
    pb::IngestResponse resp;
    ASSERT_TRUE(ingest_->IngestBatch(Ctx().get(), req, &resp).ok());
    ASSERT_EQ(resp.accepted(), 4u) << resp.DebugString();
  }

  pb::ArrivalsBoard Board(const std::string& stop, bool live_only = false) {
    pb::GetArrivalsRequest req;
    req.set_stop_id(stop);
    req.set_live_only(live_only);
    pb::ArrivalsBoard b;
    grpc::Status s = passenger_->GetArrivals(Ctx().get(), req, &b);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return b;
  }

  // The T1 row of a board, or nullptr.
  static const pb::Arrival* T1(const pb::ArrivalsBoard& b) {
    for (const auto& a : b.arrivals())
      if (a.trip_id() == "T1") return &a;
    return nullptr;
  }

  grpc::Status Cancel(const std::string& trip, const std::string& stop = "",
                      pb::TripChangeResponse* out = nullptr, uint32_t date = 0) {
    pb::CancelTripRequest req;
    req.set_trip_id(trip);
    req.set_stop_id(stop);
    req.set_service_date(date);
    req.set_reason("no driver");
    pb::TripChangeResponse resp;
    return op_->CancelTrip(Ctx().get(), req, out ? out : &resp);
  }

  grpc::Status Restore(const std::string& trip, const std::string& stop = "") {
    pb::RestoreTripRequest req;
    req.set_trip_id(trip);
    req.set_stop_id(stop);
    pb::TripChangeResponse resp;
    return op_->RestoreTrip(Ctx().get(), req, &resp);
  }

  grpc::Status PostAlert(const std::string& id, const std::string& route,
                         const std::string& stop, pb::PostAlertResponse* out = nullptr) {
    pb::PostAlertRequest req;
    pb::ServiceAlert* a = req.mutable_alert();
    a->set_alert_id(id);
    auto* e = a->add_informed_entities();
    e->set_route_id(route);
    e->set_stop_id(stop);
    auto* en = a->mutable_header_text()->add_translations();
    en->set_language("en");
    en->set_text("Stop closed for works");
    auto* es = a->mutable_header_text()->add_translations();
    es->set_language("es");
    es->set_text("Parada cerrada por obras");
    a->set_effect(pb::DETOUR);
    pb::PostAlertResponse resp;
    return op_->PostAlert(Ctx().get(), req, out ? out : &resp);
  }

  // A GTFS-RT feed of the server as text lines, one per entity: its id, trip descriptor (trip,
  // start date and time, relationship), vehicle, stops with their relationships, alert
  // selectors. Times left out: predictions made again after a restart may move a second.
  std::vector<std::string> FeedLines(const std::string& name) {
    httplib::Client http("127.0.0.1", server_->http_port());
    auto r = http.Get(("/gtfs-rt/" + name).c_str());
    EXPECT_TRUE(r && r->status == 200) << name;
    transit_realtime::FeedMessage m;
    if (!r || !m.ParseFromString(r->body)) return {"unreadable " + name};
    std::vector<std::string> out;
    for (const auto& e : m.entity()) {
      std::string line = e.id();
      const transit_realtime::TripDescriptor* td =
          e.has_trip_update() ? &e.trip_update().trip() : e.has_vehicle() ? &e.vehicle().trip() : nullptr;
      if (td)
        line += " trip " + td->trip_id() + " " + td->start_date() + " " + td->start_time() + " " +
                std::to_string(td->schedule_relationship());
      if (e.has_trip_update()) {
        line += " vehicle " + e.trip_update().vehicle().id();
        for (const auto& u : e.trip_update().stop_time_update())
          line += " " + u.stop_id() + ":" + std::to_string(u.schedule_relationship());
      }
      if (e.has_vehicle()) line += " at " + e.vehicle().stop_id();
      for (const auto& ie : e.alert().informed_entity()) line += " informs " + ie.stop_id();
      out.push_back(line);
    }
    return out;
  }

  smartbus::testing::TempDir tmp_;
  smartbus::testing::RedisTestServer redis_;
  std::string feed_dir_, redis_url_, prefix_;
  int redis_port_ = 0;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<pb::PassengerService::Stub> passenger_;
  std::unique_ptr<pb::OperatorService::Stub> op_;
};

TEST_F(ServiceChangesServerTest, ACancelledTripLeavesLiveArrivalsIsMarkedAndComesBack) {
  DriveABit();
  // A row pointer is good only while its board lives: keep each board in a variable (a
  // temporary board left the pointer dangling, found by ASan in make test-sanitize).
  const pb::ArrivalsBoard first = Board("S3");
  const pb::Arrival* live = T1(first);
  ASSERT_NE(live, nullptr);
  EXPECT_TRUE(live->live());
  EXPECT_EQ(live->status(), pb::ARRIVAL_STATUS_SCHEDULED);

  pb::TripChangeResponse resp;
  ASSERT_TRUE(Cancel("T1", "", &resp).ok());
  EXPECT_TRUE(resp.cancelled());
  EXPECT_TRUE(resp.persisted());
  EXPECT_EQ(resp.change().service_date(), kDay);  // the date in force at the server clock

  pb::ArrivalsBoard b = Board("S3");
  const pb::Arrival* row = T1(b);
  ASSERT_NE(row, nullptr) << b.DebugString();
  EXPECT_EQ(row->status(), pb::ARRIVAL_STATUS_CANCELLED);
  EXPECT_FALSE(row->live());
  EXPECT_EQ(row->vehicle_id(), "");
  EXPECT_EQ(row->predicted_arrival(), row->scheduled_arrival());
  EXPECT_EQ(T1(Board("S3", /*live_only=*/true)), nullptr);
  // The bus keeps reporting T1: still no prediction for it.
  pb::IngestRequest more;
  pb::Fix* f = more.add_fixes();
  f->set_vehicle_id("bus1");
  f->set_timestamp(kT0800 + 20);
  f->set_lat(40.0004);
  f->set_lon(-75.0);
  f->set_trip_id("T1");
  pb::IngestResponse ir;
  ASSERT_TRUE(ingest_->IngestBatch(Ctx().get(), more, &ir).ok());
  ASSERT_EQ(T1(Board("S3"))->status(), pb::ARRIVAL_STATUS_CANCELLED);
  EXPECT_FALSE(T1(Board("S3"))->live());

  ASSERT_TRUE(Restore("T1").ok());
  // Back at once (the shards predict again on restore, not at the bus's next fix).
  pb::ArrivalsBoard live_board;
  const pb::Arrival* back = nullptr;
  for (int i = 0; i < 100 && !(back = T1(live_board = Board("S3", true))); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_NE(back, nullptr);
  EXPECT_TRUE(back->live());
  EXPECT_EQ(back->status(), pb::ARRIVAL_STATUS_SCHEDULED);
  grpc::Status again = Restore("T1");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(again.error_message(), HasSubstr("nothing to restore"));
}

TEST_F(ServiceChangesServerTest, ASkippedStopIsMarkedOnlyThere) {
  DriveABit();
  ASSERT_TRUE(Cancel("T1", "S2").ok());
  const pb::ArrivalsBoard s2 = Board("S2");
  const pb::Arrival* at_s2 = T1(s2);
  ASSERT_NE(at_s2, nullptr);
  EXPECT_EQ(at_s2->status(), pb::ARRIVAL_STATUS_SKIPPED);
  EXPECT_TRUE(at_s2->live());  // the bus still comes by
  EXPECT_EQ(T1(Board("S2", true)), nullptr);
  EXPECT_EQ(T1(Board("S3"))->status(), pb::ARRIVAL_STATUS_SCHEDULED);
  ASSERT_TRUE(Restore("T1", "S2").ok());
  EXPECT_EQ(T1(Board("S2"))->status(), pb::ARRIVAL_STATUS_SCHEDULED);
}

TEST_F(ServiceChangesServerTest, BadCancelRequestsNameTheProblem) {
  grpc::Status s = Cancel("");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("trip_id"));
  s = Cancel("T9");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("T9"));
  s = Cancel("T1", "S9");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("S9"));
  s = Cancel("T1", "", nullptr, 20261399);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("service_date=20261399"));
}

TEST_F(ServiceChangesServerTest, AnAlertAppearsOnTheBoardsOfItsStopsUntilEnded) {
  DriveABit();
  ASSERT_TRUE(PostAlert("works", "", "S2").ok());
  pb::ArrivalsBoard s2 = Board("S2");
  ASSERT_EQ(s2.alerts_size(), 1);
  EXPECT_EQ(s2.alerts(0).alert_id(), "works");
  EXPECT_EQ(s2.alerts(0).source(), "operator");
  ASSERT_EQ(s2.alerts(0).header_text().translations_size(), 2);
  EXPECT_EQ(s2.alerts(0).header_text().translations(1).text(), "Parada cerrada por obras");
  EXPECT_EQ(Board("S1").alerts_size(), 0);
  // A route alert shows at every stop of the route.
  ASSERT_TRUE(PostAlert("route", "R1", "").ok());
  EXPECT_EQ(Board("S1").alerts_size(), 1);
  EXPECT_EQ(Board("S2").alerts_size(), 2);

  pb::EndAlertRequest end;
  end.set_alert_id("works");
  pb::EndAlertResponse er;
  ASSERT_TRUE(op_->EndAlert(Ctx().get(), end, &er).ok());
  EXPECT_EQ(Board("S2").alerts_size(), 1);
  EXPECT_EQ(op_->EndAlert(Ctx().get(), end, &er).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceChangesServerTest, BadAlertsNameTheField) {
  grpc::Status s = PostAlert("x", "R9", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("informed_entities[0].route_id \"R9\""));
  s = PostAlert("x", "", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("informed_entities[0]"));
  pb::PostAlertRequest req;
  req.mutable_alert()->add_informed_entities()->set_stop_id("S1");
  pb::PostAlertResponse resp;
  s = op_->PostAlert(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("header_text"));
}

TEST_F(ServiceChangesServerTest, TheBoardStreamPushesACancellation) {
  DriveABit();
  pb::WatchArrivalsRequest w;
  w.mutable_query()->set_stop_id("S3");
  w.set_heartbeat_s(60);
  w.set_min_interval_ms(1);
  grpc::ClientContext ctx;
  auto reader = passenger_->WatchArrivals(&ctx, w);
  pb::ArrivalsBoard first, second;
  ASSERT_TRUE(reader->Read(&first));
  ASSERT_NE(T1(first), nullptr);
  ASSERT_EQ(T1(first)->status(), pb::ARRIVAL_STATUS_SCHEDULED);
  ASSERT_TRUE(Cancel("T1").ok());
  // Pushed on change (long before the 60 s heartbeat); a republish may come first.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(reader->Read(&second));
    if (T1(second) && T1(second)->status() == pb::ARRIVAL_STATUS_CANCELLED) break;
  }
  EXPECT_FALSE(second.heartbeat());
  ASSERT_NE(T1(second), nullptr);
  EXPECT_EQ(T1(second)->status(), pb::ARRIVAL_STATUS_CANCELLED);
  EXPECT_GT(second.version(), first.version());
  ctx.TryCancel();
}

TEST_F(ServiceChangesServerTest, CancellationsAndAlertsSurviveARestart) {
  DriveABit();
  ASSERT_TRUE(Cancel("T1").ok());
  ASSERT_TRUE(Cancel("T2", "S2", nullptr, 20260110).ok());
  ASSERT_TRUE(PostAlert("works", "", "S2").ok());
  Start();  // same Redis, same prefix
  pb::ListServiceChangesResponse list;
  ASSERT_TRUE(op_->ListServiceChanges(Ctx().get(), pb::ListServiceChangesRequest(), &list).ok());
  ASSERT_EQ(list.trips_size(), 2) << list.DebugString();
  EXPECT_EQ(list.trips(0).trip_id(), "T1");
  EXPECT_TRUE(list.trips(0).cancelled());
  EXPECT_EQ(list.trips(0).reason(), "no driver");
  EXPECT_EQ(list.trips(1).trip_id(), "T2");
  ASSERT_EQ(list.trips(1).skipped_stops_size(), 1);
  EXPECT_EQ(list.trips(1).skipped_stops(0).stop_id(), "S2");
  ASSERT_EQ(list.alerts_size(), 1);
  EXPECT_EQ(list.alerts(0).header_text().translations(0).text(), "Stop closed for works");
  // A bus on T1 after the restart: the boards still show T1 cancelled.
  DriveABit("bus2", kT0800 + 60);
  const pb::ArrivalsBoard s3 = Board("S3");
  const pb::Arrival* row = T1(s3);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->status(), pb::ARRIVAL_STATUS_CANCELLED);
  EXPECT_EQ(Board("S2").alerts_size(), 1);
}

// /gtfs-rt after a restart: the vehicle (recovered from the store), its trip with the stop an
// operator skipped, tomorrow's cancelled run and the alert, all as before.
TEST_F(ServiceChangesServerTest, TheGtfsRtFeedsAreTheSameAfterARestart) {
  DriveABit();
  ASSERT_TRUE(Cancel("T1", "S3").ok());
  ASSERT_TRUE(Cancel("T1", "", nullptr, 20260107).ok());
  ASSERT_TRUE(PostAlert("works", "", "S2").ok());
  const std::vector<std::string> trips = FeedLines("trip-updates");
  const std::vector<std::string> vehicles = FeedLines("vehicle-positions");
  const std::vector<std::string> alerts = FeedLines("alerts");
  // Today's T1 with S3 skipped (1 = SKIPPED), tomorrow's cancelled (3 = CANCELED).
  ASSERT_EQ(trips.size(), 2u) << ::testing::PrintToString(trips);
  EXPECT_THAT(trips[0], HasSubstr("T1_20260106 trip T1 20260106 08:00:00 0 vehicle bus1"));
  EXPECT_THAT(trips[0], HasSubstr("S3:1"));
  EXPECT_THAT(trips[1], HasSubstr("T1_20260107 trip T1 20260107 08:00:00 3"));
  ASSERT_EQ(vehicles.size(), 1u);
  EXPECT_THAT(vehicles[0], HasSubstr("bus1 trip T1 20260106"));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_THAT(alerts[0], HasSubstr("works informs S2"));

  Start();  // same Redis, same prefix
  EXPECT_EQ(FeedLines("trip-updates"), trips);
  EXPECT_EQ(FeedLines("vehicle-positions"), vehicles);
  EXPECT_EQ(FeedLines("alerts"), alerts);
}

}  // namespace
}  // namespace smartbus::server
