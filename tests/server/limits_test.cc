// Findings of the adversarial probe of 1efad70 on the gRPC API, each with its regression test:
// status messages that echoed whole request ids (the C++ client failed above ~8 KB of
// grpc-message, grpc-js hung above ~64 KB), timestamps outside any plausible epoch, and the
// missing limits (vehicle ids, watch streams, request size).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/server.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/minimal_server.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;
using ::testing::HasSubstr;

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 08:00 America/New_York

class LimitsTest : public ::testing::Test {
 protected:
  template <typename F>
  void Start(F adjust) {
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.shard.engine.clock_mode = ClockMode::kFixes;
      opt.shutdown_grace = absl::Milliseconds(200);
      adjust(opt);
    });
    ASSERT_TRUE(server_);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    ingest_ = pb::IngestService::NewStub(ch);
    passenger_ = pb::PassengerService::NewStub(ch);
  }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return c;
  }
  static pb::Fix MakeFix(const std::string& v, int64_t t, double lat) {
    pb::Fix f;
    f.set_vehicle_id(v);
    f.set_timestamp(t);
    f.set_lat(lat);
    f.set_lon(-75.0);
    return f;
  }
  pb::IngestResponse Ingest(const std::vector<pb::Fix>& fixes, grpc::Status* st) {
    pb::IngestRequest req;
    for (const auto& f : fixes) *req.add_fixes() = f;
    pb::IngestResponse resp;
    *st = ingest_->IngestBatch(Ctx().get(), req, &resp);
    return resp;
  }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<pb::PassengerService::Stub> passenger_;
};

// A 100 KB stop id in a query: the answer is NOT_FOUND with a short message, not a transport
// failure of the client (the whole id used to go into the grpc-message header).
TEST_F(LimitsTest, HugeIdsAreCutInStatusMessages) {
  Start([](ServerOptions&) {});
  pb::GetArrivalsRequest req;
  req.set_stop_id(std::string(100 * 1024, 'x'));
  pb::ArrivalsBoard b;
  grpc::Status s = passenger_->GetArrivals(Ctx().get(), req, &b);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message().size();
  EXPECT_LE(s.error_message().size(), 600u);
  EXPECT_THAT(s.error_message(), HasSubstr("bytes)"));
  // The channel still works.
  req.set_stop_id("S1");
  EXPECT_TRUE(passenger_->GetArrivals(Ctx().get(), req, &b).ok());
}

// Timestamps 0, negative, in milliseconds or 1e18 are a bad field, not a clock.
TEST_F(LimitsTest, ImplausibleTimestampsAreInvalidField) {
  Start([](ServerOptions&) {});
  grpc::Status st;
  pb::IngestResponse r =
      Ingest({MakeFix("a", 0, 40.0), MakeFix("b", -5, 40.0), MakeFix("c", kT0800 * 1000, 40.0),
              MakeFix("d", int64_t{1} << 62, 40.0), MakeFix("e", kT0800, 40.0)},
             &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r.accepted(), 1u);
  ASSERT_EQ(r.rejections_size(), 4);
  for (const auto& rej : r.rejections()) {
    EXPECT_EQ(rej.reason(), pb::REJECT_REASON_INVALID_FIELD);
    EXPECT_THAT(rej.detail(), HasSubstr("2000-01-01"));
  }
}

// 100k unique vehicle ids used to cost +456 MB and were never evicted: new ids beyond
// --max_vehicles are rejected TOO_MANY_VEHICLES; known vehicles go on.
TEST_F(LimitsTest, VehicleIdsBeyondTheCapAreRejected) {
  Start([](ServerOptions& o) {
    o.shards = 1;
    o.shard.max_vehicles = 3;
  });
  std::vector<pb::Fix> fixes;
  for (int i = 0; i < 5; ++i) fixes.push_back(MakeFix("v" + std::to_string(i), kT0800, 40.0));
  grpc::Status st;
  pb::IngestResponse r = Ingest(fixes, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(r.accepted(), 3u);
  ASSERT_EQ(r.rejections_size(), 2);
  EXPECT_EQ(r.rejections(0).reason(), pb::REJECT_REASON_TOO_MANY_VEHICLES);
  EXPECT_THAT(r.rejections(0).detail(), HasSubstr("--max_vehicles"));
  r = Ingest({MakeFix("v0", kT0800 + 10, 40.0004)}, &st);
  EXPECT_EQ(r.accepted(), 1u);
}

// 20,000 watch streams cost +447 MB: beyond --max_watch_streams a stream is refused.
TEST_F(LimitsTest, WatchStreamsBeyondTheCapAreResourceExhausted) {
  Start([](ServerOptions& o) { o.max_watch_streams = 2; });
  pb::WatchArrivalsRequest w;
  w.mutable_query()->set_stop_id("S1");
  w.set_heartbeat_s(60);
  std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::ArrivalsBoard>>> readers;
  for (int i = 0; i < 2; ++i) {
    ctxs.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(passenger_->WatchArrivals(ctxs.back().get(), w));
    pb::ArrivalsBoard b;
    ASSERT_TRUE(readers.back()->Read(&b));
  }
  grpc::ClientContext ctx;
  auto third = passenger_->WatchArrivals(&ctx, w);
  pb::ArrivalsBoard b;
  EXPECT_FALSE(third->Read(&b));
  grpc::Status s = third->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("--max_watch_streams"));
  for (auto& c : ctxs) c->TryCancel();
  for (auto& r : readers) (void)r->Finish();
}

// A request above --max_request_bytes is refused by the transport before it is held in memory.
TEST_F(LimitsTest, OversizedRequestIsRefused) {
  Start([](ServerOptions& o) { o.max_request_bytes = 64 * 1024; });
  pb::Fix f = MakeFix("a", kT0800, 40.0);
  f.set_trip_id(std::string(100 * 1024, 't'));
  grpc::Status st;
  Ingest({f}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace smartbus::server
