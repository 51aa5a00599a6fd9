// smartbus shapes --gtfs FEED [--positions CSV] [--store URL] --out DIR [--all] [--json]
//                 [--skip-bad-rows]
//
// Learns the real path of every pattern without a GTFS shape from recorded fixes (the engine of
// `smartbus replay` runs over them with a PathLearner, services/core/paths/path_learner.h) and
// writes DIR: a copy of FEED whose shapes.txt holds the confident learned paths (with --all,
// every learned path) and whose trips.txt gives their trips the learned shape_id
// (`smartbus gtfs inspect DIR` loads it). Prints one line per learned pattern (route,
// direction, traversals, coverage, confident) or, with --json, that as a JSON array.
// --store URL (memory | redis://host[:port][/db], as smartbusd --redis): the evidence stored
// there (Store::ListLearnedPaths) is learned on from, and every learned path is stored back, so
// that learning goes on day after day (a pattern whose stops changed starts afresh).

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/core/engine/engine.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/core/paths/path_learner.h"
#include "services/core/paths/shapes_export.h"
#include "services/core/tracking/csv_io.h"
#include "services/store/store.h"
#include "services/files/feed_files.h"
#include "services/files/csv_files.h"
#include "services/files/files.h"

namespace smartbus::cli {
namespace {

constexpr const char* kShapesUsage =
    "usage: smartbus shapes --gtfs FEED [--positions CSV] [--store URL] --out DIR [--all]\n"
    "                       [--json] [--skip-bad-rows]\n"
    "  --store URL  learn on from the paths stored there and store them back\n"
    "               (memory | redis://host[:port][/db])\n"
    "  learns the paths of the patterns without shapes from the fixes and writes FEED with\n"
    "  them as shapes.txt to DIR\n"
    "  --all   also the paths that are not confident yet (too few runs or holes)\n"
    "  --station-m M --window-max-m M --min-samples N --iterations N --max-hole-m M\n"
    "  --min-coverage F --min-traversals N   the learner's parameters (PathLearnerOptions)\n";

// The learner's parameters from the command line (defaults: PathLearnerOptions).
absl::StatusOr<PathLearnerOptions> LearnerOptions(const Args& args) {
  PathLearnerOptions o;
  auto num = [&](const char* name, double* v) -> absl::Status {
    auto x = args.GetDouble(name, *v);
    if (!x.ok()) return x.status();
    *v = *x;
    return absl::OkStatus();
  };
  double min_samples = o.min_samples, iterations = o.iterations;
  double min_traversals = static_cast<double>(o.min_traversals);
  for (auto [name, v] : {std::pair<const char*, double*>{"station-m", &o.station_m},
                         {"window-max-m", &o.window_max_m}, {"min-samples", &min_samples},
                         {"iterations", &iterations}, {"max-hole-m", &o.max_hole_m},
                         {"min-coverage", &o.min_coverage}, {"min-traversals", &min_traversals}}) {
    if (auto s = num(name, v); !s.ok()) return s;
  }
  if (o.station_m < 1 || o.window_max_m < o.window_min_m || min_samples < 1 || iterations < 1)
    return absl::InvalidArgumentError(
        "--station-m must be >= 1, --window-max-m >= 30, --min-samples and --iterations >= 1");
  o.min_samples = static_cast<int>(min_samples);
  o.iterations = static_cast<int>(iterations);
  o.min_traversals = static_cast<int64_t>(min_traversals);
  return o;
}

int ShapesFail(const absl::Status& s) {
  std::fprintf(stderr, "smartbus shapes: %s\n", std::string(s.message()).c_str());
  return 1;
}

void PrintPaths(const std::vector<LearnedPath>& paths, bool json) {
  nlohmann::json out = nlohmann::json::array();
  for (const LearnedPath& p : paths) {
    if (json) {
      out.push_back({{"key", p.key},
                     {"route_id", p.route_id},
                     {"direction_id", p.direction_id},
                     {"shape_id", LearnedShapeId(p)},
                     {"traversals", p.traversals},
                     {"samples", p.samples.size()},
                     {"points", p.points.size()},
                     {"coverage", p.coverage},
                     {"longest_hole_m", p.longest_hole_m},
                     {"confident", p.confident}});
    } else {
      std::printf("%-32s route %-10s dir %2d  runs %5lld  samples %6zu  coverage %5.1f %%  hole %5.0f m  %s\n",
                  LearnedShapeId(p).c_str(), p.route_id.c_str(), p.direction_id,
                  static_cast<long long>(p.traversals), p.samples.size(), 100 * p.coverage,
                  p.longest_hole_m, p.confident ? "confident" : "not confident");
    }
  }
  if (json) std::printf("%s\n", out.dump(2).c_str());
}

// Runs the engine over the recorded fixes (in timestamp order) with the learner listening.
absl::Status Learn(const std::string& positions, bool skip_bad_rows,
                   const std::shared_ptr<const Network>& net,
                   const std::shared_ptr<PathLearner>& learner) {
  std::vector<Fix> fixes;
  PositionsReadStats read_stats;
  if (auto s = ReadPositionsCsv(positions, &fixes, &read_stats, skip_bad_rows); !s.ok()) return s;
  std::vector<uint32_t> order(fixes.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return fixes[a].timestamp_s < fixes[b].timestamp_s;
  });
  Engine engine(net);
  PathListener listener(learner);
  engine.AddListener(&listener);
  for (uint32_t i : order) engine.Process(fixes[i]);
  return absl::OkStatus();
}

// The evidence stored earlier; paths of patterns this feed no longer has are skipped (counted).
absl::Status RestoreFromStore(Store* store, PathLearner* learner) {
  auto stored = store->ListLearnedPaths();
  if (!stored.ok()) return stored.status();
  size_t skipped = 0;
  const size_t restored = learner->RestoreAll(*stored, &skipped);
  std::fprintf(stderr, "smartbus shapes: %zu stored paths restored from %s (%zu skipped: "
               "patterns this feed does not have)\n", restored, store->Describe().c_str(), skipped);
  return absl::OkStatus();
}

}  // namespace

