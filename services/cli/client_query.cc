// Client subcommands that query a running smartbusd (one RPC each, `watch` a stream).
//
//   smartbus arrivals STOP_ID [--limit N] [--horizon S] [--route R] [--live-only]
//   smartbus watch STOP_ID [--heartbeat S] [--min-interval-ms MS] [--count N] (+ arrivals opts)
//   smartbus nearby LAT LON [--radius M] [--limit N]
//   smartbus stops QUERY [--limit N]          stops by name (substring) or stop_code / stop_id
//   smartbus stop STOP_ID
//   smartbus routes [ROUTE_ID...] [--shapes]
//   smartbus vehicle VEHICLE_ID
//   smartbus vehicles (--route R | --box SOUTH,WEST,NORTH,EAST) [--limit N]
//   smartbus fleet [--route R] [--stale S]   (with each reporting bus's condition)
//   smartbus health                           exit 0 when serving (storage too), 1 otherwise
//   smartbus status                           server counters (shards, queues, store)
// Common: --server HOST:PORT, --timeout S, --json (see client.h).

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/server/health_names.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace pb = ::smartbus::v1;

const char* SourceName(pb::PredictionSource s) {
  switch (s) {
    case pb::PREDICTION_SOURCE_SCHEDULE: return "schedule";
    case pb::PREDICTION_SOURCE_HISTORY: return "history";
    case pb::PREDICTION_SOURCE_LIVE: return "live";
    default: return "-";
  }
}

const char* StatusName(pb::VehicleStatus s) {
  switch (s) {
    case pb::VEHICLE_STATUS_IN_SERVICE: return "in_service";
    case pb::VEHICLE_STATUS_LAYOVER: return "layover";
    case pb::VEHICLE_STATUS_OFF_ROUTE: return "off_route";
    case pb::VEHICLE_STATUS_UNASSIGNED: return "unassigned";
    default: return "-";
  }
}

std::string OccupancyName(pb::Occupancy o) {
  if (o == pb::OCCUPANCY_UNKNOWN) return "";
  std::string n = pb::Occupancy_Name(o).substr(10);  // drop "OCCUPANCY_"
  for (char& c : n) c = static_cast<char>(c == '_' ? ' ' : std::tolower(c));
  return n;
}

std::string Distance(double m) {
  if (!std::isfinite(m)) return "";
  return m < 1000 ? absl::StrFormat("%.0f m", m) : absl::StrFormat("%.1f km", m / 1000);
}

void PrintBoard(const pb::ArrivalsBoard& b) {
  // Clock times in the agency's zone: a rider reads the board against the stop's clocks.
  const absl::TimeZone tz = ZoneOrLocal(b.time_zone());
  auto ClockTime = [&](int64_t t) { return cli::ClockTime(t, tz); };
  std::printf("%s  %s%s  at %s%s\n", b.stop_id().c_str(), b.stop_name().c_str(),
              b.stop_code().empty() ? "" : absl::StrCat(" (code ", b.stop_code(), ")").c_str(),
              ClockTime(b.now()).c_str(), b.heartbeat() ? "  (no change)" : "");
  for (const pb::ServiceAlert& al : b.alerts())
    std::printf("  ALERT %s\n", al.header_text().translations_size()
                                   ? al.header_text().translations(0).text().c_str()
                                   : al.alert_id().c_str());
  if (b.arrivals_size() == 0) {
    std::printf("  no arrivals in the window\n");
    return;
  }
  std::printf("  %-8s %-24s %-9s %-7s %-19s %-9s %-8s %-10s %-20s %s\n", "ROUTE", "TO", "DUE",
              "IN", "P10-P90", "SCHED", "DELAY", "VEHICLE", "AWAY", "SOURCE");
  for (const pb::Arrival& a : b.arrivals()) {
    const int64_t in_s = a.predicted_arrival() - b.now();
    std::string in = in_s <= 30 ? "due" : absl::StrCat(in_s / 60, " min");
    if (a.status() == pb::ARRIVAL_STATUS_CANCELLED) in = "CANCELLED";
    if (a.status() == pb::ARRIVAL_STATUS_SKIPPED) in = "SKIPS";
    std::string away;
    if (a.live()) {
      away = Distance(a.distance_m());
      if (a.stops_away() >= 0)
        away += absl::StrCat(away.empty() ? "" : ", ", a.stops_away(),
                             a.stops_away() == 1 ? " stop" : " stops");
    }
    std::string occ = OccupancyName(a.occupancy());
    std::printf("  %-8s %-24.24s %-9s %-7s %-19s %-9s %-8s %-10s %-20s %s%s\n",
                (a.route_short_name().empty() ? a.route_id() : a.route_short_name()).c_str(),
                a.headsign().c_str(), ClockTime(a.predicted_arrival()).c_str(), in.c_str(),
                a.live() ? absl::StrCat(ClockTime(a.predicted_arrival_p10()).substr(0, 5), "-",
                                        ClockTime(a.predicted_arrival_p90()).substr(0, 5))
                               .c_str()
                         : "",
                ClockTime(a.scheduled_arrival()).c_str(),
                a.live() ? SignedDuration(static_cast<int64_t>(a.delay_s())).c_str() : "",
                a.vehicle_id().c_str(), away.c_str(), a.live() ? SourceName(a.source()) : "scheduled",
                occ.empty() ? "" : absl::StrCat(", ", occ).c_str());
  }
}

