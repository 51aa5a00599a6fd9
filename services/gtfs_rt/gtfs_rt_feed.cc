#include "services/gtfs_rt/gtfs_rt_feed.h"

#include <cmath>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"

namespace smartbus::gtfs_rt {
namespace {

namespace rt = ::transit_realtime;

int32_t ParseStartDate(const std::string& s) {
  int32_t d = 0;
  if (s.size() != 8 || !absl::SimpleAtoi(s, &d) || d < 19000101 || d > 29991231) return 0;
  return d;
}

int32_t HeaderDate(const rt::FeedMessage& feed, const Network& net) {
  const int64_t t = feed.header().has_timestamp()
                        ? static_cast<int64_t>(feed.header().timestamp())
                        : absl::ToUnixSeconds(absl::Now());
  const absl::CivilDay d = absl::ToCivilDay(absl::FromUnixSeconds(t), net.time_zone());
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

// Counts the entity; true when it is not deleted and carries the wanted kind (`has`).
bool Take(const rt::FeedEntity& e, bool (rt::FeedEntity::*has)() const, EntityCounts* c) {
  ++c->entities;
  if (e.is_deleted()) {
    ++c->deleted;
    return false;
  }
  if (!(e.*has)()) {
    ++c->other_type;
    return false;
  }
  return true;
}

// A trip SmartBus' timetable does not have as such: an extra run (ADDED, its successor NEW) or
// a copy of a scheduled trip at another time (DUPLICATED).
// ADDED is deprecated in the proto (named by number: -Werror) but feeds still send it.
constexpr int kAddedTrip = 1;
bool AddedTrip(const rt::TripDescriptor& td) {
  const auto rel = td.schedule_relationship();
  return static_cast<int>(rel) == kAddedTrip || rel == rt::TripDescriptor::NEW ||
         rel == rt::TripDescriptor::DUPLICATED;
}

// A REPLACEMENT trip's update lists its whole new stop list: the scheduled stops it does not
// list are skipped. Nothing when it lists no stop (no stop list given).
void ReplacedStops(const Network& net, TripIdx trip, const rt::TripUpdate& tu,
                   std::vector<SkippedStop>* out) {
  const GtfsFeed& feed = net.feed();
  const GtfsTrip& t = feed.trips[trip];
  bool any = false;
  for (const auto& stu : tu.stop_time_update())
    any = any || stu.schedule_relationship() != rt::TripUpdate::StopTimeUpdate::SKIPPED;
  if (!any) return;
  for (uint32_t k = 0; k < t.num_stop_times; ++k) {
    const GtfsStopTime& st = feed.stop_times[t.first_stop_time + k];
    const std::string& stop_id = feed.stops[st.stop].id;
    bool listed = false;
    for (const auto& stu : tu.stop_time_update()) {
      if (stu.schedule_relationship() == rt::TripUpdate::StopTimeUpdate::SKIPPED) continue;
      listed = listed || (stu.has_stop_sequence() ? stu.stop_sequence() == st.stop_sequence
                                                  : stu.stop_id() == stop_id);
    }
    if (!listed) out->push_back(SkippedStop{stop_id, st.stop_sequence});
  }
}

// One trip update entity -> *out. False when it is not used (deleted, another kind, invalid,
// unknown or added trip: counted); true when used, *out then empty when nothing is changed.
bool MapTripUpdate(const rt::FeedEntity& e, const Network& net, int32_t header_date,
                   int64_t header_t, EntityCounts* counts, TripChange* out) {
  if (!Take(e, &rt::FeedEntity::has_trip_update, counts)) return false;
  const rt::TripUpdate& tu = e.trip_update();
  const std::string& trip_id = tu.trip().trip_id();
  if (AddedTrip(tu.trip())) {
    ++counts->added_trips;
    return false;
  }
  if (trip_id.empty()) {
    ++counts->invalid;
    return false;
  }
  const std::optional<TripIdx> trip = net.FindTrip(trip_id);
  if (!trip) {
    ++counts->unknown_trips;
    return false;
  }
  TripChange& c = *out;
  c.trip_id = trip_id;
  c.service_date = ParseStartDate(tu.trip().start_date());
  if (c.service_date == 0) c.service_date = header_date;
  c.updated_s = header_t;
  const auto rel = tu.trip().schedule_relationship();
  c.cancelled = rel == rt::TripDescriptor::CANCELED || rel == rt::TripDescriptor::DELETED;
  if (!c.cancelled) {
    if (rel == rt::TripDescriptor::REPLACEMENT) ReplacedStops(net, *trip, tu, &c.skipped);
    for (const auto& stu : tu.stop_time_update())
      if (stu.schedule_relationship() == rt::TripUpdate::StopTimeUpdate::SKIPPED &&
          (!stu.stop_id().empty() || stu.stop_sequence() > 0))
        c.skipped.push_back(SkippedStop{stu.stop_id(), stu.stop_sequence()});
  }
  ++counts->used;
  return true;
}

TranslatedText Text(const rt::TranslatedString& in) {
  TranslatedText out;
  for (const auto& t : in.translation())
    if (!t.text().empty()) out.push_back(Translation{t.language(), t.text()});
  return out;
}

}  // namespace

absl::string_view FeedKindName(FeedKind k) {
  switch (k) {
    case FeedKind::kVehiclePositions: return "vehicle_positions";
    case FeedKind::kTripUpdates: return "trip_updates";
    case FeedKind::kAlerts: return "alerts";
  }
  return "vehicle_positions";
}

absl::string_view FeedErrorName(FeedError e) {
  switch (e) {
    case FeedError::kFetch: return "fetch";
    case FeedError::kHttpStatus: return "http_status";
    case FeedError::kTooLarge: return "too_large";
    case FeedError::kUndecodable: return "undecodable";
    case FeedError::kWrongType: return "wrong_type";
    case FeedError::kOldHeader: return "old_header";
  }
  return "fetch";
}

absl::StatusOr<rt::FeedMessage> ParseFeed(absl::string_view bytes, FeedError* error) {
  rt::FeedMessage feed;
  *error = FeedError::kUndecodable;
  if (bytes.empty()) return absl::DataLossError("empty body: not a GTFS-RT FeedMessage");
  if (!feed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    // Tell a truncated or garbage body from a message missing its required header.
    rt::FeedMessage partial;
    const bool parses = partial.ParsePartialFromArray(bytes.data(), static_cast<int>(bytes.size()));
    return absl::DataLossError(absl::StrCat(
        bytes.size(), " bytes: not a GTFS-RT FeedMessage (",
        parses ? absl::StrCat("missing required fields: ", partial.InitializationErrorString())
               : "undecodable protobuf: truncated or not protobuf",
        ")"));
  }
  return feed;
}

EntityCounts& EntityCounts::operator+=(const EntityCounts& o) {
  entities += o.entities;
  used += o.used;
  other_type += o.other_type;
  invalid += o.invalid;
  duplicates += o.duplicates;
  stale += o.stale;
  unknown_trips += o.unknown_trips;
  deleted += o.deleted;
  added_trips += o.added_trips;
  return *this;
}

bool VehicleDedupe::Newer(const std::string& vehicle_id, int64_t t_s) {
  auto [it, inserted] = last_.try_emplace(vehicle_id, t_s);
  if (inserted) return true;
  if (t_s <= it->second) return false;
  it->second = t_s;
  return true;
}

std::vector<Fix> MapVehiclePositions(const rt::FeedMessage& feed, const Network* net,
                                     const VehicleMapOptions& options, VehicleDedupe* dedupe,
                                     EntityCounts* counts) {
  std::vector<Fix> out;
  const int64_t header_t = static_cast<int64_t>(feed.header().timestamp());
  for (const rt::FeedEntity& e : feed.entity()) {
    if (!Take(e, &rt::FeedEntity::has_vehicle, counts)) continue;
    const rt::VehiclePosition& v = e.vehicle();
    std::string id = v.vehicle().id();
    if (id.empty()) id = v.vehicle().label();
    if (id.empty()) id = e.id();
    if (id.empty() || !v.has_position()) {
      ++counts->invalid;
      continue;
    }
    const int64_t t = v.has_timestamp() ? static_cast<int64_t>(v.timestamp()) : header_t;
    if (header_t > 0 && t < header_t - options.stale_after_s) {
      ++counts->stale;
      continue;
    }
    if (!dedupe->Newer(id, t)) {
      ++counts->duplicates;
      continue;
    }
    Fix f;
    f.vehicle_id = std::move(id);
    f.timestamp_s = t;
    f.lat = v.position().latitude();
    f.lon = v.position().longitude();
    if (v.position().has_bearing()) f.bearing_deg = v.position().bearing();
    if (v.position().has_speed()) f.speed_mps = v.position().speed();
    f.trip_id = v.trip().trip_id();
    f.route_id = v.trip().route_id();
    if (AddedTrip(v.trip())) {  // a run the timetable lacks: the engine finds what it runs
      ++counts->added_trips;
      f.trip_id.clear();
    }
    if (v.has_occupancy_status()) f.occupancy = static_cast<int32_t>(v.occupancy_status());
    if (!f.trip_id.empty() && net != nullptr && !net->FindTrip(f.trip_id)) ++counts->unknown_trips;
    ++counts->used;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<TripChange> MapTripUpdates(const rt::FeedMessage& feed, const Network& net,
                                       EntityCounts* counts) {
  std::vector<TripChange> out;
  const int32_t header_date = HeaderDate(feed, net);
  const int64_t header_t = static_cast<int64_t>(feed.header().timestamp());
  for (const rt::FeedEntity& e : feed.entity()) {
    TripChange c;
    if (MapTripUpdate(e, net, header_date, header_t, counts, &c) && !c.empty())
      out.push_back(std::move(c));
  }
  return out;
}

namespace {

// One alert entity -> *out; false when not used (counted).
bool MapAlert(const rt::FeedEntity& e, int64_t header_t, EntityCounts* counts, Alert* out) {
  if (!Take(e, &rt::FeedEntity::has_alert, counts)) return false;
  const rt::Alert& in = e.alert();
  Alert& a = *out;
  a.id = e.id();
  for (const auto& p : in.active_period())
    a.active_periods.push_back({static_cast<int64_t>(p.start()), static_cast<int64_t>(p.end())});
  for (const auto& ie : in.informed_entity()) {
    InformedEntity x{ie.agency_id(), ie.route_id(), ie.trip().trip_id(), ie.stop_id()};
    if (x.agency_id.empty() && x.route_id.empty() && x.trip_id.empty() && x.stop_id.empty())
      continue;  // e.g. only a route_type: SmartBus cannot place it
    a.informed.push_back(std::move(x));
  }
  a.cause = in.cause();
  a.effect = in.effect();
  a.severity = in.severity_level();
  a.header = Text(in.header_text());
  a.description = Text(in.description_text());
  a.url = Text(in.url());
  a.created_s = header_t;
  a.source = "feed";  // replaced by the poller's source name
  if (!ServiceChanges::Validate(a).ok()) {
    ++counts->invalid;
    return false;
  }
  ++counts->used;
  return true;
}

}  // namespace

std::vector<Alert> MapAlerts(const rt::FeedMessage& feed, EntityCounts* counts) {
  std::vector<Alert> out;
  const int64_t header_t = static_cast<int64_t>(feed.header().timestamp());
  for (const rt::FeedEntity& e : feed.entity()) {
    Alert a;
    if (MapAlert(e, header_t, counts, &a)) out.push_back(std::move(a));
  }
  return out;
}

void FeedChanges::Apply(const rt::FeedMessage& feed, FeedKind kind, const Network* net,
                        EntityCounts* counts) {
  const bool differential = feed.header().incrementality() == rt::FeedHeader::DIFFERENTIAL;
  if (!differential) {
    trips_.clear();
    alerts_.clear();
  }
  const int64_t header_t = static_cast<int64_t>(feed.header().timestamp());
  const int32_t header_date =
      kind == FeedKind::kTripUpdates && net ? HeaderDate(feed, *net) : 0;
  for (const rt::FeedEntity& e : feed.entity()) {
    if (kind == FeedKind::kTripUpdates && net) {
      TripChange c;
      const bool used = MapTripUpdate(e, *net, header_date, header_t, counts, &c);
      const std::string key =
          e.id().empty() ? absl::StrCat(c.trip_id, "|", c.service_date) : e.id();
      if (e.is_deleted() || (used && c.empty())) trips_.erase(key);
      else if (used) trips_[key] = std::move(c);
    } else if (kind == FeedKind::kAlerts) {
      Alert a;
      if (MapAlert(e, header_t, counts, &a)) alerts_[e.id()] = std::move(a);
      else if (e.is_deleted()) alerts_.erase(e.id());
    }
  }
}

std::vector<TripChange> FeedChanges::trips() const {
  std::vector<TripChange> out;
  for (const auto& [key, c] : trips_) out.push_back(c);
  return out;
}

std::vector<Alert> FeedChanges::alerts() const {
  std::vector<Alert> out;
  for (const auto& [key, a] : alerts_) out.push_back(a);
  return out;
}

}  // namespace smartbus::gtfs_rt
