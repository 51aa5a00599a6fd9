// JT/T 808 codec on hand-made frames (no ../shared needed): framing, escapes, check code, the
// 2013/2019 headers and the nonstandard bit-14 quirk, subpackages, bodies, encoders.
#include "services/jt808/codec.h"

#include <gtest/gtest.h>

#include "services/jt808/messages.h"

namespace smartbus::jt808 {
namespace {

Bytes H(const char* hex) { return ParseHex(hex).value(); }

// Frame content without the flags.
Bytes Content(const Bytes& wire) { return Bytes(wire.begin() + 1, wire.end() - 1); }

Header Hdr(uint16_t id, const std::string& phone, uint16_t serial, bool v2019 = false) {
  Header h;
  h.msg_id = id;
  h.phone = phone;
  h.serial = serial;
  h.v2019 = v2019;
  return h;
}

TEST(Jt808Codec, EscapesFlagAndEscapeBytesBothWays) {
  // Traccar's frame decoder test: wire 7e307d02087d01557e is 30 7E 08 7D 55.
  EXPECT_EQ(Unescape(H("307D02087D0155")), H("307E087D55"));
  Bytes out;
  AppendEscaped(H("307E087D55"), &out);
  EXPECT_EQ(out, H("307D02087D0155"));
  bool odd = false;
  EXPECT_EQ(Unescape(H("7D0312"), &odd), H("7D0312"));  // 7D 03 kept as data
  EXPECT_TRUE(odd);
}

TEST(Jt808Codec, HeartbeatRoundTrip2013And2019) {
  for (bool v2019 : {false, true}) {
    const Bytes wire = EncodeFrame(Hdr(kHeartbeat, "13912345678", 42, v2019), {}).value();
    Frame f;
    ASSERT_TRUE(DecodeFrame(Content(wire), &f).ok());
    EXPECT_EQ(f.header.msg_id, kHeartbeat);
    EXPECT_EQ(f.header.v2019, v2019);
    EXPECT_EQ(f.header.serial, 42);
    EXPECT_EQ(f.header.phone, v2019 ? "00000000013912345678" : "013912345678");
    EXPECT_TRUE(f.body.empty());
  }
}

TEST(Jt808Codec, CheckCodeThatMustBeEscapedRoundTrips) {
  // Search a serial whose check code is 0x7E: it is sent as 7D 02 before the closing flag.
  for (uint16_t serial = 0; serial < 512; ++serial) {
    const Bytes wire = EncodeFrame(Hdr(kHeartbeat, "1", serial), {}).value();
    if (wire[wire.size() - 2] != 0x02 || wire[wire.size() - 3] != 0x7D) continue;
    Frame f;
    ASSERT_TRUE(DecodeFrame(Content(wire), &f).ok());
    EXPECT_EQ(f.check_code, 0x7E);
    return;
  }
  FAIL() << "no serial gave check code 0x7E";
}

TEST(Jt808Codec, BadCheckCodeIsAnErrorButTheHeaderCanBeAnswered) {
  Bytes wire = EncodeFrame(Hdr(kHeartbeat, "123", 7), {}).value();
  wire[wire.size() - 2] ^= 0x01;
  Frame f;
  absl::Status s = DecodeFrame(Content(wire), &f);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("check code"), std::string::npos) << s;
  EXPECT_TRUE(f.header_ok);
  EXPECT_EQ(f.header.serial, 7);
}

TEST(Jt808Codec, LengthMismatchIsNamed) {
  Bytes raw = H("0002000501234567890100010000");  // declares 5 body bytes, has 1
  raw.push_back(CheckCode(raw));
  Frame f;
  absl::Status s = DecodeUnescaped(raw, &f);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("declares 5"), std::string::npos) << s;
}

TEST(Jt808Codec, ShortOrGarbageInputIsAnErrorNotACrash) {
  Frame f;
  EXPECT_FALSE(DecodeFrame({}, &f).ok());
  EXPECT_FALSE(DecodeFrame(H("7D"), &f).ok());
  EXPECT_FALSE(DecodeFrame(H("0200FFFF"), &f).ok());
  EXPECT_FALSE(ParseLocation(H("0000")).ok());
  EXPECT_FALSE(ParseBatch(H("00")).ok());
}

TEST(Jt808Codec, Bit14WithA2013HeaderIsReadAs2013) {
  // A vendor bug: bit 14 set, 2013 header (6-byte phone); only the 2013 reading fits.
  Bytes raw = H("000240000123456789010001");  // length 0
  raw.push_back(CheckCode(raw));
  Frame f;
  ASSERT_TRUE(DecodeUnescaped(raw, &f).ok());
  EXPECT_FALSE(f.header.v2019);
  EXPECT_TRUE(f.header.v2019_flag_nonstd);
  EXPECT_EQ(f.header.phone, "012345678901");
}

