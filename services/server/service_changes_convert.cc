#include "services/server/service_changes_convert.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace smartbus::server {
namespace {

void TextToProto(const TranslatedText& t, pb::TranslatedString* out) {
  for (const Translation& x : t) {
    auto* o = out->add_translations();
    o->set_text(x.text);
    o->set_language(x.language);
  }
}

absl::Status TextFromProto(const pb::TranslatedString& in, const char* field,
                           TranslatedText* out) {
  if (in.translations_size() > kMaxAlertTranslations)
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", in.translations_size(),
                                                   " translations, at most ",
                                                   kMaxAlertTranslations));
  for (int i = 0; i < in.translations_size(); ++i) {
    const auto& x = in.translations(i);
    if (x.text().size() > kMaxAlertTextBytes || x.language().size() > 64)
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".translations[", i, "]: text of ", x.text().size(),
          " bytes (at most ", kMaxAlertTextBytes, ") or language over 64 bytes"));
    if (x.text().empty()) continue;
    out->push_back(Translation{x.language(), x.text()});
  }
  return absl::OkStatus();
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

void AlertToProto(const Alert& a, pb::ServiceAlert* out) {
  out->set_alert_id(a.id);
  out->set_source(a.source);
  for (const ActivePeriod& p : a.active_periods) {
    auto* r = out->add_active_periods();
    r->set_start(p.start_s);
    r->set_end(p.end_s);
  }
  for (const InformedEntity& e : a.informed) {
    auto* o = out->add_informed_entities();
    o->set_agency_id(e.agency_id);
    o->set_route_id(e.route_id);
    o->set_trip_id(e.trip_id);
    o->set_stop_id(e.stop_id);
  }
  if (pb::AlertCause_IsValid(a.cause)) out->set_cause(static_cast<pb::AlertCause>(a.cause));
  if (pb::AlertEffect_IsValid(a.effect)) out->set_effect(static_cast<pb::AlertEffect>(a.effect));
  if (pb::AlertSeverity_IsValid(a.severity))
    out->set_severity(static_cast<pb::AlertSeverity>(a.severity));
  TextToProto(a.header, out->mutable_header_text());
  if (!a.description.empty()) TextToProto(a.description, out->mutable_description_text());
  if (!a.url.empty()) TextToProto(a.url, out->mutable_url());
  out->set_created(a.created_s);
}

void TripChangeToProto(const TripChange& t, pb::TripChange* out) {
  out->set_trip_id(t.trip_id);
  out->set_service_date(static_cast<uint32_t>(t.service_date));
  out->set_cancelled(t.cancelled);
  for (const SkippedStop& s : t.skipped) {
    auto* o = out->add_skipped_stops();
    o->set_stop_id(s.stop_id);
    o->set_stop_sequence(s.stop_sequence);
  }
  out->set_source(t.source);
  out->set_reason(t.reason);
  out->set_updated(t.updated_s);
}

absl::StatusOr<Alert> AlertFromProto(const pb::ServiceAlert& in) {
  Alert a;
  a.id = in.alert_id();
  if (a.id.size() > 200)
    return absl::InvalidArgumentError(
        absl::StrCat("alert_id: ", a.id.size(), " bytes, at most 200"));
  if (in.informed_entities_size() > kMaxAlertEntities)
    return absl::InvalidArgumentError(absl::StrCat("informed_entities: ",
                                                   in.informed_entities_size(),
                                                   " entities, at most ", kMaxAlertEntities));
  if (in.active_periods_size() > kMaxAlertPeriods)
    return absl::InvalidArgumentError(absl::StrCat("active_periods: ", in.active_periods_size(),
                                                   " periods, at most ", kMaxAlertPeriods));
  for (const auto& p : in.active_periods()) a.active_periods.push_back({p.start(), p.end()});
  for (const auto& e : in.informed_entities())
    a.informed.push_back({e.agency_id(), e.route_id(), e.trip_id(), e.stop_id()});
  a.cause = in.cause() == 0 ? kUnknownCause : in.cause();
  a.effect = in.effect() == 0 ? kUnknownEffect : in.effect();
  a.severity = in.severity() == 0 ? kUnknownSeverity : in.severity();
  if (auto s = TextFromProto(in.header_text(), "header_text", &a.header); !s.ok()) return s;
  if (auto s = TextFromProto(in.description_text(), "description_text", &a.description); !s.ok())
    return s;
  if (auto s = TextFromProto(in.url(), "url", &a.url); !s.ok()) return s;
  return a;
}

AlertSelector StopAlertSelector(const Network& net, uint32_t stop,
                                const std::vector<uint32_t>& trips) {
  const GtfsFeed& feed = net.feed();
  AlertSelector sel;
  sel.stop_id = feed.stops[stop].id;
  if (feed.stops[stop].parent_station < feed.stops.size())
    sel.parent_station = feed.stops[feed.stops[stop].parent_station].id;
  for (const auto& [pat, pos] : net.stop_patterns(stop)) {
    const uint32_t r = net.pattern(pat).route;
    if (r >= feed.routes.size()) continue;
    AddUnique(&sel.route_ids, feed.routes[r].id);
    if (feed.routes[r].agency < feed.agencies.size())
      AddUnique(&sel.agency_ids, feed.agencies[feed.routes[r].agency].id);
  }
  for (uint32_t t : trips)
    if (t < feed.trips.size()) AddUnique(&sel.trip_ids, feed.trips[t].id);
  return sel;
}

AlertSelector TripAlertSelector(const Network& net, TripIdx trip) {
  const GtfsFeed& feed = net.feed();
  AlertSelector sel;
  if (trip >= feed.trips.size()) return sel;
  sel.trip_ids.push_back(feed.trips[trip].id);
  const uint32_t r = feed.trips[trip].route;
  if (r < feed.routes.size()) {
    sel.route_ids.push_back(feed.routes[r].id);
    if (feed.routes[r].agency < feed.agencies.size())
      sel.agency_ids.push_back(feed.agencies[feed.routes[r].agency].id);
  }
  return sel;
}

void AddBoardAlerts(const Network& net, const std::vector<uint32_t>& stops,
                    const std::vector<uint32_t>& trips, const ServiceChangeSet& changes,
                    int64_t now_s, pb::ArrivalsBoard* out) {
  if (changes.alerts().empty()) return;
  std::vector<const Alert*> alerts;
  for (uint32_t stop : stops)
    for (const Alert* a : changes.AlertsFor(StopAlertSelector(net, stop, trips), now_s))
      if (std::find(alerts.begin(), alerts.end(), a) == alerts.end()) alerts.push_back(a);
  std::sort(alerts.begin(), alerts.end(), [](const Alert* a, const Alert* b) {
    return std::tie(a->source, a->id) < std::tie(b->source, b->id);
  });
  for (const Alert* a : alerts) AlertToProto(*a, out->add_alerts());
}

}  // namespace smartbus::server
