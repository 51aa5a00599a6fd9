// Who may use smartbusd's HTTP side, and over what:
//  HttpsTest     the HTTP port with a certificate (tls.h): /readyz and an API route over HTTPS
//                with the CA that signed it, a client trusting another CA refused, plaintext
//                answered 400 "HTTPS only", the certificate rotated without a restart (file
//                change, and SIGHUP's ReloadHttpTls), a broken rotation keeping the old pair,
//                bad files named at start.
//  HttpAuthTest  the token roles of auth.h through the HTTP routes: operator and analytics
//                routes (the heat map too) 401 without a token and 403 with a token lacking the
//                role, dispatcher writes refused to a viewer, pushed fixes (POST /api/v1/ingest)
//                bound to the token's vehicles; passenger routes, boards' data and public feeds
//                open.
//  HttpRateLimitTest  --query_rate over HTTP counts per client host (the HTTP client's address
//                reaches the services with the in-process call), not one bucket for all.
// Certificates are made with the openssl command; the HTTPS tests skip without it.

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/server/auth.h"
#include "services/server/http/frontend.h"
#include "services/server/http/http_server.h"
#include "services/server/server.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/minimal_server.h"
#include "tests/server/test_certs.h"

namespace smartbus::server {
namespace {

using ::testing::HasSubstr;
using smartbus::testing::MakeCa;
using smartbus::testing::MakeSignedCert;

constexpr int64_t kT0800 = 1767704400;  // 2026-01-06 (Tuesday) 08:00 America/New_York

// `dir`/ca.crt signs server.crt; `dir`/other.crt signs other-server.crt.
bool MakeCerts(const std::string& dir) {
  return MakeCa(dir, "ca") && MakeSignedCert(dir, "ca", "server") && MakeCa(dir, "other") &&
         MakeSignedCert(dir, "other", "other-server");
}

// Replaces dst with src the way a rotation does (a new file renamed over the old one).
void Install(const std::string& src, const std::string& dst) {
  std::filesystem::copy_file(src, dst + ".new", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(dst + ".new", dst);
}

// An HTTPS client of 127.0.0.1:port trusting only `ca_file`.
std::unique_ptr<httplib::SSLClient> Client(int port, const std::string& ca_file) {
  auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  c->set_ca_cert_path(ca_file.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(5);
  c->set_read_timeout(5);
  return c;
}

// Whether a client trusting `ca_file` gets /readyz within `wait` (polling: a rotation applies
// on a handshake after the reload interval).
bool ServedWith(int port, const std::string& ca_file, std::chrono::milliseconds wait) {
  const auto end = std::chrono::steady_clock::now() + wait;
  do {
    auto r = Client(port, ca_file)->Get("/readyz");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < end);
  return false;
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MakeCerts(tmp_.path())) GTEST_SKIP() << "the openssl command cannot make certificates";
    // The server reads its own copies, which the tests rotate.
    std::filesystem::copy_file(path("server.crt"), path("live.crt"));
    std::filesystem::copy_file(path("server.key"), path("live.key"));
  }
  std::string path(const std::string& name) const { return tmp_.path() + "/" + name; }
  void Start(int reload_s) {
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.http.http.listen = "127.0.0.1:0";
      opt.http.http.tls_cert_file = path("live.crt");
      opt.http.http.tls_key_file = path("live.key");
      opt.http.http.tls_reload_s = reload_s;
    });
    ASSERT_TRUE(server_);
    port_ = server_->http_port();
  }
  HttpServer& http() { return server_->http()->http(); }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  int port_ = 0;
};

