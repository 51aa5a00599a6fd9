#include "services/core/common/csv.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

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

// The first ',', '\n' or '\r' in [p, end), or end. 16 bytes at a time where SSE2 is available.
inline char* FindSeparator(char* p, char* end) {
#ifdef __SSE2__
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i newline = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    int m = _mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, newline)),
        _mm_cmpeq_epi8(v, cr)));
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
    p += 16;
  }
#endif
  while (p < end && *p != ',' && *p != '\n' && *p != '\r') ++p;
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
      const int64_t open_line = next_line_;
      ++p;
      char* start = p;
      char* out = p;
      bool closed = false;
      while (p < end) {
        char c = *p;
        if (c == '"') {
          if (p + 1 < end && p[1] == '"') {
            *out++ = '"';
            p += 2;
            continue;
          }
          ++p;
          closed = true;
          break;
        }
        if (c == '\n') ++next_line_;
        *out++ = c;
        ++p;
      }
      if (!closed) {
        unclosed_quote_line_ = open_line;
        p_ = end;
        return;
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
      AddField(start, static_cast<size_t>(p - start));
    }
    if (p >= end) break;
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p == '\r') {  // CRLF, or a lone CR (old Mac line ends)
      ++p;
      if (p < end && *p == '\n') ++p;
      ++next_line_;
      break;
    }
    // '\n'
    ++p;
    ++next_line_;
    break;
  }
  p_ = p;
}

bool CsvReader::Next() {
  while (p_ < end_ && unclosed_quote_line_ == 0) {
    ReadRecord();
    if (unclosed_quote_line_ != 0) break;
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

CsvRow& CsvRow::Int(int64_t v) {
  Next();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out_->append(buf, r.ptr);
  return *this;
}

CsvRow& CsvRow::Fixed(double v, int decimals) {
  Next();
  char buf[400];  // DBL_MAX with decimals
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, decimals);
  out_->append(buf, r.ptr);
  return *this;
}

CsvRow& CsvRow::OptFixed(double v, int decimals) {
  return std::isfinite(v) ? Fixed(v, decimals) : Empty();
}

void AppendCsvField(absl::string_view value, std::string* out) {
  if (value.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out->append(value.data(), value.size());
    return;
  }
  out->push_back('"');
  for (char c : value) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string Abbreviate(absl::string_view value, size_t max_bytes) {
  if (value.size() <= max_bytes) return std::string(value);
  size_t cut = max_bytes;
  // Do not split a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(value.substr(0, cut), "... (", value.size(), " bytes)");
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
