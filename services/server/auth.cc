#include "services/server/auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/core/common/csv.h"

namespace smartbus::server {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Rate-limit buckets are forgotten wholesale past this many clients (a flood of new peers
// cannot grow the map without bound; they start again with a full bucket).
constexpr size_t kMaxBuckets = 100000;

bool MatchesVehicle(const std::vector<std::string>& patterns, absl::string_view id) {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (absl::StartsWith(id, absl::string_view(p).substr(0, p.size() - 1))) return true;
    } else if (p == id) {
      return true;
    }
  }
  return false;
}

// The agency id of the fix's trip or route ("" when it names neither or an unknown one).
std::string AgencyOfFix(const smartbus::v1::Fix& f, const Network& net) {
  const GtfsFeed& feed = net.feed();
  uint32_t route = kNoIndex;
  if (!f.trip_id().empty())
    if (auto t = net.FindTrip(f.trip_id())) route = feed.trips[*t].route;
  if (route == kNoIndex && !f.route_id().empty())
    if (auto r = net.FindRoute(f.route_id())) route = *r;
  if (route == kNoIndex) return "";
  const uint32_t a = feed.routes[route].agency;
  return a < feed.agencies.size() ? feed.agencies[a].id : "";
}

}  // namespace

absl::string_view RoleName(Role r) {
  switch (r) {
    case Role::kIngest: return "ingest";
    case Role::kViewer: return "viewer";
    case Role::kDispatcher: return "dispatcher";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

std::string Sha256Hex(absl::string_view token) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, std::shared_ptr<const Principal>>> ParseTokenFile(
    absl::string_view text, absl::string_view source) {
  absl::flat_hash_map<std::string, std::shared_ptr<const Principal>> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": line ", line_no, ": ", what,
                       " (expected: sha256:<64 hex> ingest|viewer|dispatcher|admin "
                       "[agency=ID] [vehicles=P,P*] [name=LABEL])"));
    };
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (parts.size() < 2) return bad("needs a hash and a role");
    absl::string_view hash = parts[0];
    if (!absl::ConsumePrefix(&hash, "sha256:") || hash.size() != 64 ||
        !std::all_of(hash.begin(), hash.end(), [](char c) { return absl::ascii_isxdigit(c); }))
      return bad(absl::StrCat("'", Abbreviate(parts[0], 80), "' is not sha256:<64 hex digits>"));
    auto p = std::make_shared<Principal>();
    p->name = absl::StrCat("token@", line_no);
    if (parts[1] == "ingest") p->role = Role::kIngest;
    else if (parts[1] == "viewer") p->role = Role::kViewer;
    else if (parts[1] == "dispatcher") p->role = Role::kDispatcher;
    else if (parts[1] == "admin") p->role = Role::kAdmin;
    else return bad(absl::StrCat("unknown role '", Abbreviate(parts[1], 40), "'"));
    for (size_t i = 2; i < parts.size(); ++i) {
      absl::string_view kv = parts[i];
      if (absl::ConsumePrefix(&kv, "agency=")) p->agency = std::string(kv);
      else if (absl::ConsumePrefix(&kv, "vehicles="))
        p->vehicles = absl::StrSplit(kv, ',', absl::SkipEmpty());
      else if (absl::ConsumePrefix(&kv, "name=")) p->name = std::string(kv);
      else return bad(absl::StrCat("unknown field '", Abbreviate(parts[i], 40), "'"));
    }
    if (!out.emplace(absl::AsciiStrToLower(hash), std::move(p)).second)
      return bad("the same token hash twice");
  }
  return out;
}

Authorizer::Authorizer(AuthOptions options) : options_(std::move(options)) {}

absl::Status Authorizer::Reload() {
  if (!enabled()) return absl::OkStatus();
  std::ifstream f(options_.tokens_file);
  if (!f)
    return absl::NotFoundError(absl::StrCat(options_.tokens_file, ": cannot read the token file"));
  std::stringstream ss;
  ss << f.rdbuf();
  auto table = ParseTokenFile(ss.str(), options_.tokens_file);
  if (!table.ok()) return table.status();
  MutexLock l(mu_);
  by_hash_ = std::move(*table);
  return absl::OkStatus();
}

std::string Authorizer::PeerOf(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(kHttpClientMetadata);
  if (it == md.end()) return ctx.peer();
  absl::string_view v(it->second.data(), it->second.size());
  // Only smartbusd's own HTTP side knows the secret: a network client's value is ignored.
  if (!absl::ConsumePrefix(&v, HttpClientSecret()) || !absl::ConsumePrefix(&v, " "))
    return ctx.peer();
  return absl::StrCat("http:", v);
}

std::string Authorizer::ClientKey(absl::string_view peer) {
  return std::string(peer.substr(0, peer.rfind(':')));  // "ipv4:1.2.3.4:5678" -> per host
}

absl::Status Authorizer::Refuse(absl::Status s, absl::string_view peer,
                                absl::string_view what) {
  refusals_.fetch_add(1, std::memory_order_relaxed);
  if (!options_.log) return s;
  const int64_t now = NowNs();
  std::string line;
  {
    MutexLock l(mu_);
    if (now - last_log_ns_ < 1'000'000'000) {
      ++unlogged_;
      return s;
    }
    line = absl::StrCat("auth: refused ", what, " from ", ClientKey(peer), ": ", s.message(),
                        unlogged_ ? absl::StrCat(" (and ", unlogged_, " more refusals)") : "");
    last_log_ns_ = now;
    unlogged_ = 0;
  }
  options_.log(line);
  return s;
}

