#include "services/store/codec.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace smartbus::store_codec {
namespace {

template <typename T>
void AppendChars(std::string* out, T v) {
  char buf[40];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

template <typename T>
bool ParseChars(absl::string_view s, T* v) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, *v);
  return r.ec == std::errc() && r.ptr == end;
}

template <typename T>
bool ParseFloating(absl::string_view s, T* v) {
  // from_chars does not accept a leading '+' and parses "nan"/"inf" (any case).
  return ParseChars(s, v);
}

}  // namespace

void AppendEscaped(std::string* out, absl::string_view s) {
  // Ids almost never hold a tab, newline or backslash: append runs without one whole.
  while (!s.empty()) {
    size_t k = 0;
    while (k < s.size() && s[k] != '\t' && s[k] != '\n' && s[k] != '\\') ++k;
    out->append(s.data(), k);
    if (k == s.size()) return;
    switch (s[k]) {
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      default: out->append("\\\\"); break;
    }
    s.remove_prefix(k + 1);
  }
}

bool Unescape(absl::string_view s, std::string* out) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out->push_back(s[i]);
      continue;
    }
    if (++i == s.size()) return false;
    switch (s[i]) {
      case 't': out->push_back('\t'); break;
      case 'n': out->push_back('\n'); break;
      case '\\': out->push_back('\\'); break;
      default: return false;
    }
  }
  return true;
}

void AppendNumber(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("nan");
    return;
  }
  AppendChars(out, v);
}
void AppendNumber(std::string* out, float v) {
  if (std::isnan(v)) {
    out->append("nan");
    return;
  }
  AppendChars(out, v);
}
void AppendNumber(std::string* out, int64_t v) { AppendChars(out, v); }

bool ParseNumber(absl::string_view s, double* v) { return ParseFloating(s, v); }
bool ParseNumber(absl::string_view s, float* v) { return ParseFloating(s, v); }
bool ParseNumber(absl::string_view s, int64_t* v) { return ParseChars(s, v); }
bool ParseNumber(absl::string_view s, int32_t* v) { return ParseChars(s, v); }
bool ParseNumber(absl::string_view s, uint32_t* v) { return ParseChars(s, v); }

bool ParseState(absl::string_view name, MatchState* s) {
  for (MatchState m : {MatchState::kInService, MatchState::kLayover, MatchState::kOffRoute,
                       MatchState::kUnassigned, MatchState::kRejected}) {
    if (MatchStateName(m) == name) {
      *s = m;
      return true;
    }
  }
  return false;
}

std::string EncodeStopVisit(const StopVisitRecord& r) {
  const StopVisit& v = r.visit;
  std::string out;
  out.reserve(128);
  AppendEscaped(&out, v.vehicle_id);
  AppendFields(&out, r.trip_id, r.route_id, r.stop_id, v.stop_index, v.stop_sequence,
               v.service_date, v.scheduled_arrival_s, v.scheduled_departure_s, v.arrival_s,
               v.departure_s, v.boardings, v.alightings, v.load, v.occupancy);
  return out;
}

absl::StatusOr<StopVisitRecord> DecodeStopVisit(absl::string_view s) {
  std::vector<absl::string_view> f = absl::StrSplit(s, '\t');
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("stored stop visit \"", s.substr(0, 200), "\": ", what));
  };
  if (f.size() != 15) return bad(absl::StrCat("has ", f.size(), " fields, expected 15"));
  StopVisitRecord r;
  StopVisit& v = r.visit;
  if (ParseFields(f, 0, &v.vehicle_id, &r.trip_id, &r.route_id, &r.stop_id) != 4)
    return bad("bad escape in an id");
  // Fields 4..14, named in the error.
  static constexpr const char* kNumbers[] = {
      "stop_index", "stop_sequence", "service_date", "scheduled_arrival_s",
      "scheduled_departure_s", "arrival_s", "departure_s", "boardings", "alightings", "load",
      "occupancy"};
  const size_t i = ParseFields(f, 4, &v.stop_index, &v.stop_sequence, &v.service_date,
                               &v.scheduled_arrival_s, &v.scheduled_departure_s, &v.arrival_s,
                               &v.departure_s, &v.boardings, &v.alightings, &v.load, &v.occupancy);
  if (i < f.size()) return bad(absl::StrCat("bad ", kNumbers[i - 4]));
  v.trip = kNoIndex;
  v.route = v.stop = kNoIndex;
  return r;
}