void PrintVehicleLine(const pb::Vehicle& v) {
  std::printf("  %-10s %-11s %-8s %-28.28s %-9s %-8s %-7s %-10s %s%s\n", v.vehicle_id().c_str(),
              StatusName(v.status()),
              (v.route_short_name().empty() ? v.route_id() : v.route_short_name()).c_str(),
              v.trip_id().c_str(),
              v.has_delay_s() ? SignedDuration(static_cast<int64_t>(v.delay_s())).c_str() : "",
              v.has_speed_mps() ? absl::StrFormat("%.0f km/h", v.speed_mps() * 3.6).c_str() : "",
              absl::StrCat(v.age_s(), "s").c_str(), ClockTime(v.last_seen()).c_str(),
              absl::StrFormat("%.5f,%.5f", v.position().lat(), v.position().lon()).c_str(),
              v.stale() ? "  STALE" : "");
}

void PrintVehicleHeader() {
  std::printf("  %-10s %-11s %-8s %-28s %-9s %-8s %-7s %-10s %s\n", "VEHICLE", "STATUS", "ROUTE",
              "TRIP", "DELAY", "SPEED", "AGE", "LAST SEEN", "POSITION");
}

void PrintStop(const pb::Stop& s, double distance_m = NAN) {
  std::string routes;
  for (const auto& r : s.route_ids()) routes += (routes.empty() ? "" : " ") + r;
  std::printf("  %-14s %-8s %-40.40s %-10s %.6f,%.6f  routes: %s\n", s.stop_id().c_str(),
              s.stop_code().c_str(), s.name().c_str(), Distance(distance_m).c_str(),
              s.position().lat(), s.position().lon(), routes.c_str());
}

bool FillArrivals(const Args& a, pb::GetArrivalsRequest* req, std::string* err) {
  auto limit = a.GetInt("limit", 10);
  auto horizon = a.GetInt("horizon", 3600);
  if (!limit.ok()) return *err = std::string(limit.status().message()), false;
  if (!horizon.ok()) return *err = std::string(horizon.status().message()), false;
  if (*limit < 0 || *horizon < 0) return *err = "--limit and --horizon must be >= 0", false;
  req->set_stop_id(a.positional()[0]);
  req->set_limit(static_cast<uint32_t>(*limit));
  req->set_horizon_s(*horizon);
  req->set_route_id(a.Get("route"));
  req->set_live_only(a.Has("live-only"));
  return true;
}

}  // namespace

int RunArrivals(int argc, char** argv) {
  const char* usage =
      "smartbus arrivals STOP_ID [--limit N] [--horizon S] [--route R] [--live-only]";
  Args a;
  int code;
  if (!ParseClientArgs("arrivals", usage, argc, argv, {"live-only"},
                       {"limit", "horizon", "route", "live-only"}, &a, &code))
    return code;
  if (a.positional().size() != 1) return Usage("arrivals", usage, "one STOP_ID expected");
  pb::GetArrivalsRequest req;
  std::string err;
  if (!FillArrivals(a, &req, &err)) return Usage("arrivals", usage, err);
  pb::ArrivalsBoard board;
  const int done = Call("arrivals", a, &pb::PassengerService::Stub::GetArrivals, req, &board);
  if (done >= 0) return done;
  PrintBoard(board);
  return 0;
}

