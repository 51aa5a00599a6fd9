#include "services/server/arrivals.h"

#include <algorithm>
#include <cmath>
#include <utility>

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

int32_t FrequencyHeadwayS(const Network& net, TripIdx trip, int64_t run_start_s) {
  if (!net.FrequencyShifts(trip)) return 0;
  for (const GtfsFrequency& fq : net.feed().frequencies)
    if (fq.trip == trip && !fq.exact_times && fq.headway_s > 0 && run_start_s >= fq.start_s &&
        run_start_s < fq.end_s)
      return fq.headway_s;
  return 0;
}

std::vector<uint32_t> StationStops(const Network& net, uint32_t stop) {
  const GtfsFeed& feed = net.feed();
  std::vector<uint32_t> out;
  if (stop < feed.stops.size() && feed.stops[stop].location_type == 1)
    for (uint32_t s = 0; s < feed.stops.size(); ++s)
      if (feed.stops[s].parent_station == stop && feed.stops[s].location_type == 0)
        out.push_back(s);
  if (out.empty()) out.push_back(stop);
  return out;
}

std::vector<uint32_t> ServedStops(const ArrivalsQuery& q) {
  return q.stops.empty() ? std::vector<uint32_t>{q.stop} : q.stops;
}

uint64_t QueryVersion(const LiveView& view, const ArrivalsQuery& q) {
  uint64_t v = 0;
  for (uint32_t s : ServedStops(q))
    if (s < view.stops.size()) v = std::max(v, view.StopVersion(s));
  return v;
}

