#include "services/core/tracking/csv_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/core/common/csv.h"
#include "services/core/common/status_macros.h"

namespace smartbus {
namespace {

enum Col : int {
  kVehicleId,
  kTimestamp,
  kLat,
  kLon,
  kBearing,
  kSpeed,
  kTripId,
  kRouteId,
  kOccupancy,
  kBoardings,
  kAlightings,
  kLoad,
  kAccuracy,
  kNumCols
};
constexpr const char* kColNames[kNumCols] = {
    "vehicle_id", "timestamp", "lat",       "lon",        "bearing", "speed",   "trip_id",
    "route_id",   "occupancy", "boardings", "alightings", "load",    "accuracy"};

absl::string_view Trim(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsNanText(absl::string_view s) {
  return s == "NA" || s == "nan" || s == "NaN" || s == "NAN";
}

// Parses a double; empty or NA/nan -> NaN (returns true). False when not a number.
bool ParseOptDouble(absl::string_view s, double* v) {
  s = Trim(s);
  if (s.empty() || IsNanText(s)) {
    *v = NAN;
    return true;
  }
  if (s.front() == '+') s.remove_prefix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), *v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool ParseOptInt(absl::string_view s, int32_t* v) {
  double d;
  if (!ParseOptDouble(s, &d)) return false;
  if (std::isnan(d)) {
    *v = -1;
    return true;
  }
  if (d != std::floor(d) || d < -1e9 || d > 1e9) return false;
  *v = static_cast<int32_t>(d);
  return true;
}

// The id of items[i], or "" when i is not an index of `items`.
template <typename T, typename Index>
absl::string_view IdAt(const std::vector<T>& items, Index i) {
  return i < items.size() ? absl::string_view(items[i].id) : absl::string_view();
}

}  // namespace

namespace {

// Parses a Positions CSV held in `data` (modified in place by the reader).
absl::Status ParsePositionsBuffer(char* data, size_t size, const PositionsReadOptions& options,
                                  std::vector<Fix>* out, PositionsReadStats* stats) {
  PositionsReadStats local;
  PositionsReadStats& st = stats ? *stats : local;
  const std::string& src = options.source_name;
  CsvReader csv(data, size);
  if (csv.num_columns() == 0)
    return absl::InvalidArgumentError(absl::StrCat(src, ": empty file (no header)"));
  // The record's text as it was read (fields joined by commas), for messages.
  auto record_text = [&csv]() {
    std::string text;
    for (size_t i = 0; i < csv.num_fields(); ++i) {
      if (i > 0) text.push_back(',');
      absl::string_view f = csv.Field(static_cast<int>(i));
      text.append(f.data(), f.size());
    }
    return text;
  };
  int col[kNumCols];
  for (int c = 0; c < kNumCols; ++c) col[c] = csv.Column(kColNames[c]);
  for (int c : {kVehicleId, kTimestamp, kLat, kLon}) {
    if (col[c] < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          src, " line ", csv.line(), ": header has no column '", kColNames[c],
          "' (required: vehicle_id,timestamp,lat,lon; found: ", Abbreviate(Trim(record_text()), 200), ")"));
  }
  const size_t num_fields = csv.num_columns();

  auto bad = [&](absl::string_view what) -> absl::Status {
    std::string msg = absl::StrCat(src, " line ", csv.line(), ": ", what);
    if (!options.skip_bad_rows) return absl::InvalidArgumentError(msg);
    ++st.skipped_rows;
    if (st.first_error.empty()) st.first_error = msg;
    return absl::OkStatus();
  };
  auto bad_value = [&](int c, absl::string_view value, absl::string_view expect) {
    return bad(absl::StrCat("column ", kColNames[c], ": '", Abbreviate(value), "' is not ", expect));
  };

