#pragma once
// Route advice (services/core/planner/advice.h) as the proto message GetRouteAdviceResponse:
// one data model for AnalyticsService.GetRouteAdvice and `smartbus advise --json`.
// Its own small library (sb_advice_proto) so that the CLI uses it without the server.

#include "services/core/network/network.h"
#include "services/core/planner/advice.h"
#include "smartbus/v1/analytics.pb.h"

namespace smartbus::server {

void FillRouteAdvice(const Network& net, const planner::AdviceReport& report,
                     const planner::AdviceOptions& options, v1::GetRouteAdviceResponse* out);

}  // namespace smartbus::server
