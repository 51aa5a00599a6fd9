// End to end, with real processes: redis-server (appendonly yes, appendfsync always) +
// smartbusd --clock=fixes --shards=1 + the WMATA trace pushed through gRPC in ONE ordered
// stream (gateway batches, in timestamp order). Checks, in one run:
//   1. kill -9 Redis mid-stream, keep pushing, start Redis again: no acknowledged fix is
//      missing from the store once the server has caught up;
//   2. the arrivals of every stop equal what `smartbus replay` predicts for the same fixes
//      (each vehicle's last prediction for the stop, within 1 s), nothing missing either way;
//   3. SIGTERM smartbusd (exit 0), start it again on the same Redis: the same vehicles (id,
//      last fix, trip, status, position along the trip) and the same learned model come back.
// Skips with a message when the WMATA data set or the binaries are absent.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/core/engine/engine.h"
#include "services/core/prediction/harness.h"
#include "services/core/tracking/csv_io.h"
#include "services/store/store.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"
#include "tests/store/redis_test_server.h"

namespace smartbus {
namespace {

namespace pb = ::smartbus::v1;
using smartbus::testing::FreeLoopbackPort;
using smartbus::testing::RedisTestServer;

const std::string kData = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16";

// A child process with its output in a log file; killed (SIGKILL) if the test dies.
class Process {
 public:
  Process(std::vector<std::string> args, std::string log) : args_(std::move(args)), log_(log) {}
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool Start() {
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args_) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    return true;
  }
  // Sends `sig` and waits (at most timeout) for the exit code; -1 on timeout or signal death.
  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  int SignalAndWait(int sig, std::chrono::seconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string Log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  std::vector<std::string> args_;
  std::string log_;
  pid_t pid_ = -1;
};

struct Stubs {
  explicit Stubs(const std::string& addr) {
    grpc::ChannelArguments ca;
    ca.SetMaxReceiveMessageSize(256 << 20);
    auto ch = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), ca);
    ingest = pb::IngestService::NewStub(ch);
    passenger = pb::PassengerService::NewStub(ch);
    network = pb::NetworkService::NewStub(ch);
    op = pb::OperatorService::NewStub(ch);
    health = grpc::health::v1::Health::NewStub(ch);
  }
  std::unique_ptr<pb::IngestService::Stub> ingest;
  std::unique_ptr<pb::PassengerService::Stub> passenger;
  std::unique_ptr<pb::NetworkService::Stub> network;
  std::unique_ptr<pb::OperatorService::Stub> op;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 20) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

