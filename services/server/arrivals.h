#pragma once
// The arrivals board of a stop, computed from the published snapshots (live_view.h) and the
// timetable. Pure function of immutable data: any thread, no locks taken.

#include <cstdint>
#include <string>
#include <vector>

#include "services/server/live_view.h"

namespace smartbus::server {

struct ArrivalsQuery {
  uint32_t stop = kNoIndex;  // the stop asked for (a station: its stops are in `stops`)
  // The stops whose arrivals are listed, merged: empty = {stop}; for a station, its stops
  // (StationStops).
  std::vector<uint32_t> stops;
  uint32_t route = kNoIndex;  // kNoIndex: every route
  size_t limit = 10;
  int64_t horizon_s = 3600;
  bool live_only = false;
  // A vehicle whose newest fix is older than this does not count as live (its trips fall back
  // to the timetable). Seconds.
  int64_t live_max_age_s = 600;
  // Arrivals up to this long before now are still shown (the bus is at the stop). Seconds.
  int64_t grace_s = 60;
};

struct ArrivalRow {
  TripIdx trip = kNoIndex;
  uint32_t stop = kNoIndex;  // the stop of the row (one of the query's stops)
  int32_t service_date = 0;
  uint32_t stop_index = 0;
  uint32_t stop_sequence = 0;
  int64_t predicted_arrival_s = 0;
  int64_t p10_s = 0;
  int64_t p90_s = 0;
  int64_t predicted_departure_s = 0;  // 0 when none
  int64_t scheduled_arrival_s = 0;
  int64_t scheduled_departure_s = 0;
  bool live = false;
  PredictionSource source = PredictionSource::kSchedule;
  std::string vehicle_id;
  double distance_m = NAN;
  int32_t stops_away = -1;
  int32_t occupancy = -1;  // GTFS-RT number, -1 unknown
  int64_t vehicle_last_seen_s = 0;
  LatLon vehicle_pos{NAN, NAN};        // live only
  bool vehicle_on_previous_trip = false;  // the vehicle's current trip is the one before
  bool vehicle_at_layover = false;
  uint8_t pickup_type = 0;             // GTFS, at this stop of the trip
  uint8_t drop_off_type = 0;
  // Service changes (view.service_changes): a cancelled trip is never live (its row, if shown,
  // is the timetable's); a skipped stop keeps its prediction.
  StopStatus status = StopStatus::kScheduled;
  // A frequency-based run (frequencies.txt, exact_times=0): its headway (s); its timetable
  // time is nominal (one run of many). 0 for every other trip.
  int32_t headway_s = 0;
};

// The headway (s) of a frequency-based run of `trip` (frequencies.txt with exact_times=0) that
// starts `run_start_s` after its service day's start: the headway of the frequencies.txt row
// whose [start_time, end_time) holds the run's start. 0 for a trip with fixed times or a
// headway-defined schedule (exact_times=1), whose runs keep their times.
int32_t FrequencyHeadwayS(const Network& net, TripIdx trip, int64_t run_start_s);

// The stops of a station: the stops (location_type 0) naming `stop` as their parent_station,
// in feed order, when
// `stop` is a station (location_type 1); else (or when none names it) just `stop`.
std::vector<uint32_t> StationStops(const Network& net, uint32_t stop);
// The stops a query lists: q.stops, or {q.stop} when empty.
std::vector<uint32_t> ServedStops(const ArrivalsQuery& q);
// The version of a query's live predictions: the newest of its stops' LiveView::StopVersion.
uint64_t QueryVersion(const LiveView& view, const ArrivalsQuery& q);

// Soonest first, at most q.limit rows, merged over the query's stops (every run of a
// frequencies.txt trip is a row of its own). `view.network` is the network the indices refer to.
// Service changes in view.service_changes apply: a cancelled trip gets no live row (a bus
// reporting it is ignored here); with q.live_only the rows of cancelled trips and skipped stops
// are left out, otherwise they are listed with their status (cancelled ones at the scheduled
// time).
std::vector<ArrivalRow> ComputeArrivals(const LiveView& view, const ArrivalsQuery& q,
                                        int64_t now_s);

}  // namespace smartbus::server
