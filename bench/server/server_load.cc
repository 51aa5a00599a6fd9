// server_load: load generator for a running smartbusd, over real gRPC (loopback).
//
// Synthetic buses drive real trips of the feed (the server's --gtfs) on their schedule: for a
// service date and start time, every trip instance running then gets a vehicle, whose fixes
// are its scheduled position along the trip's shape (with trip_id and route_id, like an AVL
// feed). Start smartbusd with --clock=fixes: fix times are simulated.
//
//   --mode=gateway   --streams K, batches of --batch fixes (default 100) per message, --window
//                    messages in flight per stream, as fast as the server takes them, for
//                    --seconds. Each vehicle's next fix is 10 s later in simulated time.
//                    Reports accepted fixes/s (over the run after a 2 s warm-up). The
//                    requests are built before the clock starts (--pregen_fixes_per_s), so the
//                    generator spends its CPU on sending, like a gateway forwarding fixes.
//   --mode=streams   --vehicles N concurrent bus streams (one gRPC stream per bus, spread over
//                    --channels connections), each sending one fix every --interval_s of wall
//                    time (staggered), fix time = start time + wall time elapsed. Reports the
//                    ingest-to-prediction latency (fix sent -> acknowledgement, which the server
//                    sends after the engine and predictor published the new snapshot), and,
//                    with --query_rate R, GetArrivals at R per second (open loop) at stops of
//                    those trips, with their latency. With --server_pid, the server's RSS
//                    before the first fix and at the end (memory per vehicle).
// Output: one JSON object on stdout.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_callback.h"
#include "bench/common/synthetic_fleet.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "smartbusd address");
ABSL_FLAG(std::vector<std::string>, gtfs, {}, "the feeds smartbusd serves (comma-separated)");
ABSL_FLAG(int32_t, date, 20260910, "service date YYYYMMDD");
ABSL_FLAG(std::string, start, "08:00", "local start time HH:MM");
ABSL_FLAG(std::string, mode, "gateway", "gateway | streams");
ABSL_FLAG(int, vehicles, 10000, "synthetic buses (at most the trips running at the start)");
ABSL_FLAG(int, seconds, 20, "run time (wall)");
ABSL_FLAG(int, batch, 100, "gateway: fixes per message");
ABSL_FLAG(int, streams, 4, "gateway: streams");
ABSL_FLAG(int, window, 16, "gateway: messages in flight per stream");
ABSL_FLAG(double, pregen_fixes_per_s, 150000,
          "gateway: fixes built before the clock starts, per second of --seconds (beyond them "
          "requests are built while sending)");
ABSL_FLAG(double, interval_s, 10, "streams: seconds between a bus's fixes");
ABSL_FLAG(int, channels, 8, "streams: gRPC connections");
ABSL_FLAG(double, query_rate, 0, "streams: GetArrivals per second (0 = none)");
ABSL_FLAG(int, server_pid, 0, "streams: smartbusd pid, to report its memory");
ABSL_FLAG(double, warmup_s, -1,
          "streams: latencies are recorded from this many seconds after the start (default: one "
          "interval + 2 s, so every bus has joined and sent its first fix)");

namespace smartbus {
namespace {

namespace pb = ::smartbus::v1;
using Clock = std::chrono::steady_clock;

using bench::Bus;
using bench::CpuSeconds;
using bench::Fleet;
using bench::Pct;
using bench::RssKiB;

// The scheduled position of bus i at time t as an ingest Fix (with trip_id and route_id, like
// an AVL feed).
void FixAt(const Fleet& fleet, size_t i, int64_t t, pb::Fix* out) {
  const Fleet::Position p = fleet.PositionAt(i, t);
  out->set_vehicle_id(fleet.bus(i).id);
  out->set_timestamp(t);
  out->set_lat(p.pos.lat);
  out->set_lon(p.pos.lon);
  out->set_speed_mps(static_cast<float>(p.speed_mps));
  out->set_bearing_deg(static_cast<float>(p.bearing_deg));
  out->set_trip_id(p.trip->id);
  out->set_route_id(fleet.feed().routes[p.trip->route].id);
}

std::shared_ptr<grpc::Channel> Channel(const std::string& addr, int i) {
  grpc::ChannelArguments a;
  a.SetInt("smartbus.bench.channel", i);  // distinct args: a connection of its own
  a.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), a);
}

// ---- gateway ----------------------------------------------------------------------------------

