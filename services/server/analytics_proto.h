#pragma once
// The operator analytics (services/core/analytics) as their proto messages
// (proto/smartbus/v1/analytics.proto): the ONE mapping of each analytics type, used by
// AnalyticsService and by `smartbus report --json`. Every JSON of these figures (HTTP
// /api/v1/analytics/*, `smartbus analytics ... --json`, `smartbus report --json`) is protobuf's
// JSON mapping of these messages. Its own small library (sb_analytics_proto) so that the CLI
// uses it without the server.

#include <vector>

#include "services/core/analytics/analytics.h"
#include "services/core/analytics/rankings.h"
#include "smartbus/v1/analytics.pb.h"

namespace smartbus::server {

void FillRoute(const RouteStats& r, const AnalyticsNetwork& net, v1::RouteFigures* out);
void FillBunchedPair(const BunchedPair& b, const AnalyticsNetwork& net, v1::BunchedPair* out);
void FillCongestion(const SegmentCongestion& c, const AnalyticsNetwork& net,
                    v1::SegmentCongestion* out);
void FillUsualJam(const UsualJam& j, const AnalyticsNetwork& net, v1::UsualJam* out);
void FillFleetCondition(const FleetCondition& f, const AnalyticsNetwork& net,
                        v1::GetFleetConditionResponse* out);
void FillDriving(const VehicleDriving& d, v1::VehicleDriving* out);
// `ranking` of `routes` (RankRoutes).
void FillRankings(const RouteRanking& ranking, const std::vector<RouteStats>& routes,
                  const AnalyticsNetwork& net, v1::RouteRankings* out);

// The figures of `smartbus report --json` (AnalyticsReport) over the aggregator's visits:
// `routes` (from agg.Routes) with their rankings, driving time in `window`, usual jams and, when
// `now_s` is finite, bunched pairs and congestion at now_s; `limit` segments per list. The caller
// fills the file's figures (visits_file, visits_read, ...).
void FillReport(const VisitAggregator& agg, const std::vector<RouteStats>& routes,
                const AnalyticsNetwork& net, const TimeWindow& window, double now_s,
                size_t limit, v1::AnalyticsReport* out);

}  // namespace smartbus::server
