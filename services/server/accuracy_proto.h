#pragma once
// Live prediction accuracy (services/core/prediction/live_accuracy.h) as the proto message
// AccuracyReportFigures: the one mapping, for AnalyticsService.GetPredictionAccuracy; the HTTP
// API and `smartbus analytics accuracy --json` print protobuf's JSON mapping of it. (The offline
// `smartbus replay --report` still writes its own JSON from the core AccuracyReport.)

#include "services/core/prediction/scorer.h"
#include "smartbus/v1/analytics.pb.h"

namespace smartbus::server {

void FillAccuracy(const AccuracyTally& tally, v1::AccuracyReportFigures* out);

}  // namespace smartbus::server