  while (csv.Next()) {
    ++st.rows;
    if (csv.num_fields() < num_fields) {
      SB_RETURN_IF_ERROR(bad(absl::StrCat("has ", csv.num_fields(), " fields, the header has ",
                                          num_fields, ": '", Abbreviate(record_text()), "'")));
      continue;
    }
    auto field = [&](int c) { return csv.Field(col[c]); };
    Fix f;
    double ts;
    absl::string_view ts_text = Trim(field(kTimestamp));
    if (!ParseOptDouble(ts_text, &ts) || !std::isfinite(ts)) {
      SB_RETURN_IF_ERROR(bad_value(kTimestamp, ts_text, "an epoch time in seconds"));
      continue;
    }
    if (!(ts >= static_cast<double>(kMinPlausibleFixTime) &&
          ts < static_cast<double>(kMaxPlausibleFixTime))) {  // before llround can overflow
      absl::Status s = bad_value(kTimestamp, ts_text,
                                 "an epoch time in seconds between 2000-01-01 and 2100-01-01");
      if (!s.ok()) return s;
      continue;
    }
    f.timestamp_s = static_cast<int64_t>(std::llround(ts));
    // The numeric columns in order; the first that does not parse makes the row bad.
    bool ok = true;
    absl::Status s;
    auto number = [&](int c, auto* out) {
      if (!ok) return;
      if constexpr (std::is_same_v<decltype(out), int32_t*>) {
        ok = ParseOptInt(field(c), out);
        if (!ok) s = bad_value(c, field(c), "an integer");
      } else {
        double v;
        ok = ParseOptDouble(field(c), &v);
        if (ok) *out = static_cast<std::remove_pointer_t<decltype(out)>>(v);
        else s = bad_value(c, field(c), "a number");
      }
    };
    number(kLat, &f.lat);
    number(kLon, &f.lon);
    number(kBearing, &f.bearing_deg);
    number(kSpeed, &f.speed_mps);
    number(kAccuracy, &f.accuracy_m);
    number(kOccupancy, &f.occupancy);
    number(kBoardings, &f.boardings);
    number(kAlightings, &f.alightings);
    number(kLoad, &f.load);
    if (!ok) {
      if (!s.ok()) return s;
      continue;
    }
    absl::string_view vid = Trim(field(kVehicleId));
    f.vehicle_id.assign(vid.data(), vid.size());
    absl::string_view tid = Trim(field(kTripId));
    f.trip_id.assign(tid.data(), tid.size());
    absl::string_view rid = Trim(field(kRouteId));
    f.route_id.assign(rid.data(), rid.size());
    out->push_back(std::move(f));
    ++st.fixes;
  }
  if (csv.unclosed_quote_line() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        src, " line ", csv.unclosed_quote_line(),
        ": a quoted field opens and is never closed (unbalanced '\"'); not read past it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParsePositionsCsv(absl::string_view content, const PositionsReadOptions& options,
                               std::vector<Fix>* out, PositionsReadStats* stats) {
  std::string buffer(content.data(), content.size());  // the reader unescapes in place
  return ParsePositionsBuffer(buffer.data(), buffer.size(), options, out, stats);
}

absl::Status ParsePositionsCsvInPlace(std::string* content, const PositionsReadOptions& options,
                                      std::vector<Fix>* out, PositionsReadStats* stats) {
  return ParsePositionsBuffer(content->data(), content->size(), options, out, stats);
}

namespace {

// Parses a Stop visits CSV held in `data` (modified in place by the reader).
absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsBuffer(char* data, size_t size,
                                                            absl::string_view name,
                                                            const GtfsFeed& feed,
                                                            VisitsCsvStats* stats) {
  VisitsCsvStats local;
  VisitsCsvStats& st = stats ? *stats : local;
  std::vector<StopVisit> out;
  enum VisitCol {
    kVehicle, kTrip, kRoute, kStop, kSeq, kDate, kSchedArr, kSchedDep, kArr, kDep,
    kBoard, kAlight, kLoad, kOcc, kNumVisitCols
  };
  static const char* kNames[kNumVisitCols] = {
      "vehicle_id", "trip_id", "route_id", "stop_id", "stop_sequence", "service_date",
      "scheduled_arrival", "scheduled_departure", "arrival", "departure",
      "boardings", "alightings", "load", "occupancy"};
  CsvReader csv(data, size);
  if (csv.num_columns() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": empty Stop visits CSV (no header)"));
  }
  int col[kNumVisitCols];
  for (int c = 0; c < kNumVisitCols; ++c) col[c] = csv.Column(kNames[c]);
  for (int c = 0; c <= kDep; ++c) {
    if (col[c] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ":", csv.line(), ": Stop visits CSV has no column '", kNames[c], "'"));
    }
  }
  while (csv.Next()) {
    ++st.rows;
    auto field = [&](int c) { return csv.Field(col[c]); };
    auto bad = [&](int c) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", csv.line(), ": column ",
                                                     kNames[c], ": bad value '", Abbreviate(field(c)), "'"));
    };
    StopVisit v;
    v.vehicle_id = std::string(field(kVehicle));
    int64_t i64 = 0;
    uint32_t seq = 0;
    if (!absl::SimpleAtoi(field(kSeq), &seq)) return bad(kSeq);
    v.stop_sequence = seq;
    if (!absl::SimpleAtoi(field(kDate), &v.service_date)) return bad(kDate);
    if (!absl::SimpleAtoi(field(kSchedArr), &i64)) {
      double d;
      if (!absl::SimpleAtod(field(kSchedArr), &d)) return bad(kSchedArr);
      i64 = static_cast<int64_t>(std::llround(d));
    }
    v.scheduled_arrival_s = i64;
    if (!absl::SimpleAtoi(field(kSchedDep), &i64)) {
      double d;
      if (!absl::SimpleAtod(field(kSchedDep), &d)) return bad(kSchedDep);
      i64 = static_cast<int64_t>(std::llround(d));
    }
    v.scheduled_departure_s = i64;
    if (!absl::SimpleAtod(field(kArr), &v.arrival_s)) return bad(kArr);
    if (field(kDep).empty()) {
      v.departure_s = v.arrival_s;
    } else if (!absl::SimpleAtod(field(kDep), &v.departure_s)) {
      return bad(kDep);
    }
    int32_t* opt[4] = {&v.boardings, &v.alightings, &v.load, &v.occupancy};
    for (int c = kBoard; c <= kOcc; ++c) {
      absl::string_view s = field(c);
      if (s.empty()) continue;
      if (!absl::SimpleAtoi(s, opt[c - kBoard])) return bad(c);
    }

    auto trip_it = feed.trip_index.find(std::string(field(kTrip)));
    if (trip_it == feed.trip_index.end()) {
      ++st.warnings["unknown_trip"];
      continue;
    }
    v.trip = trip_it->second;
    const GtfsTrip& trip = feed.trips[v.trip];
    auto first = feed.stop_times.begin() + trip.first_stop_time;
    auto last = first + trip.num_stop_times;
    auto it = std::lower_bound(first, last, seq, [](const GtfsStopTime& x, uint32_t s) {
      return x.stop_sequence < s;
    });
    if (it == last || it->stop_sequence != seq) {
      ++st.warnings["unknown_stop_sequence"];
      continue;
    }
    v.stop_index = static_cast<uint32_t>(it - first);
    v.stop = it->stop;
    auto stop_it = feed.stop_index.find(std::string(field(kStop)));
    if (stop_it == feed.stop_index.end() || stop_it->second != v.stop) {
      ++st.warnings["stop_id_mismatch"];
      continue;
    }
    v.route = trip.route;
    if (!field(kRoute).empty()) {
      auto r = feed.route_index.find(std::string(field(kRoute)));
      if (r == feed.route_index.end() || r->second != trip.route) {
        ++st.warnings["route_id_mismatch"];
      }
    }
    out.push_back(std::move(v));
    ++st.visits;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsCsv(absl::string_view text,
                                                         absl::string_view name,
                                                         const GtfsFeed& feed,
                                                         VisitsCsvStats* stats) {
  std::string buffer(text.data(), text.size());  // the reader unescapes in place
  return ParseStopVisitsBuffer(buffer.data(), buffer.size(), name, feed, stats);
}

absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsCsvInPlace(std::string* text,
                                                                absl::string_view name,
                                                                const GtfsFeed& feed,
                                                                VisitsCsvStats* stats) {
  return ParseStopVisitsBuffer(text->data(), text->size(), name, feed, stats);
}

absl::string_view MatchesCsvHeader() {
  return "vehicle_id,timestamp,trip_id,dist_along_m,offset_m,state,reason\n";
}

absl::string_view StopVisitsCsvHeader() {
  return "vehicle_id,trip_id,route_id,stop_id,stop_sequence,service_date,scheduled_arrival,"
         "scheduled_departure,arrival,departure,boardings,alightings,load,occupancy\n";
}

void AppendMatchRow(const MatchResult& m, const GtfsFeed& feed, std::string* out) {
  CsvRow(out)
      .Text(m.vehicle_id)
      .Int(m.timestamp_s)
      .Text(IdAt(feed.trips, m.trip))
      .OptFixed(m.dist_along_m, 1)
      .OptFixed(m.offset_m, 1)
      .Text(MatchStateName(m.state))
      .Text(RejectReasonName(m.reason))
      .End();
}

void AppendStopVisitRow(const StopVisit& v, const GtfsFeed& feed, std::string* out) {
  CsvRow(out)
      .Text(v.vehicle_id)
      .Text(IdAt(feed.trips, v.trip))
      .Text(IdAt(feed.routes, v.route))
      .Text(IdAt(feed.stops, v.stop))
      .Int(v.stop_sequence)
      .Int(v.service_date)
      .Int(v.scheduled_arrival_s)
      .Int(v.scheduled_departure_s)
      .Int(std::llround(v.arrival_s))
      .Int(std::llround(v.departure_s))
      .OptInt(v.boardings)
      .OptInt(v.alightings)
      .OptInt(v.load)
      .OptInt(v.occupancy)
      .End();
}

}  // namespace smartbus
