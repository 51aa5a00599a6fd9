#include "services/files/csv_files.h"

namespace smartbus {

absl::Status ReadPositionsCsv(const std::string& path, std::vector<Fix>* out,
                              PositionsReadStats* stats, bool skip_bad_rows) {
  absl::StatusOr<std::string> text = ReadFileToString(path, "positions file");
  if (!text.ok()) return text.status();
  PositionsReadOptions options;
  options.skip_bad_rows = skip_bad_rows;
  options.source_name = path;
  return ParsePositionsCsvInPlace(&*text, options, out, stats);
}

absl::StatusOr<std::vector<StopVisit>> ReadStopVisitsCsv(const std::string& path,
                                                        const GtfsFeed& feed,
                                                        VisitsCsvStats* stats) {
  absl::StatusOr<std::string> text = ReadFileToString(path, "Stop visits CSV");
  if (!text.ok()) return text.status();
  return ParseStopVisitsCsvInPlace(&*text, path, feed, stats);
}

}  // namespace smartbus
