// Bus condition (JT/T 808 terminals, services/core/condition):
//   smartbus fleet            ... also lists each reporting bus's condition (PrintConditions)
//   smartbus events VEHICLE_ID [--date YYYYMMDD]   alarms raised/cleared that day, driving time
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "smartbus/v1/condition.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"

namespace smartbus::cli {

namespace pb = ::smartbus::v1;

namespace {
std::string Hms(int64_t s) {
  return absl::StrCat(s / 3600, "h", absl::StrFormat("%02dm", static_cast<int>(s / 60 % 60)));
}
}  // namespace

void PrintConditions(const pb::GetFleetStatusResponse& resp) {
  int n = 0;
  for (const pb::Vehicle& v : resp.vehicles()) n += v.has_condition();
  if (n == 0) return;
  std::printf("\ncondition of %d buses reporting it (JT/T 808):\n%-16s %-4s %-5s %9s %7s %4s %4s "
              "%8s  %s\n", n, "vehicle", "acc", "doors", "odo_km", "fuel_l", "sig", "sat",
              "driving", "active alarms");
  for (const pb::Vehicle& v : resp.vehicles()) {
    if (!v.has_condition()) continue;
    const pb::BusCondition& c = v.condition();
    std::printf("%-16s %-4s %-5s %9s %7s %4s %4s %8s  %s\n", v.vehicle_id().c_str(),
                c.acc_on() ? "on" : "off", c.doors_open() ? "open" : "shut",
                c.has_odometer_m() ? absl::StrFormat("%.1f", c.odometer_m() / 1000).c_str() : "-",
                c.has_fuel_l() ? absl::StrFormat("%.1f", c.fuel_l()).c_str() : "-",
                c.has_signal_strength() ? absl::StrCat(c.signal_strength()).c_str() : "-",
                c.has_satellites() ? absl::StrCat(c.satellites()).c_str() : "-",
                Hms(c.driving_today_s()).c_str(),
                c.active_alarms().empty() ? "-" : absl::StrJoin(c.active_alarms(), ",").c_str());
  }
}

int RunEvents(int argc, char** argv) {
  const char* usage = "smartbus events VEHICLE_ID [--date YYYYMMDD]";
  Args a;
  int code;
  if (!ParseClientArgs("events", usage, argc, argv, {}, {"date"}, &a, &code)) return code;
  if (a.positional().size() != 1) return Usage("events", usage, "give one VEHICLE_ID");
  pb::GetVehicleEventsRequest req;
  req.set_vehicle_id(a.positional()[0]);
  if (a.Has("date")) {
    int32_t d;
    if (!absl::SimpleAtoi(a.Get("date"), &d))
      return Usage("events", usage, "--date: YYYYMMDD");
    req.set_date(d);
  }
  pb::GetVehicleEventsResponse resp;
  const int done = Call("events", a, &pb::ConditionService::Stub::GetVehicleEvents, req, &resp);
  if (done >= 0) return done;
  const absl::TimeZone tz = ZoneOrLocal(resp.time_zone());
  std::printf("%s on %d (%s): %d alarm events, driving %s, active now: %s\n",
              resp.vehicle_id().c_str(), resp.date(), resp.time_zone().c_str(),
              resp.events_size(), resp.has_driving_s() ? Hms(resp.driving_s()).c_str() : "unknown",
              resp.active_alarms().empty() ? "none"
                                           : absl::StrJoin(resp.active_alarms(), ",").c_str());
  for (const pb::AlarmEvent& e : resp.events())
    std::printf("  %s  %-8s %-28s at %.5f,%.5f%s\n", ClockTime(e.time(), tz).c_str(),
                e.raised() ? "raised" : "cleared", e.alarm().c_str(), e.position().lat(),
                e.position().lon(),
                e.has_speed_mps() ? absl::StrFormat(" %.0f km/h", e.speed_mps() * 3.6).c_str()
                                  : "");
  return 0;
}

}  // namespace smartbus::cli
