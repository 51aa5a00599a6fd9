// Before any header that may pull <netdb.h> (NO_DATA macro vs the generated enum).
#include "transit_realtime/gtfs-realtime.pb.h"

#include "services/server/service_changes_view.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "services/server/server.h"

namespace smartbus::server {
namespace {

namespace rt = ::transit_realtime;

void SetText(const TranslatedText& in, rt::TranslatedString* out) {
  for (const Translation& t : in) {
    rt::TranslatedString::Translation* o = out->add_translation();
    o->set_text(t.text);
    if (!t.language.empty()) o->set_language(t.language);
  }
}

void FillAlert(const Alert& a, rt::Alert* out) {
  for (const ActivePeriod& p : a.active_periods) {
    rt::TimeRange* r = out->add_active_period();
    if (p.start_s != 0) r->set_start(static_cast<uint64_t>(p.start_s));
    if (p.end_s != 0) r->set_end(static_cast<uint64_t>(p.end_s));
  }
  for (const InformedEntity& ie : a.informed) {
    rt::EntitySelector* s = out->add_informed_entity();
    if (!ie.agency_id.empty()) s->set_agency_id(ie.agency_id);
    if (!ie.route_id.empty()) s->set_route_id(ie.route_id);
    if (!ie.trip_id.empty()) s->mutable_trip()->set_trip_id(ie.trip_id);
    if (!ie.stop_id.empty()) s->set_stop_id(ie.stop_id);
  }
  // The model keeps the GTFS-RT numbers; one it does not know is left out (UNKNOWN_*).
  if (rt::Alert::Cause_IsValid(a.cause)) out->set_cause(static_cast<rt::Alert::Cause>(a.cause));
  if (rt::Alert::Effect_IsValid(a.effect))
    out->set_effect(static_cast<rt::Alert::Effect>(a.effect));
  if (rt::Alert::SeverityLevel_IsValid(a.severity))
    out->set_severity_level(static_cast<rt::Alert::SeverityLevel>(a.severity));
  SetText(a.header, out->mutable_header_text());
  if (!a.description.empty()) SetText(a.description, out->mutable_description_text());
  if (!a.url.empty()) SetText(a.url, out->mutable_url());
}

class KeeperChangesView final : public ServiceChangesView {
 public:
  explicit KeeperChangesView(const SmartbusServer* server) : server_(server) {}

  std::vector<std::pair<std::string, int32_t>> CanceledTrips(int64_t now) const override {
    std::vector<std::pair<std::string, int32_t>> out;
    const std::shared_ptr<const ServiceChangeSet> set = server_->service_changes().Current();
    if (set->trips().empty()) return out;
    const std::shared_ptr<const Network> net = server_->view()->network;
    for (const TripChange& t : set->trips()) {
      if (!t.cancelled) continue;
      if (t.service_date != 0) {
        out.emplace_back(t.trip_id, t.service_date);
        continue;
      }
      // Every date: the instance running now (or next today). Unknown trips have no instance.
      if (const std::optional<TripIdx> trip = net->FindTrip(t.trip_id))
        out.emplace_back(t.trip_id, ServiceDateInForce(*net, *trip, now));
    }
    return out;
  }

  bool StopSkipped(const std::string& trip_id, int32_t service_date, const std::string& stop_id,
                   uint32_t stop_sequence) const override {
    return server_->service_changes().Current()->TripStatus(trip_id, service_date, stop_id,
                                                            stop_sequence) ==
           StopStatus::kSkipped;
  }

  void AppendAlerts(int64_t now, rt::FeedMessage* feed) const override {
    for (const Alert& a : server_->service_changes().Current()->alerts()) {
      if (!a.ActiveOrFutureAt(now)) continue;
      rt::FeedEntity* e = feed->add_entity();
      e->set_id(a.Key());  // source|id: stable, and unique across sources
      FillAlert(a, e->mutable_alert());
    }
  }

 private:
  const SmartbusServer* const server_;
};

int32_t YyyyMmDdOf(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

class CancelledTripsLiveTimes final : public planner::LiveTimes {
 public:
  explicit CancelledTripsLiveTimes(const SmartbusServer* server) : server_(server) {}

  uint64_t version() const override {
    // A date-0 cancellation expands around today: a new day is a new snapshot.
    const uint64_t day = static_cast<uint64_t>(server_->Now() / 86400);
    return server_->service_changes().Current()->version() * 1000003u + day;
  }

  void Snapshot(std::vector<planner::LiveTrip>* out) const override {
    out->clear();
    const std::shared_ptr<const ServiceChangeSet> set = server_->service_changes().Current();
    if (set->trips().empty()) return;
    const std::shared_ptr<const Network> net = server_->view()->network;
    const GtfsFeed& feed = net->feed();
    const absl::CivilDay today =
        absl::ToCivilDay(absl::FromUnixSeconds(server_->Now()), net->time_zone());
    for (const TripChange& t : set->trips()) {
      if (!t.cancelled) continue;
      const std::optional<TripIdx> trip = net->FindTrip(t.trip_id);
      if (!trip) continue;
      auto add = [&](int32_t date) {
        planner::LiveTrip lt;
        lt.trip = *trip;
        lt.service_date = date;
        lt.cancelled = true;
        out->push_back(std::move(lt));
      };
      if (t.service_date != 0) {
        add(t.service_date);
        continue;
      }
      for (const absl::CivilDay d : {today - 1, today, today + 1})
        if (feed.ServiceRunsOn(feed.trips[*trip].service, YyyyMmDdOf(d))) add(YyyyMmDdOf(d));
    }
  }

 private:
  const SmartbusServer* const server_;
};

}  // namespace

std::unique_ptr<ServiceChangesView> MakeServiceChangesView(const SmartbusServer* server) {
  return std::make_unique<KeeperChangesView>(server);
}

std::unique_ptr<planner::LiveTimes> MakeCancelledTripsLiveTimes(const SmartbusServer* server) {
  return std::make_unique<CancelledTripsLiveTimes>(server);
}

}  // namespace smartbus::server