int RunGateway(const Fleet& fleet, int64_t t0) {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int batch = absl::GetFlag(FLAGS_batch);
  const int window = absl::GetFlag(FLAGS_window);
  const auto run = std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  const auto warmup = std::chrono::seconds(2);
  std::atomic<uint64_t> accepted{0}, rejected{0}, refused{0}, accepted_at_warmup{0};
  std::atomic<bool> stop{false};
  // Each stream builds its first requests before the clock starts (a real gateway forwards
  // fixes it already has: the generator's own CPU should not compete with the server for the
  // 2 cores); past those it builds them as it goes.
  const size_t pregen_requests = static_cast<size_t>(
      std::max(0.0, absl::GetFlag(FLAGS_pregen_fixes_per_s)) * absl::GetFlag(FLAGS_seconds) /
      std::max(1, streams * batch));
  std::mutex ready_mu;
  std::condition_variable ready_cv;
  int ready = 0;
  Clock::time_point start;
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      // This stream's buses: s, s + streams, ...; each bus's j-th fix at t0 + 10 j.
      std::vector<size_t> mine;
      for (size_t i = s; i < fleet.size(); i += streams) mine.push_back(i);
      std::vector<int64_t> next_t(mine.size(), t0);
      size_t cursor = 0;
      uint64_t seq = 0;
      auto fill = [&](pb::IngestRequest* req) {
        req->Clear();
        req->set_sequence(++seq);
        for (int k = 0; k < batch; ++k) {
          FixAt(fleet, mine[cursor], next_t[cursor], req->add_fixes());
          next_t[cursor] += 10;
          cursor = (cursor + 1) % mine.size();
        }
      };
      std::vector<pb::IngestRequest> pregen(mine.empty() ? 0 : pregen_requests);
      for (pb::IngestRequest& r : pregen) fill(&r);
      {
        std::unique_lock lock(ready_mu);
        ++ready;
        ready_cv.notify_all();
        ready_cv.wait(lock, [&] { return ready > streams; });  // the main thread says go
      }
      auto stub = pb::IngestService::NewStub(Channel(absl::GetFlag(FLAGS_server), s));
      grpc::ClientContext ctx;
      auto stream = stub->StreamFixes(&ctx);
      std::mutex mu;
      std::condition_variable cv;
      int inflight = 0;
      // Requests in flight by sequence (built on the fly ones owned here), and the refused ones
      // to send again: a gateway retries what the server refused (RESOURCE_EXHAUSTED: a queue
      // is full) after a short back-off, instead of dropping those fixes.
      std::map<uint64_t, const pb::IngestRequest*> in_flight;
      std::map<uint64_t, std::unique_ptr<pb::IngestRequest>> owned;
      std::vector<std::pair<Clock::time_point, uint64_t>> retry;
      std::thread reader([&] {
        pb::IngestResponse r;
        while (stream->Read(&r)) {
          std::lock_guard lock(mu);
          --inflight;
          if (r.status_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            refused += 1;
            retry.emplace_back(Clock::now() + std::chrono::milliseconds(5), r.sequence());
          } else {
            if (r.status_code() != 0) refused += 1;
            accepted += r.accepted();
            rejected += r.rejections_size();
            in_flight.erase(r.sequence());
            owned.erase(r.sequence());
          }
          cv.notify_one();
        }
      });
      size_t sent = 0;
      while (!stop && !mine.empty()) {
        const pb::IngestRequest* out = nullptr;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return inflight < window; });
          ++inflight;
          if (!retry.empty() && retry.front().first <= Clock::now()) {
            out = in_flight[retry.front().second];
            retry.erase(retry.begin());
          }
        }
        if (out == nullptr) {
          if (sent < pregen.size()) {
            out = &pregen[sent];
          } else {
            auto req = std::make_unique<pb::IngestRequest>();
            fill(req.get());
            out = req.get();
            std::lock_guard lock(mu);
            owned[req->sequence()] = std::move(req);
          }
          ++sent;
          std::lock_guard lock(mu);
          in_flight[out->sequence()] = out;
        }
        if (!stream->Write(*out)) break;
      }
      stream->WritesDone();
      reader.join();
      (void)stream->Finish();
    });
  }
  {
    std::unique_lock lock(ready_mu);
    ready_cv.wait(lock, [&] { return ready == streams; });
    start = Clock::now();
    ++ready;  // go
    ready_cv.notify_all();
  }
  std::this_thread::sleep_until(start + warmup);
  accepted_at_warmup = accepted.load();
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const double cpu0 = pid ? CpuSeconds(pid) : NAN;
  const Clock::time_point measured_from = Clock::now();
  std::this_thread::sleep_until(start + run);
  const uint64_t acc_end = accepted.load();
  const double cpu1 = pid ? CpuSeconds(pid) : NAN;
  const double secs = std::chrono::duration<double>(Clock::now() - measured_from).count();
  stop = true;
  for (auto& t : threads) t.join();
  std::printf("{\"mode\": \"gateway\", \"streams\": %d, \"batch\": %d, \"window\": %d, "
              "\"vehicles\": %zu, \"seconds\": %.1f, \"accepted_per_s\": %.0f, "
              "\"server_cpu_us_per_fix\": %.1f, "
              "\"accepted\": %llu, \"rejected\": %llu, \"refused_requests_retried\": %llu}\n",
              streams, batch, window, fleet.size(), secs, (acc_end - accepted_at_warmup) / secs,
              (cpu1 - cpu0) * 1e6 / static_cast<double>(acc_end - accepted_at_warmup),
              static_cast<unsigned long long>(accepted.load()),
              static_cast<unsigned long long>(rejected.load()),
              static_cast<unsigned long long>(refused.load()));
  return 0;
}

