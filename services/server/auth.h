#pragma once
// Who may do what, and how often: bearer tokens (gRPC metadata `authorization: Bearer <token>`)
// checked against a file of hashed tokens, roles, ingest scopes, and per-client rate limits.
//
// Token file (smartbusd --tokens FILE; reloaded on SIGHUP, a bad file keeps the old tokens):
//   # comment
//   sha256:<64 hex digits of SHA-256(token)> <role> [agency=<agency_id>] [vehicles=<p>,<p>...] [name=<label>]
// role: ingest | viewer | dispatcher | admin. Only hashes are kept (make one with
// `printf %s "$TOKEN" | sha256sum`). A pattern in vehicles= is an exact id or a prefix ending in
// '*'. Without --tokens every call is allowed (a private network's choice, logged at start).
//
// What each role may call (admin may do everything):
//   open (no token):  PassengerService, NetworkService, grpc.health (rate-limited per client)
//   ingest:           IngestService, for its scope only (below)
//   viewer:           OperatorService reads, AnalyticsService
//   dispatcher:       viewer + operator writes (cancel trips, post alerts)
// Ingest scope: with vehicles=, every fix's vehicle id must match a pattern; with agency=, every
// fix naming a trip or route must name one of that agency's, and a fix naming neither is allowed
// only when vehicles= is given too. A request with one fix out of scope is refused whole
// (PERMISSION_DENIED naming the fix): the bus does not move.
// Refusals: UNAUTHENTICATED (no token, unknown token), PERMISSION_DENIED (role or scope); each is
// counted (refusals()) and logged (at most one line per second, with the count since).
//
// Rate limits (per client host: the TCP peer's address; for smartbusd's own HTTP side, which
// calls the services on the in-process channel, the HTTP client's address it passes in the
// kHttpClientMetadata metadata with the process's secret): a token bucket for
// public queries (calls/s) and one for ingest (fixes/s), each with a burst of one second's
// worth; beyond it RESOURCE_EXHAUSTED saying when to retry. 0 = unlimited.
//
// Thread safety: every method may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "services/core/common/mutex.h"
#include "services/core/network/network.h"
#include "smartbus/v1/ingest.pb.h"

namespace smartbus::server {

enum class Role : uint8_t { kIngest, kViewer, kDispatcher, kAdmin };

// Metadata the HTTP side sets on its in-process calls: "<HttpClientSecret()> [addr]:port", the
// HTTP client's address. The secret (random, made once per process) is what makes it trusted:
// a network client cannot know it, so its own value of this key is ignored.
inline constexpr char kHttpClientMetadata[] = "x-smartbus-http-client";
inline const std::string& HttpClientSecret() {
  static const std::string* secret = [] {
    std::random_device rd;  // the kernel's random source on Linux (getrandom)
    std::string hex;
    for (int i = 0; i < 4; ++i) absl::StrAppend(&hex, absl::Hex(rd(), absl::kZeroPad8));
    return new std::string(hex);
  }();
  return *secret;
}
absl::string_view RoleName(Role r);

struct Principal {
  std::string name;  // name= of the token line, else "token@<line>"
  Role role = Role::kViewer;
  std::string agency;                 // empty: any agency
  std::vector<std::string> vehicles;  // empty: any vehicle id
};

// Hex SHA-256 of `token` (lower case).
std::string Sha256Hex(absl::string_view token);

// Parses a token file's text; INVALID_ARGUMENT naming `source` and the line on a bad line.
absl::StatusOr<absl::flat_hash_map<std::string, std::shared_ptr<const Principal>>> ParseTokenFile(
    absl::string_view text, absl::string_view source);

struct AuthOptions {
  std::string tokens_file;         // empty: no authentication
  double query_rate_per_s = 0;     // public queries per client per second; 0 = unlimited
  double ingest_fixes_per_s = 0;   // ingested fixes per client per second; 0 = unlimited
  std::function<void(const std::string&)> log;  // may be empty
};

class Authorizer {
 public:
  explicit Authorizer(AuthOptions options);
  // Reads the token file (again). On error the tokens in use stay.
  absl::Status Reload();
  bool enabled() const { return !options_.tokens_file.empty(); }

  // The caller's principal if its token allows `need`; nullptr (and OK) when authentication is
  // off. `what` names the call in the refusal message and log.
  absl::StatusOr<std::shared_ptr<const Principal>> Check(const grpc::ServerContextBase& ctx,
                                                        Role need, absl::string_view what);
  // The same from the `authorization` metadata value (nullptr: absent) and the peer address.
  absl::StatusOr<std::shared_ptr<const Principal>> CheckToken(
      const absl::string_view* authorization, absl::string_view peer, Role need,
      absl::string_view what);
  // Ingest: Check(kIngest) plus the principal's scope for every fix of the request.
  absl::Status CheckIngest(const grpc::ServerContextBase& ctx,
                           const smartbus::v1::IngestRequest& req, const Network& net);
  // Rate limits: RESOURCE_EXHAUSTED when the client used up its bucket.
  absl::Status AdmitQuery(const grpc::ServerContextBase& ctx);
  absl::Status AdmitFixes(const grpc::ServerContextBase& ctx, size_t fixes);

  // The caller's address as a peer string: ctx.peer(), or "http:[addr]:port" for a call of the
  // HTTP side (kHttpClientMetadata with the secret; without it the value is ignored).
  static std::string PeerOf(const grpc::ServerContextBase& ctx);

  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }
  uint64_t rate_limited() const { return rate_limited_.load(std::memory_order_relaxed); }

 private:
  absl::Status Refuse(absl::Status s, absl::string_view peer, absl::string_view what);
  absl::Status Take(const grpc::ServerContextBase& ctx, double rate, double cost,
                    absl::string_view what);
  static std::string ClientKey(absl::string_view peer);

  const AuthOptions options_;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Principal>> by_hash_ ABSL_GUARDED_BY(mu_);
  struct Bucket {
    double tokens = 0;
    int64_t last_ns = 0;
  };
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);  // "<q|f>:<client>"
  std::atomic<uint64_t> refusals_{0}, rate_limited_{0};
  int64_t last_log_ns_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t unlogged_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace smartbus::server
