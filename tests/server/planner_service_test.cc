// PlannerService.PlanJourney in process: a SmartbusServer on a loopback port with an inline feed
// of one route S1 -> S2 -> S3 (2.2 km apart, too far to walk) and trip T1 on weekdays
// 08:00/08:05/08:10 America/New_York. A bus running late on T1 makes the planned ride live.

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/server.h"
#include "smartbus/v1/analytics.grpc.pb.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "smartbus/v1/planner.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 (Tuesday) 08:00 America/New_York

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return c;
}

class PlannerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    smartbus::testing::FeedFiles files = smartbus::testing::MinimalFeed();
    files["stops.txt"] =
        "stop_id,stop_name,stop_lat,stop_lon\n"
        "S1,First,40.0000,-75.0000\nS2,Second,40.0200,-75.0000\nS3,Third,40.0400,-75.0000\n";
    ServerOptions opt;
    opt.gtfs = {smartbus::testing::WriteFeedDir(tmp_.path() + "/feed", files)};
    opt.listen = "127.0.0.1:0";
    opt.clock_follows_fixes = true;
    opt.shard.engine.clock_mode = ClockMode::kFixes;
    opt.shards = 1;
    opt.log = false;
    opt.shutdown_grace = absl::Milliseconds(200);
    auto s = SmartbusServer::Create(opt);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    planner_ = pb::PlannerService::NewStub(ch);
    ingest_ = pb::IngestService::NewStub(ch);
    passenger_ = pb::PassengerService::NewStub(ch);
    analytics_ = pb::AnalyticsService::NewStub(ch);
  }

  grpc::Status Plan(const pb::PlanJourneyRequest& req, pb::PlanJourneyResponse* resp) {
    return planner_->PlanJourney(Ctx().get(), req, resp);
  }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::PlannerService::Stub> planner_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<pb::PassengerService::Stub> passenger_;
  std::unique_ptr<pb::AnalyticsService::Stub> analytics_;
};

pb::PlanJourneyRequest Request(const std::string& from, const std::string& to, int64_t t) {
  pb::PlanJourneyRequest req;
  req.mutable_from()->set_stop_id(from);
  req.mutable_to()->set_stop_id(to);
  req.set_time_s(t);
  return req;
}

TEST_F(PlannerServiceTest, TimetableJourneyThenLiveWhenTheBusRunsLate) {
  pb::PlanJourneyResponse resp;
  ASSERT_TRUE(Plan(Request("S1", "S3", kT0800 - 600), &resp).ok());
  ASSERT_EQ(resp.journeys_size(), 1);
  const pb::JourneyLeg& leg = resp.journeys(0).legs(0);
  EXPECT_EQ(leg.kind(), pb::LEG_KIND_RIDE);
  EXPECT_EQ(leg.trip_id(), "T1");
  EXPECT_EQ(leg.depart_s(), kT0800);
  EXPECT_EQ(leg.arrive_s(), kT0800 + 600);
  EXPECT_FALSE(leg.live());
  EXPECT_EQ(resp.time_zone(), "America/New_York");

  // bus1 on T1 leaves S1 three minutes late and is half way to S2.
  pb::IngestRequest in;
  int64_t t = kT0800 + 180;
  for (double lat = 40.0; lat <= 40.0101; lat += 0.0008, t += 10) {
    pb::Fix* f = in.add_fixes();
    f->set_vehicle_id("bus1");
    f->set_timestamp(t);
    f->set_lat(lat);
    f->set_lon(-75.0);
    f->set_trip_id("T1");
    f->set_route_id("R1");
  }
  pb::IngestResponse ir;
  ASSERT_TRUE(ingest_->IngestBatch(Ctx().get(), in, &ir).ok());
  pb::GetArrivalsRequest ar;
  ar.set_stop_id("S3");
  pb::ArrivalsBoard board;
  ASSERT_TRUE(passenger_->GetArrivals(Ctx().get(), ar, &board).ok());
  ASSERT_GE(board.arrivals_size(), 1);
  ASSERT_TRUE(board.arrivals(0).live());

  pb::PlanJourneyResponse live;
  ASSERT_TRUE(Plan(Request("S2", "S3", t - 10), &live).ok());
  ASSERT_EQ(live.journeys_size(), 1);
  const pb::JourneyLeg& l = live.journeys(0).legs(0);
  EXPECT_TRUE(l.live());
  EXPECT_TRUE(live.journeys(0).live());
  EXPECT_EQ(l.arrive_s(), board.arrivals(0).predicted_arrival()) << "the board's prediction";
  EXPECT_GT(l.arrive_s(), kT0800 + 600) << "late";
  EXPECT_EQ(l.scheduled_arrive_s(), kT0800 + 600);
  EXPECT_GE(live.live_trips(), 1u);

  pb::PlanJourneyRequest tt = Request("S2", "S3", t - 10);
  tt.set_timetable_only(true);
  pb::PlanJourneyResponse sched;
  ASSERT_TRUE(Plan(tt, &sched).ok());
  // Timetable only: T1 left S2 at 08:05 already (before the request time): nothing today.
  for (const pb::Journey& j : sched.journeys()) EXPECT_FALSE(j.live());
}

