#pragma once
// What the tests with real processes share (e2e_test, fault_test): a child process with its own
// log, the gRPC stubs of one smartbusd and starting it, health and status polling, pushing
// fixes in order, reading back what the store holds.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/core/tracking/csv_io.h"
#include "services/core/tracking/types.h"
#include "services/files/csv_files.h"
#include "services/store/store.h"
#include "smartbus/v1/ingest.grpc.pb.h"
#include "smartbus/v1/network.grpc.pb.h"
#include "smartbus/v1/operator.grpc.pb.h"
#include "smartbus/v1/passenger.grpc.pb.h"

namespace smartbus::testing {

namespace pb = ::smartbus::v1;

// The (vehicle, timestamp) of an element of a set of them or of a map keyed by them.
inline const std::pair<std::string, int64_t>& KeyOf(const std::pair<std::string, int64_t>& k) {
  return k;
}
template <typename V>
const std::pair<std::string, int64_t>& KeyOf(
    const std::pair<const std::pair<std::string, int64_t>, V>& entry) {
  return entry.first;
}

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
  pid_t pid() const { return pid_; }
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

inline std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 20) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

inline bool WaitServing(Stubs& s, std::chrono::seconds timeout) {
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

// Starts smartbusd (`args`, its output appended to `log`) and waits until `stubs` find it
// serving (60 s). Returns nullptr, failing the test with the log, when it did not come up.
inline std::unique_ptr<Process> StartSmartbusd(const std::vector<std::string>& args,
                                               const std::string& log, Stubs& stubs) {
  auto server = std::make_unique<Process>(args, log);
  if (!server->Start()) {
    ADD_FAILURE() << "cannot start " << args[0];
    return nullptr;
  }
  if (!WaitServing(stubs, std::chrono::seconds(60))) {
    ADD_FAILURE() << args[0] << " not serving after 60 s:\n" << server->Log();
    return nullptr;
  }
  return server;
}

// The timestamps the store holds for each vehicle of `acked` (vehicle, timestamp pairs: a set,
// or a map keyed by them), read once per vehicle; a read error fails the test.
template <typename Acked>
std::map<std::string, std::set<int64_t>> StoredFixTimes(Store& store, const Acked& acked) {
  std::map<std::string, std::set<int64_t>> stored;
  for (const auto& entry : acked) {
    const std::pair<std::string, int64_t>& key = KeyOf(entry);
    if (stored.count(key.first)) continue;
    auto pos = store.ReadPositions(key.first, 0);
    EXPECT_TRUE(pos.ok()) << pos.status();
    std::set<int64_t>& times = stored[key.first];
    if (pos.ok())
      for (const Fix& f : *pos) times.insert(f.timestamp_s);
  }
  return stored;
}

inline pb::Fix ToProto(const Fix& f) {
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

// The fixes of a positions CSV in timestamp order, as a feed would send them (stable: a
// vehicle's rows with one timestamp keep their order). False (and a test failure) when the
// file does not read.
inline bool ReadFixesInTimeOrder(const std::string& path, std::vector<Fix>* fixes) {
  const absl::Status st = ReadPositionsCsv(path, fixes);
  EXPECT_TRUE(st.ok()) << st;
  std::stable_sort(fixes->begin(), fixes->end(),
                   [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });
  return st.ok();
}

// Pushes fixes [begin, end) through one stream in order, batches of 100; records the
// acknowledged (vehicle, timestamp) pairs. Returns false when the stream failed. Back-pressure
// (a fix answered OVERLOADED, a request RESOURCE_EXHAUSTED) is a test failure, unless
// `overloaded` is given: then those fixes are counted there (and not acknowledged).
inline bool Push(Stubs& s, const std::vector<Fix>& fixes, size_t begin, size_t end,
          std::set<std::pair<std::string, int64_t>>* acked, int64_t* rejected,
          int64_t* overloaded = nullptr) {
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
    auto [a, b] = ranges[r.sequence()];
    if (r.status_code() != 0) {
      if (overloaded && r.status_code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED))
        *overloaded += static_cast<int64_t>(b - a);
      else
        ADD_FAILURE() << "request " << r.sequence() << " refused: " << r.status_message();
      continue;
    }
    std::vector<bool> bad(b - a, false);
    for (const auto& rej : r.rejections()) {
      bad[rej.index()] = true;
      if (overloaded && rej.reason() == pb::REJECT_REASON_OVERLOADED) {
        ++*overloaded;
        continue;
      }
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

inline pb::ServerStatus Status(Stubs& s) {
  pb::ServerStatus st;
  EXPECT_TRUE(s.op->GetServerStatus(Ctx().get(), pb::GetServerStatusRequest(), &st).ok());
  return st;
}

// Waits until everything the server queued for the store has been written.
inline bool WaitStoreCaughtUp(Stubs& s, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pb::ServerStatus st = Status(s);
    if (st.store().serving() && st.store().queued() == 0 &&
        st.store().applied() + st.store().coalesced() == st.store().enqueued())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace smartbus::testing
