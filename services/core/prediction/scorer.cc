#include "services/core/prediction/scorer.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace smartbus {
namespace {

struct Bucket {
  double lo_min, hi_min;
  const char* label;
};
constexpr Bucket kBuckets[kAccuracyBuckets] = {{0, 3, "0-3"},     {3, 6, "3-6"},
                                               {6, 10, "6-10"},   {10, 15, "10-15"},
                                               {15, 20, "15-20"}, {20, 30, "20-30"}};
struct Window {
  double upper_min, lo_s, hi_s;
  const char* label;
};
constexpr Window kMbta[kAccuracyWindows] = {
    {3, -60, 60, "0-3"}, {6, -90, 120, "3-6"}, {12, -150, 210, "6-12"}, {30, -240, 360, "12-30"}};
constexpr Window kTransit[kAccuracyWindows] = {{3, -30, 90, "0-3"}, {6, -60, 150, "3-6"},
                                               {10, -60, 210, "6-10"}, {15, -90, 270, "10-15"}};

// Index of the window row covering `minutes`, -1 if none.
int WindowIndex(const Window (&table)[kAccuracyWindows], double minutes, bool closed_last) {
  for (int i = 0; i < kAccuracyWindows; ++i) {
    if (minutes < table[i].upper_min ||
        (closed_last && i == kAccuracyWindows - 1 && minutes == table[i].upper_min)) {
      return i;
    }
  }
  return -1;
}

double Pct(int64_t ok, int64_t n) { return n ? 100.0 * ok / n : NAN; }

// The median of the errors (NaN when none): the one figure sums cannot give.
double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return (v.size() % 2) ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

const char* AccuracyBucketLabel(int b) { return kBuckets[b].label; }
const char* MbtaWindowLabel(int i) { return kMbta[i].label; }
const char* TransitWindowLabel(int i) { return kTransit[i].label; }

ScoredPrediction ScorePrediction(int64_t made_at_s, int64_t predicted_s, int64_t p10_s,
                                 int64_t p90_s, double t_obs) {
  ScoredPrediction s;
  const double made = static_cast<double>(made_at_s);
  if (made >= t_obs) {
    s.outcome = ScoredPrediction::kAfterArrival;
    return s;
  }
  const double horizon = t_obs - made;
  s.covers = horizon >= 60 && horizon <= 1800;
  if (horizon >= 1800) {
    s.outcome = ScoredPrediction::kBeyond30Min;
    return s;
  }
  s.err_s = t_obs - static_cast<double>(predicted_s);
  const double h_min = horizon / 60.0;
  const double pred_h_min = std::max(0.0, static_cast<double>(predicted_s) - made) / 60.0;
  s.mbta = static_cast<int8_t>(WindowIndex(kMbta, pred_h_min, /*closed_last=*/true));
  s.mbta_ok = s.mbta >= 0 && s.err_s >= kMbta[s.mbta].lo_s && s.err_s <= kMbta[s.mbta].hi_s;
  s.transit = static_cast<int8_t>(WindowIndex(kTransit, h_min, /*closed_last=*/false));
  s.transit_ok = s.transit >= 0 && s.err_s >= kTransit[s.transit].lo_s &&
                 s.err_s <= kTransit[s.transit].hi_s;
  s.has_interval = p10_s != kNoTime && p90_s != kNoTime;
  s.interval_ok = s.has_interval && static_cast<double>(p10_s) <= t_obs &&
                  t_obs <= static_cast<double>(p90_s);
  int b = 0;
  while (b < kAccuracyBuckets - 1 && h_min >= kBuckets[b].hi_min) ++b;
  s.bucket = static_cast<int8_t>(b);
  return s;
}

void AccuracySums::Add(const ScoredPrediction& s, int sign) {
  n += sign;
  sum_s += sign * s.err_s;
  sum_abs_s += sign * std::fabs(s.err_s);
  sum_sq_s2 += sign * s.err_s * s.err_s;
  if (s.mbta >= 0) {
    mbta_n += sign;
    mbta_ok += sign * s.mbta_ok;
  }
  if (s.transit >= 0) {
    transit_n += sign;
    transit_ok += sign * s.transit_ok;
  }
  if (s.has_interval) {
    interval_n += sign;
    interval_ok += sign * s.interval_ok;
  }
}

AccuracySums& AccuracySums::operator+=(const AccuracySums& o) {
  n += o.n;
  sum_s += o.sum_s;
  sum_abs_s += o.sum_abs_s;
  sum_sq_s2 += o.sum_sq_s2;
  mbta_n += o.mbta_n;
  mbta_ok += o.mbta_ok;
  transit_n += o.transit_n;
  transit_ok += o.transit_ok;
  interval_n += o.interval_n;
  interval_ok += o.interval_ok;
  return *this;
}

AccuracyGroup AccuracySums::Group(const std::string& label) const {
  AccuracyGroup g;
  g.label = label;
  g.n = n;
  if (n > 0) {
    g.mae_s = sum_abs_s / n;
    g.rmse_s = std::sqrt(std::max(0.0, sum_sq_s2) / n);
    g.bias_s = sum_s / n;
  }
  g.mbta_n = mbta_n;
  g.mbta_pct = Pct(mbta_ok, mbta_n);
  g.transit_n = transit_n;
  g.transit_pct = Pct(transit_ok, transit_n);
  g.interval_n = interval_n;
  g.p10_p90_pct = Pct(interval_ok, interval_n);
  return g;
}

void AccuracyTally::Add(const ScoredPrediction& s, PredictionSource source, int sign) {
  if (s.outcome == ScoredPrediction::kAfterArrival) {
    after_arrival += sign;
    return;
  }
  if (s.outcome == ScoredPrediction::kBeyond30Min) {
    beyond_30min += sign;
    return;
  }
  scored += sign;
  buckets[s.bucket].Add(s, sign);
  overall.Add(s, sign);
  by_source[static_cast<int>(source)].Add(s, sign);
  if (s.mbta >= 0) {
    mbta_n[s.mbta] += sign;
    mbta_ok[s.mbta] += sign * s.mbta_ok;
  }
  if (s.transit >= 0) {
    transit_n[s.transit] += sign;
    transit_ok[s.transit] += sign * s.transit_ok;
  }
}

AccuracyTally& AccuracyTally::operator+=(const AccuracyTally& o) {
  rows += o.rows;
  scored += o.scored;
  unobserved += o.unobserved;
  after_arrival += o.after_arrival;
  beyond_30min += o.beyond_30min;
  for (int b = 0; b < kAccuracyBuckets; ++b) buckets[b] += o.buckets[b];
  overall += o.overall;
  for (int s = 0; s < kNumPredictionSources; ++s) by_source[s] += o.by_source[s];
  for (int i = 0; i < kAccuracyWindows; ++i) {
    mbta_n[i] += o.mbta_n[i];
    mbta_ok[i] += o.mbta_ok[i];
    transit_n[i] += o.transit_n[i];
    transit_ok[i] += o.transit_ok[i];
  }
  observed_arrivals += o.observed_arrivals;
  arrivals_with_prediction_1_30min += o.arrivals_with_prediction_1_30min;
  return *this;
}

AccuracyReport AccuracyTally::Report() const {
  AccuracyReport r;
  r.rows = rows;
  r.scored = scored;
  r.unobserved = unobserved;
  r.after_arrival = after_arrival;
  r.beyond_30min = beyond_30min;
  for (int b = 0; b < kAccuracyBuckets; ++b) r.buckets.push_back(buckets[b].Group(kBuckets[b].label));
  r.overall = overall.Group("0-30");
  for (int s = 0; s < kNumPredictionSources; ++s) {
    if (by_source[s].n == 0) continue;
    std::string name(PredictionSourceName(static_cast<PredictionSource>(s)));
    r.by_source[name] = by_source[s].Group(name);
  }
  int64_t m_ok_all = 0;
  double ta_sum = 0;
  bool ta_all = true;
  for (int i = 0; i < kAccuracyWindows; ++i) {
    AccuracyGroup& g = r.mbta_by_predicted_horizon[i];
    g.label = kMbta[i].label;
    g.mbta_n = g.n = mbta_n[i];
    g.mbta_pct = Pct(mbta_ok[i], mbta_n[i]);
    r.mbta_n += mbta_n[i];
    m_ok_all += mbta_ok[i];
    AccuracyGroup& t = r.transit_by_observed_horizon[i];
    t.label = kTransit[i].label;
    t.transit_n = t.n = transit_n[i];
    t.transit_pct = Pct(transit_ok[i], transit_n[i]);
    if (transit_n[i]) ta_sum += t.transit_pct; else ta_all = false;
  }
  r.mbta_pooled_pct = Pct(m_ok_all, r.mbta_n);
  r.transit_score_pct = ta_all ? ta_sum / kAccuracyWindows : NAN;
  r.observed_arrivals = observed_arrivals;
  r.arrivals_with_prediction_1_30min = arrivals_with_prediction_1_30min;
  r.coverage_pct = Pct(arrivals_with_prediction_1_30min, observed_arrivals);
  return r;
}

void AccuracyScorer::AddObserved(const StopVisit& v) {
  AddObserved(v.trip, v.service_date, v.stop_index, v.arrival_s);
}

void AccuracyScorer::AddObserved(uint32_t trip, int32_t service_date, uint32_t stop_index,
                                 double arrival_s) {
  if (stop_index == 0) return;  // a trip's first stop is not scored (buses wait there)
  Key key{trip, service_date, stop_index};
  auto [it, inserted] = observed_.try_emplace(key, Obs{arrival_s, false});
  if (!inserted) it->second.ambiguous = true;
}

void AccuracyScorer::AddPrediction(const Prediction& p) {
  preds_.push_back(Stored{Key{p.trip, p.service_date, p.stop_index}, p.made_at_s,
                          p.predicted_arrival_s, p.p10_s, p.p90_s, p.source});
}

AccuracyReport AccuracyScorer::Compute() const {
  AccuracyTally t;
  std::vector<double> buckets[kAccuracyBuckets], overall, by_source[kNumPredictionSources];
  absl::flat_hash_set<Key> covered;
  for (const Stored& p : preds_) {
    ++t.rows;
    auto it = observed_.find(p.key);
    if (it == observed_.end() || it->second.ambiguous) {
      ++t.unobserved;
      continue;
    }
    const ScoredPrediction s =
        ScorePrediction(p.made_at_s, p.predicted_s, p.p10_s, p.p90_s, it->second.arrival_s);
    if (s.covers) covered.insert(p.key);
    t.Add(s, p.source);
    if (s.outcome != ScoredPrediction::kScored) continue;
    buckets[s.bucket].push_back(s.err_s);
    overall.push_back(s.err_s);
    by_source[static_cast<int>(p.source)].push_back(s.err_s);
  }
  for (const auto& [key, obs] : observed_) t.observed_arrivals += !obs.ambiguous;
  t.arrivals_with_prediction_1_30min = static_cast<int64_t>(covered.size());
  AccuracyReport r = t.Report();
  for (int b = 0; b < kAccuracyBuckets; ++b) r.buckets[b].median_s = Median(std::move(buckets[b]));
  r.overall.median_s = Median(std::move(overall));
  for (int s = 0; s < kNumPredictionSources; ++s) {
    if (by_source[s].empty()) continue;
    r.by_source[std::string(PredictionSourceName(static_cast<PredictionSource>(s)))].median_s =
        Median(std::move(by_source[s]));
  }
  return r;
}

namespace {

nlohmann::json Num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json GroupJson(const AccuracyGroup& g) {
  return nlohmann::json{{"bucket", g.label},         {"n", g.n},
                        {"mae", Num(g.mae_s)},       {"rmse", Num(g.rmse_s)},
                        {"mean_error", Num(g.bias_s)}, {"median_error", Num(g.median_s)},
                        {"mbta_n", g.mbta_n},        {"mbta_pct", Num(g.mbta_pct)},
                        {"transitapp_n", g.transit_n}, {"transitapp_pct", Num(g.transit_pct)},
                        {"p10_p90_n", g.interval_n}, {"p10_p90_pct", Num(g.p10_p90_pct)}};
}

}  // namespace

std::string AccuracyReportJson(const AccuracyReport& r) {
  nlohmann::json j;
  j["counts"] = {{"rows", r.rows},
                 {"scored", r.scored},
                 {"unobserved", r.unobserved},
                 {"after_arrival", r.after_arrival},
                 {"beyond_30min", r.beyond_30min}};
  j["buckets"] = nlohmann::json::array();
  for (const auto& g : r.buckets) j["buckets"].push_back(GroupJson(g));
  j["overall"] = GroupJson(r.overall);
  j["by_source"] = nlohmann::json::object();
  for (const auto& [name, g] : r.by_source) j["by_source"][name] = GroupJson(g);
  nlohmann::json mb = nlohmann::json::array();
  for (const auto& g : r.mbta_by_predicted_horizon) {
    mb.push_back({{"bucket", g.label}, {"n", g.mbta_n}, {"pct", Num(g.mbta_pct)}});
  }
  j["mbta"] = {{"buckets_by_predicted_horizon", mb},
               {"pooled_pct", Num(r.mbta_pooled_pct)},
               {"n", r.mbta_n}};
  nlohmann::json tb = nlohmann::json::array();
  for (const auto& g : r.transit_by_observed_horizon) {
    tb.push_back({{"bucket", g.label}, {"n", g.transit_n}, {"pct", Num(g.transit_pct)}});
  }
  j["transitapp"] = {{"buckets_by_observed_horizon", tb}, {"score_pct", Num(r.transit_score_pct)}};
  j["coverage"] = {{"observed_arrivals", r.observed_arrivals},
                   {"with_prediction_1_30min", r.arrivals_with_prediction_1_30min},
                   {"pct", Num(r.coverage_pct)}};
  return j.dump(2);
}

std::string AccuracyReportTable(const AccuracyReport& r) {
  auto f = [](double v, int prec) {
    return std::isfinite(v) ? absl::StrFormat("%.*f", prec, v) : std::string("-");
  };
  std::string out = absl::StrFormat(
      "predictions: %d rows, scored %d; unobserved %d, made after arrival %d, horizon >= 30 min "
      "%d\n%-9s %8s %6s %6s %6s %6s %6s %6s %8s\n",
      r.rows, r.scored, r.unobserved, r.after_arrival, r.beyond_30min, "horizon", "n", "MAE",
      "RMSE", "bias", "median", "MBTA%", "TA%", "P10-P90%");
  std::vector<const AccuracyGroup*> rows;
  for (const auto& g : r.buckets) rows.push_back(&g);
  rows.push_back(&r.overall);
  for (const AccuracyGroup* g : rows) {
    absl::StrAppendFormat(&out, "%-9s %8d %6s %6s %6s %6s %6s %6s %8s\n", g->label + "m", g->n,
                          f(g->mae_s, 0), f(g->rmse_s, 0), f(g->bias_s, 0), f(g->median_s, 0),
                          f(g->mbta_pct, 1), f(g->transit_pct, 1), f(g->p10_p90_pct, 1));
  }
  absl::StrAppend(&out, "MBTA (by predicted horizon):");
  for (const auto& g : r.mbta_by_predicted_horizon) {
    absl::StrAppend(&out, " ", g.label, " ", f(g.mbta_pct, 1), "%");
  }
  absl::StrAppend(&out, " | pooled ", f(r.mbta_pooled_pct, 1), "%\nTransit ETA benchmark:");
  for (const auto& g : r.transit_by_observed_horizon) {
    absl::StrAppend(&out, " ", g.label, " ", f(g.transit_pct, 1), "%");
  }
  absl::StrAppend(&out, " | score ", f(r.transit_score_pct, 1), "%\n");
  for (const auto& [name, g] : r.by_source) {
    absl::StrAppendFormat(&out, "source %-9s n=%d MAE %s MBTA %s%% TA %s%% P10-P90 %s%%\n", name,
                          g.n, f(g.mae_s, 0), f(g.mbta_pct, 1), f(g.transit_pct, 1),
                          f(g.p10_p90_pct, 1));
  }
  absl::StrAppendFormat(&out, "coverage: %d of %d observed arrivals (%s%%) had a prediction made "
                        "1-30 min before\n",
                        r.arrivals_with_prediction_1_30min, r.observed_arrivals,
                        f(r.coverage_pct, 1));
  return out;
}

}  // namespace smartbus
