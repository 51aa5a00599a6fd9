#include "services/core/tracking/visit_detector.h"

#include <algorithm>
#include <cmath>

#include "services/core/tracking/tracker.h"

namespace smartbus {

void VisitDetector::EmitVisit(Track& v, uint32_t k, double arr, double dep,
                              std::vector<StopVisit>* out) {
  StopVisit sv;
  sv.vehicle_id = v.vs.vehicle_id;
  sv.trip = v.run.trip;
  sv.route = net_.feed().trips[v.run.trip].route;
  sv.stop = sched_.Pat(v).stops[k];
  sv.stop_index = k;
  sv.stop_sequence = sched_.StopTime(v, k).stop_sequence;
  sv.service_date = v.run.service_date;
  sv.scheduled_arrival_s = static_cast<int64_t>(sched_.Arr(v, k));
  sv.scheduled_departure_s = static_cast<int64_t>(sched_.Dep(v, k));
  sv.arrival_s = arr;
  sv.departure_s = std::max(arr, dep);
  // Counts wait for the visit of the stop they were made at; a visit nobody was counted at
  // has 0 from a bus that counts (unknown, -1, from one that does not). The occupancy is the
  // bus's at the fix that completes the visit.
  RiderTally& r = v.riders;
  if (r.pending) {
    sv.boardings = r.boardings;
    sv.alightings = r.alightings;
    sv.load = r.load;
    r.boardings = r.alightings = r.load = -1;
    r.pending = false;
  }
  if (r.reports_counts) {
    sv.boardings = std::max(sv.boardings, 0);
    sv.alightings = std::max(sv.alightings, 0);
  }
  sv.occupancy = occupancy_;
  out->push_back(std::move(sv));
  ++stats_->stop_visits;
}



void VisitDetector::Advance(Track& v, double t0, double d0, double t1, double d1,
                            std::vector<StopVisit>* out) {
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  uint32_t n = static_cast<uint32_t>(sd.size());
  auto at = [&](double x) {
    if (x <= d0 || d1 <= d0) return t0;
    if (x >= d1) return t1;
    return t0 + (x - d0) / (d1 - d0) * (t1 - t0);
  };
  while (v.visit.next_stop < n) {
    uint32_t k = v.visit.next_stop;
    bool last = k + 1 == n;
    double x = sd[k];
    if (std::isnan(v.visit.pending_arrival)) {
      double xa = x - (last ? std::max(opt_.arrival_radius_m, end_.end_radius_m)
                            : opt_.arrival_radius_m);
      if (xa > d1) break;
      v.visit.pending_arrival = at(xa);
    }
    if (last) {
      EmitVisit(v, k, v.visit.pending_arrival, v.visit.pending_arrival, out);
      v.visit.pending_arrival = NAN;
      v.visit.next_stop = n;
      v.run.phase = TripPhase::kFinished;
      break;
    }
    double xd = x + opt_.departure_radius_m;
    if (xd > d1) break;
    EmitVisit(v, k, v.visit.pending_arrival, at(xd), out);
    v.visit.pending_arrival = NAN;
    ++v.visit.next_stop;
  }
  v.vs.next_stop_index = v.visit.next_stop;
}

StartGate VisitDetector::Progress(Track& v, double t, double d, const Fix& fix,
                                  std::vector<StopVisit>* out) {
  occupancy_ = fix.occupancy;
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  if (sd.empty()) return {};
  if (!v.run.started()) return BeforeStart(v, t, d);
  if (v.run.finished()) return {};
  if (d <= v.visit.mono_d + 1.0) {
    // No progress. Away from the next stop (a red light, traffic) the crossing times later are
    // interpolated from this latest fix; at the stop the bus has arrived already.
    if (v.visit.next_stop < sd.size() && std::isnan(v.visit.pending_arrival) &&
        sd[v.visit.next_stop] - v.visit.mono_d > opt_.stop_zone_m)
      v.visit.mono_t = t;
    return {};
  }
  Advance(v, v.visit.mono_t, v.visit.mono_d, t, d, out);
  v.visit.mono_d = d;
  v.visit.mono_t = t;
  v.visit.stalled_since = fix.timestamp_s;
  return {};
}

void VisitDetector::AttributeRiders(Track& v, const Fix& fix, std::vector<StopVisit>* out,
                                    size_t first_new) {
  const bool counts = fix.boardings >= 0 || fix.alightings >= 0;
  if (!counts && fix.load < 0) return;
  RiderTally& r = v.riders;
  if (counts) r.reports_counts = true;
  // At a stop: arrived at the next stop and not left it (its visit is still to come).
  const bool at_stop = v.run.trip != kNoIndex && v.run.started() && !v.run.finished() &&
                       !std::isnan(v.visit.pending_arrival);
  if (!at_stop && out->size() > first_new) {
    StopVisit& served = out->back();  // the last stop this fix completed
    if (fix.boardings >= 0) served.boardings = std::max(served.boardings, 0) + fix.boardings;
    if (fix.alightings >= 0) served.alightings = std::max(served.alightings, 0) + fix.alightings;
    if (fix.load >= 0) served.load = fix.load;
    return;
  }
  if (fix.boardings >= 0) r.boardings = std::max(r.boardings, 0) + fix.boardings;
  if (fix.alightings >= 0) r.alightings = std::max(r.alightings, 0) + fix.alightings;
  if (fix.load >= 0) r.load = fix.load;
  r.pending = true;
}

StartGate VisitDetector::BeforeStart(Track& v, double t, double d) {
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  // Not started: remember the monotone progress since the last time the bus went back.
  if (v.visit.ring.n == 0 || d < v.visit.ring.d[v.visit.ring.n - 1] - back_tolerance_m_) {
    v.visit.ring.n = 0;
    v.visit.ring.arrive_t = t;
  }
  if (v.visit.ring.n > 0 && d <= v.visit.ring.d[v.visit.ring.n - 1] + 1.0) {
    v.visit.ring.t[v.visit.ring.n - 1] = t;  // standing: the bus is still there now
  } else {
    if (v.visit.ring.n == kRingSize) {
      std::copy(v.visit.ring.t + 1, v.visit.ring.t + kRingSize, v.visit.ring.t);
      std::copy(v.visit.ring.d + 1, v.visit.ring.d + kRingSize, v.visit.ring.d);
      --v.visit.ring.n;
    }
    v.visit.ring.t[v.visit.ring.n] = t;
    v.visit.ring.d[v.visit.ring.n] = d;
    ++v.visit.ring.n;
  }
  // Parked away from the first stop for a while (a pre-trip layover spot): the stops behind
  // were passed before the trip, so the remembered progress restarts here.
  double back = v.visit.ring.d[v.visit.ring.n - 1];
  if (v.visit.ring.n == 1 || d > v.visit.progress_d + opt_.parked_progress_m) {
    v.visit.progress_d = d;
    v.visit.progress_t = t;
  }
  if (v.visit.ring.n > 1 && back > sd[0] + opt_.start_leave_m &&
      t - v.visit.progress_t > static_cast<double>(opt_.parked_s)) {
    v.visit.ring.t[0] = t;
    v.visit.ring.d[0] = back;
    v.visit.ring.n = 1;
  }
  bool moving = !std::isnan(v.visit.last_d) && d >= v.visit.last_d + opt_.moving_m;
  v.visit.last_d = d;
  double leave_m = std::min(opt_.start_leave_m, opt_.start_leave_fraction * (sd.back() - sd[0]));
  bool left_start = moving && back >= sd[0] + leave_m;
  bool time_ok = t >= sched_.Dep(v, 0) - static_cast<double>(opt_.early_start_s);
  bool far = back >= sd[0] + opt_.pretrip_zone_m;
  // Joined mid-route (first sight of the bus on this trip is well along it): started.
  bool joined = !v.visit.seen_on_trip && d >= sd[0] + opt_.pretrip_zone_m;
  v.visit.seen_on_trip = true;
  StartGate gate;
  if (!((left_start && (time_ok || far)) || joined)) return gate;
  gate.start = true;
  if (!v.run.given() && !joined) {
    // An inferred trip leaving its first stop: the departure time says which trip it is.
    double t_dep = v.visit.ring.t[0];
    for (int i = 1; i < v.visit.ring.n; ++i) {
      double x = sd[0] + inference_.depart_probe_m;
      if (v.visit.ring.d[i] >= x) {
        double d0 = v.visit.ring.d[i - 1], d1 = v.visit.ring.d[i];
        t_dep = d1 > d0 ? v.visit.ring.t[i - 1] + (std::max(x, d0) - d0) / (d1 - d0) *
                                               (v.visit.ring.t[i] - v.visit.ring.t[i - 1])
                        : v.visit.ring.t[i];
        break;
      }
    }
    gate.redecide = true;
    gate.t_dep = t_dep;
    // Its progress started at the first stop: it was ready there since it reached it.
    if (v.visit.ring.d[0] <= sd[0] + opt_.first_stop_zone_m) gate.t_ready = v.visit.ring.arrive_t;
  }
  return gate;
}

void VisitDetector::StartTrip(Track& v, const Fix& fix, std::vector<StopVisit>* out) {
  occupancy_ = fix.occupancy;
  const std::vector<double>& sd = sched_.Pat(v).stop_dist_m;
  const double front = v.visit.ring.d[0];
  v.run.phase = TripPhase::kRunning;
  ++stats_->trips_started;
  // Stops already behind the low point are not visited (the bus joined mid-route), except the
  // first stop when the bus waited at it.
  uint32_t n = static_cast<uint32_t>(sd.size());
  v.visit.next_stop = 0;
  if (front > sd[0] + std::max(opt_.arrival_radius_m, opt_.first_stop_zone_m)) {
    while (v.visit.next_stop < n && sd[v.visit.next_stop] - opt_.arrival_radius_m <= front) ++v.visit.next_stop;
  }
  v.visit.pending_arrival = NAN;
  v.visit.mono_t = v.visit.ring.t[0];
  v.visit.mono_d = front;
  v.visit.start_d = front;
  if (v.visit.next_stop == 0) v.visit.pending_arrival = v.visit.ring.arrive_t;
  for (int i = 1; i < v.visit.ring.n; ++i) {
    Advance(v, v.visit.ring.t[i - 1], v.visit.ring.d[i - 1], v.visit.ring.t[i], v.visit.ring.d[i],
            out);
    v.visit.mono_t = v.visit.ring.t[i];
    v.visit.mono_d = v.visit.ring.d[i];
  }
  v.visit.ring.n = 0;
  v.visit.stalled_since = fix.timestamp_s;
}

}  // namespace smartbus
