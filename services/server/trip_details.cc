#include "services/server/trip_details.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/server/convert.h"

namespace smartbus::server {
namespace {

// The vehicle serving (or about to serve) the trip instance: the one whose current trip it is,
// else one with it as the next trip of its block. Fresh vehicles only.
const VehicleSnapshot* FindRunner(const std::vector<std::shared_ptr<const VehicleSnapshot>>& all,
                                  const LiveView& view, TripIdx trip, int32_t date,
                                  int64_t now_s, int64_t live_max_age_s) {
  const VehicleSnapshot* next_of_block = nullptr;
  for (const auto& v : all) {
    if (!v || v->network != view.network || now_s - v->state.timestamp_s > live_max_age_s)
      continue;
    if (date != 0 && v->state.service_date != date) continue;
    if (v->state.trip == trip) return v.get();
    if (!next_of_block)
      for (const StopEta& e : v->etas)
        if (e.trip == trip) {
          next_of_block = v.get();
          break;
        }
  }
  return next_of_block;
}

}  // namespace

absl::Status BuildTripDetails(const LiveView& view,
                              const std::vector<std::shared_ptr<const VehicleSnapshot>>& vehicles,
                              const pb::GetTripDetailsRequest& req, int64_t now_s,
                              int64_t live_max_age_s, int64_t stale_after_s,
                              pb::TripDetails* out) {
  const Network& net = *view.network;
  const GtfsFeed& feed = net.feed();
  if (req.trip_id().empty()) return absl::InvalidArgumentError("trip_id: required");
  const int32_t d = req.service_date();
  if (d != 0 && (d < 19000101 || d > 29991231 || d % 100 < 1 || d % 100 > 31 ||
                 d / 100 % 100 < 1 || d / 100 % 100 > 12))
    return absl::InvalidArgumentError(
        absl::StrCat("service_date=", d, ": must be YYYYMMDD (or 0 for the running instance)"));
  auto trip = net.FindTrip(req.trip_id());
  if (!trip)
    return absl::NotFoundError(
        absl::StrCat("trip_id \"", req.trip_id(), "\": no such trip in the loaded feeds"));
  const GtfsTrip& t = feed.trips[*trip];
  const VehicleSnapshot* v = FindRunner(vehicles, view, *trip, d, now_s, live_max_age_s);
  int32_t date = d;
  int64_t day_start = 0;
  if (v) {
    date = v->state.service_date;
    day_start = v->state.trip == *trip
                    ? v->state.day_start_s
                    : absl::ToUnixSeconds(net.ServiceDayStart(date));
  } else {
    if (date == 0) {
      const absl::CivilDay today = absl::ToCivilDay(absl::FromUnixSeconds(now_s), net.time_zone());
      date = static_cast<int32_t>(today.year() * 10000 + today.month() * 100 + today.day());
    }
    day_start = absl::ToUnixSeconds(net.ServiceDayStart(date));
  }
  TripIdsToProto(feed, t, out);
  out->set_direction_id(t.direction_id);
  out->set_service_date(date);
  out->set_block_id(t.block_id);
  out->set_now(now_s);
  out->set_time_zone(net.time_zone().name());
  if (v) {
    VehicleToProto(*v, now_s, stale_after_s, out->mutable_vehicle());
    out->set_vehicle_on_previous_trip(v->state.trip != *trip);
  }
  const bool on_it = v && v->state.trip == *trip;
  for (uint32_t k = 0; k < t.num_stop_times; ++k) {
    const GtfsStopTime& stt = feed.stop_times[t.first_stop_time + k];
    pb::TripStop* s = out->add_stops();
    s->set_stop_id(feed.stops[stt.stop].id);
    s->set_stop_name(feed.stops[stt.stop].name);
    s->set_stop_sequence(stt.stop_sequence);
    s->set_scheduled_arrival(day_start + stt.arrival_s);
    s->set_scheduled_departure(day_start + stt.departure_s);
    s->set_pickup_type(stt.pickup_type);
    s->set_drop_off_type(stt.drop_off_type);
    s->mutable_position()->set_lat(feed.stops[stt.stop].pos.lat);
    s->mutable_position()->set_lon(feed.stops[stt.stop].pos.lon);
    s->set_passed(on_it && k < v->state.next_stop_index);
    if (!v) continue;
    for (const StopEta& e : v->etas) {
      if (e.trip != *trip || e.stop_index != k) continue;
      s->set_predicted_arrival(e.predicted_arrival_s);
      const int64_t p10 = e.p10_s(), p90 = e.p90_s();
      s->set_predicted_arrival_p10(p10 == kNoTime ? e.predicted_arrival_s : p10);
      s->set_predicted_arrival_p90(p90 == kNoTime ? e.predicted_arrival_s : p90);
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace smartbus::server
