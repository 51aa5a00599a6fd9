// gtfsrt_bench: the GTFS-RT TripUpdates feed of a large fleet — build time per refresh, bytes,
// and requests per second served from the cache over HTTP.
//
//   gtfsrt_bench --gtfs FEED [--gtfs FEED...] [--buses 6000] [--builds 10] [--seconds 5]
//                [--clients 4]
//
// A SmartbusServer is started on the feeds (embedded store, HTTP on a free port) and `buses`
// vehicle snapshots are published into its directories as the shards would: each bus half-way
// along its own trip (trips spread evenly over the feed), with a prediction (P10/P50/P90) for
// every stop left on the trip and on the next trip of its block. Then:
//   1. `builds` feed builds (GtfsRtFeeds with refresh 0, what one refresh costs: collect the
//      snapshots, build the FeedMessage, serialize, gzip): median and max time, bytes;
//   2. `clients` keep-alive HTTP clients fetch /gtfs-rt/trip-updates (gzip) for `seconds` from the
//      server's own cached feed: requests per second and MB/s (clients and server share the
//      machine's cores).

#include "transit_realtime/gtfs-realtime.pb.h"  // before httplib.h (NO_DATA macro)

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/server/http/gtfs_rt.h"
#include "services/server/server.h"

ABSL_FLAG(std::vector<std::string>, gtfs, {}, "GTFS feeds (one network).");
ABSL_FLAG(int, buses, 6000, "Vehicles in the feed.");
ABSL_FLAG(int, builds, 10, "Feed builds timed.");
ABSL_FLAG(double, seconds, 5, "Seconds of HTTP requests.");
ABSL_FLAG(int, clients, 4, "Concurrent keep-alive HTTP clients.");

