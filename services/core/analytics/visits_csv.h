#pragma once
// The Stop visits CSV reader (ReadStopVisitsCsv, ParseStopVisitsCsv, VisitsCsvStats) now lives
// beside the Stop visits writer in services/core/tracking/csv_io.h. This forwarding header only
// keeps tests/server/analytics/analytics_service_test.cc building until its include is updated;
// include services/core/tracking/csv_io.h instead and then delete this file.
#include "services/core/tracking/csv_io.h"  // IWYU pragma: export