// ---- streams ----------------------------------------------------------------------------------

class Latencies {
 public:
  static std::atomic<bool>& Recording() {
    static std::atomic<bool> on{false};
    return on;
  }
  void Add(double ms) {
    if (!Recording().load(std::memory_order_relaxed)) return;
    std::lock_guard lock(mu_);
    v_.push_back(ms);
  }
  std::vector<double> Take() {
    std::lock_guard lock(mu_);
    return std::move(v_);
  }

 private:
  std::mutex mu_;
  std::vector<double> v_;
};

class BusStream : public grpc::ClientBidiReactor<pb::IngestRequest, pb::IngestResponse> {
 public:
  BusStream(pb::IngestService::Stub* stub, Latencies* lat, std::atomic<int>* done,
            std::atomic<uint64_t>* accepted)
      : lat_(lat), done_(done), accepted_(accepted) {
    stub->async()->StreamFixes(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }
  // Sends one fix unless the previous one is still being written.
  void Send(const pb::Fix& f) {
    if (writing_.exchange(true)) return;
    req_.Clear();
    req_.set_sequence(++seq_);
    *req_.add_fixes() = f;
    {
      std::lock_guard lock(mu_);
      sent_[seq_] = Clock::now();
    }
    StartWrite(&req_);
  }
  void OnWriteDone(bool) override { writing_ = false; }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    Clock::time_point t0;
    {
      std::lock_guard lock(mu_);
      auto it = sent_.find(resp_.sequence());
      if (it != sent_.end()) {
        t0 = it->second;
        sent_.erase(it);
      }
    }
    if (t0 != Clock::time_point()) lat_->Add(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    *accepted_ += resp_.accepted();
    StartRead(&resp_);
  }
  void OnDone(const grpc::Status&) override { done_->fetch_add(1); }
  void Cancel() { ctx_.TryCancel(); }

 private:
  grpc::ClientContext ctx_;
  pb::IngestRequest req_;
  pb::IngestResponse resp_;
  std::atomic<bool> writing_{false};
  uint64_t seq_ = 0;
  std::mutex mu_;
  std::map<uint64_t, Clock::time_point> sent_;
  Latencies* lat_;
  std::atomic<int>* done_;
  std::atomic<uint64_t>* accepted_;
};

int RunStreams(const Fleet& fleet, int64_t t0) {
  const std::string addr = absl::GetFlag(FLAGS_server);
  const int nch = absl::GetFlag(FLAGS_channels);
  const double interval = absl::GetFlag(FLAGS_interval_s);
  const auto run = std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const int64_t rss0 = pid ? RssKiB(pid) : -1;
  std::vector<std::unique_ptr<pb::IngestService::Stub>> stubs;
  for (int i = 0; i < nch; ++i) stubs.push_back(pb::IngestService::NewStub(Channel(addr, i)));
  Latencies ingest_lat, query_lat;
  std::atomic<int> done{0};
  std::atomic<uint64_t> accepted{0};
  std::vector<BusStream*> buses;
  for (size_t i = 0; i < fleet.size(); ++i)
    buses.push_back(new BusStream(stubs[i % nch].get(), &ingest_lat, &done, &accepted));

  // Queries at a fixed rate (open loop: a slow answer does not slow the sending).
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> queries_ok{0}, queries_failed{0};
  std::atomic<int> queries_inflight{0};
  std::thread querier;
  const double qrate = absl::GetFlag(FLAGS_query_rate);
  if (qrate > 0) {
    querier = std::thread([&] {
      auto stub = pb::PassengerService::NewStub(Channel(addr, 1000));
      const std::vector<std::string> stops = fleet.Stops();
      std::mt19937 rng(42);
      const auto period = std::chrono::duration<double>(1.0 / qrate);
      Clock::time_point next = Clock::now() + std::chrono::seconds(2);
      while (!stop) {
        std::this_thread::sleep_until(next);
        next += std::chrono::duration_cast<Clock::duration>(period);
        struct Call {
          grpc::ClientContext ctx;
          pb::GetArrivalsRequest req;
          pb::ArrivalsBoard resp;
          Clock::time_point t0;
        };
        auto* c = new Call;
        c->req.set_stop_id(stops[rng() % stops.size()]);
        c->t0 = Clock::now();
        ++queries_inflight;
        stub->async()->GetArrivals(&c->ctx, &c->req, &c->resp, [&, c](grpc::Status s) {
          if (s.ok()) {
            query_lat.Add(std::chrono::duration<double, std::milli>(Clock::now() - c->t0).count());
            ++queries_ok;
          } else {
            ++queries_failed;
          }
          delete c;
          --queries_inflight;
        });
      }
    });
  }

  // Bus i sends at start + offset_i + k * interval.
  const Clock::time_point start = Clock::now();
  const double warm = absl::GetFlag(FLAGS_warmup_s) >= 0 ? absl::GetFlag(FLAGS_warmup_s)
                                                        : interval + 2;
  std::thread recorder([&] {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(warm)));
    Latencies::Recording() = true;
  });
  const size_t n = fleet.size();
  std::vector<double> offset(n);
  for (size_t i = 0; i < n; ++i) offset[i] = interval * static_cast<double>(i) / n;
  pb::Fix fix;
  int64_t fixes_sent = 0;
  for (int64_t k = 0;; ++k) {
    bool over = false;
    for (size_t i = 0; i < n; ++i) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(offset[i] + k * interval));
      if (due - start >= run) {
        over = true;
        break;
      }
      std::this_thread::sleep_until(due);
      const int64_t t = t0 + static_cast<int64_t>(
                                 std::chrono::duration<double>(Clock::now() - start).count());
      FixAt(fleet, i, t, &fix);
      buses[i]->Send(fix);
      ++fixes_sent;
    }
    if (over) break;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // last answers
  recorder.join();
  const int64_t rss1 = pid ? RssKiB(pid) : -1;
  stop = true;
  if (querier.joinable()) querier.join();
  while (queries_inflight > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (BusStream* b : buses) b->Cancel();
  while (done.load() < static_cast<int>(n)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (BusStream* b : buses) delete b;
  std::vector<double> il = ingest_lat.Take(), ql = query_lat.Take();
  std::printf(
      "{\"mode\": \"streams\", \"vehicles\": %zu, \"interval_s\": %.1f, \"seconds\": %lld, "
      "\"fixes_sent\": %lld, \"acknowledged\": %zu, \"accepted\": %llu, "
      "\"ingest_ms_p50\": %.2f, \"ingest_ms_p99\": %.2f, \"ingest_ms_max\": %.2f, "
      "\"recorded_after_s\": %.1f, \"query_rate\": %.0f, \"queries\": %zu, \"queries_failed\": %llu, \"query_ms_p50\": %.2f, "
      "\"query_ms_p99\": %.2f, \"server_rss_before_kib\": %lld, \"server_rss_after_kib\": %lld, "
      "\"server_kib_per_vehicle\": %.1f}\n",
      n, interval, static_cast<long long>(run.count()), static_cast<long long>(fixes_sent),
      il.size(), static_cast<unsigned long long>(accepted.load()), Pct(il, 0.5), Pct(il, 0.99),
      il.empty() ? NAN : *std::max_element(il.begin(), il.end()), warm, qrate, ql.size(),
      static_cast<unsigned long long>(queries_failed.load()), Pct(ql, 0.5), Pct(ql, 0.99),
      static_cast<long long>(rss0), static_cast<long long>(rss1),
      pid ? static_cast<double>(rss1 - rss0) / n : NAN);
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock-cycle detection
  // on: a global graph updated on every lock gRPC takes. Off, as in a release build.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using namespace smartbus;
  const int32_t date = absl::GetFlag(FLAGS_date);
  auto start = bench::LoadFleetStart(absl::GetFlag(FLAGS_gtfs), date, absl::GetFlag(FLAGS_start));
  if (!start.ok()) {
    std::fprintf(stderr, "server_load: %s\n", std::string(start.status().message()).c_str());
    return 1;
  }
  const int64_t t0 = start->t0;
  const absl::CivilSecond cs = start->at;
  Fleet fleet(start->net, date, t0, absl::GetFlag(FLAGS_vehicles));
  std::fprintf(stderr, "server_load: %zu buses on %zu trips running at %s\n", fleet.size(),
               fleet.distinct_trips(), absl::FormatCivilTime(cs).c_str());
  if (fleet.size() == 0) return 1;
  if (absl::GetFlag(FLAGS_mode) == "streams") return RunStreams(fleet, t0);
  return RunGateway(fleet, t0);
}
