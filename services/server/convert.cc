#include "services/server/convert.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/server/service_changes_convert.h"

namespace smartbus::server {
namespace {

std::string Num(double v) { return absl::StrFormat("%g", v); }

}  // namespace

// Fix.device (DeviceStatus) into out->device; 0 or REJECT_REASON_INVALID_FIELD with *detail.
static int DeviceFromProto(const pb::Fix& in, Fix* out, std::string* detail) {
  out->device = DeviceReport{};
  if (!in.has_device()) return 0;
  const pb::DeviceStatus& d = in.device();
  if (d.has_odometer_m() && !(std::isfinite(d.odometer_m()) && d.odometer_m() >= 0)) {
    *detail = absl::StrCat("device.odometer_m=", Num(d.odometer_m()), ": must be >= 0");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  if (d.has_fuel_l() && !(std::isfinite(d.fuel_l()) && d.fuel_l() >= 0)) {
    *detail = absl::StrCat("device.fuel_l=", Num(d.fuel_l()), ": must be >= 0");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  for (auto [name, has, v] : {std::tuple{"signal_strength", d.has_signal_strength(),
                                         d.signal_strength()},
                              std::tuple{"satellites", d.has_satellites(), d.satellites()}}) {
    if (has && (v < 0 || v > 255)) {
      *detail = absl::StrCat("device.", name, "=", v, ": must be 0..255");
      return pb::REJECT_REASON_INVALID_FIELD;
    }
  }
  DeviceReport& r = out->device;
  r.present = true;
  r.alarm_flags = d.alarm_flags();
  r.status_flags = d.status_flags();
  r.odometer_m = d.has_odometer_m() ? d.odometer_m() : NAN;
  r.fuel_l = d.has_fuel_l() ? d.fuel_l() : NAN;
  r.signal_strength = static_cast<int16_t>(d.has_signal_strength() ? d.signal_strength() : -1);
  r.satellites = static_cast<int16_t>(d.has_satellites() ? d.satellites() : -1);
  return 0;
}

int FixFromProto(const pb::Fix& in, Fix* out, std::string* detail) {
  if (in.vehicle_id().empty()) {
    *detail = "vehicle_id: empty (every fix must name its vehicle)";
    return pb::REJECT_REASON_INVALID_VEHICLE_ID;
  }
  if (in.vehicle_id().size() > kMaxVehicleIdBytes) {
    *detail = absl::StrCat("vehicle_id: ", in.vehicle_id().size(), " bytes, at most ",
                           kMaxVehicleIdBytes);
    return pb::REJECT_REASON_INVALID_VEHICLE_ID;
  }
  if (in.timestamp() < kMinPlausibleFixTime || in.timestamp() >= kMaxPlausibleFixTime) {
    *detail = absl::StrCat("timestamp=", in.timestamp(),
                           ": must be epoch seconds UTC between 2000-01-01 and 2100-01-01");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  if (!IsValidLatLon(in.lat(), in.lon())) {
    *detail = absl::StrCat("lat=", Num(in.lat()), " lon=", Num(in.lon()),
                           ": must be finite, lat -90..90, lon -180..180, not (0,0)");
    return pb::REJECT_REASON_INVALID_COORDINATES;
  }
  if (in.has_bearing_deg() && std::isfinite(in.bearing_deg()) &&
      (in.bearing_deg() < 0 || in.bearing_deg() > 360)) {
    *detail = absl::StrCat("bearing_deg=", Num(in.bearing_deg()), ": must be 0..360");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  if (in.has_speed_mps() && (std::isinf(in.speed_mps()) ||
                             (std::isfinite(in.speed_mps()) &&
                              (in.speed_mps() < 0 || in.speed_mps() > 100)))) {
    *detail = absl::StrCat("speed_mps=", Num(in.speed_mps()), ": must be 0..100");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  if (in.occupancy() < 0 || in.occupancy() > pb::OCCUPANCY_NOT_BOARDABLE) {
    *detail = absl::StrCat("occupancy=", in.occupancy(), ": must be 0..9 (enum Occupancy)");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  struct Count {
    const char* name;
    bool has;
    int32_t v;
  } counts[] = {{"boardings", in.has_boardings(), in.boardings()},
                {"alightings", in.has_alightings(), in.alightings()},
                {"load", in.has_load(), in.load()}};
  for (const Count& c : counts) {
    if (c.has && (c.v < 0 || c.v > 10000)) {
      *detail = absl::StrCat(c.name, "=", c.v, ": must be 0..10000");
      return pb::REJECT_REASON_INVALID_FIELD;
    }
  }
  if (in.has_accuracy_m() && std::isfinite(in.accuracy_m()) &&
      (in.accuracy_m() < 0 || in.accuracy_m() > 10000)) {
    *detail = absl::StrCat("accuracy_m=", Num(in.accuracy_m()), ": must be 0..10000");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  if (in.trip_id().size() > 256 || in.route_id().size() > 256) {
    *detail = absl::StrCat(in.trip_id().size() > 256 ? "trip_id" : "route_id",
                           ": longer than 256 bytes");
    return pb::REJECT_REASON_INVALID_FIELD;
  }
  out->vehicle_id = in.vehicle_id();
  out->timestamp_s = in.timestamp();
  out->lat = in.lat();
  out->lon = in.lon();
  out->bearing_deg = in.has_bearing_deg() ? in.bearing_deg() : NAN;
  out->speed_mps = in.has_speed_mps() ? in.speed_mps() : NAN;
  out->trip_id = in.trip_id();
  out->route_id = in.route_id();
  out->occupancy = in.occupancy() == pb::OCCUPANCY_UNKNOWN ? -1 : in.occupancy() - 1;
  out->boardings = in.has_boardings() ? in.boardings() : -1;
  out->alightings = in.has_alightings() ? in.alightings() : -1;
  out->load = in.has_load() ? in.load() : -1;
  out->accuracy_m = in.has_accuracy_m() ? in.accuracy_m() : NAN;
  return DeviceFromProto(in, out, detail);
}

std::string RejectDetail(int reason, const Fix& fix, int64_t now_s) {
  switch (reason) {
    case pb::REJECT_REASON_DUPLICATE:
      return absl::StrCat("duplicate: vehicle ", fix.vehicle_id, " already sent a fix at ",
                          fix.timestamp_s);
    case pb::REJECT_REASON_OUT_OF_ORDER:
      return absl::StrCat("out_of_order: timestamp ", fix.timestamp_s,
                          " is older than this vehicle's newest fix");
    case pb::REJECT_REASON_INVALID_COORDINATES:
      return "invalid_coordinates";
    case pb::REJECT_REASON_FUTURE_TIMESTAMP:
      return absl::StrCat("future_timestamp: ", fix.timestamp_s, " is ", fix.timestamp_s - now_s,
                          " s ahead of the server clock ", now_s, " (check the unit's clock)");
    case pb::REJECT_REASON_IMPLAUSIBLE_JUMP:
      return "implausible_jump: too far from the previous fix for the time elapsed";
    case pb::REJECT_REASON_INVALID_VEHICLE_ID:
      return "invalid_vehicle_id";
    default:
      return absl::StrCat("rejected (reason ", reason, ")");
  }
}

pb::VehicleStatus StatusToProto(MatchState s) {
  switch (s) {
    case MatchState::kInService: return pb::VEHICLE_STATUS_IN_SERVICE;
    case MatchState::kLayover: return pb::VEHICLE_STATUS_LAYOVER;
    case MatchState::kOffRoute: return pb::VEHICLE_STATUS_OFF_ROUTE;
    case MatchState::kUnassigned: return pb::VEHICLE_STATUS_UNASSIGNED;
    default: return pb::VEHICLE_STATUS_UNSPECIFIED;
  }
}

pb::PredictionSource SourceToProto(PredictionSource s) {
  switch (s) {
    case PredictionSource::kSchedule: return pb::PREDICTION_SOURCE_SCHEDULE;
    case PredictionSource::kHistory: return pb::PREDICTION_SOURCE_HISTORY;
    case PredictionSource::kLive: return pb::PREDICTION_SOURCE_LIVE;
    default: return pb::PREDICTION_SOURCE_UNSPECIFIED;
  }
}

void ConditionToProto(const BusCondition& c, pb::BusCondition* out) {
  out->set_updated(c.updated_s);
  for (std::string& a : ActiveAlarmNames(c.active)) out->add_active_alarms(std::move(a));
  out->set_acc_on(c.acc_on);
  out->set_doors_open(c.doors_open);
  if (std::isfinite(c.odometer_m)) out->set_odometer_m(c.odometer_m);
  if (std::isfinite(c.fuel_l)) out->set_fuel_l(c.fuel_l);
  if (c.signal_strength >= 0) out->set_signal_strength(c.signal_strength);
  if (c.satellites >= 0) out->set_satellites(c.satellites);
  out->set_driving_today_s(c.driving_day_s);
}

void VehicleToProto(const VehicleSnapshot& snap, int64_t now_s, int64_t stale_after_s,
                    pb::Vehicle* out) {
  const VehicleState& st = snap.state;
  const Network& net = *snap.network;
  const GtfsFeed& feed = net.feed();
  out->set_vehicle_id(st.vehicle_id);
  out->set_last_seen(st.timestamp_s);
  if (snap.has_condition) ConditionToProto(snap.condition, out->mutable_condition());
  const int64_t age = std::max<int64_t>(0, now_s - st.timestamp_s);
  out->set_age_s(age);
  out->mutable_position()->set_lat(st.pos.lat);
  out->mutable_position()->set_lon(st.pos.lon);
  if (std::isfinite(st.bearing_deg)) out->set_bearing_deg(st.bearing_deg);
  if (std::isfinite(st.speed_mps)) out->set_speed_mps(st.speed_mps);
  out->set_status(StatusToProto(st.state));
  uint32_t route = st.route;
  out->set_direction_id(-1);
  out->set_dist_along_m(st.dist_along_m);
  out->set_offset_m(st.offset_m);
  out->set_next_stop_distance_m(NAN);
  if (st.trip != kNoIndex && st.trip < feed.trips.size()) {
    const GtfsTrip& trip = feed.trips[st.trip];
    out->set_trip_id(trip.id);
    out->set_headsign(trip.headsign);
    out->set_direction_id(trip.direction_id);
    out->set_service_date(st.service_date);
    if (route == kNoIndex) route = trip.route;
    const Pattern& p = net.pattern(net.trip_pattern(st.trip));
    if (st.next_stop_index < p.stops.size() && st.next_stop_index < trip.num_stop_times) {
      out->set_next_stop_id(feed.stops[p.stops[st.next_stop_index]].id);
      out->set_next_stop_sequence(
          feed.stop_times[trip.first_stop_time + st.next_stop_index].stop_sequence);
      if (std::isfinite(st.dist_along_m))
        out->set_next_stop_distance_m(
            std::max(0.0, p.stop_dist_m[st.next_stop_index] - st.dist_along_m));
    }
  }
  if (route != kNoIndex && route < feed.routes.size()) {
    out->set_route_id(feed.routes[route].id);
    out->set_route_short_name(feed.routes[route].short_name);
  }
  if (std::isfinite(st.delay_s)) out->set_delay_s(st.delay_s);
  out->set_occupancy(OccupancyToProto(st.occupancy));
  if (st.load >= 0) out->set_load(st.load);
  out->set_stale(age > stale_after_s);
}

void StopToProto(const Network& net, uint32_t stop, pb::Stop* out) {
  const GtfsFeed& feed = net.feed();
  const GtfsStop& s = feed.stops[stop];
  out->set_stop_id(s.id);
  out->set_stop_code(s.code);
  out->set_name(s.name);
  out->mutable_position()->set_lat(s.pos.lat);
  out->mutable_position()->set_lon(s.pos.lon);
  out->set_location_type(s.location_type);
  if (s.parent_station < feed.stops.size()) out->set_parent_station(feed.stops[s.parent_station].id);
  out->set_wheelchair_boarding(s.wheelchair_boarding);
  std::vector<uint32_t> routes;
  for (const auto& [pat, pos] : net.stop_patterns(stop)) routes.push_back(net.pattern(pat).route);
  std::vector<const std::string*> ids;
  for (uint32_t r : routes)
    if (r < feed.routes.size()) ids.push_back(&feed.routes[r].id);
  std::sort(ids.begin(), ids.end(), [](auto* a, auto* b) { return *a < *b; });
  ids.erase(std::unique(ids.begin(), ids.end(), [](auto* a, auto* b) { return *a == *b; }),
            ids.end());
  for (const std::string* id : ids) out->add_route_ids(*id);
}

void ArrivalToProto(const Network& net, const ArrivalRow& r, pb::Arrival* out) {
  const GtfsFeed& feed = net.feed();
  TripIdsToProto(feed, feed.trips[r.trip], out);
  out->set_stop_sequence(r.stop_sequence);
  out->set_predicted_arrival(r.predicted_arrival_s);
  out->set_predicted_arrival_p10(r.p10_s);
  out->set_predicted_arrival_p90(r.p90_s);
  out->set_scheduled_arrival(r.scheduled_arrival_s);
  out->set_predicted_departure(r.predicted_departure_s);
  out->set_scheduled_departure(r.scheduled_departure_s);
  out->set_live(r.live);
  out->set_source(SourceToProto(r.source));
  out->set_vehicle_id(r.vehicle_id);
  out->set_distance_m(r.live ? r.distance_m : NAN);
  out->set_stops_away(r.live ? r.stops_away : -1);
  out->set_occupancy(OccupancyToProto(r.occupancy));
  out->set_delay_s(static_cast<double>(r.predicted_arrival_s - r.scheduled_arrival_s));
  out->set_vehicle_last_seen(r.vehicle_last_seen_s);
  out->set_service_date(r.service_date);
  if (r.live && std::isfinite(r.vehicle_pos.lat)) {
    out->mutable_vehicle_position()->set_lat(r.vehicle_pos.lat);
    out->mutable_vehicle_position()->set_lon(r.vehicle_pos.lon);
  }
  out->set_vehicle_on_previous_trip(r.vehicle_on_previous_trip);
  out->set_vehicle_at_layover(r.vehicle_at_layover);
  out->set_pickup_type(r.pickup_type);
  out->set_drop_off_type(r.drop_off_type);
  out->set_status(StatusToProto(r.status));
  if (r.stop < feed.stops.size()) out->set_stop_id(feed.stops[r.stop].id);
  out->set_headway_s(static_cast<uint32_t>(std::max(0, r.headway_s)));
}

absl::Status ResolveArrivalsQuery(const pb::GetArrivalsRequest& req, const LiveView& view,
                                  int64_t live_max_age_s, ArrivalsQuery* q) {
  if (req.stop_id().empty())
    return absl::InvalidArgumentError(
        "stop_id: required (a GTFS stop_id; find one with FindStopsNear or SearchStops)");
  if (req.limit() > 100)
    return absl::InvalidArgumentError(absl::StrCat("limit=", req.limit(), ": must be 0..100"));
  if (req.horizon_s() < 0 || req.horizon_s() > 86400)
    return absl::InvalidArgumentError(
        absl::StrCat("horizon_s=", req.horizon_s(), ": must be 0..86400 seconds"));
  auto stop = view.network->FindStop(req.stop_id());
  if (!stop)
    return absl::NotFoundError(
        absl::StrCat("stop_id \"", req.stop_id(), "\": no such stop in the loaded feeds"));
  q->stop = *stop;
  q->stops = StationStops(*view.network, *stop);
  q->route = kNoIndex;
  if (!req.route_id().empty()) {
    auto route = view.network->FindRoute(req.route_id());
    if (!route)
      return absl::NotFoundError(
          absl::StrCat("route_id \"", req.route_id(), "\": no such route in the loaded feeds"));
    q->route = *route;
  }
  q->limit = req.limit() == 0 ? 10 : req.limit();
  q->horizon_s = req.horizon_s() == 0 ? 3600 : req.horizon_s();
  q->live_only = req.live_only();
  q->live_max_age_s = live_max_age_s;
  return absl::OkStatus();
}

void BuildBoard(const LiveView& view, const ArrivalsQuery& q, int64_t now_s, uint64_t version,
                bool heartbeat, pb::ArrivalsBoard* out) {
  const Network& net = *view.network;
  const GtfsStop& s = net.feed().stops[q.stop];
  out->Clear();
  out->set_stop_id(s.id);
  out->set_stop_name(s.name);
  out->set_stop_code(s.code);
  out->set_now(now_s);
  out->set_version(version);
  out->set_heartbeat(heartbeat);
  out->set_time_zone(net.time_zone().name());
  std::vector<uint32_t> trips;
  for (const ArrivalRow& r : ComputeArrivals(view, q, now_s)) {
    ArrivalToProto(net, r, out->add_arrivals());
    trips.push_back(r.trip);
  }
  AddBoardAlerts(net, ServedStops(q), trips, *view.changes(), now_s, out);
}

}  // namespace smartbus::server
