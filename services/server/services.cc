#include "services/server/services.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"
#include "services/server/convert.h"
#include "services/server/server.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"

namespace smartbus::server {
namespace {

constexpr const char* kVersion = "0.1";

// A server-streaming call refused before it started.
template <typename T>
class ErrorWriteReactor : public grpc::ServerWriteReactor<T> {
 public:
  explicit ErrorWriteReactor(const grpc::Status& s) { this->Finish(s); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx, const absl::Status& s) {
  auto* r = ctx->DefaultReactor();
  r->Finish(ToGrpc(s));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Ingest

class Ingest {
 public:
  explicit Ingest(SmartbusServer* server) : server_(server) {}

  // Validates the request and hands its fixes to the shards; `done` gets the response once
  // every fix was processed (possibly on this thread, before Submit returns). A non-OK status
  // means the whole request was refused and `done` is never called.
  absl::Status Submit(const pb::IngestRequest& req, std::function<void(pb::IngestResponse)> done) {
    if (server_->draining())
      return absl::UnavailableError("server is shutting down: reconnect and send again");
    const size_t n = static_cast<size_t>(req.fixes_size());
    const ServerOptions& opt = server_->options();
    if (n == 0)
      return absl::InvalidArgumentError(
          absl::StrCat("fixes: empty request (send 1..", opt.max_batch, " fixes)"));
    if (n > opt.max_batch)
      return absl::InvalidArgumentError(
          absl::StrCat("fixes: ", n, " fixes in one request, the limit is ", opt.max_batch,
                       " (--max_batch): split the batch"));
    server_->fixes_received().fetch_add(n, std::memory_order_relaxed);
    auto& shards = server_->shards();
    // Admission: the store queue must have room for what this request and the fixes already
    // queued in the shards will produce.
    {
      size_t in_shards = 0;
      for (auto& sh : shards) in_shards += sh->queued();
      const StoreWriterStats ws = server_->writer().Stats();
      const size_t cap = opt.writer.queue_capacity;
      const size_t need = (n + in_shards) * static_cast<size_t>(opt.store_changes_per_fix);
      if (ws.queued + need > cap) {
        server_->shared().overloaded.fetch_add(n, std::memory_order_relaxed);
        StoreHealth h = server_->StorageHealth();
        return absl::ResourceExhaustedError(absl::StrCat(
            "store write queue full (", ws.queued, " of ", cap, " changes queued; storage ",
            h.serving ? "is slower than ingest" : absl::StrCat("down: ", h.reason),
            "): retry the same request after a back-off"));
      }
    }
    auto job = std::make_shared<IngestJob>();
    job->fixes.resize(n);
    job->reason.assign(n, 0);
    job->detail.resize(n);
    job->by_shard.resize(shards.size());
    size_t invalid = 0;
    for (size_t i = 0; i < n; ++i) {
      int reason = FixFromProto(req.fixes(static_cast<int>(i)), &job->fixes[i], &job->detail[i]);
      if (reason != 0) {
        job->reason[i] = static_cast<uint8_t>(reason);
        job->fixes[i].vehicle_id = req.fixes(static_cast<int>(i)).vehicle_id();
        job->fixes[i].timestamp_s = req.fixes(static_cast<int>(i)).timestamp();
        ++invalid;
        continue;
      }
      job->by_shard[server_->ShardIndex(job->fixes[i].vehicle_id)].push_back(
          static_cast<uint32_t>(i));
    }
    if (invalid) server_->shared().rejected.fetch_add(invalid, std::memory_order_relaxed);
    int parts = 0;
    size_t overloaded = 0;
    for (size_t s = 0; s < shards.size(); ++s) {
      auto& idx = job->by_shard[s];
      if (idx.empty()) continue;
      if (shards[s]->TryReserve(idx.size())) {
        ++parts;
        continue;
      }
      const std::string why =
          absl::StrCat("shard ", s, " queue full (", shards[s]->queued(), " of ",
                       shards[s]->capacity(), " fixes): send this fix again after a back-off");
      for (uint32_t i : idx) {
        job->reason[i] = kReasonOverloaded;
        job->detail[i] = why;
      }
      overloaded += idx.size();
      idx.clear();
    }
    if (overloaded) server_->shared().overloaded.fetch_add(overloaded, std::memory_order_relaxed);
    if (parts == 0 && overloaded > 0 && invalid == 0)
      return absl::ResourceExhaustedError(absl::StrCat(
          "every shard queue this request needs is full (", overloaded,
          " fixes refused): retry the same request after a back-off"));
    const uint64_t seq = req.sequence();
    SmartbusServer* server = server_;
    job->on_done = [seq, server, done = std::move(done)](IngestJob& j) {
      pb::IngestResponse r;
      r.set_sequence(seq);
      const int64_t now = server->Now();
      uint32_t accepted = 0;
      for (size_t i = 0; i < j.fixes.size(); ++i) {
        if (j.reason[i] == kAccepted) {
          ++accepted;
          continue;
        }
        pb::FixRejection* rej = r.add_rejections();
        rej->set_index(static_cast<uint32_t>(i));
        rej->set_vehicle_id(j.fixes[i].vehicle_id);
        rej->set_timestamp(j.fixes[i].timestamp_s);
        rej->set_reason(static_cast<pb::RejectReason>(j.reason[i]));
        rej->set_detail(j.detail[i].empty() ? RejectDetail(j.reason[i], j.fixes[i], now)
                                            : j.detail[i]);
      }
      r.set_accepted(accepted);
      r.set_server_time(now);
      done(std::move(r));
    };
    job->parts.store(parts, std::memory_order_release);
    if (parts == 0) {
      job->on_done(*job);
      return absl::OkStatus();
    }
    for (size_t s = 0; s < shards.size(); ++s)
      if (!job->by_shard[s].empty()) shards[s]->SubmitFixes(job);
    return absl::OkStatus();
  }

  std::atomic<uint32_t> streams{0};

 private:
  SmartbusServer* server_;
};

class IngestStreamReactor : public grpc::ServerBidiReactor<pb::IngestRequest, pb::IngestResponse> {
 public:
  IngestStreamReactor(Ingest* ingest, int max_inflight)
      : ingest_(ingest), max_inflight_(max_inflight) {
    ingest_->streams.fetch_add(1);
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool fin;
      {
        std::lock_guard lock(mu_);
        reads_done_ = true;
        fin = ShouldFinishLocked();
      }
      if (fin) Finish(grpc::Status::OK);
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++inflight_;
    }
    const uint64_t seq = req_.sequence();
    absl::Status st = ingest_->Submit(req_, [this](pb::IngestResponse r) { Deliver(std::move(r)); });
    if (!st.ok()) {
      pb::IngestResponse r;
      r.set_sequence(seq);
      r.set_status_code(static_cast<int32_t>(st.code()));
      r.set_status_message(std::string(st.message()));
      Deliver(std::move(r));
    }
    bool read = false;
    {
      std::lock_guard lock(mu_);
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
      std::lock_guard lock(mu_);
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
    ingest_->streams.fetch_sub(1);
    delete this;
  }

 private:
  void Deliver(pb::IngestResponse r) {
    const pb::IngestResponse* write = nullptr;
    bool read = false, fin = false;
    {
      std::lock_guard lock(mu_);
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

  bool ShouldFinishLocked() {
    if (finished_ || !reads_done_ || inflight_ > 0 || writing_) return false;
    finished_ = true;
    return true;
  }

  Ingest* ingest_;
  const int max_inflight_;
  pb::IngestRequest req_;
  std::mutex mu_;
  std::deque<pb::IngestResponse> out_;
  int inflight_ = 0;
  bool writing_ = false;
  bool reads_done_ = false;
  bool read_paused_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

class IngestServiceImpl final : public pb::IngestService::CallbackService {
 public:
  explicit IngestServiceImpl(SmartbusServer* server) : server_(server), ingest_(server) {}
  Ingest& ingest() { return ingest_; }
  const Ingest& ingest() const { return ingest_; }

  grpc::ServerBidiReactor<pb::IngestRequest, pb::IngestResponse>* StreamFixes(
      grpc::CallbackServerContext*) override {
    return new IngestStreamReactor(&ingest_, server_->options().max_stream_inflight);
  }

  grpc::ServerUnaryReactor* IngestBatch(grpc::CallbackServerContext* ctx,
                                        const pb::IngestRequest* req,
                                        pb::IngestResponse* resp) override {
    auto* reactor = ctx->DefaultReactor();
    absl::Status st = ingest_.Submit(*req, [reactor, resp](pb::IngestResponse r) {
      *resp = std::move(r);
      reactor->Finish(grpc::Status::OK);
    });
    if (!st.ok()) reactor->Finish(ToGrpc(st));
    return reactor;
  }

 private:
  SmartbusServer* server_;
  Ingest ingest_;
};

// ---------------------------------------------------------------------------------------------
// Display boards: one hub thread decides when each WatchArrivals stream gets its next board.

class WatchHub;

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

class WatchHub {
 public:
  explicit WatchHub(SmartbusServer* server) : server_(server) {
    thread_ = std::thread([this] { Run(); });
  }
  ~WatchHub() {
    {
      std::lock_guard lock(mu_);
      exit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  grpc::ServerWriteReactor<pb::ArrivalsBoard>* Watch(const pb::WatchArrivalsRequest& req) {
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
    auto view = server_->view();
    ArrivalsQuery q;
    absl::Status st = ResolveArrivalsQuery(req.query(), *view, server_->options().live_max_age_s, &q);
    if (!st.ok()) return new ErrorWriteReactor<pb::ArrivalsBoard>(ToGrpc(st));
    auto* r = new WatchReactor(
        this, view, q, req.query(), absl::Seconds(req.heartbeat_s() == 0 ? 15 : req.heartbeat_s()),
        absl::Milliseconds(req.min_interval_ms() == 0 ? 500 : req.min_interval_ms()));
    view->Watch(q.stop);
    {
      std::lock_guard lock(mu_);
      reactors_.insert(r);
    }
    Poke();
    return r;
  }

  void Poke() {
    if (!poked_.exchange(true)) {
      std::lock_guard lock(mu_);
      cv_.notify_one();
    }
  }

  void BeginShutdown() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    Poke();
    cv_.notify_all();
  }

  uint32_t size() const {
    std::lock_guard lock(mu_);
    return static_cast<uint32_t>(reactors_.size());
  }

  void WriteDone(WatchReactor* r, bool ok) {
    {
      std::lock_guard lock(mu_);
      r->writing_ = false;
      if (!ok) r->broken_ = true;
    }
    if (!ok) Poke();
  }
  void Cancelled(WatchReactor* r) {
    {
      std::lock_guard lock(mu_);
      r->cancelled_ = true;
    }
    Poke();
  }
  void Done(WatchReactor* r) {
    r->view_->Unwatch(r->q_.stop);
    std::lock_guard lock(mu_);
    reactors_.erase(r);
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!exit_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return exit_ || poked_.load(); });
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
          r->view_->Unwatch(r->q_.stop);
          view->Watch(q.stop);
          r->view_ = view;
          r->q_ = q;
          r->last_version_ = ~0ull;
        }
        const uint64_t v = view->StopVersion(r->q_.stop);
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
      lock.unlock();
      // Only this thread finishes watch streams, so none of these reactors can be gone yet.
      for (WatchReactor* r : write) r->StartWrite(&r->board_);
      for (auto& [r, s] : finish) r->Finish(s);
      lock.lock();
    }
  }

  SmartbusServer* server_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> poked_{false};
  bool stopping_ = false;
  bool exit_ = false;
  std::unordered_set<WatchReactor*> reactors_;
  std::thread thread_;
};

void WatchReactor::OnWriteDone(bool ok) { hub_->WriteDone(this, ok); }
void WatchReactor::OnCancel() { hub_->Cancelled(this); }
void WatchReactor::OnDone() {
  hub_->Done(this);
  delete this;
}

// ---------------------------------------------------------------------------------------------
// Passenger

absl::Status CheckLatLon(const pb::LatLon& p, const char* field) {
  if (!std::isfinite(p.lat()) || !std::isfinite(p.lon()) || p.lat() < -90 || p.lat() > 90 ||
      p.lon() < -180 || p.lon() > 180)
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": lat=", p.lat(), " lon=", p.lon(),
        " must be finite, lat -90..90, lon -180..180"));
  return absl::OkStatus();
}

class PassengerServiceImpl final : public pb::PassengerService::CallbackService {
 public:
  PassengerServiceImpl(SmartbusServer* server, WatchHub* hub) : server_(server), hub_(hub) {}

