#include "services/server/arrivals.h"

#include <algorithm>
#include <cmath>

#include "absl/time/civil_time.h"

namespace smartbus::server {
namespace {

int32_t YyyyMmDd(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

// How far the vehicle is from the stop of `e`: metres along its route and stops still to serve
// before it (through the end of its trip when `e` is on the next trip of its block). Unknown
// (NaN, -1) without a position along the trip.
void DistanceAhead(const Network& net, const VehicleState& state, const StopEta& e,
                   double* distance_m, int32_t* stops_away) {
  *distance_m = NAN;
  *stops_away = -1;
  const double along = state.dist_along_m;
  if (state.trip == kNoIndex || e.trip == kNoIndex || !std::isfinite(along)) return;
  const Pattern& cur = net.pattern(net.trip_pattern(state.trip));
  const int next = static_cast<int>(state.next_stop_index);
  if (e.trip == state.trip) {
    if (e.stop_index < cur.stop_dist_m.size())
      *distance_m = std::max(0.0, cur.stop_dist_m[e.stop_index] - along);
    *stops_away = std::max(0, static_cast<int>(e.stop_index) - next);
  } else {
    const Pattern& nxt = net.pattern(net.trip_pattern(e.trip));
    const double rest =
        cur.stop_dist_m.empty() ? 0 : std::max(0.0, cur.stop_dist_m.back() - along);
    if (e.stop_index < nxt.stop_dist_m.size()) *distance_m = rest + nxt.stop_dist_m[e.stop_index];
    *stops_away = std::max(0, static_cast<int>(cur.stops.size()) - next) +
                  static_cast<int>(e.stop_index);
  }
}

}  // namespace

int32_t FrequencyHeadwayS(const Network& net, uint32_t trip, int64_t run_start_s) {
  if (!net.FrequencyShifts(trip)) return 0;
  for (const GtfsFrequency& fq : net.feed().frequencies)
    if (fq.trip == trip && !fq.exact_times && fq.headway_s > 0 && run_start_s >= fq.start_s &&
        run_start_s < fq.end_s)
      return fq.headway_s;
  return 0;
}

std::vector<ArrivalRow> ComputeArrivals(const LiveView& view, const ArrivalsQuery& q,
                                        int64_t now_s) {
  std::vector<ArrivalRow> rows;
  const Network& net = *view.network;
  const GtfsFeed& feed = net.feed();
  if (q.stop >= view.stops.size()) return rows;
  const int64_t from_s = now_s - q.grace_s;
  const int64_t to_s = now_s + q.horizon_s;

  const std::shared_ptr<const ServiceChangeSet> changes = view.changes();
  const std::string& stop_id = feed.stops[q.stop].id;
  auto status_of = [&](uint32_t trip, int32_t date, uint32_t stop_sequence) {
    if (changes->trips().empty()) return StopStatus::kScheduled;
    return changes->TripStatus(feed.trips[trip].id, date, stop_id, stop_sequence);
  };

  // Live: vehicles registered at the stop.
  std::vector<std::pair<uint32_t, int32_t>> covered;  // (trip, service_date) with a vehicle
  auto slots = view.stops[q.stop].vehicles.load(std::memory_order_acquire);
  for (const VehicleSlot* slot : *slots) {
    auto snap = slot->snapshot.load(std::memory_order_acquire);
    if (!snap || snap->network != view.network) continue;
    const VehicleState& st = snap->state;
    if (now_s - st.timestamp_s > q.live_max_age_s) continue;
    for (const StopEta& e : snap->etas) {  // a loop route may reach the stop twice
      if (e.stop != q.stop) continue;
      if (e.trip >= feed.trips.size()) continue;
      if (q.route != kNoIndex && feed.trips[e.trip].route != q.route) continue;
      const GtfsTrip& trip = feed.trips[e.trip];
      if (e.stop_index >= trip.num_stop_times) continue;
      const GtfsStopTime& stt = feed.stop_times[trip.first_stop_time + e.stop_index];
      const StopStatus status = status_of(e.trip, st.service_date, stt.stop_sequence);
      if (status == StopStatus::kCancelled) continue;  // the timetable row says so below
      covered.emplace_back(e.trip, st.service_date);
      if (status == StopStatus::kSkipped && q.live_only) continue;
      if (e.predicted_arrival_s < from_s || e.predicted_arrival_s > to_s) continue;
      ArrivalRow r;
      r.trip = e.trip;
      r.service_date = st.service_date;
      r.stop_index = e.stop_index;
      r.stop_sequence = stt.stop_sequence;
      r.predicted_arrival_s = e.predicted_arrival_s;
      const int64_t p10 = e.p10_s(), p90 = e.p90_s(), dep = e.predicted_departure_s();
      r.p10_s = p10 == kNoTime ? e.predicted_arrival_s : p10;
      r.p90_s = p90 == kNoTime ? e.predicted_arrival_s : p90;
      r.predicted_departure_s = dep == kNoTime ? 0 : dep;
      r.scheduled_arrival_s = st.day_start_s + stt.arrival_s;
      r.scheduled_departure_s = st.day_start_s + stt.departure_s;
      r.live = true;
      r.source = e.prediction_source();
      r.vehicle_id = st.vehicle_id;
      DistanceAhead(net, st, e, &r.distance_m, &r.stops_away);
      r.occupancy = st.occupancy;
      r.vehicle_last_seen_s = st.timestamp_s;
      r.vehicle_pos = st.pos;
      r.vehicle_on_previous_trip = e.trip != st.trip;
      r.vehicle_at_layover = st.state == MatchState::kLayover;
      r.pickup_type = stt.pickup_type;
      r.drop_off_type = stt.drop_off_type;
      r.status = status;
      rows.push_back(std::move(r));
    }
  }

  // Timetable: trips serving the stop in the window with no tracked vehicle.
  if (!q.live_only) {
    const absl::CivilDay today =
        absl::ToCivilDay(absl::FromUnixSeconds(now_s), net.time_zone());
    int32_t dates[3] = {YyyyMmDd(today - 1), YyyyMmDd(today), YyyyMmDd(today + 1)};
    int64_t day_starts[3];
    for (int d = 0; d < 3; ++d) day_starts[d] = absl::ToUnixSeconds(net.ServiceDayStart(dates[d]));
    for (const auto& [pat, pos] : net.stop_patterns(q.stop)) {
      const Pattern& p = net.pattern(pat);
      if (q.route != kNoIndex && p.route != q.route) continue;
      for (uint32_t t : p.trips) {
        const GtfsTrip& trip = feed.trips[t];
        if (pos >= trip.num_stop_times) continue;
        const GtfsStopTime& stt = feed.stop_times[trip.first_stop_time + pos];
        for (int d = 0; d < 3; ++d) {
          const int64_t sched = day_starts[d] + stt.arrival_s;
          if (sched < from_s || sched > to_s) continue;
          if (!feed.ServiceRunsOn(trip.service, dates[d])) continue;
          if (std::find(covered.begin(), covered.end(), std::make_pair(t, dates[d])) !=
              covered.end())
            continue;
          const StopStatus status = status_of(t, dates[d], stt.stop_sequence);
          ArrivalRow r;
          r.trip = t;
          r.service_date = dates[d];
          r.stop_index = pos;
          r.stop_sequence = stt.stop_sequence;
          r.predicted_arrival_s = sched;
          r.p10_s = sched;
          r.p90_s = sched;
          r.scheduled_arrival_s = sched;
          r.scheduled_departure_s = day_starts[d] + stt.departure_s;
          r.live = false;
          r.source = PredictionSource::kSchedule;
          r.pickup_type = stt.pickup_type;
          r.drop_off_type = stt.drop_off_type;
          r.status = status;
          rows.push_back(std::move(r));
        }
      }
    }
  }

  std::sort(rows.begin(), rows.end(), [](const ArrivalRow& a, const ArrivalRow& b) {
    if (a.predicted_arrival_s != b.predicted_arrival_s)
      return a.predicted_arrival_s < b.predicted_arrival_s;
    return a.trip < b.trip;
  });
  if (rows.size() > q.limit) rows.resize(q.limit);
  return rows;
}

}  // namespace smartbus::server
