// Learned paths in smartbusd, end to end with real processes (redis-server + smartbusd): the
// demo city without shapes.txt receives a morning of fixes simulated along its real shapes;
// smartbusd learns the paths while tracking, stores them at shutdown (sb:path:*), and on the
// next start draws the confident ones: NetworkService then returns them as the patterns'
// geometry, on the road (within a few metres of the real shapes) instead of stop-to-stop lines.

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/sim/simulator.h"
#include "services/store/store.h"
#include "tests/server/e2e_support.h"
#include "tests/store/redis_test_server.h"
#include "services/files/feed_files.h"

namespace smartbus {
namespace {

using namespace smartbus::testing;  // NOLINT: the e2e helpers

const std::string kDemo = std::string(SMARTBUS_SOURCE_DIR) + "/data/demo-city";

// The demo city feed without shapes.txt (trips' shape_id blanked) in `dir`.
void WriteShapelessDemo(const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const auto& e : std::filesystem::directory_iterator(kDemo)) {
    const std::string name = e.path().filename();
    if (name == "shapes.txt") continue;
    if (name != "trips.txt") {
      std::filesystem::copy_file(e.path(), dir + "/" + name,
                                 std::filesystem::copy_options::overwrite_existing);
      continue;
    }
    std::ifstream in(e.path());
    std::ofstream out(dir + "/trips.txt");
    std::string line;
    int col = -1;
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ',');
      if (col < 0) col = static_cast<int>(std::find(f.begin(), f.end(), "shape_id") - f.begin());
      if (col < static_cast<int>(f.size()) && out.tellp() > 0) f[col].clear();
      out << absl::StrJoin(f, ",") << "\n";
    }
  }
}

// 06:00-11:00 of a Monday, a fix per bus every 60 s, along the real shapes.
std::vector<Fix> Morning(const std::shared_ptr<const Network>& real) {
  SimOptions o;
  o.service_date = 20261123;
  o.fix_interval_s = 60;
  o.report_passengers = false;
  auto sim = FleetSimulator::Create(real, o);
  std::vector<Fix> out;
  if (!sim.ok()) return out;
  const int64_t day = absl::ToUnixSeconds(real->ServiceDayStart(o.service_date));
  std::vector<SimFix> fixes;
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 6 * 3600 - 1), nullptr, nullptr);
  (*sim)->AdvanceTo(absl::FromUnixSeconds(day + 11 * 3600), &fixes, nullptr);
  for (const SimFix& f : fixes) out.push_back(f.fix);
  return out;
}

// Median distance (m) of `pts` to the polyline `line` (both WGS84), on `proj`'s plane.
double MedianDistance(const std::vector<LatLon>& pts, const Polyline& line,
                      const LocalProjection& proj) {
  std::vector<double> d;
  for (const LatLon& p : pts) d.push_back(line.Project(proj.Forward(p)).offset_m);
  std::sort(d.begin(), d.end());
  return d.empty() ? INFINITY : d[d.size() / 2];
}

TEST(LearnedPathsTest, SmartbusdLearnsStoresAndDrawsThePathsOfAFeedWithoutShapes) {
  if (!std::filesystem::exists(SMARTBUSD_BIN))
    GTEST_SKIP() << "smartbusd not built at " << SMARTBUSD_BIN;
  const std::string tmp = std::filesystem::temp_directory_path() /
                          ("sb-paths-" + std::to_string(::getpid()));
  WriteShapelessDemo(tmp + "/feed");
  auto real_feed = LoadGtfs({kDemo});
  ASSERT_TRUE(real_feed.ok());
  auto real = Network::Build(std::move(*real_feed));
  ASSERT_TRUE(real.ok());
  std::vector<Fix> fixes = Morning(*real);
  ASSERT_GT(fixes.size(), 1000u);

  RedisTestServer redis;
  ASSERT_TRUE(redis.Start().ok());
  const std::string addr = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  const std::vector<std::string> args = {
      SMARTBUSD_BIN, "--gtfs=" + tmp + "/feed", "--listen=" + addr, "--redis=" + redis.url(),
      "--clock=fixes", "--shards=2", "--model_save_s=100000", "--key_prefix=lp:"};
  {
    Stubs stubs(addr);
    auto server = StartSmartbusd(args, tmp + "/smartbusd-1.log", stubs);
    ASSERT_TRUE(server);
    std::set<std::pair<std::string, int64_t>> acked;
    int64_t rejected = 0;
    ASSERT_TRUE(Push(stubs, fixes, 0, fixes.size(), &acked, &rejected));
    EXPECT_EQ(server->SignalAndWait(SIGTERM, std::chrono::seconds(60)), 0) << server->Log();
  }
  StoreOptions so;
  so.key_prefix = "lp:";
  auto store = OpenStore(redis.url(), so);
  ASSERT_TRUE(store.ok());
  auto stored = (*store)->ListLearnedPaths();
  ASSERT_TRUE(stored.ok()) << stored.status();
  size_t confident = 0;
  for (const LearnedPath& p : *stored) confident += p.confident;
  EXPECT_GE(stored->size(), 10u);
  EXPECT_GE(confident, 5u);

  Stubs stubs(addr);
  auto server = StartSmartbusd(args, tmp + "/smartbusd-2.log", stubs);
  ASSERT_TRUE(server);
  EXPECT_NE(server->Log().find(absl::StrCat(confident, " learned paths")), std::string::npos)
      << server->Log();
  pb::ListRoutesRequest req;
  req.add_route_ids("1");
  req.set_include_shapes(true);
  pb::ListRoutesResponse resp;
  ASSERT_TRUE(stubs.network->ListRoutes(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.routes_size(), 1);
  const uint32_t route = *(*real)->FindRoute("1");
  for (const pb::RoutePattern& p : resp.routes(0).patterns()) {
    EXPECT_EQ(p.shape_id(), "");
    EXPECT_GT(p.points_size(), p.stop_ids_size()) << "drawn along its stops, not learned";
    std::vector<LatLon> pts;
    for (const auto& ll : p.points()) pts.push_back({ll.lat(), ll.lon()});
    for (uint32_t rp : (*real)->route_patterns(route)) {
      if ((*real)->pattern(rp).direction_id != p.direction_id()) continue;
      const Polyline& shape = (*real)->polylines()[(*real)->pattern(rp).polyline];
      EXPECT_LT(MedianDistance(pts, shape, (*real)->projection()), 5.0);
    }
  }
  EXPECT_EQ(server->SignalAndWait(SIGTERM, std::chrono::seconds(60)), 0) << server->Log();
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace smartbus
