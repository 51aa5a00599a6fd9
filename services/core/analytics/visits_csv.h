#pragma once
// Reading a Stop visits CSV (../shared/FORMATS.md) back into StopVisits, resolving its ids
// against a GTFS feed (the one the visits were made with).
//
// Columns are found by name: vehicle_id, trip_id, route_id, stop_id, stop_sequence,
// service_date, scheduled_arrival, scheduled_departure, arrival, departure; optional boardings,
// alightings, load, occupancy (empty = unknown). A row whose trip or stop_sequence the feed does
// not know is skipped and counted by kind in VisitsCsvStats::warnings (nigiri style: one bad row
// never fails the file); a malformed number fails with file, line, column and value.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/gtfs/feed.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct VisitsCsvStats {
  int64_t rows = 0;     // data rows read
  int64_t visits = 0;   // rows turned into visits
  std::map<std::string, int64_t> warnings;  // kind -> rows skipped or fixed
};

// Parses CSV text; `name` is used in messages (e.g. the file path).
absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsCsv(absl::string_view text,
                                                         absl::string_view name,
                                                         const GtfsFeed& feed,
                                                         VisitsCsvStats* stats = nullptr);
// Reads and parses a file.
absl::StatusOr<std::vector<StopVisit>> ReadStopVisitsCsv(const std::string& path,
                                                        const GtfsFeed& feed,
                                                        VisitsCsvStats* stats = nullptr);

}  // namespace smartbus