int RunWatch(int argc, char** argv) {
  const char* usage =
      "smartbus watch STOP_ID [--limit N] [--horizon S] [--route R] [--live-only] "
      "[--heartbeat S] [--min-interval-ms MS] [--count N]";
  Args a;
  int code;
  if (!ParseClientArgs("watch", usage, argc, argv, {"live-only"},
                       {"limit", "horizon", "route", "live-only", "heartbeat", "min-interval-ms",
                        "count"},
                       &a, &code))
    return code;
  if (a.positional().size() != 1) return Usage("watch", usage, "one STOP_ID expected");
  pb::WatchArrivalsRequest req;
  std::string err;
  if (!FillArrivals(a, req.mutable_query(), &err)) return Usage("watch", usage, err);
  auto hb = a.GetInt("heartbeat", 15);
  auto mi = a.GetInt("min-interval-ms", 500);
  auto count = a.GetInt("count", 0);
  if (!hb.ok() || !mi.ok() || !count.ok())
    return Usage("watch", usage, "--heartbeat, --min-interval-ms and --count take integers");
  req.set_heartbeat_s(static_cast<uint32_t>(*hb));
  req.set_min_interval_ms(static_cast<uint32_t>(*mi));
  const std::string addr = ServerAddress(a);
  auto stub = pb::PassengerService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;  // no deadline: a board runs until stopped
  auto reader = stub->WatchArrivals(&ctx, req);
  pb::ArrivalsBoard board;
  const bool tty = isatty(fileno(stdout));
  int64_t n = 0;
  while (reader->Read(&board)) {
    if (a.Has("json")) {
      std::fputs(ToJson(board, false).c_str(), stdout);
    } else {
      if (tty) std::fputs("\x1b[H\x1b[2J", stdout);
      PrintBoard(board);
      if (!tty) std::fputs("\n", stdout);
    }
    std::fflush(stdout);
    if (*count > 0 && ++n >= *count) {
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (*count > 0 && n >= *count) return 0;
  if (!s.ok()) return CallFailed("watch", addr, s);
  return 0;
}

int RunNearby(int argc, char** argv) {
  const char* usage = "smartbus nearby LAT LON [--radius M] [--limit N]";
  Args a;
  int code;
  if (!ParseClientArgs("nearby", usage, argc, argv, {}, {"radius", "limit"}, &a, &code))
    return code;
  double lat, lon;
  if (a.positional().size() != 2 || !absl::SimpleAtod(a.positional()[0], &lat) ||
      !absl::SimpleAtod(a.positional()[1], &lon))
    return Usage("nearby", usage, "LAT LON expected (degrees)");
  auto radius = a.GetDouble("radius", 500);
  auto limit = a.GetInt("limit", 20);
  if (!radius.ok() || !limit.ok()) return Usage("nearby", usage, "--radius and --limit take numbers");
  pb::FindStopsNearRequest req;
  req.mutable_position()->set_lat(lat);
  req.mutable_position()->set_lon(lon);
  req.set_radius_m(*radius);
  req.set_limit(static_cast<uint32_t>(*limit));
  pb::FindStopsNearResponse resp;
  const int done = Call("nearby", a, &pb::PassengerService::Stub::FindStopsNear, req, &resp);
  if (done >= 0) return done;
  std::printf("%d stops within %.0f m of %.6f,%.6f\n", resp.stops_size(), *radius, lat, lon);
  for (const auto& sd : resp.stops()) PrintStop(sd.stop(), sd.distance_m());
  return 0;
}

int RunStops(int argc, char** argv) {
  const char* usage = "smartbus stops QUERY [--limit N]   (name substring, stop_code or stop_id)";
  Args a;
  int code;
  if (!ParseClientArgs("stops", usage, argc, argv, {}, {"limit"}, &a, &code)) return code;
  if (a.positional().empty()) return Usage("stops", usage, "QUERY expected");
  std::string q;
  for (const auto& p : a.positional()) q += (q.empty() ? "" : " ") + p;
  auto limit = a.GetInt("limit", 20);
  if (!limit.ok()) return Usage("stops", usage, std::string(limit.status().message()));
  pb::SearchStopsRequest req;
  req.set_query(q);
  req.set_limit(static_cast<uint32_t>(*limit));
  pb::SearchStopsResponse resp;
  const int done = Call("stops", a, &pb::NetworkService::Stub::SearchStops, req, &resp);
  if (done >= 0) return done;
  std::printf("%d stops matching \"%s\"\n", resp.stops_size(), q.c_str());
  for (const auto& st : resp.stops()) PrintStop(st);
  return 0;
}

int RunStop(int argc, char** argv) {
  const char* usage = "smartbus stop STOP_ID";
  Args a;
  int code;
  if (!ParseClientArgs("stop", usage, argc, argv, {}, {}, &a, &code)) return code;
  if (a.positional().size() != 1) return Usage("stop", usage, "one STOP_ID expected");
  pb::GetStopRequest req;
  req.set_stop_id(a.positional()[0]);
  pb::Stop resp;
  const int done = Call("stop", a, &pb::NetworkService::Stub::GetStop, req, &resp);
  if (done >= 0) return done;
  PrintStop(resp);
  return 0;
}

int RunRoutes(int argc, char** argv) {
  const char* usage = "smartbus routes [ROUTE_ID...] [--shapes]";
  Args a;
  int code;
  if (!ParseClientArgs("routes", usage, argc, argv, {"shapes"}, {"shapes"}, &a, &code))
    return code;
  pb::ListRoutesRequest req;
  for (const auto& r : a.positional()) req.add_route_ids(r);
  req.set_include_shapes(a.Has("shapes"));
  pb::ListRoutesResponse resp;
  const int done = Call("routes", a, &pb::NetworkService::Stub::ListRoutes, req, &resp);
  if (done >= 0) return done;
  std::printf("%d routes\n", resp.routes_size());
  for (const pb::Route& r : resp.routes()) {
    std::printf("  %-12s %-8s %-40s %s\n", r.route_id().c_str(), r.short_name().c_str(),
                r.long_name().c_str(), r.agency_name().c_str());
    for (const pb::RoutePattern& p : r.patterns())
      std::printf("      dir %d  to %-30.30s %6.1f km  %3d stops  %4u trips  shape %s (%d points)\n",
                  p.direction_id(), p.headsign().c_str(), p.length_m() / 1000, p.stop_ids_size(),
                  p.trips(), p.shape_id().empty() ? "-" : p.shape_id().c_str(), p.points_size());
  }
  return 0;
}

int RunVehicle(int argc, char** argv) {
  const char* usage = "smartbus vehicle VEHICLE_ID";
  Args a;
  int code;
  if (!ParseClientArgs("vehicle", usage, argc, argv, {}, {}, &a, &code)) return code;
  if (a.positional().size() != 1) return Usage("vehicle", usage, "one VEHICLE_ID expected");
  pb::GetVehicleRequest req;
  req.set_vehicle_id(a.positional()[0]);
  pb::Vehicle v;
  const int done = Call("vehicle", a, &pb::PassengerService::Stub::GetVehicle, req, &v);
  if (done >= 0) return done;
  std::printf("vehicle %s: %s", v.vehicle_id().c_str(), StatusName(v.status()));
  if (!v.trip_id().empty())
    std::printf(" on route %s trip %s to %s", v.route_short_name().c_str(), v.trip_id().c_str(),
                v.headsign().c_str());
  std::printf("\n  position %.6f,%.6f", v.position().lat(), v.position().lon());
  if (v.has_speed_mps()) std::printf("  speed %.0f km/h", v.speed_mps() * 3.6);
  if (v.has_bearing_deg()) std::printf("  heading %.0f deg", v.bearing_deg());
  std::printf("\n  last seen %s (%llds ago)%s\n", ClockTime(v.last_seen()).c_str(),
              static_cast<long long>(v.age_s()), v.stale() ? "  STALE" : "");
  if (v.has_delay_s()) std::printf("  delay %s\n", SignedDuration(static_cast<int64_t>(v.delay_s())).c_str());
  if (!v.next_stop_id().empty())
    std::printf("  next stop %s (seq %u) in %s\n", v.next_stop_id().c_str(),
                v.next_stop_sequence(), Distance(v.next_stop_distance_m()).c_str());
  std::string occ = OccupancyName(v.occupancy());
  if (!occ.empty() || v.has_load())
    std::printf("  occupancy %s%s\n", occ.c_str(),
                v.has_load() ? absl::StrCat(", ", v.load(), " on board").c_str() : "");
  return 0;
}

int RunVehicles(int argc, char** argv) {
  const char* usage = "smartbus vehicles (--route R | --box SOUTH,WEST,NORTH,EAST) [--limit N]";
  Args a;
  int code;
  if (!ParseClientArgs("vehicles", usage, argc, argv, {}, {"route", "box", "limit"}, &a, &code))
    return code;
  pb::ListVehiclesRequest req;
  if (a.Has("route") == a.Has("box")) return Usage("vehicles", usage, "give --route or --box");
  if (a.Has("route")) {
    req.set_route_id(a.Get("route"));
  } else {
    std::vector<std::string> parts = absl::StrSplit(a.Get("box"), ',');
    double v[4];
    if (parts.size() != 4 || !absl::SimpleAtod(parts[0], &v[0]) ||
        !absl::SimpleAtod(parts[1], &v[1]) || !absl::SimpleAtod(parts[2], &v[2]) ||
        !absl::SimpleAtod(parts[3], &v[3]))
      return Usage("vehicles", usage, "--box: four numbers SOUTH,WEST,NORTH,EAST (degrees)");
    auto* b = req.mutable_box();
    b->set_south(v[0]);
    b->set_west(v[1]);
    b->set_north(v[2]);
    b->set_east(v[3]);
  }
  auto limit = a.GetInt("limit", 0);
  if (!limit.ok()) return Usage("vehicles", usage, std::string(limit.status().message()));
  req.set_limit(static_cast<uint32_t>(*limit));
  pb::ListVehiclesResponse resp;
  const int done = Call("vehicles", a, &pb::PassengerService::Stub::ListVehicles, req, &resp);
  if (done >= 0) return done;
  std::printf("%d vehicles at %s\n", resp.vehicles_size(), ClockTime(resp.now()).c_str());
  PrintVehicleHeader();
  for (const auto& v : resp.vehicles()) PrintVehicleLine(v);
  return 0;
}

int RunFleet(int argc, char** argv) {
  const char* usage = "smartbus fleet [--route R] [--stale S]";
  Args a;
  int code;
  if (!ParseClientArgs("fleet", usage, argc, argv, {}, {"route", "stale"}, &a, &code))
    return code;
  auto stale = a.GetInt("stale", 0);
  if (!stale.ok()) return Usage("fleet", usage, std::string(stale.status().message()));
  pb::GetFleetStatusRequest req;
  req.set_route_id(a.Get("route"));
  req.set_stale_after_s(*stale);
  pb::GetFleetStatusResponse resp;
  const int done = Call("fleet", a, &pb::OperatorService::Stub::GetFleetStatus, req, &resp);
  if (done >= 0) return done;
  std::printf("fleet at %s: %d vehicles (%u in service, %u layover, %u off route, %u unassigned; "
              "%u stale)\n",
              ClockTime(resp.now()).c_str(), resp.vehicles_size(), resp.in_service(),
              resp.layover(), resp.off_route(), resp.unassigned(), resp.stale());
  PrintVehicleHeader();
  for (const auto& v : resp.vehicles()) PrintVehicleLine(v);
  PrintConditions(resp);
  return 0;
}

int RunHealth(int argc, char** argv) {
  const char* usage = "smartbus health   (exit 0 when the server and its storage are serving)";
  Args a;
  int code;
  if (!ParseClientArgs("health", usage, argc, argv, {}, {}, &a, &code)) return code;
  const std::string addr = ServerAddress(a);
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(addr));
  // The server as a whole, its storage, then each service: the names smartbusd reports.
  std::vector<const char*> names = {server::kServiceHealthNames[0], server::kStorageHealth};
  names.insert(names.end(), std::begin(server::kServiceHealthNames) + 1,
               std::end(server::kServiceHealthNames));
  bool all = true;
  std::string json = "{";
  for (const char* n : names) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(n);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(a, &ctx);
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (!s.ok() && *n == '\0') return CallFailed("health", addr, s);
    std::string st = s.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())
                            : "UNKNOWN_SERVICE";
    all &= s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    const std::string label = *n ? n : "server";
    if (a.Has("json")) {
      json += absl::StrCat(json.size() > 1 ? ", " : "", "\"", label, "\": \"", st, "\"");
    } else {
      std::printf("%-30s %s\n", label.c_str(), st.c_str());
    }
  }
  if (a.Has("json")) std::printf("%s}\n", json.c_str());
  return all ? 0 : 1;
}

