// Text encoding of service changes (trip changes and alerts): see codec.h.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/store/codec.h"

namespace smartbus::store_codec {
namespace {

void Field(std::string* out, absl::string_view s) {
  out->push_back('\t');
  AppendEscaped(out, s);
}
void Field(std::string* out, int64_t v) {
  out->push_back('\t');
  AppendNumber(out, v);
}

void AppendTexts(std::string* out, absl::string_view tag, const TranslatedText& t) {
  for (const Translation& x : t) {
    out->push_back('\n');
    out->append(tag.data(), tag.size());
    Field(out, x.language);
    Field(out, x.text);
  }
}

absl::Status Bad(absl::string_view what, size_t line, absl::string_view text) {
  return absl::DataLossError(absl::StrCat("stored ", what, ", line ", line + 1, ": \"",
                                          text.substr(0, 120), "\" is not valid"));
}

// Splits one line into unescaped fields; false on a bad escape.
bool Fields(absl::string_view line, std::vector<std::string>* out) {
  out->clear();
  for (absl::string_view f : absl::StrSplit(line, '\t')) {
    out->emplace_back();
    if (!Unescape(f, &out->back())) return false;
  }
  return true;
}

}  // namespace

std::string EncodeTripChange(const TripChange& t) {
  std::string out = "trip";
  Field(&out, t.source);
  Field(&out, t.trip_id);
  Field(&out, int64_t{t.service_date});
  Field(&out, int64_t{t.cancelled ? 1 : 0});
  Field(&out, t.updated_s);
  Field(&out, t.reason);
  for (const SkippedStop& s : t.skipped) {
    out.append("\nskip");
    Field(&out, s.stop_id);
    Field(&out, int64_t{s.stop_sequence});
  }
  return out;
}

absl::StatusOr<TripChange> DecodeTripChange(absl::string_view s) {
  TripChange t;
  std::vector<std::string> f;
  size_t n = 0;
  for (absl::string_view line : absl::StrSplit(s, '\n')) {
    if (!Fields(line, &f)) return Bad("trip change", n, line);
    int64_t cancelled = 0;
    if (n == 0) {
      if (f.size() != 7 || f[0] != "trip" || !ParseNumber(f[3], &t.service_date) ||
          !ParseNumber(f[4], &cancelled) || !ParseNumber(f[5], &t.updated_s))
        return Bad("trip change", n, line);
      t.source = f[1];
      t.trip_id = f[2];
      t.cancelled = cancelled != 0;
      t.reason = f[6];
    } else {
      SkippedStop sk;
      if (f.size() != 3 || f[0] != "skip" || !ParseNumber(f[2], &sk.stop_sequence))
        return Bad("trip change", n, line);
      sk.stop_id = f[1];
      t.skipped.push_back(std::move(sk));
    }
    ++n;
  }
  return t;
}

std::string EncodeAlert(const Alert& a) {
  std::string out = "alert";
  Field(&out, a.source);
  Field(&out, a.id);
  Field(&out, int64_t{a.cause});
  Field(&out, int64_t{a.effect});
  Field(&out, int64_t{a.severity});
  Field(&out, a.created_s);
  for (const ActivePeriod& p : a.active_periods) {
    out.append("\nperiod");
    Field(&out, p.start_s);
    Field(&out, p.end_s);
  }
  for (const InformedEntity& e : a.informed) {
    out.append("\nentity");
    Field(&out, e.agency_id);
    Field(&out, e.route_id);
    Field(&out, e.trip_id);
    Field(&out, e.stop_id);
  }
  AppendTexts(&out, "header", a.header);
  AppendTexts(&out, "description", a.description);
  AppendTexts(&out, "url", a.url);
  return out;
}

absl::StatusOr<Alert> DecodeAlert(absl::string_view s) {
  Alert a;
  std::vector<std::string> f;
  size_t n = 0;
  for (absl::string_view line : absl::StrSplit(s, '\n')) {
    if (!Fields(line, &f) || f.empty()) return Bad("alert", n, line);
    const std::string& tag = f[0];
    if (n == 0) {
      if (f.size() != 7 || tag != "alert" || !ParseNumber(f[3], &a.cause) ||
          !ParseNumber(f[4], &a.effect) || !ParseNumber(f[5], &a.severity) ||
          !ParseNumber(f[6], &a.created_s))
        return Bad("alert", n, line);
      a.source = f[1];
      a.id = f[2];
    } else if (tag == "period" && f.size() == 3) {
      ActivePeriod p;
      if (!ParseNumber(f[1], &p.start_s) || !ParseNumber(f[2], &p.end_s))
        return Bad("alert", n, line);
      a.active_periods.push_back(p);
    } else if (tag == "entity" && f.size() == 5) {
      a.informed.push_back(InformedEntity{f[1], f[2], f[3], f[4]});
    } else if ((tag == "header" || tag == "description" || tag == "url") && f.size() == 3) {
      TranslatedText& t = tag == "header" ? a.header : tag == "url" ? a.url : a.description;
      t.push_back(Translation{f[1], f[2]});
    } else {
      return Bad("alert", n, line);
    }
    ++n;
  }
  return a;
}

}  // namespace smartbus::store_codec
