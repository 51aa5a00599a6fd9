// Who may do what (services/server/auth.h), through the gRPC API of an in-process server with a
// token file: ingest without a token or with another agency's token is refused and the bus does
// not move; operator calls need a viewer token (an ingest token is not one); a viewer may not do
// a dispatcher's work; a revoked token stops working after ReloadTokens (SIGHUP) without a
// restart; the passenger and network calls need no token; refusals are counted; per-client rate
// limits answer RESOURCE_EXHAUSTED.

#include <chrono>
#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/auth.h"
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

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 08:00 America/New_York

// The feed's agency is "A"; route R1, trip T1.
const char* kIngestA = "gw-a-secret";
const char* kIngestB = "gw-b-secret";
const char* kViewer = "viewer-secret";
const char* kDispatcher = "dispatch-secret";

void WriteTokens(const std::string& path, bool with_viewer) {
  std::ofstream f(path);
  f << "# test tokens\n"
    << "sha256:" << Sha256Hex(kIngestA) << " ingest agency=A name=gw-a\n"
    << "sha256:" << Sha256Hex(kIngestB) << " ingest agency=B name=gw-b\n"
    << "sha256:" << Sha256Hex(kDispatcher) << " dispatcher name=desk\n";
  if (with_viewer) f << "sha256:" << Sha256Hex(kViewer) << " viewer name=wall\n";
}

class AuthTest : public ::testing::Test {
 protected:
  void Start(double query_rate = 0) {
    tokens_ = tmp_.path() + "/tokens";
    WriteTokens(tokens_, true);
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.shard.engine.clock_mode = ClockMode::kFixes;
      opt.shutdown_grace = absl::Milliseconds(200);
      opt.auth.tokens_file = tokens_;
      opt.auth.query_rate_per_s = query_rate;
    });
    ASSERT_TRUE(server_);
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                  grpc::InsecureChannelCredentials());
    ingest_ = pb::IngestService::NewStub(ch);
    passenger_ = pb::PassengerService::NewStub(ch);
    network_ = pb::NetworkService::NewStub(ch);
    op_ = pb::OperatorService::NewStub(ch);
  }
  static std::unique_ptr<grpc::ClientContext> Ctx(const char* token = nullptr) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token) c->AddMetadata("authorization", std::string("Bearer ") + token);
    return c;
  }
  grpc::Status Ingest(const char* token, int64_t t, double lat, const std::string& route = "R1") {
    pb::IngestRequest req;
    pb::Fix* f = req.add_fixes();
    f->set_vehicle_id("bus1");
    f->set_timestamp(t);
    f->set_lat(lat);
    f->set_lon(-75.0);
    f->set_route_id(route);
    pb::IngestResponse resp;
    return ingest_->IngestBatch(Ctx(token).get(), req, &resp);
  }
  // The bus's last fix time, 0 when the server does not know it.
  int64_t LastSeen() {
    pb::GetVehicleRequest req;
    req.set_vehicle_id("bus1");
    pb::Vehicle v;
    return passenger_->GetVehicle(Ctx().get(), req, &v).ok() ? v.last_seen() : 0;
  }

  smartbus::testing::TempDir tmp_;
  std::string tokens_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<pb::IngestService::Stub> ingest_;
  std::unique_ptr<pb::PassengerService::Stub> passenger_;
  std::unique_ptr<pb::NetworkService::Stub> network_;
  std::unique_ptr<pb::OperatorService::Stub> op_;
};

TEST_F(AuthTest, IngestNeedsATokenOfTheBusesAgency) {
  Start();
  grpc::Status s = Ingest(nullptr, kT0800, 40.0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("Bearer"));
  EXPECT_EQ(LastSeen(), 0) << "a refused fix moved the bus";
  s = Ingest("not-a-token", kT0800, 40.0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = Ingest(kIngestB, kT0800, 40.0);  // agency B's gateway, a route of agency A
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("agency 'A'"));
  EXPECT_EQ(LastSeen(), 0) << "another agency's token moved the bus";
  s = Ingest(kViewer, kT0800, 40.0);  // a viewer is not a device
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Ingest(kIngestA, kT0800, 40.0).ok());
  EXPECT_EQ(LastSeen(), kT0800);
  s = Ingest(kIngestB, kT0800 + 10, 40.0004);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(LastSeen(), kT0800) << "another agency's token moved the bus";
  EXPECT_GE(server_->auth().refusals(), 5u);
}