TEST(Jt808Codec, DeframerSplitsStreamsAtFlagsAcrossReads) {
  const Bytes a = EncodeFrame(Hdr(kHeartbeat, "1", 1), {}).value();
  const Bytes b = EncodeFrame(Hdr(kLogout, "1", 2), {}).value();
  Bytes stream = H("FFFF");  // garbage before the first flag
  stream.insert(stream.end(), a.begin(), a.end());
  stream.insert(stream.end(), b.begin(), b.end());
  Deframer d;
  std::vector<uint16_t> serials;
  for (size_t i = 0; i < stream.size(); i += 3) {  // 3 bytes per read
    const size_t n = std::min<size_t>(3, stream.size() - i);
    d.Feed(absl::MakeConstSpan(stream.data() + i, n), [&](absl::Span<const uint8_t> c) {
      Frame f;
      ASSERT_TRUE(DecodeFrame(c, &f).ok());
      serials.push_back(f.header.serial);
    });
  }
  EXPECT_EQ(serials, (std::vector<uint16_t>{1, 2}));
  EXPECT_EQ(d.skipped_bytes(), 2u);
}

TEST(Jt808Codec, DeframerDropsOversizedRuns) {
  Deframer d;
  Bytes junk(kMaxEscapedFrame + 10, 0x11);
  junk.insert(junk.begin(), kFlag);
  int frames = 0;
  d.Feed(junk, [&](absl::Span<const uint8_t>) { ++frames; });
  d.Feed(H("7E"), [&](absl::Span<const uint8_t>) { ++frames; });
  EXPECT_EQ(frames, 0);
  EXPECT_EQ(d.oversized(), 1u);
}

TEST(Jt808Codec, LocationWithItemsRoundTripsAndSkipsUnknownItems) {
  Location in;
  in.alarm = 1u << 1;  // overspeed
  in.status = 0x3;     // ACC on, positioned
  in.lat = -33.868800;
  in.lon = 151.209300;
  in.speed_dkmh = 523;
  in.direction = 270;
  in.time_s = 1790000000;
  in.mileage_hm = 123456;
  in.fuel_dl = 812;
  in.signal_strength = 23;
  in.satellites = 11;
  Bytes body = LocationBody(in);
  body.insert(body.end(), {0xE1, 0x02, 0xAB, 0xCD});  // vendor item, skipped
  Location out = ParseLocation(body).value();
  EXPECT_EQ(out.alarm, in.alarm);
  EXPECT_NEAR(out.lat, in.lat, 1e-6);
  EXPECT_NEAR(out.lon, in.lon, 1e-6);
  EXPECT_TRUE(out.status & (1u << kStatusSouth));
  EXPECT_EQ(out.speed_dkmh, 523);
  EXPECT_EQ(out.time_s, in.time_s);
  EXPECT_EQ(*out.mileage_hm, 123456u);
  EXPECT_EQ(*out.fuel_dl, 812);
  EXPECT_EQ(*out.signal_strength, 23);
  EXPECT_EQ(*out.satellites, 11);
  EXPECT_EQ(out.item_ids.back(), 0xE1);
  EXPECT_EQ(out.bad_items, 0);
  body.insert(body.end(), {0x30, 0x04, 0x01});  // last item shorter than its length
  EXPECT_EQ(ParseLocation(body).value().bad_items, 1);
}

// The additional items as bytes: id, length, big-endian value as wide as the field.
TEST(Jt808Codec, NumericItemsAreBigEndianAsWideAsTheirField) {
  Location in;
  in.time_s = 1790000000;
  in.mileage_hm = 0x01020304;
  in.fuel_dl = 0x0506;
  in.signal_strength = 0x07;
  in.satellites = 0x08;
  const Bytes body = LocationBody(in);
  EXPECT_EQ(Bytes(body.end() - 16, body.end()),
            Bytes({0x01, 4, 0x01, 0x02, 0x03, 0x04, 0x02, 2, 0x05, 0x06, 0x30, 1, 0x07, 0x31, 1,
                   0x08}));
  Bytes fixed(body.begin(), body.end() - 16);
  fixed.insert(fixed.end(), {0x03, 2, 0x0A, 0x0B, 0x25, 4, 0xF1, 0xF2, 0xF3, 0xF4, 0x2A, 2, 0x0C,
                             0x0D, 0x2B, 4, 0x11, 0x12, 0x13, 0x14, 0x01, 2, 0x01, 0x02});
  const Location out = ParseLocation(fixed).value();
  EXPECT_EQ(*out.tacho_speed_dkmh, 0x0A0B);
  EXPECT_EQ(*out.vehicle_signals, 0xF1F2F3F4u);
  EXPECT_EQ(*out.io_status, 0x0C0D);
  EXPECT_EQ(*out.analog, 0x11121314u);
  EXPECT_FALSE(out.mileage_hm.has_value());  // 2 bytes: shorter than a DWORD
}

