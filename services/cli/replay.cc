// smartbus replay --gtfs FEED... --positions CSV [--matches OUT] [--visits OUT]
//                 [--predictions OUT] [--report OUT.json] [--model-in FILE] [--model-out FILE]
//
// Runs the engine (the same code the server runs per shard) over recorded fixes in timestamp
// order (stable: equal timestamps keep the file order), with the clock set by the fixes, and
// writes the Matches CSV (exactly one row per input fix) and the Stop visits CSV (FORMATS.md).
// --predictions writes every prediction (Predictions CSV); --model-in starts from a saved
// prediction model (default: cold), --model-out saves the learned one.
// --report writes a JSON object with the tracker's counts and, under "prediction", the accuracy
// report of SmartBus's predictor and of the two baselines (schedule, oba) scored against the
// stop visits observed later in the same trace.
// --arrival-order keeps the file's order instead (as a server receives the fixes): a row older
// than its vehicle's newest one is a late fix, merged into the past by the backfill
// (services/core/engine/backfill.h) the way smartbusd --backfill does.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/core/common/status_macros.h"
#include "services/core/engine/engine.h"
#include "services/core/engine/prediction_listener.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/tracking/csv_io.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"
#include "services/files/model_file.h"

namespace smartbus::cli {
namespace {

constexpr const char* kReplayUsage =
    "usage: smartbus replay --gtfs FEED... --positions CSV [--matches OUT] [--visits OUT]\n"
    "                       [--predictions OUT] [--report OUT.json] [--model-in FILE]\n"
    "                       [--model-out FILE] [--skip-bad-rows] [--arrival-order] [--quiet]\n"
    "  --arrival-order  fixes in file order (late rows are backfilled, as by smartbusd)\n"
    "  FEED: a GTFS directory or .zip (several: repeat --gtfs or list them after it)\n";

// Writes the tracker's outputs to the CSV writers.
class CsvListener : public EngineListener {
 public:
  CsvListener(MatchesCsvWriter* matches, StopVisitsCsvWriter* visits)
      : matches_(matches), visits_(visits) {}
  void OnStopVisit(const StopVisit& v) override {
    if (visits_ && status_.ok()) status_ = visits_->Write(v);
  }
  void OnMatch(const MatchResult& m) override {
    if (matches_ && status_.ok()) status_ = matches_->Write(m);
  }
  const absl::Status& status() const { return status_; }

