// libFuzzer target: HTTP query and path parsing of smartbusd's HTTP side (services/server/http).
// The first line of the input is a request target ("/api/v1/stops/S1/arrivals?limit=3"), the
// rest a header value. What a request meets before any service runs is run on it, as the
// server does: cpp-httplib's path decoding and query splitting, the JSON mirror's route
// patterns (json_api.h JsonRoutePattern, matched as cpp-httplib matches them), FillFromParams
// into each matching route's request message (and the board stream's WatchArrivalsRequest),
// the heat map's query (heatmap.h) and the HTTP date of If-Modified-Since (ParseHttpDate).
// Any crash, leak, overflow or UB is a finding; a refused parameter is not.

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "services/server/http/heatmap.h"
#include "services/server/http/http_server.h"
#include "services/server/http/json_api.h"
#include "smartbus/v1/passenger.pb.h"

namespace {

namespace gp = ::google::protobuf;
using Params = std::vector<std::pair<std::string, std::string>>;

struct CompiledRoute {
  const smartbus::server::JsonRoute* route;
  std::regex re;
  std::vector<std::string> fields;
  const gp::Message* prototype;
};

const std::vector<CompiledRoute>& Routes() {
  static const auto* routes = [] {
    auto* out = new std::vector<CompiledRoute>;
    const gp::DescriptorPool* pool = gp::DescriptorPool::generated_pool();
    for (const smartbus::server::JsonRoute& r : smartbus::server::JsonRoutes()) {
      const gp::MethodDescriptor* md = pool->FindMethodByName(r.method);
      if (!md) continue;
      CompiledRoute c{&r, {}, {}, nullptr};
      c.re = std::regex(smartbus::server::JsonRoutePattern(r.path, &c.fields));
      c.prototype = gp::MessageFactory::generated_factory()->GetPrototype(md->input_type());
      out->push_back(std::move(c));
    }
    return out;
  }();
  return *routes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;  // cpp-httplib refuses request lines beyond 8 KB
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string target = input.substr(0, nl);
  const std::string header = nl == std::string::npos ? "" : input.substr(nl + 1);

  // As cpp-httplib: the path percent-decoded ('+' kept), the query split and decoded.
  const size_t q = target.find('?');
  const std::string path = httplib::detail::decode_url(target.substr(0, q), false);
  httplib::Params query;
  if (q != std::string::npos) httplib::detail::parse_query_text(target.substr(q + 1), query);

  for (const CompiledRoute& c : Routes()) {
    std::smatch m;
    if (!std::regex_match(path, m, c.re)) continue;
    Params params;
    for (size_t i = 0; i < c.fields.size() && i + 1 < m.size(); ++i)
      params.emplace_back(c.fields[i], m[i + 1].str());
    for (const auto& [k, v] : query) params.emplace_back(k, v);
    std::unique_ptr<gp::Message> msg(c.prototype->New());
    if (smartbus::server::FillFromParams(params, c.route->aliases, msg.get()).ok())
      (void)smartbus::server::ToJson(*msg);
  }
  // The board stream's parameters (pages.cc): its own fields and those of its query.
  {
    Params params(query.begin(), query.end());
    smartbus::v1::WatchArrivalsRequest w;
    (void)smartbus::server::FillFromParams(params, {}, &w);
    (void)smartbus::server::FillFromParams(params, {}, w.mutable_query());
  }
  (void)smartbus::server::ParseHeatmapQuery(query);
  (void)smartbus::server::ParseHttpDate(header);
  return 0;
}
