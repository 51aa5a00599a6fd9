#include "services/server/accuracy_proto.h"

#include <cmath>

namespace smartbus::server {
namespace {

namespace apb = ::smartbus::v1;

void Fill(const AccuracySums& s, const std::string& label, apb::AccuracyFigures* p) {
  const AccuracyGroup g = s.Group(label);
  p->set_label(label);
  p->set_n(g.n);
  if (std::isfinite(g.mae_s)) p->set_mae_s(g.mae_s);
  if (std::isfinite(g.rmse_s)) p->set_rmse_s(g.rmse_s);
  if (std::isfinite(g.bias_s)) p->set_bias_s(g.bias_s);
  p->set_mbta_n(g.mbta_n);
  if (std::isfinite(g.mbta_pct)) p->set_mbta_pct(g.mbta_pct);
  p->set_transitapp_n(g.transit_n);
  if (std::isfinite(g.transit_pct)) p->set_transitapp_pct(g.transit_pct);
  p->set_p10_p90_n(g.interval_n);
  if (std::isfinite(g.p10_p90_pct)) p->set_p10_p90_pct(g.p10_p90_pct);
  p->set_sum_error_s(s.sum_s);
  p->set_sum_abs_error_s(s.sum_abs_s);
  p->set_sum_sq_error_s2(s.sum_sq_s2);
  p->set_mbta_hits(s.mbta_ok);
  p->set_transitapp_hits(s.transit_ok);
  p->set_p10_p90_hits(s.interval_ok);
}


void FillRow(const AccuracyGroup& g, int64_t n, double pct, apb::AccuracyWindowRow* p) {
  p->set_label(g.label);
  p->set_n(n);
  if (std::isfinite(pct)) p->set_pct(pct);
}

}  // namespace

void FillAccuracy(const AccuracyTally& t, apb::AccuracyReportFigures* out) {
  const AccuracyReport r = t.Report();
  out->set_predictions(t.rows);
  out->set_scored(t.scored);
  out->set_unobserved(t.unobserved);
  out->set_after_arrival(t.after_arrival);
  out->set_beyond_30min(t.beyond_30min);
  out->set_pending(t.rows - t.scored - t.unobserved - t.after_arrival - t.beyond_30min);
  for (int b = 0; b < kAccuracyBuckets; ++b)
    Fill(t.buckets[b], AccuracyBucketLabel(b), out->add_buckets());
  Fill(t.overall, "0-30", out->mutable_overall());
  for (int s = 0; s < kNumPredictionSources; ++s) {
    if (t.by_source[s].n == 0) continue;
    Fill(t.by_source[s], std::string(PredictionSourceName(static_cast<PredictionSource>(s))),
         out->add_by_source());
  }
  for (const AccuracyGroup& g : r.mbta_by_predicted_horizon)
    FillRow(g, g.mbta_n, g.mbta_pct, out->add_mbta_by_predicted_horizon());
  if (std::isfinite(r.mbta_pooled_pct)) out->set_mbta_pooled_pct(r.mbta_pooled_pct);
  for (const AccuracyGroup& g : r.transit_by_observed_horizon)
    FillRow(g, g.transit_n, g.transit_pct, out->add_transitapp_by_observed_horizon());
  if (std::isfinite(r.transit_score_pct)) out->set_transitapp_score_pct(r.transit_score_pct);
  out->set_observed_arrivals(t.observed_arrivals);
  out->set_arrivals_with_prediction(t.arrivals_with_prediction_1_30min);
  if (std::isfinite(r.coverage_pct)) out->set_coverage_pct(r.coverage_pct);
}


}  // namespace smartbus::server
