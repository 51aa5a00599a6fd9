#include "services/core/gtfs/csv.h"

#include <charconv>
#include <cstring>

namespace smartbus::gtfs_internal {

absl::string_view TrimSpaces(absl::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

CsvReader::CsvReader(char* data, size_t size) : begin_(data), p_(data), end_(data + size) {
  fields_.reserve(32);
  if (size >= 3 && static_cast<unsigned char>(data[0]) == 0xEF &&
      static_cast<unsigned char>(data[1]) == 0xBB && static_cast<unsigned char>(data[2]) == 0xBF) {
    p_ += 3;
  }
  if (Next()) {
    header_.reserve(fields_.size());
    for (absl::string_view f : fields_) header_.emplace_back(TrimSpaces(f));
  }
}

int CsvReader::Column(absl::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

absl::string_view CsvReader::Trimmed(int col) const { return TrimSpaces(Field(col)); }

void CsvReader::ReadRecord() {
  fields_.clear();
  line_ = next_line_;
  char* p = p_;
  char* const end = end_;
  for (;;) {
    if (p < end && *p == '"') {
      // Quoted field: unescape in place ("" -> "), keep line breaks.
      ++p;
      char* start = p;
      char* out = p;
      while (p < end) {
        char c = *p;
        if (c == '"') {
          if (p + 1 < end && p[1] == '"') {
            *out++ = '"';
            p += 2;
            continue;
          }
          ++p;
          break;
        }
        if (c == '\n') ++next_line_;
        *out++ = c;
        ++p;
      }
      // Anything between the closing quote and the separator (e.g. spaces) is dropped.
      while (p < end && *p != ',' && *p != '\n' && *p != '\r') ++p;
      fields_.emplace_back(start, static_cast<size_t>(out - start));
      if (p < end && *p == '\r') {
        ++p;
        if (p < end && *p != '\n') {  // lone CR: a line end
          ++next_line_;
          break;
        }
      }
    } else {
      char* start = p;
      while (p < end && *p != ',' && *p != '\n') ++p;
      char* e = p;
      if (e > start && e[-1] == '\r') --e;
      fields_.emplace_back(start, static_cast<size_t>(e - start));
    }
    if (p >= end) break;
    if (*p == ',') {
      ++p;
      continue;
    }
    // '\n'
    ++p;
    ++next_line_;
    break;
  }
  p_ = p;
}

bool CsvReader::Next() {
  while (p_ < end_) {
    ReadRecord();
    if (fields_.size() == 1 && TrimSpaces(fields_[0]).empty()) continue;  // blank line
    return true;
  }
  fields_.clear();
  return false;
}

bool ParseInt64(absl::string_view s, int64_t* out) {
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
    unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  return true;
}

bool ParseDouble(absl::string_view s, double* out) {
  s = TrimSpaces(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  double v;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

size_t CountLines(const char* data, size_t size) {
  size_t n = 0;
  const char* p = data;
  const char* end = data + size;
  while (p < end) {
    const void* q = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (!q) break;
    ++n;
    p = static_cast<const char*>(q) + 1;
  }
  return n;
}

}  // namespace smartbus::gtfs_internal
