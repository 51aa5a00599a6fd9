#include "services/core/prediction/predictor.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "services/core/prediction/trip_view.h"

namespace smartbus {
namespace {

using prediction_internal::TripView;

constexpr int64_t kBinUpperS[] = {60, 120, 180, 270, 360, 480, 600, 750, 900, 1200, 1500, 1800,
                                  2700, INT64_MAX};
// Pace of a bus (LastVisit::log_pace): an exponentially weighted mean of log(observed /
// expected running time) whose memory is kPaceMemoryS of expected running time, not a number
// of segments: a segment weighs 1 - exp(-expected / kPaceMemoryS). Weighting per segment
// (0.2 each, until 2026-12-07) let one 2-minute fix interval, whose interpolated visits give
// several short segments of the same speed, decide half of the pace, and made a stretch with
// many stops count more than the same stretch with few; the pace layer's jumps were the main
// source of the blend's reversals (nyc-si: pace layer alone 20.4 %). kPaceMemoryS = 900 s
// (about the old memory on 3-min segments) was checked on six sets of the accuracy suite
// (bench/RESULTS.md, "Prediction: the pace by running time"): 300 s changed little, 900 s cut
// the reversals on all six with MAE equal or better on five (nyc-si +0.01..0.02 x, 6-30 min),
// 1800 s cost nyc-si, whose buses change pace between local streets and motorways, 0.04 x.
// Then: segments needed before the pace layer is offered, the shortest expected segment that
// counts (s; shorter ones are mostly a red light or not) and the largest |log ratio| kept (a
// factor of 2.7: beyond, an incident rather than a pace). On the accuracy suite (demo city,
// 2-min fixes) a mean of log ratios did better than a ratio of sums (MAE 0.88 vs 0.95 x anchor
// at 10-15 min). Offering the pace from the first segment instead of the third (measured
// 2026-12-07, with the clipping below) cut reversals (demo day 2 4.85 -> 4.46 %) but cost its
// MAE up to 0.03 x at 10-30 min (after the departure habit, 941f406), and was not kept.
constexpr double kPaceMemoryS = 900;
constexpr int kPaceMinSegments = 3;
constexpr double kPaceMinS = 30;
constexpr double kPaceMaxLog = 1.0;
// A segment moves the pace by its innovation (log ratio - pace) clipped at kHuberK times
// the innovations' scale (Huber's M-estimator; k = 1.345 is his constant for 95 % efficiency
// under normal noise, not fitted here; the departure habit's regression uses it too). The scale is measured: sqrt(pi / 2) x the mean absolute
// innovation of all buses over the last layer_window_errors segments, from layer_min_errors
// on. A segment's running time is heavy-tailed (a long dwell, a red light, a visit interpolated
// between 2-min fixes); one such segment moved every prediction of the bus by up to an eighth
// of its horizon, and the next segments moved it back (bench/RESULTS.md, "Prediction: the
// pace's robust update").
constexpr double kHuberK = 1.345;
// The live layer's half-life changes only to a candidate whose measured error is this much
// lower than the one in use: the candidates' segment errors differ by 1-5 % on the accuracy
// suite, and switching between near-equal ones (336 switches on the WMATA day and the demo
// city without a margin, 2 and 3 with it) moved every prediction of the feed back and forth
// for no measured gain (WMATA reversals 3.6 % without, 3.5 % with, MAE equal).
constexpr double kHalfLifeSwitchMargin = 0.01;
constexpr absl::string_view kMagic = "smartbus-prediction-model\t1";

// std::llround without the libm call: x - trunc(x) is exact in binary floating point, so this
// rounds half away from zero exactly like llround for |x| < 2^62 (other values: llround).
inline int64_t RoundToInt64(double x) {
  if (!(std::fabs(x) < 4.611686018427387904e18)) return std::llround(x);
  int64_t r = static_cast<int64_t>(x);
  const double f = x - static_cast<double>(r);
  if (f >= 0.5) {
    ++r;
  } else if (f <= -0.5) {
    --r;
  }
  return r;
}

// Delay propagation's delay: now minus the scheduled time at the bus's place along the trip.
// Not started: at its place when it is already along the route, else how late it is to leave,
// and before the scheduled departure never negative (OneBusAway's layover rule).
double DelayAt(const TripView& tv, double dist_along_m, int64_t now, bool started) {
  const double t = static_cast<double>(now);
  if (started) return t - tv.ScheduledAt(dist_along_m);
  double d = std::isfinite(dist_along_m) && dist_along_m > tv.dist(0)
                 ? t - tv.ScheduledAt(dist_along_m)
                 : t - static_cast<double>(tv.dep(0));
  return now < tv.dep(0) ? std::max(0.0, d) : d;
}

// A new prediction for stop `k` of trip `trip` (seen through `t`) made by vehicle state `s` at
// `now`: who, which trip and stop, and its scheduled arrival; the predicted times are the
// caller's.
void StartPrediction(const VehicleState& s, int64_t now, const TripView& t, TripIdx trip,
                     uint32_t k, Prediction* p) {
  p->made_at_s = now;
  p->vehicle_id = s.vehicle_id;
  p->trip = trip;
  p->service_date = s.service_date;
  p->stop = t.pattern->stops[k];
  p->stop_index = k;
  p->stop_sequence = t.st[k].stop_sequence;
  p->scheduled_arrival_s = t.arr(k);
}

// Keeps a calibrated prediction in order: never earlier than the previous stop of the same
// sequence (`prev`, null for the first), the p10..p90 band around the arrival, the departure
// (`departure` < 0: none) not before the arrival.
void KeepInOrder(const Prediction* prev, double departure, Prediction* p) {
  if (prev != nullptr) {
    p->predicted_arrival_s = std::max(p->predicted_arrival_s, prev->predicted_arrival_s);
  }
  p->p10_s = std::min(p->p10_s, p->predicted_arrival_s);
  p->p90_s = std::max(p->p90_s, p->predicted_arrival_s);
  p->predicted_departure_s =
      departure >= 0 ? std::max<int64_t>(p->predicted_arrival_s, RoundToInt64(departure)) : kNoTime;
}

}  // namespace

LayeredPredictor::LayeredPredictor(std::shared_ptr<const Network> network,
                                   const PredictorOptions& options,
                                   const TrackerOptions& tracker)
    : network_(std::move(network)),
      options_(options),
      tracker_(tracker),
      decay_per_s_() {
  for (int i = 0; i < kHalfLives; ++i) {
    decay_per_s_[i] = std::log(2.0) / std::max(1.0, std::ldexp(options.half_life_s, i - kLongest));
  }
  pattern_segs_.resize(network_->patterns().size());
  layer_by_route_.resize(2 * network_->feed().routes.size());
}

void LayeredPredictor::AddLayerErrors(uint32_t route, int phase, int bin, const LayerMoments& m) {
  const double cap = std::max(1, options_.layer_window_errors);
  auto add = [&](LayerScore& sc) {
    sc.n = static_cast<int32_t>(std::min<double>(cap, sc.n + 1));
    const double a = 1.0 / sc.n;
    for (int i = 0; i < kLayers; ++i) {
      for (int j = 0; j < kLayers; ++j) sc.cov[i][j] += a * (m[i][j] - sc.cov[i][j]);
    }
  };
  const size_t r = 2 * static_cast<size_t>(route) + phase;
  if (r < layer_by_route_.size()) add(layer_by_route_[r][bin]);
  add(layer_all_[phase][bin]);
}

bool LayeredPredictor::LayerWeights(uint32_t route, int phase, int bin,
                                    std::array<double, kLayers>* w) const {
  // The route's errors weigh n / (n + layer_min_errors) against all routes' (a route's own
  // scores take over gradually: a hard switch when its bin reached layer_min_errors moved every
  // prediction of the route at once, and the first few errors of a bin are noisy).
  const LayerScore& all = layer_all_[phase][bin];
  if (all.n < options_.layer_min_errors) return false;
  LayerScore mixed = all;
  const size_t r = 2 * static_cast<size_t>(route) + phase;
  if (r < layer_by_route_.size() && layer_by_route_[r][bin].n > 0) {
    const LayerScore& own = layer_by_route_[r][bin];
    const double f = own.n / static_cast<double>(own.n + std::max(1, options_.layer_min_errors));
    for (int i = 0; i < kLayers; ++i) {
      for (int j = 0; j < kLayers; ++j) mixed.cov[i][j] = f * own.cov[i][j] + (1 - f) * all.cov[i][j];
    }
  }
  const LayerScore* sc = &mixed;
  // Minimum-variance weights w = S^-1 1 / (1' S^-1 1) over the layers still active; a layer
  // given a negative weight is dropped and the rest solved again (at most kLayers rounds). A
  // 1 % ridge on the diagonal keeps nearly identical layers (e.g. delay propagation and the
  // engine on a fresh route) solvable.
  std::array<bool, kLayers> active;
  active.fill(true);
  for (int round = 0; round < kLayers; ++round) {
    int idx[kLayers], m = 0;
    for (int i = 0; i < kLayers; ++i)
      if (active[i]) idx[m++] = i;
    double a[kLayers][kLayers + 1];
    for (int r = 0; r < m; ++r) {
      for (int c = 0; c < m; ++c) a[r][c] = sc->cov[idx[r]][idx[c]] * (r == c ? 1.01 : 1.0);
      a[r][m] = 1.0;
    }
    for (int c = 0; c < m; ++c) {  // Gauss-Jordan with partial pivoting
      int piv = c;
      for (int r = c + 1; r < m; ++r)
        if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
      if (std::fabs(a[piv][c]) < 1e-9) return false;
      for (int k = 0; k <= m; ++k) std::swap(a[c][k], a[piv][k]);
      for (int r = 0; r < m; ++r) {
        if (r == c) continue;
        const double f = a[r][c] / a[c][c];
        for (int k = c; k <= m; ++k) a[r][k] -= f * a[c][k];
      }
    }
    double sum = 0;
    bool negative = false;
    w->fill(0.0);
    for (int r = 0; r < m; ++r) {
      (*w)[idx[r]] = a[r][m] / a[r][r];
      sum += (*w)[idx[r]];
      if ((*w)[idx[r]] < 0) {
        active[idx[r]] = false;
        negative = true;
      }
    }
    if (!negative && sum > 0) {
      for (double& x : *w) x /= sum;
      return true;
    }
  }
  return false;
}

uint32_t LayeredPredictor::SegmentId(uint32_t route, uint32_t from, uint32_t to) {
  auto [it, inserted] =
      seg_lookup_.try_emplace(std::make_tuple(route, from, to), static_cast<uint32_t>(segs_.size()));
  if (inserted) {
    SegStats s;
    s.route = route;
    s.from = from;
    s.to = to;
    segs_.push_back(s);
  }
  return it->second;
}

const std::vector<uint32_t>& LayeredPredictor::PatternSegments(uint32_t pattern) {
  std::vector<uint32_t>& v = pattern_segs_[pattern];
  if (v.empty()) {
    const Pattern& p = network_->pattern(pattern);
    v.assign(p.stops.size(), kNoIndex);
    for (size_t k = 1; k < p.stops.size(); ++k) v[k] = SegmentId(p.route, p.stops[k - 1], p.stops[k]);
  }
  return v;
}

double LayeredPredictor::half_life_s() const {
  return std::log(2.0) / decay_per_s_[half_life_];
}

void LayeredPredictor::ScoreHalfLives(uint32_t seg, double sched_s, double dur_s, int64_t from_s,
                                      int64_t day_start_s, int64_t profile_s) {
  const SegStats& s = segs_[seg];
  if (!(s.w[kLongest] > 0) || s.t_last < day_start_s) return;  // no traversal today: all equal
  half_life_n_ = std::min(std::max(1, options_.layer_window_errors), half_life_n_ + 1);
  const double a = 1.0 / half_life_n_;
  PredictionSource unused = PredictionSource::kSchedule;
  for (int i = 0; i < kHalfLives; ++i) {
    const double err = std::fabs(
        Estimate(seg, sched_s, from_s, day_start_s, profile_s, &unused, i) - dur_s);
    half_life_mae_[i] += a * (err - half_life_mae_[i]);
  }
  if (half_life_n_ < options_.layer_min_errors) return;
  const int best = static_cast<int>(
      std::min_element(half_life_mae_.begin(), half_life_mae_.end()) - half_life_mae_.begin());
  if (half_life_mae_[best] < (1.0 - kHalfLifeSwitchMargin) * half_life_mae_[half_life_]) {
    half_life_ = best;
  }
}

double LayeredPredictor::Estimate(uint32_t seg, double sched_s, int64_t now, int64_t day_start_s,
                                  int64_t profile_s, PredictionSource* layer, int hl) const {
  const SegStats& s = segs_[seg];
  if (hl < 0) hl = half_life_;
  double num = options_.schedule_weight * sched_s;
  double den = options_.schedule_weight;
  PredictionSource src = PredictionSource::kSchedule;
  // Traversals of an earlier service day are not today's running times: they count through the
  // time-of-day profile only (a model learned yesterday, or a server running for days).
  if (s.w[hl] > 0 && s.t_last >= day_start_s) {
    const double age = static_cast<double>(std::max<int64_t>(0, now - s.t_last));
    const double w = s.w[hl] * std::exp(-decay_per_s_[hl] * age);
    num += w * (s.wd[hl] / s.w[hl]);
    den += w;
    if (w > 0.05) src = PredictionSource::kHistory;
    if (now - s.t_last <= options_.live_window_s) src = PredictionSource::kLive;
  }
  const size_t bucket = BucketOf(profile_s);
  if (profile_entries_ > 0 && profile_s >= 0 && bucket < profile_.size() &&
      seg < profile_[bucket].size()) {
    const Profile& prof = profile_[bucket][seg];
    if (prof.present && prof.n > 0) {
      const double w = std::min<double>(options_.profile_weight_cap,
                                        options_.profile_weight * prof.n);
      num += w * prof.mean_s;
      den += w;
      if (src == PredictionSource::kSchedule) src = PredictionSource::kHistory;
    }
  }
  // The strongest layer used so far wins: live > history > schedule.
  if (src == PredictionSource::kLive ||
      (src == PredictionSource::kHistory && *layer == PredictionSource::kSchedule)) {
    *layer = src;
  }
  return std::max(0.0, num / den);
}

namespace {
// Starts loading [p, p + bytes) into the cache, one request per cache line.
inline void PrefetchBytes(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
}
}  // namespace

void LayeredPredictor::PrefetchChain(const prediction_internal::TripView& t,
                                     const std::vector<uint32_t>& segs, uint32_t from,
                                     int64_t profile_s, const TripPending& pending) const {
  if (from >= t.n) return;
  // At most an hour of stops is predicted; 64 stops cover that on any real route.
  const uint32_t to = std::min<uint32_t>(t.n, from + 64);
  const size_t n = to - from;
  PrefetchBytes(&t.st[from], n * sizeof(GtfsStopTime));
  PrefetchBytes(&t.pattern->stops[from], n * sizeof(uint32_t));
  PrefetchBytes(&segs[from], n * sizeof(uint32_t));
  if (pending.newest_s.size() >= to) PrefetchBytes(&pending.newest_s[from], n * sizeof(int64_t));
  // Segment ids of a pattern are mostly consecutive: their statistics and profile entries are
  // runs too.
  const uint32_t s0 = segs[from], s1 = segs[to - 1];
  if (s0 != kNoIndex && s1 != kNoIndex && s1 >= s0 && s1 - s0 < 2 * n && s1 < segs_.size()) {
    PrefetchBytes(&segs_[s0], (s1 - s0 + 1) * sizeof(SegStats));
    if (profile_entries_ > 0 && profile_s >= 0) {
      const size_t bucket = BucketOf(profile_s);
      if (bucket < profile_.size() && s1 < profile_[bucket].size())
        PrefetchBytes(&profile_[bucket][s0], (s1 - s0 + 1) * sizeof(Profile));
    }
  }
}

void LayeredPredictor::Learn(uint32_t seg, double dur_s, int64_t t, int64_t day_start_s,
                             int64_t profile_s) {
  SegStats& s = segs_[seg];
  const double age = static_cast<double>(std::max<int64_t>(0, t - s.t_last));
  // A new service day starts the segment's traversals afresh (see Estimate).
  const bool today = s.w[kLongest] > 0 && s.t_last >= day_start_s;
  for (int i = 0; i < kHalfLives; ++i) {
    const double f = today ? std::exp(-decay_per_s_[i] * age) : 0.0;
    s.w[i] = s.w[i] * f + 1.0;
    s.wd[i] = s.wd[i] * f + dur_s;
  }
  s.t_last = std::max(s.t_last, t);
  if (profile_s >= 0) {
    Profile& p = ProfileAt(seg, BucketOf(profile_s));
    p.n = std::min(20.0f, p.n + 1.0f);
    p.mean_s += (static_cast<float>(dur_s) - p.mean_s) / p.n;
  }
}

LayeredPredictor::Profile& LayeredPredictor::ProfileAt(uint32_t seg, uint32_t bucket) {
  if (profile_.size() <= bucket) profile_.resize(bucket + 1);
  std::vector<Profile>& v = profile_[bucket];
  if (v.size() <= seg) v.resize(std::max<size_t>(seg + 1, segs_.size()));
  Profile& p = v[seg];
  if (!p.present) {
    p = Profile{};
    p.present = true;
    ++profile_entries_;
  }
  return p;
}

int64_t LayeredPredictor::ProfileTime(int32_t service_date, int64_t tod_s) {
  if (tod_s < 0) return tod_s;
  constexpr int64_t kSpanS = int64_t{kBucketsPerDay} * kBucketS;
  if (service_date != cached_type_date_) {
    cached_type_date_ = service_date;
    const absl::CivilDay day(service_date / 10000, service_date / 100 % 100, service_date % 100);
    const absl::Weekday wd = absl::GetWeekday(day);
    const int type = wd == absl::Weekday::saturday ? 1 : wd == absl::Weekday::sunday ? 2 : 0;
    cached_type_offset_s_ = type * kSpanS;
  }
  return cached_type_offset_s_ + std::min(tod_s, kSpanS - 1);
}

int64_t LayeredPredictor::DayStart(int32_t service_date) {
  if (service_date != cached_date_) {
    cached_date_ = service_date;
    cached_day_start_ = absl::ToUnixSeconds(network_->ServiceDayStart(service_date));
  }
  return cached_day_start_;
}

namespace {
// Horizon bin by 30-s step below 2700 s (every bin bound is a multiple of 30 s).
constexpr int kBinStepS = 30;
constexpr int kBinTableSize = 2700 / kBinStepS;
struct BinTable {
  uint8_t bin[kBinTableSize];
};
constexpr BinTable MakeBinTable() {
  BinTable t{};
  for (int i = 0; i < kBinTableSize; ++i) {
    int b = 0;
    while (b < 13 && i * kBinStepS >= kBinUpperS[b]) ++b;
    t.bin[i] = static_cast<uint8_t>(b);
  }
  return t;
}
constexpr BinTable kBinTable = MakeBinTable();
static_assert(kBinUpperS[12] == kBinTableSize * kBinStepS, "bin table covers bins 0-12");
}  // namespace

double LayeredPredictor::BinCentreS(int b) {
  const double lo = b == 0 ? 0.0 : static_cast<double>(kBinUpperS[b - 1]);
  return b == kNumBins - 1 ? lo + 900.0 : 0.5 * (lo + static_cast<double>(kBinUpperS[b]));
}

int LayeredPredictor::HorizonBin(int64_t horizon_s) {
  static_assert(kNumBins == 14, "bin table assumes 14 bins");
  if (horizon_s < 0) return 0;
  if (horizon_s >= kBinTableSize * kBinStepS) return kNumBins - 1;
  return kBinTable.bin[horizon_s / kBinStepS];
}

double LayeredPredictor::Blend(const prediction_internal::TripView& t, uint32_t k, int phase,
                               int64_t now, double from_s, double dp_delay, double pace,
                               double engine, std::array<float, kLayers>* delta) const {
  delta->fill(NAN);
  if (!options_.blend_layers || !std::isfinite(dp_delay)) return engine;
  const double sched = static_cast<double>(t.arr(k));
  // The bus keeps its pace from when it leaves its place (from_s).
  const double layer[kLayers] = {engine, sched + dp_delay, sched, from_s + pace * (engine - from_s)};
  double out = engine;
  std::array<double, kLayers> w;
  if (BlendWeights(t.trip->route, phase, engine - from_s, &w)) {
    double b = 0;
    for (int i = 0; i < kLayers; ++i) b += w[i] * layer[i];
    out = std::max(b, static_cast<double>(now));
  }
  for (int i = 0; i < kLayers; ++i) (*delta)[i] = static_cast<float>(layer[i] - out);
  return out;
}

bool LayeredPredictor::BlendWeights(uint32_t route, int phase, double horizon_s,
                                    std::array<double, kLayers>* w) const {
  // Weights change smoothly with the horizon (linear between the centres of two adjacent
  // bins), so a prediction does not jump when its horizon crosses a bin boundary.
  const auto centre = BinCentreS;
  const int b = HorizonBin(static_cast<int64_t>(std::max(0.0, horizon_s)));
  const int nb = horizon_s < centre(b) ? std::max(0, b - 1) : std::min(kNumBins - 1, b + 1);
  const bool have = LayerWeights(route, phase, b, w);
  std::array<double, kLayers> w2;
  if (nb == b || !LayerWeights(route, phase, nb, &w2)) return have;
  if (!have) return false;
  const double f = std::clamp((horizon_s - centre(b)) / (centre(nb) - centre(b)), 0.0, 1.0);
  for (int i = 0; i < kLayers; ++i) (*w)[i] = (1 - f) * (*w)[i] + f * w2[i];
  return true;
}

void LayeredPredictor::AddError(int phase, int bin, float err) {
  ErrorBin& e = bins_[phase][bin];
  // Adaptive conformal correction (Gibbs & Candes 2021): when more than 20 % of the arrivals fall
  // outside the interval this bin would give, widen it, and narrow it when fewer do.
  // (The target is interval_target, see PredictorOptions.)
  if (e.added_at_compute >= 0) {
    const bool miss = err < e.q10 || err > e.q90;
    e.tail_adjust = std::clamp(e.tail_adjust + options_.interval_adapt_rate * ((miss ? 1.0f : 0.0f) - (1.0f - options_.interval_target)),
                               -0.2f, 0.09f);
  }
  // Track the changes to the ring for Calibrate's merge (bounded: far fewer than a window).
  if (!e.resort && (e.added_since.size() + 1 >= static_cast<size_t>(options_.window_errors) / 2 ||
                    std::isnan(err))) {
    e.resort = true;
  }
  if (e.resort) {
    e.added_since.clear();
    e.dropped_since.clear();
  }
  if (e.ring.size() < static_cast<size_t>(options_.window_errors)) {
    e.ring.push_back(err);
  } else {
    if (!e.resort) e.dropped_since.push_back(e.ring[e.next]);
    e.ring[e.next] = err;
    e.next = (e.next + 1) % e.ring.size();
  }
  if (!e.resort) e.added_since.push_back(err);
  ++e.added;
  ++errors_observed_;
}

// The windows riders tolerate at a horizon bin (s): the Transit app ETA benchmark window (up to
// 15 min) and the MBTA window (up to 30 min). Returns how many apply (0..2).
static int ToleranceWindows(int bin, double win[2][2]) {
  static constexpr double kTransit[9][2] = {{-30, 90},  {-30, 90},  {-30, 90},
                                            {-60, 150}, {-60, 150}, {-60, 210},
                                            {-60, 210}, {-90, 270}, {-90, 270}};
  static constexpr double kMbta[12][2] = {{-60, 60},   {-60, 60},   {-60, 60},   {-90, 120},
                                          {-90, 120},  {-150, 210}, {-150, 210}, {-150, 210},
                                          {-240, 360}, {-240, 360}, {-240, 360}, {-240, 360}};
  int n = 0;
  if (bin < 9) {
    win[n][0] = kTransit[bin][0];
    win[n++][1] = kTransit[bin][1];
  }
  if (bin < 12) {
    win[n][0] = kMbta[bin][0];
    win[n++][1] = kMbta[bin][1];
  }
  return n;
}

// Quantiles and shift of a bin from its current window (rare: every tenth of a window).
void LayeredPredictor::RecomputeBin(ErrorBin* e, int bin) {
  const int64_t n = static_cast<int64_t>(e->ring.size());
  // The ring in ascending order (a copy: the ring keeps its order). From scratch the first
  // time; then the previous sorted window minus the dropped values, merged with the added
  // ones (the same multiset, so the same sorted values).
  if (e->added_at_compute < 0 || e->resort) {
    e->sorted.assign(e->ring.begin(), e->ring.end());
    std::sort(e->sorted.begin(), e->sorted.end());
  } else {
    std::sort(e->added_since.begin(), e->added_since.end());
    std::sort(e->dropped_since.begin(), e->dropped_since.end());
    const std::vector<float>& old = e->sorted;
    const std::vector<float>& add = e->added_since;
    const std::vector<float>& drop = e->dropped_since;
    // Runs of the old window are copied whole; each dropped value is found and skipped once,
    // each added value inserted before the first old value not less than it.
    merge_scratch_.resize(old.size() + add.size());
    float* o = merge_scratch_.data();
    const float* ip = old.data();
    const float* const ie = ip + old.size();
    size_t a = 0, d = 0;
    while (d < drop.size() || a < add.size()) {
      if (d < drop.size() && (a == add.size() || !(add[a] < drop[d]))) {
        const float* p = std::lower_bound(ip, ie, drop[d]);
        o = std::copy(ip, p, o);
        ip = p;
        if (ip == ie || drop[d] < *ip) break;  // not in the window: inconsistent, see below
        ++ip;
        ++d;
      } else {
        const float* p = std::lower_bound(ip, ie, add[a]);
        o = std::copy(ip, p, o);
        ip = p;
        *o++ = add[a++];
      }
    }
    o = std::copy(ip, ie, o);
    merge_scratch_.resize(static_cast<size_t>(o - merge_scratch_.data()));
    if (d == drop.size() && merge_scratch_.size() == e->ring.size()) {
      e->sorted.swap(merge_scratch_);
    } else {  // not a consistent history: sort from scratch
      e->sorted.assign(e->ring.begin(), e->ring.end());
      std::sort(e->sorted.begin(), e->sorted.end());
    }
  }
  e->added_since.clear();
  e->dropped_since.clear();
  e->resort = false;
  const std::vector<float>& v = e->sorted;
  auto at = [&](double q) {
    return v[static_cast<size_t>(std::clamp(q * (n - 1), 0.0, static_cast<double>(n - 1)))];
  };
  // Tail probability per side: (1 - interval_target) / 2, corrected online by the realised
  // misses.
  const double tail = std::clamp(0.5 * (1.0 - options_.interval_target) - e->tail_adjust, 0.01, 0.3);
  e->q10 = at(tail);
  e->q90 = at(1.0 - tail);
  e->shift = 0;
  double win[2][2];
  const int nw = options_.window_shift && bin < 9 ? ToleranceWindows(bin, win) : 0;
  if (nw > 0) {
    // The shift d that puts most observed errors inside the windows: e - d in [lo, hi].
    int64_t best = -1;
    for (int d = -options_.max_shift_s; d <= options_.max_shift_s; d += 5) {
      int64_t c = 0;
      for (int w = 0; w < nw; ++w) {
        c += std::upper_bound(v.begin(), v.end(), static_cast<float>(win[w][1] + d)) -
             std::lower_bound(v.begin(), v.end(), static_cast<float>(win[w][0] + d));
      }
      if (c > best || (c == best && std::abs(d) < std::abs(e->shift))) {
        best = c;
        e->shift = static_cast<float>(d);
      }
    }
  }
  e->added_at_compute = e->added;
}

LayeredPredictor::ErrorBin* LayeredPredictor::ReadyBin(int phase, int bin) {
  ErrorBin* e = &bins_[phase][bin];
  if (static_cast<int>(e->ring.size()) < options_.min_errors) e = &bins_[1 - phase][bin];
  if (static_cast<int>(e->ring.size()) < options_.min_errors) return nullptr;
  const int64_t n = static_cast<int64_t>(e->ring.size());
  if (e->added_at_compute < 0 || e->added - e->added_at_compute >= std::max<int64_t>(10, n / 10)) {
    RecomputeBin(e, bin);
  }
  return e;
}

void LayeredPredictor::Calibrate(int phase, int bin, int64_t now, int64_t raw, int64_t* pred,
                                 int64_t* p10, int64_t* p90) {
  const double h = static_cast<double>(std::max<int64_t>(0, raw - now));
  double lo, hi, shift = 0;
  if (const ErrorBin* e = ReadyBin(phase, bin)) {
    lo = e->q10;
    hi = e->q90;
    // The shift changes smoothly with the horizon (linear between the two nearest bins'
    // centres, as the blend's weights): a prediction whose horizon crosses a bin boundary at
    // every fix does not move by the difference of two bins' shifts (up to 40 s).
    shift = e->shift;
    const int nb = h < BinCentreS(bin) ? std::max(0, bin - 1) : std::min(kNumBins - 1, bin + 1);
    if (nb != bin) {
      if (const ErrorBin* e2 = ReadyBin(phase, nb)) {
        const double f =
            std::clamp((h - BinCentreS(bin)) / (BinCentreS(nb) - BinCentreS(bin)), 0.0, 1.0);
        shift = (1 - f) * shift + f * e2->shift;
      }
    }
  } else {
    // Default spread before the engine has seen enough of its own errors.
    lo = -(30.0 + 0.10 * h);
    hi = 60.0 + 0.25 * h;
  }
  *pred = std::max<int64_t>(now, raw + RoundToInt64(shift));
  *p10 = std::max<int64_t>(now, std::min<int64_t>(*pred, raw + RoundToInt64(lo)));
  *p90 = std::max<int64_t>(*pred, raw + RoundToInt64(hi));
}

void LayeredPredictor::ObserveVisit(const StopVisit& v) {
  if (v.trip == kNoIndex) return;
  // Errors of this predictor's own earlier predictions for this stop.
  if (v.stop_index > 0) {
    auto it = pending_.find(TripKey{v.trip, v.service_date});
    if (it != pending_.end() && v.stop_index < it->second.by_stop.size()) {
      const uint32_t route = network_->feed().trips[v.trip].route;
      // The blend's scores count one arrival once per (phase, bin): the predictions of one
      // arrival sampled a minute apart in one bin (1 in the 1-min bins, up to 15 in the widest)
      // have nearly the same errors, and counted one by one they made the long bins' weights
      // rest on a few arrivals. Their products are averaged into one observation (pending
      // predictions are in the order made, so one bin's are consecutive).
      LayerMoments sum{};
      int group_n = 0, group_phase = -1, group_bin = -1;
      auto flush = [&] {
        if (group_n == 0) return;
        for (auto& row : sum) {
          for (double& x : row) x /= group_n;
        }
        AddLayerErrors(route, group_phase, group_bin, sum);
        sum = LayerMoments{};
        group_n = 0;
      };
      for (const Pending& p : it->second.by_stop[v.stop_index]) {
        if (static_cast<double>(p.made_at_s) >= v.arrival_s) continue;
        const double err = v.arrival_s - static_cast<double>(p.predicted_s);
        AddError(p.phase, p.bin, static_cast<float>(err));
        if (std::isnan(p.layer_delta[0])) continue;
        if (p.phase != group_phase || p.bin != group_bin) flush();
        group_phase = p.phase;
        group_bin = p.bin;
        std::array<float, kLayers> e;
        for (int i = 0; i < kLayers; ++i) e[i] = static_cast<float>(err - p.layer_delta[i]);
        for (int i = 0; i < kLayers; ++i) {
          for (int j = 0; j < kLayers; ++j) sum[i][j] += double(e[i]) * e[j];
        }
        ++group_n;
      }
      flush();
      it->second.Clear(v.stop_index);
    }
  }
  // Segment running time: arrival at the previous stop of the same trip -> arrival here.
  LastVisit& last = last_visit_[v.vehicle_id];
  if (v.stop_index == 0 && v.scheduled_departure_s > 0 && v.departure_s > 0) {
    const double late = v.departure_s - static_cast<double>(v.scheduled_departure_s);
    if (std::isfinite(last.departure_lateness)) LearnDepartureHabit(last.departure_lateness, late);
    last.departure_lateness = late;
  }
  if (last.trip == v.trip && last.service_date == v.service_date &&
      last.stop_index + 1 == v.stop_index && v.stop_index > 0) {
    const GtfsFeed& feed = network_->feed();
    const GtfsTrip& trip = feed.trips[v.trip];
    if (v.stop_index < trip.num_stop_times) {
      const GtfsStopTime* st = &feed.stop_times[trip.first_stop_time];
      // Scheduled arrival to arrival (dwell included), from the departure at the first stop:
      // the same quantity as the observed one below.
      const double sched = st[v.stop_index].arrival_s - (v.stop_index == 1
                                                             ? st[0].departure_s
                                                             : st[v.stop_index - 1].arrival_s);
      // From the previous stop's arrival (its dwell belongs to the segment), except at the
      // trip's first stop, where the bus waits for its departure time: from its departure.
      const double from_s = last.stop_index == 0 ? last.departure_s : last.arrival_s;
      const double dur = v.arrival_s - from_s;
      if (dur >= 0 && dur <= 4 * std::max(0.0, sched) + options_.outlier_slack_s) {
        const uint32_t pattern = network_->trip_pattern(v.trip);
        const uint32_t seg = PatternSegments(pattern)[v.stop_index];
        const int64_t day0 = DayStart(v.service_date);
        // The bus's pace against what the engine expected (before learning this traversal).
        // Segments shorter than kPaceMinS say little (a red light doubles them).
        PredictionSource unused = PredictionSource::kSchedule;
        const int64_t profile_s =
            ProfileTime(v.service_date, static_cast<int64_t>(from_s) - day0);
        const double est =
            Estimate(seg, sched, static_cast<int64_t>(from_s), day0, profile_s, &unused);
        if (est >= kPaceMinS && dur > 0) {
          const double lr = std::clamp(std::log(dur / est), -kPaceMaxLog, kPaceMaxLog);
          const double a = 1.0 - std::exp(-est / kPaceMemoryS);
          last.log_pace =
              last.pace_n == 0 ? lr : last.log_pace + a * PaceInnovation(lr - last.log_pace);
          ++last.pace_n;
        }
        ScoreHalfLives(seg, sched, dur, static_cast<int64_t>(from_s), day0, profile_s);
        Learn(seg, dur, static_cast<int64_t>(v.arrival_s), day0, profile_s);
      }
    }
  }
  last.trip = v.trip;
  last.service_date = v.service_date;
  last.stop_index = v.stop_index;
  last.arrival_s = v.arrival_s;
  last.departure_s = v.departure_s;
}

// Purges the pending errors of stops never visited (trip abandoned, bus lost) now and then.
void LayeredPredictor::PurgePending(int64_t now) {
  if (now - last_purge_s_ > 600) {
    last_purge_s_ = now;
    for (auto it = pending_.begin(); it != pending_.end();) {
      auto cur = it++;
      bool any = false;
      TripPending& tp = cur->second;
      for (size_t k = 0; k < tp.by_stop.size(); ++k) {
        if (tp.newest_s[k] != kNoSample && tp.newest_s[k] < now - 3 * 3600) tp.Clear(k);
        any = any || tp.newest_s[k] != kNoSample;
      }
      if (!any) pending_.erase(cur);
    }
  }
}

double LayeredPredictor::PaceOf(const std::string& vehicle_id) const {
  auto lv = last_visit_.find(vehicle_id);
  if (!options_.blend_layers || lv == last_visit_.end() || lv->second.pace_n < kPaceMinSegments) {
    return 1.0;
  }
  return std::exp(lv->second.log_pace);
}

void LayeredPredictor::LearnDepartureHabit(double x, double y) {
  const auto fx = static_cast<float>(x), fy = static_cast<float>(y);
  if (!std::isfinite(fx) || !std::isfinite(fy)) return;  // no departure (a model rejects them)
  HabitFit& h = habit_;
  const size_t cap = static_cast<size_t>(std::max(1, options_.layer_window_errors));
  if (h.pairs.size() < cap) {
    h.pairs.emplace_back(fx, fy);
  } else {
    h.pairs[h.next] = {fx, fy};
    h.next = (h.next + 1) % cap;
  }
  FitDepartureHabit();
}

void LayeredPredictor::FitDepartureHabit() {
  HabitFit& h = habit_;
  h.ready = false;
  if (static_cast<int>(h.pairs.size()) < options_.layer_min_errors) return;
  // Huber regression by iteratively reweighted least squares, the residuals' scale from their
  // median absolute value (1.4826 MAD: the standard deviation of normal residuals; kHuberK:
  // Huber's tuning, 95 % efficiency on normal errors). A departure attributed to another trip instance
  // (blind trip inference: 1400-2000 s "late" on the demo city's blanked morning) gets little
  // weight; by least squares a handful of them set the slope of all (0.97 with ids, 0.09 blind).
  std::vector<double>& abs_r = h.scratch;
  double a = 0, b = 0;
  for (int iter = 0; iter < 10; ++iter) {
    abs_r.clear();
    for (const auto& [px, py] : h.pairs) abs_r.push_back(std::fabs(py - (a + b * px)));
    auto mid = abs_r.begin() + static_cast<std::ptrdiff_t>(abs_r.size() / 2);
    std::nth_element(abs_r.begin(), mid, abs_r.end());
    const double scale = std::max(1.0, kHuberK * 1.4826 * *mid);
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (const auto& [px, py] : h.pairs) {
      const double r = std::fabs(py - (a + b * px));
      const double w = iter == 0 ? 1.0 : std::min(1.0, scale / std::max(r, 1e-9));
      sw += w;
      sx += w * px;
      sy += w * py;
      sxx += w * px * px;
      sxy += w * px * py;
    }
    const double mx = sx / sw, my = sy / sw, var = sxx / sw - mx * mx;
    if (!(var > 1.0)) return;
    b = std::clamp((sxy / sw - mx * my) / var, 0.0, 1.0);
    a = my - b * mx;
  }
  h.a = a;
  h.b = b;
  h.ready = true;
}

double LayeredPredictor::DepartureHabit(const std::string& vehicle_id) const {
  if (!options_.departure_habit || !habit_.ready) return 0;
  auto lv = last_visit_.find(vehicle_id);
  if (lv == last_visit_.end() || !std::isfinite(lv->second.departure_lateness)) return 0;
  return std::min(0.0, habit_.a + habit_.b * lv->second.departure_lateness);
}

double LayeredPredictor::LeavesAt(const std::string& vehicle_id, const TripView& t,
                                  double not_before) const {
  return std::max(not_before, static_cast<double>(t.dep(0)) + DepartureHabit(vehicle_id));
}

double LayeredPredictor::PaceInnovation(double innovation) {
  // Clipped with the scale measured before this innovation (kHuberK).
  const double scale = std::sqrt(std::numbers::pi / 2) * pace_abs_innovation_;
  const double clipped = pace_innovations_ >= options_.layer_min_errors
                             ? std::clamp(innovation, -kHuberK * scale, kHuberK * scale)
                             : innovation;
  pace_innovations_ = std::min(std::max(1, options_.layer_window_errors), pace_innovations_ + 1);
  pace_abs_innovation_ += (std::fabs(innovation) - pace_abs_innovation_) / pace_innovations_;
  return clipped;
}

bool LayeredPredictor::LeftFirstStop(const VehicleState& s, const TripView& tv) {
  if (s.state != MatchState::kLayover || !std::isfinite(s.dist_along_m)) return false;
  LastVisit& lv = last_visit_[s.vehicle_id];
  if (lv.waiting_trip != s.trip) {
    lv.waiting_trip = s.trip;
    lv.waiting_d = NAN;
    lv.left_first_stop = false;
  }
  const double d = s.dist_along_m;
  const VisitOptions& visits = tracker_.visits;
  const bool moved = std::isfinite(lv.waiting_d) && d >= lv.waiting_d + visits.moving_m;
  const bool back =
      std::isfinite(lv.waiting_d) && d < lv.waiting_d - tracker_.matching.back_tolerance_m;
  const bool may_leave = d > tv.dist(0) + visits.first_stop_zone_m &&
                         s.timestamp_s >= tv.dep(0) - visits.early_start_s;
  lv.left_first_stop = may_leave && (moved || (lv.left_first_stop && !back));
  lv.waiting_d = d;
  return lv.left_first_stop;
}

void LayeredPredictor::Predict(const VehicleState& s, std::vector<Prediction>* out) {
  out->clear();
  if (s.trip == kNoIndex) return;
  const bool off_route_ok = options_.predict_off_route && s.state == MatchState::kOffRoute;
  if (s.state != MatchState::kInService && s.state != MatchState::kLayover && !off_route_ok) return;
  TripView tv;
  if (!tv.Init(*network_, s.trip, s.day_start_s)) return;
  const int64_t now = s.timestamp_s;
  const int64_t limit = now + options_.max_horizon_s;

  PurgePending(now);

  // The pending predictions of the trip being emitted (looked up once per trip).
  uint32_t pending_trip = kNoIndex;
  TripPending* trip_pending = nullptr;
  auto pending_of = [&](const TripView& t, TripIdx trip) -> TripPending& {
    if (trip != pending_trip) {
      pending_trip = trip;
      trip_pending = &pending_[TripKey{trip, s.service_date}];
      if (trip_pending->by_stop.size() < t.n) trip_pending->Resize(t.n);
    }
    return *trip_pending;
  };
  // Delay propagation's delay (a started bus): now minus the scheduled time at its position.
  double dp_delay = NAN;
  // When the bus leaves its place, and whose blend weights its trip takes (Blend).
  double from_s = static_cast<double>(now);
  int blend_phase = 0;
  const double pace = PaceOf(s.vehicle_id);
  auto emit = [&](const TripView& t, TripIdx trip, uint32_t k, double arrival, double departure,
                  PredictionSource src, int phase) {
    std::array<float, kLayers> layer_delta;
    if (trip == s.trip) {
      arrival = Blend(t, k, blend_phase, now, from_s, dp_delay, pace, arrival, &layer_delta);
      // Not started but blended as started: not scored (when it leaves is no layer's error).
      if (phase != blend_phase) layer_delta.fill(NAN);
    } else {
      layer_delta.fill(NAN);
    }
    Prediction& p = out->emplace_back();
    StartPrediction(s, now, t, trip, k, &p);
    const int64_t raw = RoundToInt64(arrival);
    p.source = src;
    const int bin = HorizonBin(std::max<int64_t>(0, raw - now));
    Calibrate(phase, bin, now, raw, &p.predicted_arrival_s, &p.p10_s, &p.p90_s);
    KeepInOrder(out->size() >= 2 ? &(*out)[out->size() - 2] : nullptr, departure, &p);
    if (k > 0) {
      TripPending& tp = pending_of(t, trip);
      int64_t& newest = tp.newest_s[k];
      if (newest == kNoSample || newest + options_.sample_s <= now) {
        newest = now;
        tp.by_stop[k].push_back(Pending{now, raw, static_cast<uint8_t>(bin),
                                        static_cast<uint8_t>(phase), layer_delta});
      }
    }
  };

  // Chains segment estimates from stop `from_k` (time t) to the end of trip `t`.
  auto chain = [&](const TripView& t, TripIdx trip, uint32_t from_k, double time,
                   PredictionSource layer, int phase) -> double {
    const std::vector<uint32_t>& segs = PatternSegments(network_->trip_pattern(trip));
    PrefetchChain(t, segs, from_k + 1,
                  ProfileTime(s.service_date, static_cast<int64_t>(time) - t.day_start_s),
                  pending_of(t, trip));
    for (uint32_t k = from_k + 1; k < t.n; ++k) {
      const double sched = static_cast<double>(t.arr(k) - (k == 1 ? t.dep(0) : t.arr(k - 1)));
      time += Estimate(segs[k], sched, now, t.day_start_s,
                       ProfileTime(s.service_date, static_cast<int64_t>(time) - t.day_start_s),
                       &layer);
      if (time > static_cast<double>(limit)) return -1;
      emit(t, trip, k, time, -1, layer, phase);
    }
    return time;
  };

  // A bus in layover that has left its first stop is on its way: from its place, as started.
  const bool started = (s.state != MatchState::kLayover || LeftFirstStop(s, tv)) &&
                       std::isfinite(s.dist_along_m);
  double end_time;
  if (!started) {
    const double dep0 = LeavesAt(s.vehicle_id, tv, static_cast<double>(now));
    dp_delay = DelayAt(tv, s.dist_along_m, now, /*started=*/false);
    // Expected to leave before its timetable: blended as the started bus it will be (Blend).
    const bool early = dep0 < static_cast<double>(tv.dep(0));
    if (early) from_s = dep0;
    blend_phase = early ? 0 : 1;
    if (dep0 > static_cast<double>(limit)) return;
    emit(tv, s.trip, 0, dep0, dep0, PredictionSource::kSchedule, 1);
    end_time = chain(tv, s.trip, 0, dep0, PredictionSource::kSchedule, 1);
  } else {
    uint32_t j = std::max<uint32_t>(s.next_stop_index, tv.FirstStopAfter(s.dist_along_m));
    if (j == 0) j = 1;  // on the trip but not past the first stop: the first stop is behind
    if (j >= tv.n) {
      end_time = static_cast<double>(now);
    } else {
      const std::vector<uint32_t>& segs = PatternSegments(network_->trip_pattern(s.trip));
      PredictionSource layer = PredictionSource::kSchedule;
      dp_delay = DelayAt(tv, s.dist_along_m, now, /*started=*/true);
      const double span = tv.dist(j) - tv.dist(j - 1);
      const double frac =
          span > 0 ? std::clamp((tv.dist(j) - s.dist_along_m) / span, 0.0, 1.0) : 0.0;
      const double sched = static_cast<double>(tv.arr(j) - (j == 1 ? tv.dep(0) : tv.arr(j - 1)));
      double t = static_cast<double>(now) +
                 frac * Estimate(segs[j], sched, now, tv.day_start_s,
                                 ProfileTime(s.service_date, now - tv.day_start_s), &layer);
      if (t > static_cast<double>(limit)) return;
      emit(tv, s.trip, j, t, -1, layer, 0);
      end_time = chain(tv, s.trip, j, t, layer, 0);
    }
  }
  if (!options_.predict_next_trip || end_time < 0) return;
  std::optional<TripIdx> next = network_->NextTripInBlock(s.trip);
  if (!next) return;
  TripView nv;
  if (!nv.Init(*network_, *next, s.day_start_s)) return;
  const double dep0 = LeavesAt(s.vehicle_id, nv, end_time);
  if (dep0 > static_cast<double>(limit)) return;
  emit(nv, *next, 0, dep0, dep0, PredictionSource::kSchedule, 1);
  chain(nv, *next, 0, dep0, PredictionSource::kSchedule, 1);
}

int64_t LayeredPredictor::segments_learned() const {
  int64_t n = 0;
  for (const SegStats& s : segs_) n += s.w[kLongest] > 0;
  return n;
}

// ---------------------------------------------------------------- persistence

std::string LayeredPredictor::Serialize() const {
  const GtfsFeed& feed = network_->feed();
  std::string out(kMagic);
  out.push_back('\n');
  char buf[64];
  for (size_t i = 0; i < segs_.size(); ++i) {
    const SegStats& s = segs_[i];
    if (s.w[kLongest] <= 0) continue;
    std::snprintf(buf, sizeof buf, "\t%.17g\t%.17g\t%lld\n", s.w[kLongest], s.wd[kLongest],
                  static_cast<long long>(s.t_last));
    absl::StrAppend(&out, "seg\t", feed.routes[s.route].id, "\t", feed.stops[s.from].id, "\t",
                    feed.stops[s.to].id, buf);
  }
  for (size_t seg = 0; seg < segs_.size(); ++seg) {  // by (segment, bucket)
    for (size_t bucket = 0; bucket < profile_.size(); ++bucket) {
      if (seg >= profile_[bucket].size()) continue;
      const Profile& p = profile_[bucket][seg];
      if (!p.present) continue;
      const SegStats& s = segs_[seg];
      std::snprintf(buf, sizeof buf, "\t%u\t%.9g\t%.9g\n", static_cast<unsigned>(bucket),
                    p.mean_s, p.n);
      absl::StrAppend(&out, "tod\t", feed.routes[s.route].id, "\t", feed.stops[s.from].id, "\t",
                      feed.stops[s.to].id, buf);
    }
  }
  for (int ph = 0; ph < kPhases; ++ph) {
    for (int b = 0; b < kNumBins; ++b) {
      const ErrorBin& e = bins_[ph][b];
      if (e.ring.empty()) continue;
      absl::StrAppend(&out, "err\t", ph, "\t", b);
      // Oldest first, so a reload keeps the window order.
      for (size_t i = 0; i < e.ring.size(); ++i) {
        std::snprintf(buf, sizeof buf, "\t%.9g", e.ring[(e.next + i) % e.ring.size()]);
        out += buf;
      }
      out.push_back('\n');
    }
  }
  AppendLayerScores(&out);
  // The departure habit's pairs, oldest first (a reload fits the same line).
  if (!habit_.pairs.empty()) {
    out += "habit";
    const size_t n = habit_.pairs.size();
    for (size_t i = 0; i < n; ++i) {
      const auto& [x, y] = habit_.pairs[(habit_.next + i) % n];
      std::snprintf(buf, sizeof buf, "\t%.9g\t%.9g", x, y);
      out += buf;
    }
    out.push_back('\n');
  }
  // What the tracker learned of this feed (chord bends, GPS noise: Network::AppendLearned).
  network_->AppendLearned(&out);
  return out;
}

// The blend's scores: "lay <route> <phase> <bin> <n> <cov row by row>" for all routes together
// (an empty route). A route's own scores are not saved: one day's of a route rest on that day's
// few arrivals of it and on the buses that ran it. Loaded as a prior (worth layer_min_errors of
// that route's arrivals in every bin) they made day 2 of the accuracy suite worse than without a
// model at 3-6 min (51.4 vs 50.9 s MAE: the not-started predictions of routes 5, 3 and 2, whose
// day-1 scores from 4.5 min ahead put all the weight on the pace of day 1's buses); all routes'
// scores carry over (without the routes' own, day 2 is better than without a model in every
// bucket; bench/RESULTS.md, "Day 2 after day 1: a route's own blend scores").
void LayeredPredictor::AppendLayerScores(std::string* out) const {
  char buf[32];
  // Saved as the prior a load makes of them (at most layer_min_errors errors, see
  // ParseLayerScore): a model saved, loaded and saved again is the same bytes.
  const int32_t prior_n = std::max(1, options_.layer_min_errors);
  for (int ph = 0; ph < kPhases; ++ph) {
    for (int b = 0; b < kNumBins; ++b) {
      const LayerScore& sc = layer_all_[ph][b];
      if (sc.n <= 0) continue;
      absl::StrAppend(out, "lay\t\t", ph, "\t", b, "\t", std::min(sc.n, prior_n));
      for (const auto& row : sc.cov) {
        for (double v : row) {
          std::snprintf(buf, sizeof buf, "\t%.9g", v);
          *out += buf;
        }
      }
      out->push_back('\n');
    }
  }
}

// One "lay" record into `fresh`; false: malformed.
bool LayeredPredictor::ParseLayerScore(const std::vector<absl::string_view>& f,
                                       LayeredPredictor* fresh) const {
  int ph = 0, b = 0, n = 0;
  if (f.size() != 5 + kLayers * kLayers || !absl::SimpleAtoi(f[2], &ph) ||
      !absl::SimpleAtoi(f[3], &b) || !absl::SimpleAtoi(f[4], &n) || ph < 0 || ph >= kPhases ||
      b < 0 || b >= kNumBins || n <= 0) {
    return false;
  }
  LayerScore sc;
  // Yesterday's scores are a prior worth layer_min_errors errors: today's take over quickly.
  sc.n = std::min(n, std::max(1, options_.layer_min_errors));
  for (int i = 0; i < kLayers * kLayers; ++i) {
    if (!absl::SimpleAtod(f[5 + i], &sc.cov[i / kLayers][i % kLayers])) return false;
  }
  // A route's own scores (models saved before 2026-12-07 have them) are not loaded: see
  // AppendLayerScores.
  if (f[1].empty()) fresh->layer_all_[ph][b] = sc;
  return true;
}

absl::Status LayeredPredictor::Deserialize(const std::string& bytes) {
  std::vector<absl::string_view> lines = absl::StrSplit(bytes, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction model: line 1 is not the header '", kMagic, "'"));
  }
  // Parse into fresh tables; swap in only when everything parsed.
  LayeredPredictor fresh(network_, options_, tracker_);
  int64_t skipped = 0;
  std::vector<std::vector<absl::string_view>> learned;  // Network::LoadLearned's records
  for (size_t li = 1; li < lines.size(); ++li) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[li], '\t');
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("prediction model: line ", li + 1, ": ", what, ": '", lines[li], "'"));
    };
    if (f[0] == "seg" || f[0] == "tod") {
      if (f.size() != 7u) return bad("wrong number of fields");
      auto route = network_->FindRoute(f[1]);
      auto from = network_->FindStop(f[2]);
      auto to = network_->FindStop(f[3]);
      if (!route || !from || !to) {
        ++skipped;
        continue;
      }
      const uint32_t id = fresh.SegmentId(*route, *from, *to);
      if (f[0] == "seg") {
        SegStats& s = fresh.segs_[id];
        int64_t t = 0;
        double w = 0, wd = 0;
        if (!absl::SimpleAtod(f[4], &w) || !absl::SimpleAtod(f[5], &wd) ||
            !absl::SimpleAtoi(f[6], &t) || !(w >= 0)) {
          return bad("bad number");
        }
        // The model keeps the longest half-life's mean; the shorter candidates start from it.
        s.w.fill(w);
        s.wd.fill(wd);
        s.t_last = t;
      } else {
        uint32_t bucket = 0;
        float mean = 0, n = 0;
        if (!absl::SimpleAtoi(f[4], &bucket) || bucket > 255 || !absl::SimpleAtof(f[5], &mean) ||
            !absl::SimpleAtof(f[6], &n)) {
          return bad("bad number");
        }
        Profile& p = fresh.ProfileAt(id, bucket);
        p.mean_s = mean;
        p.n = n;
      }
    } else if (f[0] == "lay") {
      if (!ParseLayerScore(f, &fresh)) return bad("bad blend score");
    } else if (f[0] == "habit") {
      if (f.size() % 2 != 1) return bad("wrong number of fields");
      for (size_t i = 1; i + 1 < f.size(); i += 2) {
        float x = 0, y = 0;
        // SimpleAtof takes inf and nan, which no departure is (and a fit would not survive).
        if (!absl::SimpleAtof(f[i], &x) || !absl::SimpleAtof(f[i + 1], &y) ||
            !std::isfinite(x) || !std::isfinite(y)) {
          return bad("bad departure pair");
        }
        fresh.habit_.pairs.emplace_back(x, y);
      }
    } else if (Network::IsLearnedRecord(f[0])) {
      learned.push_back(std::move(f));
    } else if (f[0] == "err") {
      int ph = 0, b = 0;
      if (f.size() < 3 || !absl::SimpleAtoi(f[1], &ph) || !absl::SimpleAtoi(f[2], &b) || ph < 0 ||
          ph >= kPhases || b < 0 || b >= kNumBins) {
        return bad("bad error bin");
      }
      for (size_t i = 3; i < f.size(); ++i) {
        float e = 0;
        if (!absl::SimpleAtof(f[i], &e)) return bad("bad error value");
        fresh.AddError(ph, b, e);
      }
    } else {
      return bad("unknown record kind");
    }
  }
  // Models saved before 2026-12-08 have no habit and learned records: nothing learned.
  const size_t cap = static_cast<size_t>(std::max(1, options_.layer_window_errors));
  if (fresh.habit_.pairs.size() > cap) {
    fresh.habit_.pairs.erase(fresh.habit_.pairs.begin(),
                             fresh.habit_.pairs.end() - static_cast<std::ptrdiff_t>(cap));
  }
  fresh.FitDepartureHabit();
  absl::StatusOr<int64_t> learned_skipped = network_->LoadLearned(learned);
  if (!learned_skipped.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction model: ", learned_skipped.status().message()));
  }
  skipped += *learned_skipped;
  segs_ = std::move(fresh.segs_);
  seg_lookup_ = std::move(fresh.seg_lookup_);
  profile_ = std::move(fresh.profile_);
  profile_entries_ = fresh.profile_entries_;
  pattern_segs_ = std::move(fresh.pattern_segs_);
  bins_ = std::move(fresh.bins_);
  layer_all_ = fresh.layer_all_;
  layer_by_route_ = std::move(fresh.layer_by_route_);
  habit_ = std::move(fresh.habit_);
  for (auto& ph : bins_) {
    for (auto& e : ph) e.added_at_compute = -1;
  }
  skipped_entries_ = skipped;
  return absl::OkStatus();
}

}  // namespace smartbus
