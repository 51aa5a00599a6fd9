// smartbusd: the SmartBus server.
//
//   smartbusd --gtfs FEED [--gtfs FEED...] [--listen HOST:PORT] [--redis redis://HOST:PORT/DB]
//             [--clock wall|fixes] [--shards N] ... [--flagfile FILE]
//
// Signals: SIGTERM/SIGINT stop gracefully (stop accepting, drain, persist, exit 0; exit 1 when
// queued store writes could not be written). SIGHUP reloads the GTFS feeds without dropping
// vehicles or the learned model, the token file and the HTTPS certificate.

#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "services/server/server.h"

ABSL_FLAG(std::vector<std::string>, gtfs, {},
          "GTFS feed (directory or .zip); repeat the flag or separate with commas for several "
          "feeds loaded as one network. Required.");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "Address to serve gRPC on (port 0: any free).");
ABSL_FLAG(std::string, redis, "",
          "Redis URL redis://HOST[:PORT][/DB] for persistence; empty = embedded in-memory store "
          "(nothing survives a restart).");
ABSL_FLAG(std::string, clock, "wall",
          "wall: the server clock is the wall clock; fixes: it follows the newest accepted fix "
          "time (replaying recorded days, tests, demos).");
ABSL_FLAG(int, shards, 2, "Tracking shards (worker threads); vehicles are spread by id.");
ABSL_FLAG(int64_t, shard_queue, 50000, "Fixes each shard queue holds before ingest answers "
                                       "RESOURCE_EXHAUSTED / OVERLOADED.");
