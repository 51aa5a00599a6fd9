#pragma once
// Text encodings shared by the store implementations (internal to sb_store, exposed for tests).
// Numbers are written in the shortest form that parses back to the same value (std::to_chars),
// NaN as "nan"; so every stored record reads back bit-for-bit.

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/service_changes/service_changes.h"
#include "services/core/tracking/types.h"
#include "services/store/store.h"

namespace smartbus::store_codec {

// Appends `s` with tab, newline and backslash escaped as \t, \n, \\ (so it can be a field of a
// tab-separated line); Unescape reverses it (false on a malformed escape).
void AppendEscaped(std::string* out, absl::string_view s);
bool Unescape(absl::string_view s, std::string* out);

// Appends the shortest round-trip text of a number.
void AppendNumber(std::string* out, double v);
void AppendNumber(std::string* out, float v);
void AppendNumber(std::string* out, int64_t v);
inline void AppendNumber(std::string* out, int32_t v) { AppendNumber(out, int64_t{v}); }
inline void AppendNumber(std::string* out, uint32_t v) { AppendNumber(out, int64_t{v}); }

// Parse a whole field; false when `s` is not entirely a number.
bool ParseNumber(absl::string_view s, double* v);
bool ParseNumber(absl::string_view s, float* v);
bool ParseNumber(absl::string_view s, int64_t* v);
bool ParseNumber(absl::string_view s, int32_t* v);
bool ParseNumber(absl::string_view s, uint32_t* v);

// Fields of a tab-separated record, one codec for both directions. AppendFields appends each
// value preceded by a tab: a string escaped (AppendEscaped), a number by AppendNumber.
// ParseFields reads f[i], f[i+1], ... into the pointers in order: a std::string unescaped, a
// number by ParseNumber; it returns the index of the first field that is missing or does not
// parse (i + the number of pointers when all parse).
template <typename T>
void AppendField(std::string* out, const T& v) {
  out->push_back('\t');
  if constexpr (std::is_convertible_v<const T&, absl::string_view>) {
    AppendEscaped(out, v);
  } else {
    AppendNumber(out, v);
  }
}
template <typename... T>
void AppendFields(std::string* out, const T&... v) {
  (AppendField(out, v), ...);
}
template <typename T>
bool ParseField(absl::string_view s, T* v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return Unescape(s, v);
  } else {
    return ParseNumber(s, v);
  }
}
template <typename... T>
size_t ParseFields(const std::vector<absl::string_view>& f, size_t i, T*... v) {
  auto next = [&](auto* x) {
    if (i >= f.size() || !ParseField(f[i], x)) return false;
    ++i;
    return true;
  };
  (void)(next(v) && ...);
  return i;
}

// The MatchState named by MatchStateName (tracking/types.h).
bool ParseState(absl::string_view name, MatchState* s);

// A stop visit as one line of tab-separated fields (the member of the Redis visit sorted sets):
// vehicle_id, trip_id, route_id, stop_id, stop_index, stop_sequence, service_date,
// scheduled_arrival_s, scheduled_departure_s, arrival_s, departure_s, boardings, alightings,
// load, occupancy. Tabs, newlines and backslashes inside ids are escaped (\t \n \\).
// Identical visits encode identically.
std::string EncodeStopVisit(const StopVisitRecord& v);
// DATA_LOSS naming the problem when the text is not an encoded visit. Indices are kNoIndex.
absl::StatusOr<StopVisitRecord> DecodeStopVisit(absl::string_view s);

// The order ReadStopVisits returns: arrival_s, then vehicle id, stop_sequence, trip id, stop id.
bool StopVisitLess(const StopVisitRecord& a, const StopVisitRecord& b);
// Whether the visit matches the query's route/stop/time window (not the limit).
bool StopVisitMatches(const StopVisitRecord& v, const StopVisitQuery& q);

// An alarm event without its vehicle id (the key names it): time, alarm, raised, lat, lon,
// speed, tab-separated.
std::string EncodeConditionEvent(const ConditionEvent& e);
absl::StatusOr<ConditionEvent> DecodeConditionEvent(absl::string_view s,
                                                    absl::string_view vehicle_id);

// A position's fields other than vehicle and timestamp as one tab-separated value (the "d"
// field of a Redis position stream entry): lat, lon, bearing_deg, speed_mps, trip_id,
// route_id, occupancy, boardings, alightings, load, accuracy_m; an unknown value (NaN, -1) is
// an empty field; ids escaped as in EncodeStopVisit.
void AppendPositionData(std::string* out, const Fix& f);
// False when `s` is not such a value. Leaves vehicle_id and timestamp_s alone.
bool ParsePositionData(absl::string_view s, Fix* f);

// Several positions of one vehicle as one value (the "m" field of a Redis position stream
// entry): one line per fix, "<timestamp_s>\t<AppendPositionData>", lines separated by '\n'
// (ids are escaped, so neither a tab nor a newline of an id can split a line).
void AppendPositionLine(std::string* out, const Fix& f);  // one line, no '\n'
// Appends the fixes of such a value to `out` in line order, vehicle_id set to `vehicle_id`.
// False (and `out` as it was) when a line is malformed.
bool ParsePositionLines(absl::string_view s, absl::string_view vehicle_id,
                        std::vector<Fix>* out);

// A learned path (services/core/paths/learned_path.h) as one value, lines separated by '\n':
//   "path1" key route_id direction_id traversals coverage longest_hole_m confident (tabs)
//   the stop ids (tabs), the bin counts (spaces), the samples "chord_m,lat,lon" (spaces),
//   the points "lat,lon" (spaces); ids escaped as in EncodeStopVisit. Reads back bit-for-bit.
std::string EncodeLearnedPath(const LearnedPath& p);
// DATA_LOSS naming `where` (e.g. the Redis key) when `s` is not such a value.
absl::StatusOr<LearnedPath> DecodeLearnedPath(absl::string_view s, absl::string_view where);

// Sorts positions by timestamp_s (stable: ties keep append order) and keeps the first of each
// timestamp (a batch retried after a partial failure may have appended some fixes twice).
void SortAndDedupePositions(std::vector<Fix>* fixes);

// Service changes (services/core/service_changes/service_changes.h) as text, one record per
// value, one line per part, fields tab-separated and escaped as above (deploy/REDIS_KEYS.md):
//   trip change: "trip\t<source>\t<trip_id>\t<service_date>\t<cancelled 0|1>\t<updated_s>\t<reason>"
//                then one "skip\t<stop_id>\t<stop_sequence>" line per skipped stop;
//   alert:       "alert\t<source>\t<id>\t<cause>\t<effect>\t<severity>\t<created_s>", then
//                "period\t<start_s>\t<end_s>", "entity\t<agency>\t<route>\t<trip>\t<stop>",
//                "header|description|url\t<language>\t<text>" lines.
std::string EncodeTripChange(const TripChange& t);
std::string EncodeAlert(const Alert& a);
// DATA_LOSS naming the line when the text is not such a record.
absl::StatusOr<TripChange> DecodeTripChange(absl::string_view s);
absl::StatusOr<Alert> DecodeAlert(absl::string_view s);

}  // namespace smartbus::store_codec
