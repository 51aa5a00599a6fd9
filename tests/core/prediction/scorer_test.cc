// The accuracy report on a hand-made trace whose answers are worked out by hand (issue 4's
// definitions, the same as ../shared/tools/score.py).
#include "services/core/prediction/scorer.h"

#include <cmath>

#include "gtest/gtest.h"

namespace smartbus {
namespace {

constexpr TripIdx kTrip(7);
constexpr int32_t kDate = 20260216;

Prediction P(uint32_t stop_index, int64_t made, int64_t pred, int64_t p10 = kNoTime,
             int64_t p90 = kNoTime, PredictionSource src = PredictionSource::kSchedule) {
  Prediction p;
  p.trip = kTrip;
  p.service_date = kDate;
  p.stop_index = stop_index;
  p.made_at_s = made;
  p.predicted_arrival_s = pred;
  p.p10_s = p10;
  p.p90_s = p90;
  p.source = src;
  return p;
}

TEST(AccuracyScorer, HandMadeTraceGivesTheWorkedOutFigures) {
  AccuracyScorer sc;
  sc.AddObserved(kTrip, kDate, 0, 500);   // first stop: never scored
  sc.AddObserved(kTrip, kDate, 1, 1000);
  sc.AddObserved(kTrip, kDate, 2, 2000);
  sc.AddObserved(kTrip, kDate, 3, 2500);  // seen twice: ambiguous, dropped
  sc.AddObserved(kTrip, kDate, 3, 2600);
  sc.AddObserved(kTrip, kDate, 4, 3000);  // observed, never predicted 1-30 min ahead

  // error = observed - predicted; horizon = observed - made_at
  sc.AddPrediction(P(1, 900, 1030, 990, 1040));   // h 100 s (0-3), err -30, inside P10-P90
  sc.AddPrediction(P(1, 800, 900, 850, 950));     // h 200 s (3-6), err +100, outside
  sc.AddPrediction(P(2, 1500, 2100));             // h 500 s (6-10), err -100, no interval
  sc.AddPrediction(P(2, 1200, 2000, kNoTime, kNoTime, PredictionSource::kLive));  // h 800 (10-15)
  sc.AddPrediction(P(2, 2500, 2600));             // made after the arrival
  sc.AddPrediction(P(3, 2000, 2500));             // ambiguous stop: unobserved
  sc.AddPrediction(P(0, 100, 500));               // first stop: unobserved
  sc.AddPrediction(P(2, 0, 2000));                // h 2000 s: beyond 30 min
  sc.AddPrediction(P(4, 2990, 3000));             // h 10 s: scored, but too late for coverage

  AccuracyReport r = sc.Compute();
  EXPECT_EQ(r.rows, 9);
  EXPECT_EQ(r.scored, 5);
  EXPECT_EQ(r.unobserved, 2);
  EXPECT_EQ(r.after_arrival, 1);
  EXPECT_EQ(r.beyond_30min, 1);

  ASSERT_EQ(r.buckets.size(), 6u);
  EXPECT_EQ(r.buckets[0].n, 2);  // h 100 (err -30) and h 10 (err 0)
  EXPECT_DOUBLE_EQ(r.buckets[0].mae_s, 15);
  EXPECT_DOUBLE_EQ(r.buckets[0].bias_s, -15);
  EXPECT_EQ(r.buckets[1].n, 1);
  EXPECT_DOUBLE_EQ(r.buckets[1].mae_s, 100);
  EXPECT_DOUBLE_EQ(r.buckets[1].bias_s, 100);
  EXPECT_EQ(r.buckets[2].n, 1);
  EXPECT_DOUBLE_EQ(r.buckets[2].bias_s, -100);
  EXPECT_EQ(r.buckets[3].n, 1);
  EXPECT_DOUBLE_EQ(r.buckets[3].mae_s, 0);
  EXPECT_EQ(r.buckets[4].n, 0);
  EXPECT_TRUE(std::isnan(r.buckets[4].mae_s));

  // errors -30, +100, -100, 0, 0
  EXPECT_EQ(r.overall.n, 5);
  EXPECT_DOUBLE_EQ(r.overall.mae_s, 230.0 / 5);
  EXPECT_DOUBLE_EQ(r.overall.bias_s, -30.0 / 5);
  EXPECT_DOUBLE_EQ(r.overall.rmse_s, std::sqrt((900.0 + 10000 + 10000) / 5));
  EXPECT_DOUBLE_EQ(r.overall.median_s, 0);

  // MBTA, by predicted horizon: 130 s (0-3: -30 ok), 100 s (0-3: +100 > 60 miss),
  // 600 s (6-12: -100 ok), 800 s (12-30: 0 ok), 10 s (0-3: 0 ok).
  EXPECT_EQ(r.mbta_by_predicted_horizon[0].mbta_n, 3);
  EXPECT_NEAR(r.mbta_by_predicted_horizon[0].mbta_pct, 200.0 / 3, 1e-9);
  EXPECT_EQ(r.mbta_by_predicted_horizon[1].mbta_n, 0);
  EXPECT_DOUBLE_EQ(r.mbta_by_predicted_horizon[2].mbta_pct, 100);
  EXPECT_DOUBLE_EQ(r.mbta_by_predicted_horizon[3].mbta_pct, 100);
  EXPECT_DOUBLE_EQ(r.mbta_pooled_pct, 80);

  // Transit app, by observed horizon: 0-3 {-30 ok, 0 ok}, 3-6 {+100 ok}, 6-10 {-100 < -60 miss},
  // 10-15 {0 ok} -> (100 + 100 + 0 + 100) / 4.
  EXPECT_DOUBLE_EQ(r.transit_by_observed_horizon[0].transit_pct, 100);
  EXPECT_DOUBLE_EQ(r.transit_by_observed_horizon[2].transit_pct, 0);
  EXPECT_DOUBLE_EQ(r.transit_score_pct, 75);

  // P10-P90: only the two predictions with an interval count; one inside.
  EXPECT_EQ(r.overall.interval_n, 2);
  EXPECT_DOUBLE_EQ(r.overall.p10_p90_pct, 50);

  // Coverage: stops 1, 2 and 4 observed (0 is a first stop, 3 ambiguous); 1 and 2 had a
  // prediction 1-30 min ahead, 4 only 10 s ahead.
  EXPECT_EQ(r.observed_arrivals, 3);
  EXPECT_EQ(r.arrivals_with_prediction_1_30min, 2);
  EXPECT_NEAR(r.coverage_pct, 200.0 / 3, 1e-9);

  ASSERT_EQ(r.by_source.count("live"), 1u);
  EXPECT_EQ(r.by_source.at("live").n, 1);
  EXPECT_EQ(r.by_source.at("schedule").n, 4);
}

TEST(AccuracyScorer, JsonHasTheFiguresUnderScorePyNames) {
  AccuracyScorer sc;
  sc.AddObserved(kTrip, kDate, 1, 1000);
  sc.AddPrediction(P(1, 900, 1030, 990, 1040));
  const std::string json = AccuracyReportJson(sc.Compute());
  for (const char* key : {"\"buckets\"", "\"mae\"", "\"rmse\"", "\"mean_error\"", "\"mbta\"",
                          "\"pooled_pct\"", "\"transitapp\"", "\"score_pct\"", "\"p10_p90_pct\"",
                          "\"coverage\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " missing in " << json;
  }
}

}  // namespace
}  // namespace smartbus
