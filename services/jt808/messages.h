#pragma once
// JT/T 808 message bodies: decoding what terminals send (0x0100 register, 0x0102 authenticate,
// 0x0200 location with its additional items, 0x0704 batch upload) and encoding what the
// platform sends (0x8001 general response, 0x8100 register response), plus the terminal-side
// encoders the simulator uses. Layouts and units: ../shared/data/jt808-samples/README.md.
//
// Tolerance: additional items are read by their length byte and unknown ids are skipped (vendors
// collide on ids); duplicate items keep the last value; a last item shorter than its length, or
// trailing bytes that are not an item, stop the list and are counted (Location::bad_items). A
// 0x0704 item whose declared length runs past the body is counted (Batch::bad_items); the items
// before it are kept.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "services/jt808/codec.h"

namespace smartbus::jt808 {

// Alarm flag bits (0x0200 DWORD at offset 0): names and the condition they make in
// services/core/condition/condition.h.
inline constexpr int kAlarmOverspeedBit = 1;

// Status flag bits (0x0200 DWORD at offset 4).
enum StatusBit : int {
  kStatusAccOn = 0,
  kStatusPositioned = 1,
  kStatusSouth = 2,
  kStatusWest = 3,
  kStatusOutOfService = 4,
  kStatusFrontDoorOpen = 13,  // door 1
  kStatusMiddleDoorOpen = 14, // door 2
  kStatusBackDoorOpen = 15,   // door 3
  kStatusDoor4Open = 16,
  kStatusDoor5Open = 17,
};
inline constexpr uint32_t kDoorBitsMask = 0x1F << 13;

// Standard additional item ids.
enum ItemId : uint8_t {
  kItemMileage = 0x01,          // DWORD, 1/10 km
  kItemFuel = 0x02,             // WORD, 1/10 L
  kItemTachoSpeed = 0x03,       // WORD, 1/10 km/h
  kItemAlarmConfirmId = 0x04,   // WORD
  kItemOverspeed = 0x11,        // 1 or 5 bytes
  kItemVehicleSignals = 0x25,   // DWORD
  kItemIo = 0x2A,               // WORD
  kItemAnalog = 0x2B,           // DWORD
  kItemSignalStrength = 0x30,   // BYTE
  kItemSatellites = 0x31,       // BYTE
};

struct Location {
  uint32_t alarm = 0;
  uint32_t status = 0;
  double lat = 0;            // degrees, signed (status bit 2 south)
  double lon = 0;            // degrees, signed (status bit 3 west)
  uint32_t lat_raw = 0;      // degrees x 1e6 as sent (unsigned)
  uint32_t lon_raw = 0;
  uint16_t altitude_m = 0;
  uint16_t speed_dkmh = 0;   // 1/10 km/h as sent
  uint16_t direction = 0;    // degrees 0..359
  std::string time_bcd;      // YYMMDDhhmmss as sent (GMT+8)
  int64_t time_s = 0;        // epoch seconds UTC (0 when the BCD time is not a valid time)
  // Standard additional items (absent when not sent).
  std::optional<uint32_t> mileage_hm;   // 1/10 km
  std::optional<uint16_t> fuel_dl;      // 1/10 L
  std::optional<uint16_t> tacho_speed_dkmh;
  std::optional<uint8_t> signal_strength;
  std::optional<uint8_t> satellites;
  std::optional<uint32_t> vehicle_signals;
  std::optional<uint16_t> io_status;
  std::optional<uint32_t> analog;
  std::vector<uint8_t> item_ids;        // every item id read, in order (known or not)
  int bad_items = 0;                    // truncated item / trailing garbage

  double speed_mps() const { return speed_dkmh / 36.0; }
  bool acc_on() const { return status & (1u << kStatusAccOn); }
  bool positioned() const { return status & (1u << kStatusPositioned); }
};

// 0x0200 body. INVALID_ARGUMENT when shorter than the 28 fixed bytes.
absl::StatusOr<Location> ParseLocation(absl::Span<const uint8_t> body);

struct Batch {
  uint16_t count = 0;    // as declared
  uint8_t type = 0;      // 0 normal batch, 1 blind-area re-send
  std::vector<Location> items;
  int bad_items = 0;     // items that could not be read (declared length past the body, ...)
};
// 0x0704 body. INVALID_ARGUMENT when shorter than 3 bytes.
absl::StatusOr<Batch> ParseBatch(absl::Span<const uint8_t> body);

struct Register {
  uint16_t province = 0;
  uint16_t city = 0;
  std::string maker;        // trailing zero bytes removed
  std::string model;
  std::string terminal_id;
  uint8_t plate_color = 0;
  std::string plate;        // UTF-8 (converted from GBK)
  int layout = 2013;        // 2011, 2013 or 2019
};
// 0x0100 body; the layout from the header (2019) or the body length (2011 model of 8 bytes).
absl::StatusOr<Register> ParseRegister(absl::Span<const uint8_t> body, bool v2019);

struct Authenticate {
  std::string auth_code;
  std::string imei;              // 2019 only
  std::string software_version;  // 2019 only
};
// 0x0102 body. 2019: length byte, code, IMEI[15], version[20]; 2013: the whole body. A frame
// with the 2019 bit whose body does not fit the 2019 layout is read as 2013 (vendor quirk).
absl::StatusOr<Authenticate> ParseAuthenticate(absl::Span<const uint8_t> body, bool v2019);

struct GeneralResponse {
  uint16_t reply_serial = 0;
  uint16_t reply_id = 0;
  uint8_t result = 0;
};
absl::StatusOr<GeneralResponse> ParseGeneralResponse(absl::Span<const uint8_t> body);

// Platform bodies.
Bytes GeneralResponseBody(uint16_t reply_serial, uint16_t reply_id, Result result);
Bytes RegisterResponseBody(uint16_t reply_serial, RegisterResult result,
                           const std::string& auth_code);
struct RegisterResponse {
  uint16_t reply_serial = 0;
  uint8_t result = 0;
  std::string auth_code;
};
absl::StatusOr<RegisterResponse> ParseRegisterResponse(absl::Span<const uint8_t> body);

// Terminal bodies (simulator, tests).
Bytes LocationBody(const Location& loc);  // uses lat/lon (sign -> status bits), time_s, items
Bytes BatchBody(uint8_t type, absl::Span<const Location> items);
Bytes RegisterBody(const Register& reg, bool v2019);  // plate as ASCII/UTF-8 bytes
Bytes AuthenticateBody(const std::string& auth_code, bool v2019);

// GMT+8 BCD time <-> epoch seconds. Invalid digits or dates give 0.
int64_t BcdTimeToEpoch(absl::Span<const uint8_t> bcd6);
void EpochToBcdTime(int64_t epoch_s, uint8_t out[6]);

// GBK (what terminals send in plates) to UTF-8; bytes that do not convert become U+FFFD.
std::string GbkToUtf8(absl::Span<const uint8_t> gbk);

}  // namespace smartbus::jt808
