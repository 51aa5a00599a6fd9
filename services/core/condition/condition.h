#pragma once
// Each bus's condition from what its terminal reports with its fixes (Fix::device, JT/T 808
// alarm and status flags and additional items): the active alarms, alarm events (raised,
// cleared), ignition, doors, odometer, fuel, signal, and driving time per vehicle per day.
//
// Alarms: every JT/T 808 alarm bit set (names in kAlarmNames, e.g. "emergency", "overspeed",
// "fatigue_driving", "gnss_antenna_disconnected", "main_power_off"), plus two the tracker
// derives: "door_open_while_moving" (a door status bit while the reported speed is at least
// door_moving_mps) and "low_fuel" (fuel below low_fuel_l, when set). An alarm is raised by the
// first report that has it and cleared by the first later report without it; both are events.
//
// Driving time: the time between two consecutive reports of a vehicle counts when the first
// has ignition on and a speed of at least driving_min_speed_mps and the gap is at most
// driving_max_gap_s; it is added to the day (agency time zone) of the first report.
//
// Order: only reports newer than the vehicle's newest one change the condition (a backfilled,
// older report is history and does not raise or clear anything now).
//
// Thread safety: not thread-safe; one per shard (all fixes of a vehicle go to one shard).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct ConditionOptions {
  // Time zone of "a day" for driving time. Default UTC (the server sets the agency's).
  absl::TimeZone time_zone = absl::UTCTimeZone();
  // Door open while moving: speed at or above this (m/s). Default 5 km/h (walking pace: a bus
  // rolling into a stop with a door already open stays below it).
  double door_moving_mps = 5 / 3.6;
  // Fuel below this is "low_fuel" (litres). Default 0 = off (tank sizes differ per fleet).
  double low_fuel_l = 0;
  // Driving: ignition on and at least this speed (m/s). Default 1 (GPS drift of a standing bus
  // stays below it).
  double driving_min_speed_mps = 1;
  // Gaps longer than this between reports are not counted as driving (s). Default 300.
  int64_t driving_max_gap_s = 300;
};

// An alarm raised or cleared.
struct ConditionEvent {
  std::string vehicle_id;
  int64_t time_s = 0;    // the report that raised or cleared it
  std::string alarm;     // "overspeed", ...
  bool raised = true;    // false: cleared
  double lat = NAN;
  double lon = NAN;
  float speed_mps = NAN;
};

struct BusCondition {
  int64_t updated_s = 0;        // the newest report
  uint64_t active = 0;          // bits 0..31 JT/T 808 alarm bits, 32 door_open_while_moving,
                                // 33 low_fuel
  bool acc_on = false;
  bool doors_open = false;
  double odometer_m = NAN;
  float fuel_l = NAN;
  int16_t signal_strength = -1;
  int16_t satellites = -1;
  int32_t day = 0;              // YYYYMMDD of driving_day_s
  int64_t driving_day_s = 0;    // driving time on `day`
  bool moving = false;          // the newest report counts as driving
};

// Names of the active-alarm bits of BusCondition::active, sorted.
std::vector<std::string> ActiveAlarmNames(uint64_t active);
// Name of alarm bit 0..33.
const char* ConditionAlarmName(int bit);

// Driving time of one vehicle on one day.
struct DrivingDay {
  std::string vehicle_id;
  int32_t day = 0;       // YYYYMMDD, agency time zone
  int64_t driving_s = 0;
};

class ConditionTracker {
 public:
  explicit ConditionTracker(const ConditionOptions& options = {}) : opt_(options) {}

  // Takes one report (a fix with fix.device.present; others are ignored, nullptr). Appends the
  // alarms it raised or cleared to *events and, when the vehicle's day changed, the finished
  // day's driving time to *finished_days. Returns the vehicle's condition (nullptr when the fix
  // has no device report or is older than the newest report).
  const BusCondition* Update(const Fix& fix, std::vector<ConditionEvent>* events,
                                 std::vector<DrivingDay>* finished_days);
  // nullptr when the vehicle never reported a condition.
  const BusCondition* Get(absl::string_view vehicle_id) const;
  void set_options(const ConditionOptions& o) { opt_ = o; }

 private:
  ConditionOptions opt_;
  absl::flat_hash_map<std::string, BusCondition> vehicles_;
};

}  // namespace smartbus
