// smartbus push --positions CSV [--speed X] [--batch N] [--server ADDR] ...
//
// Replays a recorded Positions CSV into a running smartbusd through IngestService.StreamFixes,
// timestamps unchanged, in timestamp order (stable: equal timestamps keep the file order).
//   --speed X   X times real time (default 1: a fix is sent when its time, counted from the
//               first fix, has come); --speed 0: as fast as the server takes them.
//   --batch N   gateway mode: ONE stream, up to N fixes per message (the fixes that are due),
//               several messages in flight (--window, default 32). Without --batch: one stream
//               per vehicle (at most --max-streams, default 512; beyond that vehicles share
//               streams), one fix per message, each waiting for its answer.
// Fixes refused for back-pressure (RESOURCE_EXHAUSTED / REJECT_REASON_OVERLOADED) are sent again
// after a back-off. Prints a summary (accepted, rejected by reason, rate); --json prints it as
// JSON on stdout. Exit 0 when every fix got an answer, 1 when the stream failed.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/cli/client.h"
#include "services/core/common/mutex.h"
#include "services/proto_util/fix_to_proto.h"
#include "services/cli/commands.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/csv_files.h"
#include "smartbus/v1/ingest.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace pb = ::smartbus::v1;
using Clock = std::chrono::steady_clock;

struct Totals {
  Mutex mu;
  uint64_t sent ABSL_GUARDED_BY(mu) = 0;  // fixes sent (retries included)
  uint64_t accepted ABSL_GUARDED_BY(mu) = 0;
  uint64_t retried ABSL_GUARDED_BY(mu) = 0;  // fixes sent again after back-pressure
  std::map<std::string, uint64_t> rejected ABSL_GUARDED_BY(mu);  // by reason name
  std::string first_error ABSL_GUARDED_BY(mu);
};

// RunGateway's state shared by its writer (the caller) and its reader thread.
struct GatewayState {
  Mutex mu;
  std::condition_variable cv;
  size_t inflight ABSL_GUARDED_BY(mu) = 0;
  std::map<uint64_t, std::vector<uint32_t>> pending ABSL_GUARDED_BY(mu);  // sequence -> fixes
  std::deque<uint32_t> retry ABSL_GUARDED_BY(mu);
  bool reader_done ABSL_GUARDED_BY(mu) = false;
};

std::string ReasonName(pb::RejectReason r) {
  std::string n = pb::RejectReason_Name(r);
  return n.size() > 14 ? absl::AsciiStrToLower(n.substr(14)) : n;  // drop "REJECT_REASON_"
}

class Pusher {
 public:
  Pusher(const std::vector<Fix>& fixes, double speed, std::shared_ptr<grpc::Channel> channel)
      : fixes_(fixes), speed_(speed), stub_(pb::IngestService::NewStub(channel)) {}

  Clock::time_point DueAt(const Fix& f) const {
    if (speed_ <= 0) return Clock::time_point::min();
    const double s = static_cast<double>(f.timestamp_s - fixes_.front().timestamp_s) / speed_;
    return start_ + std::chrono::microseconds(static_cast<int64_t>(s * 1e6));
  }

  // One stream per vehicle (capped): lock-step, one fix per message.
  bool RunPerVehicle(size_t max_streams) {
    start_ = Clock::now();
    absl::flat_hash_map<std::string, size_t> stream_of;
    std::vector<std::vector<uint32_t>> per_stream;
    for (uint32_t i = 0; i < fixes_.size(); ++i) {
      auto [it, fresh] = stream_of.try_emplace(fixes_[i].vehicle_id, stream_of.size() % max_streams);
      if (it->second >= per_stream.size()) per_stream.resize(it->second + 1);
      per_stream[it->second].push_back(i);
      (void)fresh;
    }
    std::vector<std::thread> threads;
    std::atomic<bool> ok{true};
    for (auto& list : per_stream)
      threads.emplace_back([&, list = &list] {
        if (!LockStep(*list)) ok = false;
      });
    for (auto& t : threads) t.join();
    return ok;
  }

