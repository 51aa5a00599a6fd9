// smartbus gtfs inspect FEED... [--date YYYYMMDD] [--json]
//
// Loads one or several GTFS feeds as one network and prints a summary (FORMATS.md): counts,
// service date range, warnings by kind, pattern placement quality and, with --date, the
// services and trips running on that service date.

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/core/gtfs/feed.h"
#include "services/core/network/network.h"
#include "services/files/feed_files.h"

namespace smartbus::cli {
namespace {

constexpr const char* kInspectUsage =
    "usage: smartbus gtfs inspect FEED... [--date YYYYMMDD] [--json]\n"
    "  FEED: a GTFS directory or .zip; several feeds form one network\n";

// Bytes of stop_times text to expect (for deciding whether to show progress).
size_t FeedSizeBytes(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  if (S_ISDIR(st.st_mode)) {
    if (::stat((path + "/stop_times.txt").c_str(), &st) != 0) return 0;
  }
  return static_cast<size_t>(st.st_size);
}

std::string DateString(int32_t d) { return d == 0 ? "" : absl::StrCat(d); }

// The services running on a date (ids, sorted) and how many trips they have.
struct ActiveOnDate {
  int32_t date = 0;
  std::vector<std::string> service_ids;
  size_t trips = 0;
};

ActiveOnDate ActiveOn(const GtfsFeed& f, int32_t date) {
  ActiveOnDate a;
  a.date = date;
  std::vector<char> active(f.services.size(), 0);
  for (uint32_t s = 0; s < f.services.size(); ++s) {
    if (f.ServiceRunsOn(s, date)) {
      active[s] = 1;
      a.service_ids.push_back(f.services[s].id);
    }
  }
  std::sort(a.service_ids.begin(), a.service_ids.end());
  for (const GtfsTrip& t : f.trips) a.trips += active[t.service];
  return a;
}

// What inspect reports: the figures as JSON (in print order), and what the text needs besides.
struct InspectSummary {
  nlohmann::ordered_json out;
  int32_t first_date = 0, last_date = 0;
  std::optional<ActiveOnDate> active;    // with --date
  const Network* net = nullptr;          // null: no network model
  std::map<std::string, int64_t> warnings;
  double max_offset = 0;                 // max stop offset, m, rounded to cm
};

// The feed-level figures (taken before the feed moves into the network).
void AddFeedFigures(const GtfsFeed& f, int32_t date, bool has_date, InspectSummary* sum) {
  nlohmann::ordered_json& out = sum->out;
  out["agencies"] = f.agencies.size();
  out["routes"] = f.routes.size();
  out["trips"] = f.trips.size();
  out["stops"] = f.stops.size();
  out["stop_times"] = f.stop_times.size();
  out["shapes"] = f.shapes.size();
  sum->first_date = f.FirstServiceDate();
  sum->last_date = f.LastServiceDate();
  if (has_date) sum->active = ActiveOn(f, date);
}

// The network-level figures and the rest of the JSON (null where there is no network).
void AddNetworkFigures(InspectSummary* sum) {
  nlohmann::ordered_json& out = sum->out;
  const Network* net = sum->net;
  if (net) {
    out["patterns"] = net->patterns().size();
  } else {
    out["patterns"] = nullptr;
  }
  out["first_service_date"] = DateString(sum->first_date);
  out["last_service_date"] = DateString(sum->last_date);
  out["warnings"] = nlohmann::ordered_json::object();
  for (const auto& [kind, n] : sum->warnings) out["warnings"][kind] = n;
  if (net) {
    out["nonmonotone_patterns"] = net->nonmonotone_patterns();
    sum->max_offset = std::round(net->max_stop_offset_m() * 100) / 100;
    out["max_stop_offset_m"] = sum->max_offset;
  } else {
    out["nonmonotone_patterns"] = nullptr;
    out["max_stop_offset_m"] = nullptr;
  }
  if (sum->active) {
    out["active_service_ids"] = sum->active->service_ids;
    out["active_trips"] = sum->active->trips;
  }
}

// The summary as text.
void PrintInspectText(InspectSummary& sum, const std::vector<std::string>& paths) {
  nlohmann::ordered_json& out = sum.out;
  std::printf("GTFS network from %zu feed%s:", paths.size(), paths.size() == 1 ? "" : "s");
  for (const std::string& p : paths) std::printf(" %s", p.c_str());
  std::printf("\n");
  for (const char* key : {"agencies", "routes", "trips", "stops", "stop_times", "shapes",
                          "patterns"}) {
    if (out[key].is_null()) {
      std::printf("  %-22s (not available)\n", key);
    } else {
      std::printf("  %-22s %s\n", key, out[key].dump().c_str());
    }
  }
  std::printf("  %-22s %s .. %s\n", "service dates", DateString(sum.first_date).c_str(),
              DateString(sum.last_date).c_str());
  if (sum.net) {
    std::printf("  %-22s %d\n", "nonmonotone patterns", sum.net->nonmonotone_patterns());
    std::printf("  %-22s %.2f m\n", "max stop offset", sum.max_offset);
  }
  if (sum.active) {
    const std::vector<std::string>& active_ids = sum.active->service_ids;
    std::string ids;
    for (const std::string& id : active_ids) absl::StrAppend(&ids, ids.empty() ? "" : ", ", id);
    std::printf("  on %d: %zu active service%s (%s), %zu active trips\n", sum.active->date,
                active_ids.size(), active_ids.size() == 1 ? "" : "s", ids.c_str(),
                sum.active->trips);
  }
  if (sum.warnings.empty()) {
    std::printf("  warnings: none\n");
  } else {
    std::printf("  warnings:\n");
    for (const auto& [kind, n] : sum.warnings) {
      std::printf("    %-40s %lld\n", kind.c_str(), static_cast<long long>(n));
    }
  }
}

}  // namespace

int RunGtfsInspect(int argc, char** argv) {
  Args args;
  int code;
  if (!ParseCommandArgs("gtfs inspect", kInspectUsage, argc, argv, {"json"}, {"date"}, &args,
                        &code))
    return code;
  const std::vector<std::string>& paths = args.positional();
  if (paths.empty()) {
    std::fprintf(stderr, "smartbus gtfs inspect: no FEED given\n%s", kInspectUsage);
    return 2;
  }
  int32_t date = 0;
  const bool has_date = args.Has("date");
  if (has_date && !ParseGtfsDate(args.Get("date"), &date)) {
    std::fprintf(stderr, "smartbus gtfs inspect: --date: not a date (YYYYMMDD): '%s'\n",
                 args.Get("date").c_str());
    return 2;
  }
  const bool json = args.Has("json");

  GtfsLoadOptions options;
  size_t bytes = 0;
  for (const std::string& p : paths) bytes += FeedSizeBytes(p);
  if (bytes > (32u << 20)) options.progress = PrintGtfsLoadProgress;  // large feeds only

  auto feed = LoadGtfs(paths, options);
  if (!feed.ok()) {
    std::fprintf(stderr, "smartbus gtfs inspect: %s\n", std::string(feed.status().message()).c_str());
    return 1;
  }
  InspectSummary sum;
  const GtfsFeed& f = *feed;
  AddFeedFigures(f, date, has_date, &sum);

  if (options.progress) std::fprintf(stderr, "building network (patterns, stop placement)...\n");
  auto net = Network::Build(std::move(*feed));
  bool have_net = net.ok();
  if (!net.ok()) {
    if (net.status().code() != absl::StatusCode::kUnimplemented) {
      std::fprintf(stderr, "smartbus gtfs inspect: %s\n",
                   std::string(net.status().message()).c_str());
      return 1;
    }
    std::fprintf(stderr, "smartbus gtfs inspect: network model not available (%s)\n",
                 std::string(net.status().message()).c_str());
  }
  sum.net = have_net ? net->get() : nullptr;
  sum.warnings = have_net ? (*net)->feed().warnings : f.warnings;
  AddNetworkFigures(&sum);
  if (json) {
    std::printf("%s\n", sum.out.dump(2).c_str());
    return 0;
  }
  PrintInspectText(sum, paths);
  return 0;
}

}  // namespace smartbus::cli