TEST_F(HttpsTest, ReadyzAndApiOverHttpsWithTheCaOtherCaAndPlaintextRefused) {
  Start(10);
  EXPECT_TRUE(http().https());
  auto c = Client(port_, path("ca.crt"));
  auto ready = c->Get("/readyz");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 200);
  EXPECT_TRUE(nlohmann::json::parse(ready->body)["ready"].get<bool>()) << ready->body;
  auto stop = c->Get("/api/v1/stops/S1");
  ASSERT_TRUE(stop) << httplib::to_string(stop.error());
  EXPECT_EQ(stop->status, 200) << stop->body;
  EXPECT_THAT(stop->body, HasSubstr("\"stop_id\":\"S1\""));

  // A client trusting another CA refuses the server's certificate.
  auto wrong = Client(port_, path("other.crt"))->Get("/readyz");
  EXPECT_FALSE(wrong);
  EXPECT_EQ(wrong.error(), httplib::Error::SSLServerVerification);

  // Plaintext to the HTTPS port: a plaintext 400 that says so, and no data.
  httplib::Client plain("127.0.0.1", port_);
  plain.set_read_timeout(5);
  auto p = plain.Get("/api/v1/stops/S1");
  ASSERT_TRUE(p) << "plaintext client got no answer: " << httplib::to_string(p.error());
  EXPECT_EQ(p->status, 400);
  EXPECT_THAT(p->body, HasSubstr("HTTPS only"));
  EXPECT_THAT(p->body, ::testing::Not(HasSubstr("stop_id")));
  EXPECT_EQ(http().plaintext_refused(), 1u);

  // And the port still serves HTTPS.
  EXPECT_TRUE(ServedWith(port_, path("ca.crt"), std::chrono::milliseconds(0)));
}

TEST_F(HttpsTest, RotatedCertificateServedWithoutRestartAndABrokenOneKeepsTheOld) {
  Start(1);
  ASSERT_TRUE(ServedWith(port_, path("ca.crt"), std::chrono::milliseconds(0)));
  Install(path("other-server.crt"), path("live.crt"));
  Install(path("other-server.key"), path("live.key"));
  EXPECT_TRUE(ServedWith(port_, path("other.crt"), std::chrono::seconds(5)))
      << "the rotated certificate was not served within 5 s";
  EXPECT_FALSE(ServedWith(port_, path("ca.crt"), std::chrono::milliseconds(0)));
  EXPECT_GE(http().tls_reloads(), 1u);

  // A half-done rotation (a key that is not the certificate's) keeps the pair in use.
  Install(path("server.crt"), path("live.crt"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(ServedWith(port_, path("other.crt"), std::chrono::seconds(2)));
  EXPECT_GE(http().tls_reload_failures(), 1u);
  absl::Status st = server_->ReloadHttpTls();
  EXPECT_THAT(std::string(st.message()), HasSubstr("is not the key of certificate"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("live.key"));
  // Its key arrives: served.
  Install(path("server.key"), path("live.key"));
  EXPECT_TRUE(ServedWith(port_, path("ca.crt"), std::chrono::seconds(5)));
}

TEST_F(HttpsTest, SighupReloadAppliesAtOnce) {
  Start(3600);  // the file check would not run during the test
  Install(path("other-server.crt"), path("live.crt"));
  Install(path("other-server.key"), path("live.key"));
  EXPECT_TRUE(ServedWith(port_, path("ca.crt"), std::chrono::milliseconds(0)));
  ASSERT_TRUE(server_->ReloadHttpTls().ok());
  EXPECT_TRUE(ServedWith(port_, path("other.crt"), std::chrono::milliseconds(0)));
  EXPECT_FALSE(ServedWith(port_, path("ca.crt"), std::chrono::milliseconds(0)));
}

TEST_F(HttpsTest, BadCertificateFilesAreNamedAtStart) {
  auto start_error = [&](const std::string& cert, const std::string& key) {
    HttpOptions o;
    o.listen = "127.0.0.1:0";
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    HttpServer h(o);
    return std::string(h.Start().message());
  };
  EXPECT_THAT(start_error(path("server.crt"), path("nope.key")),
              HasSubstr("HTTPS private key " + path("nope.key") + ": cannot read"));
  EXPECT_THAT(start_error(path("server.crt"), path("other-server.key")),
              HasSubstr("is not the key of certificate " + path("server.crt")));
  { std::ofstream(path("junk.crt")) << "not a certificate\n"; }
  EXPECT_THAT(start_error(path("junk.crt"), path("server.key")),
              HasSubstr("HTTPS certificate " + path("junk.crt") + ": no PEM certificate"));
  EXPECT_THAT(start_error(path("server.crt"), ""), HasSubstr("both a certificate and a private key"));
}

// --- Tokens over HTTP ---

constexpr char kIngest[] = "ingest-secret";  // vehicles=bus*
constexpr char kViewer[] = "viewer-secret";
constexpr char kDispatcher[] = "dispatcher-secret";

class HttpAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      std::ofstream f(tmp_.path() + "/tokens");
      f << "sha256:" << Sha256Hex(kIngest) << " ingest vehicles=bus* name=gateway\n"
        << "sha256:" << Sha256Hex(kViewer) << " viewer name=viewer\n"
        << "sha256:" << Sha256Hex(kDispatcher) << " dispatcher name=dispatcher\n";
    }
    StartMinimalServer(tmp_, &server_, [&](ServerOptions& opt) {
      opt.http.http.listen = "127.0.0.1:0";
      opt.auth.tokens_file = tmp_.path() + "/tokens";
      opt.shard.engine.clock_mode = ClockMode::kFixes;
    });
    ASSERT_TRUE(server_);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
    client_->set_read_timeout(10);
  }
  // Status of GET `path` with `token` (nullptr: none).
  int Get(const std::string& path, const char* token, std::string* body = nullptr) {
    httplib::Headers h;
    if (token) h.emplace("Authorization", std::string("Bearer ") + token);
    auto r = client_->Get(path.c_str(), h);
    if (!r) return -1;
    if (body) *body = r->body;
    return r->status;
  }
  int Post(const std::string& path, const char* token, const std::string& json,
           std::string* body = nullptr) {
    httplib::Headers h;
    if (token) h.emplace("Authorization", std::string("Bearer ") + token);
    auto r = client_->Post(path.c_str(), h, json, "application/json");
    if (!r) return -1;
    if (body) *body = r->body;
    return r->status;
  }
  static std::string FixJson(const std::string& vehicle, int64_t t, double lat) {
    return nlohmann::json{{"fixes",
                           {{{"vehicle_id", vehicle},
                             {"timestamp", t},
                             {"lat", lat},
                             {"lon", -75.0},
                             {"trip_id", "T1"}}}}}
        .dump();
  }

  smartbus::testing::TempDir tmp_;
  std::unique_ptr<SmartbusServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpAuthTest, PushedFixesNeedAnIngestTokenCoveringTheVehicle) {
  std::string body;
  const uint64_t refusals = server_->auth().refusals();
  EXPECT_EQ(Post("/api/v1/ingest", nullptr, FixJson("bus1", kT0800, 40.0), &body), 401) << body;
  EXPECT_THAT(body, HasSubstr("needs a token"));
  EXPECT_EQ(Post("/api/v1/ingest", kViewer, FixJson("bus1", kT0800, 40.0), &body), 403) << body;
  // A vehicle outside the token's vehicles=bus*: refused whole, the bus did not move.
  EXPECT_EQ(Post("/api/v1/ingest", kIngest, FixJson("tram9", kT0800, 40.0), &body), 403) << body;
  EXPECT_THAT(body, HasSubstr("tram9"));
  EXPECT_EQ(Get("/api/v1/vehicles/tram9", nullptr), 404);
  EXPECT_EQ(server_->auth().refusals(), refusals + 3);  // every refusal counted
  EXPECT_EQ(Post("/api/v1/ingest", kIngest, FixJson("bus1", kT0800, 40.0), &body), 200) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["accepted"].get<int>(), 1) << body;
  EXPECT_EQ(Get("/api/v1/vehicles/bus1", nullptr, &body), 200) << body;
  EXPECT_THAT(body, HasSubstr("\"vehicle_id\":\"bus1\""));
  // A header that is not a bearer token is named.
  httplib::Headers basic{{"Authorization", "Basic Zm9vOmJhcg=="}};
  auto r = client_->Post("/api/v1/ingest", basic, FixJson("bus1", kT0800 + 10, 40.0001),
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_THAT(r->body, HasSubstr("not 'Bearer <token>'"));
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
}

