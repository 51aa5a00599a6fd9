#pragma once
// The CSV files of ../shared/FORMATS.md on disk: reading Positions and Stop visits files and
// writing Matches, Stop visits and Predictions files. The formats themselves (parsing, rows,
// headers) are core's: services/core/tracking/csv_io.h and services/core/prediction/prediction.h.
//
// Thread safety: the readers are thread-safe; a writer is used by one thread at a time.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/core/network/network.h"
#include "services/core/prediction/prediction.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/files.h"

namespace smartbus {

// Reads a Positions CSV file (errors name the path, line and column). Appends to *out.
absl::Status ReadPositionsCsv(const std::string& path, std::vector<Fix>* out,
                              PositionsReadStats* stats = nullptr, bool skip_bad_rows = false);

// Reads a Stop visits CSV file, resolving its ids against `feed` (ParseStopVisitsCsv).
absl::StatusOr<std::vector<StopVisit>> ReadStopVisitsCsv(const std::string& path,
                                                        const GtfsFeed& feed,
                                                        VisitsCsvStats* stats = nullptr);

// A CSV file of rows formatted against a feed: the header, then Append(row, feed, buffer) per
// Write. MatchesCsvWriter and StopVisitsCsvWriter below.
template <typename Row, void (*Append)(const Row&, const GtfsFeed&, std::string*),
          absl::string_view (*Header)()>
class FeedRowsCsvWriter {
 public:
  explicit FeedRowsCsvWriter(const GtfsFeed* feed) : feed_(feed) {}
  absl::Status Open(const std::string& path) { return w_.Open(path, Header()); }
  absl::Status Write(const Row& row) {
    Append(row, *feed_, w_.buffer());
    return w_.MaybeFlush();
  }
  absl::Status Close() { return w_.Close(); }

 private:
  const GtfsFeed* feed_;
  CsvFileWriter w_;
};
using MatchesCsvWriter = FeedRowsCsvWriter<MatchResult, AppendMatchRow, MatchesCsvHeader>;
using StopVisitsCsvWriter = FeedRowsCsvWriter<StopVisit, AppendStopVisitRow, StopVisitsCsvHeader>;

// The Predictions CSV. Write keeps the first write error and Close returns it (the harness's
// sink cannot return one).
class PredictionsCsvWriter {
 public:
  explicit PredictionsCsvWriter(const Network* network) : network_(network) {}
  absl::Status Open(const std::string& path) { return w_.Open(path, kPredictionsCsvHeader); }
  void Write(const Prediction& p) {
    AppendPredictionCsvRow(*network_, p, w_.buffer());
    ++rows_;
    if (absl::Status s = w_.MaybeFlush(); !s.ok() && error_.ok()) error_ = s;
  }
  absl::Status Close() {
    absl::Status s = w_.Close();
    return error_.ok() ? s : error_;
  }
  int64_t rows() const { return rows_; }

 private:
  const Network* network_;
  CsvFileWriter w_;
  absl::Status error_;
  int64_t rows_ = 0;
};

}  // namespace smartbus
