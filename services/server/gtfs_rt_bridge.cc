#include "services/server/gtfs_rt_bridge.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "services/proto_util/fix_to_proto.h"
#include "services/server/convert.h"
#include "services/server/server.h"

namespace smartbus::server {
namespace {

class ServerSink : public gtfs_rt::GtfsRtSink {
 public:
  explicit ServerSink(SmartbusServer* server) : server_(server) {}

  std::shared_ptr<const Network> network() override { return server_->view()->network; }

  IngestOutcome Ingest(const std::vector<Fix>& fixes) override {
    IngestOutcome out;
    if (fixes.empty()) return out;
    pb::IngestRequest req;
    req.mutable_fixes()->Reserve(static_cast<int>(fixes.size()));
    for (const Fix& f : fixes) FixToProto(f, req.add_fixes());
    std::promise<pb::IngestResponse> promise;
    std::future<pb::IngestResponse> answer = promise.get_future();
    absl::Status s = server_->ingest().Submit(
        req, [&promise](pb::IngestResponse r) { promise.set_value(std::move(r)); });
    if (!s.ok()) {  // refused as a whole (saturated, shutting down)
      out.overloaded = fixes.size();
      return out;
    }
    const pb::IngestResponse r = answer.get();
    out.accepted = r.accepted();
    for (const auto& rej : r.rejections()) {
      if (rej.reason() == pb::REJECT_REASON_OVERLOADED) ++out.overloaded;
      else ++out.rejected;
    }
    return out;
  }

  void ReplaceServiceChanges(const std::string& source, std::vector<TripChange> trips,
                             std::vector<Alert> alerts) override {
    (void)server_->service_changes().Edit([&](ServiceChanges& c) -> absl::StatusOr<ServiceChangeDiff> {
      return c.ReplaceSource(source, std::move(trips), std::move(alerts));
    });
  }

 private:
  SmartbusServer* const server_;
};

}  // namespace

std::unique_ptr<gtfs_rt::GtfsRtSink> MakeGtfsRtSink(SmartbusServer* server) {
  return std::make_unique<ServerSink>(server);
}

}  // namespace smartbus::server