bool WaitServing(Stubs& s, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    auto ctx = Ctx(1);
    if (s.health->Check(ctx.get(), req, &resp).ok() &&
        resp.status() == grpc::health::v1::HealthCheckResponse::SERVING)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

pb::Fix ToProto(const Fix& f) {
  pb::Fix out;
  out.set_vehicle_id(f.vehicle_id);
  out.set_timestamp(f.timestamp_s);
  out.set_lat(f.lat);
  out.set_lon(f.lon);
  if (std::isfinite(f.bearing_deg)) out.set_bearing_deg(f.bearing_deg);
  if (std::isfinite(f.speed_mps)) out.set_speed_mps(f.speed_mps);
  out.set_trip_id(f.trip_id);
  out.set_route_id(f.route_id);
  if (f.occupancy >= 0) out.set_occupancy(static_cast<pb::Occupancy>(f.occupancy + 1));
  return out;
}

// Pushes fixes [begin, end) through one stream in order, batches of 100; records the
// acknowledged (vehicle, timestamp) pairs. Returns false when the stream failed.
bool Push(Stubs& s, const std::vector<Fix>& fixes, size_t begin, size_t end,
          std::set<std::pair<std::string, int64_t>>* acked, int64_t* rejected) {
  grpc::ClientContext ctx;
  auto stream = s.ingest->StreamFixes(&ctx);
  std::map<uint64_t, std::pair<size_t, size_t>> ranges;
  uint64_t seq = 0;
  for (size_t i = begin; i < end; i += 100) {
    pb::IngestRequest req;
    req.set_sequence(++seq);
    const size_t j = std::min(end, i + 100);
    for (size_t k = i; k < j; ++k) *req.add_fixes() = ToProto(fixes[k]);
    ranges[seq] = {i, j};
    if (!stream->Write(req)) break;
  }
  stream->WritesDone();
  pb::IngestResponse r;
  size_t answered = 0;
  while (stream->Read(&r)) {
    ++answered;
    if (r.status_code() != 0) {
      ADD_FAILURE() << "request " << r.sequence() << " refused: " << r.status_message();
      continue;
    }
    auto [a, b] = ranges[r.sequence()];
    std::vector<bool> bad(b - a, false);
    for (const auto& rej : r.rejections()) {
      bad[rej.index()] = true;
      ++*rejected;
      EXPECT_NE(rej.reason(), pb::REJECT_REASON_OVERLOADED) << rej.detail();
    }
    for (size_t k = a; k < b; ++k)
      if (!bad[k - a]) acked->emplace(fixes[k].vehicle_id, fixes[k].timestamp_s);
  }
  grpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  return st.ok() && answered == ranges.size();
}

pb::ServerStatus Status(Stubs& s) {
  pb::ServerStatus st;
  EXPECT_TRUE(s.op->GetServerStatus(Ctx().get(), pb::GetServerStatusRequest(), &st).ok());
  return st;
}

// Waits until everything the server queued for the store has been written.
bool WaitStoreCaughtUp(Stubs& s, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pb::ServerStatus st = Status(s);
    if (st.store().serving() && st.store().queued() == 0 &&
        st.store().applied() == st.store().enqueued())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

struct PredRow {
  int64_t made_at;
  int64_t predicted;
};
// (vehicle, trip, stop_id, stop_sequence) -> that vehicle's LAST prediction, from a
// Predictions CSV; also each vehicle's last made_at.
using PredKey = std::tuple<std::string, std::string, std::string, uint32_t>;
bool ReadPredictions(const std::string& path, std::map<PredKey, PredRow>* last,
                     std::map<std::string, int64_t>* last_made) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line)) return false;
  size_t rows = 0;
  while (std::getline(f, line)) {
    std::vector<std::string> c = absl::StrSplit(line, ',');
    if (c.size() < 9) continue;
    PredKey k{c[1], c[2], c[3], static_cast<uint32_t>(std::stoul(c[4]))};
    PredRow r{std::stoll(c[0]), std::stoll(c[5])};
    (*last)[k] = r;
    int64_t& m = (*last_made)[c[1]];
    m = std::max(m, r.made_at);
    ++rows;
  }
  return rows > 0;
}

struct VehicleKey {
  std::string id, trip;
  int64_t last_seen;
  int status;
  double along;
  bool operator==(const VehicleKey& o) const {
    return id == o.id && trip == o.trip && last_seen == o.last_seen && status == o.status &&
           (std::isnan(along) ? std::isnan(o.along) : std::fabs(along - o.along) < 0.01);
  }
};
std::ostream& operator<<(std::ostream& os, const VehicleKey& v) {
  return os << v.id << " trip=" << v.trip << " seen=" << v.last_seen << " status=" << v.status
            << " along=" << v.along;
}

std::vector<VehicleKey> Fleet(Stubs& s) {
  pb::GetFleetStatusResponse resp;
  EXPECT_TRUE(s.op->GetFleetStatus(Ctx().get(), pb::GetFleetStatusRequest(), &resp).ok());
  std::vector<VehicleKey> out;
  for (const auto& v : resp.vehicles())
    out.push_back({v.vehicle_id(), v.trip_id(), v.last_seen(), v.status(), v.dist_along_m()});
  return out;
}

