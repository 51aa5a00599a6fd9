// Client subcommands for service changes (OperatorService: CancelTrip, RestoreTrip, PostAlert,
// EndAlert, ListServiceChanges).
//
//   smartbus cancel TRIP_ID [--date YYYYMMDD] [--stop STOP_ID] [--stop-sequence N] [--reason T]
//   smartbus restore TRIP_ID [--date YYYYMMDD] [--stop STOP_ID] [--stop-sequence N]
//   smartbus alert post --header TEXT [--description TEXT] [--url URL] [--id ID]
//       [--route R]... [--stop S]... [--trip T]... [--agency A]... [--start T] [--end T]
//       [--cause NAME] [--effect NAME] [--severity NAME]
//     A text option may be repeated, one per language, each value "LANG:text" (e.g.
//     --header "en:Stop closed" --header "es:Parada cerrada"); a value without a language tag
//     is the default language. --start / --end: epoch seconds. Names: GTFS-RT's
//     (CONSTRUCTION, DETOUR, NO_SERVICE, WARNING, ...).
//   smartbus alert end ID
//   smartbus alert list           alerts and trip changes in force
// Common: --server HOST:PORT, --timeout S, --json (see client.h).

#include <cctype>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "smartbus/v1/operator.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace pb = ::smartbus::v1;

// "en:Text" / "pt-BR:Texto" -> (language, text); anything else is default-language text.
void AddTranslation(const std::string& v, pb::TranslatedString* out) {
  auto* t = out->add_translations();
  const size_t colon = v.find(':');
  bool tagged = colon >= 2 && colon <= 3;
  if (colon != std::string::npos && colon == 5 && v[2] == '-') tagged = true;
  for (size_t i = 0; tagged && i < colon; ++i)
    tagged = std::isalpha(static_cast<unsigned char>(v[i])) || (i == 2 && v[i] == '-');
  if (tagged && colon < 3) tagged = std::islower(static_cast<unsigned char>(v[0]));
  if (tagged) {
    t->set_language(v.substr(0, colon));
    t->set_text(v.substr(colon + 1));
  } else {
    t->set_text(v);
  }
}

template <typename Req>
bool FillTripRequest(const Args& a, Req* req, std::string* err) {
  auto date = a.GetInt("date", 0);
  auto seq = a.GetInt("stop-sequence", 0);
  if (!date.ok() || !seq.ok() || *date < 0 || *seq < 0) {
    *err = "--date (YYYYMMDD) and --stop-sequence take non-negative integers";
    return false;
  }
  req->set_trip_id(a.positional()[0]);
  req->set_service_date(static_cast<uint32_t>(*date));
  req->set_stop_id(a.Get("stop"));
  req->set_stop_sequence(static_cast<uint32_t>(*seq));
  return true;
}

void PrintTripChange(const pb::TripChange& t) {
  std::string what = t.cancelled() ? "cancelled" : "";
  for (const auto& s : t.skipped_stops())
    what += absl::StrCat(what.empty() ? "" : ", ", "skips stop ",
                         s.stop_id().empty() ? "#" : s.stop_id(),
                         s.stop_sequence() ? absl::StrCat(" (seq ", s.stop_sequence(), ")") : "");
  if (what.empty()) what = "as scheduled";
  std::printf("  trip %s on %u: %s  [%s]%s\n", t.trip_id().c_str(), t.service_date(),
              what.c_str(), t.source().c_str(),
              t.reason().empty() ? "" : absl::StrCat("  reason: ", t.reason()).c_str());
}

std::string FirstText(const pb::TranslatedString& s) {
  return s.translations_size() ? s.translations(0).text() : "";
}

void PrintAlert(const pb::ServiceAlert& a) {
  std::string about;
  for (const auto& e : a.informed_entities()) {
    std::string one;
    if (!e.agency_id().empty()) one += "agency " + e.agency_id();
    if (!e.route_id().empty()) one += (one.empty() ? "" : " ") + std::string("route ") + e.route_id();
    if (!e.trip_id().empty()) one += (one.empty() ? "" : " ") + std::string("trip ") + e.trip_id();
    if (!e.stop_id().empty()) one += (one.empty() ? "" : " ") + std::string("stop ") + e.stop_id();
    about += (about.empty() ? "" : "; ") + one;
  }
  std::printf("  alert %s [%s] %s/%s: %s  (%s)\n", a.alert_id().c_str(), a.source().c_str(),
              pb::AlertEffect_Name(a.effect()).c_str(), pb::AlertCause_Name(a.cause()).c_str(),
              FirstText(a.header_text()).c_str(), about.c_str());
}

template <typename Enum>
bool ParseEnumName(const std::string& name, bool (*parse)(const std::string&, Enum*), Enum* out,
                   const char* option, std::string* err) {
  if (name.empty()) return true;
  if (parse(name, out)) return true;
  *err = absl::StrCat("--", option, " ", name, ": not a GTFS-RT name (e.g. CONSTRUCTION, ",
                      "DETOUR, NO_SERVICE, WARNING)");
  return false;
}