  grpc::ServerUnaryReactor* GetArrivals(grpc::CallbackServerContext* ctx,
                                        const pb::GetArrivalsRequest* req,
                                        pb::ArrivalsBoard* resp) override {
    auto view = server_->view();
    ArrivalsQuery q;
    absl::Status st = ResolveArrivalsQuery(*req, *view, server_->options().live_max_age_s, &q);
    if (st.ok()) BuildBoard(*view, q, server_->Now(), view->StopVersion(q.stop), false, resp);
    return Reply(ctx, st);
  }

  grpc::ServerWriteReactor<pb::ArrivalsBoard>* WatchArrivals(
      grpc::CallbackServerContext*, const pb::WatchArrivalsRequest* req) override {
    return hub_->Watch(*req);
  }

  grpc::ServerUnaryReactor* FindStopsNear(grpc::CallbackServerContext* ctx,
                                          const pb::FindStopsNearRequest* req,
                                          pb::FindStopsNearResponse* resp) override {
    if (!req->has_position())
      return Reply(ctx, absl::InvalidArgumentError("position: required (lat/lon in degrees)"));
    if (auto st = CheckLatLon(req->position(), "position"); !st.ok()) return Reply(ctx, st);
    if (!std::isfinite(req->radius_m()) || req->radius_m() < 0 || req->radius_m() > 5000)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("radius_m=", req->radius_m(), ": must be 0..5000 metres")));
    if (req->limit() > 200)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("limit=", req->limit(), ": must be 0..200")));
    auto view = server_->view();
    const Network& net = *view->network;
    auto near = net.StopsNear(LatLon{req->position().lat(), req->position().lon()},
                              req->radius_m() == 0 ? 500 : req->radius_m(),
                              req->limit() == 0 ? 20 : req->limit());
    for (const auto& [stop, d] : near) {
      auto* sd = resp->add_stops();
      StopToProto(net, stop, sd->mutable_stop());
      sd->set_distance_m(d);
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetVehicle(grpc::CallbackServerContext* ctx,
                                       const pb::GetVehicleRequest* req,
                                       pb::Vehicle* resp) override {
    if (req->vehicle_id().empty())
      return Reply(ctx, absl::InvalidArgumentError("vehicle_id: required"));
    auto slot = server_->ShardFor(req->vehicle_id()).directory().Find(req->vehicle_id());
    auto snap = slot ? slot->snapshot.load(std::memory_order_acquire) : nullptr;
    if (!snap)
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "vehicle_id \"", req->vehicle_id(),
                            "\": no fix received from this vehicle (nor recovered from the store)")));
    VehicleToProto(*snap, server_->Now(), server_->options().stale_after_s, resp);
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* ListVehicles(grpc::CallbackServerContext* ctx,
                                         const pb::ListVehiclesRequest* req,
                                         pb::ListVehiclesResponse* resp) override {
    auto view = server_->view();
    std::string route_id;
    pb::BoundingBox box;
    switch (req->selector_case()) {
      case pb::ListVehiclesRequest::kRouteId:
        if (req->route_id().empty())
          return Reply(ctx, absl::InvalidArgumentError("route_id: empty"));
        if (!view->network->FindRoute(req->route_id()))
          return Reply(ctx, absl::NotFoundError(absl::StrCat(
                                "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
        route_id = req->route_id();
        break;
      case pb::ListVehiclesRequest::kBox: {
        box = req->box();
        pb::LatLon sw, ne;
        sw.set_lat(box.south());
        sw.set_lon(box.west());
        ne.set_lat(box.north());
        ne.set_lon(box.east());
        if (auto st = CheckLatLon(sw, "box.south/west"); !st.ok()) return Reply(ctx, st);
        if (auto st = CheckLatLon(ne, "box.north/east"); !st.ok()) return Reply(ctx, st);
        if (box.south() > box.north() || box.west() > box.east())
          return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "box: south=", box.south(), " north=", box.north(), " west=",
                                box.west(), " east=", box.east(),
                                ": need south <= north and west <= east")));
        break;
      }
      default:
        return Reply(ctx, absl::InvalidArgumentError("selector: set route_id or box"));
    }
    const int64_t now = server_->Now();
    resp->set_now(now);
    auto all = server_->AllVehicles();
    std::vector<const VehicleSnapshot*> hits;
    for (const auto& s : all) {
      const VehicleState& st = s->state;
      if (!route_id.empty()) {
        const GtfsFeed& f = s->network->feed();
        uint32_t r = st.route;
        if (r == kNoIndex && st.trip != kNoIndex && st.trip < f.trips.size()) r = f.trips[st.trip].route;
        if (r == kNoIndex || r >= f.routes.size() || f.routes[r].id != route_id) continue;
      } else if (st.pos.lat < box.south() || st.pos.lat > box.north() ||
                 st.pos.lon < box.west() || st.pos.lon > box.east()) {
        continue;
      }
      hits.push_back(s.get());
    }
    std::sort(hits.begin(), hits.end(), [](auto* a, auto* b) {
      return a->state.vehicle_id < b->state.vehicle_id;
    });
    if (req->limit() > 0 && hits.size() > req->limit()) hits.resize(req->limit());
    for (const VehicleSnapshot* s : hits)
      VehicleToProto(*s, now, server_->options().stale_after_s, resp->add_vehicles());
    return Reply(ctx, absl::OkStatus());
  }

 private:
  SmartbusServer* server_;
  WatchHub* hub_;
};

