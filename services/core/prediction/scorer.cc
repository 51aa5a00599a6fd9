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
constexpr Bucket kBuckets[6] = {{0, 3, "0-3"},   {3, 6, "3-6"},   {6, 10, "6-10"},
                                {10, 15, "10-15"}, {15, 20, "15-20"}, {20, 30, "20-30"}};
struct Window {
  double upper_min, lo_s, hi_s;
  const char* label;
};
constexpr Window kMbta[4] = {{3, -60, 60, "0-3"}, {6, -90, 120, "3-6"}, {12, -150, 210, "6-12"},
                             {30, -240, 360, "12-30"}};
constexpr Window kTransit[4] = {{3, -30, 90, "0-3"}, {6, -60, 150, "3-6"},
                                {10, -60, 210, "6-10"}, {15, -90, 270, "10-15"}};

// Index of the window row covering `minutes`, -1 if none.
int WindowIndex(const Window (&table)[4], double minutes, bool closed_last) {
  for (int i = 0; i < 4; ++i) {
    if (minutes < table[i].upper_min || (closed_last && i == 3 && minutes == table[i].upper_min)) {
      return i;
    }
  }
  return -1;
}

struct Acc {
  std::vector<double> err;
  int64_t mbta_ok = 0, mbta_n = 0, ta_ok = 0, ta_n = 0, pi_ok = 0, pi_n = 0;

  AccuracyGroup Summary(const std::string& label) const {
    AccuracyGroup g;
    g.label = label;
    g.n = static_cast<int64_t>(err.size());
    if (g.n > 0) {
      double sa = 0, s2 = 0, s = 0;
      for (double e : err) {
        sa += std::fabs(e);
        s2 += e * e;
        s += e;
      }
      g.mae_s = sa / g.n;
      g.rmse_s = std::sqrt(s2 / g.n);
      g.bias_s = s / g.n;
      std::vector<double> v = err;
      std::sort(v.begin(), v.end());
      g.median_s = (v.size() % 2) ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    }
    g.mbta_n = mbta_n;
    g.mbta_pct = mbta_n ? 100.0 * mbta_ok / mbta_n : NAN;
    g.transit_n = ta_n;
    g.transit_pct = ta_n ? 100.0 * ta_ok / ta_n : NAN;
    g.interval_n = pi_n;
    g.p10_p90_pct = pi_n ? 100.0 * pi_ok / pi_n : NAN;
    return g;
  }
};

}  // namespace

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
  AccuracyReport r;
  Acc buckets[6], overall;
  Acc by_source[kNumPredictionSources];
  int64_t mbta_ok[4] = {0}, mbta_n[4] = {0}, ta_ok[4] = {0}, ta_n[4] = {0};
  absl::flat_hash_set<Key> covered;
  for (const Stored& p : preds_) {
    ++r.rows;
    auto it = observed_.find(p.key);
    if (it == observed_.end() || it->second.ambiguous) {
      ++r.unobserved;
      continue;
    }
    const double t_obs = it->second.arrival_s;
    const double made = static_cast<double>(p.made_at_s);
    if (made >= t_obs) {
      ++r.after_arrival;
      continue;
    }
    const double horizon = t_obs - made;
    if (horizon >= 60 && horizon <= 1800) covered.insert(p.key);
    if (horizon >= 1800) {
      ++r.beyond_30min;
      continue;
    }
    ++r.scored;
    const double err = t_obs - static_cast<double>(p.predicted_s);
    const double h_min = horizon / 60.0;
    const double pred_h_min = std::max(0.0, static_cast<double>(p.predicted_s) - made) / 60.0;
    int mi = WindowIndex(kMbta, pred_h_min, /*closed_last=*/true);
    bool m_ok = mi >= 0 && err >= kMbta[mi].lo_s && err <= kMbta[mi].hi_s;
    if (mi >= 0) {
      ++mbta_n[mi];
      mbta_ok[mi] += m_ok;
    }
    int ti = WindowIndex(kTransit, h_min, /*closed_last=*/false);
    bool t_ok = ti >= 0 && err >= kTransit[ti].lo_s && err <= kTransit[ti].hi_s;
    if (ti >= 0) {
      ++ta_n[ti];
      ta_ok[ti] += t_ok;
    }
    const bool has_pi = p.p10_s != kNoTime && p.p90_s != kNoTime;
    const bool pi_ok = has_pi && static_cast<double>(p.p10_s) <= t_obs &&
                       t_obs <= static_cast<double>(p.p90_s);
    int b = 0;
    while (b < 5 && h_min >= kBuckets[b].hi_min) ++b;
    for (Acc* acc : {&buckets[b], &overall, &by_source[static_cast<int>(p.source)]}) {
      acc->err.push_back(err);
      if (mi >= 0) {
        ++acc->mbta_n;
        acc->mbta_ok += m_ok;
      }
      if (ti >= 0) {
        ++acc->ta_n;
        acc->ta_ok += t_ok;
      }
      if (has_pi) {
        ++acc->pi_n;
        acc->pi_ok += pi_ok;
      }
    }
  }
  for (int b = 0; b < 6; ++b) r.buckets.push_back(buckets[b].Summary(kBuckets[b].label));
  r.overall = overall.Summary("0-30");
  for (int s = 0; s < kNumPredictionSources; ++s) {
    if (by_source[s].err.empty()) continue;
    std::string name(PredictionSourceName(static_cast<PredictionSource>(s)));
    r.by_source[name] = by_source[s].Summary(name);
  }
  int64_t m_ok_all = 0;
  for (int i = 0; i < 4; ++i) {
    AccuracyGroup& g = r.mbta_by_predicted_horizon[i];
    g.label = kMbta[i].label;
    g.mbta_n = g.n = mbta_n[i];
    g.mbta_pct = mbta_n[i] ? 100.0 * mbta_ok[i] / mbta_n[i] : NAN;
    r.mbta_n += mbta_n[i];
    m_ok_all += mbta_ok[i];
  }
  r.mbta_pooled_pct = r.mbta_n ? 100.0 * m_ok_all / r.mbta_n : NAN;
  double ta_sum = 0;
  bool ta_all = true;
  for (int i = 0; i < 4; ++i) {
    AccuracyGroup& g = r.transit_by_observed_horizon[i];
    g.label = kTransit[i].label;
    g.transit_n = g.n = ta_n[i];
    g.transit_pct = ta_n[i] ? 100.0 * ta_ok[i] / ta_n[i] : NAN;
    if (ta_n[i]) ta_sum += g.transit_pct; else ta_all = false;
  }
  r.transit_score_pct = ta_all ? ta_sum / 4.0 : NAN;
  for (const auto& [key, obs] : observed_) r.observed_arrivals += !obs.ambiguous;
  r.arrivals_with_prediction_1_30min = static_cast<int64_t>(covered.size());
  r.coverage_pct = r.observed_arrivals ? 100.0 * covered.size() / r.observed_arrivals : NAN;
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
