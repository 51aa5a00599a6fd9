// LiveAccuracy (smartbusd's online scorer) on a replay: the Engine (backfill on, fixes in file
// order, as `smartbus replay --arrival-order`) and the LayeredPredictor record the stream of
// predictions and visits once; then LiveAccuracy is fed that stream alone (timed: its cost on
// the per-fix path) for several thinning settings, and its figures are set against the offline
// AccuracyScorer on the same stream. Prints the time per prediction and per fix, the peak of
// predictions held and of memory, and the figures.
//
// usage: live_accuracy_bench --gtfs DIR --positions CSV [--thin S,S,...]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "services/core/engine/engine.h"
#include "services/core/network/network.h"
#include "services/core/prediction/live_accuracy.h"
#include "services/core/prediction/predictor.h"
#include "services/core/prediction/scorer.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"

namespace {

using namespace smartbus;  // NOLINT: a bench
using Clock = std::chrono::steady_clock;

struct Event {
  bool visit;
  int64_t clock_s;  // engine clock after the fix
  uint32_t route;
  Prediction p;
  StopVisit v;
};

class Recorder : public EngineListener {
 public:
  Recorder(std::shared_ptr<const Network> net, std::vector<Event>* out)
      : net_(net), predictor_(net), out_(out) {}
  void OnStopVisit(const StopVisit& v) override {
    predictor_.ObserveVisit(v);
    out_->push_back({true, clock_, net_->feed().trips[v.trip].route, {}, v});
  }
  void OnVehicleUpdate(const VehicleState& s) override {
    predictor_.Predict(s, &buf_);
    for (const Prediction& p : buf_)
      out_->push_back({false, clock_, net_->feed().trips[p.trip].route, p, {}});
  }
  int64_t clock_ = 0;

 private:
  std::shared_ptr<const Network> net_;
  LayeredPredictor predictor_;
  std::vector<Prediction> buf_;
  std::vector<Event>* out_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string gtfs, positions, thin = "0,30,60,120";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--gtfs") gtfs = argv[i + 1];
    else if (a == "--positions") positions = argv[i + 1];
    else if (a == "--thin") thin = argv[i + 1];
  }
  if (gtfs.empty() || positions.empty()) {
    std::fprintf(stderr, "usage: live_accuracy_bench --gtfs DIR --positions CSV [--thin S,...]\n");
    return 2;
  }
  auto feed = LoadGtfs({gtfs});
  if (!feed.ok()) return std::fprintf(stderr, "%s\n", feed.status().ToString().c_str()), 1;
  auto net = Network::Build(std::move(*feed));
  if (!net.ok()) return std::fprintf(stderr, "%s\n", net.status().ToString().c_str()), 1;
  std::vector<Fix> fixes;
  if (auto s = ReadPositionsCsv(positions, &fixes); !s.ok())
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  std::vector<Event> ev;
  Recorder rec(*net, &ev);
  EngineOptions eo;
  eo.backfill.enabled = true;
  Engine engine(*net, eo);
  engine.AddListener(&rec);
  size_t vehicles_max = 0;
  for (const Fix& f : fixes) {
    rec.clock_ = std::max<int64_t>(rec.clock_, f.timestamp_s);
    engine.Process(f);
    vehicles_max = std::max(vehicles_max, engine.tracker().num_vehicles());
  }
  engine.FlushLate(true);
  AccuracyScorer offline;
  int64_t preds = 0;
  for (const Event& e : ev) {
    if (e.visit) offline.AddObserved(e.v);
    else offline.AddPrediction(e.p), ++preds;
  }
  const AccuracyReport off = offline.Compute();
  std::printf("%zu fixes, %lld predictions, %zu vehicles; offline scorer holds %.1f MB at the end\n",
              fixes.size(), static_cast<long long>(preds), vehicles_max, preds * 32 / 1e6);
  std::printf("%-8s %9s %8s %8s %10s %9s %7s %7s %7s %7s\n", "thin_s", "ns/pred", "ns/fix",
              "held_max", "bytes_max", "B/vehicle", "MBTA%", "TA%", "P1090%", "MAE_s");
  std::printf("%-8s %9s %8s %8s %10s %9s %7.2f %7.2f %7.2f %7.1f\n", "offline", "-", "-", "-", "-",
              "-", off.mbta_pooled_pct, off.transit_score_pct, off.overall.p10_p90_pct,
              off.overall.mae_s);
  for (absl::string_view t : absl::StrSplit(thin, ',')) {
    int64_t thin_s = 0;
    if (!absl::SimpleAtoi(t, &thin_s)) continue;
    LiveAccuracyOptions o;
    o.min_interval_s = thin_s;
    LiveAccuracy live(o);
    int64_t held_max = 0, bytes_max = 0;
    double secs = 0;
    size_t i = 0;
    std::vector<Prediction> batch;
    auto route_of = [&](uint32_t trip) { return (*net)->feed().trips[trip].route; };
    while (i < ev.size()) {  // in chunks: the peak is sampled between them (untimed)
      const size_t end = std::min(ev.size(), i + 20000);
      const auto t0 = Clock::now();
      while (i < end) {
        const Event& e = ev[i];
        if (e.visit) {
          live.AddObserved(e.v, e.route, true);
          ++i;
        } else {  // one vehicle update's predictions at once, as a shard passes them
          batch.clear();
          while (i < ev.size() && !ev[i].visit && ev[i].p.made_at_s == e.p.made_at_s &&
                 ev[i].p.vehicle_id == e.p.vehicle_id)
            batch.push_back(ev[i++].p);
          live.AddPredictions(batch, route_of);
        }
        live.Advance(e.clock_s);
      }
      secs += std::chrono::duration<double>(Clock::now() - t0).count();
      const LiveAccuracyStats st = live.Stats();
      held_max = std::max(held_max, st.predictions_held);
      bytes_max = std::max(bytes_max, st.memory_bytes);
    }
    live.FinishAll();
    AccuracyTally tally;
    live.Collect(0, 0, {}, &tally, nullptr);
    const AccuracyReport r = tally.Report();
    std::printf("%-8lld %9.0f %8.0f %8lld %10lld %9.0f %7.2f %7.2f %7.2f %7.1f\n",
                static_cast<long long>(thin_s), secs * 1e9 / preds, secs * 1e9 / fixes.size(),
                static_cast<long long>(held_max), static_cast<long long>(bytes_max),
                static_cast<double>(bytes_max) / vehicles_max, r.mbta_pooled_pct,
                r.transit_score_pct, r.overall.p10_p90_pct, r.overall.mae_s);
  }
  return 0;
}
