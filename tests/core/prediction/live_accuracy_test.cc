// LiveAccuracy (the server's online scorer) against AccuracyScorer (the offline one) on the same
// synthetic stream: equal figures where no thinning applies; bounded memory; second visits
// dropped; route and hour selection; thinning.
#include "services/core/prediction/live_accuracy.h"

#include <cmath>
#include <random>

#include "gtest/gtest.h"

namespace smartbus {
namespace {

constexpr int32_t kDate = 20260216;
constexpr int64_t kT0 = 1771257600;  // an hour boundary (2026-02-16 16:00 UTC)

struct Event {
  int64_t t;
  bool visit;
  Prediction p;   // when !visit
  StopVisit v;    // when visit
  uint32_t route;
};

// Trips of 3 routes, a bus every 20 s predicting every stop whose arrival is less than 35 min
// away (so none waits longer than pending_max_age_s), arrivals drawn around the prediction
// with a drift; some stops visited twice (within a minute), some never (signal loss), some
// predictions without an interval, predictions of the first stop too.
std::vector<Event> Stream(int trips, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 60);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Event> ev;
  for (int k = 0; k < trips; ++k) {
    const TripIdx trip(k);
    const uint32_t route = static_cast<uint32_t>(k % 3);
    const int64_t start = kT0 + k * 400;
    const int stops = 30;
    std::vector<double> arrival(stops);
    double t = static_cast<double>(start);
    for (int i = 0; i < stops; ++i) {
      arrival[i] = t;
      t += 90 + 60 * u(rng);
    }
    for (int i = 1; i < stops; ++i) {
      if (u(rng) < 0.05) continue;  // never observed
      StopVisit v;
      v.trip = trip;
      v.service_date = kDate;
      v.stop_index = static_cast<uint32_t>(i);
      v.arrival_s = arrival[i];
      ev.push_back({static_cast<int64_t>(std::ceil(arrival[i])), true, {}, v, route});
      if (u(rng) < 0.03) {  // visited again shortly after
        v.arrival_s += 30;
        ev.push_back({static_cast<int64_t>(std::ceil(v.arrival_s)), true, {}, v, route});
      }
    }
    for (int64_t made = start - 300; made < static_cast<int64_t>(arrival.back()); made += 20) {
      for (int i = 0; i < stops; ++i) {
        if (arrival[i] - static_cast<double>(made) > 2100 || arrival[i] < made - 60) continue;
        Prediction p;
        p.made_at_s = made;
        p.trip = trip;
        p.service_date = kDate;
        p.stop_index = static_cast<uint32_t>(i);
        const double h = std::max(0.0, arrival[i] - static_cast<double>(made));
        p.predicted_arrival_s = static_cast<int64_t>(arrival[i] + noise(rng) * (0.3 + h / 600));
        if (u(rng) < 0.9) {
          p.p10_s = p.predicted_arrival_s - 40 - static_cast<int64_t>(h / 10);
          p.p90_s = p.predicted_arrival_s + 60 + static_cast<int64_t>(h / 8);
        }
        p.source = static_cast<PredictionSource>(i % 3);
        ev.push_back({made, false, p, {}, route});
      }
    }
  }
  // Visits of a fix come before its predictions (the engine's order).
  std::stable_sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) {
    return a.t != b.t ? a.t < b.t : a.visit > b.visit;
  });
  return ev;
}

void Feed(const std::vector<Event>& ev, LiveAccuracy* live, AccuracyScorer* offline,
          int64_t* max_held = nullptr) {
  for (const Event& e : ev) {
    live->Advance(e.t);
    if (e.visit) {
      live->AddObserved(e.v, e.route, /*own=*/true);
      if (offline) offline->AddObserved(e.v);
    } else {
      live->AddPrediction(e.p, e.route);
      if (offline) offline->AddPrediction(e.p);
    }
    if (max_held && e.t % 60 == 0) *max_held = std::max(*max_held, live->Stats().predictions_held);
  }
}

