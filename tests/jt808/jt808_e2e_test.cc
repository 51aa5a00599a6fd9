// JT/T 808 end to end: terminals (services/jt808/terminal.h) -> smartbus-jt808's Gateway and
// GrpcSink -> an in-process smartbusd on the demo city (--clock=fixes, backfill on).
//   - A terminal raising and clearing the overspeed alarm: fleet status shows it while active,
//     and the vehicle's event history (ConditionService) has it raised and cleared.
//   - A terminal losing its signal for 10 minutes and uploading the gap with 0x0704 after its
//     first live report: the stop visits of the gap are stored with the times the uploaded
//     reports show (close to the simulator's truth), and the live position never goes back.
//   - Tokens (smartbusd --tokens): each agency's terminals report through that agency's ingest
//     token; a terminal registered for one agency cannot move another agency's bus.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "grpcpp/grpcpp.h"
#include "services/jt808/gateway.h"
#include "services/jt808/grpc_sink.h"
#include "services/jt808/terminal.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "smartbus/v1/condition.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/engine/signal_gap_scenario.h"

namespace smartbus {
namespace {

namespace asio = boost::asio;
namespace pb = ::smartbus::v1;
using jt808::Location;
using jt808::Terminal808;

class Jt808E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions opt;
    opt.gtfs = {std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city"};
    opt.listen = "127.0.0.1:0";
    opt.clock_follows_fixes = true;
    opt.shard.engine.clock_mode = ClockMode::kFixes;
    opt.shard.engine.backfill.enabled = true;
    opt.shard.vehicle_flush_interval = absl::Milliseconds(100);
    opt.log = false;
    opt.shutdown_grace = absl::Milliseconds(200);
    opt.auth.tokens_file = tokens_file_;
    auto s = server::SmartbusServer::Create(opt);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    addr_ = absl::StrCat("127.0.0.1:", server_->port());
    registry_ = *jt808::TerminalRegistry::Open("", false);
    jt808::GrpcSinkOptions so;
    so.server = addr_;
    so.token = default_token_;
    sink_ = std::make_unique<jt808::GrpcSink>(so);
    jt808::GatewayOptions go;
    go.listen_host = "127.0.0.1";
    go.listen_port = 0;
    gateway_ = std::make_unique<jt808::Gateway>(go, registry_.get(), sink_.get());
    for (const auto& [agency, token] : agency_tokens_) {
      so.token = token;
      agency_sinks_[agency] = std::make_unique<jt808::GrpcSink>(so);
      gateway_->AddAgencySink(agency, agency_sinks_[agency].get());
    }
    ASSERT_TRUE(gateway_->Start().ok());
    io_thread_ = std::thread([this] { io_.run(); });
    channel_ = grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    work_.reset();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    if (gateway_) gateway_->Stop();
    sink_.reset();
    agency_sinks_.clear();
    if (server_) (void)server_->Shutdown();
  }

  std::shared_ptr<Terminal808> Connect(const std::string& phone, const std::string& vehicle,
                                       const std::string& agency = "") {
    EXPECT_TRUE(registry_->Put({phone, vehicle, "P", "AUTH" + phone, agency}).ok());
    jt808::TerminalOptions to;
    to.phone = phone;
    auto t = std::make_shared<Terminal808>(io_.get_executor(), to);
    std::promise<absl::Status> ready;
    t->Start({asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(gateway_->port())},
             [&](absl::Status s) { ready.set_value(s); });
    absl::Status st = ready.get_future().get();
    EXPECT_TRUE(st.ok()) << st;
    return t;
  }
  static int Send(Terminal808& t, const Location& l) {
    std::promise<int> r;
    t.SendLocation(l, [&](int x) { r.set_value(x); });
    return r.get_future().get();
  }
  static int SendBatch(Terminal808& t, std::vector<Location> items) {
    std::promise<int> r;
    t.SendBatch(1, std::move(items), [&](int x) { r.set_value(x); });
    return r.get_future().get();
  }
  pb::Vehicle FleetVehicle(const std::string& id) {
    auto stub = pb::OperatorService::NewStub(channel_);
    grpc::ClientContext ctx;
    pb::GetFleetStatusRequest req;
    req.set_stale_after_s(86400);
    pb::GetFleetStatusResponse resp;
    EXPECT_TRUE(stub->GetFleetStatus(&ctx, req, &resp).ok());
    for (const pb::Vehicle& v : resp.vehicles())
      if (v.vehicle_id() == id) return v;
    ADD_FAILURE() << id << " not in fleet status";
    return {};
  }