ABSL_FLAG(int64_t, store_queue, 200000,
          "Store changes the write-behind queue holds (about 250 bytes each) while storage is "
          "slow or down; beyond it ingest answers RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, store_batch, 1024, "Store changes per Redis pipeline.");
ABSL_FLAG(int64_t, store_position_window_ms, 250,
          "A vehicle sending faster than this has its fixes written to the store together, one "
          "stream entry per window (0: one entry per fix). Bounds how long a fix waits.");
ABSL_FLAG(int64_t, max_batch, 10000, "Most fixes in one IngestRequest.");
ABSL_FLAG(int, stream_inflight, 64,
          "IngestRequests one stream may have in flight before the server stops reading it.");
ABSL_FLAG(int64_t, live_max_age_s, 600,
          "A vehicle counts as live on arrival boards while its newest fix is at most this old.");
ABSL_FLAG(int64_t, stale_after_s, 120, "Fleet status marks vehicles stale past this age.");
// Operator analytics (AnalyticsService; services/server/analytics_hub.h).
ABSL_FLAG(double, on_time_early_s, -60,
          "Analytics: a departure more than this early (negative seconds) is early, not on time.");
ABSL_FLAG(double, on_time_late_s, 300, "Analytics: a departure later than this (s) is late.");
ABSL_FLAG(double, bunching_ratio, 0.25,
          "Analytics: buses closer than this fraction of their scheduled headway are bunched.");
ABSL_FLAG(double, silent_after_s, 600, "Analytics: a vehicle silent this long (s) is silent.");
ABSL_FLAG(int64_t, warmup_s, 1800,
          "Recovery and GTFS reload replay this much stored position history per vehicle.");
ABSL_FLAG(int64_t, vehicle_flush_ms, 1000, "Each vehicle's latest state is stored this often.");
ABSL_FLAG(int64_t, model_save_s, 60, "The learned model is stored this often (and at exit).");
ABSL_FLAG(int32_t, accuracy_retention_h, 48,
          "Live prediction accuracy (GetPredictionAccuracy) keeps this many hours of figures "
          "(in memory; a restart starts them again).");
ABSL_FLAG(int64_t, accuracy_thin_s, 0,
          "Live prediction accuracy: score at most one prediction per trip stop per this many "
          "seconds (memory per bus: 76 KB at 0 on the WMATA day, 35 KB at 60; figures move by "
          "up to ~1 pp). 0 = every prediction (exact).");
ABSL_FLAG(int64_t, future_tolerance_s, 300,
          "Fixes more than this ahead of the server clock are rejected (future_timestamp).");
ABSL_FLAG(bool, backfill, true,
          "Late fixes (older than the vehicle's newest, e.g. JT/T 808 blind-area uploads) fill "
          "the history and the stop visits of the gap instead of being rejected.");
ABSL_FLAG(int64_t, backfill_hold_s, 120,
          "Stop visits completed across a signal gap wait this long (s) for late fixes.");
ABSL_FLAG(double, low_fuel_l, 0,
          "Bus condition: fuel below this (litres) raises low_fuel; 0 = off.");
ABSL_FLAG(std::string, key_prefix, "sb:", "Prefix of every Redis key.");
ABSL_FLAG(int64_t, positions_cap, 1000, "Recent positions kept per vehicle in the store.");
ABSL_FLAG(int64_t, positions_ttl_s, 2 * 86400,
          "A vehicle's stored positions expire this long after its last fix (0 = never).");
ABSL_FLAG(int64_t, vehicle_ttl_s, 7 * 86400,
          "A vehicle's stored state expires this long after its last fix (0 = never).");
ABSL_FLAG(int64_t, visits_retention_s, 14 * 86400,
          "Stored stop visits older than this are removed (0 = keep forever).");
ABSL_FLAG(int64_t, shutdown_grace_s, 5,
          "On SIGTERM, in-flight calls get this long before they are cancelled.");
ABSL_FLAG(bool, reflection, true, "Enable gRPC server reflection.");
// HTTP (services/server/http): JSON mirror, GTFS-RT out, /metrics, /healthz, /readyz.
ABSL_FLAG(std::string, http_listen, "",
          "Address to serve HTTP on (HOST:PORT, port 0: any free); empty = no HTTP server.");
ABSL_FLAG(int, http_threads, 8,
          "HTTP worker threads: connections served at once (a kept-alive connection or an open "
          "display board holds one; boards may take all but 2).");
ABSL_FLAG(int64_t, http_max_queued, 256,
          "Accepted HTTP connections waiting for a worker; beyond it accepting pauses.");
ABSL_FLAG(int64_t, http_max_body_bytes, 1 << 20, "Largest HTTP request body (413 beyond).");
ABSL_FLAG(std::string, web_dir, SMARTBUS_WEB_DIR,
          "Folder of the pages (board, passenger page, console) served over HTTP; empty = none.");
ABSL_FLAG(std::string, map_tiles_url, "",
          "Map tile URL template for the console ({z}/{x}/{y}); empty = route lines on a plain "
          "background (no internet needed).");
ABSL_FLAG(std::string, map_tiles_attribution, "",
          "Attribution shown with the map tiles (the tile provider's terms).");
ABSL_FLAG(std::string, http_cors_origin, "*",
          "Access-Control-Allow-Origin of every HTTP response; empty = no CORS headers.");
ABSL_FLAG(int, gtfs_rt_refresh_s, 5,
          "The GTFS-RT feeds are rebuilt at most this often (s); requests in between share the "
          "cached bytes.");
ABSL_FLAG(std::string, log_format, "text",
          "text: one human-readable line per event; json: one JSON object per line "
          "(ts, level, logger, msg) for log collectors.");
ABSL_FLAG(std::string, log_level, "info", "Lowest level logged: debug, info, warn or error.");
ABSL_FLAG(int64_t, gtfs_rt_max_age_s, 90,
          "Vehicles whose newest fix is older than this (s) are left out of the GTFS-RT feeds.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: with --tls_key the port speaks only TLS. Both files are "
          "re-read when they change (checked every 10 s), no restart.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, http_tls_cert, "",
          "PEM certificate chain of the HTTP port (with --http_tls_key): the port then speaks "
          "only HTTPS. Default: --tls_cert, so --tls_cert/--tls_key put both ports on TLS. "
          "Re-read when it changes (checked every 10 s) and on SIGHUP, no restart.");
ABSL_FLAG(std::string, http_tls_key, "", "PEM private key of --http_tls_cert (default --tls_key).");
ABSL_FLAG(bool, http_plaintext, false,
          "Keep the HTTP port plain although --tls_cert is given (a TLS-terminating proxy in "
          "front of it on the same host).");
ABSL_FLAG(std::string, tokens, "",
          "Token file (services/server/auth.h: 'sha256:<hex> role [agency=ID] [vehicles=P,..] "
          "[name=L]' per line), reloaded on SIGHUP. Empty: no authentication.");
ABSL_FLAG(double, query_rate, 0, "Public queries per client per second (0: unlimited).");
ABSL_FLAG(double, ingest_rate, 0, "Ingested fixes per client per second (0: unlimited).");
ABSL_FLAG(std::string, ack, "received",
          "When a fix is acknowledged. received: once tracked (it reaches the store within "
          "--store_position_window_ms plus one batch, and is lost if smartbusd is killed in "
          "between); persisted: only once the store applied it (batched; no position window).");
ABSL_FLAG(int64_t, max_vehicles, 50000,
          "Vehicles tracked at most (spread over the shards); fixes of further new vehicle ids "
          "are rejected TOO_MANY_VEHICLES. ~4.6 KB each.");
ABSL_FLAG(int64_t, max_watch_streams, 5000,
          "Open WatchArrivals streams at most (~22 KB each); more are RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_request_bytes, 16 << 20, "Largest gRPC request message (bytes).");
ABSL_FLAG(int64_t, request_memory_mb, 512,
          "Memory gRPC may hold for requests in flight (MiB); beyond it requests wait.");
ABSL_FLAG(std::vector<std::string>, gtfs_rt_vehicle_positions, {},
          "GTFS-Realtime VehiclePositions feed to poll: an http(s) URL or a file (repeatable). "
          "Its positions are ingested like gRPC fixes.");
ABSL_FLAG(std::vector<std::string>, gtfs_rt_trip_updates, {},
          "GTFS-Realtime TripUpdates feed (URL or file, repeatable): its CANCELED trips and "
          "SKIPPED stops become service changes (its predictions are not used).");
ABSL_FLAG(std::vector<std::string>, gtfs_rt_alerts, {},
          "GTFS-Realtime Alerts feed (URL or file, repeatable): shown on arrival boards.");
ABSL_FLAG(double, gtfs_rt_poll_s, 15, "Poll every GTFS-RT feed this often (s, > 0).");
ABSL_FLAG(double, gtfs_rt_timeout_s, 10, "Time limit of one GTFS-RT fetch (s).");
ABSL_FLAG(int64_t, gtfs_rt_max_bytes, 64 << 20, "Largest GTFS-RT body accepted (bytes).");
ABSL_FLAG(int64_t, gtfs_rt_stale_after_s, 600,
          "A GTFS-RT vehicle position older than the feed's header time minus this is not "
          "ingested (s).");
ABSL_FLAG(double, gtfs_rt_stall_after_s, 0,
          "A GTFS-RT feed with no good poll, or an unchanged header time, for this long is "
          "reported NOT_SERVING in health (\"smartbus.gtfs_rt\"); 0 = max(3 x poll, 90 s).");

namespace {

// Flags that may be repeated: every occurrence is merged into one comma-separated value
// (absl keeps only the last occurrence of a flag). A value must therefore hold no comma.
constexpr const char* kListFlags[] = {"gtfs", "gtfs_rt_vehicle_positions", "gtfs_rt_trip_updates",
                                      "gtfs_rt_alerts"};

// "--name=value", "-name=value", or "--name value" (advancing *i) for a list flag; false else.
bool TakeListFlag(const std::vector<std::string>& in, size_t* i,
                  std::map<std::string, std::vector<std::string>>* lists) {
  const std::string& a = in[*i];
  for (const char* name : kListFlags) {
    for (const std::string dash : {"--", "-"}) {
      const std::string flag = dash + name;
      if (absl::StartsWith(a, flag + "=")) {
        (*lists)[name].push_back(a.substr(flag.size() + 1));
        return true;
      }
      if (a == flag && *i + 1 < in.size()) {
        (*lists)[name].push_back(in[++*i]);
        return true;
      }
    }
  }
  return false;
}

// Expands --flagfile=F (one flag per line, '#' comments) in place and merges every occurrence
// of a repeatable flag (kListFlags) into one comma-separated value.
bool ExpandArgs(int argc, char** argv, std::vector<std::string>* out, int depth = 0) {
  std::map<std::string, std::vector<std::string>> lists;
  std::vector<std::string> args;
  std::vector<std::string> in(argv, argv + argc);
  for (size_t i = 0; i < in.size(); ++i) {
    std::string a = in[i];
    if (i == 0 && depth == 0) {
      args.push_back(a);
      continue;
    }
    absl::string_view v = a;
    if (absl::ConsumePrefix(&v, "--flagfile=") || absl::ConsumePrefix(&v, "-flagfile=") ||
        ((a == "--flagfile" || a == "-flagfile") && i + 1 < in.size() && (v = in[++i], true))) {
      std::ifstream f{std::string(v)};
      if (!f) {
        std::fprintf(stderr, "smartbusd: --flagfile %s: cannot read\n", std::string(v).c_str());
        return false;
      }
      std::vector<std::string> lines{""};
      std::string line;
      while (std::getline(f, line)) {
        absl::string_view l = absl::StripAsciiWhitespace(line);
        if (l.empty() || l[0] == '#') continue;
        lines.emplace_back(l);
      }
      std::vector<char*> ptrs;
      for (auto& l : lines) ptrs.push_back(l.data());
      std::vector<std::string> sub;
      if (depth > 8 || !ExpandArgs(static_cast<int>(ptrs.size()), ptrs.data(), &sub, depth + 1))
        return false;
      for (size_t k = 0; k < sub.size(); ++k)
        if (!TakeListFlag(sub, &k, &lists)) args.push_back(sub[k]);
      continue;
    }
    if (!TakeListFlag(in, &i, &lists)) args.push_back(a);
  }
  *out = args;
  for (const auto& [name, values] : lists)
    out->push_back(absl::StrCat("--", name, "=", absl::StrJoin(values, ",")));
  return true;
}

// The options of the store, the shards and their engines, and the store writer.
void EngineAndStoreFromFlags(smartbus::server::ServerOptions& opt) {
  opt.shards = absl::GetFlag(FLAGS_shards);
  opt.shard.queue_capacity = static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_shard_queue)));
  opt.writer.queue_capacity = static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_store_queue)));
  opt.writer.max_batch = static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_store_batch)));
  opt.writer.position_window =
      absl::Milliseconds(std::max<int64_t>(0, absl::GetFlag(FLAGS_store_position_window_ms)));
  opt.max_batch = static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_max_batch)));
  opt.max_stream_inflight = std::max(1, absl::GetFlag(FLAGS_stream_inflight));
  opt.live_max_age_s = absl::GetFlag(FLAGS_live_max_age_s);
  opt.stale_after_s = absl::GetFlag(FLAGS_stale_after_s);
  opt.analytics.analytics.on_time_early_s = absl::GetFlag(FLAGS_on_time_early_s);
  opt.analytics.analytics.on_time_late_s = absl::GetFlag(FLAGS_on_time_late_s);
  opt.analytics.analytics.bunching_ratio = absl::GetFlag(FLAGS_bunching_ratio);
  opt.analytics.fleet.silent_after_s = absl::GetFlag(FLAGS_silent_after_s);
  opt.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  opt.shard.vehicle_flush_interval = absl::Milliseconds(absl::GetFlag(FLAGS_vehicle_flush_ms));
  opt.shard.model_save_interval = absl::Seconds(absl::GetFlag(FLAGS_model_save_s));
  opt.shard.accuracy.retention_hours = std::max(1, absl::GetFlag(FLAGS_accuracy_retention_h));
  opt.shard.accuracy.min_interval_s = std::max<int64_t>(0, absl::GetFlag(FLAGS_accuracy_thin_s));
  opt.shard.engine.tracker.rejection.future_tolerance_s = absl::GetFlag(FLAGS_future_tolerance_s);
  opt.shard.engine.backfill.enabled = absl::GetFlag(FLAGS_backfill);
  opt.shard.engine.backfill.hold_s = absl::GetFlag(FLAGS_backfill_hold_s);
  opt.shard.condition.low_fuel_l = absl::GetFlag(FLAGS_low_fuel_l);
  opt.shard.engine.clock_mode = opt.clock_follows_fixes ? smartbus::ClockMode::kFixes
                                                        : smartbus::ClockMode::kExternal;
  opt.store.key_prefix = absl::GetFlag(FLAGS_key_prefix);
  opt.store.positions_cap = static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_positions_cap)));
  opt.store.positions_ttl_s = absl::GetFlag(FLAGS_positions_ttl_s);
  opt.store.vehicle_ttl_s = absl::GetFlag(FLAGS_vehicle_ttl_s);
  opt.store.visits_retention_s = absl::GetFlag(FLAGS_visits_retention_s);
}