int RunStatus(int argc, char** argv) {
  const char* usage = "smartbus status";
  Args a;
  int code;
  if (!ParseClientArgs("status", usage, argc, argv, {}, {}, &a, &code)) return code;
  pb::ServerStatus st;
  const int done = Call("status", a, &pb::OperatorService::Stub::GetServerStatus,
                        pb::GetServerStatusRequest(), &st);
  if (done >= 0) return done;
  std::printf("smartbusd %s at %s, clock %s (%s)\n", st.version().c_str(),
              ServerAddress(a).c_str(),
              st.clock().c_str(), ClockTime(st.now()).c_str());
  std::printf("  network: %u routes, %u stops, %u trips\n", st.routes(), st.stops(), st.trips());
  std::printf("  vehicles %u (recovered %llu); fixes received %llu, accepted %llu, rejected %llu, "
              "overloaded %llu; stop visits %llu\n",
              st.vehicles(), static_cast<unsigned long long>(st.recovered_vehicles()),
              static_cast<unsigned long long>(st.fixes_received()),
              static_cast<unsigned long long>(st.fixes_accepted()),
              static_cast<unsigned long long>(st.fixes_rejected()),
              static_cast<unsigned long long>(st.fixes_overloaded()),
              static_cast<unsigned long long>(st.stop_visits()));
  for (const auto& sh : st.shards())
    std::printf("  shard %u: %u vehicles, queue %u/%u, %llu fixes\n", sh.shard(), sh.vehicles(),
                sh.queued_fixes(), sh.queue_capacity(),
                static_cast<unsigned long long>(sh.fixes_processed()));
  const auto& so = st.store();
  std::printf(
      "  store %s: %s%s; written %llu of %llu (%llu superseded states), queued %llu/%llu, "
      "refused %llu\n",
              so.backend().c_str(), so.serving() ? "SERVING" : "NOT_SERVING",
              so.reason().empty() ? "" : absl::StrCat(" (", so.reason(), ")").c_str(),
              static_cast<unsigned long long>(so.applied()),
              static_cast<unsigned long long>(so.enqueued()),
              static_cast<unsigned long long>(so.coalesced()),
              static_cast<unsigned long long>(so.queued()),
              static_cast<unsigned long long>(so.queue_capacity()),
              static_cast<unsigned long long>(so.rejected()));
  std::printf("  streams: %u ingest, %u display boards; model: %s\n", st.ingest_streams(),
              st.watch_streams(), st.model().c_str());
  std::printf("  service changes: %u alerts, %u trip changes\n", st.service_alerts(),
              st.trip_changes());
  for (const auto& f : st.gtfs_rt_feeds()) {
    std::string errors;
    for (const auto& [kind, n] : f.errors())
      errors += absl::StrCat(errors.empty() ? "" : ", ", kind, " ", n);
    std::printf("  gtfs-rt %s %s: %llu/%llu polls good (%s), %llu entities, %llu fixes accepted, "
                "%llu unknown trips, last %.1f ms%s\n",
                f.kind().c_str(), f.source().c_str(), (unsigned long long)f.good_polls(),
                (unsigned long long)f.polls(), errors.empty() ? "no errors" : errors.c_str(),
                (unsigned long long)f.entities(), (unsigned long long)f.fixes_accepted(),
                (unsigned long long)f.unknown_trips(), f.last_poll_ms(),
                f.last_error().empty() ? "" : absl::StrCat("; last error: ", f.last_error()).c_str());
  }
  if (!st.gtfs_rt_unhealthy().empty())
    std::printf("  gtfs-rt NOT_SERVING: %s\n", st.gtfs_rt_unhealthy().c_str());
  return 0;
}

}  // namespace smartbus::cli