// The server plugs its service changes into the planner (service_changes_view.h): a trip the
// operator cancels is not ridden, and is ridden again once restored.
TEST_F(PlannerServiceTest, CancelledTripIsNeverRidden) {
  auto op = pb::OperatorService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  auto rides_t1_today = [&] {
    pb::PlanJourneyResponse resp;
    EXPECT_TRUE(Plan(Request("S1", "S3", kT0800 - 600), &resp).ok());
    for (const auto& j : resp.journeys())
      for (const auto& l : j.legs())
        if (l.trip_id() == "T1" && l.service_date() == "20260106") return true;
    return false;
  };
  ASSERT_TRUE(rides_t1_today());
  pb::CancelTripRequest cancel;
  cancel.set_trip_id("T1");
  cancel.set_service_date(20260106);
  pb::TripChangeResponse changed;
  grpc::Status st = op->CancelTrip(Ctx().get(), cancel, &changed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(rides_t1_today());
  pb::RestoreTripRequest restore;
  restore.set_trip_id("T1");
  restore.set_service_date(20260106);
  st = op->RestoreTrip(Ctx().get(), restore, &changed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(rides_t1_today());
}

TEST_F(PlannerServiceTest, BadRequestsNameTheField) {
  pb::PlanJourneyResponse resp;
  grpc::Status s = Plan(Request("S1", "nowhere", kT0800), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("to.stop_id 'nowhere'"));
  pb::PlanJourneyRequest req = Request("S1", "S3", 0);
  req.clear_from();
  s = Plan(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("from"));
  req = Request("S1", "S3", 0);
  req.set_local_time("tomorrow");
  s = Plan(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("local_time 'tomorrow'"));
  req = Request("S1", "S3", kT0800);
  req.set_window_s(4 * 3600);
  EXPECT_EQ(Plan(req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.mutable_to()->mutable_position()->set_lat(123);
  EXPECT_EQ(Plan(req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// AnalyticsService.GetRouteAdvice over the visits the server stored: a bus drives T1 from S1 to
// S3; the advice has its segments with the observed and scheduled running times.
TEST_F(PlannerServiceTest, RouteAdviceFromStoredVisits) {
  pb::IngestRequest in;
  int64_t t = kT0800 - 60;
  for (double lat = 40.0; lat <= 40.0421; lat += 0.0016, t += 10) {
    pb::Fix* f = in.add_fixes();
    f->set_vehicle_id("bus1");
    f->set_timestamp(t);
    f->set_lat(std::min(lat, 40.04));
    f->set_lon(-75.0);
    f->set_trip_id("T1");
    f->set_route_id("R1");
  }
  pb::IngestResponse ir;
  ASSERT_TRUE(ingest_->IngestBatch(Ctx().get(), in, &ir).ok());
  pb::GetRouteAdviceRequest req;
  req.add_route_ids("R1");
  pb::GetRouteAdviceResponse resp;
  for (int i = 0; i < 100; ++i) {  // visits reach the store write-behind
    resp.Clear();
    ASSERT_TRUE(analytics_->GetRouteAdvice(Ctx().get(), req, &resp).ok());
    if (resp.visits() >= 2 && resp.routes_size() == 1 && resp.routes(0).segments_size() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(resp.routes_size(), 1);
  EXPECT_EQ(resp.routes(0).route_id(), "R1");
  EXPECT_EQ(resp.schedule_percentile(), 85);
  ASSERT_GT(resp.routes(0).segments_size(), 0);
  const pb::SegmentRunningTimes& seg = resp.routes(0).segments(0);
  ASSERT_EQ(seg.bands_size(), 1);
  EXPECT_EQ(seg.bands(0).band(), "am_peak");
  EXPECT_EQ(seg.bands(0).scheduled_s(), 300);
  EXPECT_GT(seg.bands(0).p50_s(), 0);
  EXPECT_FALSE(seg.bands(0).has_recommended_s()) << "one trip is below the 5-sample minimum";
  EXPECT_EQ(resp.routes(0).stop_spacing_size(), 1);

  req.set_route_ids(0, "nope");
  grpc::Status s = analytics_->GetRouteAdvice(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nope"));
}

}  // namespace
}  // namespace smartbus::server
