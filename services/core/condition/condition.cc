#include "services/core/condition/condition.h"

#include <algorithm>
#include <cmath>

#include "absl/time/civil_time.h"

namespace smartbus {
namespace {

// JT/T 808-2013 alarm flag bits (0x0200 DWORD); 2019 reads bit 29 as collision or rollover.
constexpr const char* kAlarmNames[34] = {
    "emergency",                  "overspeed",
    "fatigue_driving",            "danger_warning",
    "gnss_module_fault",          "gnss_antenna_disconnected",
    "gnss_antenna_short_circuit", "main_power_undervoltage",
    "main_power_off",             "display_fault",
    "tts_fault",                  "camera_fault",
    "ic_card_fault",              "overspeed_warning",
    "fatigue_warning",            "violation_driving_warning",
    "tyre_pressure_warning",      "right_turn_blind_area",
    "driving_overtime_today",     "overtime_parking",
    "area_in_out",                "route_in_out",
    "route_drive_time",           "route_deviation",
    "vss_fault",                  "fuel_abnormal",
    "vehicle_stolen",             "illegal_ignition",
    "illegal_displacement",       "collision_warning",
    "rollover_warning",           "illegal_door_open",
    "door_open_while_moving",     "low_fuel",
};
constexpr int kDoorWhileMovingBit = 32;
constexpr int kLowFuelBit = 33;
constexpr uint32_t kAccOn = 1u << 0;
constexpr uint32_t kDoorBits = 0x1Fu << 13;  // doors 1..5 open

int32_t DayOf(int64_t t, absl::TimeZone tz) {
  const absl::CivilDay d = absl::ToCivilDay(absl::FromUnixSeconds(t), tz);
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

}  // namespace

const char* ConditionAlarmName(int bit) {
  return bit >= 0 && bit < 34 ? kAlarmNames[bit] : "unknown";
}

std::vector<std::string> ActiveAlarmNames(uint64_t active) {
  std::vector<std::string> out;
  for (int b = 0; b < 34; ++b)
    if (active & (uint64_t{1} << b)) out.emplace_back(kAlarmNames[b]);
  std::sort(out.begin(), out.end());
  return out;
}

const BusCondition* ConditionTracker::Update(const Fix& fix,
                                                 std::vector<ConditionEvent>* events,
                                                 std::vector<DrivingDay>* finished_days) {
  if (!fix.device.present || fix.vehicle_id.empty()) return nullptr;
  auto [it, is_new] = vehicles_.try_emplace(fix.vehicle_id);
  BusCondition& c = it->second;
  if (!is_new && fix.timestamp_s <= c.updated_s) return nullptr;
  const DeviceReport& d = fix.device;

  // Driving time since the previous report (it decides whether the interval was driving).
  const int32_t day = DayOf(fix.timestamp_s, opt_.time_zone);
  if (!is_new && c.moving && fix.timestamp_s - c.updated_s <= opt_.driving_max_gap_s)
    c.driving_day_s += fix.timestamp_s - c.updated_s;
  if (c.day != day) {
    if (c.day != 0 && finished_days) finished_days->push_back({fix.vehicle_id, c.day, c.driving_day_s});
    c.day = day;
    c.driving_day_s = 0;
  }

  const double speed = std::isfinite(fix.speed_mps) ? fix.speed_mps : 0;
  uint64_t active = d.alarm_flags;
  c.acc_on = d.status_flags & kAccOn;
  c.doors_open = d.status_flags & kDoorBits;
  if (c.doors_open && speed >= opt_.door_moving_mps) active |= uint64_t{1} << kDoorWhileMovingBit;
  if (opt_.low_fuel_l > 0 && std::isfinite(d.fuel_l) && d.fuel_l < opt_.low_fuel_l)
    active |= uint64_t{1} << kLowFuelBit;
  const uint64_t changed = active ^ c.active;
  if (changed && events) {
    for (int b = 0; b < 34; ++b) {
      if (!(changed & (uint64_t{1} << b))) continue;
      events->push_back({fix.vehicle_id, fix.timestamp_s, kAlarmNames[b],
                         static_cast<bool>(active & (uint64_t{1} << b)), fix.lat, fix.lon,
                         fix.speed_mps});
    }
  }
  c.active = active;
  c.updated_s = fix.timestamp_s;
  if (std::isfinite(d.odometer_m)) c.odometer_m = d.odometer_m;
  if (std::isfinite(d.fuel_l)) c.fuel_l = d.fuel_l;
  if (d.signal_strength >= 0) c.signal_strength = d.signal_strength;
  if (d.satellites >= 0) c.satellites = d.satellites;
  c.moving = c.acc_on && speed >= opt_.driving_min_speed_mps;
  return &c;
}

const BusCondition* ConditionTracker::Get(absl::string_view vehicle_id) const {
  auto it = vehicles_.find(vehicle_id);
  return it == vehicles_.end() ? nullptr : &it->second;
}

}  // namespace smartbus