  // One stream, batches of up to `batch` fixes, `window` messages in flight.
  bool RunGateway(size_t batch, size_t window) {
    start_ = Clock::now();
    grpc::ClientContext ctx;
    auto stream = stub_->StreamFixes(&ctx);
    GatewayState g;
    std::thread reader([&] {
      pb::IngestResponse r;
      while (stream->Read(&r)) {
        std::vector<uint32_t> idx;
        {
          MutexLock lock(g.mu);
          auto it = g.pending.find(r.sequence());
          if (it != g.pending.end()) {
            idx = std::move(it->second);
            g.pending.erase(it);
          }
        }
        std::vector<uint32_t> again;
        {
          MutexLock lock(totals.mu);
          if (r.status_code() != 0) {
            if (r.status_code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED)) {
              again = idx;
            } else {
              totals.rejected[absl::StrCat("request_status_", r.status_code())] += idx.size();
              if (totals.first_error.empty()) totals.first_error = r.status_message();
              if (r.status_code() == static_cast<int>(grpc::StatusCode::UNAVAILABLE)) abort_ = true;
            }
          } else {
            totals.accepted += r.accepted();
            for (const auto& rej : r.rejections()) {
              if (rej.reason() == pb::REJECT_REASON_OVERLOADED && rej.index() < idx.size()) {
                again.push_back(idx[rej.index()]);
              } else {
                ++totals.rejected[ReasonName(rej.reason())];
              }
            }
          }
          totals.retried += again.size();
        }
        if (!again.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        {
          MutexLock lock(g.mu);
          --g.inflight;
          g.retry.insert(g.retry.end(), again.begin(), again.end());
        }
        g.cv.notify_all();
      }
      MutexLock lock(g.mu);
      g.reader_done = true;
      g.cv.notify_all();
    });

    size_t next = 0;
    uint64_t seq = 0;
    bool write_ok = true;
    pb::IngestRequest req;
    while (write_ok) {
      std::vector<uint32_t> idx;
      {
        UniqueLock lock(g.mu);
        while (!(g.inflight < window || g.reader_done || abort_)) g.cv.wait(lock.native());
        if (g.reader_done || abort_) break;
        while (!g.retry.empty() && idx.size() < batch) {
          idx.push_back(g.retry.front());
          g.retry.pop_front();
        }
        if (idx.empty() && next >= fixes_.size()) {
          if (g.inflight == 0 && g.retry.empty()) break;
          g.cv.wait_for(lock.native(), std::chrono::milliseconds(50));
          continue;
        }
      }
      if (idx.empty()) {
        if (!SleepUntil(DueAt(fixes_[next]))) break;
        const Clock::time_point now = Clock::now();
        while (next < fixes_.size() && idx.size() < batch && DueAt(fixes_[next]) <= now)
          idx.push_back(static_cast<uint32_t>(next++));
      }
      req.Clear();
      req.set_sequence(++seq);
      for (uint32_t i : idx) FixToProto(fixes_[i], req.add_fixes());
      {
        MutexLock lock(g.mu);
        g.pending[seq] = idx;
        ++g.inflight;
      }
      {
        MutexLock lock(totals.mu);
        totals.sent += idx.size();
      }
      write_ok = stream->Write(req);
    }
    stream->WritesDone();
    reader.join();
    grpc::Status s = stream->Finish();
    if (!s.ok()) {
      MutexLock lock(totals.mu);
      totals.first_error = absl::StrCat("stream ended: ", s.error_message());
      return false;
    }
    MutexLock lock(g.mu);
    return g.pending.empty() && !abort_;
  }

  Totals totals;

 private:
  // Sleeps until t, or until the push was aborted (server gone); false when aborted.
  bool SleepUntil(Clock::time_point t) {
    while (!abort_.load()) {
      const Clock::time_point now = Clock::now();
      if (now >= t) return true;
      std::this_thread::sleep_for(std::min<Clock::duration>(t - now, std::chrono::milliseconds(100)));
    }
    return false;
  }

  bool LockStep(const std::vector<uint32_t>& list) {
    grpc::ClientContext ctx;
    auto stream = stub_->StreamFixes(&ctx);
    pb::IngestRequest req;
    pb::IngestResponse resp;
    uint64_t seq = 0;
    for (uint32_t i : list) {
      if (!SleepUntil(DueAt(fixes_[i]))) break;
      int backoff_ms = 10;
      while (true) {
        req.Clear();
        req.set_sequence(++seq);
        FixToProto(fixes_[i], req.add_fixes());
        if (abort_ || !stream->Write(req) || !stream->Read(&resp)) {
          abort_ = true;  // the other vehicles' streams stop too
          stream->WritesDone();
          grpc::Status s = stream->Finish();
          MutexLock lock(totals.mu);
          if (totals.first_error.empty())
            totals.first_error = absl::StrCat("stream ended: ", s.error_message());
          return false;
        }
        const bool busy =
            resp.status_code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED) ||
            (resp.rejections_size() == 1 &&
             resp.rejections(0).reason() == pb::REJECT_REASON_OVERLOADED);
        {
          MutexLock lock(totals.mu);
          ++totals.sent;
          if (busy) {
            ++totals.retried;
          } else if (resp.status_code() != 0) {
            ++totals.rejected[absl::StrCat("request_status_", resp.status_code())];
            if (totals.first_error.empty()) totals.first_error = resp.status_message();
            if (resp.status_code() == static_cast<int>(grpc::StatusCode::UNAVAILABLE))
              abort_ = true;  // shutting down: stop instead of sending the rest into it
          } else {
            totals.accepted += resp.accepted();
            for (const auto& rej : resp.rejections()) ++totals.rejected[ReasonName(rej.reason())];
          }
        }
        if (!busy) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(1000, backoff_ms * 2);
      }
    }
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    return s.ok() && !abort_;
  }

  std::atomic<bool> abort_{false};
  const std::vector<Fix>& fixes_;
  const double speed_;
  std::unique_ptr<pb::IngestService::Stub> stub_;
  Clock::time_point start_;
};

}  // namespace