int TripCall(bool cancel, int argc, char** argv) {
  const char* cmd = cancel ? "cancel" : "restore";
  const char* usage = cancel ? "smartbus cancel TRIP_ID [--date YYYYMMDD] [--stop STOP_ID] "
                               "[--stop-sequence N] [--reason TEXT]"
                             : "smartbus restore TRIP_ID [--date YYYYMMDD] [--stop STOP_ID] "
                               "[--stop-sequence N]";
  Args a;
  int code;
  std::set<std::string> known = {"date", "stop", "stop-sequence"};
  if (cancel) known.insert("reason");
  if (!ParseClientArgs(cmd, usage, argc, argv, {}, known, &a, &code)) return code;
  if (a.positional().size() != 1) return Usage(cmd, usage, "one TRIP_ID expected");
  pb::TripChangeResponse resp;
  std::string err;
  pb::CancelTripRequest cancel_req;
  pb::RestoreTripRequest restore_req;
  if (!(cancel ? FillTripRequest(a, &cancel_req, &err) : FillTripRequest(a, &restore_req, &err)))
    return Usage(cmd, usage, err);
  cancel_req.set_reason(a.Get("reason"));
  using Stub = pb::OperatorService::Stub;
  const int done = cancel ? Call(cmd, a, &Stub::CancelTrip, cancel_req, &resp)
                          : Call(cmd, a, &Stub::RestoreTrip, restore_req, &resp);
  if (done >= 0) return done;
  PrintTripChange(resp.change());
  std::printf("  now %s on that date%s\n", resp.cancelled() ? "CANCELLED" : "running",
              resp.persisted() ? "" : "  (NOT persisted yet: the store is down)");
  return 0;
}

}  // namespace

int RunCancel(int argc, char** argv) { return TripCall(true, argc, argv); }
int RunRestore(int argc, char** argv) { return TripCall(false, argc, argv); }

int RunAlertPost(int argc, char** argv) {
  const char* usage =
      "smartbus alert post --header [LANG:]TEXT [--description [LANG:]TEXT] [--url [LANG:]URL] "
      "[--id ID] [--route R]... [--stop S]... [--trip T]... [--agency A]... [--start T] "
      "[--end T] [--cause NAME] [--effect NAME] [--severity NAME]";
  Args a;
  int code;
  if (!ParseClientArgs("alert post", usage, argc, argv, {},
                       {"header", "description", "url", "id", "route", "stop", "trip", "agency",
                        "start", "end", "cause", "effect", "severity"},
                       &a, &code))
    return code;
  if (!a.positional().empty()) return Usage("alert post", usage, "no positional arguments");
  pb::PostAlertRequest req;
  pb::ServiceAlert* al = req.mutable_alert();
  al->set_alert_id(a.Get("id"));
  for (const auto& v : a.GetAll("header")) AddTranslation(v, al->mutable_header_text());
  for (const auto& v : a.GetAll("description")) AddTranslation(v, al->mutable_description_text());
  for (const auto& v : a.GetAll("url")) AddTranslation(v, al->mutable_url());
  for (const auto& v : a.GetAll("route")) al->add_informed_entities()->set_route_id(v);
  for (const auto& v : a.GetAll("stop")) al->add_informed_entities()->set_stop_id(v);
  for (const auto& v : a.GetAll("trip")) al->add_informed_entities()->set_trip_id(v);
  for (const auto& v : a.GetAll("agency")) al->add_informed_entities()->set_agency_id(v);
  auto start = a.GetInt("start", 0);
  auto end = a.GetInt("end", 0);
  if (!start.ok() || !end.ok())
    return Usage("alert post", usage, "--start and --end take epoch seconds");
  if (*start || *end) {
    auto* p = al->add_active_periods();
    p->set_start(*start);
    p->set_end(*end);
  }
  std::string err;
  pb::AlertCause cause = pb::ALERT_CAUSE_UNSPECIFIED;
  pb::AlertEffect effect = pb::ALERT_EFFECT_UNSPECIFIED;
  pb::AlertSeverity severity = pb::ALERT_SEVERITY_UNSPECIFIED;
  if (!ParseEnumName(a.Get("cause"), &pb::AlertCause_Parse, &cause, "cause", &err) ||
      !ParseEnumName(a.Get("effect"), &pb::AlertEffect_Parse, &effect, "effect", &err) ||
      !ParseEnumName(a.Get("severity"), &pb::AlertSeverity_Parse, &severity, "severity", &err))
    return Usage("alert post", usage, err);
  al->set_cause(cause);
  al->set_effect(effect);
  al->set_severity(severity);
  pb::PostAlertResponse resp;
  const int done = Call("alert post", a, &pb::OperatorService::Stub::PostAlert, req, &resp);
  if (done >= 0) return done;
  PrintAlert(resp.alert());
  if (!resp.persisted()) std::printf("  (NOT persisted yet: the store is down)\n");
  return 0;
}

int RunAlertEnd(int argc, char** argv) {
  const char* usage = "smartbus alert end ALERT_ID";
  Args a;
  int code;
  if (!ParseClientArgs("alert end", usage, argc, argv, {}, {}, &a, &code)) return code;
  if (a.positional().size() != 1) return Usage("alert end", usage, "one ALERT_ID expected");
  pb::EndAlertRequest req;
  req.set_alert_id(a.positional()[0]);
  pb::EndAlertResponse resp;
  const int done = Call("alert end", a, &pb::OperatorService::Stub::EndAlert, req, &resp);
  if (done >= 0) return done;
  std::printf("  alert %s ended%s\n", req.alert_id().c_str(),
                   resp.persisted() ? "" : "  (NOT persisted yet: the store is down)");
  return 0;
}

int RunAlertList(int argc, char** argv) {
  const char* usage = "smartbus alert list";
  Args a;
  int code;
  if (!ParseClientArgs("alert list", usage, argc, argv, {}, {}, &a, &code)) return code;
  pb::ListServiceChangesResponse resp;
  const int done = Call("alert list", a, &pb::OperatorService::Stub::ListServiceChanges,
                        pb::ListServiceChangesRequest(), &resp);
  if (done >= 0) return done;
  std::printf("%d alerts, %d trip changes\n", resp.alerts_size(), resp.trips_size());
  for (const auto& al : resp.alerts()) PrintAlert(al);
  for (const auto& t : resp.trips()) PrintTripChange(t);
  return 0;
}

}  // namespace smartbus::cli
