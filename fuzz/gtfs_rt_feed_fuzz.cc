// libFuzzer target: GTFS-Realtime input (services/gtfs_rt/gtfs_rt_feed.h). The bytes are a
// polled feed: ParseFeed, then every mapping a poll runs on what decodes (vehicle positions to
// fixes, trip updates to trip changes against a small network, alerts, the DIFFERENTIAL /
// FULL_DATASET bookkeeping of FeedChanges). Any crash, leak, overflow or UB is a finding; a
// refused feed is not. Seed corpus: the real snapshots of ../shared/data/gtfs-rt-snapshots.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "services/core/gtfs/feed.h"
#include "services/core/gtfs/source.h"
#include "services/core/network/network.h"
#include "services/gtfs_rt/gtfs_rt_feed.h"

namespace {

// Trip T1 (route R1, weekdays) over stops S1-S3, as the trip updates may name it.
const smartbus::Network* SmallNetwork() {
  static const std::shared_ptr<const smartbus::Network> net = [] {
    smartbus::MemoryFeedSource src(
        "fuzz",
        {{"agency.txt", "agency_id,agency_name,agency_url,agency_timezone\n"
                        "A,A,http://a,America/New_York\n"},
         {"routes.txt", "route_id,agency_id,route_short_name,route_type\nR1,A,1,3\n"},
         {"stops.txt", "stop_id,stop_name,stop_lat,stop_lon\nS1,a,40.0,-75.0\n"
                       "S2,b,40.001,-75.0\nS3,c,40.002,-75.0\n"},
         {"calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                          "start_date,end_date\nWK,1,1,1,1,1,0,0,20200101,20301231\n"},
         {"trips.txt", "route_id,service_id,trip_id\nR1,WK,T1\n"},
         {"stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                            "T1,08:00:00,08:00:00,S1,1\nT1,08:02:00,08:02:30,S2,2\n"
                            "T1,08:05:00,08:05:00,S3,3\n"}});
    auto feed = smartbus::LoadGtfs({&src});
    if (!feed.ok()) return std::shared_ptr<const smartbus::Network>();
    auto built = smartbus::Network::Build(std::move(*feed));
    return built.ok() ? *built : std::shared_ptr<const smartbus::Network>();
  }();
  return net.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smartbus::gtfs_rt;
  const smartbus::Network* net = SmallNetwork();
  if (net == nullptr) __builtin_trap();  // the target's own network must build
  FeedError error;
  auto feed = ParseFeed(
      absl::string_view(reinterpret_cast<const char*>(data), size), &error);
  if (!feed.ok()) return 0;
  EntityCounts counts;
  VehicleDedupe dedupe;
  MapVehiclePositions(*feed, net, VehicleMapOptions(), &dedupe, &counts);
  MapVehiclePositions(*feed, nullptr, VehicleMapOptions(), &dedupe, &counts);
  MapTripUpdates(*feed, *net, &counts);
  MapAlerts(*feed, &counts);
  // Twice per kind: the second poll meets the first one's state (replace / delete by entity).
  for (FeedKind kind : {FeedKind::kTripUpdates, FeedKind::kAlerts}) {
    FeedChanges changes;
    changes.Apply(*feed, kind, net, &counts);
    changes.Apply(*feed, kind, net, &counts);
    changes.trips();
    changes.alerts();
  }
  return 0;
}
