#pragma once
// Live prediction accuracy (services/core/prediction/live_accuracy.h) as the proto message
// AccuracyReportFigures, and back: one data model for AnalyticsService.GetPredictionAccuracy and
// `smartbus analytics accuracy --json` (which prints the JSON of `smartbus replay --report`,
// AccuracyReportJson, so live and offline compare field by field). Its own small library
// (sb_accuracy_proto) so that the CLI uses it without the server.

#include "services/core/prediction/scorer.h"
#include "smartbus/v1/analytics.pb.h"

namespace smartbus::server {

void FillAccuracy(const AccuracyTally& tally, v1::AccuracyReportFigures* out);
// The report the figures were made from (medians NaN: the server keeps sums).
AccuracyReport AccuracyFromProto(const v1::AccuracyReportFigures& p);

}  // namespace smartbus::server