TEST(EndToEndTest, WmataTraceThroughRedisAndSmartbusd) {
  if (!std::filesystem::exists(kData + "/positions.csv"))
    GTEST_SKIP() << "WMATA data set not found at " << kData << " (set SMARTBUS_SHARED_DATA)";
  if (!std::filesystem::exists(SMARTBUSD_BIN))
    GTEST_SKIP() << "smartbusd not built at " << SMARTBUSD_BIN;
  const std::string tmp = std::filesystem::temp_directory_path() /
                          ("sb-e2e-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);

  RedisTestServer redis({.appendonly = true});
  ASSERT_TRUE(redis.Start().ok());
  const int port = FreeLoopbackPort();
  const std::string addr = absl::StrCat("127.0.0.1:", port);
  const std::vector<std::string> args = {
      SMARTBUSD_BIN, "--gtfs=" + kData + "/gtfs", "--listen=" + addr, "--redis=" + redis.url(),
      "--clock=fixes", "--shards=1", "--positions_cap=100000", "--live_max_age_s=100000",
      "--warmup_s=100000", "--model_save_s=100000", "--key_prefix=e2e:"};

  std::vector<Fix> fixes;
  ASSERT_TRUE(ReadPositionsCsv(kData + "/positions.csv", &fixes).ok());
  std::stable_sort(fixes.begin(), fixes.end(),
                   [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });

  auto server = std::make_unique<Process>(args, tmp + "/smartbusd.log");
  ASSERT_TRUE(server->Start());
  Stubs stubs(addr);
  ASSERT_TRUE(WaitServing(stubs, std::chrono::seconds(60))) << server->Log();

  // 1. Push; kill -9 Redis half way; keep pushing; start Redis again; nothing acked is lost.
  std::set<std::pair<std::string, int64_t>> acked;
  int64_t rejected = 0;
  const size_t half = fixes.size() / 2;
  ASSERT_TRUE(Push(stubs, fixes, 0, half, &acked, &rejected));
  redis.Kill9();
  ASSERT_TRUE(Push(stubs, fixes, half, fixes.size(), &acked, &rejected));
  ASSERT_TRUE(redis.Start().ok());
  ASSERT_TRUE(WaitStoreCaughtUp(stubs, std::chrono::seconds(60))) << server->Log();
  EXPECT_GT(acked.size(), fixes.size() * 9 / 10);
  {
    StoreOptions so;
    so.key_prefix = "e2e:";
    auto store = OpenStore(redis.url(), so);
    ASSERT_TRUE(store.ok());
    std::map<std::string, std::set<int64_t>> stored;
    for (const auto& [v, t] : acked) {
      if (stored.count(v)) continue;
      auto pos = (*store)->ReadPositions(v, 0);
      ASSERT_TRUE(pos.ok()) << pos.status();
      for (const Fix& f : *pos) stored[v].insert(f.timestamp_s);
    }
    size_t missing = 0;
    for (const auto& [v, t] : acked) missing += stored[v].count(t) == 0;
    EXPECT_EQ(missing, 0u) << "acknowledged fixes missing from Redis after kill -9";
  }

  // 2. Arrivals of every stop vs `smartbus replay` (same engine and predictor, one thread).
  std::map<PredKey, PredRow> last;
  std::map<std::string, int64_t> last_made;
  const std::string preds = tmp + "/predictions.csv";
  bool have = false;
  if (std::filesystem::exists(SMARTBUS_BIN)) {
    std::string cmd = absl::StrCat(SMARTBUS_BIN, " replay --quiet --gtfs ", kData,
                                   "/gtfs --positions ", kData, "/positions.csv --predictions ",
                                   preds, " > ", tmp, "/replay.log 2>&1");
    if (std::system(cmd.c_str()) == 0) have = ReadPredictions(preds, &last, &last_made);
  }
  if (!have) {
    // `smartbus replay --predictions` not available in this build: run exactly what it runs
    // (Engine + PredictionHarness over the sorted fixes) in process.
    std::printf("note: smartbus replay wrote no predictions; using the in-process harness\n");
    auto feed = LoadGtfs({kData + "/gtfs"});
    ASSERT_TRUE(feed.ok());
    auto net = Network::Build(std::move(*feed));
    ASSERT_TRUE(net.ok());
    PredictionHarnessOptions ho;
    ho.baselines_enabled = false;
    ho.score = false;
    PredictionHarness harness(*net, ho);
    ASSERT_TRUE(harness.OpenPredictionsCsv(preds).ok());
    struct L : EngineListener {
      PredictionHarness* h;
      void OnStopVisit(const StopVisit& v) override { h->OnStopVisit(v); }
      void OnVehicleUpdate(const VehicleState& s) override { h->OnVehicleUpdate(s); }
    } l;
    l.h = &harness;
    Engine engine(*net);
    engine.AddListener(&l);
    for (const Fix& f : fixes) engine.Process(f);
    ASSERT_TRUE(harness.Close().ok());
    ASSERT_TRUE(ReadPredictions(preds, &last, &last_made));
  }
  const pb::ServerStatus st = Status(stubs);
  const int64_t now = st.now();
  EXPECT_EQ(now, fixes.back().timestamp_s);
  pb::ListRoutesRequest lr;
  lr.set_include_shapes(true);
  pb::ListRoutesResponse routes;
  ASSERT_TRUE(stubs.network->ListRoutes(Ctx().get(), lr, &routes).ok());
  std::set<std::string> stops;
  for (const auto& r : routes.routes())
    for (const auto& p : r.patterns()) stops.insert(p.stop_ids().begin(), p.stop_ids().end());
  ASSERT_GT(stops.size(), 50u);
  size_t compared = 0, live_rows = 0;
  std::set<PredKey> seen;
  for (const std::string& stop : stops) {
    pb::GetArrivalsRequest req;
    req.set_stop_id(stop);
    req.set_live_only(true);
    req.set_limit(100);
    req.set_horizon_s(86400);
    pb::ArrivalsBoard b;
    ASSERT_TRUE(stubs.passenger->GetArrivals(Ctx().get(), req, &b).ok());
    for (const pb::Arrival& a : b.arrivals()) {
      ++live_rows;
      PredKey k{a.vehicle_id(), a.trip_id(), stop, a.stop_sequence()};
      seen.insert(k);
      auto it = last.find(k);
      ASSERT_NE(it, last.end()) << "server predicts " << a.DebugString() << " at " << stop
                                << " but replay never did";
      EXPECT_EQ(it->second.made_at, last_made[a.vehicle_id()])
          << "replay's last prediction set for " << a.vehicle_id() << " has no row for " << stop;
      EXPECT_NEAR(static_cast<double>(a.predicted_arrival()),
                  static_cast<double>(it->second.predicted), 1.0)
          << a.vehicle_id() << " trip " << a.trip_id() << " stop " << stop;
      ++compared;
    }
  }
  // Nothing missing: every final replay prediction still in the board's window is served.
  size_t expected = 0;
  for (const auto& [k, r] : last) {
    if (r.made_at != last_made[std::get<0>(k)] || r.predicted < now - 60) continue;
    ++expected;
    EXPECT_TRUE(seen.count(k)) << std::get<0>(k) << " " << std::get<1>(k) << " stop "
                               << std::get<2>(k) << " predicted " << r.predicted;
  }
  EXPECT_EQ(compared, expected);
  EXPECT_GT(compared, 0u);
  std::printf("e2e: %zu fixes acked (%lld rejected), %zu live arrivals compared with replay\n",
              acked.size(), static_cast<long long>(rejected), compared);

  // 3. SIGTERM, restart on the same Redis: same vehicles and learned model.
  const std::vector<VehicleKey> before = Fleet(stubs);
  const uint64_t model_before = st.model_observations();
  ASSERT_EQ(server->SignalAndWait(SIGTERM, std::chrono::seconds(60)), 0) << server->Log();
  std::string model_bytes;
  {
    StoreOptions so;
    so.key_prefix = "e2e:";
    auto store = OpenStore(redis.url(), so);
    ASSERT_TRUE(store.ok());
    auto m = (*store)->GetModel("predictor");
    ASSERT_TRUE(m.ok()) << m.status();
    model_bytes = *m;
  }
  server = std::make_unique<Process>(args, tmp + "/smartbusd2.log");
  ASSERT_TRUE(server->Start());
  ASSERT_TRUE(WaitServing(stubs, std::chrono::seconds(60))) << server->Log();
  const pb::ServerStatus st2 = Status(stubs);
  EXPECT_EQ(st2.recovered_vehicles(), before.size());
  EXPECT_EQ(st2.model_observations(), model_before);
  EXPECT_EQ(st2.now(), now);
  const std::vector<VehicleKey> after = Fleet(stubs);
  EXPECT_EQ(after, before);

  // 4. SIGHUP reloads the feed: the same vehicles and learned model stay.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // feeds_loaded_at is in s
  server->Signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 600 && !reloaded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    reloaded = Status(stubs).feeds_loaded_at() > st2.feeds_loaded_at();
  }
  ASSERT_TRUE(reloaded) << "SIGHUP did not reload the feed\n" << server->Log();
  const pb::ServerStatus st3 = Status(stubs);
  EXPECT_EQ(st3.model_observations(), model_before);
  EXPECT_EQ(st3.trips(), st2.trips());
  EXPECT_EQ(Fleet(stubs), before);
  ASSERT_EQ(server->SignalAndWait(SIGTERM, std::chrono::seconds(60)), 0) << server->Log();
  {
    StoreOptions so;
    so.key_prefix = "e2e:";
    auto store = OpenStore(redis.url(), so);
    ASSERT_TRUE(store.ok());
    auto m = (*store)->GetModel("predictor");
    ASSERT_TRUE(m.ok());
    EXPECT_TRUE(*m == model_bytes) << "the learned model changed across a restart";
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
}

}  // namespace
}  // namespace smartbus