void ExpectGroupEq(const AccuracyGroup& a, const AccuracyGroup& b, const std::string& what) {
  SCOPED_TRACE(what + " " + a.label);
  EXPECT_EQ(a.n, b.n);
  auto eq = [](double x, double y) {
    return (std::isnan(x) && std::isnan(y)) || std::fabs(x - y) <= 1e-9 * std::max(1.0, std::fabs(y));
  };
  EXPECT_TRUE(eq(a.mae_s, b.mae_s)) << a.mae_s << " vs " << b.mae_s;
  EXPECT_TRUE(eq(a.rmse_s, b.rmse_s)) << a.rmse_s << " vs " << b.rmse_s;
  EXPECT_TRUE(eq(a.bias_s, b.bias_s)) << a.bias_s << " vs " << b.bias_s;
  EXPECT_EQ(a.mbta_n, b.mbta_n);
  EXPECT_TRUE(eq(a.mbta_pct, b.mbta_pct)) << a.mbta_pct << " vs " << b.mbta_pct;
  EXPECT_EQ(a.transit_n, b.transit_n);
  EXPECT_TRUE(eq(a.transit_pct, b.transit_pct));
  EXPECT_EQ(a.interval_n, b.interval_n);
  EXPECT_TRUE(eq(a.p10_p90_pct, b.p10_p90_pct));
}

TEST(LiveAccuracy, EqualsTheOfflineScorerOnTheSameStream) {
  const std::vector<Event> ev = Stream(60, 7);
  LiveAccuracy live;
  AccuracyScorer offline;
  int64_t max_held = 0;
  Feed(ev, &live, &offline, &max_held);
  live.FinishAll();
  AccuracyTally t;
  live.Collect(0, 0, {}, &t, nullptr);
  const AccuracyReport a = t.Report(), b = offline.Compute();
  ASSERT_GT(b.scored, 10000);
  ASSERT_GT(b.unobserved, 100);   // never-visited and twice-visited stops, first stops
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.scored, b.scored);
  EXPECT_EQ(a.unobserved, b.unobserved);
  EXPECT_EQ(a.after_arrival, b.after_arrival);
  EXPECT_EQ(a.beyond_30min, b.beyond_30min);
  for (int i = 0; i < kAccuracyBuckets; ++i) ExpectGroupEq(a.buckets[i], b.buckets[i], "bucket");
  ExpectGroupEq(a.overall, b.overall, "overall");
  for (const auto& [name, g] : b.by_source) ExpectGroupEq(a.by_source.at(name), g, "source");
  for (int i = 0; i < kAccuracyWindows; ++i) {
    EXPECT_EQ(a.mbta_by_predicted_horizon[i].mbta_n, b.mbta_by_predicted_horizon[i].mbta_n);
    EXPECT_DOUBLE_EQ(a.mbta_by_predicted_horizon[i].mbta_pct,
                     b.mbta_by_predicted_horizon[i].mbta_pct);
    EXPECT_DOUBLE_EQ(a.transit_by_observed_horizon[i].transit_pct,
                     b.transit_by_observed_horizon[i].transit_pct);
  }
  EXPECT_DOUBLE_EQ(a.mbta_pooled_pct, b.mbta_pooled_pct);
  EXPECT_DOUBLE_EQ(a.transit_score_pct, b.transit_score_pct);
  EXPECT_EQ(a.observed_arrivals, b.observed_arrivals);
  EXPECT_EQ(a.arrivals_with_prediction_1_30min, b.arrivals_with_prediction_1_30min);
  // Memory follows the trips in progress (a few overlap), not the 60 trips of the stream.
  EXPECT_LT(max_held, static_cast<int64_t>(b.rows) / 8);
  EXPECT_EQ(live.Stats().predictions_held, 0);
}

TEST(LiveAccuracy, SelectsRoutesAndHoursAndForgetsFinishedTrips) {
  const std::vector<Event> ev = Stream(30, 11);
  LiveAccuracy live;
  AccuracyScorer route1, hour2;
  Feed(ev, &live, nullptr);
  for (const Event& e : ev) {
    if (e.visit) {
      if (e.route == 1) route1.AddObserved(e.v);
      hour2.AddObserved(e.v);
    } else {
      if (e.route == 1) route1.AddPrediction(e.p);
      if (e.p.made_at_s >= kT0 + 3600 && e.p.made_at_s < kT0 + 7200) hour2.AddPrediction(e.p);
    }
  }
  live.Advance(kT0 + 86400);  // everything idle: trips forgotten
  EXPECT_EQ(live.Stats().trips_open, 0);
  EXPECT_EQ(live.Stats().predictions_held, 0);
  AccuracyTally total;
  absl::flat_hash_map<uint32_t, AccuracyTally> by_route;
  live.Collect(0, 0, {1}, &total, &by_route);
  ASSERT_EQ(by_route.size(), 1u);
  ExpectGroupEq(total.Report().overall, route1.Compute().overall, "route 1");
  AccuracyTally h2;
  live.Collect(kT0 + 3600, kT0 + 7200, {}, &h2, nullptr);
  ExpectGroupEq(h2.Report().overall, hour2.Compute().overall, "hour 2");
  for (int i = 0; i < kAccuracyBuckets; ++i)
    ExpectGroupEq(h2.Report().buckets[i], hour2.Compute().buckets[i], "hour 2 bucket");
}

