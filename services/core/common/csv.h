#pragma once
// The project's one CSV reader (GTFS files, Positions CSV, Stop visits CSV), fast on real-world
// CSV held in one mutable buffer: UTF-8 BOM, LF, CRLF or CR-only line ends, RFC 4180 quoted fields
// (commas, doubled quotes and line breaks inside quotes), columns found by header name in any
// order, unknown columns ignored, short rows padded with empty fields. Fields are string_views
// into the buffer (quoted fields are unescaped in place), so
// reading a row allocates nothing.
//
// Thread safety: a CsvReader is used by one thread; different readers over different buffers
// are independent.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace smartbus {

class CsvReader {
 public:
  // `data` must stay valid (and is modified: quoted fields are unescaped in place) while the
  // reader is used. Reads the header row at once.
  CsvReader(char* data, size_t size);

  // Index of the column named `name` (header names are compared after trimming spaces), or -1.
  int Column(absl::string_view name) const;
  const std::vector<std::string>& header() const { return header_; }

  // Streaming: more of the buffer has become valid; `end` (> the old end) must lie just after a
  // line break that is not inside a quoted field, or be the end of the file.
  void ExtendTo(char* end) { end_ = end; }

  // Advances to the next non-empty record; false at the end of the data, and also at a record
  // whose quoted field is never closed (see unclosed_quote_line()).
  bool Next();
  // Field `col` of the current record (empty when col < 0 or the row is short: the row's own
  // field count bounds it, never the buffer's, so a short row never shows an earlier row's
  // values). Not trimmed.
  absl::string_view Field(int col) const {
    return (col < 0 || col >= num_fields_) ? absl::string_view() : fields_[col];
  }
  // 1-based line where a quoted field opens that has no closing quote before the end of the
  // data (an unbalanced '"'), 0 when there is none. Reading stops at that record; callers check
  // this after their loop so the file with the broken quote is the one named.
  int64_t unclosed_quote_line() const { return unclosed_quote_line_; }
  // Field with leading/trailing spaces and tabs removed.
  absl::string_view Trimmed(int col) const;

  // 1-based line number of the current record's first line in the file (header = line 1).
  int64_t line() const { return line_; }
  // Number of fields in the current record.
  size_t num_fields() const { return static_cast<size_t>(num_fields_); }
  size_t num_columns() const { return header_.size(); }
  // Bytes consumed so far (for progress reports).
  size_t position() const { return static_cast<size_t>(p_ - begin_); }
  size_t size() const { return static_cast<size_t>(end_ - begin_); }

 private:
  // Splits one record starting at p_ into fields_; advances p_ past its line end.
  void ReadRecord();
  void AddField(char* begin, size_t len) {
    if (num_fields_ == static_cast<int>(fields_.size())) fields_.resize(fields_.size() * 2);
    fields_[num_fields_++] = absl::string_view(begin, len);
  }

  char* begin_;
  char* p_;
  char* end_;
  int64_t next_line_ = 1;  // line number at p_
  int64_t line_ = 0;
  std::vector<absl::string_view> fields_;  // [0, num_fields_) hold the current record
  int num_fields_ = 0;
  int64_t unclosed_quote_line_ = 0;
  std::vector<std::string> header_;
};

inline absl::string_view TrimSpaces(absl::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

// Number parsing on (untrimmed) fields: leading/trailing spaces are ignored; an empty field
// or trailing garbage is a failure. None of them allocates.
inline bool ParseInt64(absl::string_view s, int64_t* out) {
  s = TrimSpaces(s);
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size() || s.size() - i > 18) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    unsigned d = static_cast<unsigned>(static_cast<unsigned char>(s[i])) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return true;
}
bool ParseDouble(absl::string_view s, double* out);

// `value` for an error message: at most `max_bytes` of it, then "... (N bytes)" (a broken file
// or request must not put megabytes into a log line or a gRPC status).
std::string Abbreviate(absl::string_view value, size_t max_bytes = 64);

// Appends `value` to `out` as one CSV field (RFC 4180): as is, or in double quotes (inner quotes
// doubled) when it holds a comma, a quote or a line break.
void AppendCsvField(absl::string_view value, std::string* out);

// Writes one CSV row into `out`: fields separated by commas, then End()'s newline. Text is
// appended as is (AppendCsvField quotes); numbers without locale; an Opt* value that is unknown
// (negative integer, non-finite double) is an empty field. E.g.
//   CsvRow(&out).Text(id).Int(t).OptFixed(speed, 1).End();
class CsvRow {
 public:
  explicit CsvRow(std::string* out) : out_(out) {}
  CsvRow& Text(absl::string_view s) {
    Next();
    out_->append(s.data(), s.size());
    return *this;
  }
  CsvRow& Int(int64_t v);
  CsvRow& OptInt(int32_t v) { return v >= 0 ? Int(v) : Empty(); }
  // printf's %.<decimals>f.
  CsvRow& Fixed(double v, int decimals);
  CsvRow& OptFixed(double v, int decimals);
  CsvRow& Empty() {
    Next();
    return *this;
  }
  void End() { out_->push_back('\n'); }

 private:
  void Next() {
    if (!first_) out_->push_back(',');
    first_ = false;
  }
  std::string* out_;
  bool first_ = true;
};

// Counts '\n' in the buffer (an upper bound on records, for reserve()).
size_t CountLines(const char* data, size_t size);

}  // namespace smartbus