namespace {

using smartbus::kNoIndex;
using namespace smartbus::server;

// Publishes `n` synthetic buses; returns how many predictions they carry.
size_t PublishFleet(SmartbusServer& server, int n, int64_t now) {
  auto view = server.view();
  const smartbus::Network& net = *view->network;
  const smartbus::GtfsFeed& feed = net.feed();
  std::vector<uint32_t> trips;
  for (uint32_t t = 0; t < feed.trips.size(); ++t)
    if (feed.trips[t].num_stop_times >= 4) trips.push_back(t);
  const size_t step = std::max<size_t>(1, trips.size() / static_cast<size_t>(n));
  size_t predictions = 0;
  for (int i = 0; i < n && static_cast<size_t>(i) * step < trips.size(); ++i) {
    const uint32_t trip = trips[static_cast<size_t>(i) * step];
    const smartbus::GtfsTrip& t = feed.trips[trip];
    auto snap = std::make_shared<VehicleSnapshot>();
    snap->network = view->network;
    smartbus::VehicleState& st = snap->state;
    st.vehicle_id = "bus" + std::to_string(i);
    st.timestamp_s = now - (i % 30);
    st.pos = feed.stops[feed.stop_times[t.first_stop_time + t.num_stop_times / 2].stop].pos;
    st.state = smartbus::MatchState::kInService;
    st.trip = smartbus::TripIdx(trip);
    st.route = t.route;
    st.service_date = 20260915;
    st.next_stop_index = t.num_stop_times / 2;
    st.delay_s = 60 + i % 240;
    st.occupancy = i % 4;
    // The service day starts so that the bus is at its middle stop now.
    const int32_t mid_s = feed.stop_times[t.first_stop_time + st.next_stop_index].arrival_s;
    st.day_start_s = now - mid_s;
    st.dist_along_m = 0;
    auto add = [&](uint32_t tr, uint32_t from, int64_t day) {
      const smartbus::GtfsTrip& tt = feed.trips[tr];
      for (uint32_t k = from; k < tt.num_stop_times; ++k) {
        const smartbus::GtfsStopTime& stt = feed.stop_times[tt.first_stop_time + k];
        StopEta e;
        e.predicted_arrival_s = day + stt.arrival_s + static_cast<int64_t>(st.delay_s);
        e.stop = stt.stop;
        e.trip = smartbus::TripIdx(tr);
        e.stop_index = k;
        e.source = 3;
        const int32_t spread = static_cast<int32_t>(30 + (e.predicted_arrival_s - now) / 10);
        e.p10_offset_s = -spread;
        e.p90_offset_s = 2 * spread;
        snap->etas.push_back(e);
      }
    };
    add(trip, st.next_stop_index, st.day_start_s);
    // The next trip of the block, if the feed says which: same day, later start.
    if (!t.block_id.empty())
      for (uint32_t nx = trip + 1; nx < feed.trips.size() && nx < trip + 50; ++nx)
        if (feed.trips[nx].block_id == t.block_id && feed.trips[nx].num_stop_times) {
          add(nx, 0, st.day_start_s);
          break;
        }
    predictions += snap->etas.size();
    server.shards()[server.ShardIndex(st.vehicle_id)]->directory().GetOrAdd(st.vehicle_id)->snapshot.store(
        snap);
  }
  return predictions;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ServerOptions opt;
  opt.gtfs = absl::GetFlag(FLAGS_gtfs);
  if (opt.gtfs.empty()) {
    std::fprintf(stderr, "gtfsrt_bench: --gtfs is required\n");
    return 2;
  }
  opt.listen = "127.0.0.1:0";
  opt.log = false;
  opt.http.http.listen = "127.0.0.1:0";
  opt.http.http.threads = absl::GetFlag(FLAGS_clients);
  opt.http.gtfs_rt_refresh_s = 3600;
  const absl::Time t0 = absl::Now();
  auto server = SmartbusServer::Create(opt);
  if (!server.ok()) {
    std::fprintf(stderr, "gtfsrt_bench: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  if (auto s = (*server)->Start(); !s.ok()) return 1;
  std::printf("network: %s loaded in %.2f s\n", absl::StrJoin(opt.gtfs, ",").c_str(),
              absl::ToDoubleSeconds(absl::Now() - t0));
  const int64_t now = (*server)->Now();
  const size_t preds = PublishFleet(**server, absl::GetFlag(FLAGS_buses), now);
  std::printf("fleet: %zu buses, %zu predictions\n", (*server)->AllVehicles().size(), preds);

  GtfsRtFeeds feeds(server->get(), /*refresh_s=*/0, /*max_age_s=*/90);
  std::vector<double> ms;
  std::shared_ptr<const BuiltFeed> b;
  for (int i = 0; i < absl::GetFlag(FLAGS_builds); ++i) {
    b = feeds.Get(FeedKind::kTripUpdates);
    ms.push_back(b->build_seconds * 1000);
  }
  std::sort(ms.begin(), ms.end());
  transit_realtime::FeedMessage m;
  m.ParseFromString(b->pb);
  size_t stus = 0;
  for (const auto& e : m.entity()) stus += static_cast<size_t>(e.trip_update().stop_time_update_size());
  std::printf("build (collect + FeedMessage + serialize + gzip), %zu builds: median %.1f ms, max %.1f ms\n",
              ms.size(), ms[ms.size() / 2], ms.back());
  std::printf("feed: %d entities, %zu stop time updates, %zu bytes protobuf, %zu bytes gzip, "
              "%zu bytes JSON\n",
              m.entity_size(), stus, b->pb.size(), b->pb_gzip.size(), b->json().size());

  // Where a build's time goes: the FeedMessage alone, serializing it, gzip.
  {
    GtfsRtInputs in;
    auto view = (*server)->view();
    in.network = view->network.get();
    in.vehicles = (*server)->AllVehicles();
    in.now_s = now;
    auto t = std::chrono::steady_clock::now();
    auto lap = [&t] {
      const auto n = std::chrono::steady_clock::now();
      const double ms = std::chrono::duration<double, std::milli>(n - t).count();
      t = n;
      return ms;
    };
    transit_realtime::FeedMessage msg;
    BuildTripUpdates(in, &msg);
    const double build_ms = lap();
    std::string bytes;
    msg.SerializeToString(&bytes);
    const double ser_ms = lap();
    std::printf("of which: FeedMessage %.1f ms, serialize %.1f ms, the rest (gzip, collect) %.1f ms\n",
                build_ms, ser_ms, ms[ms.size() / 2] - build_ms - ser_ms);
  }

  // Requests from the cache.
  const int clients = absl::GetFlag(FLAGS_clients);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int port = (*server)->http_port();
  std::atomic<uint64_t> requests{0}, bytes{0}, errors{0};
  (void)(*server)->http()->gtfs_rt().Get(FeedKind::kTripUpdates);  // warm the cache
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_decompress(false);
      const httplib::Headers h = {{"Accept-Encoding", "gzip"}};
      while (std::chrono::steady_clock::now() < end) {
        auto r = cli.Get("/gtfs-rt/trip-updates", h);
        if (!r || r->status != 200) {
          errors.fetch_add(1);
          continue;
        }
        requests.fetch_add(1);
        bytes.fetch_add(r->body.size());
      }
    });
  for (auto& t : threads) t.join();
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("served from the cache: %d keep-alive clients, %.1f s: %.0f requests/s, %.1f MB/s "
              "(gzip bodies), %llu errors; builds during the run: %llu\n",
              clients, el, static_cast<double>(requests.load()) / el,
              static_cast<double>(bytes.load()) / el / 1e6,
              static_cast<unsigned long long>(errors.load()),
              static_cast<unsigned long long>((*server)->http()->gtfs_rt().builds()));
  (void)(*server)->Shutdown();
  return 0;
}
