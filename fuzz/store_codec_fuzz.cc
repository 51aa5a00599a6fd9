// libFuzzer target for the store codec reading back what Redis holds (services/store/codec.h):
// an encoded stop visit (visit sorted-set member), a position's "d" field and a multi-fix "m"
// field, and numbers. What decodes must encode and decode again to the same record.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "services/store/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace codec = smartbus::store_codec;
  absl::string_view s(reinterpret_cast<const char*>(data), size);
  if (auto v = codec::DecodeStopVisit(s); v.ok()) {
    const std::string again = codec::EncodeStopVisit(*v);
    auto v2 = codec::DecodeStopVisit(again);
    if (!v2.ok() || codec::EncodeStopVisit(*v2) != again) std::abort();
  }
  smartbus::Fix f;
  if (codec::ParsePositionData(s, &f)) {
    std::string out;
    codec::AppendPositionData(&out, f);
    smartbus::Fix g;
    if (!codec::ParsePositionData(out, &g)) std::abort();
  }
  std::vector<smartbus::Fix> fixes;
  if (codec::ParsePositionLines(s, "v", &fixes)) codec::SortAndDedupePositions(&fixes);
  double d;
  int64_t i;
  (void)codec::ParseNumber(s, &d);
  (void)codec::ParseNumber(s, &i);
  return 0;
}
