#pragma once
// The JSON mirror of the gRPC API: GET /api/v1/... runs the very same gRPC method (through the
// server's in-process channel, so the same service code, validation, auth and errors) and
// answers its response message in protobuf's JSON mapping (field names as in the .proto, every
// field printed). One data model: the smartbus.v1 messages.
//
// Operator writes (cancel / restore a trip, post / end an alert) are POST routes: the body is
// the request message in protobuf JSON (empty = no fields), path segments and query parameters
// fill fields as for GET. The request's `Authorization: Bearer <token>` header goes to the gRPC
// call as its `authorization` metadata, so the roles of auth.h apply as they do over gRPC
// (operator reads need a viewer token, writes a dispatcher token, when smartbusd has --tokens).
// Pushed fixes are POST /api/v1/ingest (IngestBatch; an ingest token, bound to its agency or
// vehicles as over gRPC: one fix out of scope refuses the request, 403, and no bus moves).
// Passenger, network and planner routes, the boards and the public feeds need no token.
//
// A route names the HTTP path (with {field} segments taken from the path) and the gRPC method;
// query parameters fill request fields by their .proto names (nested fields with dots, e.g.
// window.from; repeated fields by repeating the parameter or separating with commas; enums by
// name or number; a few short aliases such as lat/lon). Errors:
//   400  a parameter the call does not take, or a value of the wrong type (the message names
//        the parameter and the value), or the service's own INVALID_ARGUMENT;
//   400  also a POST body that is not the request message in JSON (the parser's message);
//   401  no token or an unknown one (UNAUTHENTICATED), 403 a token without the role
//        (PERMISSION_DENIED);
//   404  an unknown id (the service's NOT_FOUND, naming the id);
//   429/503/504  RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED.
// The body of an error is {"error":{"code":N,"status":"...","message":"..."}}.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace google::protobuf {
class Message;
class Descriptor;
}  // namespace google::protobuf
namespace grpc {
class Channel;
class ClientContext;
class Status;
}  // namespace grpc
namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace smartbus::server {

class HttpServer;

struct JsonRoute {
  std::string path;     // "/api/v1/stops/{stop_id}/arrivals"
  std::string method;   // full gRPC method: "smartbus.v1.PassengerService.GetArrivals"
  std::vector<std::pair<std::string, std::string>> aliases;  // {"lat", "position.lat"}
  bool post = false;    // POST with a JSON body (operator writes), else GET
};

// The routes of the JSON mirror (README lists them with curl lines).
const std::vector<JsonRoute>& JsonRoutes();

// The regex of a route's path ("/api/v1/stops/{stop_id}/arrivals" -> "/api/v1/stops/([^/]+)/
// arrivals"; a last {field} takes the rest, '/' included) and its path fields in order.
std::string JsonRoutePattern(const std::string& path, std::vector<std::string>* fields);

// Fills `msg` from query parameters (name -> values). INVALID_ARGUMENT naming the parameter.
absl::Status FillFromParams(const std::vector<std::pair<std::string, std::string>>& params,
                            const std::vector<std::pair<std::string, std::string>>& aliases,
                            google::protobuf::Message* msg);

// Adds every route of JsonRoutes() to `http`, calling the methods through `channel` (the gRPC
// server's in-process channel).
void AddJsonApi(HttpServer* http, std::shared_ptr<grpc::Channel> channel);

// Protobuf JSON of a message (proto field names). every_field: also fields at their default
// (the API's proto3 answers); false for proto2 messages (GTFS-RT: only what is set).
std::string ToJson(const google::protobuf::Message& msg, bool every_field = true);

// HTTP status for a gRPC status code number.
int HttpStatusOf(int grpc_code);

// For HTTP routes that call a gRPC service in process: the request's `Authorization` header as
// the call's `authorization` metadata (so auth.h's roles apply) and the HTTP client's address
// (kHttpClientMetadata: rate limits per client host, refusals logged with it), and a failed
// call's answer
// (its HTTP status and message; `WWW-Authenticate: Bearer` with a 401).
void ForwardCaller(const httplib::Request& req, grpc::ClientContext* ctx);
void HttpErrorFromGrpc(const grpc::Status& status, httplib::Response& res);

}  // namespace smartbus::server
