#pragma once
// smartbus.v1.IngestService: the gRPC front of the ingest pipeline (ingest.h). StreamFixes
// answers each request of a bidirectional stream in order, with per-stream flow control
// (max_inflight requests); IngestBatch answers one request.

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"

#include "services/server/ingest.h"
#include "smartbus/v1/ingest.grpc.pb.h"

namespace smartbus::server {

class IngestServiceImpl final : public smartbus::v1::IngestService::CallbackService {
 public:
  // `ingest` outlives the service; a stream may have max_stream_inflight requests in flight
  // before the server stops reading it.
  // Decides whether a request may be taken at all (authorization, rate limit); its refusal is
  // the call's status (IngestBatch) or the request's in-band status (StreamFixes).
  using Gate = std::function<absl::Status(const grpc::ServerContextBase&,
                                          const smartbus::v1::IngestRequest&)>;
  IngestServiceImpl(Ingest* ingest, int max_stream_inflight, Gate gate)
      : ingest_(ingest), max_stream_inflight_(max_stream_inflight), gate_(std::move(gate)) {}

  grpc::ServerBidiReactor<smartbus::v1::IngestRequest, smartbus::v1::IngestResponse>*
  StreamFixes(grpc::CallbackServerContext*) override;
  grpc::ServerUnaryReactor* IngestBatch(grpc::CallbackServerContext* ctx,
                                        const smartbus::v1::IngestRequest* req,
                                        smartbus::v1::IngestResponse* resp) override;

  // Open StreamFixes calls.
  uint32_t streams() const { return streams_.load(); }

 private:
  Ingest* const ingest_;
  const int max_stream_inflight_;
  const Gate gate_;
  std::atomic<uint32_t> streams_{0};
};

}  // namespace smartbus::server
