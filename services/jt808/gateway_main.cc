// smartbus-jt808: the JT/T 808 gateway process. Terminals connect over TCP; their positions and
// condition reports go to smartbusd's IngestService (one batched gRPC stream). See README.md
// "JT/T 808 terminals" for why this is a process of its own.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <atomic>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/jt808/gateway.h"
#include "services/jt808/grpc_sink.h"
#include "services/jt808/registry.h"

ABSL_FLAG(std::string, jt808_listen, "0.0.0.0:6808", "address:port terminals connect to");
ABSL_FLAG(std::string, server, "127.0.0.1:50051", "smartbusd gRPC address");
ABSL_FLAG(std::string, jt808_registry, "",
          "terminal registry file (phone vehicle_id plate auth_code per line); \"\" = empty");
ABSL_FLAG(bool, jt808_auto_register, false,
          "register unknown terminals (vehicle id jt808-<phone>, appended to the registry)");
ABSL_FLAG(int, threads, 1, "I/O threads");
ABSL_FLAG(int, idle_timeout_s, 180, "close a connection silent for this long (s)");
ABSL_FLAG(int, max_batch, 500, "fixes per ingest request at most");
ABSL_FLAG(int, flush_ms, 2, "an ingest request leaves at most this long after its first fix");
ABSL_FLAG(int, stats_interval_s, 60, "log a stats line this often (0 = never)");
ABSL_FLAG(std::string, token, "",
          "ingest token sent to smartbusd for terminals without an agency (default "
          "$SMARTBUS_TOKEN); smartbusd --tokens binds it to the agency/vehicles it may report for");
ABSL_FLAG(std::string, agency_tokens, "",
          "file of 'agency_id token' lines (keep it mode 0600): the terminals whose registry line "
          "names that agency report with that token only; an agency without a line is refused");
ABSL_FLAG(bool, tls, false, "speak TLS to smartbusd (its --tls_cert)");
ABSL_FLAG(std::string, ca, "", "PEM CA certificates to trust for --tls (implies --tls); "
                               "default the system's");

