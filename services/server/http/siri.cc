#include "services/server/http/siri.h"

#include <httplib.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/server/arrivals.h"
#include "services/server/http/http_server.h"
#include "services/server/server.h"
#include "services/server/service_changes_convert.h"

namespace smartbus::server {
namespace {

using Json = nlohmann::ordered_json;

// PresentableDistance thresholds past "at stop" / "approaching" (siri.h): "N stops away" up to
// 3 stops and half a mile, else miles with one decimal.
constexpr int kDistanceAsStopsMaxStops = 3;
constexpr double kDistanceAsStopsMaxFeet = 2640;

std::string IsoTime(int64_t t, const absl::TimeZone& tz) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S%Ez", absl::FromUnixSeconds(t), tz);
}

std::string DataFrame(int32_t date) {
  return absl::StrFormat("%04d-%02d-%02d", date / 10000, date / 100 % 100, date % 100);
}

struct SiriError {
  int status = 0;
  std::string text;
};

// `situations`: PtSituationElement array (Bus Time sends an empty SituationExchangeDelivery
// when there are none).
void Reply(HttpResponse& res, const Json& delivery_key_value, const std::string& key,
           int64_t now, const absl::TimeZone& tz, Json situations = Json::array()) {
  Json sd;
  sd["ResponseTimestamp"] = IsoTime(now, tz);
  sd[key] = Json::array({delivery_key_value});
  sd["SituationExchangeDelivery"] = Json::array();
  if (!situations.empty()) {
    Json sx;
    sx["Situations"]["PtSituationElement"] = std::move(situations);
    sd["SituationExchangeDelivery"].push_back(std::move(sx));
  }
  Json out;
  out["Siri"]["ServiceDelivery"] = std::move(sd);
  res.set_content(out.dump() + "\n", "application/json");
}

void ReplyError(HttpResponse& res, const SiriError& e, const std::string& key, int64_t now,
                const absl::TimeZone& tz) {
  Json d;
  d["ResponseTimestamp"] = IsoTime(now, tz);
  d["ErrorCondition"]["OtherError"]["ErrorText"] = e.text;
  d["ErrorCondition"]["Description"] = e.text;
  Reply(res, d, key, now, tz);
  res.status = e.status;
}

// The text of a translated string: the English translation, else the first one.
std::string Text(const TranslatedText& t) {
  for (const Translation& x : t)
    if (x.language == "en") return x.text;
  return t.empty() ? "" : t[0].text;
}

// GTFS-RT severity (1 unknown, 2 info, 3 warning, 4 severe) as a SIRI Severity.
const char* SiriSeverity(int32_t gtfs) {
  switch (gtfs) {
    case 2: return "slight";
    case 3: return "normal";
    case 4: return "severe";
    default: return "undefined";
  }
}

// A service alert as a SIRI PtSituationElement, the shape Bus Time's SIRI-Lite uses: the
// number is the alert's stable key (source|id), PublicationWindow the active period in force at
// `now` (else the next one), Affects the routes/trips and stops it informs.
Json Situation(const Alert& a, int64_t now, const absl::TimeZone& tz) {
  Json s;
  s["SituationNumber"] = a.Key();
  if (a.created_s > 0) s["CreationTime"] = IsoTime(a.created_s, tz);
  const ActivePeriod* window = nullptr;
  for (const ActivePeriod& p : a.active_periods) {
    const bool now_in = (p.start_s == 0 || now >= p.start_s) && (p.end_s == 0 || now <= p.end_s);
    if (now_in) {
      window = &p;
      break;
    }
    if (p.start_s > now && (!window || p.start_s < window->start_s)) window = &p;
  }
  Json w = Json::object();
  if (window && window->start_s) w["StartTime"] = IsoTime(window->start_s, tz);
  if (window && window->end_s) w["EndTime"] = IsoTime(window->end_s, tz);
  s["PublicationWindow"] = std::move(w);
  s["Severity"] = SiriSeverity(a.severity);
  s["Summary"] = Text(a.header);
  if (!a.description.empty()) s["Description"] = Text(a.description);
  Json journeys = Json::array(), stops = Json::array();
  for (const InformedEntity& e : a.informed) {
    Json j;
    if (!e.route_id.empty()) j["LineRef"] = e.route_id;
    if (!e.trip_id.empty()) j["DatedVehicleJourneyRef"] = e.trip_id;
    if (!j.empty()) journeys.push_back(std::move(j));
    if (!e.stop_id.empty()) stops.push_back(Json::object({{"StopPointRef", e.stop_id}}));
  }
  Json affects = Json::object();
  if (!journeys.empty()) affects["VehicleJourneys"]["AffectedVehicleJourney"] = std::move(journeys);
  if (!stops.empty()) affects["StopPoints"]["AffectedStopPoint"] = std::move(stops);
  s["Affects"] = std::move(affects);
  if (!a.url.empty())
    s["InfoLinks"]["InfoLink"] = Json::array({Json::object({{"Uri", Text(a.url)}})});
  return s;
}

// The alerts of a vehicle journey (trip) as its SituationRef list; each one is added to
// `seen` (by key) for the delivery's situations.
Json SituationRefs(const Network& net, const ServiceChangeSet& changes, TripIdx trip,
                   int64_t now, std::map<std::string, const Alert*>* seen) {
  Json refs = Json::array();
  if (changes.alerts().empty()) return refs;
  for (const Alert* a : changes.AlertsFor(TripAlertSelector(net, trip), now)) {
    refs.push_back(Json::object({{"SituationSimpleRef", a->Key()}}));
    seen->emplace(a->Key(), a);
  }
  return refs;
}

Json Situations(const std::map<std::string, const Alert*>& alerts, int64_t now,
                const absl::TimeZone& tz) {
  Json out = Json::array();
  for (const auto& [key, a] : alerts) out.push_back(Situation(*a, now, tz));
  return out;
}

// Checks the parameters against the names a call takes; reads the numeric ones.
bool CheckParams(const HttpRequest& req, const std::set<std::string>& known, SiriError* err) {
  for (const auto& [k, v] : req.params) {
    if (!known.count(k)) {
      std::string list;
      for (const auto& n : known) absl::StrAppend(&list, list.empty() ? "" : ", ", n);
      *err = {400, absl::StrCat("unknown parameter \"", k, "\" (this call takes: ", list, ")")};
      return false;
    }
  }
  return true;
}

bool UintParam(const HttpRequest& req, const char* name, uint32_t max, uint32_t* out,
               SiriError* err) {
  if (!req.has_param(name)) return true;
  const std::string v = req.get_param_value(name);
  uint32_t n;
  if (v.empty() || v[0] == '-' || !absl::SimpleAtoi(v, &n) || n > max) {
    *err = {400, absl::StrCat(name, "=", v, ": must be an integer 0..", max)};
    return false;
  }
  *out = n;
  return true;
}

bool DetailParam(const HttpRequest& req, const char* name, std::string* out, SiriError* err) {
  if (!req.has_param(name)) return true;
  const std::string v = req.get_param_value(name);
  if (v != "minimum" && v != "basic" && v != "normal" && v != "calls") {
    *err = {400, absl::StrCat(name, "=", v, ": must be minimum, basic, normal or calls")};
    return false;
  }
  *out = v;
  return true;
}

Json Distances(double distance_m, int stops_away, double call_along_m) {
  Json d;
  if (std::isfinite(distance_m)) {
    d["PresentableDistance"] = PresentableDistance(distance_m, stops_away);
    d["DistanceFromCall"] = std::round(distance_m * 10) / 10;
  }
  if (stops_away >= 0) d["StopsFromCall"] = stops_away;
  if (std::isfinite(call_along_m)) d["CallDistanceAlongRoute"] = std::round(call_along_m * 10) / 10;
  return d;
}

// One call (a stop of the vehicle's trip or of its next one) for MonitoredCall / OnwardCalls.
Json Call(const Network& net, const VehicleSnapshot& v, const StopEta& e, const std::string& detail) {
  const GtfsFeed& feed = net.feed();
  const absl::TimeZone& tz = net.time_zone();
  const GtfsTrip& t = feed.trips[e.trip];
  const GtfsStopTime& stt = feed.stop_times[t.first_stop_time + e.stop_index];
  const VehicleState& st = v.state;
  Json c;
  c["StopPointRef"] = feed.stops[stt.stop].id;
  c["VisitNumber"] = 1;
  if (detail != "minimum") c["StopPointName"] = feed.stops[stt.stop].name;
  const int64_t day = st.day_start_s;
  c["AimedArrivalTime"] = IsoTime(day + stt.arrival_s, tz);
  c["ExpectedArrivalTime"] = IsoTime(e.predicted_arrival_s, tz);
  const int64_t dep = e.predicted_departure_s();
  c["ExpectedDepartureTime"] = IsoTime(dep == kNoTime ? e.predicted_arrival_s : dep, tz);
  // Distance from the bus to this stop along its trip (and through the end of it when the stop
  // is on the next trip of its block).
  double dist = NAN, along = NAN;
  int stops = -1;
  if (st.trip != kNoIndex && std::isfinite(st.dist_along_m)) {
    const Pattern& cur = net.pattern(net.trip_pattern(st.trip));
    const Pattern& p = net.pattern(net.trip_pattern(e.trip));
    if (e.stop_index < p.stop_dist_m.size()) along = p.stop_dist_m[e.stop_index];
    if (e.trip == st.trip) {
      dist = std::max(0.0, along - st.dist_along_m);
      stops = std::max(0, static_cast<int>(e.stop_index) - static_cast<int>(st.next_stop_index));
    } else if (!cur.stop_dist_m.empty()) {
      dist = std::max(0.0, cur.stop_dist_m.back() - st.dist_along_m) + along;
      stops = std::max(0, static_cast<int>(cur.stops.size()) - static_cast<int>(st.next_stop_index)) +
              static_cast<int>(e.stop_index);
    }
  }
  c["Extensions"]["Distances"] = Distances(dist, stops, along);
  return c;
}

// MonitoredVehicleJourney of vehicle `v` with `call` (an eta index) as MonitoredCall.
Json Journey(const Network& net, const VehicleSnapshot& v, size_t call, const std::string& detail,
             uint32_t max_onward) {
  const GtfsFeed& feed = net.feed();
  const VehicleState& st = v.state;
  const absl::TimeZone& tz = net.time_zone();
  const TripIdx trip = call < v.etas.size() ? v.etas[call].trip : st.trip;
  Json j;
  if (trip < feed.trips.size()) {
    const GtfsTrip& t = feed.trips[trip];
    const GtfsRoute* r = t.route < feed.routes.size() ? &feed.routes[t.route] : nullptr;
    if (r) j["LineRef"] = r->id;
    if (t.direction_id >= 0) j["DirectionRef"] = std::to_string(t.direction_id);
    j["FramedVehicleJourneyRef"] = {{"DataFrameRef", DataFrame(st.service_date)},
                                    {"DatedVehicleJourneyRef", t.id}};
    if (r) j["PublishedLineName"] = r->short_name.empty() ? r->id : r->short_name;
    if (r && r->agency < feed.agencies.size()) j["OperatorRef"] = feed.agencies[r->agency].name;
    if (t.num_stop_times) {
      j["OriginRef"] = feed.stops[feed.stop_times[t.first_stop_time].stop].id;
      const uint32_t last = feed.stop_times[t.first_stop_time + t.num_stop_times - 1].stop;
      j["DestinationRef"] = feed.stops[last].id;
      j["DestinationName"] = t.headsign.empty() ? feed.stops[last].name : t.headsign;
    }
    if (!t.block_id.empty()) j["BlockRef"] = t.block_id;
  }
  j["Monitored"] = true;
  j["VehicleLocation"] = {{"Longitude", st.pos.lon}, {"Latitude", st.pos.lat}};
  if (std::isfinite(st.bearing_deg)) j["Bearing"] = st.bearing_deg;
  // Bus Time: normalProgress, or noProgress while laying over; ProgressStatus says why.
  const bool layover = st.state == MatchState::kLayover;
  const bool prev_trip = trip != st.trip;
  j["ProgressRate"] = layover ? "noProgress" : "normalProgress";
  if (layover || prev_trip)
    j["ProgressStatus"] = layover && prev_trip ? "layover,prevTrip" : layover ? "layover" : "prevTrip";
  j["VehicleRef"] = st.vehicle_id;
  if (st.occupancy >= 0) {
    static const char* kOcc[] = {"seatsAvailable", "seatsAvailable", "seatsAvailable",
                                 "standingAvailable", "standingAvailable", "full", "full",
                                 "full", "full"};
    j["Occupancy"] = kOcc[std::min(st.occupancy, 8)];
  }
  if (call < v.etas.size()) {
    j["MonitoredCall"] = Call(net, v, v.etas[call], detail);
    if (detail == "calls") {
      Json onward = Json::array();
      for (size_t k = call + 1; k < v.etas.size() && onward.size() < max_onward; ++k)
        onward.push_back(Call(net, v, v.etas[k], detail));
      j["OnwardCalls"]["OnwardCall"] = std::move(onward);
    } else {
      j["OnwardCalls"] = Json::object();
    }
  }
  (void)tz;
  return j;
}

std::shared_ptr<const VehicleSnapshot> FindVehicle(SmartbusServer* server, const std::string& id) {
  auto slot = server->ShardFor(id).directory().Find(id);
  return slot ? slot->snapshot.load(std::memory_order_acquire) : nullptr;
}

// One MonitoredStopVisit or VehicleActivity: the bus's journey from call `call`, the alerts on
// `trip` (collected in *alerts for the delivery's situations) and when the bus reported.
Json MonitoredJourney(const Network& net, const ServiceChangeSet& changes, const VehicleSnapshot& v,
                      TripIdx trip, size_t call, const std::string& detail, uint32_t onward,
                      int64_t now, std::map<std::string, const Alert*>* alerts) {
  Json entry;
  entry["MonitoredVehicleJourney"] = Journey(net, v, call, detail, onward);
  if (Json refs = SituationRefs(net, changes, trip, now, alerts); !refs.empty())
    entry["MonitoredVehicleJourney"]["SituationRef"] = std::move(refs);
  entry["RecordedAtTime"] = IsoTime(v.state.timestamp_s, net.time_zone());
  return entry;
}

// Replies with the delivery `key` holding `list` under `list_name`, valid for a minute, and the
// situations of `alerts`.
void ReplyDelivery(HttpResponse& res, const char* key, const char* list_name, Json list,
                   int64_t now, const absl::TimeZone& tz,
                   const std::map<std::string, const Alert*>& alerts) {
  Json d;
  d[list_name] = std::move(list);
  d["ResponseTimestamp"] = IsoTime(now, tz);
  d["ValidUntil"] = IsoTime(now + 60, tz);
  Reply(res, d, key, now, tz, Situations(alerts, now, tz));
}

void StopMonitoring(SmartbusServer* server, const HttpRequest& req, HttpResponse& res) {
  auto view = server->view();
  const Network& net = *view->network;
  const int64_t now = server->Now();
  const char* kKey = "StopMonitoringDelivery";
  SiriError err;
  uint32_t max_visits = 0, per_line = 0, onward = 3;
  std::string detail = "normal";
  const bool ok =
      CheckParams(req, {"key", "version", "OperatorRef", "MonitoringRef", "LineRef",
                        "DirectionRef", "MaximumStopVisits", "MinimumStopVisitsPerLine",
                        "StopMonitoringDetailLevel", "MaximumNumberOfCallsOnwards"},
                  &err) &&
      UintParam(req, "MaximumStopVisits", 1000, &max_visits, &err) &&
      UintParam(req, "MinimumStopVisitsPerLine", 1000, &per_line, &err) &&
      UintParam(req, "MaximumNumberOfCallsOnwards", 1000, &onward, &err) &&
      DetailParam(req, "StopMonitoringDetailLevel", &detail, &err);
  if (!ok) return ReplyError(res, err, kKey, now, net.time_zone());
  const std::string stop_id = req.get_param_value("MonitoringRef");
  if (stop_id.empty())
    return ReplyError(res, {400, "MonitoringRef: required (a stop_id)"}, kKey, now, net.time_zone());
  auto stop = net.FindStop(stop_id);
  if (!stop)
    return ReplyError(res, {404, absl::StrCat("MonitoringRef \"", stop_id, "\": no such stop")},
                      kKey, now, net.time_zone());
  ArrivalsQuery q;
  q.stop = *stop;
  q.live_only = true;
  q.limit = 1000;
  q.live_max_age_s = server->options().live_max_age_s;
  const std::string line = req.get_param_value("LineRef");
  if (!line.empty()) {
    auto r = net.FindRoute(line);
    if (!r)
      return ReplyError(res, {404, absl::StrCat("LineRef \"", line, "\": no such route")}, kKey,
                        now, net.time_zone());
    q.route = *r;
  }
  const std::string dir = req.get_param_value("DirectionRef");
  std::vector<ArrivalRow> rows = ComputeArrivals(*view, q, now);
  const GtfsFeed& feed = net.feed();
  // Alerts: those of the stop's board (the stop, its station, its routes, the trips listed),
  // and per journey its SituationRef.
  const std::shared_ptr<const ServiceChangeSet> changes = view->changes();
  std::map<std::string, const Alert*> alerts;
  if (!changes->alerts().empty()) {
    std::vector<uint32_t> trips;
    for (const ArrivalRow& r : rows) trips.push_back(r.trip);
    for (const Alert* a : changes->AlertsFor(StopAlertSelector(net, *stop, trips), now))
      alerts.emplace(a->Key(), a);
  }
  // MaximumStopVisits, but at least MinimumStopVisitsPerLine of each line (Bus Time's rule).
  std::map<uint32_t, uint32_t> per_route;
  Json visits = Json::array();
  for (const ArrivalRow& r : rows) {
    const GtfsTrip& t = feed.trips[r.trip];
    if (!dir.empty() && std::to_string(t.direction_id) != dir) continue;
    const uint32_t n = per_route[t.route]++;
    if (max_visits && visits.size() >= max_visits && n >= per_line) continue;
    auto v = FindVehicle(server, r.vehicle_id);
    if (!v || v->network != view->network) continue;
    size_t call = 0;
    while (call < v->etas.size() &&
           !(v->etas[call].trip == r.trip && v->etas[call].stop_index == r.stop_index))
      ++call;
    if (call == v->etas.size()) continue;
    visits.push_back(
        MonitoredJourney(net, *changes, *v, r.trip, call, detail, onward, now, &alerts));
  }
  ReplyDelivery(res, kKey, "MonitoredStopVisit", std::move(visits), now, net.time_zone(), alerts);
}

void VehicleMonitoring(SmartbusServer* server, const HttpRequest& req, HttpResponse& res) {
  auto view = server->view();
  const Network& net = *view->network;
  const int64_t now = server->Now();
  const char* kKey = "VehicleMonitoringDelivery";
  SiriError err;
  uint32_t onward = 3;
  std::string detail = "normal";
  const bool ok =
      CheckParams(req, {"key", "version", "OperatorRef", "VehicleRef", "LineRef", "DirectionRef",
                        "VehicleMonitoringDetailLevel", "MaximumNumberOfCallsOnwards"},
                  &err) &&
      UintParam(req, "MaximumNumberOfCallsOnwards", 1000, &onward, &err) &&
      DetailParam(req, "VehicleMonitoringDetailLevel", &detail, &err);
  if (!ok) return ReplyError(res, err, kKey, now, net.time_zone());
  const std::string vehicle = req.get_param_value("VehicleRef");
  const std::string line = req.get_param_value("LineRef");
  const std::string dir = req.get_param_value("DirectionRef");
  if (!line.empty() && !net.FindRoute(line))
    return ReplyError(res, {404, absl::StrCat("LineRef \"", line, "\": no such route")}, kKey, now,
                      net.time_zone());
  std::vector<std::shared_ptr<const VehicleSnapshot>> all;
  if (!vehicle.empty()) {
    auto v = FindVehicle(server, vehicle);
    if (!v)
      return ReplyError(res, {404, absl::StrCat("VehicleRef \"", vehicle, "\": no such vehicle")},
                        kKey, now, net.time_zone());
    all.push_back(v);
  } else {
    all = server->AllVehicles();
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a->state.vehicle_id < b->state.vehicle_id; });
  const GtfsFeed& feed = net.feed();
  const std::shared_ptr<const ServiceChangeSet> changes = view->changes();
  std::map<std::string, const Alert*> alerts;  // of the journeys listed
  Json activities = Json::array();
  for (const auto& v : all) {
    if (v->network != view->network) continue;
    if (now - v->state.timestamp_s > server->options().live_max_age_s) continue;
    const TripIdx trip = v->state.trip;
    if (trip >= feed.trips.size()) continue;  // Bus Time lists buses on a trip
    if (!line.empty() && feed.routes[feed.trips[trip].route].id != line) continue;
    if (!dir.empty() && std::to_string(feed.trips[trip].direction_id) != dir) continue;
    activities.push_back(
        MonitoredJourney(net, *changes, *v, trip, 0, detail, onward, now, &alerts));
  }
  ReplyDelivery(res, kKey, "VehicleActivity", std::move(activities), now, net.time_zone(), alerts);
}

}  // namespace

std::string PresentableDistance(double distance_m, int stops_away) {
  const double feet = distance_m * kFeetPerMetre;
  if (feet <= kAtStopFeet && stops_away <= 0) return "at stop";
  if (feet <= kApproachingFeet && stops_away <= 0) return "approaching";
  if (stops_away >= 0 && stops_away <= kDistanceAsStopsMaxStops && feet <= kDistanceAsStopsMaxFeet) {
    if (stops_away == 0) return "< 1 stop away";
    return stops_away == 1 ? "1 stop away" : absl::StrCat(stops_away, " stops away");
  }
  return absl::StrFormat("%.1f miles away", feet / 5280.0);
}

void AddSiriRoutes(HttpServer* http, SmartbusServer* server) {
  http->Get("/siri/stop-monitoring.json", "siri.stop_monitoring",
            [server](const HttpRequest& req, HttpResponse& res) { StopMonitoring(server, req, res); });
  http->Get("/siri/vehicle-monitoring.json", "siri.vehicle_monitoring",
            [server](const HttpRequest& req, HttpResponse& res) {
              VehicleMonitoring(server, req, res);
            });
}

}  // namespace smartbus::server
