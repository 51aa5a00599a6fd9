#include "services/core/analytics/visits_csv.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace smartbus {
namespace {

// Splits one CSV record (RFC 4180 quotes allowed; no embedded newlines).
void SplitCsv(absl::string_view line, std::vector<std::string>& out) {
  out.clear();
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(std::move(cur));
}

}  // namespace

absl::StatusOr<std::vector<StopVisit>> ParseStopVisitsCsv(absl::string_view text,
                                                         absl::string_view name,
                                                         const GtfsFeed& feed,
                                                         VisitsCsvStats* stats) {
  VisitsCsvStats local;
  VisitsCsvStats& st = stats ? *stats : local;
  std::vector<StopVisit> out;
  std::vector<std::string> f;
  int line_no = 0;
  enum Col {
    kVehicle, kTrip, kRoute, kStop, kSeq, kDate, kSchedArr, kSchedDep, kArr, kDep,
    kBoard, kAlight, kLoad, kOcc, kNumCols
  };
  static const char* kNames[kNumCols] = {
      "vehicle_id", "trip_id", "route_id", "stop_id", "stop_sequence", "service_date",
      "scheduled_arrival", "scheduled_departure", "arrival", "departure",
      "boardings", "alightings", "load", "occupancy"};
  int col[kNumCols];
  std::fill(col, col + kNumCols, -1);
  bool header = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (header) {
      if (line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
      SplitCsv(line, f);
      for (size_t i = 0; i < f.size(); ++i) {
        for (int c = 0; c < kNumCols; ++c) {
          if (f[i] == kNames[c]) col[c] = static_cast<int>(i);
        }
      }
      for (int c = 0; c <= kDep; ++c) {
        if (col[c] < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ":1: Stop visits CSV has no column '", kNames[c], "'"));
        }
      }
      header = false;
      continue;
    }
    SplitCsv(line, f);
    ++st.rows;
    auto field = [&](int c) -> absl::string_view {
      return col[c] >= 0 && static_cast<size_t>(col[c]) < f.size() ? absl::string_view(f[col[c]])
                                                                     : absl::string_view();
    };
    auto bad = [&](int c) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": column ", kNames[c],
                                                     ": bad value '", field(c), "'"));
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
      if (r == feed.route_index.end() || r->second != trip.route) ++st.warnings["route_id_mismatch"];
    }
    out.push_back(std::move(v));
    ++st.visits;
  }
  if (header) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": empty Stop visits CSV (no header)"));
  }
  return out;
}

absl::StatusOr<std::vector<StopVisit>> ReadStopVisitsCsv(const std::string& path,
                                                        const GtfsFeed& feed,
                                                        VisitsCsvStats* stats) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the Stop visits CSV"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseStopVisitsCsv(ss.str(), path, feed, stats);
}

}  // namespace smartbus
