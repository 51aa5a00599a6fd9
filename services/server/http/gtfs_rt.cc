#include "services/server/http/gtfs_rt.h"

// Before httplib.h: <netdb.h> defines a NO_DATA macro that clashes with the generated enum.
#include "services/core/common/mutex.h"
#include "transit_realtime/gtfs-realtime.pb.h"

#include <httplib.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "services/server/arrivals.h"
#include "services/server/http/http_server.h"
#include "services/server/http/json_api.h"
#include "services/server/http/siri.h"
#include "services/server/server.h"

namespace smartbus::server {
namespace {

namespace rt = ::transit_realtime;

void Header(int64_t now_s, rt::FeedMessage* out) {
  rt::FeedHeader* h = out->mutable_header();
  h->set_gtfs_realtime_version("2.0");
  h->set_incrementality(rt::FeedHeader::FULL_DATASET);
  h->set_timestamp(static_cast<uint64_t>(std::max<int64_t>(0, now_s)));
}

// zlib level 1 (fastest): the feed is compressed once per refresh while requests wait for it.
// Measured on the 6,000-bus NYC TripUpdates (bench/http/gtfsrt_bench): level 6 made gzip the
// largest part of a build (bench/RESULTS.md); level 1 costs a few percent more bytes.
constexpr int kGzipLevel = 1;

std::string Gzip(const std::string& in) {
  z_stream zs{};
  if (deflateInit2(&zs, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return {};
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string();
}

// Fresh vehicles, sorted by id (the entity order, and who wins a trip two buses claim).
std::vector<const VehicleSnapshot*> FreshVehicles(const GtfsRtInputs& in) {
  std::vector<const VehicleSnapshot*> out;
  for (const auto& v : in.vehicles)
    if (v && v->network.get() == in.network && in.now_s - v->state.timestamp_s <= in.max_age_s)
      out.push_back(v.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) {
    return a->state.vehicle_id < b->state.vehicle_id;
  });
  return out;
}

// A bus at most this fast, at its stop, stands there (STOPPED_AT). GPS speed of a standing bus
// is noise of a few tenths of m/s; 2 m/s (7 km/h) is a bus creeping in the queue of the stop,
// never one running between stops. Unknown speed counts as standing.
constexpr float kStandingSpeedMps = 2.0f;

// Returns whether the trip is frequency-based (frequencies.txt exact_times=0): UNSCHEDULED, as
// the spec asks, and its StopTimeUpdates too; a headway-defined schedule (exact_times=1) and
// every other trip are SCHEDULED.
bool TripDescriptor(const Network& net, TripIdx trip, int32_t service_date, int64_t shift_s,
                    rt::TripDescriptor* out) {
  const GtfsFeed& feed = net.feed();
  const GtfsTrip& t = feed.trips[trip];
  out->set_trip_id(t.id);
  if (t.route < feed.routes.size()) out->set_route_id(feed.routes[t.route].id);
  if (t.direction_id >= 0) out->set_direction_id(static_cast<uint32_t>(t.direction_id));
  out->set_start_date(absl::StrFormat("%08d", service_date));
  bool frequency_based = false;
  if (t.num_stop_times) {
    const int64_t start = feed.stop_times[t.first_stop_time].departure_s + shift_s;
    out->set_start_time(GtfsTime(start));
    frequency_based = FrequencyHeadwayS(net, trip, start) > 0;
  }
  out->set_schedule_relationship(frequency_based ? rt::TripDescriptor::UNSCHEDULED
                                                 : rt::TripDescriptor::SCHEDULED);
  return frequency_based;
}

// Where the vehicle is against its next stop (k = the first stop not yet departed):
// STOPPED_AT when standing within Bus Time's "at stop" distance of it, INCOMING_AT when
// within its "approaching" distance before it, else IN_TRANSIT_TO.
rt::VehiclePosition::VehicleStopStatus StopStatusAt(const Network& net, const VehicleState& st) {
  const Pattern& p = net.pattern(net.trip_pattern(st.trip));
  if (!std::isfinite(st.dist_along_m) || st.next_stop_index >= p.stop_dist_m.size())
    return rt::VehiclePosition::IN_TRANSIT_TO;
  const double feet = (p.stop_dist_m[st.next_stop_index] - st.dist_along_m) * kFeetPerMetre;
  const bool standing = !std::isfinite(st.speed_mps) || st.speed_mps <= kStandingSpeedMps;
  if (std::abs(feet) <= kAtStopFeet && standing) return rt::VehiclePosition::STOPPED_AT;
  if (feet > 0 && feet <= kApproachingFeet) return rt::VehiclePosition::INCOMING_AT;
  return rt::VehiclePosition::IN_TRANSIT_TO;
}

// The predicted departure from the stop of `e`: the engine's at a trip's first stop; at a stop
// whose schedule has a dwell (departure_time > arrival_time), the arrival plus that dwell, no
// later than the next stop's predicted arrival (the engine's running times are arrival to
// arrival, dwell included, so this splits them as the schedule does); else the arrival.
int64_t PredictedDeparture(const GtfsStopTime& stt, const StopEta* e, const StopEta* end,
                           int64_t arr) {
  const int64_t dep_pred = e->predicted_departure_s();
  if (dep_pred != kNoTime) return std::max(arr, dep_pred);
  if (stt.departure_s <= stt.arrival_s) return arr;
  int64_t dep = arr + (stt.departure_s - stt.arrival_s);
  if (e + 1 != end) dep = std::min(dep, (e + 1)->predicted_arrival_s);
  return std::max(arr, dep);
}

void VehicleDescriptor(const VehicleState& st, rt::VehicleDescriptor* out) {
  out->set_id(st.vehicle_id);
  out->set_label(st.vehicle_id);
}

std::string TripEntityId(const std::string& trip_id, int32_t service_date) {
  return absl::StrCat(trip_id, "_", service_date);
}

// The run of `trip` the vehicle's etas are for: its start minus the template's (frequencies.txt
// runs; 0 for a trip with fixed times and for the next trip of a block).
int64_t RunShift(const Network& net, const VehicleState& st, TripIdx trip) {
  if (trip != st.trip) return 0;
  return st.day_start_s - absl::ToUnixSeconds(net.ServiceDayStart(st.service_date));
}

// A trip of frequencies.txt runs many times a day under one trip_id: its entity id adds the
// run's start ("<trip_id>_<start_date>_<HH:MM:SS>") so every run has its own stable id.
std::string RunEntityId(const Network& net, TripIdx trip, int32_t service_date, int64_t shift) {
  const GtfsFeed& feed = net.feed();
  const GtfsTrip& t = feed.trips[trip];
  std::string id = TripEntityId(t.id, service_date);
  if (net.FrequencyShifts(trip) && t.num_stop_times)
    absl::StrAppend(&id, "_", GtfsTime(feed.stop_times[t.first_stop_time].departure_s + shift));
  return id;
}

// One TripUpdate: the etas [begin, end) of `snap`, all on trip `trip`.
void FillTripUpdate(const Network& net, const VehicleSnapshot& snap, const StopEta* begin,
                    const StopEta* end, const ServiceChangesView* changes, rt::TripUpdate* tu) {
  const GtfsFeed& feed = net.feed();
  const VehicleState& st = snap.state;
  const TripIdx trip = begin->trip;
  const bool current = trip == st.trip;
  const int64_t shift = RunShift(net, st, trip);
  const bool frequency_based =
      TripDescriptor(net, trip, st.service_date, shift, tu->mutable_trip());
  VehicleDescriptor(st, tu->mutable_vehicle());
  tu->set_timestamp(static_cast<uint64_t>(st.timestamp_s));
  // A frequency-based trip has no schedule to deviate from (best practices: no delay).
  if (current && !frequency_based && std::isfinite(st.delay_s))
    tu->set_delay(static_cast<int32_t>(std::lround(st.delay_s)));
  const GtfsTrip& t = feed.trips[trip];
  int64_t last = 0;
  for (const StopEta* e = begin; e != end; ++e) {
    if (e->stop_index >= t.num_stop_times) continue;
    const GtfsStopTime& stt = feed.stop_times[t.first_stop_time + e->stop_index];
    auto* u = tu->add_stop_time_update();
    u->set_stop_sequence(stt.stop_sequence);
    u->set_stop_id(feed.stops[stt.stop].id);
    if (changes && changes->StopSkipped(t.id, st.service_date, feed.stops[stt.stop].id,
                                        stt.stop_sequence)) {
      u->set_schedule_relationship(rt::TripUpdate::StopTimeUpdate::SKIPPED);
      continue;
    }
    u->set_schedule_relationship(frequency_based ? rt::TripUpdate::StopTimeUpdate::UNSCHEDULED
                                                 : rt::TripUpdate::StopTimeUpdate::SCHEDULED);
    const int64_t arr = std::max(last, e->predicted_arrival_s);
    auto* a = u->mutable_arrival();
    a->set_time(arr);
    const int64_t p10 = e->p10_s(), p90 = e->p90_s();
    if (p10 != kNoTime && p90 != kNoTime && p90 >= p10)
      a->set_uncertainty(static_cast<int32_t>(p90 - p10));
    const int64_t dep = PredictedDeparture(stt, e, end, arr);
    u->mutable_departure()->set_time(dep);
    if (a->has_uncertainty()) u->mutable_departure()->set_uncertainty(a->uncertainty());
    last = dep;
  }
}

}  // namespace

std::string GtfsTime(int64_t s) {
  if (s < 0) s = 0;
  return absl::StrFormat("%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

void BuildTripUpdates(const GtfsRtInputs& in, rt::FeedMessage* out) {
  Header(in.now_s, out);
  const Network& net = *in.network;
  const GtfsFeed& feed = net.feed();
  std::unordered_set<std::string> ids;
  std::vector<std::pair<std::string, int32_t>> canceled;
  if (in.changes) canceled = in.changes->CanceledTrips(in.now_s);
  std::unordered_set<std::string> canceled_ids;
  for (const auto& [trip_id, date] : canceled) canceled_ids.insert(TripEntityId(trip_id, date));
  const auto vehicles = FreshVehicles(in);
  // Two passes: a bus's current trip wins over another bus's block continuation.
  for (int pass = 0; pass < 2; ++pass) {
    for (const VehicleSnapshot* v : vehicles) {
      const auto& etas = v->etas;
      for (size_t i = 0; i < etas.size();) {
        size_t j = i;
        while (j < etas.size() && etas[j].trip == etas[i].trip) ++j;
        const TripIdx trip = etas[i].trip;
        const bool current = trip == v->state.trip;
        if (trip < feed.trips.size() && current == (pass == 0)) {
          const std::string id =
              RunEntityId(net, trip, v->state.service_date, RunShift(net, v->state, trip));
          if (!canceled_ids.count(TripEntityId(feed.trips[trip].id, v->state.service_date)) &&
              ids.insert(id).second) {
            rt::FeedEntity* ent = out->add_entity();
            ent->set_id(id);
            FillTripUpdate(net, *v, &etas[i], &etas[0] + j, in.changes, ent->mutable_trip_update());
          }
        }
        i = j;
      }
    }
  }
  for (const auto& [trip_id, date] : canceled) {
    const std::string id = TripEntityId(trip_id, date);
    auto t = net.FindTrip(trip_id);
    if (!t || !ids.insert(id).second) continue;
    rt::FeedEntity* ent = out->add_entity();
    ent->set_id(id);
    rt::TripDescriptor* td = ent->mutable_trip_update()->mutable_trip();
    TripDescriptor(net, *t, date, 0, td);
    td->set_schedule_relationship(rt::TripDescriptor::CANCELED);
  }
  std::sort(out->mutable_entity()->begin(), out->mutable_entity()->end(),
            [](const rt::FeedEntity& a, const rt::FeedEntity& b) { return a.id() < b.id(); });
}

void BuildVehiclePositions(const GtfsRtInputs& in, rt::FeedMessage* out) {
  Header(in.now_s, out);
  const Network& net = *in.network;
  const GtfsFeed& feed = net.feed();
  for (const VehicleSnapshot* v : FreshVehicles(in)) {
    const VehicleState& st = v->state;
    rt::FeedEntity* ent = out->add_entity();
    ent->set_id(st.vehicle_id);
    rt::VehiclePosition* vp = ent->mutable_vehicle();
    if (st.trip < feed.trips.size()) {
      TripDescriptor(net, st.trip, st.service_date, RunShift(net, st, st.trip), vp->mutable_trip());
      const GtfsTrip& t = feed.trips[st.trip];
      if (st.next_stop_index < t.num_stop_times) {
        const GtfsStopTime& stt = feed.stop_times[t.first_stop_time + st.next_stop_index];
        vp->set_current_stop_sequence(stt.stop_sequence);
        vp->set_stop_id(feed.stops[stt.stop].id);
        vp->set_current_status(StopStatusAt(net, st));
      }
    }
    VehicleDescriptor(st, vp->mutable_vehicle());
    rt::Position* p = vp->mutable_position();
    p->set_latitude(static_cast<float>(st.pos.lat));
    p->set_longitude(static_cast<float>(st.pos.lon));
    if (std::isfinite(st.bearing_deg)) p->set_bearing(st.bearing_deg);
    if (std::isfinite(st.speed_mps)) p->set_speed(st.speed_mps);
    vp->set_timestamp(static_cast<uint64_t>(st.timestamp_s));
    if (st.occupancy >= 0 && st.occupancy <= 8)
      vp->set_occupancy_status(static_cast<rt::VehiclePosition::OccupancyStatus>(st.occupancy));
  }
}

void BuildAlerts(const GtfsRtInputs& in, rt::FeedMessage* out) {
  Header(in.now_s, out);
  if (in.changes) in.changes->AppendAlerts(in.now_s, out);
}

const std::string& BuiltFeed::json() const {
  std::call_once(json_once_, [this] {
    rt::FeedMessage msg;
    msg.ParseFromString(pb);
    json_ = ToJson(msg, /*every_field=*/false);
  });
  return json_;
}

GtfsRtFeeds::GtfsRtFeeds(SmartbusServer* server, int refresh_s, int64_t max_age_s)
    : server_(server), refresh_(std::max(0, refresh_s)), max_age_s_(max_age_s) {}

std::shared_ptr<const BuiltFeed> GtfsRtFeeds::Last(FeedKind kind) const {
  const Slot& s = slots_[static_cast<int>(kind)];
  MutexLock lock(s.mu);
  return s.built;
}

std::shared_ptr<const BuiltFeed> GtfsRtFeeds::Get(FeedKind kind) {
  Slot& s = slots_[static_cast<int>(kind)];
  MutexLock lock(s.mu);
  const auto now = std::chrono::steady_clock::now();
  if (s.built && now - s.built_at < refresh_) return s.built;
  GtfsRtInputs in;
  auto view = server_->view();
  in.network = view->network.get();
  if (kind != FeedKind::kAlerts) in.vehicles = server_->AllVehicles();
  in.now_s = std::max(s.last_timestamp, server_->Now());
  in.max_age_s = max_age_s_;
  in.changes = changes_.load();
  rt::FeedMessage msg;
  switch (kind) {
    case FeedKind::kTripUpdates: BuildTripUpdates(in, &msg); break;
    case FeedKind::kVehiclePositions: BuildVehiclePositions(in, &msg); break;
    case FeedKind::kAlerts: BuildAlerts(in, &msg); break;
  }
  auto b = std::make_shared<BuiltFeed>();
  b->timestamp = in.now_s;
  b->entities = static_cast<size_t>(msg.entity_size());
  msg.SerializeToString(&b->pb);
  b->pb_gzip = Gzip(b->pb);
  b->build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - now).count();
  s.last_timestamp = in.now_s;
  s.built = b;
  s.built_at = now;
  builds_.fetch_add(1);
  return s.built;
}

void AddGtfsRtRoutes(HttpServer* http, GtfsRtFeeds* feeds) {
  const std::pair<const char*, FeedKind> routes[] = {
      {"trip-updates", FeedKind::kTripUpdates},
      {"vehicle-positions", FeedKind::kVehiclePositions},
      {"alerts", FeedKind::kAlerts}};
  for (const auto& [name, kind] : routes) {
    http->Get(absl::StrCat("/gtfs-rt/", name), absl::StrCat("gtfs_rt.", name),
              [feeds, kind = kind](const HttpRequest& req, HttpResponse& res) {
                std::string format = req.get_param_value("format");
                if (!format.empty() && format != "json" && format != "pb")
                  return HttpError(res, 400, absl::StrCat("parameter format=", format,
                                                          ": must be json or pb (default)"));
                for (const auto& [k, v] : req.params)
                  if (k != "format")
                    return HttpError(res, 400, absl::StrCat("unknown parameter \"", k,
                                                            "\" (this feed takes: format)"));
                auto b = feeds->Get(kind);
                res.set_header("Last-Modified", HttpDate(b->timestamp));
                res.set_header("Cache-Control", "no-cache");
                res.set_header("Vary", "Accept-Encoding");
                if (req.has_header("If-Modified-Since")) {
                  const int64_t ims = ParseHttpDate(req.get_header_value("If-Modified-Since"));
                  if (ims >= 0 && b->timestamp <= ims) {
                    res.status = 304;
                    return;
                  }
                }
                if (format == "json") return res.set_content(b->json(), "application/json");
                const bool gzip =
                    absl::StrContains(req.get_header_value("Accept-Encoding"), "gzip") &&
                    !b->pb_gzip.empty();
                if (gzip) res.set_header("Content-Encoding", "gzip");
                res.set_content(gzip ? b->pb_gzip : b->pb, "application/x-protobuf");
              });
  }
}

}  // namespace smartbus::server
