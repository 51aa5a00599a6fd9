#include "services/server/http/json_api.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "services/core/common/mutex.h"
#include "services/server/auth.h"
#include "services/server/http/http_server.h"

namespace smartbus::server {
namespace {

namespace gp = ::google::protobuf;

// Parses one scalar value into field `f` of `msg` (added when repeated).
absl::Status SetScalar(gp::Message* msg, const gp::FieldDescriptor* f, const std::string& name,
                       const std::string& value) {
  const gp::Reflection* r = msg->GetReflection();
  const bool rep = f->is_repeated();
  auto bad = [&](const char* what) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter ", name, "=", value, ": ", what));
  };
  // An integer field: parsed as the field's type T (unsigned: no sign), stored with the
  // Reflection's Add (repeated) or Set for T.
  auto integer = [&](auto v, auto add, auto set) -> absl::Status {
    constexpr bool kUnsigned = std::is_unsigned_v<decltype(v)>;
    if ((kUnsigned && (value.empty() || value[0] == '-')) || !absl::SimpleAtoi(value, &v))
      return bad(kUnsigned ? "not an unsigned integer" : "not an integer");
    rep ? (r->*add)(msg, f, v) : (r->*set)(msg, f, v);
    return absl::OkStatus();
  };
  using R = gp::Reflection;
  switch (f->cpp_type()) {
    case gp::FieldDescriptor::CPPTYPE_STRING:
      rep ? r->AddString(msg, f, value) : r->SetString(msg, f, value);
      return absl::OkStatus();
    case gp::FieldDescriptor::CPPTYPE_INT32: return integer(int32_t{}, &R::AddInt32, &R::SetInt32);
    case gp::FieldDescriptor::CPPTYPE_INT64: return integer(int64_t{}, &R::AddInt64, &R::SetInt64);
    case gp::FieldDescriptor::CPPTYPE_UINT32:
      return integer(uint32_t{}, &R::AddUInt32, &R::SetUInt32);
    case gp::FieldDescriptor::CPPTYPE_UINT64:
      return integer(uint64_t{}, &R::AddUInt64, &R::SetUInt64);
    case gp::FieldDescriptor::CPPTYPE_DOUBLE:
    case gp::FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(value, &v)) return bad("not a number");
      if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_DOUBLE)
        rep ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
      else
        rep ? r->AddFloat(msg, f, static_cast<float>(v)) : r->SetFloat(msg, f, static_cast<float>(v));
      return absl::OkStatus();
    }
    case gp::FieldDescriptor::CPPTYPE_BOOL: {
      const std::string v = absl::AsciiStrToLower(value);
      bool b;
      if (v == "true" || v == "1" || v.empty()) b = true;
      else if (v == "false" || v == "0") b = false;
      else return bad("not a boolean (true/false/1/0)");
      rep ? r->AddBool(msg, f, b) : r->SetBool(msg, f, b);
      return absl::OkStatus();
    }
    case gp::FieldDescriptor::CPPTYPE_ENUM: {
      const gp::EnumValueDescriptor* ev = f->enum_type()->FindValueByName(value);
      int n;
      if (!ev && absl::SimpleAtoi(value, &n)) ev = f->enum_type()->FindValueByNumber(n);
      if (!ev) {
        std::vector<std::string> names;
        for (int i = 0; i < f->enum_type()->value_count(); ++i)
          names.push_back(f->enum_type()->value(i)->name());
        return bad(absl::StrCat("not one of ", absl::StrJoin(names, ", ")).c_str());
      }
      rep ? r->AddEnum(msg, f, ev) : r->SetEnum(msg, f, ev);
      return absl::OkStatus();
    }
    default:
      return bad("a message: set its fields with dots (name.field=...)");
  }
}

std::string KnownParams(const gp::Descriptor* d,
                        const std::vector<std::pair<std::string, std::string>>& aliases) {
  std::vector<std::string> names;
  for (int i = 0; i < d->field_count(); ++i) {
    const gp::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE) {
      names.push_back(f->name());
      continue;
    }
    for (int j = 0; j < f->message_type()->field_count(); ++j)
      names.push_back(absl::StrCat(f->name(), ".", f->message_type()->field(j)->name()));
  }
  for (const auto& [a, full] : aliases) names.push_back(a);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

class Caller {
 public:
  explicit Caller(std::shared_ptr<grpc::Channel> channel) : stub_(std::move(channel)) {}