TEST_F(HttpAuthTest, OperatorAndAnalyticsRoutesNeedTheirRole) {
  std::string body;
  for (const char* path : {"/api/v1/fleet", "/api/v1/status", "/api/v1/service-changes",
                           "/api/v1/analytics/routes", "/api/v1/analytics/fleet",
                           "/api/v1/heatmap"}) {
    EXPECT_EQ(Get(path, nullptr, &body), 401) << path << " " << body;
    EXPECT_EQ(Get(path, kIngest, &body), 403) << path << " " << body;
    EXPECT_EQ(Get(path, kViewer, &body), 200) << path << " " << body;
    EXPECT_EQ(Get(path, "wrong-token", &body), 401) << path << " " << body;
  }
  // Dispatcher actions: a viewer cannot cancel a trip or post an alert; a dispatcher can.
  EXPECT_EQ(Post("/api/v1/trips/T1/cancel", nullptr, "{}", &body), 401) << body;
  EXPECT_EQ(Post("/api/v1/trips/T1/cancel", kViewer, "{}", &body), 403) << body;
  EXPECT_THAT(body, HasSubstr("dispatcher"));
  const std::string alert = R"({"alert":{}})";  // the role is checked before the alert
  EXPECT_EQ(Post("/api/v1/alerts", kViewer, alert, &body), 403) << body;
  EXPECT_EQ(Post("/api/v1/trips/T1/cancel", kDispatcher, "{}", &body), 200) << body;
  EXPECT_EQ(Get("/api/v1/service-changes", kViewer, &body), 200);
  EXPECT_THAT(body, HasSubstr("T1"));
}