TEST(Jt808Codec, TerminalTimeIsGmtPlus8) {
  // 2024-10-01 23:59:59 GMT+8 = 2024-10-01 15:59:59 UTC = 1727798399.
  EXPECT_EQ(BcdTimeToEpoch(H("241001235959")), 1727798399);
  EXPECT_EQ(BcdTimeToEpoch(H("240231000000")), 0);  // 31 February
  EXPECT_EQ(BcdTimeToEpoch(H("2410AA000000")), 0);
}

TEST(Jt808Codec, BatchKeepsItemsBeforeABrokenOne) {
  Location a;
  a.lat = 1;
  a.lon = 2;
  a.time_s = 1790000000;
  Bytes body = BatchBody(1, std::vector<Location>{a, a});
  body.resize(body.size() - 4);  // second item cut short
  Batch b = ParseBatch(body).value();
  EXPECT_EQ(b.count, 2);
  EXPECT_EQ(b.type, 1);
  EXPECT_EQ(b.items.size(), 1u);
  EXPECT_EQ(b.bad_items, 1);
}

TEST(Jt808Codec, SubpackagesAreReassembledInAnyOrder) {
  Reassembler r;
  auto part = [](uint16_t index, Bytes body) {
    Frame f;
    f.header = Hdr(kBatchLocation, "1", static_cast<uint16_t>(99 + index));
    f.header.subpackage = true;
    f.header.packet_total = 3;
    f.header.packet_index = index;
    f.body = std::move(body);
    return f;
  };
  EXPECT_TRUE(absl::IsNotFound(r.Add(part(2, H("BB"))).status()));
  EXPECT_TRUE(absl::IsNotFound(r.Add(part(3, H("CC"))).status()));
  absl::StatusOr<Frame> whole = r.Add(part(1, H("AA")));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->body, H("AABBCC"));
  EXPECT_EQ(whole->header.serial, 100);
  EXPECT_FALSE(r.Add(part(4, H("DD"))).ok());
}

TEST(Jt808Codec, RegisterLayouts) {
  Register reg;
  reg.province = 31;
  reg.city = 110;
  reg.maker = "SB001";
  reg.model = "sim";
  reg.terminal_id = "T1";
  reg.plate_color = 1;
  reg.plate = "BUS-12";
  for (bool v2019 : {false, true}) {
    Register out = ParseRegister(RegisterBody(reg, v2019), v2019).value();
    EXPECT_EQ(out.layout, v2019 ? 2019 : 2013);
    EXPECT_EQ(out.maker, "SB001");
    EXPECT_EQ(out.terminal_id, "T1");
    EXPECT_EQ(out.plate, "BUS-12");
  }
  // 2011: model of 8 bytes.
  Bytes b2011 = H("001F006E");
  b2011.insert(b2011.end(), {'A', 'B', 'C', 'D', 'E', 'M', '1', 0, 0, 0, 0, 0, 0,
                             'T', '1', 0, 0, 0, 0, 0, 2, 'X', '1'});
  Register old = ParseRegister(b2011, false).value();
  EXPECT_EQ(old.layout, 2011);
  EXPECT_EQ(old.model, "M1");
  EXPECT_EQ(old.plate, "X1");
  EXPECT_EQ(GbkToUtf8(H("B2E241")), "\xE6\xB5\x8B" "A");  // 测A
}

TEST(Jt808Codec, PlatformResponsesEncodeAsPublished) {
  // go-jt808 [8001]-JT2013: reply to serial 1 of a 0x0200, result 0, platform serial 1.
  Header h = Hdr(kPlatformResponse, "123456782013", 1);
  EXPECT_EQ(Hex(EncodeFrame(h, GeneralResponseBody(1, kLocation, Result::kSuccess)).value()),
            "7E8001000512345678201300010001020000BD7E");
  Bytes reg = RegisterResponseBody(5, RegisterResult::kSuccess, "AUTH1");
  RegisterResponse rr = ParseRegisterResponse(reg).value();
  EXPECT_EQ(rr.reply_serial, 5);
  EXPECT_EQ(rr.auth_code, "AUTH1");
  Authenticate a = ParseAuthenticate(AuthenticateBody("987654321", true), true).value();
  EXPECT_EQ(a.auth_code, "987654321");
  EXPECT_EQ(a.software_version, "smartbus-sim");
}

}  // namespace
}  // namespace smartbus::jt808