// ---------------------------------------------------------------------------------------------
// Network

class NetworkServiceImpl final : public pb::NetworkService::CallbackService {
 public:
  explicit NetworkServiceImpl(SmartbusServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* ListRoutes(grpc::CallbackServerContext* ctx,
                                       const pb::ListRoutesRequest* req,
                                       pb::ListRoutesResponse* resp) override {
    auto view = server_->view();
    const Network& net = *view->network;
    const GtfsFeed& feed = net.feed();
    std::vector<uint32_t> routes;
    for (const std::string& id : req->route_ids()) {
      auto r = net.FindRoute(id);
      if (!r)
        return Reply(ctx, absl::NotFoundError(absl::StrCat(
                              "route_ids: \"", id, "\": no such route in the loaded feeds")));
      routes.push_back(*r);
    }
    if (routes.empty())
      for (uint32_t r = 0; r < feed.routes.size(); ++r) routes.push_back(r);
    std::sort(routes.begin(), routes.end(),
              [&](uint32_t a, uint32_t b) { return feed.routes[a].id < feed.routes[b].id; });
    routes.erase(std::unique(routes.begin(), routes.end()), routes.end());
    for (uint32_t r : routes) {
      const GtfsRoute& gr = feed.routes[r];
      pb::Route* out = resp->add_routes();
      out->set_route_id(gr.id);
      out->set_short_name(gr.short_name);
      out->set_long_name(gr.long_name);
      out->set_route_type(gr.type);
      if (gr.agency < feed.agencies.size()) out->set_agency_name(feed.agencies[gr.agency].name);
      if (!req->include_shapes()) continue;
      for (uint32_t pi : net.route_patterns(r)) {
        const Pattern& p = net.pattern(pi);
        pb::RoutePattern* po = out->add_patterns();
        po->set_direction_id(p.direction_id);
        if (!p.trips.empty()) po->set_headsign(feed.trips[p.trips.front()].headsign);
        po->set_length_m(net.polylines()[p.polyline].length_m());
        if (p.shape != kNoIndex && p.shape < feed.shapes.size()) {
          po->set_shape_id(feed.shapes[p.shape].id);
          for (const LatLon& ll : feed.shapes[p.shape].points) {
            auto* pt = po->add_points();
            pt->set_lat(ll.lat);
            pt->set_lon(ll.lon);
          }
        } else {
          for (uint32_t s : p.stops) {
            auto* pt = po->add_points();
            pt->set_lat(feed.stops[s].pos.lat);
            pt->set_lon(feed.stops[s].pos.lon);
          }
        }
        for (size_t k = 0; k < p.stops.size(); ++k) {
          po->add_stop_ids(feed.stops[p.stops[k]].id);
          po->add_stop_dist_m(k < p.stop_dist_m.size() ? p.stop_dist_m[k] : NAN);
        }
        po->set_trips(static_cast<uint32_t>(p.trips.size()));
      }
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* SearchStops(grpc::CallbackServerContext* ctx,
                                        const pb::SearchStopsRequest* req,
                                        pb::SearchStopsResponse* resp) override {
    if (req->query().empty())
      return Reply(ctx, absl::InvalidArgumentError(
                            "query: required (part of a stop name, or a stop_code or stop_id)"));
    if (req->query().size() > 200)
      return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                            "query: ", req->query().size(), " bytes, at most 200")));
    if (req->limit() > 1000)
      return Reply(ctx, absl::InvalidArgumentError(
                            absl::StrCat("limit=", req->limit(), ": must be 0..1000")));
    const size_t limit = req->limit() == 0 ? 20 : req->limit();
    auto view = server_->view();
    const Network& net = *view->network;
    const GtfsFeed& feed = net.feed();
    const std::string& q = req->query();
    const std::string q_lower = absl::AsciiStrToLower(q);
    std::string name_lower;
    std::vector<uint32_t> exact, by_name;
    for (uint32_t s = 0; s < feed.stops.size(); ++s) {
      const GtfsStop& st = feed.stops[s];
      if (st.id == q || (!st.code.empty() && st.code == q))
        exact.push_back(s);
      else if (name_lower = absl::AsciiStrToLower(st.name),
               absl::StrContains(name_lower, q_lower))
        by_name.push_back(s);
    }
    std::sort(by_name.begin(), by_name.end(), [&](uint32_t a, uint32_t b) {
      return feed.stops[a].name != feed.stops[b].name ? feed.stops[a].name < feed.stops[b].name
                                                      : feed.stops[a].id < feed.stops[b].id;
    });
    for (const auto* list : {&exact, &by_name})
      for (uint32_t s : *list)
        if (static_cast<size_t>(resp->stops_size()) < limit) StopToProto(net, s, resp->add_stops());
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetStop(grpc::CallbackServerContext* ctx,
                                    const pb::GetStopRequest* req, pb::Stop* resp) override {
    if (req->stop_id().empty()) return Reply(ctx, absl::InvalidArgumentError("stop_id: required"));
    auto view = server_->view();
    auto s = view->network->FindStop(req->stop_id());
    if (!s)
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "stop_id \"", req->stop_id(), "\": no such stop in the loaded feeds")));
    StopToProto(*view->network, *s, resp);
    return Reply(ctx, absl::OkStatus());
  }

 private:
  SmartbusServer* server_;
};

