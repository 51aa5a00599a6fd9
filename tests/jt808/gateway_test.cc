// The JT/T 808 gateway over loopback TCP with a fake FixSink: registration (known, unknown,
// auto-registered), authentication, positions forwarded as Fixes with their condition report,
// every message answered (bad frames "message error", unknown ids "not supported").
#include "services/jt808/gateway.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <deque>
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
  // `setup` runs before the gateway starts (more terminals, agency sinks).
  explicit Harness(bool auto_register, const std::function<void(Harness&)>& setup = {}) {
    registry = *TerminalRegistry::Open("", auto_register);
    EXPECT_TRUE(registry->Put({"13900000001", "bus-1", "SB-1", "CODE1", ""}).ok());
    GatewayOptions o;
    o.listen_host = "127.0.0.1";
    o.listen_port = 0;
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mu);
      logs.push_back(line);
    };
    gw = std::make_unique<Gateway>(o, registry.get(), &sink);
    if (setup) setup(*this);
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

  std::string Logs() {
    std::lock_guard lock(log_mu);
    std::string all;
    for (const std::string& l : logs) all += l + "\n";
    return all;
  }

  FakeSink sink;
  std::mutex log_mu;
  std::vector<std::string> logs;
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

// Real terminals' frames from ../shared/data/jt808-samples/frames.tsv (copied with their row's
// source, so the test runs without the data folder).
// Traccar Jt808ProtocolDecoderTest.java:320 (real device): 0x0100 register, phone 013511221122.
constexpr char kRegister13511221122[] =
    "7E0100002D013511221122000500000000373031303748422D52303347424400000000000000000000003233"
    "363631303402CBD5424136383630387E";
// Traccar Jt808ProtocolDecoderTest.java:326 (real device): 0x0102, phone 013511221122, code
// "authentication".
constexpr char kAuth13511221122[] =
    "7E0102000E013511221122000661757468656E7469636174696F6E3F7E";
// traccar/traccar#3412 (real device log): 0x0102, phone 014530480708, the same code
// "authentication".
constexpr char kAuth14530480708[] =
    "7E0102000E014530480708000961757468656E7469636174696F6E377E";
// Traccar Jt808ProtocolDecoderTest.java (real device): a plain 2013 0x0200 of phone
// 013833501744 (TLVs 01, 02, 03).
constexpr char kLocation13833501744[] =
    "7E0200002A013833501744001900000000000000C201597FA806CC01580080000000081508180721210104000"
    "002F502020000030200009F7E";

