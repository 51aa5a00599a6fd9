#include "services/server/ingest_service.h"

#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "grpcpp/support/server_callback.h"
#include "services/core/common/mutex.h"
#include "services/server/convert.h"

namespace smartbus::server {
namespace {

class IngestStreamReactor : public grpc::ServerBidiReactor<pb::IngestRequest, pb::IngestResponse> {
 public:
  IngestStreamReactor(Ingest* ingest, std::atomic<uint32_t>* streams, int max_inflight,
                      const grpc::ServerContextBase* ctx, const IngestServiceImpl::Gate* gate)
      : ingest_(ingest), streams_(streams), max_inflight_(max_inflight), ctx_(ctx), gate_(gate) {
    streams_->fetch_add(1);
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool fin;
      {
        MutexLock lock(mu_);
        reads_done_ = true;
        fin = ShouldFinishLocked();
      }
      if (fin) Finish(grpc::Status::OK);
      return;
    }
    {
      MutexLock lock(mu_);
      ++inflight_;
    }
    const uint64_t seq = req_.sequence();
    absl::Status st = (*gate_)(*ctx_, req_);
    if (st.ok())
      st = ingest_->Submit(req_, [this](pb::IngestResponse r) { Deliver(std::move(r)); });
    if (!st.ok()) {
      pb::IngestResponse r;
      r.set_sequence(seq);
      r.set_status_code(static_cast<int32_t>(st.code()));
      r.set_status_message(std::string(st.message()));
      Deliver(std::move(r));
    }
    bool read = false;
    {
      MutexLock lock(mu_);
      if (inflight_ < max_inflight_) {
        read = true;
      } else {
        read_paused_ = true;
      }
    }
    if (read) StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    const pb::IngestResponse* next = nullptr;
    bool fin = false;
    {
      MutexLock lock(mu_);
      out_.pop_front();
      if (!ok) {
        broken_ = true;
        out_.clear();
      }
      if (!out_.empty()) {
        next = &out_.front();
      } else {
        writing_ = false;
        fin = ShouldFinishLocked();
      }
    }
    if (next) StartWrite(next);
    if (fin) Finish(grpc::Status::OK);
  }

  void OnDone() override {
    streams_->fetch_sub(1);
    delete this;
  }

 private:
  void Deliver(pb::IngestResponse r) {
    const pb::IngestResponse* write = nullptr;
    bool read = false, fin = false;
    {
      MutexLock lock(mu_);
      --inflight_;
      if (!broken_) {
        out_.push_back(std::move(r));
        if (!writing_) {
          writing_ = true;
          write = &out_.back();
        }
      }
      if (read_paused_ && inflight_ < max_inflight_ && !reads_done_) {
        read_paused_ = false;
        read = true;
      }
      fin = ShouldFinishLocked();
    }
    if (write) StartWrite(write);
    if (read) StartRead(&req_);
    if (fin) Finish(grpc::Status::OK);
  }

  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || inflight_ > 0 || writing_) return false;
    finished_ = true;
    return true;
  }

  Ingest* ingest_;
  std::atomic<uint32_t>* streams_;
  const int max_inflight_;
  const grpc::ServerContextBase* const ctx_;       // lives as long as the call
  const IngestServiceImpl::Gate* const gate_;
  pb::IngestRequest req_;
  Mutex mu_;
  std::deque<pb::IngestResponse> out_ ABSL_GUARDED_BY(mu_);
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<pb::IngestRequest, pb::IngestResponse>* IngestServiceImpl::StreamFixes(
    grpc::CallbackServerContext* ctx) {
  return new IngestStreamReactor(ingest_, &streams_, max_stream_inflight_, ctx, &gate_);
}

grpc::ServerUnaryReactor* IngestServiceImpl::IngestBatch(grpc::CallbackServerContext* ctx,
                                                         const pb::IngestRequest* req,
                                                         pb::IngestResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (absl::Status g = gate_(*ctx, *req); !g.ok()) {
    reactor->Finish(ToGrpc(g));
    return reactor;
  }
  absl::Status st = ingest_->Submit(*req, [reactor, resp](pb::IngestResponse r) {
    *resp = std::move(r);
    reactor->Finish(grpc::Status::OK);
  });
  if (!st.ok()) reactor->Finish(ToGrpc(st));
  return reactor;
}

}  // namespace smartbus::server
