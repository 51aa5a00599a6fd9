#pragma once
// Shared pieces of the `smartbus` client subcommands (arrivals, watch, nearby, stops, stop,
// routes, vehicle, vehicles, fleet, health, status, push): the connection to smartbusd and
// output helpers.
//
// Every client subcommand takes --server HOST:PORT (default: $SMARTBUS_SERVER, else
// 127.0.0.1:50051), --timeout SECONDS (per call, default 10) and --json (protobuf's JSON
// mapping of the response, field names as in the .proto; 64-bit integers are JSON strings).
// Exit codes: 0 success, 1 the call failed (the message names the gRPC status), 2 usage error.

#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "services/cli/args.h"

namespace smartbus::v1 {
class GetFleetStatusResponse;
}

namespace smartbus::cli {

// The server address from --server / $SMARTBUS_SERVER / the default.
std::string ServerAddress(const Args& args);
// Security of every channel MakeChannel opens: --token / $SMARTBUS_TOKEN (bearer token),
// --tls, --ca FILE. ParseClientArgs sets it; commands with their own parsing call
// SetClientSecurity.
struct ClientSecurity {
  std::string token;
  bool tls = false;
  std::string ca_pem;  // empty: the system's roots
};
absl::Status SetClientSecurity(const Args& args);
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);
// Sets the call deadline from --timeout (seconds, default 10).
void SetDeadline(const Args& args, grpc::ClientContext* ctx);

// Prints "smartbus CMD: <CODE>: <message>" (and a hint when the server is unreachable);
// returns 1.
int CallFailed(const char* cmd, const std::string& address, const grpc::Status& s);

// Prints "smartbus CMD: WHY" and the usage line to stderr; returns 2 (a usage error).
int Usage(const char* cmd, const char* usage, const std::string& why);

// One JSON object (protobuf JSON mapping, proto field names, defaults included), newline.
std::string ToJson(const google::protobuf::Message& m, bool pretty = true);

// One unary call of a client command: `method` of a stub on --server, with the --timeout
// deadline. Prints the failure (returns 1) or, with --json, the response (returns 0); -1: the
// caller prints `resp` for people. E.g.
//   const int done = Call("stop", a, &pb::NetworkService::Stub::GetStop, req, &resp);
//   if (done >= 0) return done;
template <typename Stub, typename Request, typename Response>
int Call(const char* cmd, const Args& a,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
         const Request& req, Response* resp) {
  const std::string addr = ServerAddress(a);
  Stub stub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  grpc::Status s = (stub.*method)(&ctx, req, resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (!a.Has("json")) return -1;
  std::fputs(ToJson(*resp).c_str(), stdout);
  return 0;
}

// Parses a client command's arguments: `flags` (valueless) and `known` options plus the common
// --server, --timeout, --json, --help. On --help or an error prints the usage, sets
// *exit_code (0 / 2) and returns false.
bool ParseClientArgs(const char* cmd, const char* usage, int argc, char** argv,
                     std::set<std::string> flags, std::set<std::string> known, Args* out,
                     int* exit_code);

// --route R... and --from/--to EPOCH into an analytics request's route_ids and window; false
// (request untouched) when --from or --to is not an integer.
template <typename Request>
bool SetRoutesAndWindow(const Args& a, Request* req) {
  auto from = a.GetInt("from", 0), to = a.GetInt("to", 0);
  if (!from.ok() || !to.ok()) return false;
  for (const std::string& r : a.GetAll("route")) req->add_route_ids(r);
  req->mutable_window()->set_from(*from);
  req->mutable_window()->set_to(*to);
  return true;
}

// HH:MM:SS of an epoch time in `tz` (default: this machine's zone); "-" for 0 or less.
std::string ClockTime(int64_t epoch_s, absl::TimeZone tz = absl::LocalTimeZone());
// The named IANA zone (a board's time_zone), or this machine's zone when empty or unknown.
absl::TimeZone ZoneOrLocal(const std::string& name);
// "+2m05s" / "-40s" / "0s".
std::string SignedDuration(int64_t s);
// `smartbus fleet`: the condition of each bus whose terminal reports one (client_condition.cc).
void PrintConditions(const smartbus::v1::GetFleetStatusResponse& resp);

}  // namespace smartbus::cli