namespace {
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::string ReadWhole(const std::string& path, bool* ok) {
  std::ifstream f(path);
  *ok = static_cast<bool>(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The --agency_tokens file: agency -> token. An error names the file and line.
absl::StatusOr<std::map<std::string, std::string>> ReadAgencyTokens(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  bool ok = false;
  const std::string text = ReadWhole(path, &ok);
  if (!ok) return absl::NotFoundError(absl::StrCat("--agency_tokens ", path, ": cannot read"));
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> c = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (c.size() != 2)
      return absl::InvalidArgumentError(absl::StrCat(
          "--agency_tokens ", path, ":", n, ": ", c.size(), " fields, expected 'agency_id token'"));
    if (!out.emplace(c[0], c[1]).second)
      return absl::InvalidArgumentError(
          absl::StrCat("--agency_tokens ", path, ":", n, ": agency ", c[0], " given twice"));
  }
  return out;
}
// The periodic stats line: traffic, then every kind of refusal.
std::string StatsLine(const smartbus::jt808::GatewayStats& s) {
  std::string line = absl::StrCat(s.open_connections.load(), " open connections");
  const std::pair<const char*, const std::atomic<uint64_t>*> counts[] = {
      {"frames", &s.frames},
      {"bad frames", &s.bad_frames},
      {"unsupported", &s.unsupported},
      {"fixes forwarded", &s.fixes_forwarded},
      {"accepted", &s.fixes_accepted},
      {"rejected", &s.fixes_rejected},
      {"overloaded", &s.fixes_overloaded},
      {"refused by smartbusd", &s.fixes_refused},
      {"registrations refused", &s.refused_registrations},
      {"authentications refused", &s.failed_auth},
      {"lockouts", &s.auth_lockouts},
      {"frames of another phone", &s.phone_mismatch},
      {"agency without token", &s.refused_agency}};
  for (const auto& [name, v] : counts) absl::StrAppend(&line, ", ", v->load(), " ", name);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace smartbus::jt808;
  absl::SetProgramUsageMessage("smartbus-jt808 --server=HOST:PORT [--jt808_listen=ADDR:PORT] "
                               "[--jt808_registry=FILE] [--jt808_auto_register]");
  absl::ParseCommandLine(argc, argv);
  GatewayOptions opt;
  const std::string listen = absl::GetFlag(FLAGS_jt808_listen);
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &opt.listen_port)) {
    std::fprintf(stderr, "smartbus-jt808: --jt808_listen=%s: expected address:port\n",
                 listen.c_str());
    return 2;
  }
  opt.listen_host = listen.substr(0, colon);
  opt.threads = absl::GetFlag(FLAGS_threads);
  opt.idle_timeout_s = absl::GetFlag(FLAGS_idle_timeout_s);
  auto registry = TerminalRegistry::Open(absl::GetFlag(FLAGS_jt808_registry),
                                         absl::GetFlag(FLAGS_jt808_auto_register));
  if (!registry.ok()) {
    std::fprintf(stderr, "smartbus-jt808: %s\n", std::string(registry.status().message()).c_str());
    return 2;
  }
  opt.log = [](const std::string& line) { std::fprintf(stderr, "smartbus-jt808: %s\n", line.c_str()); };
  GrpcSinkOptions sink_opt;
  sink_opt.server = absl::GetFlag(FLAGS_server);
  sink_opt.max_batch = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_batch)));
  sink_opt.flush_interval = absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_flush_ms)));
  sink_opt.token = absl::GetFlag(FLAGS_token);
  if (const char* env = std::getenv("SMARTBUS_TOKEN"); sink_opt.token.empty() && env) sink_opt.token = env;
  sink_opt.tls = absl::GetFlag(FLAGS_tls) || !absl::GetFlag(FLAGS_ca).empty();
  if (!absl::GetFlag(FLAGS_ca).empty()) {
    bool ok = false;
    sink_opt.ca_pem = ReadWhole(absl::GetFlag(FLAGS_ca), &ok);
    if (!ok) {
      std::fprintf(stderr, "smartbus-jt808: --ca %s: cannot read\n", absl::GetFlag(FLAGS_ca).c_str());
      return 2;
    }
  }
  auto agency_tokens = ReadAgencyTokens(absl::GetFlag(FLAGS_agency_tokens));
  if (!agency_tokens.ok()) {
    std::fprintf(stderr, "smartbus-jt808: %s\n", std::string(agency_tokens.status().message()).c_str());
    return 2;
  }
  GrpcSink sink(sink_opt);
  Gateway gw(opt, registry->get(), &sink);
  std::vector<std::unique_ptr<GrpcSink>> agency_sinks;  // one stream per agency token
  for (const auto& [agency, token] : *agency_tokens) {
    GrpcSinkOptions o = sink_opt;
    o.token = token;
    agency_sinks.push_back(std::make_unique<GrpcSink>(o));
    gw.AddAgencySink(agency, agency_sinks.back().get());
  }
  if (absl::Status s = gw.Start(); !s.ok()) {
    std::fprintf(stderr, "smartbus-jt808: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "smartbus-jt808: listening on %s:%d, %zu terminals registered%s, "
               "feeding %s\n", opt.listen_host.c_str(), gw.port(), (*registry)->size(),
               (*registry)->auto_register() ? " (auto-register on)" : "",
               sink_opt.server.c_str());
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const int every = absl::GetFlag(FLAGS_stats_interval_s);
  absl::Time next = absl::Now() + absl::Seconds(every);
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (every > 0 && absl::Now() >= next) {
      next += absl::Seconds(every);
      std::fprintf(stderr, "smartbus-jt808: %s\n", StatsLine(gw.stats()).c_str());
    }
  }
  gw.Stop();
  std::fprintf(stderr, "smartbus-jt808: stopped\n");
  return 0;
}