namespace {

// A run of a trip: (trip, instant its stop_times count from). Several runs of a frequencies.txt
// trip share trip and service date; their day starts differ.
using Run = std::pair<TripIdx, int64_t>;

// What a row needs of the service changes at one stop.
struct StopContext {
  const Network& net;
  const ArrivalsQuery& q;
  uint32_t stop;
  int64_t from_s, to_s;
  const ServiceChangeSet& changes;
  StopStatus StatusOf(TripIdx trip, int32_t date, uint32_t stop_sequence) const {
    if (changes.trips().empty()) return StopStatus::kScheduled;
    return changes.TripStatus(net.feed().trips[trip].id, date, net.feed().stops[stop].id,
                              stop_sequence);
  }
  // The headway of a frequency-based run of `trip` counting from `run_day_start_s` on `date`.
  int32_t Headway(TripIdx trip, int32_t date, int64_t run_day_start_s) const {
    if (!net.FrequencyShifts(trip)) return 0;
    const GtfsTrip& t = net.feed().trips[trip];
    if (t.num_stop_times == 0) return 0;
    const int64_t shift = run_day_start_s - absl::ToUnixSeconds(net.ServiceDayStart(date));
    return FrequencyHeadwayS(net, trip, net.feed().stop_times[t.first_stop_time].departure_s + shift);
  }
};

// Live rows: the vehicles registered at the stop. Adds the runs they cover to *covered.
void AddLiveRows(const LiveView& view, const StopContext& c, int64_t now_s,
                 std::vector<ArrivalRow>* rows, std::vector<Run>* covered) {
  const Network& net = *view.network;
  const GtfsFeed& feed = net.feed();
  auto slots = view.stops[c.stop].vehicles.load(std::memory_order_acquire);
  for (const VehicleSlot* slot : *slots) {
    auto snap = slot->snapshot.load(std::memory_order_acquire);
    if (!snap || snap->network != view.network) continue;
    const VehicleState& st = snap->state;
    if (now_s - st.timestamp_s > c.q.live_max_age_s) continue;
    for (const StopEta& e : snap->etas) {  // a loop route may reach the stop twice
      if (e.stop != c.stop) continue;
      if (e.trip >= feed.trips.size()) continue;
      if (c.q.route != kNoIndex && feed.trips[e.trip].route != c.q.route) continue;
      const GtfsTrip& trip = feed.trips[e.trip];
      if (e.stop_index >= trip.num_stop_times) continue;
      const GtfsStopTime& stt = feed.stop_times[trip.first_stop_time + e.stop_index];
      const StopStatus status = c.StatusOf(e.trip, st.service_date, stt.stop_sequence);
      if (status == StopStatus::kCancelled) continue;  // the timetable row says so below
      // The run: the vehicle's own (frequency runs shift its day start), or the next trip of
      // its block, which counts from the service day's start.
      const int64_t run_day_start =
          e.trip == st.trip ? st.day_start_s
                            : absl::ToUnixSeconds(net.ServiceDayStart(st.service_date));
      covered->emplace_back(e.trip, run_day_start);
      if (status == StopStatus::kSkipped && c.q.live_only) continue;
      if (e.predicted_arrival_s < c.from_s || e.predicted_arrival_s > c.to_s) continue;
      ArrivalRow r;
      r.trip = e.trip;
      r.stop = c.stop;
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
      r.headway_s = c.Headway(e.trip, st.service_date, run_day_start);
      rows->push_back(std::move(r));
    }
  }
}

// Timetable rows: every run (each run of a frequencies.txt trip) serving the stop in the window
// with no tracked vehicle.
void AddTimetableRows(const StopContext& c, int64_t now_s, const std::vector<Run>& covered,
                      std::vector<ArrivalRow>* rows) {
  const Network& net = c.net;
  const GtfsFeed& feed = net.feed();
  const absl::CivilDay today = absl::ToCivilDay(absl::FromUnixSeconds(now_s), net.time_zone());
  int32_t dates[3] = {YyyyMmDd(today - 1), YyyyMmDd(today), YyyyMmDd(today + 1)};
  int64_t day_starts[3];
  for (int d = 0; d < 3; ++d) day_starts[d] = absl::ToUnixSeconds(net.ServiceDayStart(dates[d]));
  static const std::vector<int32_t> kOneRun = {0};
  for (const auto& [pat, pos] : net.stop_patterns(c.stop)) {
    const Pattern& p = net.pattern(pat);
    if (c.q.route != kNoIndex && p.route != c.q.route) continue;
    for (TripIdx t : p.trips) {
      const GtfsTrip& trip = feed.trips[t];
      if (pos >= trip.num_stop_times) continue;
      const GtfsStopTime& stt = feed.stop_times[trip.first_stop_time + pos];
      const std::vector<int32_t>* shifts = net.FrequencyShifts(t);
      for (int d = 0; d < 3; ++d) {
        for (int32_t shift : shifts ? *shifts : kOneRun) {
          const int64_t run_day_start = day_starts[d] + shift;
          const int64_t sched = run_day_start + stt.arrival_s;
          if (sched < c.from_s || sched > c.to_s) continue;
          if (!feed.ServiceRunsOn(trip.service, dates[d])) continue;
          if (std::find(covered.begin(), covered.end(), Run(t, run_day_start)) != covered.end())
            continue;
          ArrivalRow r;
          r.trip = t;
          r.stop = c.stop;
          r.service_date = dates[d];
          r.stop_index = pos;
          r.stop_sequence = stt.stop_sequence;
          r.predicted_arrival_s = sched;
          r.p10_s = sched;
          r.p90_s = sched;
          r.scheduled_arrival_s = sched;
          r.scheduled_departure_s = run_day_start + stt.departure_s;
          r.live = false;
          r.source = PredictionSource::kSchedule;
          r.pickup_type = stt.pickup_type;
          r.drop_off_type = stt.drop_off_type;
          r.status = c.StatusOf(t, dates[d], stt.stop_sequence);
          if (shifts)
            r.headway_s = FrequencyHeadwayS(
                net, t, feed.stop_times[trip.first_stop_time].departure_s + shift);
          rows->push_back(std::move(r));
        }
      }
    }
  }
}

}  // namespace

std::vector<ArrivalRow> ComputeArrivals(const LiveView& view, const ArrivalsQuery& q,
                                        int64_t now_s) {
  std::vector<ArrivalRow> rows;
  const std::shared_ptr<const ServiceChangeSet> changes = view.changes();
  for (uint32_t stop : ServedStops(q)) {
    if (stop >= view.stops.size()) continue;
    const StopContext c{*view.network, q, stop, now_s - q.grace_s, now_s + q.horizon_s, *changes};
    std::vector<Run> covered;  // runs with a vehicle
    AddLiveRows(view, c, now_s, &rows, &covered);
    if (!q.live_only) AddTimetableRows(c, now_s, covered, &rows);
  }
  std::sort(rows.begin(), rows.end(), [](const ArrivalRow& a, const ArrivalRow& b) {
    if (a.predicted_arrival_s != b.predicted_arrival_s)
      return a.predicted_arrival_s < b.predicted_arrival_s;
    if (a.trip != b.trip) return a.trip < b.trip;
    return a.stop < b.stop;
  });
  if (rows.size() > q.limit) rows.resize(q.limit);
  return rows;
}

}  // namespace smartbus::server
