// The JT/T 808 gateway over loopback TCP with a fake FixSink: registration (known, unknown,
// auto-registered), authentication, positions forwarded as Fixes with their condition report,
// every message answered (bad frames "message error", unknown ids "not supported").
#include "services/jt808/gateway.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

#include "services/jt808/terminal.h"

namespace smartbus::jt808 {
namespace {

namespace asio = boost::asio;

class FakeSink : public FixSink {
 public:
  void Submit(std::vector<Fix> fixes, std::function<void(std::vector<uint8_t>)> done) override {
    std::vector<uint8_t> reasons(fixes.size(), reason);
    {
      std::lock_guard lock(mu);
      for (Fix& f : fixes) got.push_back(std::move(f));
    }
    done(std::move(reasons));
  }
  std::mutex mu;
  std::vector<Fix> got;
  uint8_t reason = 0;
};

struct Harness {
  explicit Harness(bool auto_register) {
    registry = *TerminalRegistry::Open("", auto_register);
    EXPECT_TRUE(registry->Put({"13900000001", "bus-1", "SB-1", "CODE1"}).ok());
    GatewayOptions o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    gw = std::make_unique<Gateway>(o, registry.get(), &sink);
    EXPECT_TRUE(gw->Start().ok());
    thread = std::thread([this] { io.run(); });
  }
  ~Harness() {
    work.reset();
    io.stop();
    thread.join();
    gw->Stop();
  }
  asio::ip::tcp::endpoint Endpoint() {
    return {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(gw->port())};
  }
  std::shared_ptr<Terminal808> Connect(const std::string& phone, absl::Status* st,
                                       bool v2019 = false) {
    TerminalOptions to;
    to.phone = phone;
    to.plate = "P1";
    to.v2019 = v2019;
    auto t = std::make_shared<Terminal808>(io.get_executor(), to);
    std::promise<absl::Status> ready;
    t->Start(Endpoint(), [&](absl::Status s) { ready.set_value(s); });
    *st = ready.get_future().get();
    return t;
  }
  static int Result(const std::function<void(Terminal808::ResultCallback)>& send) {
    std::promise<int> r;
    send([&](int result) { r.set_value(result); });
    return r.get_future().get();
  }

  FakeSink sink;
  std::unique_ptr<TerminalRegistry> registry;
  std::unique_ptr<Gateway> gw;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread;
};

Location Loc(int64_t t, uint32_t alarm = 0) {
  Location l;
  l.lat = 31.230416;
  l.lon = 121.473701;
  l.time_s = t;
  l.speed_dkmh = 360;  // 36 km/h = 10 m/s
  l.direction = 90;
  l.status = 0x3;      // ACC on, positioned
  l.alarm = alarm;
  l.mileage_hm = 12345;
  l.fuel_dl = 805;
  l.signal_strength = 20;
  l.satellites = 9;
  return l;
}

TEST(Jt808Gateway, KnownTerminalRegistersAuthenticatesAndReports) {
  for (bool v2019 : {false, true}) {
    Harness h(false);
    absl::Status st;
    auto t = h.Connect("13900000001", &st, v2019);
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(t->auth_code(), "CODE1");
    EXPECT_EQ(Harness::Result([&](auto cb) { t->SendLocation(Loc(1790000000, 1u << 1), cb); }), 0);
    EXPECT_EQ(Harness::Result([&](auto cb) {
                t->SendBatch(1, {Loc(1789999980), Loc(1789999990)}, cb);
              }),
              0);
    EXPECT_EQ(Harness::Result([&](auto cb) { t->SendHeartbeat(cb); }), 0);
    std::lock_guard lock(h.sink.mu);
    ASSERT_EQ(h.sink.got.size(), 3u);
    const Fix& f = h.sink.got[0];
    EXPECT_EQ(f.vehicle_id, "bus-1");
    EXPECT_EQ(f.timestamp_s, 1790000000);
    EXPECT_NEAR(f.lat, 31.230416, 1e-6);
    EXPECT_NEAR(f.speed_mps, 10.0, 1e-4);
    EXPECT_FLOAT_EQ(f.bearing_deg, 90);
    EXPECT_TRUE(f.device.present);
    EXPECT_EQ(f.device.alarm_flags, 1u << 1);
    EXPECT_DOUBLE_EQ(f.device.odometer_m, 1234500);
    EXPECT_FLOAT_EQ(f.device.fuel_l, 80.5f);
    EXPECT_EQ(f.device.satellites, 9);
    EXPECT_EQ(h.gw->stats().fixes_accepted.load(), 3u);
  }
}

TEST(Jt808Gateway, UnknownTerminalIsRefusedUnlessAutoRegistration) {
  {
    Harness h(false);
    absl::Status st;
    h.Connect("13900000999", &st);
    EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
    EXPECT_NE(st.message().find("result 4"), std::string::npos) << st;
    EXPECT_EQ(h.gw->stats().refused_registrations.load(), 1u);
  }
  Harness h(true);
  absl::Status st;
  auto t = h.Connect("13900000999", &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendLocation(Loc(1790000000), cb); }), 0);
  std::lock_guard lock(h.sink.mu);
  ASSERT_EQ(h.sink.got.size(), 1u);
  EXPECT_EQ(h.sink.got[0].vehicle_id, "jt808-13900000999");
}

