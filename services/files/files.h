#pragma once
// File I/O at the edge. services/core reads and writes no files (CONTRIBUTING.md): it parses and
// formats bytes in memory, and the commands, the server, the benchmarks and the tests reach the
// file system through this folder. Errors name the file (and what it is for) and the reason.
//
// Thread safety: the functions are thread-safe; a CsvFileWriter is used by one thread at a time.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/gtfs/source.h"

namespace smartbus {

// Reads the whole file. `what` says what the file is for in messages ("model file", "--ca"):
// NotFound "cannot read <what> <path>: <reason>"; DataLoss when the read fails part way.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what);

// Writes `bytes` to `path` (created or truncated). Errors (PermissionDenied to open, DataLoss
// when the write or close fails) name `what` and the path.
absl::Status WriteStringToFile(const std::string& path, absl::string_view bytes,
                               absl::string_view what);

// Writes each file into the directory `dir` (created with its parents when missing; files of
// those names replaced). Errors name the directory or the file and the reason.
absl::Status WriteFilesToDirectory(const std::string& dir, const std::vector<TextFile>& files);

// The project's one buffered text file writer (Matches, Stop visits, Predictions, and the
// simulator's Positions and truth files): Open writes the header; rows appended to buffer() are
// written in large blocks (MaybeFlush) or when Flush is called. Close (or the destructor)
// flushes. The path "-" is standard output (flushed, not closed, by Close). Errors name the path.
class CsvFileWriter {
 public:
  CsvFileWriter() = default;
  ~CsvFileWriter();
  CsvFileWriter(const CsvFileWriter&) = delete;
  CsvFileWriter& operator=(const CsvFileWriter&) = delete;

  absl::Status Open(const std::string& path, absl::string_view header);
  bool is_open() const { return file_ != nullptr; }
  // The buffer rows are appended to; call MaybeFlush() after appending.
  std::string* buffer() { return &buf_; }
  absl::Status MaybeFlush();
  // Writes the buffered rows now (e.g. after each batch of a live stream).
  absl::Status Flush();
  absl::Status Close();

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  std::string buf_;
};

}  // namespace smartbus
