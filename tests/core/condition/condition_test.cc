// Bus condition from terminal reports: alarms raised and cleared as events, derived alarms
// (door open while moving, low fuel), driving time per day, older reports ignored.
#include "services/core/condition/condition.h"

#include <gtest/gtest.h>

namespace smartbus {
namespace {

constexpr uint32_t kOverspeed = 1u << 1;
constexpr uint32_t kAcc = 1u << 0;
constexpr uint32_t kFrontDoor = 1u << 13;
// 2026-11-23 12:00 UTC.
constexpr int64_t kNoon = 1795435200;

Fix Report(int64_t t, uint32_t alarm, uint32_t status, float speed_mps, float fuel = NAN) {
  Fix f;
  f.vehicle_id = "bus-1";
  f.timestamp_s = t;
  f.lat = 31.2;
  f.lon = 121.4;
  f.speed_mps = speed_mps;
  f.device.present = true;
  f.device.alarm_flags = alarm;
  f.device.status_flags = status;
  f.device.fuel_l = fuel;
  return f;
}

TEST(ConditionTest, OverspeedRaisedThenClearedAsEvents) {
  ConditionTracker ct;
  std::vector<ConditionEvent> ev;
  ASSERT_NE(ct.Update(Report(kNoon, 0, kAcc, 10), &ev, nullptr), nullptr);
  EXPECT_TRUE(ev.empty());
  const BusCondition* c = ct.Update(Report(kNoon + 10, kOverspeed, kAcc, 20), &ev, nullptr);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].alarm, "overspeed");
  EXPECT_TRUE(ev[0].raised);
  EXPECT_EQ(ev[0].time_s, kNoon + 10);
  EXPECT_EQ(ActiveAlarmNames(c->active), std::vector<std::string>{"overspeed"});
  ev.clear();
  ct.Update(Report(kNoon + 20, kOverspeed, kAcc, 20), &ev, nullptr);  // still on: no event
  EXPECT_TRUE(ev.empty());
  c = ct.Update(Report(kNoon + 30, 0, kAcc, 12), &ev, nullptr);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].raised);
  EXPECT_TRUE(ActiveAlarmNames(c->active).empty());
}

TEST(ConditionTest, DoorOpenWhileMovingAndLowFuelAreDerived) {
  ConditionOptions o;
  o.low_fuel_l = 20;
  ConditionTracker ct(o);
  std::vector<ConditionEvent> ev;
  ct.Update(Report(kNoon, 0, kAcc | kFrontDoor, 0.5, 50), &ev, nullptr);  // at a stop
  EXPECT_TRUE(ev.empty());
  const BusCondition* c = ct.Update(Report(kNoon + 10, 0, kAcc | kFrontDoor, 6, 15), &ev,
                                        nullptr);
  EXPECT_EQ(ActiveAlarmNames(c->active),
            (std::vector<std::string>{"door_open_while_moving", "low_fuel"}));
  EXPECT_TRUE(c->doors_open);
  EXPECT_EQ(ev.size(), 2u);
}

TEST(ConditionTest, DrivingTimeCountsMovingWithIgnitionAndEndsWithTheDay) {
  ConditionTracker ct;  // UTC days
  std::vector<DrivingDay> days;
  int64_t t = kNoon + 11 * 3600 + 59 * 60;  // 23:59 UTC
  ct.Update(Report(t, 0, kAcc, 10), nullptr, &days);
  ct.Update(Report(t + 30, 0, kAcc, 10), nullptr, &days);   // +30 s driving
  ct.Update(Report(t + 40, 0, 0, 10), nullptr, &days);      // +10 s (the previous was driving)
  const BusCondition* c = ct.Update(Report(t + 50, 0, kAcc, 0), nullptr, &days);  // ACC off before
  EXPECT_EQ(c->driving_day_s, 40);
  EXPECT_TRUE(days.empty());
  ct.Update(Report(t + 61, 0, kAcc, 10), nullptr, &days);   // next day (00:00:01)
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].day, 20261123);
  EXPECT_EQ(days[0].driving_s, 40);
  // A gap over driving_max_gap_s does not count.
  c = ct.Update(Report(t + 61 + 3600, 0, kAcc, 10), nullptr, &days);
  EXPECT_EQ(c->driving_day_s, 0);
}

TEST(ConditionTest, OlderReportsAndReportsWithoutDeviceAreIgnored) {
  ConditionTracker ct;
  std::vector<ConditionEvent> ev;
  ct.Update(Report(kNoon, 0, kAcc, 10), &ev, nullptr);
  EXPECT_EQ(ct.Update(Report(kNoon - 100, kOverspeed, kAcc, 30), &ev, nullptr), nullptr);
  EXPECT_TRUE(ev.empty());
  Fix plain = Report(kNoon + 10, kOverspeed, kAcc, 30);
  plain.device.present = false;
  EXPECT_EQ(ct.Update(plain, &ev, nullptr), nullptr);
  EXPECT_EQ(ct.Get("bus-1")->updated_s, kNoon);
  EXPECT_EQ(ct.Get("nobody"), nullptr);
}

}  // namespace
}  // namespace smartbus