TEST_F(HttpAuthTest, PassengerRoutesBoardsAndPublicFeedsAreOpen) {
  for (const char* path :
       {"/readyz", "/healthz", "/api/v1/stops/S1", "/api/v1/stops/S1/arrivals",
        "/api/v1/stops?q=First", "/api/v1/routes", "/api/v1/vehicles?route_id=R1",
        "/api/v1/stops/near?lat=40&lon=-75", "/gtfs-rt/vehicle-positions",
        "/gtfs-rt/trip-updates", "/gtfs-rt/alerts", "/siri/stop-monitoring.json?MonitoringRef=S1",
        "/siri/vehicle-monitoring.json", "/api/v1/pages/config"}) {
    std::string body;
    EXPECT_EQ(Get(path, nullptr, &body), 200) << path << " " << body;
  }
}

// --- Rate limits over HTTP: per client host, not one bucket for every HTTP client ---

// Status code of GET `path` on 127.0.0.1:port from source address `from` (a loopback address
// of its own: 127.0.0.2 is another client host); -1 when it cannot connect.
int StatusFrom(const char* from, int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{}, dst{};
  src.sin_family = dst.sin_family = AF_INET;
  inet_pton(AF_INET, from, &src.sin_addr);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  dst.sin_port = htons(static_cast<uint16_t>(port));
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    close(fd);
    return -1;
  }
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  char buf[64] = {};
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  int status = -1;
  if (n > 12) std::sscanf(buf, "HTTP/1.%*d %d", &status);
  return status;
}

TEST(HttpRateLimitTest, EachHttpClientHostHasItsOwnBucket) {
  smartbus::testing::TempDir tmp;
  std::unique_ptr<SmartbusServer> server;
  StartMinimalServer(tmp, &server, [&](ServerOptions& opt) {
    opt.http.http.listen = "127.0.0.1:0";
    opt.auth.query_rate_per_s = 3;  // a burst of 3, then 3 per second
  });
  ASSERT_TRUE(server);
  const int port = server->http_port();
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    const int st = StatusFrom("127.0.0.1", port, "/api/v1/stops/S1");
    ok += st == 200;
    limited += st == 429;
  }
  EXPECT_GE(limited, 2) << ok << " answered, " << limited << " limited";
  // Another host is not held back by the first one's use.
  EXPECT_EQ(StatusFrom("127.0.0.2", port, "/api/v1/stops/S1"), 200);
  EXPECT_GE(server->auth().rate_limited(), 2u);
}

TEST(HttpRateLimitTest, ANetworkClientCannotClaimAnotherAddress) {
  smartbus::testing::TempDir tmp;
  std::unique_ptr<SmartbusServer> server;
  StartMinimalServer(tmp, &server, [&](ServerOptions& opt) {
    opt.http.http.listen = "127.0.0.1:0";
    opt.auth.query_rate_per_s = 3;
  });
  ASSERT_TRUE(server);
  auto stub = smartbus::v1::NetworkService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  auto get = [&](const char* forged) {
    grpc::ClientContext ctx;
    if (forged) ctx.AddMetadata(kHttpClientMetadata, forged);
    smartbus::v1::GetStopRequest req;
    req.set_stop_id("S1");
    smartbus::v1::Stop stop;
    return stub->GetStop(&ctx, req, &stop).error_code();
  };
  int limited = 0;
  for (int i = 0; i < 6; ++i) limited += get(nullptr) == grpc::StatusCode::RESOURCE_EXHAUSTED;
  EXPECT_GE(limited, 2);
  // The HTTP side's metadata without the process's secret does not buy a fresh bucket.
  EXPECT_EQ(get("0123456789abcdef [198.51.100.7]:1"), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

}  // namespace
}  // namespace smartbus::server