int RunShapes(int argc, char** argv) {
  Args args;
  int code;
  if (!ParseCommandArgs("shapes", kShapesUsage, argc, argv, {"all", "json", "skip-bad-rows"},
                        {"gtfs", "positions", "out", "store", "station-m", "window-max-m",
                         "min-samples", "iterations", "max-hole-m", "min-coverage",
                         "min-traversals"},
                        &args, &code))
    return code;
  std::vector<std::string> feeds = args.GetAll("gtfs");
  for (const std::string& p : args.positional()) feeds.push_back(p);
  if (feeds.size() != 1 || !(args.Has("positions") || args.Has("store")) || !args.Has("out")) {
    std::fprintf(stderr,
                 "smartbus shapes: one --gtfs FEED, --out and --positions or --store are required\n%s",
                 kShapesUsage);
    return 2;
  }
  auto options = LearnerOptions(args);
  if (!options.ok()) {
    std::fprintf(stderr, "smartbus shapes: %s\n%s", std::string(options.status().message()).c_str(),
                 kShapesUsage);
    return 2;
  }
  auto network = LoadNetwork(feeds);
  if (!network.ok()) return ShapesFail(network.status());
  std::shared_ptr<const Network> net = *network;

  auto learner = std::make_shared<PathLearner>(net, *options);
  std::unique_ptr<Store> store;
  if (args.Has("store")) {
    auto opened = OpenStore(args.Get("store"));
    if (!opened.ok()) return ShapesFail(opened.status());
    store = *std::move(opened);
    if (auto s = RestoreFromStore(store.get(), learner.get()); !s.ok()) return ShapesFail(s);
  }
  if (args.Has("positions")) {
    if (auto s = Learn(args.Get("positions"), args.Has("skip-bad-rows"), net, learner); !s.ok())
      return ShapesFail(s);
  }
  std::vector<LearnedPath> learned = learner->BuildAll();
  for (const LearnedPath& p : learned) {
    if (!store) break;
    if (auto s = store->PutLearnedPath(p); !s.ok()) return ShapesFail(s);
  }
  std::vector<LearnedPath> kept;
  for (const LearnedPath& p : learned)
    if (p.points.size() >= 2 && (p.confident || args.Has("all"))) kept.push_back(p);
  auto source = OpenFeedSource(feeds[0]);
  if (!source.ok()) return ShapesFail(source.status());
  auto files = FeedWithLearnedShapes(**source, *net, kept);
  if (!files.ok()) return ShapesFail(files.status());
  if (auto s = WriteFilesToDirectory(args.Get("out"), *files); !s.ok()) return ShapesFail(s);
  PrintPaths(learned, args.Has("json"));
  std::fprintf(stderr, "smartbus shapes: %zu patterns learned, %zu written to %s/shapes.txt\n",
               learned.size(), kept.size(), args.Get("out").c_str());
  return 0;
}

}  // namespace smartbus::cli
