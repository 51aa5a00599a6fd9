#pragma once
// Text output of route advice (GetRouteAdviceResponse), shared by `smartbus advise` (offline)
// and `smartbus analytics advice` (a running smartbusd): the segments whose recommended running
// time most exceeds the schedule, then per route its trips, timepoint pairs, headways, late
// starts, stop spacing and consolidation candidates. `limit` caps the rows of each list.

#include <cstddef>

#include "smartbus/v1/analytics.pb.h"

namespace smartbus::cli {

void PrintRouteAdvice(const v1::GetRouteAdviceResponse& advice, size_t limit);

}  // namespace smartbus::cli
