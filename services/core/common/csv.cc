#include "services/core/common/csv.h"

#include <charconv>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace smartbus {

CsvReader::CsvReader(char* data, size_t size) : begin_(data), p_(data), end_(data + size) {
  fields_.resize(32);
  if (size >= 3 && static_cast<unsigned char>(data[0]) == 0xEF &&
      static_cast<unsigned char>(data[1]) == 0xBB && static_cast<unsigned char>(data[2]) == 0xBF) {
    p_ += 3;
  }
  if (Next()) {
    header_.reserve(num_fields());
    for (int i = 0; i < num_fields_; ++i) header_.emplace_back(TrimSpaces(fields_[i]));
  }
}

int CsvReader::Column(absl::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

absl::string_view CsvReader::Trimmed(int col) const { return TrimSpaces(Field(col)); }

namespace {

// The first ',' or '\n' in [p, end), or end. 16 bytes at a time where SSE2 is available.
inline char* FindSeparator(char* p, char* end) {
#ifdef __SSE2__
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i newline = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    int m = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, newline)));
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
    p += 16;
  }
#endif
  while (p < end && *p != ',' && *p != '\n') ++p;
  return p;
}

}  // namespace

void CsvReader::ReadRecord() {
  num_fields_ = 0;
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
      AddField(start, static_cast<size_t>(out - start));
      if (p < end && *p == '\r') {
        ++p;
        if (p < end && *p != '\n') {  // lone CR: a line end
          ++next_line_;
          break;
        }
      }
    } else {
      char* start = p;
      p = FindSeparator(p, end);
      char* e = p;
      if (e > start && e[-1] == '\r') --e;
      AddField(start, static_cast<size_t>(e - start));
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
    if (num_fields_ == 1 && TrimSpaces(fields_[0]).empty()) continue;  // blank line
    return true;
  }
  num_fields_ = 0;
  return false;
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

}  // namespace smartbus
