#include "services/server/watch_hub.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/server/arrivals.h"
#include "services/server/grpc_util.h"
#include "services/server/server.h"

namespace smartbus::server {

class WatchReactor : public grpc::ServerWriteReactor<pb::ArrivalsBoard> {
 public:
  WatchReactor(WatchHub* hub, std::shared_ptr<LiveView> view, ArrivalsQuery q,
               pb::GetArrivalsRequest req, absl::Duration heartbeat, absl::Duration min_interval)
      : hub_(hub), view_(std::move(view)), q_(q), req_(std::move(req)), heartbeat_(heartbeat),
        min_interval_(min_interval) {}
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  friend class WatchHub;
  WatchHub* hub_;
  std::shared_ptr<LiveView> view_;
  ArrivalsQuery q_;
  pb::GetArrivalsRequest req_;
  const absl::Duration heartbeat_;
  const absl::Duration min_interval_;
  // Guarded by the hub's mutex:
  uint64_t last_version_ = 0;
  absl::Time last_sent_ = absl::InfinitePast();
  bool sent_any_ = false;
  bool writing_ = false;
  bool cancelled_ = false;
  bool broken_ = false;
  bool finished_ = false;
  pb::ArrivalsBoard board_;
};

WatchHub::WatchHub(const SmartbusServer* server) : server_(server) {
  thread_ = std::thread([this] { Run(); });
}

WatchHub::~WatchHub() {
  {
    MutexLock lock(mu_);
    exit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

grpc::ServerWriteReactor<pb::ArrivalsBoard>* WatchHub::Watch(const pb::WatchArrivalsRequest& req) {
  if (server_->draining())
    return new ErrorWriteReactor<pb::ArrivalsBoard>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  if (req.heartbeat_s() > 3600)
    return new ErrorWriteReactor<pb::ArrivalsBoard>(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("heartbeat_s=", req.heartbeat_s(), ": must be 0..3600")));
  if (req.min_interval_ms() > 60000)
    return new ErrorWriteReactor<pb::ArrivalsBoard>(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("min_interval_ms=", req.min_interval_ms(), ": must be 0..60000")));
  if (size() >= server_->options().max_watch_streams)
    return new ErrorWriteReactor<pb::ArrivalsBoard>(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat(size(), " display-board streams are open, the server's limit "
                             "(--max_watch_streams); try again later")));
  auto view = server_->view();
  ArrivalsQuery q;
  absl::Status st = ResolveArrivalsQuery(req.query(), *view, server_->options().live_max_age_s, &q);
  if (!st.ok()) return new ErrorWriteReactor<pb::ArrivalsBoard>(ToGrpc(st));
  auto* r = new WatchReactor(
      this, view, q, req.query(), absl::Seconds(req.heartbeat_s() == 0 ? 15 : req.heartbeat_s()),
      absl::Milliseconds(req.min_interval_ms() == 0 ? 500 : req.min_interval_ms()));
  for (uint32_t s : ServedStops(q)) view->Watch(s);
  {
    MutexLock lock(mu_);
    reactors_.insert(r);
  }
  Poke();
  return r;
}

void WatchHub::Poke() {
  if (!poked_.exchange(true)) {
    MutexLock lock(mu_);
    cv_.notify_one();
  }
}

void WatchHub::BeginShutdown() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  Poke();
  cv_.notify_all();
}

uint32_t WatchHub::size() const {
  MutexLock lock(mu_);
  return static_cast<uint32_t>(reactors_.size());
}

void WatchHub::WriteDone(WatchReactor* r, bool ok) {
  {
    MutexLock lock(mu_);
    r->writing_ = false;
    if (!ok) r->broken_ = true;
  }
  if (!ok) Poke();
}
void WatchHub::Cancelled(WatchReactor* r) {
  {
    MutexLock lock(mu_);
    r->cancelled_ = true;
  }
  Poke();
}
void WatchHub::Done(WatchReactor* r) {
  for (uint32_t s : ServedStops(r->q_)) r->view_->Unwatch(s);
  MutexLock lock(mu_);
  reactors_.erase(r);
}

void WatchHub::Run() {
  UniqueLock lock(mu_);
  while (!exit_) {
    cv_.wait_for(lock.native(), std::chrono::milliseconds(100),
                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return exit_ || poked_.load(); });
    poked_ = false;
    if (exit_) break;
    const absl::Time now = absl::Now();
    const int64_t server_now = server_->Now();
    auto view = server_->view();
    std::vector<std::pair<WatchReactor*, grpc::Status>> finish;
    std::vector<WatchReactor*> write;
    for (WatchReactor* r : reactors_) {
      if (r->finished_ || r->writing_) continue;
      if (r->cancelled_ || r->broken_ || stopping_) {
        r->finished_ = true;
        finish.emplace_back(r, r->cancelled_ || r->broken_
                                   ? grpc::Status::CANCELLED
                                   : grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                  "server is shutting down"));
        continue;
      }
      if (r->view_ != view) {
        // GTFS reloaded: follow the stop into the new network.
        ArrivalsQuery q;
        absl::Status st =
            ResolveArrivalsQuery(r->req_, *view, server_->options().live_max_age_s, &q);
        if (!st.ok()) {
          r->finished_ = true;
          finish.emplace_back(r, ToGrpc(st));
          continue;
        }
        for (uint32_t s : ServedStops(r->q_)) r->view_->Unwatch(s);
        for (uint32_t s : ServedStops(q)) view->Watch(s);
        r->view_ = view;
        r->q_ = q;
        r->last_version_ = ~0ull;
      }
      const uint64_t v = QueryVersion(*view, r->q_);
      const bool changed = !r->sent_any_ || (v != r->last_version_ &&
                                              now - r->last_sent_ >= r->min_interval_);
      const bool heartbeat = now - r->last_sent_ >= r->heartbeat_;
      if (!changed && !heartbeat) continue;
      BuildBoard(*view, r->q_, server_now, v, !changed, &r->board_);
      r->last_version_ = v;
      r->last_sent_ = now;
      r->sent_any_ = true;
      r->writing_ = true;
      write.push_back(r);
    }
    lock.Unlock();
    // Only this thread finishes watch streams, so none of these reactors can be gone yet.
    for (WatchReactor* r : write) r->StartWrite(&r->board_);
    for (auto& [r, s] : finish) r->Finish(s);
    lock.Lock();
  }
}


void WatchReactor::OnWriteDone(bool ok) { hub_->WriteDone(this, ok); }
void WatchReactor::OnCancel() { hub_->Cancelled(this); }
void WatchReactor::OnDone() {
  hub_->Done(this);
  delete this;
}


}  // namespace smartbus::server
