// GTFS load benchmark: loads feeds and reports wall time, CPU time (user + system, both
// threads), peak RSS and peak RSS per stop_time.
//
//   gtfs_load_bench [--repeat N] [--together] [--progress] FEED...
//
// Each FEED (a directory or .zip; several joined with commas form one network) is loaded in its
// own child process, so that each peak RSS (getrusage ru_maxrss) belongs to that load alone.
// With --together, all FEEDs are also loaded as one network. With --repeat N, each load runs N
// times (each in a fresh process) and the best time is reported (peak RSS: the largest).
// --progress turns on the loader's progress lines (per-file timings) on stderr.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "services/core/gtfs/feed.h"
#include "services/files/feed_files.h"

namespace {

struct Result {
  double seconds = 0;
  double cpu_seconds = 0;  // user + system, all threads of the load
  long peak_rss_kb = 0;
  long baseline_rss_kb = 0;
  long stop_times = 0;
  long trips = 0;
  int ok = 0;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b <= s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long PeakRssKb() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Runs one load in a child process; the child writes a Result through a pipe.
Result RunOnce(const std::vector<std::string>& paths, const smartbus::GtfsLoadOptions& options) {
  int fd[2];
  if (pipe(fd) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    Result r;
    r.baseline_rss_kb = PeakRssKb();
    const double cpu0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    auto feed = smartbus::LoadGtfs(paths, options);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.cpu_seconds = CpuSeconds() - cpu0;
    r.peak_rss_kb = PeakRssKb();
    if (feed.ok()) {
      r.ok = 1;
      r.stop_times = static_cast<long>(feed->stop_times.size());
      r.trips = static_cast<long>(feed->trips.size());
    } else {
      std::fprintf(stderr, "load failed: %s\n", feed.status().ToString().c_str());
    }
    if (write(fd[1], &r, sizeof r) != sizeof r) _exit(2);
    _exit(0);
  }
  close(fd[1]);
  Result r;
  if (read(fd[0], &r, sizeof r) != sizeof r) r.ok = 0;
  close(fd[0]);
  int status;
  waitpid(pid, &status, 0);
  return r;
}

void Measure(const std::string& label, const std::vector<std::string>& paths, int repeat,
             const smartbus::GtfsLoadOptions& options) {
  Result best;
  for (int i = 0; i < repeat; ++i) {
    Result r = RunOnce(paths, options);
    if (!r.ok) {
      std::printf("%-40s FAILED\n", label.c_str());
      return;
    }
    if (i == 0 || r.seconds < best.seconds) {
      long peak = std::max(best.peak_rss_kb, r.peak_rss_kb);
      best = r;
      best.peak_rss_kb = peak;
    } else {
      best.peak_rss_kb = std::max(best.peak_rss_kb, r.peak_rss_kb);
    }
  }
  double mst = best.stop_times / 1e6;
  std::printf("%-28s %10ld %8ld %8.2f %8.2f %10.2f %10.0f %10.1f\n", label.c_str(),
              best.stop_times, best.trips, best.seconds, best.cpu_seconds,
              mst > 0 ? best.seconds / mst : 0.0,
              best.peak_rss_kb / 1024.0,
              best.stop_times ? best.peak_rss_kb * 1024.0 / best.stop_times : 0.0);
  std::fflush(stdout);
}

std::string Label(const std::string& arg) {
  std::vector<std::string> parts = Split(arg);
  if (parts.size() > 1) return Label(parts[0]) + " +" + std::to_string(parts.size() - 1) + " more";
  std::string s = arg;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  size_t slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  bool together = false;
  smartbus::GtfsLoadOptions options;
  std::vector<std::string> feeds;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--progress")) {
      options.progress = smartbus::PrintGtfsLoadProgress;
    } else if (!std::strcmp(argv[i], "--together")) {
      together = true;
    } else {
      feeds.push_back(argv[i]);
    }
  }
  if (feeds.empty()) {
    std::fprintf(stderr, "usage: gtfs_load_bench [--repeat N] [--together] [--progress] FEED...\n");
    return 2;
  }
  std::printf("%-28s %10s %8s %8s %8s %10s %10s %10s\n", "feed", "stop_times", "trips", "wall_s",
              "cpu_s", "wall_s/M", "peak_MiB", "B/st");
  std::vector<std::string> all;
  for (const std::string& f : feeds) {
    Measure(Label(f), Split(f), repeat, options);
    for (const std::string& p : Split(f)) all.push_back(p);
  }
  if (together && feeds.size() > 1) Measure("all together", all, repeat, options);
  return 0;
}
