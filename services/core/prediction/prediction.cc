#include "services/core/prediction/prediction.h"

#include "absl/strings/str_cat.h"
#include "services/core/common/csv.h"

namespace smartbus {

absl::string_view PredictionSourceName(PredictionSource s) {
  switch (s) {
    case PredictionSource::kSchedule: return "schedule";
    case PredictionSource::kHistory: return "history";
    case PredictionSource::kLive: return "live";
    case PredictionSource::kOba: return "oba";
  }
  return "unknown";
}

namespace {

void AppendTime(int64_t t, std::string* out) {
  if (t != kNoTime) absl::StrAppend(out, t);
}

}  // namespace

void AppendPredictionCsvRow(const Network& network, const Prediction& p, std::string* out) {
  const GtfsFeed& feed = network.feed();
  absl::StrAppend(out, p.made_at_s, ",");
  AppendCsvField(p.vehicle_id, out);
  out->push_back(',');
  if (p.trip < feed.trips.size()) AppendCsvField(feed.trips[p.trip].id, out);
  out->push_back(',');
  if (p.stop < feed.stops.size()) AppendCsvField(feed.stops[p.stop].id, out);
  absl::StrAppend(out, ",", p.stop_sequence, ",", p.predicted_arrival_s, ",");
  AppendTime(p.p10_s, out);
  out->push_back(',');
  AppendTime(p.p90_s, out);
  absl::StrAppend(out, ",", PredictionSourceName(p.source), ",");
  AppendTime(p.predicted_departure_s, out);
  out->push_back('\n');
}

}  // namespace smartbus
