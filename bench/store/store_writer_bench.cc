// StoreWriter throughput into a real Redis: how many fixes per second the write-behind path
// persists (each fix = one position-history XADD, plus the vehicle's latest state HSET,
// coalesced per batch). A timed program, not a unit test.
//
//   store_writer_bench [--redis=redis://127.0.0.1:6379] [--fixes=1000000] [--vehicles=10000]
//                      [--gateway=100] [--max_batch=1024] [--no_state] [--appendonly [--appendfsync=everysec]]
//                      [--multi | --no_multi] (default: MULTI/EXEC only with appendfsync always)
//                      [--memory] [--keep (leave the keys in Redis)]
//                      [--rate=FIXES_PER_S (pace the producer; default: as fast as accepted)]
//                      [--visits_every=N (one stop visit per N fixes, 100 routes x 2,000 stops)]
//                      [--redis_pid=PID (CPU of an external --redis server)]
//                      [--position_window_ms=MS (StoreWriterOptions::position_window)]
// Without --redis it starts its own redis-server on a free port (--appendonly: appendonly yes,
// appendfsync always). Producers enqueue gateway batches (EnqueueAll of --gateway changes) as
// fast as the writer accepts them (or at --rate); RESOURCE_EXHAUSTED answers are counted and
// retried after 100 us. Fixes go to the vehicles round-robin, so with --rate each vehicle sends
// rate/vehicles fixes per second (--vehicles=10000 --rate=60000: 6/s like a gateway;
// --rate=1000: one fix per vehicle per 10 s). Reports fixes/s from the first enqueue until
// Flush returned (everything in Redis), plus the writer's and redis-server's CPU time.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/store/memory_store.h"
#include "services/store/redis_store.h"
#include "services/store/store_writer.h"
#include "tests/store/redis_test_server.h"

namespace smartbus {
namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec * 1e-6;
}

// CPU seconds (user + system) used so far by another process, from /proc; 0 when unknown.
// `children`: the CPU of its reaped children instead (redis-server's AOF-rewrite forks).
double ProcessCpuSeconds(pid_t pid, bool children = false) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // fields after the command name
  if (p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  long cutime = 0, cstime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
  // cstime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &utime,
                  &stime, &cutime, &cstime) != 4) {
    return 0;
  }
  if (children) return double(cutime + cstime) / double(sysconf(_SC_CLK_TCK));
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

bool Flag(int argc, char** argv, const char* name, std::string* value) {
  const std::string prefix = absl::StrCat("--", name);
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == prefix) {
      *value = "1";
      return true;
    }
    if (absl::string_view(argv[i]).substr(0, prefix.size() + 1) == prefix + "=") {
      *value = argv[i] + prefix.size() + 1;
      return true;
    }
  }
  return false;
}