// ---------------------------------------------------------------------------------------------
// Operator

class OperatorServiceImpl final : public pb::OperatorService::CallbackService {
 public:
  OperatorServiceImpl(SmartbusServer* server, IngestServiceImpl* ingest, WatchHub* hub)
      : server_(server), ingest_(ingest), hub_(hub) {}

  grpc::ServerUnaryReactor* GetFleetStatus(grpc::CallbackServerContext* ctx,
                                           const pb::GetFleetStatusRequest* req,
                                           pb::GetFleetStatusResponse* resp) override {
    if (req->stale_after_s() < 0 || req->stale_after_s() > 86400)
      return Reply(ctx, absl::InvalidArgumentError(absl::StrCat(
                            "stale_after_s=", req->stale_after_s(), ": must be 0..86400")));
    auto view = server_->view();
    if (!req->route_id().empty() && !view->network->FindRoute(req->route_id()))
      return Reply(ctx, absl::NotFoundError(absl::StrCat(
                            "route_id \"", req->route_id(), "\": no such route in the loaded feeds")));
    const int64_t stale = req->stale_after_s() == 0 ? server_->options().stale_after_s
                                                    : req->stale_after_s();
    const int64_t now = server_->Now();
    resp->set_now(now);
    auto all = server_->AllVehicles();
    std::sort(all.begin(), all.end(),
              [](const auto& a, const auto& b) { return a->state.vehicle_id < b->state.vehicle_id; });
    for (const auto& s : all) {
      pb::Vehicle v;
      VehicleToProto(*s, now, stale, &v);
      if (!req->route_id().empty() && v.route_id() != req->route_id()) continue;
      switch (v.status()) {
        case pb::VEHICLE_STATUS_IN_SERVICE: resp->set_in_service(resp->in_service() + 1); break;
        case pb::VEHICLE_STATUS_LAYOVER: resp->set_layover(resp->layover() + 1); break;
        case pb::VEHICLE_STATUS_OFF_ROUTE: resp->set_off_route(resp->off_route() + 1); break;
        default: resp->set_unassigned(resp->unassigned() + 1); break;
      }
      if (v.stale()) resp->set_stale(resp->stale() + 1);
      *resp->add_vehicles() = std::move(v);
    }
    return Reply(ctx, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* ctx,
                                            const pb::GetServerStatusRequest*,
                                            pb::ServerStatus* resp) override {
    const ServerOptions& opt = server_->options();
    auto view = server_->view();
    const GtfsFeed& feed = view->network->feed();
    ShardShared& sh = server_->shared();
    resp->set_version(kVersion);
    resp->set_now(server_->Now());
    resp->set_clock(opt.clock_follows_fixes ? "fixes" : "wall");
    resp->set_started(server_->started_s());
    for (const auto& f : opt.gtfs) resp->add_feeds(f);
    resp->set_feeds_loaded_at(server_->feeds_loaded_s());
    resp->set_routes(static_cast<uint32_t>(feed.routes.size()));
    resp->set_stops(static_cast<uint32_t>(feed.stops.size()));
    resp->set_trips(static_cast<uint32_t>(feed.trips.size()));
    uint32_t vehicles = 0;
    for (auto& shard : server_->shards()) {
      auto* so = resp->add_shards();
      so->set_shard(static_cast<uint32_t>(shard->index()));
      so->set_vehicles(static_cast<uint32_t>(shard->directory().size()));
      so->set_queued_fixes(static_cast<uint32_t>(shard->queued()));
      so->set_queue_capacity(static_cast<uint32_t>(shard->capacity()));
      so->set_fixes_processed(shard->processed());
      vehicles += so->vehicles();
    }
    resp->set_vehicles(vehicles);
    resp->set_fixes_received(server_->fixes_received().load());
    resp->set_fixes_accepted(sh.accepted.load());
    resp->set_fixes_rejected(sh.rejected.load());
    resp->set_fixes_overloaded(sh.overloaded.load());
    resp->set_stop_visits(sh.stop_visits.load());
    const StoreWriterStats ws = server_->writer().Stats();
    const StoreHealth h = server_->StorageHealth();
    auto* st = resp->mutable_store();
    st->set_backend(server_->store().Describe());
    st->set_serving(h.serving);
    st->set_reason(h.reason);
    st->set_enqueued(ws.enqueued);
    st->set_applied(ws.applied);
    st->set_rejected(ws.rejected);
    st->set_queued(ws.queued);
    st->set_queue_capacity(opt.writer.queue_capacity);
    resp->set_ingest_streams(ingest_->ingest().streams.load());
    resp->set_watch_streams(hub_->size());
    resp->set_recovered_vehicles(server_->recovered_vehicles());
    // The learned model, as shard 0 holds it (every shard learns from every visit).
    const uint64_t segments = static_cast<uint64_t>(server_->shards()[0]->segments_learned());
    const std::string summary =
        absl::StrCat("smartbus layered predictor: ", segments, " segments learned");
    resp->set_model(summary);
    resp->set_model_observations(segments);
    return Reply(ctx, absl::OkStatus());
  }

 private:
  SmartbusServer* server_;
  IngestServiceImpl* ingest_;
  WatchHub* hub_;
};

class ServiceSetImpl final : public ServiceSet {
 public:
  explicit ServiceSetImpl(SmartbusServer* server)
      : hub_(server), ingest_(server), passenger_(server, &hub_), network_(server),
        operator_(server, &ingest_, &hub_) {
    server->shared().poke_watchers = [this] { hub_.Poke(); };
  }
  void Register(grpc::ServerBuilder* b) override {
    b->RegisterService(&ingest_);
    b->RegisterService(&passenger_);
    b->RegisterService(&network_);
    b->RegisterService(&operator_);
  }
  void BeginShutdown() override { hub_.BeginShutdown(); }
  uint32_t ingest_streams() const override { return ingest_.ingest().streams.load(); }
  uint32_t watch_streams() const override { return hub_.size(); }

 private:
  WatchHub hub_;
  IngestServiceImpl ingest_;
  PassengerServiceImpl passenger_;
  NetworkServiceImpl network_;
  OperatorServiceImpl operator_;
};

}  // namespace

std::unique_ptr<ServiceSet> MakeServiceSet(SmartbusServer* server) {
  return std::make_unique<ServiceSetImpl>(server);
}

}  // namespace smartbus::server
