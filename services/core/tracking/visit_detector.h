#pragma once
// VisitDetector: stop visits from a vehicle's progress along its trip. Progress is kept
// monotone; arrival = when the bus reaches stop_dist - arrival_radius_m, departure = when it
// passes stop_dist + departure_radius_m, both interpolated linearly between fixes (stops
// skipped between sparse fixes get interpolated visits). Before the trip has started the
// progress is remembered (a ring of points); the start gate (tracker.h) decides when the trip
// starts, and the visits of the stops passed before are then derived from the ring.
//
// It reads the schedule (scheduled times of the visits, the start gate) but knows nothing of
// the matcher or of trip inference: Progress says when a trip starts, and whether the
// departure time should first re-decide the trip (the caller asks trip inference).

#include <cmath>
#include <cstdint>
#include <vector>

#include "services/core/network/network.h"
#include "services/core/tracking/track.h"
#include "services/core/tracking/trip_schedule.h"
#include "services/core/tracking/tracker_options.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct TrackerStats;

// What Progress found before the start.
struct StartGate {
  bool start = false;     // the trip starts now (call StartTrip)
  bool redecide = false;  // an inferred trip leaving its first stop: re-decide it first
  double t_dep = 0;       // ... by this departure time (epoch s)
  double t_ready = NAN;   // ... the bus having stood at the first stop since (NaN: not seen)
};

class VisitDetector {
 public:
  VisitDetector(const Network& net, const TrackerOptions& options, TrackerStats* stats)
      : net_(net), sched_(net), opt_(options.visits), end_(options.trip_end),
        inference_(options.inference),
        back_tolerance_m_(options.matching.back_tolerance_m), stats_(stats) {}

  // The vehicle is at distance d along its trip at time t (this fix placed it on the shape):
  // emits the visits this completes into *out, or (before the start) remembers the progress
  // and says whether the trip starts.
  StartGate Progress(Track& v, double t, double d, const Fix& fix, std::vector<StopVisit>* out);
  // Starts the trip: emits the visits of the stops passed since the ring's low point.
  void StartTrip(Track& v, const Fix& fix, std::vector<StopVisit>* out);
  // The passenger counts (and load) of an accepted fix were made at the stop just
  // served: the stop the bus is at now (they wait for its visit), else the last stop this fix
  // completed (out[first_new..] are this fix's visits), else the next visit. Never copied to
  // other visits.
  void AttributeRiders(Track& v, const Fix& fix, std::vector<StopVisit>* out, size_t first_new);

 private:
  // Progress from (t0, d0) to (t1, d1), d1 >= d0: emits the visits it completes.
  void Advance(Track& v, double t0, double d0, double t1, double d1,
               std::vector<StopVisit>* out);
  void EmitVisit(Track& v, uint32_t k, double arr, double dep, std::vector<StopVisit>* out);
  // Before the start: the ring of monotone progress, the parked rule and the start gate.
  StartGate BeforeStart(Track& v, double t, double d);

  const Network& net_;
  TripSchedule sched_;
  const VisitOptions& opt_;
  const TripEndOptions& end_;
  const InferenceOptions& inference_;  // depart_probe_m: the departure time it reports
  const double back_tolerance_m_;      // the ring restarts when the bus goes back farther
  TrackerStats* stats_;
  int32_t occupancy_ = -1;  // of the fix being processed (the visits it completes carry it)
};

}  // namespace smartbus