bool StopVisitLess(const StopVisitRecord& a, const StopVisitRecord& b) {
  return std::tie(a.visit.arrival_s, a.visit.vehicle_id, a.visit.stop_sequence, a.trip_id,
                  a.stop_id, a.visit.departure_s) <
         std::tie(b.visit.arrival_s, b.visit.vehicle_id, b.visit.stop_sequence, b.trip_id,
                  b.stop_id, b.visit.departure_s);
}

bool StopVisitMatches(const StopVisitRecord& v, const StopVisitQuery& q) {
  if (!q.route_id.empty() && v.route_id != q.route_id) return false;
  if (!q.stop_id.empty() && v.stop_id != q.stop_id) return false;
  return v.visit.arrival_s >= q.from_s && v.visit.arrival_s <= q.to_s;
}

namespace {
template <typename T>
void AppendOptional(std::string* out, T v, bool known) {
  out->push_back('\t');
  if (known) AppendNumber(out, v);
}
template <typename T>
bool ParseOptional(absl::string_view s, T* v, T unknown) {
  if (s.empty()) {
    *v = unknown;
    return true;
  }
  return ParseNumber(s, v);
}
}  // namespace

void AppendPositionData(std::string* out, const Fix& f) {
  AppendNumber(out, f.lat);
  out->push_back('\t');
  AppendNumber(out, f.lon);
  AppendOptional(out, f.bearing_deg, !std::isnan(f.bearing_deg));
  AppendOptional(out, f.speed_mps, !std::isnan(f.speed_mps));
  out->push_back('\t');
  AppendEscaped(out, f.trip_id);
  out->push_back('\t');
  AppendEscaped(out, f.route_id);
  AppendOptional(out, f.occupancy, f.occupancy >= 0);
  AppendOptional(out, f.boardings, f.boardings >= 0);
  AppendOptional(out, f.alightings, f.alightings >= 0);
  AppendOptional(out, f.load, f.load >= 0);
  AppendOptional(out, f.accuracy_m, !std::isnan(f.accuracy_m));
}

bool ParsePositionData(absl::string_view s, Fix* f) {
  absl::string_view p[11];
  size_t n = 0;
  for (absl::string_view part : absl::StrSplit(s, '\t')) {
    if (n == 11) return false;
    p[n++] = part;
  }
  if (n != 11) return false;
  return ParseNumber(p[0], &f->lat) && ParseNumber(p[1], &f->lon) &&
         ParseOptional(p[2], &f->bearing_deg, float(NAN)) &&
         ParseOptional(p[3], &f->speed_mps, float(NAN)) && Unescape(p[4], &f->trip_id) &&
         Unescape(p[5], &f->route_id) && ParseOptional(p[6], &f->occupancy, -1) &&
         ParseOptional(p[7], &f->boardings, -1) && ParseOptional(p[8], &f->alightings, -1) &&
         ParseOptional(p[9], &f->load, -1) && ParseOptional(p[10], &f->accuracy_m, float(NAN));
}

void AppendPositionLine(std::string* out, const Fix& f) {
  AppendNumber(out, f.timestamp_s);
  out->push_back('\t');
  AppendPositionData(out, f);
}

bool ParsePositionLines(absl::string_view s, absl::string_view vehicle_id,
                        std::vector<Fix>* out) {
  const size_t size_before = out->size();
  for (absl::string_view line : absl::StrSplit(s, '\n')) {
    const size_t tab = line.find('\t');
    Fix f;
    if (tab == absl::string_view::npos || !ParseNumber(line.substr(0, tab), &f.timestamp_s) ||
        !ParsePositionData(line.substr(tab + 1), &f)) {
      out->resize(size_before);
      return false;
    }
    f.vehicle_id = std::string(vehicle_id);
    out->push_back(std::move(f));
  }
  return true;
}

void SortAndDedupePositions(std::vector<Fix>* fixes) {
  std::stable_sort(fixes->begin(), fixes->end(), [](const Fix& a, const Fix& b) {
    return a.timestamp_s < b.timestamp_s;
  });
  auto last = std::unique(fixes->begin(), fixes->end(), [](const Fix& a, const Fix& b) {
    return a.timestamp_s == b.timestamp_s;
  });
  fixes->erase(last, fixes->end());
}

std::string EncodeConditionEvent(const ConditionEvent& e) {
  std::string out;
  AppendNumber(&out, e.time_s);
  out.push_back('\t');
  out.append(e.alarm);
  AppendFields(&out, int64_t{e.raised}, e.lat, e.lon, e.speed_mps);
  return out;
}

