#pragma once
// Helpers for the tracking tests: hand-made networks (a GtfsFeed built in code, then
// Network::Build), synthetic GPS traces along a shape, and a small runner that feeds fixes to a
// Tracker and keeps what came out.

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/core/network/network.h"
#include "services/core/tracking/tracker.h"
#include "tests/core/network/feed_builder.h"

namespace smartbus::testing {

inline const LocalProjection& Plane() {
  static const LocalProjection* p = new LocalProjection({38.9, -77.03});
  return *p;
}
inline LatLon At(double x, double y) { return Plane().Reverse({x, y}); }

// The drawn out-and-back route: a street 2 km long running east; the bus goes out on the south
// side (y = 0) and comes back on the north side (y = 12 m) -- with 8 m GPS noise the two passes
// overlap, so only motion tells them apart. Stops every 400 m each way. Trip "OUT" then "BACK"
// (block B1) and a second pair an hour later (block B2).
struct OutAndBack {
  std::shared_ptr<const Network> net;
  int32_t date = 20260302;  // a Monday
  int64_t day_start_s = 0;  // epoch of the service day
  static constexpr int32_t kOutStart = 10 * 3600;  // 10:00
  static constexpr int32_t kStep = 60;              // s between stops (400 m: 6.7 m/s)
};

inline OutAndBack MakeOutAndBack() {
  FeedBuilder b;
  std::vector<LatLon> shape = {At(0, 0), At(1000, 0), At(2000, 0), At(2000, 12), At(1000, 12),
                               At(0, 12)};
  b.AddShape("SH", shape);
  std::vector<std::string> out, back;
  for (int i = 0; i <= 5; ++i) {
    std::string id = "o" + std::to_string(i);
    b.AddStop(id, At(i * 400.0, -6));
    out.push_back(id);
  }
  for (int i = 0; i <= 5; ++i) {
    std::string id = "b" + std::to_string(i);
    b.AddStop(id, At(2000 - i * 400.0, 18));
    back.push_back(id);
  }
  // One pattern over the whole out-and-back shape for OUT/BACK would need two shapes; use the
  // full shape for a round trip "RT" (stops out then back), and short-turn pairs for blocks.
  std::vector<std::string> round = out;
  round.insert(round.end(), back.begin() + 1, back.end());
  b.AddTrip("RT", round, OutAndBack::kOutStart, OutAndBack::kStep, "SH", "S", 0, "B1");
  b.AddTrip("RT2", round, OutAndBack::kOutStart + 1800, OutAndBack::kStep, "SH", "S", 0, "B1");
  b.AddTrip("RT3", round, OutAndBack::kOutStart + 3600, OutAndBack::kStep, "SH", "S", 0, "B2");
  OutAndBack r;
  r.net = b.Build();
  if (r.net) r.day_start_s = absl::ToUnixSeconds(r.net->ServiceDayStart(r.date));
  return r;
}

// One synthetic fix with the truth it came from.
struct TruthFix {
  Fix fix;
  double true_d = 0;
};

struct TraceOptions {
  double sigma_m = 8;            // Gaussian noise per axis / sqrt(2) ... (radial sigma)
  double outlier_rate = 0.03;    // fraction of fixes displaced by outlier_m
  double outlier_m = 60;
  int64_t every_s = 10;
  uint32_t seed = 1;
  bool with_trip_id = true;
  bool with_heading = true;
};

// A bus driving `poly` from d0 to d1 starting at t0: cruising speed varies between 4 and
// 12 m/s, with a 20 s stop every 400 m. Noise: each axis N(0, sigma/sqrt(2)), so the radial
// error has RMS sigma; outliers are moved outlier_m in a random direction.
inline std::vector<TruthFix> MakeTrace(const Network& net, const Polyline& poly,
                                       const std::string& vehicle, const std::string& trip_id,
                                       double d0, double d1, int64_t t0,
                                       const TraceOptions& o) {
  std::mt19937 rng(o.seed);
  std::normal_distribution<double> noise(0, o.sigma_m / std::sqrt(2.0));
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<TruthFix> out;
  double d = d0, t = static_cast<double>(t0);
  double speed = 8;
  double next_stop = std::floor(d0 / 400) * 400 + 400;
  double dwell_left = 0;
  while (d < d1) {
    for (int s = 0; s < o.every_s; ++s) {
      if (dwell_left > 0) {
        dwell_left -= 1;
        continue;
      }
      if (u(rng) < 0.05) speed = 4 + 8 * u(rng);
      d += speed;
      if (d >= next_stop) {
        d = std::min(next_stop, d1);
        next_stop += 400;
        dwell_left = 20;
      }
    }
    t += static_cast<double>(o.every_s);
    d = std::min(d, d1);
    Vec2 p = poly.PointAt(d);
    Vec2 e{noise(rng), noise(rng)};
    if (u(rng) < o.outlier_rate) {
      double a = 2 * M_PI * u(rng);
      e = {o.outlier_m * std::cos(a), o.outlier_m * std::sin(a)};
    }
    LatLon ll = net.projection().Reverse(p + e);
    TruthFix tf;
    tf.fix.vehicle_id = vehicle;
    tf.fix.timestamp_s = static_cast<int64_t>(t);
    tf.fix.lat = ll.lat;
    tf.fix.lon = ll.lon;
    if (o.with_trip_id) tf.fix.trip_id = trip_id;
    bool moving = dwell_left <= 0 && speed > 0;
    tf.fix.speed_mps = moving ? static_cast<float>(speed) : 0.f;
    if (o.with_heading && moving)
      tf.fix.bearing_deg = static_cast<float>(BearingDeg(poly.DirectionAt(d)));
    tf.true_d = d;
    out.push_back(tf);
  }
  return out;
}

// Feeds fixes to a tracker (clock = the fix time) and keeps every output.
struct Run {
  std::vector<MatchResult> matches;
  std::vector<StopVisit> visits;
};
inline Run Feed(Tracker& tr, const std::vector<Fix>& fixes) {
  Run r;
  for (const Fix& f : fixes) {
    MatchResult m;
    tr.Process(f, f.timestamp_s, &m, &r.visits);
    r.matches.push_back(m);
  }
  return r;
}

}  // namespace smartbus::testing
