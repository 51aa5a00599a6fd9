#include "services/jt808/grpc_sink.h"

#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "grpcpp/grpcpp.h"
#include "services/core/common/mutex.h"
#include "services/proto_util/fix_to_proto.h"
#include "smartbus/v1/ingest.grpc.pb.h"

namespace smartbus::jt808 {

namespace pb = ::smartbus::v1;

namespace {

constexpr uint8_t kOverloaded = 8;
constexpr uint8_t kInvalidField = 7;
// Back-off before reopening a broken stream.
constexpr auto kReconnectDelay = std::chrono::milliseconds(200);

struct Entry {
  size_t n = 0;
  std::function<void(std::vector<uint8_t>)> done;
};

}  // namespace

class GrpcSink::Impl {
 public:
  Impl(GrpcSink* owner, const GrpcSinkOptions& o) : owner_(owner), opt_(o) {
    sender_ = std::thread([this] { Run(); });
  }
  ~Impl() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    sender_.join();
    // Whatever never left is answered overloaded.
    for (auto& e : pending_) e.second.done(std::vector<uint8_t>(e.second.n, kOverloaded));
  }

  void Submit(std::vector<Fix> fixes, std::function<void(std::vector<uint8_t>)> done) {
    {
      MutexLock lock(mu_);
      if (pending_.empty()) first_pending_ = std::chrono::steady_clock::now();
      pending_fixes_ += fixes.size();
      pending_.emplace_back(std::move(fixes), Entry{0, std::move(done)});
      pending_.back().second.n = pending_.back().first.size();
    }
    cv_.notify_all();
  }

 private:
  using Inflight = std::vector<Entry>;

  void Run() {
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (opt_.tls) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = opt_.ca_pem;
      creds = grpc::SslCredentials(o);
    }
    auto channel = grpc::CreateChannel(opt_.server, creds);
    auto stub = pb::IngestService::NewStub(channel);
    while (!Stopped()) {
      grpc::ClientContext ctx;
      if (!opt_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + opt_.token);
      auto stream = stub->StreamFixes(&ctx);
      owner_->connects_.fetch_add(1);
      std::thread reader([&] { ReadLoop(stream.get()); });
      SendLoop(stream.get());
      stream->WritesDone();
      if (Stopped()) WaitInflightDrained();
      ctx.TryCancel();
      reader.join();
      stream->Finish();
      FailInflight();
      if (!Stopped()) std::this_thread::sleep_for(kReconnectDelay);
    }
  }

  bool Stopped() {
    MutexLock lock(mu_);
    return stop_;
  }

  // Writes batches until the stream breaks or the sink stops.
  void SendLoop(grpc::ClientReaderWriter<pb::IngestRequest, pb::IngestResponse>* stream) {
    UniqueLock lock(mu_);
    while (true) {
      if (stop_ || broken_) {
        broken_ = false;
        return;
      }
      if (pending_.empty() || static_cast<int>(inflight_.size()) >= opt_.max_inflight) {
        cv_.wait(lock.native());
        continue;
      }
      const auto deadline = first_pending_ + absl::ToChronoNanoseconds(opt_.flush_interval);
      if (pending_fixes_ < opt_.max_batch && std::chrono::steady_clock::now() < deadline) {
        cv_.wait_until(lock.native(), deadline);
        continue;
      }
      pb::IngestRequest req;
      req.set_sequence(++seq_);
      Inflight& in = inflight_[seq_];
      size_t n = 0;
      while (!pending_.empty() && (n == 0 || n + pending_.front().first.size() <= opt_.max_batch)) {
        auto& [fixes, entry] = pending_.front();
        for (const Fix& f : fixes) FixToProto(f, req.add_fixes());
        n += fixes.size();
        in.push_back(std::move(entry));
        pending_.pop_front();
      }
      pending_fixes_ -= n;
      first_pending_ = std::chrono::steady_clock::now();
      lock.Unlock();
      const bool ok = stream->Write(req);
      lock.Lock();
      if (!ok) return;
    }
  }

  void ReadLoop(grpc::ClientReaderWriter<pb::IngestRequest, pb::IngestResponse>* stream) {
    pb::IngestResponse resp;
    while (stream->Read(&resp)) {
      Inflight in;
      {
        MutexLock lock(mu_);
        auto it = inflight_.find(resp.sequence());
        if (it == inflight_.end()) continue;
        in = std::move(it->second);
        inflight_.erase(it);
      }
      cv_.notify_all();
      Answer(resp, &in);
    }
    {
      MutexLock lock(mu_);
      broken_ = true;
    }
    cv_.notify_all();
  }

  void Answer(const pb::IngestResponse& resp, Inflight* in) {
    size_t total = 0;
    for (const Entry& e : *in) total += e.n;
    std::vector<uint8_t> reasons(total, 0);
    if (resp.status_code() != 0) {
      owner_->refused_.fetch_add(1);
      const auto code = static_cast<grpc::StatusCode>(resp.status_code());
      uint8_t r = kOverloaded;
      if (code == grpc::StatusCode::INVALID_ARGUMENT) r = kInvalidField;
      if (code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED) {
        r = kRefusedReason;
        MutexLock lock(mu_);
        last_refusal_ = resp.status_message();
      }
      std::fill(reasons.begin(), reasons.end(), r);
    }
    for (const pb::FixRejection& rej : resp.rejections())
      if (rej.index() < total) reasons[rej.index()] = static_cast<uint8_t>(rej.reason());
    size_t at = 0;
    for (Entry& e : *in) {
      e.done(std::vector<uint8_t>(reasons.begin() + static_cast<ptrdiff_t>(at),
                                  reasons.begin() + static_cast<ptrdiff_t>(at + e.n)));
      at += e.n;
    }
  }

  void WaitInflightDrained() {
    UniqueLock lock(mu_);
    cv_.wait_for(lock.native(), std::chrono::seconds(5),
                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inflight_.empty() || broken_; });
  }

  void FailInflight() {
    absl::flat_hash_map<uint64_t, Inflight> in;
    {
      MutexLock lock(mu_);
      in.swap(inflight_);
      broken_ = false;
    }
    for (auto& [seq, entries] : in)
      for (Entry& e : entries) e.done(std::vector<uint8_t>(e.n, kOverloaded));
  }

  GrpcSink* owner_;
  GrpcSinkOptions opt_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::pair<std::vector<Fix>, Entry>> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_fixes_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point first_pending_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<uint64_t, Inflight> inflight_ ABSL_GUARDED_BY(mu_);
  std::string last_refusal_ ABSL_GUARDED_BY(mu_);
  std::thread sender_;

 public:
  std::string LastRefusal() {
    MutexLock lock(mu_);
    return last_refusal_;
  }
};

GrpcSink::GrpcSink(const GrpcSinkOptions& options)
    : impl_(std::make_unique<Impl>(this, options)) {}
GrpcSink::~GrpcSink() { impl_.reset(); }
std::string GrpcSink::last_refusal() const { return impl_->LastRefusal(); }
void GrpcSink::Submit(std::vector<Fix> fixes, std::function<void(std::vector<uint8_t>)> done) {
  impl_->Submit(std::move(fixes), std::move(done));
}

}  // namespace smartbus::jt808