// A raw connection to the gateway: frames in as bytes, answers decoded.
class RawConn {
 public:
  explicit RawConn(const asio::ip::tcp::endpoint& ep) : sock_(io_) {
    sock_.connect(ep);
    timeval tv{5, 0};  // a missing answer fails the test instead of hanging it
    setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void SendHex(const std::string& hex) { Send(ParseHex(hex).value()); }
  void Send(const Bytes& wire) { asio::write(sock_, asio::buffer(wire)); }
  // The next frame from the gateway; false when the connection closed (or 5 s passed).
  bool Next(Frame* out) {
    while (frames_.empty()) {
      uint8_t buf[1024];
      boost::system::error_code ec;
      const size_t n = sock_.read_some(asio::buffer(buf), ec);
      if (ec) return false;
      d_.Feed(absl::MakeConstSpan(buf, n), [&](absl::Span<const uint8_t> c) {
        Frame f;
        if (DecodeFrame(c, &f).ok()) frames_.push_back(std::move(f));
      });
    }
    *out = std::move(frames_.front());
    frames_.pop_front();
    return true;
  }
  // The 0x8001 result answering the frame just sent; -1 when the connection closed.
  int Result() {
    Frame f;
    if (!Next(&f)) return -1;
    EXPECT_EQ(f.header.msg_id, kPlatformResponse);
    return ParseGeneralResponse(f.body).value().result;
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket sock_;
  Deframer d_;
  std::deque<Frame> frames_;
};

Bytes LocationFrame(const std::string& phone, int64_t t) {
  Header h;
  h.msg_id = kLocation;
  h.phone = phone;
  h.serial = 9;
  return EncodeFrame(h, LocationBody(Loc(t))).value();
}

TEST(Jt808Auth, RealFramesRegisterAndAuthenticateAgainstTheRegistry) {
  Harness h(false, [](Harness& hh) {
    ASSERT_TRUE(hh.registry->Put({"13511221122", "bus-A1", "A1", "authentication", ""}).ok());
    ASSERT_TRUE(hh.registry->Put({"14530480708", "bus-A2", "A2", "ZX81QPLM", ""}).ok());
  });
  RawConn a(h.Endpoint());
  // 0x0100 -> 0x8100 success with the registry's auth code.
  a.SendHex(kRegister13511221122);
  Frame reply;
  ASSERT_TRUE(a.Next(&reply));
  ASSERT_EQ(reply.header.msg_id, kRegisterResponse);
  RegisterResponse rr = ParseRegisterResponse(reply.body).value();
  EXPECT_EQ(rr.result, 0);
  EXPECT_EQ(rr.auth_code, "authentication");
  // 0x0102 with that code -> success; its positions go on as the registry's vehicle.
  a.SendHex(kAuth13511221122);
  EXPECT_EQ(a.Result(), 0);
  a.Send(LocationFrame("013511221122", 1790000000));
  EXPECT_EQ(a.Result(), 0);
  // A real location of another terminal on this connection: refused, not forwarded.
  a.SendHex(kLocation13833501744);
  EXPECT_EQ(a.Result(), 1);
  EXPECT_EQ(h.gw->stats().phone_mismatch.load(), 1u);
  {
    std::lock_guard lock(h.sink.mu);
    ASSERT_EQ(h.sink.got.size(), 1u);
    EXPECT_EQ(h.sink.got[0].vehicle_id, "bus-A1");
  }
  // Another terminal presenting the first one's code: the code is bound to its terminal.
  RawConn b(h.Endpoint());
  b.SendHex(kAuth14530480708);
  EXPECT_EQ(b.Result(), 1);
  b.Send(LocationFrame("014530480708", 1790000000));
  EXPECT_EQ(b.Result(), 1);  // not authenticated: not forwarded
  EXPECT_EQ(h.gw->stats().failed_auth.load(), 1u);
  EXPECT_EQ(h.gw->stats().unauthenticated.load(), 1u);
  {
    std::lock_guard lock(h.sink.mu);
    EXPECT_EQ(h.sink.got.size(), 1u);
  }
  const std::string logs = h.Logs();
  EXPECT_NE(logs.find("terminal 13511221122 sent 0x0200"), std::string::npos) << logs;
  EXPECT_NE(logs.find("terminal 14530480708: authentication refused (wrong auth code"),
            std::string::npos) << logs;
}

TEST(Jt808Auth, RepeatedWrongCodesCloseTheConnection) {
  Harness h(false, [](Harness& hh) {
    ASSERT_TRUE(hh.registry->Put({"14530480708", "bus-A2", "A2", "ZX81QPLM", ""}).ok());
  });
  RawConn c(h.Endpoint());
  for (int i = 0; i < 3; ++i) {
    c.SendHex(kAuth14530480708);
    EXPECT_EQ(c.Result(), 1) << "attempt " << i + 1;
  }
  Frame more;
  EXPECT_FALSE(c.Next(&more)) << "the connection stayed open after 3 wrong codes";
  EXPECT_EQ(h.gw->stats().failed_auth.load(), 3u);
  EXPECT_EQ(h.gw->stats().auth_lockouts.load(), 1u);
}

TEST(Jt808Auth, EachTerminalReportsThroughItsAgencysSinkOnly) {
  FakeSink sink_a, sink_b;
  Harness h(false, [&](Harness& hh) {
    ASSERT_TRUE(hh.registry->Put({"13900000011", "a-bus-1", "A1", "CODEA", "A"}).ok());
    ASSERT_TRUE(hh.registry->Put({"13900000012", "b-bus-1", "B1", "CODEB", "B"}).ok());
    ASSERT_TRUE(hh.registry->Put({"13900000013", "c-bus-1", "C1", "CODEC", "C"}).ok());
    hh.gw->AddAgencySink("A", &sink_a);
    hh.gw->AddAgencySink("B", &sink_b);
  });
  absl::Status st;
  auto ta = h.Connect("13900000011", &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Harness::Result([&](auto cb) { ta->SendLocation(Loc(1790000000), cb); }), 0);
  // smartbusd refuses agency B's request (its token does not cover the vehicle): failure.
  sink_b.reason = kRefusedReason;
  auto tb = h.Connect("13900000012", &st);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(Harness::Result([&](auto cb) { tb->SendLocation(Loc(1790000000), cb); }), 1);
  EXPECT_EQ(h.gw->stats().fixes_refused.load(), 1u);
  // Agency C has no sink (no token at the gateway): refused at authentication.
  h.Connect("13900000013", &st);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(h.gw->stats().refused_agency.load(), 1u);
  {
    std::lock_guard la(sink_a.mu), lb(sink_b.mu), ld(h.sink.mu);
    ASSERT_EQ(sink_a.got.size(), 1u);
    EXPECT_EQ(sink_a.got[0].vehicle_id, "a-bus-1");
    ASSERT_EQ(sink_b.got.size(), 1u);
    EXPECT_EQ(sink_b.got[0].vehicle_id, "b-bus-1");
    EXPECT_TRUE(h.sink.got.empty()) << "an agency's terminal reported through the default sink";
  }
  const std::string logs = h.Logs();
  EXPECT_NE(logs.find("agency C: authentication refused"), std::string::npos) << logs;
}

TEST(Jt808Registry, FileIsReadAndAutoRegistrationsAppended) {
  const std::string path = testing::TempDir() + "/jt808_registry_test.tsv";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("# phone vehicle plate code [agency]\n013900000001\tbus-1\tSB-1\tC1\n"
               "013900000009 tram-9 T-9 C9 tram\n", f);
    std::fclose(f);
  }
  auto r = TerminalRegistry::Open(path, true);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->Find("13900000001")->vehicle_id, "bus-1");
  EXPECT_EQ((*r)->Find("00000000013900000001")->auth_code, "C1");  // 2019 BCD phone
  EXPECT_EQ((*r)->Find("13900000001")->agency, "");
  EXPECT_EQ((*r)->Find("13900000009")->agency, "tram");
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
  EXPECT_NE(bad.status().message().find(":5: phone"), std::string::npos) << bad.status();
  f = std::fopen(path.c_str(), "w");
  std::fputs("1390\tbus\tp\tc\tagency\textra\n", f);
  std::fclose(f);
  bad = TerminalRegistry::Open(path, false);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":1: 6 columns, expected phone vehicle_id plate auth_code "
                                        "[agency]"),
            std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace smartbus::jt808