int RunPush(int argc, char** argv) {
  const char* usage =
      "smartbus push --positions CSV [--speed X] [--batch N] [--window W] [--max-streams N] "
      "[--server ADDR] [--token T] [--tls] [--ca FILE] [--json] [--quiet]";
  auto a = Args::Parse(argc, argv, {"json", "help", "quiet", "tls"});
  if (!a.ok()) {
    std::fprintf(stderr, "smartbus push: %s\nusage: %s\n", std::string(a.status().message()).c_str(),
                 usage);
    return 2;
  }
  if (a->Has("help")) {
    std::printf("usage: %s\n", usage);
    return 0;
  }
  if (auto s = a->CheckKnown({"json", "help", "quiet", "positions", "speed", "batch", "window",
                              "max-streams", "server", "timeout", "token", "tls", "ca"});
      !s.ok() || !a->Has("positions") || !a->positional().empty()) {
    std::fprintf(stderr, "smartbus push: %s\nusage: %s\n",
                 s.ok() ? "--positions CSV is required" : std::string(s.message()).c_str(), usage);
    return 2;
  }
  auto speed = a->GetDouble("speed", 1);
  auto batch = a->GetInt("batch", 0);
  auto window = a->GetInt("window", 32);
  auto max_streams = a->GetInt("max-streams", 512);
  if (!speed.ok() || !batch.ok() || !window.ok() || !max_streams.ok() || *speed < 0 ||
      *batch < 0 || *window < 1 || *max_streams < 1) {
    std::fprintf(stderr,
                 "smartbus push: --speed >= 0, --batch >= 1, --window >= 1 and --max-streams >= 1 "
                 "take numbers\nusage: %s\n",
                 usage);
    return 2;
  }
  if (auto s = SetClientSecurity(*a); !s.ok()) {
    std::fprintf(stderr, "smartbus push: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::vector<Fix> fixes;
  PositionsReadStats rs;
  if (auto s = ReadPositionsCsv(a->Get("positions"), &fixes, &rs); !s.ok()) {
    std::fprintf(stderr, "smartbus push: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (fixes.empty()) {
    std::fprintf(stderr, "smartbus push: %s holds no fixes\n", a->Get("positions").c_str());
    return 1;
  }
  std::stable_sort(fixes.begin(), fixes.end(),
                   [](const Fix& x, const Fix& y) { return x.timestamp_s < y.timestamp_s; });
  const std::string addr = ServerAddress(*a);
  if (!a->Has("quiet"))
    std::fprintf(stderr, "smartbus push: %zu fixes to %s, speed %s, %s\n", fixes.size(),
                 addr.c_str(), *speed == 0 ? "max" : absl::StrCat(*speed, "x").c_str(),
                 a->Has("batch") ? absl::StrCat("one stream, batches of ", *batch).c_str()
                                 : "one stream per vehicle");
  Pusher pusher(fixes, *speed, MakeChannel(addr));
  auto t0 = Clock::now();
  bool ok = a->Has("batch") ? pusher.RunGateway(static_cast<size_t>(std::max<int64_t>(1, *batch)),
                                                static_cast<size_t>(*window))
                            : pusher.RunPerVehicle(static_cast<size_t>(*max_streams));
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  Totals& t = pusher.totals;
  MutexLock lock(t.mu);  // every pushing thread has ended
  uint64_t rejected = 0;
  for (const auto& [k, v] : t.rejected) rejected += v;
  if (a->Has("json")) {
    std::string rej;
    for (const auto& [k, v] : t.rejected) rej += absl::StrCat(rej.empty() ? "" : ", ", "\"", k, "\": ", v);
    std::printf("{\"fixes\": %zu, \"sent\": %llu, \"accepted\": %llu, \"rejected\": {%s}, "
                "\"retried\": %llu, \"elapsed_s\": %.3f, \"fixes_per_s\": %.1f, \"ok\": %s}\n",
                fixes.size(), static_cast<unsigned long long>(t.sent),
                static_cast<unsigned long long>(t.accepted), rej.c_str(),
                static_cast<unsigned long long>(t.retried), elapsed,
                elapsed > 0 ? t.accepted / elapsed : 0.0, ok ? "true" : "false");
  } else if (!a->Has("quiet")) {
    std::string rej;
    for (const auto& [k, v] : t.rejected) rej += absl::StrCat(rej.empty() ? "" : ", ", k, " ", v);
    std::fprintf(stderr,
                 "smartbus push: %llu accepted, %llu rejected%s, %llu resent after back-pressure; "
                 "%.2f s (%.0f fixes/s)\n",
                 static_cast<unsigned long long>(t.accepted),
                 static_cast<unsigned long long>(rejected),
                 rej.empty() ? "" : absl::StrCat(" (", rej, ")").c_str(),
                 static_cast<unsigned long long>(t.retried), elapsed,
                 elapsed > 0 ? t.accepted / elapsed : 0.0);
  }
  if (!ok) {
    std::fprintf(stderr, "smartbus push: %s\n",
                 t.first_error.empty() ? "not every fix got an answer" : t.first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace smartbus::cli