int Main(int argc, char** argv) {
  std::string v;
  std::string url;
  Flag(argc, argv, "redis", &url);
  int64_t fixes = Flag(argc, argv, "fixes", &v) ? std::stoll(v) : 1000000;
  int vehicles = Flag(argc, argv, "vehicles", &v) ? std::stoi(v) : 10000;
  size_t gateway = Flag(argc, argv, "gateway", &v) ? std::stoul(v) : 100;
  size_t max_batch = Flag(argc, argv, "max_batch", &v) ? std::stoul(v) : 1024;
  const bool with_state = !Flag(argc, argv, "no_state", &v);
  const bool appendonly = Flag(argc, argv, "appendonly", &v);
  const bool memory = Flag(argc, argv, "memory", &v);
  const bool no_multi = Flag(argc, argv, "no_multi", &v);
  const bool multi = Flag(argc, argv, "multi", &v);
  const double rate = Flag(argc, argv, "rate", &v) ? std::stod(v) : 0;
  const int64_t visits_every = Flag(argc, argv, "visits_every", &v) ? std::stoll(v) : 0;
  const pid_t redis_pid = Flag(argc, argv, "redis_pid", &v) ? pid_t(std::stol(v)) : 0;
  const int64_t window_ms = Flag(argc, argv, "position_window_ms", &v) ? std::stoll(v) : -1;

  testing::RedisTestServerOptions so;
  so.appendonly = appendonly;
  if (Flag(argc, argv, "appendfsync", &v)) so.appendfsync = v;
  testing::RedisTestServer server(so);
  std::unique_ptr<Store> store;
  StoreOptions opts;
  opts.key_prefix = absl::StrCat("sbbench:", getpid(), ":");
  opts.redis_atomic_batches = multi      ? StoreOptions::AtomicBatches::kAlways
                              : no_multi ? StoreOptions::AtomicBatches::kNever
                                         : StoreOptions::AtomicBatches::kAuto;
  if (memory) {
    store = std::make_unique<MemoryStore>(opts);
    url = "memory";
  } else {
    if (url.empty()) {
      absl::Status s = server.Start();
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      url = server.url();
    }
    auto a = ParseRedisUrl(url);
    if (!a.ok()) {
      std::fprintf(stderr, "%s\n", a.status().ToString().c_str());
      return 2;
    }
    store = std::make_unique<RedisStore>(*a, opts);
  }

  StoreWriterOptions wo;
  wo.max_batch = max_batch;
  if (window_ms >= 0) wo.position_window = absl::Milliseconds(window_ms);
  StoreWriter writer(store.get(), wo);

  // One gateway message's worth of changes, rebuilt per message (like the ingest path does).
  std::vector<std::string> ids;
  for (int i = 0; i < vehicles; ++i) ids.push_back(absl::StrCat("bus-", i));
  std::vector<StoreChange> msg;
  msg.reserve(gateway * 2);
  uint64_t retries = 0;
  const double cpu0 = CpuSeconds();
  const pid_t rpid = redis_pid > 0 ? redis_pid : server.pid();
  const double redis_cpu0 = ProcessCpuSeconds(rpid);
  const double redis_child_cpu0 = ProcessCpuSeconds(rpid, true);
  const absl::Time t0 = absl::Now();
  int64_t sent = 0;
  int64_t visits = 0;
  while (sent < fixes) {
    if (rate > 0) {
      const absl::Time due = t0 + absl::Seconds(double(sent) / rate);
      const absl::Time now = absl::Now();
      if (due > now) absl::SleepFor(due - now);
    }
    msg.clear();
    for (size_t k = 0; k < gateway && sent < fixes; ++k, ++sent) {
      const int veh = int(sent % vehicles);
      Fix f;
      f.vehicle_id = ids[veh];
      f.timestamp_s = 1771250000 + sent / vehicles;
      // A moving bus: position, speed, bearing, distance and delay change with every fix.
      const int64_t round = sent / vehicles;
      f.lat = 38.9 + veh * 1e-5 + round * 2.3e-5;
      f.lon = -77.0 - veh * 1e-5 + round * 1.1e-5;
      f.speed_mps = 4.5f + float(sent % 13) * 0.5f;
      f.bearing_deg = float((veh + round * 3) % 360);
      f.trip_id = "6010123";
      f.route_id = "70";
      if (with_state) {
        VehicleRecord r;
        r.state.vehicle_id = f.vehicle_id;
        r.state.timestamp_s = f.timestamp_s;
        r.state.pos = {f.lat, f.lon};
        r.state.state = MatchState::kInService;
        r.state.bearing_deg = f.bearing_deg;
        r.state.speed_mps = f.speed_mps;
        r.state.service_date = 20260216;
        r.state.day_start_s = 1771200000;
        r.state.dist_along_m = 100.25 + double(round) * 8.5;
        r.state.offset_m = double(sent % 11) * 0.75;
        r.state.next_stop_index = uint32_t(round / 20);
        r.state.delay_s = 60 + double(round % 37) * 1.5;
        r.trip_id = f.trip_id;
        r.route_id = f.route_id;
        msg.emplace_back(std::move(r));
      }
      if (visits_every > 0 && sent % visits_every == visits_every - 1) {
        StopVisitRecord sv;
        sv.visit.vehicle_id = f.vehicle_id;
        sv.visit.stop_index = uint32_t(sent % 40);
        sv.visit.stop_sequence = int32_t(sent % 40) + 1;
        sv.visit.service_date = 20260216;
        sv.visit.scheduled_arrival_s = f.timestamp_s - 30;
        sv.visit.scheduled_departure_s = f.timestamp_s - 30;
        sv.visit.arrival_s = double(f.timestamp_s) + 0.25;
        sv.visit.departure_s = double(f.timestamp_s) + 12.5;
        sv.trip_id = absl::StrCat("6010", veh % 3000);
        sv.route_id = absl::StrCat("R", veh % 100);
        sv.stop_id = absl::StrCat("100", (sent / 7) % 2000);
        msg.emplace_back(std::move(sv));
        ++visits;
      }
      msg.emplace_back(std::move(f));
    }
    while (!writer.EnqueueAll(absl::MakeSpan(msg)).ok()) {
      ++retries;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  const absl::Time t_enq = absl::Now();
  absl::Status fs = writer.Flush(absl::Seconds(600));
  const absl::Time t1 = absl::Now();
  const double cpu = CpuSeconds() - cpu0;
  const double redis_cpu = ProcessCpuSeconds(rpid) - redis_cpu0;
  // AOF rewrites finish (and are reaped) asynchronously: give a running one a moment.
  absl::SleepFor(absl::Milliseconds(500));
  const double redis_child_cpu = ProcessCpuSeconds(rpid, true) - redis_child_cpu0;
  if (!fs.ok()) {
    std::fprintf(stderr, "flush: %s\n", fs.ToString().c_str());
    return 3;
  }
  StoreWriterStats st = writer.Stats();
  const double secs = absl::ToDoubleSeconds(t1 - t0);
  std::printf(
      "store=%s fixes=%lld vehicles=%d state=%s visits=%lld rate=%.0f window_ms=%lld "
      "gateway=%zu max_batch=%zu appendfsync=%s multi=%s\n"
      "  %.0f fixes/s persisted (%.2f s; enqueue done after %.2f s), %llu changes in %llu "
      "batches (%.0f per batch), %llu full-queue retries, process CPU %.2f s (%.2f us/fix), redis-server CPU %.2f s (%.2f us/fix) + AOF-rewrite children %.2f s (%.2f us/fix)\n",
      url.c_str(), (long long)fixes, vehicles, with_state ? "yes" : "no", (long long)visits,
      rate, (long long)absl::ToInt64Milliseconds(wo.position_window), gateway, max_batch,
      appendonly ? so.appendfsync.c_str() : "no", multi ? "yes" : no_multi ? "no" : "auto", fixes / secs, secs, absl::ToDoubleSeconds(t_enq - t0),
      (unsigned long long)st.applied, (unsigned long long)st.batches,
      double(st.applied) / std::max<uint64_t>(1, st.batches), (unsigned long long)retries, cpu,
      cpu / fixes * 1e6, redis_cpu, redis_cpu / fixes * 1e6, redis_child_cpu,
      redis_child_cpu / fixes * 1e6);
  if (!memory && !Flag(argc, argv, "keep", &v)) {
    if (auto* rs = dynamic_cast<RedisStore*>(store.get())) (void)rs->DeleteAllKeys();
  }
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) { return smartbus::Main(argc, argv); }
