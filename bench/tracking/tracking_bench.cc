// Tracking benchmark: matcher throughput (fixes/s per core) over >= 1 M fixes, allocations per
// fix in the steady state, and the end-to-end replay of the WMATA trace.
//
// usage: tracking_bench [WMATA_DIR] [--copies N]
//   WMATA_DIR defaults to $SMARTBUS_SHARED_DATA/wmata-2026-02-16.
// The 20,777-fix WMATA trace is repeated N times (default 50: 1.04 M fixes); copy k renames
// every vehicle "<id>#k" and shifts its times by k * 7 days (so every copy is a separate fleet
// on a separate week: a fresh vehicle state, the same Monday time of day; trips resolved to the
// nearest scheduled instance). Single thread.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/tracking/csv_io.h"
#include "services/core/tracking/tracker.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"

// Counting allocator (to show the per-fix path allocates nothing).
static std::atomic<int64_t> g_allocs{0};
void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace smartbus {
namespace {

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec * 1e-6;
}

struct Timing {
  double wall_s;
  double cpu_s;
  int64_t allocs;
};

template <typename F>
Timing Time(F f) {
  int64_t a0 = g_allocs.load();
  double c0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  f();
  auto t1 = std::chrono::steady_clock::now();
  return {std::chrono::duration<double>(t1 - t0).count(), CpuSeconds() - c0, g_allocs.load() - a0};
}

int Main(int argc, char** argv) {
  std::string dir = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16";
  int copies = 50;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--copies" && i + 1 < argc) {
      copies = std::atoi(argv[++i]);
    } else {
      dir = a;
    }
  }
  auto feed = LoadGtfs({dir + "/gtfs"});
  if (!feed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  auto net = Network::Build(std::move(*feed));
  if (!net.ok()) {
    std::fprintf(stderr, "%s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  std::vector<Fix> base;
  if (auto s = ReadPositionsCsv(dir + "/positions.csv", &base); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::vector<Fix> fixes;
  fixes.reserve(base.size() * copies);
  for (int k = 0; k < copies; ++k) {
    for (const Fix& f : base) {
      Fix g = f;
      g.vehicle_id += "#" + std::to_string(k);
      g.timestamp_s += static_cast<int64_t>(k) * 7 * 86400;
      fixes.push_back(std::move(g));
    }
  }
  std::vector<Fix> blank = fixes;
  for (Fix& f : blank) {
    f.trip_id.clear();
    f.route_id.clear();
  }
  std::printf("fixes: %zu (%d copies of %zu), vehicles: %d\n", fixes.size(), copies, base.size(),
              31 * copies);

  auto run = [&](const std::vector<Fix>& in, const char* what) {
    for (int pass = 0; pass < 2; ++pass) {
      Tracker tracker(*net);
      MatchResult m;
      std::vector<StopVisit> visits;
      visits.reserve(64);
      int64_t nvisits = 0;
      // Pass 1 of each run: the first copy warms up (vehicles created), then the timed rest.
      size_t warm = base.size();
      for (size_t i = 0; i < warm; ++i) {
        visits.clear();
        tracker.Process(in[i], in[i].timestamp_s, &m, &visits);
      }
      Timing t = Time([&] {
        for (size_t i = warm; i < in.size(); ++i) {
          visits.clear();
          tracker.Process(in[i], in[i].timestamp_s, &m, &visits);
          nvisits += static_cast<int64_t>(visits.size());
        }
      });
      size_t n = in.size() - warm;
      std::printf("%s pass %d: %zu fixes in %.3f s wall / %.3f s CPU: %.0f fixes/s per core "
                  "(CPU), %.2f us/fix; %lld visits; allocations %lld (%.4f per fix)\n",
                  what, pass + 1, n, t.wall_s, t.cpu_s, n / t.cpu_s, 1e6 * t.cpu_s / n,
                  static_cast<long long>(nvisits), static_cast<long long>(t.allocs),
                  static_cast<double>(t.allocs) / n);
    }
  };
  run(fixes, "matcher (trip_id given)");
  run(blank, "tracker (trip inferred, no ids)");

  // Where do allocations happen? Per fix: those that allocate, split into fixes that created a
  // vehicle or changed its trip (allowed: a new state, TripsAround) and all others (must be 0).
  {
    Tracker tracker(*net);
    MatchResult m;
    std::vector<StopVisit> visits;
    visits.reserve(64);
    absl::flat_hash_map<std::string, uint32_t> last_trip;
    last_trip.reserve(fixes.size() / 100);
    int64_t steady = 0, steady_alloc = 0, change = 0, change_alloc = 0;
    for (const Fix& f : fixes) {
      visits.clear();
      auto it = last_trip.find(f.vehicle_id);
      bool known = it != last_trip.end();
      uint32_t before = known ? it->second : kNoIndex;
      int64_t a0 = g_allocs.load();
      tracker.Process(f, f.timestamp_s, &m, &visits);
      int64_t a = g_allocs.load() - a0;
      bool changed = !known || m.trip != before;
      if (changed) {
        ++change;
        change_alloc += a > 0;
      } else {
        ++steady;
        steady_alloc += a > 0;
      }
      last_trip[f.vehicle_id] = m.trip;
    }
    std::printf("allocation audit (trip_id given): %lld fixes on the same vehicle and trip, %lld "
                "of them allocated; %lld fixes creating a vehicle or changing its trip, %lld "
                "allocated\n",
                static_cast<long long>(steady), static_cast<long long>(steady_alloc),
                static_cast<long long>(change), static_cast<long long>(change_alloc));
  }
  // End to end as `smartbus replay` does it: engine + matches and visits CSV written.
  {
    Timing t = Time([&] {
      MatchesCsvWriter mw(&(*net)->feed());
      StopVisitsCsvWriter vw(&(*net)->feed());
      if (!mw.Open("/tmp/tracking_bench_matches.csv").ok() ||
          !vw.Open("/tmp/tracking_bench_visits.csv").ok())
        std::abort();
      struct L : EngineListener {
        MatchesCsvWriter* mw;
        StopVisitsCsvWriter* vw;
        void OnStopVisit(const StopVisit& v) override { (void)vw->Write(v); }
        void OnMatch(const MatchResult& m) override { (void)mw->Write(m); }
      } l;
      l.mw = &mw;
      l.vw = &vw;
      Engine engine(*net);
      engine.AddListener(&l);
      for (const Fix& f : base) engine.Process(f);
      (void)mw.Close();
      (void)vw.Close();
    });
    std::printf("engine over the WMATA trace (%zu fixes) with matches+visits CSV written: %.3f s "
                "wall / %.3f s CPU\n",
                base.size(), t.wall_s, t.cpu_s);
  }
  return 0;
}

}  // namespace
}  // namespace smartbus

int main(int argc, char** argv) { return smartbus::Main(argc, argv); }
