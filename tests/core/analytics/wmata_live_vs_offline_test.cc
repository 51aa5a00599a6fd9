// On the real WMATA trace: the analytics fed live from the engine's stop visits (what smartbusd
// does) equal the analytics over the Stop visits CSV written and read back (what
// `smartbus replay --visits` + `smartbus report` do). Skips when the shared data is absent.

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/core/analytics/analytics.h"
#include "services/core/analytics/network_view.h"
#include "services/core/engine/engine.h"
#include "services/core/tracking/csv_io.h"
#include "services/server/analytics_proto.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"

namespace smartbus {
namespace {

const std::string kData = std::string(SMARTBUS_SHARED_DATA) + "/wmata-2026-02-16";

// The figures as the server sends them (one mapping, services/server/analytics_proto.h).
v1::AnalyticsReport Figures(const VisitAggregator& agg, const RouteQuery& q,
                            const AnalyticsNetwork& net, double now) {
  v1::AnalyticsReport out;
  server::FillReport(agg, agg.Routes(q), net, q.window, now, 50, &out);
  return out;
}

class Feeder : public EngineListener {
 public:
  Feeder(VisitAggregator* agg, const GtfsFeed* feed) : agg_(agg), feed_(feed) {}
  void OnStopVisit(const StopVisit& v) override {
    agg_->Add(v);
    AppendStopVisitRow(v, *feed_, &csv_);
  }
  std::string csv_;

 private:
  VisitAggregator* agg_;
  const GtfsFeed* feed_;
};

TEST(WmataAnalytics, LiveEqualsOfflineReportAndFiguresArePlausible) {
  struct stat st;
  if (::stat((kData + "/positions.csv").c_str(), &st) != 0) {
    GTEST_SKIP() << "WMATA trace not found at " << kData << " (SMARTBUS_SHARED_DATA)";
  }
  auto feed = LoadGtfs({kData + "/gtfs"});
  ASSERT_TRUE(feed.ok()) << feed.status();
  auto net = Network::Build(*std::move(feed));
  ASSERT_TRUE(net.ok()) << net.status();
  auto view = std::make_shared<NetworkAnalyticsView>(*net);
  AnalyticsOptions options;
  options.time_zone = (*net)->time_zone();

  std::vector<Fix> fixes;
  ASSERT_TRUE(ReadPositionsCsv(kData + "/positions.csv", &fixes).ok());
  VisitAggregator live(view, options);
  Feeder feeder(&live, &(*net)->feed());
  feeder.csv_ = std::string(StopVisitsCsvHeader());
  Engine engine(*net);
  engine.AddListener(&feeder);
  for (const Fix& f : fixes) engine.Process(f);  // the file is sorted by timestamp

  VisitsCsvStats stats;
  auto visits = ParseStopVisitsCsv(feeder.csv_, "visits.csv", (*net)->feed(), &stats);
  ASSERT_TRUE(visits.ok()) << visits.status();
  EXPECT_TRUE(stats.warnings.empty());
  VisitAggregator offline(view, options);
  for (const StopVisit& v : *visits) offline.Add(v);
  ASSERT_GT(live.visits(), 4000);
  EXPECT_EQ(live.visits(), offline.visits());

  RouteQuery q;
  q.stops = q.trips = true;
  std::vector<RouteStats> lr = live.Routes(q);
  const double now = live.newest_arrival_s();
  EXPECT_EQ(Figures(live, q, *view, now).DebugString(), Figures(offline, q, *view, now).DebugString());
  EXPECT_EQ(Figures(live, q, *view, now - 3600).DebugString(),
            Figures(offline, q, *view, now - 3600).DebugString());

  // A window query equals the analytics of only the visits inside the window.
  for (double hours : {1.0, 2.5}) {
    RouteQuery wq;
    wq.stops = wq.trips = true;
    wq.window.from_s = now - hours * 3600;
    wq.window.to_s = now - 1800;
    VisitAggregator only(view, options);
    for (const StopVisit& v : *visits) {
      double a = std::round(v.arrival_s);
      if (wq.window.Contains(a)) only.Add(v);
    }
    RouteQuery all;
    all.stops = all.trips = true;
    const v1::AnalyticsReport a = Figures(offline, wq, *view, NAN);
    const v1::AnalyticsReport b = Figures(only, all, *view, NAN);
    ASSERT_EQ(a.routes_size(), b.routes_size());
    for (int i = 0; i < a.routes_size(); ++i) {
      const v1::RouteFigures& x = a.routes(i);
      const v1::RouteFigures& y = b.routes(i);
      EXPECT_EQ(x.visits(), y.visits());
      EXPECT_EQ(x.on_time().has_on_time_pct(), y.on_time().has_on_time_pct());
      EXPECT_EQ(x.on_time().on_time_pct(), y.on_time().on_time_pct());
      EXPECT_NEAR(x.headways().cv(), y.headways().cv(), 1e-9);
      EXPECT_NEAR(x.excess_wait_s(), y.excess_wait_s(), 1e-6);
      EXPECT_EQ(x.segments_size(), y.segments_size());
      for (int k = 0; k < std::min(x.segments_size(), y.segments_size()); ++k) {
        EXPECT_EQ(x.segments(k).traversals(), y.segments(k).traversals());
        EXPECT_NEAR(x.segments(k).mean_speed_kmh(), y.segments(k).mean_speed_kmh(), 1e-9);
      }
      EXPECT_EQ(x.trips(), y.trips());
      EXPECT_NEAR(x.actual_run_s(), y.actual_run_s(), 1e-6);
      EXPECT_EQ(x.passengers().mean_occupancy(), y.passengers().mean_occupancy());
    }
  }

  // The three routes, with plausible figures and occupancy-only crowding (no counts).
  ASSERT_EQ(lr.size(), 3u);
  for (const RouteStats& r : lr) {
    SCOPED_TRACE(view->RouteId(r.route));
    EXPECT_GT(r.on_time.on_time_pct(), 20);
    EXPECT_LT(r.on_time.on_time_pct(), 90);
    EXPECT_GT(r.headways.cv(), 0.05);
    EXPECT_LT(r.headways.cv(), 2);
    EXPECT_FALSE(r.passengers.has_counts());
    EXPECT_TRUE(r.passengers.has_occupancy());
    ASSERT_FALSE(r.segments.empty());
    double d = 0, t = 0;
    for (const SegmentStats& s : r.segments) {
      d += s.distance_m * s.traversals;
      t += s.mean_time_s * s.traversals;
    }
    EXPECT_GT(d / t * 3.6, 5);   // city bus average speed, km/h
    EXPECT_LT(d / t * 3.6, 40);
  }
}

}  // namespace
}  // namespace smartbus