  // Runs the unary method synchronously (deadline 10 s); the request's Authorization header
  // goes as the call's metadata, for the service's auth check.
  grpc::Status Call(const std::string& path, const HttpRequest& http_req, const gp::Message& req,
                    gp::Message* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ForwardCaller(http_req, &ctx);
    struct Reply {
      Mutex mu;
      std::condition_variable cv;
      bool done ABSL_GUARDED_BY(mu) = false;
      grpc::Status status ABSL_GUARDED_BY(mu);
    } reply;
    stub_.UnaryCall(&ctx, path, grpc::StubOptions(), &req, resp, [&](grpc::Status s) {
      MutexLock lock(reply.mu);
      reply.status = std::move(s);
      reply.done = true;
      reply.cv.notify_one();
    });
    UniqueLock lock(reply.mu);
    while (!reply.done) reply.cv.wait(lock.native());
    return reply.status;
  }

 private:
  grpc::TemplatedGenericStub<gp::Message, gp::Message> stub_;
};

}  // namespace

const std::vector<JsonRoute>& JsonRoutes() {
  static const auto* routes = new std::vector<JsonRoute>{
      // Passenger
      {"/api/v1/stops/near", "smartbus.v1.PassengerService.FindStopsNear",
       {{"lat", "position.lat"}, {"lon", "position.lon"}}},
      {"/api/v1/stops/{stop_id}/arrivals", "smartbus.v1.PassengerService.GetArrivals", {}},
      {"/api/v1/vehicles/{vehicle_id}", "smartbus.v1.PassengerService.GetVehicle", {}},
      {"/api/v1/trips/{trip_id}", "smartbus.v1.PassengerService.GetTripDetails", {}},
      {"/api/v1/vehicles", "smartbus.v1.PassengerService.ListVehicles",
       {{"south", "box.south"}, {"west", "box.west"}, {"north", "box.north"},
        {"east", "box.east"}}},
      // Network
      {"/api/v1/stops", "smartbus.v1.NetworkService.SearchStops", {{"q", "query"}}},
      {"/api/v1/stops/{stop_id}", "smartbus.v1.NetworkService.GetStop", {}},
      {"/api/v1/routes", "smartbus.v1.NetworkService.ListRoutes", {{"route_id", "route_ids"}}},
      // Operator
      {"/api/v1/fleet", "smartbus.v1.OperatorService.GetFleetStatus", {}},
      {"/api/v1/status", "smartbus.v1.OperatorService.GetServerStatus", {}},
      {"/api/v1/service-changes", "smartbus.v1.OperatorService.ListServiceChanges", {}},
      // Operator writes (POST, JSON body; a dispatcher token when smartbusd has --tokens)
      {"/api/v1/trips/{trip_id}/cancel", "smartbus.v1.OperatorService.CancelTrip", {}, true},
      {"/api/v1/trips/{trip_id}/restore", "smartbus.v1.OperatorService.RestoreTrip", {}, true},
      {"/api/v1/alerts", "smartbus.v1.OperatorService.PostAlert", {}, true},
      {"/api/v1/alerts/{alert_id}/end", "smartbus.v1.OperatorService.EndAlert", {}, true},
      // Pushed fixes (POST, an IngestRequest in JSON; an ingest token whose scope covers every
      // fix when smartbusd has --tokens): the IngestBatch call and its answer
      {"/api/v1/ingest", "smartbus.v1.IngestService.IngestBatch", {}, true},
      // Analytics
      {"/api/v1/analytics/routes", "smartbus.v1.AnalyticsService.GetRouteAnalytics",
       {{"from", "window.from"}, {"to", "window.to"}}},
      {"/api/v1/analytics/bunching", "smartbus.v1.AnalyticsService.GetBunching", {}},
      {"/api/v1/analytics/congestion", "smartbus.v1.AnalyticsService.GetCongestion", {}},
      {"/api/v1/analytics/fleet", "smartbus.v1.AnalyticsService.GetFleetCondition", {}},
      {"/api/v1/analytics/advice", "smartbus.v1.AnalyticsService.GetRouteAdvice",
       {{"route_id", "route_ids"}, {"from", "window.from"}, {"to", "window.to"}}},
      {"/api/v1/analytics/accuracy", "smartbus.v1.AnalyticsService.GetPredictionAccuracy",
       {{"route_id", "route_ids"}, {"from", "window.from"}, {"to", "window.to"}}},
      // Journey planner
      {"/api/v1/plan", "smartbus.v1.PlannerService.PlanJourney",
       {{"from_stop", "from.stop_id"}, {"to_stop", "to.stop_id"}, {"from_lat", "from.position.lat"},
        {"from_lon", "from.position.lon"}, {"to_lat", "to.position.lat"},
        {"to_lon", "to.position.lon"}}},
  };
  return *routes;
}