// HTTP server, its pages and its GTFS-Realtime feeds.
void HttpFromFlags(smartbus::server::ServerOptions& opt) {
  opt.http.http.listen = absl::GetFlag(FLAGS_http_listen);
  opt.http.http.threads = std::clamp(absl::GetFlag(FLAGS_http_threads), 1, 1024);
  opt.http.http.max_queued_connections =
      static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_http_max_queued)));
  opt.http.http.max_body_bytes =
      static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_http_max_body_bytes)));
  opt.http.http.cors_origin = absl::GetFlag(FLAGS_http_cors_origin);
  opt.http.gtfs_rt_refresh_s = std::max(0, absl::GetFlag(FLAGS_gtfs_rt_refresh_s));
  opt.http.gtfs_rt_max_age_s = absl::GetFlag(FLAGS_gtfs_rt_max_age_s);
  opt.http.pages.web_dir = absl::GetFlag(FLAGS_web_dir);
  opt.http.pages.map_tiles_url = absl::GetFlag(FLAGS_map_tiles_url);
  opt.http.pages.map_tiles_attribution = absl::GetFlag(FLAGS_map_tiles_attribution);
}

// Acknowledgements, tokens, TLS and the limits a hostile or broken client meets.
void LimitsFromFlags(smartbus::server::ServerOptions& opt) {
  opt.auth.tokens_file = absl::GetFlag(FLAGS_tokens);
  opt.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  opt.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  opt.auth.query_rate_per_s = absl::GetFlag(FLAGS_query_rate);
  opt.auth.ingest_fixes_per_s = absl::GetFlag(FLAGS_ingest_rate);
  if (opt.ack_persisted) opt.writer.position_window = absl::ZeroDuration();
  opt.shard.max_vehicles = static_cast<size_t>(
      std::max<int64_t>(1, absl::GetFlag(FLAGS_max_vehicles) / std::max(1, opt.shards)));
  opt.max_watch_streams = static_cast<uint32_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_max_watch_streams)));
  opt.max_request_bytes = static_cast<int>(
      std::clamp<int64_t>(absl::GetFlag(FLAGS_max_request_bytes), 1024, int64_t{1} << 30));
  opt.request_memory_bytes = std::max<int64_t>(16, absl::GetFlag(FLAGS_request_memory_mb)) << 20;
}