 private:
  MatchesCsvWriter* matches_;
  StopVisitsCsvWriter* visits_;
  absl::Status status_;
};

int ReplayFail(const absl::Status& s) {
  std::fprintf(stderr, "smartbus replay: %s\n", std::string(s.message()).c_str());
  return 1;
}

// Reads --positions into `fixes` and the order to process them in: by timestamp (stable), or
// the file's order with `arrival_order`.
absl::Status ReadFixes(const Args& args, bool arrival_order, std::vector<Fix>* fixes,
                       PositionsReadStats* read_stats, std::vector<uint32_t>* order) {
  SB_RETURN_IF_ERROR(
      ReadPositionsCsv(args.Get("positions"), fixes, read_stats, args.Has("skip-bad-rows")));
  order->resize(fixes->size());
  std::iota(order->begin(), order->end(), 0u);
  if (!arrival_order)
    std::stable_sort(order->begin(), order->end(), [&](uint32_t a, uint32_t b) {
      return (*fixes)[a].timestamp_s < (*fixes)[b].timestamp_s;
    });
  return absl::OkStatus();
}

// The --report's "tracking" object: the tracker's counts, rejections by reason, matches by
// state.
nlohmann::json TrackingJson(const Tracker& tracker, const PositionsReadStats& read_stats) {
  const TrackerStats& st = tracker.stats();
  nlohmann::json tracking = {
      {"fixes", st.fixes},
      {"accepted", st.accepted},
      {"stop_visits", st.stop_visits},
      {"trips_started", st.trips_started},
      {"unknown_trip_ids", st.unknown_trip_ids},
      {"trip_id_mismatches", st.trip_id_mismatches},
      {"inferred_assignments", st.inferred_assignments},
      {"block_transitions", st.block_transitions},
      {"reanchors", st.reanchors},
      {"vehicles", tracker.num_vehicles()},
      {"skipped_rows", read_stats.skipped_rows},
  };
  nlohmann::json rejected = nlohmann::json::object();
  for (int r = 1; r < static_cast<int>(st.rejected.size()); ++r)
    rejected[std::string(RejectReasonName(static_cast<RejectReason>(r)))] = st.rejected[r];
  tracking["rejected"] = rejected;
  nlohmann::json states = nlohmann::json::object();
  for (int s = 0; s < static_cast<int>(st.by_state.size()); ++s)
    states[std::string(MatchStateName(static_cast<MatchState>(s)))] = st.by_state[s];
  tracking["states"] = states;
  return tracking;
}

// Writes the --report JSON: the tracking counts and the prediction accuracy report.
absl::Status WriteReport(const std::string& path, const nlohmann::json& tracking,
                         const PredictionHarness& harness) {
  nlohmann::json report = {{"tracking", tracking}};
  report["prediction"] = nlohmann::json::parse(harness.ReportJson());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  std::string text = report.dump(2) + "\n";
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return absl::OkStatus();
}

}  // namespace

int RunReplay(int argc, char** argv) {
  Args args;
  int code;
  if (!ParseCommandArgs("replay", kReplayUsage, argc, argv,
                        {"skip-bad-rows", "quiet", "arrival-order"},
                        {"gtfs", "positions", "matches", "visits", "predictions", "report",
                         "model-in", "model-out"},
                        &args, &code))
    return code;
  std::vector<std::string> feeds = args.GetAll("gtfs");
  for (const std::string& p : args.positional()) feeds.push_back(p);
  if (feeds.empty() || !args.Has("positions")) {
    std::fprintf(stderr, "smartbus replay: --gtfs and --positions are required\n%s", kReplayUsage);
    return 2;
  }
  const bool quiet = args.Has("quiet");
  auto t0 = std::chrono::steady_clock::now();

  auto network = LoadNetwork(feeds);
  if (!network.ok()) return ReplayFail(network.status());
  std::shared_ptr<const Network> net = *network;

  std::vector<Fix> fixes;
  PositionsReadStats read_stats;
  std::vector<uint32_t> order;
  const bool arrival_order = args.Has("arrival-order");
  if (auto s = ReadFixes(args, arrival_order, &fixes, &read_stats, &order); !s.ok())
    return ReplayFail(s);
  auto t1 = std::chrono::steady_clock::now();

  MatchesCsvWriter matches(&net->feed());
  StopVisitsCsvWriter visits(&net->feed());
  if (args.Has("matches")) {
    if (auto s = matches.Open(args.Get("matches")); !s.ok()) return ReplayFail(s);
  }
  if (args.Has("visits")) {
    if (auto s = visits.Open(args.Get("visits")); !s.ok()) return ReplayFail(s);
  }
  CsvListener csv(args.Has("matches") ? &matches : nullptr,
                  args.Has("visits") ? &visits : nullptr);
  EngineOptions engine_options;
  engine_options.backfill.enabled = arrival_order;
  Engine engine(net, engine_options);
  engine.AddListener(&csv);
  // Prediction stage: only when something asks for it.
  const bool predict = args.Has("predictions") || args.Has("report") ||
                       args.Has("model-in") || args.Has("model-out");
  PredictionHarnessOptions prediction_options;
  prediction_options.tracker = engine_options.tracker;
  prediction_options.score = args.Has("report");
  prediction_options.baselines_enabled = args.Has("report");
  PredictionHarness harness(net, prediction_options);
  PredictionListener prediction_listener(&harness);
  PredictionsCsvWriter predictions_csv(net.get());
  if (predict) {
    if (args.Has("model-in")) {
      if (auto s = LoadModelFile(args.Get("model-in"), &harness.predictor()); !s.ok())
        return ReplayFail(s);
    }
    if (args.Has("predictions")) {
      if (auto s = predictions_csv.Open(args.Get("predictions")); !s.ok()) return ReplayFail(s);
      harness.SendPredictionsTo([&](const Prediction& p) { predictions_csv.Write(p); });
    }
    engine.AddListener(&prediction_listener);
  }
  for (uint32_t i : order) engine.Process(fixes[i]);
  engine.FlushLate(/*all=*/true);
  if (!csv.status().ok()) return ReplayFail(csv.status());
  if (auto s = predictions_csv.Close(); !s.ok()) return ReplayFail(s);
  if (args.Has("model-out")) {
    if (auto s = SaveModelFile(harness.predictor(), args.Get("model-out")); !s.ok())
      return ReplayFail(s);
  }
  if (auto s = matches.Close(); !s.ok()) return ReplayFail(s);
  if (auto s = visits.Close(); !s.ok()) return ReplayFail(s);
  auto t2 = std::chrono::steady_clock::now();

  nlohmann::json tracking = TrackingJson(engine.tracker(), read_stats);
  if (args.Has("report")) {
    if (auto s = WriteReport(args.Get("report"), tracking, harness); !s.ok()) return ReplayFail(s);
  }
  const TrackerStats& st = engine.tracker().stats();
  if (!quiet) {
    double load_s = std::chrono::duration<double>(t1 - t0).count();
    double run_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr,
                 "smartbus replay: %lld fixes (%lld accepted), %lld stop visits, %zu vehicles, "
                 "%lld predictions; load %.2f s, engine+write %.3f s\n",
                 static_cast<long long>(st.fixes), static_cast<long long>(st.accepted),
                 static_cast<long long>(st.stop_visits), engine.tracker().num_vehicles(),
                 static_cast<long long>(harness.predictions_made()), load_s, run_s);
  }
  return 0;
}

}  // namespace smartbus::cli
