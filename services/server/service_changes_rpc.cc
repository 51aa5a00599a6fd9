#include "services/server/service_changes_rpc.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "services/server/server.h"
#include "services/server/service_changes_convert.h"

namespace smartbus::server {
namespace {

constexpr size_t kMaxReasonBytes = 1000;

struct ResolvedTrip {
  TripIdx trip = kNoIndex;
  int32_t service_date = 0;
  bool has_stop = false;
  SkippedStop stop;
};

// Checks trip_id, service_date and the optional stop against the loaded network.
template <typename Req>
absl::StatusOr<ResolvedTrip> ResolveTrip(const SmartbusServer& server, const Req& req) {
  if (req.trip_id().empty())
    return absl::InvalidArgumentError("trip_id: required (a GTFS trip_id of the loaded feeds)");
  auto view = server.view();
  const Network& net = *view->network;
  auto trip = net.FindTrip(req.trip_id());
  if (!trip)
    return absl::NotFoundError(
        absl::StrCat("trip_id \"", req.trip_id(), "\": no such trip in the loaded feeds"));
  ResolvedTrip r;
  r.trip = *trip;
  const uint32_t d = req.service_date();
  if (d != 0 && (d < 19000101 || d > 29991231 || d % 100 == 0 || d % 100 > 31 ||
                 (d / 100) % 100 == 0 || (d / 100) % 100 > 12))
    return absl::InvalidArgumentError(
        absl::StrCat("service_date=", d, ": need YYYYMMDD (or 0 for the date in force now)"));
  r.service_date = d != 0 ? static_cast<int32_t>(d) : ServiceDateInForce(net, *trip, server.Now());
  if (req.stop_id().empty() && req.stop_sequence() == 0) return r;
  const GtfsFeed& feed = net.feed();
  const GtfsTrip& t = feed.trips[*trip];
  bool found = false;
  for (uint32_t i = 0; i < t.num_stop_times && !found; ++i) {
    const GtfsStopTime& st = feed.stop_times[t.first_stop_time + i];
    found = (req.stop_id().empty() || feed.stops[st.stop].id == req.stop_id()) &&
            (req.stop_sequence() == 0 || st.stop_sequence == req.stop_sequence());
  }
  if (!found)
    return absl::NotFoundError(absl::StrCat("stop_id \"", req.stop_id(), "\" stop_sequence ",
                                            req.stop_sequence(), ": not a stop of trip \"",
                                            req.trip_id(), "\""));
  r.has_stop = true;
  r.stop = SkippedStop{req.stop_id(), req.stop_sequence()};
  return r;
}

void FillTripResponse(const SmartbusServer& server, const std::string& trip_id, int32_t date,
                      bool persisted, pb::TripChangeResponse* resp) {
  auto cur = server.service_changes().Current();
  TripChange op;
  op.source = kOperatorSource;
  op.trip_id = trip_id;
  op.service_date = date;
  for (const TripChange* t : cur->ChangesOf(trip_id, date))
    if (t->source == kOperatorSource && t->service_date == date) op = *t;
  TripChangeToProto(op, resp->mutable_change());
  resp->set_persisted(persisted);
  resp->set_cancelled(cur->TripCancelled(trip_id, date));
}

absl::Status CheckEntities(const Network& net, const Alert& a) {
  for (size_t i = 0; i < a.informed.size(); ++i) {
    const InformedEntity& e = a.informed[i];
    const char* what = nullptr;
    const std::string* id = nullptr;
    if (!e.route_id.empty() && !net.FindRoute(e.route_id)) what = "route_id", id = &e.route_id;
    if (!e.stop_id.empty() && !net.FindStop(e.stop_id)) what = "stop_id", id = &e.stop_id;
    if (!e.trip_id.empty() && !net.FindTrip(e.trip_id)) what = "trip_id", id = &e.trip_id;
    if (what)
      return absl::NotFoundError(absl::StrCat("informed_entities[", i, "].", what, " \"", *id,
                                              "\": not in the loaded feeds"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CancelTripCall(const SmartbusServer& server, const pb::CancelTripRequest& req,
                            pb::TripChangeResponse* resp) {
  if (req.reason().size() > kMaxReasonBytes)
    return absl::InvalidArgumentError(absl::StrCat("reason: ", req.reason().size(),
                                                   " bytes, at most ", kMaxReasonBytes));
  auto r = ResolveTrip(server, req);
  if (!r.ok()) return r.status();
  const int64_t now = server.Now();
  auto persisted = server.service_changes().Edit([&](ServiceChanges& c) {
    return c.Cancel(kOperatorSource, req.trip_id(), r->service_date,
                    r->has_stop ? &r->stop : nullptr, req.reason(), now);
  });
  if (!persisted.ok()) return persisted.status();
  server.Log(absl::StrCat("operator: cancelled trip ", req.trip_id(), " on ", r->service_date,
                          r->has_stop ? absl::StrCat(" at stop ", req.stop_id(), " seq ",
                                                     req.stop_sequence())
                                      : std::string()));
  FillTripResponse(server, req.trip_id(), r->service_date, *persisted, resp);
  return absl::OkStatus();
}

absl::Status RestoreTripCall(const SmartbusServer& server, const pb::RestoreTripRequest& req,
                             pb::TripChangeResponse* resp) {
  auto r = ResolveTrip(server, req);
  if (!r.ok()) return r.status();
  auto persisted = server.service_changes().Edit([&](ServiceChanges& c) {
    return c.Restore(kOperatorSource, req.trip_id(), r->service_date,
                     r->has_stop ? &r->stop : nullptr);
  });
  if (!persisted.ok()) return persisted.status();
  server.Log(absl::StrCat("operator: restored trip ", req.trip_id(), " on ", r->service_date,
                          r->has_stop ? absl::StrCat(" at stop ", req.stop_id()) : std::string()));
  FillTripResponse(server, req.trip_id(), r->service_date, *persisted, resp);
  return absl::OkStatus();
}

absl::Status PostAlertCall(const SmartbusServer& server, const pb::PostAlertRequest& req,
                           pb::PostAlertResponse* resp) {
  auto alert = AlertFromProto(req.alert());
  if (!alert.ok()) return alert.status();
  if (auto s = CheckEntities(*server.view()->network, *alert); !s.ok()) return s;
  static std::atomic<uint64_t> next_id{0};
  alert->source = kOperatorSource;
  alert->created_s = server.Now();
  if (alert->id.empty()) alert->id = absl::StrCat("op-", alert->created_s, "-", ++next_id);
  auto persisted = server.service_changes().Edit(
      [&](ServiceChanges& c) { return c.PostAlert(*alert); });
  if (!persisted.ok()) return persisted.status();
  server.Log(absl::StrCat("operator: posted alert ", alert->id));
  AlertToProto(*alert, resp->mutable_alert());
  resp->set_persisted(*persisted);
  return absl::OkStatus();
}

absl::Status EndAlertCall(const SmartbusServer& server, const pb::EndAlertRequest& req,
                          pb::EndAlertResponse* resp) {
  if (req.alert_id().empty()) return absl::InvalidArgumentError("alert_id: required");
  auto persisted = server.service_changes().Edit(
      [&](ServiceChanges& c) { return c.EndAlert(kOperatorSource, req.alert_id()); });
  if (!persisted.ok()) return persisted.status();
  server.Log(absl::StrCat("operator: ended alert ", req.alert_id()));
  resp->set_persisted(*persisted);
  return absl::OkStatus();
}

void ListServiceChangesCall(const SmartbusServer& server, pb::ListServiceChangesResponse* resp) {
  auto cur = server.service_changes().Current();
  resp->set_now(server.Now());
  for (const Alert& a : cur->alerts()) AlertToProto(a, resp->add_alerts());
  for (const TripChange& t : cur->trips()) TripChangeToProto(t, resp->add_trips());
}

}  // namespace smartbus::server
