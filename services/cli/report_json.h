#pragma once
// The JSON `smartbus report --json` prints: protobuf's JSON mapping of the AnalyticsReport
// (proto/smartbus/v1/analytics.proto, the messages of the live API), plus, in each element of
// `routes`, the figures ../shared/FORMATS.md names at that level (copies of on_time.*,
// headways.cv and passengers.*; null when the figure is absent).

#include <string>

#include "smartbus/v1/analytics.pb.h"

namespace smartbus::cli {

std::string ReportJson(const v1::AnalyticsReport& report);

}  // namespace smartbus::cli
