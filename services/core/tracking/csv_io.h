#pragma once
// Parsing the Positions and Stop visits CSV and formatting the Matches and Stop visits CSV rows
// (../shared/FORMATS.md), in memory. Shared by replay, the server's CSV push and analytics; the
// files themselves are read and written by services/files/csv_files.h.
//
// Positions CSV: columns are found by name in the header (a UTF-8 BOM and spaces around names
// are ignored). Required: vehicle_id, timestamp, lat, lon. Optional: bearing, speed, trip_id,
// route_id, occupancy, boardings, alightings, load, accuracy; unknown columns are ignored.
// Read with the project's CsvReader (services/core/common/csv.h): RFC 4180 double-quoted fields,
// LF or CRLF line ends.
//
// Bad rows (decision, documented here): a row that cannot be read as a fix at all -- wrong
// number of fields, a timestamp that is not a number, a non-numeric lat/lon/bearing/speed/... --
// is an error naming the file, line, column and value (or, with `skip_bad_rows`, is skipped and
// counted). A row that parses but holds an unusable value is returned as a Fix and left to the
// tracker, which rejects it with a reason: an empty vehicle_id (invalid_vehicle_id), an empty,
// "nan", out-of-range or (0,0) position (invalid_coordinates). So every readable row gives
// exactly one Matches row.
//
// Thread safety: the readers/writers are not thread-safe; use one per thread.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/gtfs/feed.h"
#include "services/core/tracking/types.h"

namespace smartbus {

struct PositionsReadOptions {
  // Skip (and count) rows that cannot be read instead of failing. Default: fail on the first.
  bool skip_bad_rows = false;
  // Name used in error messages (the file path). Default: "positions".
  std::string source_name = "positions";
};

struct PositionsReadStats {
  int64_t rows = 0;          // data rows seen (blank lines excluded)
  int64_t fixes = 0;         // rows returned as fixes
  int64_t skipped_rows = 0;  // bad rows skipped (skip_bad_rows only)
  std::string first_error;   // message of the first skipped row, empty when none
};

// Parses a whole Positions CSV held in memory. Appends to *out.
absl::Status ParsePositionsCsv(absl::string_view content, const PositionsReadOptions& options,
                               std::vector<Fix>* out, PositionsReadStats* stats = nullptr);
// The same on text the reader may change (it unescapes quoted fields in place): no copy.
absl::Status ParsePositionsCsvInPlace(std::string* content, const PositionsReadOptions& options,
                                      std::vector<Fix>* out, PositionsReadStats* stats = nullptr);


// --- Stop visits CSV reader ----------------------------------------------------------------
//
// Reads a Stop visits CSV (as written by StopVisitsCsvWriter) back into StopVisits, resolving its
// ids against a GTFS feed (the one the visits were made with).
//
// Columns are found by name: vehicle_id, trip_id, route_id, stop_id, stop_sequence,
// service_date, scheduled_arrival, scheduled_departure, arrival, departure; optional boardings,
// alightings, load, occupancy (empty = unknown). A row whose trip or stop_sequence the feed does
// not know is skipped and counted by kind in VisitsCsvStats::warnings (nigiri style: one bad row
// never fails the file); a malformed number fails with file, line, column and value.

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
// The same on text the reader may change (unescaped in place): no copy.
absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsCsvInPlace(std::string* text,
                                                                absl::string_view name,
                                                                const GtfsFeed& feed,
                                                                VisitsCsvStats* stats = nullptr);

// --- Writers -------------------------------------------------------------------------------

// The header lines (with trailing newline) of the two output files.
absl::string_view MatchesCsvHeader();
absl::string_view StopVisitsCsvHeader();

// Append one CSV row (with newline) to *out. Ids are looked up in `feed` (trip, route, stop
// indices). dist_along_m and offset_m are written with 1 decimal, empty when NaN; arrival and
// departure as integer epoch seconds (rounded).
void AppendMatchRow(const MatchResult& m, const GtfsFeed& feed, std::string* out);
void AppendStopVisitRow(const StopVisit& v, const GtfsFeed& feed, std::string* out);

}  // namespace smartbus