// HTTPS of the HTTP port: its own pair, else the gRPC port's (--tls_cert/--tls_key) unless
// --http_plaintext; an error names the flags that contradict or are incomplete.
absl::Status HttpTlsFromFlags(smartbus::server::ServerOptions& opt) {
  std::string cert = absl::GetFlag(FLAGS_http_tls_cert);
  std::string key = absl::GetFlag(FLAGS_http_tls_key);
  const bool plaintext = absl::GetFlag(FLAGS_http_plaintext);
  if (plaintext && (!cert.empty() || !key.empty()))
    return absl::InvalidArgumentError(
        "--http_plaintext contradicts --http_tls_cert/--http_tls_key: give one or the other");
  if (cert.empty() != key.empty())
    return absl::InvalidArgumentError(
        "HTTPS needs both --http_tls_cert and --http_tls_key (one of them is missing)");
  if (cert.empty() && !plaintext) {
    cert = opt.tls_cert_file;
    key = opt.tls_key_file;
  }
  opt.http.http.tls_cert_file = cert;
  opt.http.http.tls_key_file = key;
  opt.http.http.tls_reload_s = static_cast<int>(opt.tls_reload_s);
  return absl::OkStatus();
}

// The GTFS-RT input flags (--gtfs_rt_*) into opt.gtfs_rt; an error names the flag.
absl::Status GtfsRtFromFlags(smartbus::server::ServerOptions& opt) {
  using smartbus::gtfs_rt::FeedKind;
  for (const auto& [urls, kind] :
       {std::pair{absl::GetFlag(FLAGS_gtfs_rt_vehicle_positions), FeedKind::kVehiclePositions},
        std::pair{absl::GetFlag(FLAGS_gtfs_rt_trip_updates), FeedKind::kTripUpdates},
        std::pair{absl::GetFlag(FLAGS_gtfs_rt_alerts), FeedKind::kAlerts}})
    for (const std::string& url : urls)
      if (!url.empty()) opt.gtfs_rt.feeds.push_back({url, kind});
  const double poll_s = absl::GetFlag(FLAGS_gtfs_rt_poll_s);
  if (!(poll_s > 0) || poll_s > 86400)
    return absl::InvalidArgumentError(
        absl::StrCat("--gtfs_rt_poll_s=", poll_s, ": must be > 0 and <= 86400"));
  opt.gtfs_rt.interval = absl::Seconds(poll_s);
  opt.gtfs_rt.fetch.timeout = absl::Seconds(std::max(0.1, absl::GetFlag(FLAGS_gtfs_rt_timeout_s)));
  opt.gtfs_rt.fetch.max_bytes =
      static_cast<size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_gtfs_rt_max_bytes)));
  opt.gtfs_rt.vehicles.stale_after_s = absl::GetFlag(FLAGS_gtfs_rt_stale_after_s);
  opt.gtfs_rt.stall_after = absl::Seconds(std::max(0.0, absl::GetFlag(FLAGS_gtfs_rt_stall_after_s)));
  return absl::OkStatus();
}

