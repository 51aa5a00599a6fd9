#include "services/jt808/messages.h"

#include <iconv.h>

#include <cerrno>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace smartbus::jt808 {
namespace {

constexpr size_t kLocationFixed = 28;
// The terminal clock is GMT+8 (JT/T 808: "GMT+8 时间").
constexpr int64_t kTerminalUtcOffsetS = 8 * 3600;

uint16_t Word(absl::Span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
uint32_t Dword(absl::Span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}
void PutWord(Bytes* o, uint16_t v) {
  o->push_back(static_cast<uint8_t>(v >> 8));
  o->push_back(static_cast<uint8_t>(v));
}
void PutDword(Bytes* o, uint32_t v) {
  PutWord(o, static_cast<uint16_t>(v >> 16));
  PutWord(o, static_cast<uint16_t>(v));
}
// Fixed-length text: up to the first zero byte.
std::string Text(absl::Span<const uint8_t> b) {
  size_t n = 0;
  while (n < b.size() && b[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}
void PutText(Bytes* o, const std::string& s, size_t width) {
  for (size_t i = 0; i < width; ++i)
    o->push_back(i < s.size() ? static_cast<uint8_t>(s[i]) : 0);
}

int Bcd2(uint8_t c, bool* ok) {
  const int hi = c >> 4, lo = c & 0x0F;
  if (hi > 9 || lo > 9) *ok = false;
  return hi * 10 + lo;
}

// A numeric additional item, both directions: its value is one big-endian number as wide as the
// field (BYTE, WORD or DWORD). Read: a shorter value leaves the field unset.
template <typename T>
void ReadNumberItem(absl::Span<const uint8_t> v, std::optional<T>* field) {
  if (v.size() < sizeof(T)) return;
  T x = 0;
  for (size_t i = 0; i < sizeof(T); ++i) x = static_cast<T>((x << 8) | v[i]);
  *field = x;
}
template <typename T>
void PutNumberItem(Bytes* b, uint8_t id, const std::optional<T>& field) {
  if (!field) return;
  b->push_back(id);
  b->push_back(sizeof(T));
  for (size_t i = sizeof(T); i-- > 0;) b->push_back(static_cast<uint8_t>(*field >> (8 * i)));
}

void ReadItem(uint8_t id, absl::Span<const uint8_t> v, Location* loc) {
  switch (id) {
    case kItemMileage: ReadNumberItem(v, &loc->mileage_hm); break;
    case kItemFuel: ReadNumberItem(v, &loc->fuel_dl); break;
    case kItemTachoSpeed: ReadNumberItem(v, &loc->tacho_speed_dkmh); break;
    case kItemVehicleSignals: ReadNumberItem(v, &loc->vehicle_signals); break;
    case kItemIo: ReadNumberItem(v, &loc->io_status); break;
    case kItemAnalog: ReadNumberItem(v, &loc->analog); break;
    case kItemSignalStrength: ReadNumberItem(v, &loc->signal_strength); break;
    case kItemSatellites: ReadNumberItem(v, &loc->satellites); break;
    default: break;  // vendor or extension item: skipped by its length
  }
}

}  // namespace

int64_t BcdTimeToEpoch(absl::Span<const uint8_t> b) {
  if (b.size() < 6) return 0;
  bool ok = true;
  const int yy = Bcd2(b[0], &ok), mo = Bcd2(b[1], &ok), dd = Bcd2(b[2], &ok);
  const int hh = Bcd2(b[3], &ok), mi = Bcd2(b[4], &ok), ss = Bcd2(b[5], &ok);
  if (!ok || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59) return 0;
  const absl::CivilSecond cs(2000 + yy, mo, dd, hh, mi, ss);
  if (cs.day() != dd) return 0;  // 31 February
  return absl::ToUnixSeconds(absl::FromCivil(cs, absl::UTCTimeZone())) - kTerminalUtcOffsetS;
}

void EpochToBcdTime(int64_t epoch_s, uint8_t out[6]) {
  const absl::CivilSecond cs = absl::ToCivilSecond(
      absl::FromUnixSeconds(epoch_s + kTerminalUtcOffsetS), absl::UTCTimeZone());
  const int v[6] = {static_cast<int>(cs.year() % 100), cs.month(), cs.day(),
                    cs.hour(), cs.minute(), cs.second()};
  for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(((v[i] / 10) << 4) | (v[i] % 10));
}

absl::StatusOr<Location> ParseLocation(absl::Span<const uint8_t> body) {
  if (body.size() < kLocationFixed)
    return absl::InvalidArgumentError(absl::StrCat("location body of ", body.size(),
                                                   " bytes: the fixed part is ", kLocationFixed));
  Location loc;
  loc.alarm = Dword(body, 0);
  loc.status = Dword(body, 4);
  loc.lat_raw = Dword(body, 8);
  loc.lon_raw = Dword(body, 12);
  loc.lat = loc.lat_raw / 1e6 * ((loc.status & (1u << kStatusSouth)) ? -1 : 1);
  loc.lon = loc.lon_raw / 1e6 * ((loc.status & (1u << kStatusWest)) ? -1 : 1);
  loc.altitude_m = Word(body, 16);
  loc.speed_dkmh = Word(body, 18);
  loc.direction = Word(body, 20);
  loc.time_bcd = Hex(body.subspan(22, 6));
  loc.time_s = BcdTimeToEpoch(body.subspan(22, 6));
  size_t at = kLocationFixed;
  while (at < body.size()) {
    if (body.size() - at < 2) {
      ++loc.bad_items;  // a lone byte: not an item
      break;
    }
    const uint8_t id = body[at], len = body[at + 1];
    if (body.size() - at - 2 < len) {
      ++loc.bad_items;  // last item shorter than its length
      break;
    }
    loc.item_ids.push_back(id);
    ReadItem(id, body.subspan(at + 2, len), &loc);
    at += 2 + len;
  }
  return loc;
}

absl::StatusOr<Batch> ParseBatch(absl::Span<const uint8_t> body) {
  if (body.size() < 3)
    return absl::InvalidArgumentError(
        absl::StrCat("batch body of ", body.size(), " bytes: count and type need 3"));
  Batch b;
  b.count = Word(body, 0);
  b.type = body[2];
  size_t at = 3;
  for (uint16_t i = 0; i < b.count; ++i) {
    if (body.size() - at < 2) {
      ++b.bad_items;
      break;
    }
    const uint16_t len = Word(body, at);
    if (body.size() - at - 2 < len) {
      ++b.bad_items;
      break;
    }
    absl::StatusOr<Location> loc = ParseLocation(body.subspan(at + 2, len));
    if (loc.ok()) {
      b.items.push_back(*std::move(loc));
    } else {
      ++b.bad_items;
    }
    at += 2 + len;
  }
  return b;
}

absl::StatusOr<Register> ParseRegister(absl::Span<const uint8_t> body, bool v2019) {
  // Field widths per layout: maker, model, terminal id. 2011 and 2013 differ only in the model.
  struct Layout {
    int year;
    size_t maker, model, tid;
  };
  static constexpr Layout k2011{2011, 5, 8, 7}, k2013{2013, 5, 20, 7}, k2019{2019, 11, 30, 30};
  auto fixed = [](const Layout& l) { return 4 + l.maker + l.model + l.tid + 1; };
  const Layout* l = v2019 ? &k2019 : (body.size() >= fixed(k2013) ? &k2013 : &k2011);
  if (body.size() < fixed(*l))
    return absl::InvalidArgumentError(absl::StrCat("register body of ", body.size(),
                                                   " bytes: the ", l->year, " layout needs ",
                                                   fixed(*l)));
  Register r;
  r.layout = l->year;
  r.province = Word(body, 0);
  r.city = Word(body, 2);
  size_t at = 4;
  r.maker = Text(body.subspan(at, l->maker));
  at += l->maker;
  r.model = Text(body.subspan(at, l->model));
  at += l->model;
  r.terminal_id = Text(body.subspan(at, l->tid));
  at += l->tid;
  r.plate_color = body[at++];
  r.plate = GbkToUtf8(body.subspan(at));
  return r;
}

absl::StatusOr<Authenticate> ParseAuthenticate(absl::Span<const uint8_t> body, bool v2019) {
  Authenticate a;
  constexpr size_t kImei = 15, kVersion = 20;
  if (v2019 && !body.empty() && body.size() >= 1 + size_t{body[0]} + kImei + kVersion) {
    const size_t n = body[0];
    a.auth_code = Text(body.subspan(1, n));
    a.imei = Text(body.subspan(1 + n, kImei));
    a.software_version = Text(body.subspan(1 + n + kImei, kVersion));
    return a;
  }
  a.auth_code = Text(body);
  if (a.auth_code.empty()) return absl::InvalidArgumentError("authenticate: empty auth code");
  return a;
}

absl::StatusOr<GeneralResponse> ParseGeneralResponse(absl::Span<const uint8_t> body) {
  if (body.size() < 5)
    return absl::InvalidArgumentError(
        absl::StrCat("general response body of ", body.size(), " bytes: needs 5"));
  return GeneralResponse{Word(body, 0), Word(body, 2), body[4]};
}

absl::StatusOr<RegisterResponse> ParseRegisterResponse(absl::Span<const uint8_t> body) {
  if (body.size() < 3)
    return absl::InvalidArgumentError(
        absl::StrCat("register response body of ", body.size(), " bytes: needs 3"));
  return RegisterResponse{Word(body, 0), body[2], Text(body.subspan(3))};
}

Bytes GeneralResponseBody(uint16_t reply_serial, uint16_t reply_id, Result result) {
  Bytes b;
  PutWord(&b, reply_serial);
  PutWord(&b, reply_id);
  b.push_back(static_cast<uint8_t>(result));
  return b;
}

Bytes RegisterResponseBody(uint16_t reply_serial, RegisterResult result,
                           const std::string& auth_code) {
  Bytes b;
  PutWord(&b, reply_serial);
  b.push_back(static_cast<uint8_t>(result));
  if (result == RegisterResult::kSuccess) b.insert(b.end(), auth_code.begin(), auth_code.end());
  return b;
}

Bytes LocationBody(const Location& loc) {
  Bytes b;
  uint32_t status = loc.status & ~((1u << kStatusSouth) | (1u << kStatusWest));
  if (loc.lat < 0) status |= 1u << kStatusSouth;
  if (loc.lon < 0) status |= 1u << kStatusWest;
  PutDword(&b, loc.alarm);
  PutDword(&b, status);
  PutDword(&b, static_cast<uint32_t>(std::llround(std::abs(loc.lat) * 1e6)));
  PutDword(&b, static_cast<uint32_t>(std::llround(std::abs(loc.lon) * 1e6)));
  PutWord(&b, loc.altitude_m);
  PutWord(&b, loc.speed_dkmh);
  PutWord(&b, loc.direction);
  uint8_t t[6];
  EpochToBcdTime(loc.time_s, t);
  b.insert(b.end(), t, t + 6);
  PutNumberItem(&b, kItemMileage, loc.mileage_hm);
  PutNumberItem(&b, kItemFuel, loc.fuel_dl);
  PutNumberItem(&b, kItemSignalStrength, loc.signal_strength);
  PutNumberItem(&b, kItemSatellites, loc.satellites);
  return b;
}

Bytes BatchBody(uint8_t type, absl::Span<const Location> items) {
  Bytes b;
  PutWord(&b, static_cast<uint16_t>(items.size()));
  b.push_back(type);
  for (const Location& l : items) {
    const Bytes item = LocationBody(l);
    PutWord(&b, static_cast<uint16_t>(item.size()));
    b.insert(b.end(), item.begin(), item.end());
  }
  return b;
}

Bytes RegisterBody(const Register& r, bool v2019) {
  Bytes b;
  PutWord(&b, r.province);
  PutWord(&b, r.city);
  PutText(&b, r.maker, v2019 ? 11 : 5);
  PutText(&b, r.model, v2019 ? 30 : 20);
  PutText(&b, r.terminal_id, v2019 ? 30 : 7);
  b.push_back(r.plate_color);
  b.insert(b.end(), r.plate.begin(), r.plate.end());
  return b;
}

Bytes AuthenticateBody(const std::string& code, bool v2019) {
  Bytes b;
  if (v2019) {
    b.push_back(static_cast<uint8_t>(code.size()));
    b.insert(b.end(), code.begin(), code.end());
    PutText(&b, "", 15);
    PutText(&b, "smartbus-sim", 20);
  } else {
    b.insert(b.end(), code.begin(), code.end());
  }
  return b;
}

std::string GbkToUtf8(absl::Span<const uint8_t> gbk) {
  size_t n = 0;
  while (n < gbk.size() && gbk[n] != 0) ++n;
  std::string out;
  iconv_t cd = iconv_open("UTF-8", "GBK");
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::string(gbk.begin(), gbk.begin() + n);
  char* in = const_cast<char*>(reinterpret_cast<const char*>(gbk.data()));
  size_t in_left = n;
  out.resize(n * 3 + 4);
  char* o = out.data();
  size_t out_left = out.size();
  while (in_left > 0) {
    if (iconv(cd, &in, &in_left, &o, &out_left) != static_cast<size_t>(-1)) break;
    if (errno == E2BIG || out_left < 4) break;
    // Invalid or incomplete sequence: U+FFFD and go on with the next byte.
    static constexpr char kReplacement[] = "\xEF\xBF\xBD";
    for (int i = 0; i < 3; ++i) *o++ = kReplacement[i];
    out_left -= 3;
    ++in;
    --in_left;
  }
  out.resize(out.size() - out_left);
  iconv_close(cd);
  return out;
}

}  // namespace smartbus::jt808