absl::StatusOr<ConditionEvent> DecodeConditionEvent(absl::string_view s,
                                                    absl::string_view vehicle_id) {
  std::vector<absl::string_view> f = absl::StrSplit(s, '\t');
  ConditionEvent e;
  e.vehicle_id = std::string(vehicle_id);
  if (f.size() != 6 || !ParseNumber(f[0], &e.time_s) || f[1].empty() ||
      (f[2] != "0" && f[2] != "1") || !ParseNumber(f[3], &e.lat) || !ParseNumber(f[4], &e.lon) ||
      !ParseNumber(f[5], &e.speed_mps))
    return absl::DataLossError(absl::StrCat("alarm event \"", s, "\": expected time, alarm, "
                                            "raised 0/1, lat, lon, speed"));
  e.alarm = std::string(f[1]);
  e.raised = f[2] == "1";
  return e;
}

std::string EncodeLearnedPath(const LearnedPath& p) {
  std::string out = "path1";
  AppendFields(&out, p.key, p.route_id, p.direction_id, p.traversals, p.coverage,
               p.longest_hole_m, int64_t{p.confident});
  out.push_back('\n');
  for (size_t i = 0; i < p.stop_ids.size(); ++i) {
    if (i) out.push_back('\t');
    AppendEscaped(&out, p.stop_ids[i]);
  }
  out.push_back('\n');
  for (size_t i = 0; i < p.bin_seen.size(); ++i) {
    if (i) out.push_back(' ');
    AppendNumber(&out, p.bin_seen[i]);
  }
  out.push_back('\n');
  for (size_t i = 0; i < p.samples.size(); ++i) {
    if (i) out.push_back(' ');
    AppendNumber(&out, p.samples[i].chord_m);
    out.push_back(',');
    AppendNumber(&out, p.samples[i].pos.lat);
    out.push_back(',');
    AppendNumber(&out, p.samples[i].pos.lon);
  }
  out.push_back('\n');
  for (size_t i = 0; i < p.points.size(); ++i) {
    if (i) out.push_back(' ');
    AppendNumber(&out, p.points[i].lat);
    out.push_back(',');
    AppendNumber(&out, p.points[i].lon);
  }
  return out;
}

absl::StatusOr<LearnedPath> DecodeLearnedPath(absl::string_view s, absl::string_view where) {
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(where, ": not a learned path (", what, ")"));
  };
  std::vector<absl::string_view> lines = absl::StrSplit(s, '\n');
  if (lines.size() != 5) return bad("expected 5 lines");
  std::vector<absl::string_view> head = absl::StrSplit(lines[0], '\t');
  LearnedPath p;
  int64_t confident = 0;
  if (head.size() != 8 || head[0] != "path1" ||
      ParseFields(head, 1, &p.key, &p.route_id, &p.direction_id, &p.traversals, &p.coverage,
                  &p.longest_hole_m, &confident) != 8)
    return bad("header");
  p.confident = confident != 0;
  if (!lines[1].empty()) {
    for (absl::string_view id : absl::StrSplit(lines[1], '\t')) {
      if (!Unescape(id, &p.stop_ids.emplace_back())) return bad("stop id");
    }
  }
  if (!lines[2].empty()) {
    for (absl::string_view n : absl::StrSplit(lines[2], ' ')) {
      if (!ParseNumber(n, &p.bin_seen.emplace_back())) return bad("bin count");
    }
  }
  if (!lines[3].empty()) {
    for (absl::string_view t : absl::StrSplit(lines[3], ' ')) {
      std::vector<absl::string_view> f = absl::StrSplit(t, ',');
      PathSample& x = p.samples.emplace_back();
      if (f.size() != 3 || !ParseNumber(f[0], &x.chord_m) || !ParseNumber(f[1], &x.pos.lat) ||
          !ParseNumber(f[2], &x.pos.lon))
        return bad("sample");
    }
  }
  if (!lines[4].empty()) {
    for (absl::string_view t : absl::StrSplit(lines[4], ' ')) {
      std::vector<absl::string_view> f = absl::StrSplit(t, ',');
      LatLon& x = p.points.emplace_back();
      if (f.size() != 2 || !ParseNumber(f[0], &x.lat) || !ParseNumber(f[1], &x.lon))
        return bad("point");
    }
  }
  return p;
}

}  // namespace smartbus::store_codec
