// TLS on the gRPC port: a client trusting the server's certificate gets answers (with a bearer
// token, through the same channel helper `smartbus` uses); a plaintext client cannot talk to a
// TLS port; a client trusting another CA is refused. The certificate is made by the openssl
// command (Debian's openssl package); skipped with a message when it is absent.

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/server/auth.h"
#include "services/server/server.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/core/gtfs/test_feed.h"
#include "tests/server/test_certs.h"

namespace smartbus::server {
namespace {

namespace pb = ::smartbus::v1;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

using smartbus::testing::MakeCert;

TEST(TlsTest, RoundTripAndPlaintextRefused) {
  smartbus::testing::TempDir tmp;
  if (!MakeCert(tmp.path(), "server") || !MakeCert(tmp.path(), "other"))
    GTEST_SKIP() << "the openssl command is not available to make a test certificate";
  const std::string token = "viewer-secret";
  { std::ofstream(tmp.path() + "/tokens") << "sha256:" << Sha256Hex(token) << " viewer\n"; }
  ServerOptions opt;
  opt.gtfs = {smartbus::testing::WriteFeedDir(tmp.path() + "/feed",
                                              smartbus::testing::MinimalFeed())};
  opt.listen = "127.0.0.1:0";
  opt.log = false;
  opt.shutdown_grace = absl::Milliseconds(200);
  opt.tls_cert_file = tmp.path() + "/server.crt";
  opt.tls_key_file = tmp.path() + "/server.key";
  opt.auth.tokens_file = tmp.path() + "/tokens";
  auto s = SmartbusServer::Create(opt);
  ASSERT_TRUE(s.ok()) << s.status();
  std::unique_ptr<SmartbusServer> server = std::move(*s);
  ASSERT_TRUE(server->Start().ok());
  const std::string addr = "127.0.0.1:" + std::to_string(server->port());
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return c;
  };
  auto tls_channel = [&](const std::string& ca_file) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadFile(ca_file);
    return grpc::CreateChannel(addr, grpc::SslCredentials(o));
  };

  // TLS, trusting the server's certificate: the passenger API without a token, the operator
  // API with one.
  auto ok = tls_channel(tmp.path() + "/server.crt");
  pb::GetArrivalsRequest ar;
  ar.set_stop_id("S1");
  pb::ArrivalsBoard b;
  grpc::Status st = pb::PassengerService::NewStub(ok)->GetArrivals(ctx().get(), ar, &b);
  EXPECT_TRUE(st.ok()) << st.error_message();
  pb::ServerStatus status;
  auto c = ctx();
  c->AddMetadata("authorization", "Bearer " + token);
  st = pb::OperatorService::NewStub(ok)->GetServerStatus(c.get(), pb::GetServerStatusRequest(),
                                                         &status);
  EXPECT_TRUE(st.ok()) << st.error_message();

  // Plaintext to the TLS port: no answer.
  auto plain = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  st = pb::PassengerService::NewStub(plain)->GetArrivals(ctx().get(), ar, &b);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  // TLS trusting another CA: refused at the handshake.
  auto wrong = tls_channel(tmp.path() + "/other.crt");
  st = pb::PassengerService::NewStub(wrong)->GetArrivals(ctx().get(), ar, &b);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  (void)server->Shutdown();
}

TEST(TlsTest, MissingKeyIsAClearError) {
  smartbus::testing::TempDir tmp;
  ServerOptions opt;
  opt.gtfs = {smartbus::testing::WriteFeedDir(tmp.path() + "/feed",
                                              smartbus::testing::MinimalFeed())};
  opt.listen = "127.0.0.1:0";
  opt.log = false;
  opt.tls_cert_file = tmp.path() + "/nope.crt";
  auto s = SmartbusServer::Create(opt);
  ASSERT_TRUE(s.ok());
  absl::Status st = (*s)->Start();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("--tls_key"));
}

}  // namespace
}  // namespace smartbus::server