  // Set by a derived fixture before SetUp: smartbusd's --tokens file, the gateway's default
  // token and its agencies' tokens (smartbus-jt808 --token, --agency_tokens).
  std::string tokens_file_, default_token_;
  std::map<std::string, std::string> agency_tokens_;
  std::map<std::string, std::unique_ptr<jt808::GrpcSink>> agency_sinks_;

  std::unique_ptr<server::SmartbusServer> server_;
  std::string addr_;
  std::unique_ptr<jt808::TerminalRegistry> registry_;
  std::unique_ptr<jt808::GrpcSink> sink_;
  std::unique_ptr<jt808::Gateway> gateway_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread io_thread_;
  std::shared_ptr<grpc::Channel> channel_;
};

Location At(const Fix& f, uint32_t alarm = 0) {
  Location l;
  l.lat = f.lat;
  l.lon = f.lon;
  l.time_s = f.timestamp_s;
  l.speed_dkmh = static_cast<uint16_t>(std::isfinite(f.speed_mps) ? f.speed_mps * 36 : 0);
  l.direction = static_cast<uint16_t>(std::isfinite(f.bearing_deg) ? f.bearing_deg : 0) % 360;
  l.status = 0x3;
  l.alarm = alarm;
  l.satellites = 10;
  return l;
}

TEST_F(Jt808E2E, OverspeedRaisedAndClearedShowsInFleetStatusAndEventHistory) {
  auto t = Connect("13800000001", "bus-os");
  const GtfsStop& stop = server_->view()->network->feed().stops[0];
  const int64_t t0 = 1795435200;  // 2026-11-23 12:00 UTC
  Fix f;
  f.lat = stop.pos.lat;
  f.lon = stop.pos.lon;
  f.speed_mps = 15;
  for (int i = 0; i < 6; ++i) {
    f.timestamp_s = t0 + 10 * i;
    const bool overspeed = i == 2 || i == 3;
    ASSERT_EQ(Send(*t, At(f, overspeed ? 1u << 1 : 0)), 0) << i;
    const pb::Vehicle v = FleetVehicle("bus-os");
    ASSERT_TRUE(v.has_condition()) << i;
    const auto& alarms = v.condition().active_alarms();
    EXPECT_EQ(alarms.size(), overspeed ? 1 : 0) << i;
    if (overspeed) {
      EXPECT_EQ(alarms[0], "overspeed");
    }
    EXPECT_TRUE(v.condition().acc_on());
    EXPECT_EQ(v.condition().satellites(), 10);
  }
  // The event history (written behind: poll briefly).
  auto stub = pb::ConditionService::NewStub(channel_);
  pb::GetVehicleEventsResponse resp;
  for (int tries = 0; tries < 50; ++tries) {
    grpc::ClientContext ctx;
    pb::GetVehicleEventsRequest req;
    req.set_vehicle_id("bus-os");
    req.set_date(20261123);
    ASSERT_TRUE(stub->GetVehicleEvents(&ctx, req, &resp).ok());
    if (resp.events_size() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(resp.events_size(), 2);
  EXPECT_EQ(resp.events(0).alarm(), "overspeed");
  EXPECT_TRUE(resp.events(0).raised());
  EXPECT_EQ(resp.events(0).time(), t0 + 20);
  EXPECT_FALSE(resp.events(1).raised());
  EXPECT_EQ(resp.events(1).time(), t0 + 40);
  EXPECT_EQ(resp.driving_s(), 50);  // six reports 10 s apart, ACC on, 15 m/s
  EXPECT_EQ(resp.active_alarms_size(), 0);
}

TEST_F(Jt808E2E, BlindAreaUploadFillsTheGapsVisitsAndLivePositionNeverGoesBack) {
  const testing_gap::Scenario s = testing_gap::Make();
  ASSERT_FALSE(s.bus.empty());
  auto t = Connect("13800000002", s.bus);
  std::vector<Location> upload;
  int64_t newest = 0;
  for (const Fix& f : s.arrival_order) {
    if (f.vehicle_id != s.bus) continue;
    if (f.timestamp_s >= s.gap_from && f.timestamp_s < s.gap_to) {
      upload.push_back(At(f));
      continue;
    }
    ASSERT_EQ(Send(*t, At(f)), 0);
    newest = std::max(newest, f.timestamp_s);
    if (!upload.empty() && f.timestamp_s >= s.gap_to) {
      // The first live report after the gap went first; now the blind-area upload.
      for (size_t i = 0; i < upload.size(); i += 20)
        ASSERT_EQ(SendBatch(*t, std::vector<Location>(
                                    upload.begin() + i,
                                    upload.begin() + std::min(upload.size(), i + 20))),
                  0);
      upload.clear();
      const pb::Vehicle v = FleetVehicle(s.bus);
      EXPECT_EQ(v.last_seen(), newest) << "the live position went back to an uploaded report";
    }
    if (f.timestamp_s > s.gap_to + 900) break;
  }
  // 2 minutes later (engine clock): every hold is resolved.
  std::vector<StopVisitRecord> visits;
  for (int tries = 0; tries < 50; ++tries) {
    auto all = server_->store().ReadStopVisits({});
    ASSERT_TRUE(all.ok());
    visits = *all;
    // Records read back carry string ids: resolve trip indices for the comparison.
    const Network& net = *server_->view()->network;
    int missing = 0;
    std::vector<StopVisit> resolved;
    for (const StopVisitRecord& r : visits) {
      if (r.visit.vehicle_id != s.bus) continue;
      StopVisit v = r.visit;
      v.trip = net.FindTrip(r.trip_id).value_or(kNoIndex);
      resolved.push_back(v);
    }
    const double err = testing_gap::MeanError(s.truth, resolved, &missing);
    if (missing == 0 || tries == 49) {
      std::printf("bus %s: %zu true visits in the gap, mean |arrival error| %.1f s, %d missing; "
                  "gateway: %llu fixes accepted, %llu rejected\n",
                  s.bus.c_str(), s.truth.size(), err, missing,
                  static_cast<unsigned long long>(gateway_->stats().fixes_accepted.load()),
                  static_cast<unsigned long long>(gateway_->stats().fixes_rejected.load()));
      EXPECT_EQ(missing, 0);
      EXPECT_LT(err, 20.0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

class Jt808E2EAuth : public Jt808E2E {
 protected:
  void SetUp() override {
    tokens_file_ = ::testing::TempDir() + "/jt808_e2e_tokens";
    {
      std::ofstream f(tokens_file_);
      f << "sha256:" << server::Sha256Hex("metro-gw") << " ingest vehicles=metro-* name=metro-gw\n"
        << "sha256:" << server::Sha256Hex("tram-gw") << " ingest vehicles=tram-* name=tram-gw\n";
    }
    agency_tokens_ = {{"metro", "metro-gw"}, {"tram", "tram-gw"}};
    Jt808E2E::SetUp();
  }
  grpc::StatusCode VehicleStatus(const std::string& id) {
    auto stub = pb::PassengerService::NewStub(channel_);
    grpc::ClientContext ctx;
    pb::GetVehicleRequest req;
    req.set_vehicle_id(id);
    pb::Vehicle v;
    return stub->GetVehicle(&ctx, req, &v).error_code();
  }
};

TEST_F(Jt808E2EAuth, ATerminalCannotReportForAnotherAgencysBus) {
  const GtfsStop& stop = server_->view()->network->feed().stops[0];
  Fix f;
  f.lat = stop.pos.lat;
  f.lon = stop.pos.lon;
  f.speed_mps = 5;
  f.timestamp_s = 1795435200;  // 2026-11-23 12:00 UTC
  // A metro terminal for a metro bus: through metro's token, accepted.
  auto metro = Connect("13800000011", "metro-1", "metro");
  EXPECT_EQ(Send(*metro, At(f)), 0);
  EXPECT_EQ(VehicleStatus("metro-1"), grpc::StatusCode::OK);
  // A metro terminal whose registry line names a tram bus: smartbusd refuses metro's token for
  // it, the terminal is answered failure, the bus did not move.
  const uint64_t refusals = server_->auth().refusals();
  auto forged = Connect("13800000012", "tram-7", "metro");
  EXPECT_EQ(Send(*forged, At(f)), 1);
  EXPECT_EQ(VehicleStatus("tram-7"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gateway_->stats().fixes_refused.load(), 1u);
  EXPECT_EQ(server_->auth().refusals(), refusals + 1);
  EXPECT_NE(agency_sinks_["metro"]->last_refusal().find("tram-7"), std::string::npos)
      << agency_sinks_["metro"]->last_refusal();
  // The tram terminal of that bus, through tram's token: accepted.
  auto tram = Connect("13800000013", "tram-7", "tram");
  EXPECT_EQ(Send(*tram, At(f)), 0);
  EXPECT_EQ(VehicleStatus("tram-7"), grpc::StatusCode::OK);
  // A terminal without an agency goes with the gateway's default token, which it has none of
  // here: smartbusd answers UNAUTHENTICATED, the terminal failure.
  auto none = Connect("13800000014", "metro-9", "");
  EXPECT_EQ(Send(*none, At(f)), 1);
  EXPECT_EQ(VehicleStatus("metro-9"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(gateway_->stats().fixes_refused.load(), 2u);
}

}  // namespace
}  // namespace smartbus
