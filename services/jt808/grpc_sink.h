#pragma once
// FixSink over smartbusd's IngestService: one StreamFixes stream (reopened when smartbusd goes
// away) carrying the fixes of every terminal, batched: a request leaves when it holds
// max_batch fixes or flush_interval after its first fix. Each terminal message's `done` runs
// when smartbusd answered the request holding its fixes; when the stream breaks, fixes in flight
// are answered overloaded (8), so the terminals send them again.
//
// Thread safety: Submit from any thread.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "services/jt808/gateway.h"

namespace smartbus::jt808 {

struct GrpcSinkOptions {
  std::string server = "127.0.0.1:50051";
  // Fixes per IngestRequest at most. Default 500.
  size_t max_batch = 500;
  // A request leaves at most this long after its first fix. Default 2 ms (adds at most that to
  // fix-to-prediction latency; at 1,000 fixes/s it still batches a few terminals per request).
  absl::Duration flush_interval = absl::Milliseconds(2);
  // Requests in flight on the stream at most (more waits). Default 64.
  int max_inflight = 64;
  // Sent as `authorization: Bearer <token>` on the stream (smartbusd --tokens: an ingest token,
  // whose agency= / vehicles= scope every fix of the stream must fit); "" = none.
  std::string token;
  // TLS to smartbusd (its --tls_cert); ca_pem: the CA certificates to trust ("" = the system's).
  bool tls = false;
  std::string ca_pem;
};

class GrpcSink : public FixSink {
 public:
  explicit GrpcSink(const GrpcSinkOptions& options);
  ~GrpcSink() override;
  void Submit(std::vector<Fix> fixes,
              std::function<void(std::vector<uint8_t>)> done) override;
  // Requests answered with a whole-request error, and stream (re)connections. A request
  // smartbusd refused for its token (UNAUTHENTICATED / PERMISSION_DENIED) is answered
  // kRefusedReason per fix; last_refusal() is smartbusd's message for the newest one.
  uint64_t refused_requests() const { return refused_.load(); }
  std::string last_refusal() const;
  uint64_t connects() const { return connects_.load(); }

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> connects_{0};
};

}  // namespace smartbus::jt808
