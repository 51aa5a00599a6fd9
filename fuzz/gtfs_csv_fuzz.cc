// libFuzzer target for the project's CSV reader (services/core/common/csv.h) and its number
// parsers: any bytes as a GTFS/Positions file. Every field read must lie inside the buffer
// (ASan), a short row must not show another row's values, an unclosed quote must stop reading.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "services/core/common/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string buf(reinterpret_cast<const char*>(data), size);
  smartbus::CsvReader r(buf.data(), buf.size());
  (void)r.Column("stop_id");
  while (r.Next()) {
    const int n = static_cast<int>(r.num_fields());
    for (int c = -1; c <= static_cast<int>(r.num_columns()) + 1; ++c) {
      absl::string_view f = r.Field(c);
      if (c >= n && !f.empty()) std::abort();  // a short row showing someone else's value
      double d;
      int64_t i;
      (void)smartbus::ParseDouble(f, &d);
      (void)smartbus::ParseInt64(f, &i);
      (void)r.Trimmed(c);
    }
    (void)smartbus::Abbreviate(r.Field(0), 8);
  }
  return 0;
}