TEST_F(AuthTest, OperatorCallsNeedAViewerAndPassengerCallsNothing) {
  Start();
  pb::ServerStatus st;
  grpc::Status s = op_->GetServerStatus(Ctx().get(), pb::GetServerStatusRequest(), &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = op_->GetServerStatus(Ctx(kIngestA).get(), pb::GetServerStatusRequest(), &st);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(op_->GetServerStatus(Ctx(kViewer).get(), pb::GetServerStatusRequest(), &st).ok());
  EXPECT_TRUE(op_->GetServerStatus(Ctx(kDispatcher).get(), pb::GetServerStatusRequest(), &st).ok());
  // Passenger and network calls: no token needed.
  pb::GetArrivalsRequest ar;
  ar.set_stop_id("S1");
  pb::ArrivalsBoard b;
  EXPECT_TRUE(passenger_->GetArrivals(Ctx().get(), ar, &b).ok());
  pb::ListRoutesResponse routes;
  EXPECT_TRUE(network_->ListRoutes(Ctx().get(), pb::ListRoutesRequest(), &routes).ok());
}

// The operator's service changes: cancel / restore a trip, post / end an alert need a
// dispatcher token (a viewer's is refused naming the role, and nothing changes); listing them
// needs a viewer token.
TEST_F(AuthTest, ViewerIsNotADispatcher) {
  Start();
  pb::CancelTripRequest cancel;
  cancel.set_trip_id("T1");
  pb::TripChangeResponse tc;
  EXPECT_EQ(op_->CancelTrip(Ctx().get(), cancel, &tc).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status s = op_->CancelTrip(Ctx(kViewer).get(), cancel, &tc);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("CancelTrip needs role dispatcher"));
  pb::PostAlertRequest alert;
  alert.mutable_alert()->set_alert_id("a1");
  alert.mutable_alert()->add_informed_entities()->set_stop_id("S1");
  alert.mutable_alert()->mutable_header_text()->add_translations()->set_text("closed");
  pb::PostAlertResponse pa;
  EXPECT_EQ(op_->PostAlert(Ctx(kViewer).get(), alert, &pa).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::ListServiceChangesResponse list;
  EXPECT_EQ(op_->ListServiceChanges(Ctx().get(), pb::ListServiceChangesRequest(), &list).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(op_->ListServiceChanges(Ctx(kViewer).get(), pb::ListServiceChangesRequest(), &list).ok());
  EXPECT_EQ(list.trips_size() + list.alerts_size(), 0) << "a refused call changed something";

  ASSERT_TRUE(op_->CancelTrip(Ctx(kDispatcher).get(), cancel, &tc).ok());
  ASSERT_TRUE(op_->PostAlert(Ctx(kDispatcher).get(), alert, &pa).ok());
  pb::RestoreTripRequest restore;
  restore.set_trip_id("T1");
  EXPECT_EQ(op_->RestoreTrip(Ctx(kViewer).get(), restore, &tc).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  pb::EndAlertRequest end;
  end.set_alert_id("a1");
  pb::EndAlertResponse ea;
  EXPECT_EQ(op_->EndAlert(Ctx(kViewer).get(), end, &ea).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(op_->ListServiceChanges(Ctx(kViewer).get(), pb::ListServiceChangesRequest(), &list).ok());
  EXPECT_EQ(list.trips_size(), 1);
  EXPECT_EQ(list.alerts_size(), 1);
  EXPECT_TRUE(op_->RestoreTrip(Ctx(kDispatcher).get(), restore, &tc).ok());
  EXPECT_TRUE(op_->EndAlert(Ctx(kDispatcher).get(), end, &ea).ok());
}

TEST_F(AuthTest, RevokedTokenStopsWorkingWithoutRestart) {
  Start();
  pb::GetFleetStatusResponse fleet;
  ASSERT_TRUE(op_->GetFleetStatus(Ctx(kViewer).get(), pb::GetFleetStatusRequest(), &fleet).ok());
  WriteTokens(tokens_, false);  // the viewer token revoked
  ASSERT_TRUE(server_->ReloadTokens().ok());
  grpc::Status s = op_->GetFleetStatus(Ctx(kViewer).get(), pb::GetFleetStatusRequest(), &fleet);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("revoked"));
  // A broken file keeps the tokens in use.
  { std::ofstream(tokens_) << "sha256:xyz admin\n"; }
  EXPECT_FALSE(server_->ReloadTokens().ok());
  EXPECT_TRUE(op_->GetFleetStatus(Ctx(kDispatcher).get(), pb::GetFleetStatusRequest(), &fleet).ok());
}

TEST_F(AuthTest, PublicQueriesAreRateLimitedPerClient) {
  Start(/*query_rate=*/3);
  pb::GetArrivalsRequest ar;
  ar.set_stop_id("S1");
  pb::ArrivalsBoard b;
  int ok = 0, limited = 0;
  for (int i = 0; i < 10; ++i) {
    grpc::Status s = passenger_->GetArrivals(Ctx().get(), ar, &b);
    if (s.ok()) ++ok;
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++limited;
      EXPECT_THAT(s.error_message(), HasSubstr("retry in"));
    }
  }
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 5);
  EXPECT_EQ(ok + limited, 10);
}

TEST(TokenFileTest, BadLinesAreNamed) {
  auto t = ParseTokenFile("# c\n\nsha256:" + std::string(64, 'a') + " viewer name=x\n", "f");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 1u);
  auto bad = ParseTokenFile("sha256:" + std::string(64, 'a') + " superuser\n", "f");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("f: line 1: unknown role"));
  bad = ParseTokenFile("\nplaintext-token viewer\n", "f");
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("f: line 2"));
}

}  // namespace
}  // namespace smartbus::server
