// GTFS-RT poll of 3,000 vehicles: time per poll.
//
// The NYC VehiclePositions snapshot (../shared/data/gtfs-rt-snapshots, 3,018 vehicles) is
// served by a local HTTP server (cpp-httplib) as --polls bodies, each one --step_s later than
// the previous (header and every vehicle timestamp moved on, so no position is a duplicate),
// and polled back to back by smartbusd's poller (in process, --gtfs network, clock following
// the fixes). Per poll: fetch over HTTP + decode + map to fixes + ingest through the shards
// until every fix is processed. Also the decode + map part alone.
//
//   build/bench/gtfs_rt/gtfs_rt_poll_bench [--polls 20] [--gtfs data/demo-city] [--shards 2]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "services/server/server.h"
#include "transit_realtime/gtfs-realtime.pb.h"
// Last: <netdb.h> (through httplib.h) defines NO_DATA, a GTFS-RT enum value name.
#include "httplib.h"

ABSL_FLAG(int, polls, 20, "Polls to time.");
ABSL_FLAG(int, step_s, 30, "Seconds between two bodies (a real feed's refresh).");
ABSL_FLAG(std::string, gtfs, std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city",
          "Static GTFS of the server (the NYC trips are not in it: unknown trip ids).");
ABSL_FLAG(std::string, feed,
          std::string(SMARTBUS_SHARED_DATA) +
              "/gtfs-rt-snapshots/nyc_mta_bus_2026/nyc-vehicle-positions.pb",
          "VehiclePositions snapshot to serve.");
ABSL_FLAG(int, shards, 2, "Tracking shards.");

namespace rt = ::transit_realtime;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::ifstream in(absl::GetFlag(FLAGS_feed), std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "gtfs_rt_poll_bench: %s: cannot read (needs ../shared/data)\n",
                 absl::GetFlag(FLAGS_feed).c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  rt::FeedMessage base;
  if (!base.ParseFromString(ss.str())) return 1;
  const int polls = std::max(1, absl::GetFlag(FLAGS_polls));
  std::vector<std::string> bodies;
  for (int k = 0; k < polls; ++k) {
    rt::FeedMessage m = base;
    const uint64_t shift = static_cast<uint64_t>(k) * absl::GetFlag(FLAGS_step_s);
    m.mutable_header()->set_timestamp(m.header().timestamp() + shift);
    for (auto& e : *m.mutable_entity())
      if (e.has_vehicle()) e.mutable_vehicle()->set_timestamp(e.vehicle().timestamp() + shift);
    bodies.push_back(m.SerializeAsString());
  }

  // Decode + map alone.
  smartbus::gtfs_rt::VehicleDedupe dedupe;
  const auto d0 = Clock::now();
  size_t mapped = 0;
  for (const std::string& b : bodies) {
    smartbus::gtfs_rt::FeedError err;
    auto msg = smartbus::gtfs_rt::ParseFeed(b, &err);
    smartbus::gtfs_rt::EntityCounts n;
    mapped += smartbus::gtfs_rt::MapVehiclePositions(*msg, nullptr, {}, &dedupe, &n).size();
  }
  const double decode_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - d0).count() / polls;

  httplib::Server http;
  std::atomic<size_t> next{0};
  http.Get("/vp", [&](const httplib::Request&, httplib::Response& res) {
    const size_t k = std::min(next.fetch_add(1), bodies.size() - 1);
    res.set_content(bodies[k], "application/x-protobuf");
  });
  http.set_tcp_nodelay(true);
  const int port = http.bind_to_any_port("127.0.0.1");
  std::thread server_thread([&] { http.listen_after_bind(); });

  smartbus::server::ServerOptions opt;
  opt.gtfs = {absl::GetFlag(FLAGS_gtfs)};
  opt.listen = "127.0.0.1:0";
  opt.clock_follows_fixes = true;
  opt.shard.engine.clock_mode = smartbus::ClockMode::kFixes;
  opt.shards = absl::GetFlag(FLAGS_shards);
  opt.log = false;
  opt.gtfs_rt.interval = absl::ZeroDuration();
  opt.gtfs_rt.feeds = {{"http://127.0.0.1:" + std::to_string(port) + "/vp",
                        smartbus::gtfs_rt::FeedKind::kVehiclePositions}};
  auto server = smartbus::server::SmartbusServer::Create(opt);
  if (!server.ok()) {
    std::fprintf(stderr, "gtfs_rt_poll_bench: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  // Per-poll times come from the poller's own last_poll_time, sampled after every good poll.
  std::vector<double> per_poll_ms;
  const auto t0 = Clock::now();
  if (!(*server)->Start().ok()) return 1;
  uint64_t seen = 0;
  while (seen < static_cast<uint64_t>(polls)) {
    auto st = (*server)->GtfsRtStats()[0];
    if (st.good_polls > seen) {
      seen = st.good_polls;
      per_poll_ms.push_back(absl::ToDoubleMilliseconds(st.last_poll_time));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  auto st = (*server)->GtfsRtStats()[0];
  (void)(*server)->Shutdown();
  http.stop();
  server_thread.join();
  std::sort(per_poll_ms.begin(), per_poll_ms.end());
  const double median = per_poll_ms[per_poll_ms.size() / 2];
  std::printf("gtfs_rt_poll_bench: %d polls of %zu-byte bodies, %d vehicles each (%zu mapped "
              "in all)\n",
              polls, bodies[0].size(), base.entity_size(), mapped);
  std::printf("  decode + map only: %.2f ms per poll\n", decode_ms);
  std::printf("  poll (HTTP fetch + decode + map + ingest until processed): median %.1f ms, "
              "min %.1f, max %.1f over %zu sampled polls; %.1f ms per poll over the run\n",
              median, per_poll_ms.front(), per_poll_ms.back(), per_poll_ms.size(),
              wall_ms / static_cast<double>(st.good_polls));
  std::printf("  fixes accepted %llu, rejected %llu, overloaded %llu, unknown trips %llu\n",
              (unsigned long long)st.fixes_accepted, (unsigned long long)st.fixes_rejected,
              (unsigned long long)st.fixes_overloaded,
              (unsigned long long)st.entities.unknown_trips);
  return 0;
}