absl::Status FillFromParams(const std::vector<std::pair<std::string, std::string>>& params,
                            const std::vector<std::pair<std::string, std::string>>& aliases,
                            gp::Message* msg) {
  for (const auto& [name, value] : params) {
    std::string path = name;
    for (const auto& [a, full] : aliases)
      if (a == name) path = full;
    gp::Message* m = msg;
    const gp::FieldDescriptor* f = nullptr;
    std::vector<std::string> parts = absl::StrSplit(path, '.');
    for (size_t i = 0; i < parts.size(); ++i) {
      f = m->GetDescriptor()->FindFieldByName(parts[i]);
      if (!f) break;
      if (i + 1 == parts.size()) break;
      if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
        f = nullptr;
        break;
      }
      m = m->GetReflection()->MutableMessage(m, f);
    }
    if (!f)
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter \"", name, "\" (this call takes: ",
                       KnownParams(msg->GetDescriptor(), aliases), ")"));
    if (f->is_repeated()) {
      for (absl::string_view piece : absl::StrSplit(value, ',', absl::SkipEmpty()))
        if (auto st = SetScalar(m, f, name, std::string(piece)); !st.ok()) return st;
    } else if (auto st = SetScalar(m, f, name, value); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

std::string ToJson(const gp::Message& msg, bool every_field) {
  gp::util::JsonPrintOptions o;
  o.always_print_primitive_fields = every_field;
  o.preserve_proto_field_names = true;
  std::string out;
  if (!gp::util::MessageToJsonString(msg, &out, o).ok()) return "{}";
  out += '\n';
  return out;
}

std::string JsonRoutePattern(const std::string& path, std::vector<std::string>* fields) {
  std::string re;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] != '{') {
      re += path[i++];
      continue;
    }
    const size_t end = path.find('}', i);
    fields->push_back(path.substr(i + 1, end - i - 1));
    i = end + 1;
    re += i == path.size() ? "(.+)" : "([^/]+)";  // a last id segment may hold a '/'
  }
  return re;
}

int HttpStatusOf(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::FAILED_PRECONDITION: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

void ForwardCaller(const HttpRequest& req, grpc::ClientContext* ctx) {
  if (req.has_header("Authorization"))
    ctx->AddMetadata("authorization", req.get_header_value("Authorization"));
  ctx->AddMetadata(kHttpClientMetadata, absl::StrCat(HttpClientSecret(), " [", req.remote_addr,
                                                     "]:", req.remote_port));
}

void HttpErrorFromGrpc(const grpc::Status& s, HttpResponse& res) {
  if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED)
    res.set_header("WWW-Authenticate", "Bearer");
  HttpError(res, HttpStatusOf(s.error_code()), s.error_message());
}

void AddJsonApi(HttpServer* http, std::shared_ptr<grpc::Channel> channel) {
  auto caller = std::make_shared<Caller>(std::move(channel));
  const gp::DescriptorPool* pool = gp::DescriptorPool::generated_pool();
  for (const JsonRoute& route : JsonRoutes()) {
    const gp::MethodDescriptor* md = pool->FindMethodByName(route.method);
    if (!md) continue;  // a service this build does not have
    std::vector<std::string> path_fields;
    const std::string re = JsonRoutePattern(route.path, &path_fields);
    const gp::Message* req_proto = gp::MessageFactory::generated_factory()->GetPrototype(md->input_type());
    const gp::Message* resp_proto = gp::MessageFactory::generated_factory()->GetPrototype(md->output_type());
    const std::string grpc_path = absl::StrCat("/", md->service()->full_name(), "/", md->name());
    const std::string name = absl::StrCat("api.", md->name());
    auto handler = [=](const HttpRequest& req, HttpResponse& res) {
      std::unique_ptr<gp::Message> in(req_proto->New());
      std::unique_ptr<gp::Message> out(resp_proto->New());
      if (route.post && !req.body.empty()) {
        gp::util::JsonParseOptions o;
        o.ignore_unknown_fields = false;
        if (auto st = gp::util::JsonStringToMessage(req.body, in.get(), o); !st.ok())
          return HttpError(res, 400, absl::StrCat("body: not a ", md->input_type()->name(),
                                                  " in JSON: ", st.message().ToString()));
      }
      std::vector<std::pair<std::string, std::string>> params;
      for (size_t i = 0; i < path_fields.size() && i + 1 < req.matches.size(); ++i)
        params.emplace_back(path_fields[i], req.matches[i + 1].str());
      for (const auto& [k, v] : req.params) params.emplace_back(k, v);
      if (auto st = FillFromParams(params, route.aliases, in.get()); !st.ok())
        return HttpError(res, 400, std::string(st.message()));
      grpc::Status s = caller->Call(grpc_path, req, *in, out.get());
      if (!s.ok()) return HttpErrorFromGrpc(s, res);
      res.set_content(ToJson(*out), "application/json");
    };
    if (route.post) http->Post(re, name, handler);
    else http->Get(re, name, handler);
  }
}

}  // namespace smartbus::server