absl::StatusOr<std::shared_ptr<const Principal>> Authorizer::Check(
    const grpc::ServerContextBase& ctx, Role need, absl::string_view what) {
  if (!enabled()) return std::shared_ptr<const Principal>();
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  absl::string_view value;
  if (it != md.end()) value = absl::string_view(it->second.data(), it->second.size());
  return CheckToken(it == md.end() ? nullptr : &value, PeerOf(ctx), need, what);
}

absl::StatusOr<std::shared_ptr<const Principal>> Authorizer::CheckToken(
    const absl::string_view* authorization, absl::string_view peer, Role need,
    absl::string_view what) {
  if (!enabled()) return std::shared_ptr<const Principal>();
  if (authorization == nullptr)
    return Refuse(absl::UnauthenticatedError(absl::StrCat(
                      what, " needs a token: send metadata 'authorization: Bearer <token>' "
                            "(smartbus --token / $SMARTBUS_TOKEN)")),
                  peer, what);
  absl::string_view v = *authorization;
  if (!absl::ConsumePrefix(&v, "Bearer ") || v.empty())
    return Refuse(absl::UnauthenticatedError("authorization metadata is not 'Bearer <token>'"),
                  peer, what);
  std::shared_ptr<const Principal> p;
  {
    const std::string hash = Sha256Hex(v);
    MutexLock l(mu_);
    auto found = by_hash_.find(hash);
    if (found != by_hash_.end()) p = found->second;
  }
  if (!p) return Refuse(absl::UnauthenticatedError("unknown or revoked token"), peer, what);
  const bool allowed = p->role == Role::kAdmin || (need == Role::kIngest
                                                       ? p->role == Role::kIngest
                                                       : p->role != Role::kIngest &&
                                                             p->role >= need);
  if (!allowed)
    return Refuse(absl::PermissionDeniedError(absl::StrCat(
                      what, " needs role ", RoleName(need), "; token '", p->name, "' has role ",
                      RoleName(p->role))),
                  peer, what);
  return p;
}

absl::Status Authorizer::CheckIngest(const grpc::ServerContextBase& ctx,
                                     const smartbus::v1::IngestRequest& req, const Network& net) {
  auto p = Check(ctx, Role::kIngest, "ingest");
  if (!p.ok()) return p.status();
  const Principal* pr = p->get();
  if (pr == nullptr || (pr->agency.empty() && pr->vehicles.empty())) return absl::OkStatus();
  for (int i = 0; i < req.fixes_size(); ++i) {
    const smartbus::v1::Fix& f = req.fixes(i);
    std::string why;
    if (!pr->vehicles.empty() && !MatchesVehicle(pr->vehicles, f.vehicle_id())) {
      why = "is not one of its vehicles";
    } else if (!pr->agency.empty()) {
      const bool names = !f.trip_id().empty() || !f.route_id().empty();
      const std::string agency = names ? AgencyOfFix(f, net) : "";
      if (names && agency != pr->agency)
        why = absl::StrCat("names a trip/route of agency '", Abbreviate(agency, 40), "'");
      else if (!names && pr->vehicles.empty())
        why = "names no trip or route (an agency token without vehicles= must say them)";
    }
    if (!why.empty())
      return Refuse(absl::PermissionDeniedError(absl::StrCat(
                        "fixes[", i, "] (vehicle \"", Abbreviate(f.vehicle_id(), 40), "\") ",
                        why, ": token '", pr->name, "' may report for ",
                        pr->agency.empty() ? "" : absl::StrCat("agency ", pr->agency, " "),
                        pr->vehicles.empty() ? "" : "its listed vehicles",
                        "; nothing of this request was taken")),
                    PeerOf(ctx), "ingest");
  }
  return absl::OkStatus();
}

absl::Status Authorizer::Take(const grpc::ServerContextBase& ctx, double rate, double cost,
                              absl::string_view what) {
  if (rate <= 0) return absl::OkStatus();
  cost = std::min(cost, rate);  // a request bigger than the burst waits for a full bucket
  const std::string key = absl::StrCat(what, ":", ClientKey(PeerOf(ctx)));
  const int64_t now = NowNs();
  double wait_s = 0;
  {
    MutexLock l(mu_);
    if (buckets_.size() >= kMaxBuckets && !buckets_.contains(key)) buckets_.clear();
    auto [it, fresh] = buckets_.try_emplace(key);
    Bucket& b = it->second;
    if (fresh) b.tokens = rate;  // a burst of one second's worth
    else b.tokens = std::min(rate, b.tokens + rate * static_cast<double>(now - b.last_ns) * 1e-9);
    b.last_ns = now;
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return absl::OkStatus();
    }
    wait_s = (cost - b.tokens) / rate;
  }
  rate_limited_.fetch_add(1, std::memory_order_relaxed);
  return absl::ResourceExhaustedError(absl::StrCat(
      "rate limit: ", rate, " ", what == "f" ? "fixes" : "queries", "/s per client; retry in ",
      static_cast<int>(wait_s * 1000) + 1, " ms"));
}

absl::Status Authorizer::AdmitQuery(const grpc::ServerContextBase& ctx) {
  return Take(ctx, options_.query_rate_per_s, 1, "q");
}

absl::Status Authorizer::AdmitFixes(const grpc::ServerContextBase& ctx, size_t fixes) {
  return Take(ctx, options_.ingest_fixes_per_s, static_cast<double>(fixes), "f");
}

}  // namespace smartbus::server