TEST(Jt808Gateway, EveryMessageIsAnswered) {
  Harness h(false);
  absl::Status st;
  auto t = h.Connect("13900000001", &st);
  ASSERT_TRUE(st.ok()) << st;
  // An id the gateway does not handle: "not supported".
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendRaw(0x0900, {1, 2, 3}, cb); }), 3);
  // A location body too short to read: "message error".
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendRaw(kLocation, {0, 1}, cb); }), 2);
  // Overloaded smartbusd: "failure" (the terminal sends it again).
  h.sink.reason = 8;
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendLocation(Loc(1790000100), cb); }), 1);
  // A position without a GNSS fix: answered success, not forwarded.
  h.sink.reason = 0;
  Location nofix = Loc(1790000200);
  nofix.status = 0x1;
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendLocation(nofix, cb); }), 0);
  EXPECT_EQ(h.gw->stats().unpositioned.load(), 1u);
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendRaw(kLogout, {}, cb); }), 0);
  // After logout the terminal is no longer authenticated: positions fail.
  EXPECT_EQ(Harness::Result([&](auto cb) { t->SendLocation(Loc(1790000300), cb); }), 1);
}

TEST(Jt808Gateway, BadFrameIsAnsweredMessageErrorAndCounted) {
  Harness h(false);
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  sock.connect(h.Endpoint());
  Header hdr;
  hdr.msg_id = kHeartbeat;
  hdr.phone = "13900000001";
  hdr.serial = 77;
  Bytes wire = EncodeFrame(hdr, {}).value();
  wire[wire.size() - 2] ^= 0x5A;  // corrupt the check code
  Bytes garbage = {0x7E, 0x01, 0x02, 0x7E};  // too short to have a header: counted, not answered
  asio::write(sock, asio::buffer(garbage));
  asio::write(sock, asio::buffer(wire));
  uint8_t buf[64];
  size_t n = sock.read_some(asio::buffer(buf));
  Deframer d;
  int answered = 0;
  d.Feed(absl::MakeConstSpan(buf, n), [&](absl::Span<const uint8_t> c) {
    Frame f;
    ASSERT_TRUE(DecodeFrame(c, &f).ok());
    ASSERT_EQ(f.header.msg_id, kPlatformResponse);
    GeneralResponse r = ParseGeneralResponse(f.body).value();
    EXPECT_EQ(r.reply_serial, 77);
    EXPECT_EQ(r.reply_id, kHeartbeat);
    EXPECT_EQ(r.result, 2);
    ++answered;
  });
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(h.gw->stats().bad_frames.load(), 2u);
}

TEST(Jt808Registry, FileIsReadAndAutoRegistrationsAppended) {
  const std::string path = testing::TempDir() + "/jt808_registry_test.tsv";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("# phone vehicle plate code\n013900000001\tbus-1\tSB-1\tC1\n", f);
    std::fclose(f);
  }
  auto r = TerminalRegistry::Open(path, true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Find("13900000001")->vehicle_id, "bus-1");
  EXPECT_EQ((*r)->Find("00000000013900000001")->auth_code, "C1");  // 2019 BCD phone
  auto t = (*r)->Register("13900000002", "X 2");
  ASSERT_TRUE(t.ok());
  auto again = TerminalRegistry::Open(path, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Find("13900000002")->auth_code, t->auth_code);
  EXPECT_FALSE((*again)->Register("13900000003", "").ok());
  std::FILE* f = std::fopen(path.c_str(), "a");
  std::fputs("12x\tbus\tp\tc\n", f);
  std::fclose(f);
  auto bad = TerminalRegistry::Open(path, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":4: phone"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace smartbus::jt808
