// Timed replay with predictions: the tracking Engine over a positions CSV with the prediction
// harness (SmartBus predictor + the two baselines, each scored) attached, as `smartbus replay
// --predictions --report` does. Prints the phases' wall times and the accuracy tables.
//
// usage: prediction_replay --gtfs DIR --positions CSV [--predictions OUT.csv] [--report OUT.json]
//                          [--model-in FILE] [--model-out FILE] [--no-baselines] [--repeat N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/prediction/harness.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"
#include "services/files/model_file.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

class Adapter : public smartbus::EngineListener {
 public:
  explicit Adapter(smartbus::PredictionHarness* h) : h_(h) {}
  void OnStopVisit(const smartbus::StopVisit& v) override { h_->OnStopVisit(v); }
  void OnVehicleUpdate(const smartbus::VehicleState& s) override {
    if (debug_vehicle_ != nullptr && s.vehicle_id == debug_vehicle_) {
      std::fprintf(stderr, "%lld trip=%u state=%d d=%.0f next=%u delay=%.0f\n",
                   static_cast<long long>(s.timestamp_s), s.trip.value(), static_cast<int>(s.state),
                   s.dist_along_m, s.next_stop_index, s.delay_s);
    }
    h_->OnVehicleUpdate(s);
  }
  const char* debug_vehicle_ = std::getenv("SB_DEBUG_VEHICLE");

 private:
  smartbus::PredictionHarness* h_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string gtfs, positions, predictions, report, model_in, model_out;
  bool baselines = true, next_trip = true, shift = true;
  int max_shift = -1;
  double half_life_s = -1, schedule_weight = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--gtfs") gtfs = next();
    else if (a == "--positions") positions = next();
    else if (a == "--predictions") predictions = next();
    else if (a == "--report") report = next();
    else if (a == "--model-in") model_in = next();
    else if (a == "--model-out") model_out = next();
    else if (a == "--no-baselines") baselines = false;
    else if (a == "--no-next-trip") next_trip = false;
    else if (a == "--no-shift") shift = false;
    else if (a == "--max-shift-s") max_shift = std::atoi(next().c_str());
    else if (a == "--half-life-s") half_life_s = std::atof(next().c_str());
    else if (a == "--schedule-weight") schedule_weight = std::atof(next().c_str());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (gtfs.empty() || positions.empty()) {
    std::fprintf(stderr, "usage: prediction_replay --gtfs DIR --positions CSV [...]\n");
    return 2;
  }
  auto t0 = Clock::now();
  auto feed = smartbus::LoadGtfs({gtfs});
  if (!feed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  auto net = smartbus::Network::Build(std::move(*feed));
  if (!net.ok()) {
    std::fprintf(stderr, "%s\n", std::string(net.status().message()).c_str());
    return 1;
  }
  std::vector<smartbus::Fix> fixes;
  auto st = smartbus::ReadPositionsCsv(positions, &fixes);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double t_load = Since(t0);

  auto t1 = Clock::now();
  smartbus::PredictionHarnessOptions opts;
  opts.baselines_enabled = baselines;
  opts.predictor.predict_next_trip = next_trip;
  opts.predictor.window_shift = shift;
  if (max_shift >= 0) opts.predictor.max_shift_s = max_shift;
  if (half_life_s > 0) opts.predictor.half_life_s = half_life_s;
  if (schedule_weight >= 0) opts.predictor.schedule_weight = schedule_weight;
  opts.score = baselines || !report.empty();
  smartbus::PredictionHarness harness(*net, opts);
  if (!model_in.empty()) {
    st = smartbus::LoadModelFile(model_in, &harness.predictor());
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  smartbus::PredictionsCsvWriter predictions_csv(net->get());
  if (!predictions.empty()) {
    st = predictions_csv.Open(predictions);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
    harness.SendPredictionsTo([&](const smartbus::Prediction& p) { predictions_csv.Write(p); });
  }
  smartbus::Engine engine(*net);
  Adapter adapter(&harness);
  engine.AddListener(&adapter);
  for (const smartbus::Fix& f : fixes) engine.Process(f);
  st = predictions_csv.Close();
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double t_replay = Since(t1);

  auto t2 = Clock::now();
  if (!report.empty()) {
    std::ofstream(report) << harness.ReportJson() << "\n";
  }
  for (const auto& [name, r] : harness.Reports()) {
    std::printf("== %s\n%s", name.c_str(), smartbus::AccuracyReportTable(r).c_str());
  }
  const double t_report = Since(t2);
  if (!model_out.empty()) {
    st = smartbus::SaveModelFile(harness.predictor(), model_out);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  std::printf("fixes %zu, predictions %lld; load %.2f s, replay+predict%s %.2f s, score %.2f s\n",
              fixes.size(), static_cast<long long>(harness.predictions_made()), t_load,
              baselines ? "+baselines" : "", t_replay, t_report);
  return 0;
}
