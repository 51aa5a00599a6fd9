// Text encoding of service changes (trip changes and alerts): see codec.h.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/store/codec.h"

namespace smartbus::store_codec {
namespace {

void AppendTexts(std::string* out, absl::string_view tag, const TranslatedText& t) {
  for (const Translation& x : t) {
    out->push_back('\n');
    out->append(tag.data(), tag.size());
    AppendFields(out, x.language, x.text);
  }
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

// Calls parse(n, fields) for each line n of a stored `what` (fields unescaped); fails naming the
// first line with a bad escape or that parse rejects.
template <typename Parse>
absl::Status ParseLines(absl::string_view s, absl::string_view what, Parse parse) {
  std::vector<std::string> f;
  size_t n = 0;
  for (absl::string_view line : absl::StrSplit(s, '\n')) {
    if (!Fields(line, &f) || !parse(n, f))
      return absl::DataLossError(absl::StrCat("stored ", what, ", line ", n + 1, ": \"",
                                              line.substr(0, 120), "\" is not valid"));
    ++n;
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeTripChange(const TripChange& t) {
  std::string out = "trip";
  AppendFields(&out, t.source, t.trip_id, t.service_date, int64_t{t.cancelled}, t.updated_s,
               t.reason);
  for (const SkippedStop& s : t.skipped) {
    out.append("\nskip");
    AppendFields(&out, s.stop_id, s.stop_sequence);
  }
  return out;
}

absl::StatusOr<TripChange> DecodeTripChange(absl::string_view s) {
  TripChange t;
  absl::Status status = ParseLines(s, "trip change", [&](size_t n, const auto& f) {
    int64_t cancelled = 0;
    if (n == 0) {
      if (f.size() != 7 || f[0] != "trip" || !ParseNumber(f[3], &t.service_date) ||
          !ParseNumber(f[4], &cancelled) || !ParseNumber(f[5], &t.updated_s))
        return false;
      t.source = f[1];
      t.trip_id = f[2];
      t.cancelled = cancelled != 0;
      t.reason = f[6];
      return true;
    }
    SkippedStop sk;
    if (f.size() != 3 || f[0] != "skip" || !ParseNumber(f[2], &sk.stop_sequence)) return false;
    sk.stop_id = f[1];
    t.skipped.push_back(std::move(sk));
    return true;
  });
  if (!status.ok()) return status;
  return t;
}

std::string EncodeAlert(const Alert& a) {
  std::string out = "alert";
  AppendFields(&out, a.source, a.id, a.cause, a.effect, a.severity, a.created_s);
  for (const ActivePeriod& p : a.active_periods) {
    out.append("\nperiod");
    AppendFields(&out, p.start_s, p.end_s);
  }
  for (const InformedEntity& e : a.informed) {
    out.append("\nentity");
    AppendFields(&out, e.agency_id, e.route_id, e.trip_id, e.stop_id);
  }
  AppendTexts(&out, "header", a.header);
  AppendTexts(&out, "description", a.description);
  AppendTexts(&out, "url", a.url);
  return out;
}

absl::StatusOr<Alert> DecodeAlert(absl::string_view s) {
  Alert a;
  absl::Status status = ParseLines(s, "alert", [&](size_t n, const auto& f) {
    if (f.empty()) return false;
    const std::string& tag = f[0];
    if (n == 0) {
      if (f.size() != 7 || tag != "alert" || !ParseNumber(f[3], &a.cause) ||
          !ParseNumber(f[4], &a.effect) || !ParseNumber(f[5], &a.severity) ||
          !ParseNumber(f[6], &a.created_s))
        return false;
      a.source = f[1];
      a.id = f[2];
    } else if (tag == "period" && f.size() == 3) {
      ActivePeriod p;
      if (!ParseNumber(f[1], &p.start_s) || !ParseNumber(f[2], &p.end_s)) return false;
      a.active_periods.push_back(p);
    } else if (tag == "entity" && f.size() == 5) {
      a.informed.push_back(InformedEntity{f[1], f[2], f[3], f[4]});
    } else if ((tag == "header" || tag == "description" || tag == "url") && f.size() == 3) {
      TranslatedText& t = tag == "header" ? a.header : tag == "url" ? a.url : a.description;
      t.push_back(Translation{f[1], f[2]});
    } else {
      return false;
    }
    return true;
  });
  if (!status.ok()) return status;
  return a;
}

}  // namespace smartbus::store_codec
