#include "services/cli/advice_print.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace smartbus::cli {
namespace {

namespace pb = ::smartbus::v1;

std::string F(bool has, double x) {
  if (!has || !std::isfinite(x)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", x);
  return buf;
}

std::string Figures(const pb::RunningTimeFigures& b) {
  return "n=" + std::to_string(b.samples()) + " P50/P85/P95 " + F(b.has_p50_s(), b.p50_s()) +
         "/" + F(b.has_p85_s(), b.p85_s()) + "/" + F(b.has_p95_s(), b.p95_s()) + " vs " +
         F(b.has_scheduled_s(), b.scheduled_s()) + " s -> " +
         F(b.has_recommended_s(), b.recommended_s()) + " s";
}

void PrintWorst(const pb::GetRouteAdviceResponse& a, size_t limit) {
  std::vector<std::tuple<double, const pb::RouteAdviceFigures*, const pb::SegmentRunningTimes*,
                         const pb::RunningTimeFigures*>> rows;
  for (const auto& r : a.routes())
    for (const auto& s : r.segments())
      for (const auto& b : s.bands())
        if (b.has_change_s()) rows.emplace_back(b.change_s(), &r, &s, &b);
  std::sort(rows.begin(), rows.end(),
            [](const auto& x, const auto& y) { return std::get<0>(x) > std::get<0>(y); });
  std::printf("segments whose recommended time most exceeds the schedule:\n");
  for (size_t i = 0; i < rows.size() && i < limit; ++i) {
    const auto& [change, r, s, b] = rows[i];
    std::printf("  route %s %s -> %s %-8s %s (%+.0f s)\n", r->route_id().c_str(),
                s->from_stop_id().c_str(), s->to_stop_id().c_str(), b->band().c_str(),
                Figures(*b).c_str(), change);
  }
}

void PrintRoute(const pb::RouteAdviceFigures& r, size_t limit) {
  std::printf("\n== route %s: %lld trips started, %d late > 2 min (%lld late pull-out, %lld "
              "previous trip late, %lld left late after an on-time arrival, %lld previous trip "
              "not observed)\n", r.route_id().c_str(), static_cast<long long>(r.trips_observed()),
              r.late_starts_size(), static_cast<long long>(r.late_pullouts()),
              static_cast<long long>(r.late_after_previous_trip()),
              static_cast<long long>(r.late_departures()),
              static_cast<long long>(r.late_previous_trip_unobserved()));
  std::printf("  whole trips (direction, band: observed vs scheduled -> recommended; recovery "
              "= P95 - P85):\n");
  for (const auto& t : r.trips())
    std::printf("    %d %-8s %s, recovery %s s\n", t.direction_id(), t.running().band().c_str(),
                Figures(t.running()).c_str(), F(t.has_recovery_s(), t.recovery_s()).c_str());
  std::printf("  timepoint pairs:\n");
  size_t shown = 0;
  for (const auto& s : r.timepoint_pairs())
    for (const auto& b : s.bands())
      if (shown++ < limit)
        std::printf("    %s -> %s %-8s %s\n", s.from_stop_id().c_str(), s.to_stop_id().c_str(),
                    b.band().c_str(), Figures(b).c_str());
  for (const auto& h : r.headways())
    std::printf("  headways dir %d: irregular (cv > 0.30) from stop %s, bunching from stop %s\n",
                h.direction_id(),
                h.first_irregular_stop_id().empty() ? "-" : h.first_irregular_stop_id().c_str(),
                h.bunching_starts_at_stop_id().empty() ? "-" : h.bunching_starts_at_stop_id().c_str());
  for (int i = 0; i < r.late_starts_size() && static_cast<size_t>(i) < limit; ++i) {
    const auto& l = r.late_starts(i);
    std::printf("  late start: trip %s (%s) %+.0f s, %s\n", l.trip_id().c_str(),
                l.vehicle_id().c_str(), l.start_delay_s(), l.cause().c_str());
  }
  for (const auto& s : r.stop_spacing())
    std::printf("  stop spacing dir %d: %d stops, mean %s m, median %s m, %d gaps < 200 m\n",
                s.direction_id(), s.stops(), F(s.has_mean_m(), s.mean_m()).c_str(),
                F(s.has_median_m(), s.median_m()).c_str(), s.gaps_below_200m());
  if (!r.passenger_data()) std::printf("  no passenger counts: no stop-use advice\n");
  for (const auto& u : r.consolidation_candidates())
    std::printf("  consolidation candidate: stop %s, %.1f ons+offs/day, %s m from stop %s\n",
                u.stop_id().c_str(), u.ons_offs_per_day(),
                F(u.has_neighbour_m(), u.neighbour_m()).c_str(), u.neighbour_stop_id().c_str());
}

}  // namespace

void PrintRouteAdvice(const v1::GetRouteAdviceResponse& a, size_t limit) {
  std::printf("advice from %lld visits over %d day(s); recommended running time = P%.0f of the "
              "band, recovery = P%.0f - P%.0f of whole trips\n",
              static_cast<long long>(a.visits()), a.days(), a.schedule_percentile(),
              a.cycle_percentile(), a.schedule_percentile());
  PrintWorst(a, limit);
  for (const auto& r : a.routes()) PrintRoute(r, limit);
}

}  // namespace smartbus::cli