TEST(LiveAccuracy, SecondVisitTakesTheStopBackOutUnlessPastTheHold) {
  LiveAccuracyOptions o;
  o.ambiguity_hold_s = 600;
  LiveAccuracy live(o);
  Prediction p;
  p.trip = TripIdx(1);
  p.service_date = kDate;
  p.stop_index = 3;
  p.made_at_s = kT0;
  p.predicted_arrival_s = kT0 + 300;
  live.AddPrediction(p, 0);
  StopVisit v;
  v.trip = TripIdx(1);
  v.service_date = kDate;
  v.stop_index = 3;
  v.arrival_s = kT0 + 320;
  live.AddObserved(v, 0, true);
  AccuracyTally t;
  live.Collect(0, 0, {}, &t, nullptr);
  EXPECT_EQ(t.scored, 1);
  EXPECT_EQ(t.observed_arrivals, 1);
  v.arrival_s = kT0 + 400;
  live.AddObserved(v, 0, true);  // within the hold: dropped, as offline
  t = {};
  live.Collect(0, 0, {}, &t, nullptr);
  EXPECT_EQ(t.scored, 0);
  EXPECT_EQ(t.unobserved, 1);
  EXPECT_EQ(t.observed_arrivals, 0);

  p.stop_index = v.stop_index = 4;
  live.AddPrediction(p, 0);
  v.arrival_s = kT0 + 330;
  live.AddObserved(v, 0, true);
  live.Advance(kT0 + 330 + 700);  // past the hold: the predictions are committed
  v.arrival_s = kT0 + 1000;
  live.AddObserved(v, 0, true);
  t = {};
  live.Collect(0, 0, {}, &t, nullptr);
  EXPECT_EQ(t.scored, 1);
  EXPECT_EQ(live.Stats().late_second_visits, 1);
}

TEST(LiveAccuracy, ThinningKeepsOnePredictionPerStopPerInterval) {
  const std::vector<Event> ev = Stream(40, 3);
  LiveAccuracyOptions o;
  o.min_interval_s = 60;
  LiveAccuracy thin(o), full;
  Feed(ev, &thin, nullptr);
  Feed(ev, &full, nullptr);
  thin.FinishAll();
  full.FinishAll();
  AccuracyTally a, b;
  thin.Collect(0, 0, {}, &a, nullptr);
  full.Collect(0, 0, {}, &b, nullptr);
  // One in three predictions kept (one fix per 20 s), figures within a point.
  EXPECT_NEAR(static_cast<double>(a.rows) / static_cast<double>(b.rows), 1.0 / 3, 0.05);
  EXPECT_GT(thin.Stats().thinned, 0);
  EXPECT_NEAR(a.Report().overall.mbta_pct, b.Report().overall.mbta_pct, 1.0);
  EXPECT_NEAR(a.Report().overall.mae_s, b.Report().overall.mae_s, 0.03 * b.Report().overall.mae_s);
}

TEST(LiveAccuracy, ForgetsPredictionsWhoseStopIsNeverSeen) {
  LiveAccuracy live;
  Prediction p;
  p.trip = TripIdx(1);
  p.service_date = kDate;
  p.stop_index = 5;
  for (int i = 0; i < 100; ++i) {
    p.made_at_s = kT0 + 20 * i;
    p.predicted_arrival_s = kT0 + 5000;
    live.AddPrediction(p, 0);
    live.Advance(p.made_at_s);
  }
  // Only the last pending_max_age_s (2400 s, swept once a minute) of predictions are held.
  EXPECT_LE(live.Stats().predictions_held, 2400 / 20 + 60 / 20 + 1);
  AccuracyTally t;
  live.Collect(0, 0, {}, &t, nullptr);
  EXPECT_EQ(t.rows, 100);
  EXPECT_GE(t.unobserved, 100 - (2400 / 20 + 60 / 20 + 1));
}

}  // namespace
}  // namespace smartbus
