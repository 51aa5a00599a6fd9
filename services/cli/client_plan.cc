// smartbus plan FROM TO [--at TIME | --by TIME] [--window MIN] [--timetable] [--json]
//
// Asks a running smartbusd (PlannerService.PlanJourney) for journeys. FROM and TO are a stop_id
// or "LAT,LON". TIME is epoch seconds, "HH:MM" (today) or "YYYY-MM-DD HH:MM" in the agency's
// time zone; default now. Common: --server HOST:PORT, --timeout S, --json (see client.h).

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "smartbus/v1/planner.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace pb = ::smartbus::v1;

constexpr char kPlanUsage[] =
    "smartbus plan FROM TO [--at TIME | --by TIME] [--window MINUTES] [--timetable] [--json]\n"
    "  FROM, TO: a stop_id or LAT,LON; TIME: epoch seconds, HH:MM (today) or\n"
    "  \"YYYY-MM-DD HH:MM\" in the agency's time zone (default: now); --window: every\n"
    "  Pareto-optimal journey leaving within MINUTES (<= 180); --timetable: ignore live times";

void ToPlace(const std::string& text, pb::Place* p) {
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  double lat, lon;
  if (parts.size() == 2 && absl::SimpleAtod(parts[0], &lat) && absl::SimpleAtod(parts[1], &lon)) {
    p->mutable_position()->set_lat(lat);
    p->mutable_position()->set_lon(lon);
  } else {
    p->set_stop_id(text);
  }
}

void SetTime(const std::string& text, pb::PlanJourneyRequest* req) {
  int64_t epoch;
  if (absl::SimpleAtoi(text, &epoch)) {
    req->set_time_s(epoch);
  } else {
    req->set_local_time(text);
  }
}

std::string Stop(const std::string& id, const std::string& name, const char* place) {
  return id.empty() ? place : name + " (" + id + ")";
}

void PrintJourneys(const pb::PlanJourneyResponse& r) {
  const absl::TimeZone tz = ZoneOrLocal(r.time_zone());
  std::printf("%d journeys (%.1f ms, %u rounds, %u search%s, %u live trips)\n", r.journeys_size(),
              r.compute_ms(), r.rounds(), r.searches(), r.searches() == 1 ? "" : "es",
              r.live_trips());
  for (const pb::Journey& j : r.journeys()) {
    std::printf("\n%s -> %s  %lld min, %u transfer%s%s%s\n", ClockTime(j.depart_s(), tz).c_str(),
                ClockTime(j.arrive_s(), tz).c_str(),
                static_cast<long long>((j.arrive_s() - j.depart_s() + 59) / 60), j.transfers(),
                j.transfers() == 1 ? "" : "s", j.live() ? "  [live]" : "",
                j.risky() ? "  [risky transfer]" : "");
    for (const pb::JourneyLeg& l : j.legs()) {
      const std::string from = Stop(l.from_stop_id(), l.from_stop_name(), "origin");
      const std::string to = Stop(l.to_stop_id(), l.to_stop_name(), "destination");
      if (l.kind() == pb::LEG_KIND_WALK) {
        std::printf("  %s  walk %.0f m  %s -> %s\n", ClockTime(l.depart_s(), tz).c_str(),
                    l.walk_m(), from.c_str(), to.c_str());
        continue;
      }
      std::string range;
      if (l.arrive_p10_s() && l.arrive_p90_s())
        range = " (P10-P90 " + ClockTime(l.arrive_p10_s(), tz) + "-" +
                ClockTime(l.arrive_p90_s(), tz) + ")";
      std::printf("  %s  route %s to %s: %s -> %s, arrive %s%s%s%s  [trip %s, %u stops]\n",
                  ClockTime(l.depart_s(), tz).c_str(), l.route_short_name().c_str(),
                  l.headsign().c_str(), from.c_str(), to.c_str(),
                  ClockTime(l.arrive_s(), tz).c_str(), range.c_str(), l.live() ? " live" : "",
                  l.risky() ? " RISKY" : "", l.trip_id().c_str(), l.stops());
    }
  }
}

}  // namespace

int RunPlan(int argc, char** argv) {
  Args a;
  int code;
  if (!ParseClientArgs("plan", kPlanUsage, argc, argv, {"timetable"}, {"at", "by", "window"}, &a,
                       &code))
    return code;
  if (a.positional().size() != 2 || (a.Has("at") && a.Has("by")))
    return Usage("plan", kPlanUsage, "FROM and TO expected, and one of --at / --by");
  auto window = a.GetInt("window", 0);
  if (!window.ok() || *window < 0 || *window > 180)
    return Usage("plan", kPlanUsage, "--window takes minutes, 0..180");
  pb::PlanJourneyRequest req;
  ToPlace(a.positional()[0], req.mutable_from());
  ToPlace(a.positional()[1], req.mutable_to());
  if (a.Has("at")) SetTime(a.Get("at"), &req);
  if (a.Has("by")) {
    SetTime(a.Get("by"), &req);
    req.set_arrive_by(true);
  }
  req.set_window_s(static_cast<uint32_t>(*window * 60));
  req.set_timetable_only(a.Has("timetable"));
  pb::PlanJourneyResponse resp;
  const int done = Call("plan", a, &pb::PlannerService::Stub::PlanJourney, req, &resp);
  if (done >= 0) return done;
  PrintJourneys(resp);
  return 0;
}

}  // namespace smartbus::cli
