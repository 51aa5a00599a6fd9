#include "services/cli/client.h"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include <fstream>
#include <sstream>

namespace smartbus::cli {

std::string ServerAddress(const Args& args) {
  if (args.Has("server")) return args.Get("server");
  const char* env = std::getenv("SMARTBUS_SERVER");
  if (env && *env) return env;
  return "127.0.0.1:50051";
}

namespace {

// Set once from the command line (ParseClientArgs / SetClientSecurity) before any channel.
ClientSecurity g_security;

// Adds `authorization: Bearer <token>` to every call of the channel.
class BearerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* token) : token_(token) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA))
      m->GetSendInitialMetadata()->emplace("authorization", "Bearer " + *token_);
    m->Proceed();
  }

 private:
  const std::string* token_;
};
class BearerFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&g_security.token);
  }
};

}  // namespace

absl::Status SetClientSecurity(const Args& args) {
  g_security = ClientSecurity();
  if (args.Has("token")) g_security.token = args.Get("token");
  else if (const char* env = std::getenv("SMARTBUS_TOKEN"); env && *env) g_security.token = env;
  g_security.tls = args.Has("tls") || args.Has("ca");
  if (args.Has("ca")) {
    std::ifstream f(args.Get("ca"));
    if (!f) return absl::NotFoundError(absl::StrCat("--ca ", args.Get("ca"), ": cannot read"));
    std::stringstream ss;
    ss << f.rdbuf();
    g_security.ca_pem = ss.str();
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments ch;
  ch.SetMaxReceiveMessageSize(256 << 20);
  ch.SetMaxSendMessageSize(256 << 20);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (g_security.tls) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = g_security.ca_pem;  // empty: the system's roots
    creds = grpc::SslCredentials(o);
  }
  if (g_security.token.empty()) return grpc::CreateCustomChannel(address, creds, ch);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> icpt;
  icpt.push_back(std::make_unique<BearerFactory>());
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, creds, ch,
                                                                 std::move(icpt));
}

void SetDeadline(const Args& args, grpc::ClientContext* ctx) {
  double t = 10;
  if (auto v = args.GetDouble("timeout", 10); v.ok() && *v > 0) t = *v;
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(t * 1000)));
}

namespace {
const char* CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "?";
  }
}
}  // namespace

int CallFailed(const char* cmd, const std::string& address, const grpc::Status& s) {
  std::fprintf(stderr, "smartbus %s: %s: %s\n", cmd, CodeName(s.error_code()),
               s.error_message().c_str());
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    std::fprintf(stderr,
                 "  (is smartbusd running at %s? set --server HOST:PORT or $SMARTBUS_SERVER)\n",
                 address.c_str());
  return 1;
}

int Usage(const char* cmd, const char* usage, const std::string& why) {
  std::fprintf(stderr, "smartbus %s: %s\nusage: %s\n", cmd, why.c_str(), usage);
  return 2;
}

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out + "\n";
}

bool ParseClientArgs(const char* cmd, const char* usage, int argc, char** argv,
                     std::set<std::string> flags, std::set<std::string> known, Args* out,
                     int* exit_code) {
  flags.insert({"json", "help", "tls"});
  known.insert(flags.begin(), flags.end());
  known.insert({"server", "timeout", "token", "ca"});
  auto a = Args::Parse(argc, argv, flags);
  if (!a.ok()) {
    std::fprintf(stderr, "smartbus %s: %s\nusage: %s\n", cmd,
                 std::string(a.status().message()).c_str(), usage);
    *exit_code = 2;
    return false;
  }
  if (a->Has("help")) {
    std::fprintf(stdout,
                 "usage: %s\n  common: --server HOST:PORT (default $SMARTBUS_SERVER or "
                 "127.0.0.1:50051), --timeout S, --json\n"
                 "          --token T (default $SMARTBUS_TOKEN: sent as 'authorization: Bearer T'),"
                 " --tls, --ca FILE (TLS; FILE = PEM roots to trust, implies --tls)\n",
                 usage);
    *exit_code = 0;
    return false;
  }
  if (auto s = a->CheckKnown(known); !s.ok()) {
    std::fprintf(stderr, "smartbus %s: %s\nusage: %s\n", cmd, std::string(s.message()).c_str(),
                 usage);
    *exit_code = 2;
    return false;
  }
  if (auto s = SetClientSecurity(*a); !s.ok()) {
    std::fprintf(stderr, "smartbus %s: %s\n", cmd, std::string(s.message()).c_str());
    *exit_code = 2;
    return false;
  }
  *out = std::move(*a);
  return true;
}

std::string ClockTime(int64_t epoch_s, absl::TimeZone tz) {
  if (epoch_s <= 0) return "-";
  return absl::FormatTime("%H:%M:%S", absl::FromUnixSeconds(epoch_s), tz);
}

absl::TimeZone ZoneOrLocal(const std::string& name) {
  absl::TimeZone tz;
  if (!name.empty() && absl::LoadTimeZone(name, &tz)) return tz;
  return absl::LocalTimeZone();
}

std::string SignedDuration(int64_t s) {
  const char* sign = s < 0 ? "-" : "+";
  int64_t a = s < 0 ? -s : s;
  if (a < 60) return absl::StrCat(s == 0 ? "" : sign, a, "s");
  return absl::StrFormat("%s%dm%02ds", sign, a / 60, a % 60);
}

}  // namespace smartbus::cli