// The server's options from the flags; an error names the flag and what it must be.
absl::StatusOr<smartbus::server::ServerOptions> OptionsFromFlags() {
  smartbus::server::ServerOptions opt;
  opt.gtfs = absl::GetFlag(FLAGS_gtfs);
  if (opt.gtfs.empty())
    return absl::InvalidArgumentError("--gtfs is required (a GTFS directory or .zip)");
  opt.listen = absl::GetFlag(FLAGS_listen);
  opt.store_url = absl::GetFlag(FLAGS_redis);
  const std::string clock = absl::GetFlag(FLAGS_clock);
  if (clock != "wall" && clock != "fixes")
    return absl::InvalidArgumentError(absl::StrCat("--clock=", clock, ": must be wall or fixes"));
  opt.clock_follows_fixes = clock == "fixes";
  opt.shutdown_grace = absl::Seconds(absl::GetFlag(FLAGS_shutdown_grace_s));
  opt.reflection = absl::GetFlag(FLAGS_reflection);
  const std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format != "text" && log_format != "json")
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format=", log_format, ": must be text or json"));
  opt.logging.json = log_format == "json";
  if (!smartbus::server::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &opt.logging.min_level))
    return absl::InvalidArgumentError(absl::StrCat(
        "--log_level=", absl::GetFlag(FLAGS_log_level), ": must be debug, info, warn or error"));
  const std::string ack = absl::GetFlag(FLAGS_ack);
  if (ack != "received" && ack != "persisted")
    return absl::InvalidArgumentError(
        absl::StrCat("--ack=", ack, ": must be received or persisted"));
  opt.ack_persisted = ack == "persisted";
  EngineAndStoreFromFlags(opt);
  HttpFromFlags(opt);
  LimitsFromFlags(opt);
  if (absl::Status st = HttpTlsFromFlags(opt); !st.ok()) return st;
  if (absl::Status st = GtfsRtFromFlags(opt); !st.ok()) return st;
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the SmartBus server: tracks buses from GPS fixes and predicts arrivals over gRPC.\n"
      "  smartbusd --gtfs FEED [--gtfs FEED...] [--listen HOST:PORT] [--redis URL] "
      "[--clock wall|fixes]");
  std::vector<std::string> expanded;
  if (!ExpandArgs(argc, argv, &expanded)) return 2;
  std::vector<char*> ptrs;
  for (auto& s : expanded) ptrs.push_back(s.data());
  absl::ParseCommandLine(static_cast<int>(ptrs.size()), ptrs.data());
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock-cycle detection
  // on: a global graph updated on every lock gRPC takes. Off, as in a release build.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc malloc for a long-running server: keep freed memory instead of trimming it back to
  // the kernel and faulting it in again a moment later (per-request buffers come and go at
  // every message), allocate large blocks from the heap rather than a fresh mmap each time, and
  // few arenas. Measured on the gateway benchmark: ~8 % less CPU per fix (bench/RESULTS.md).
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_ARENA_MAX, 4);

  auto options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "smartbusd: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  const smartbus::server::ServerOptions& opt = *options;

  // Signals are taken by one thread with sigwait: block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto server = smartbus::server::SmartbusServer::Create(opt);
  if (!server.ok()) {
    std::fprintf(stderr, "smartbusd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  if (auto s = (*server)->Start(); !s.ok()) {
    std::fprintf(stderr, "smartbusd: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  int exit_code = 0;
  std::thread signals([&] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        (void)(*server)->ReloadTokens();
        (void)(*server)->ReloadHttpTls();
        (void)(*server)->Reload();
        continue;
      }
      (*server)->Log(sig == SIGTERM ? "SIGTERM received" : "SIGINT received");
      exit_code = (*server)->Shutdown().ok() ? 0 : 1;
      return;
    }
  });
  (*server)->Wait();
  signals.join();
  return exit_code;
}
