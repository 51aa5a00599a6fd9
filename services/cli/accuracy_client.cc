// smartbus analytics accuracy: client of AnalyticsService.GetPredictionAccuracy (live accuracy
// of the predictions smartbusd published, by horizon and route).
//
// --json prints protobuf's JSON mapping of the response (the document of the HTTP API's
// /api/v1/analytics/accuracy); the text is printed from the response (the definitions and the
// layout of `smartbus replay --report`'s table; the server keeps sums, so no medians).

#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace apb = ::smartbus::v1;

std::string Pct(bool has, double v) { return has ? absl::StrFormat("%.1f", v) : "-"; }
std::string Sec(bool has, double v) { return has ? absl::StrFormat("%.0f", v) : "-"; }

void PrintFigures(const apb::AccuracyReportFigures& r) {
  std::printf("predictions: %lld rows, scored %lld; unobserved %lld, made after arrival %lld, "
              "horizon >= 30 min %lld\n%-9s %8s %6s %6s %6s %6s %6s %8s\n",
              static_cast<long long>(r.predictions()), static_cast<long long>(r.scored()),
              static_cast<long long>(r.unobserved()), static_cast<long long>(r.after_arrival()),
              static_cast<long long>(r.beyond_30min()), "horizon", "n", "MAE", "RMSE", "bias",
              "MBTA%", "TA%", "P10-P90%");
  auto row = [](const apb::AccuracyFigures& g) {
    std::printf("%-9s %8lld %6s %6s %6s %6s %6s %8s\n", (g.label() + "m").c_str(),
                static_cast<long long>(g.n()), Sec(g.has_mae_s(), g.mae_s()).c_str(),
                Sec(g.has_rmse_s(), g.rmse_s()).c_str(), Sec(g.has_bias_s(), g.bias_s()).c_str(),
                Pct(g.has_mbta_pct(), g.mbta_pct()).c_str(),
                Pct(g.has_transitapp_pct(), g.transitapp_pct()).c_str(),
                Pct(g.has_p10_p90_pct(), g.p10_p90_pct()).c_str());
  };
  for (const apb::AccuracyFigures& g : r.buckets()) row(g);
  row(r.overall());
  std::printf("MBTA (by predicted horizon):");
  for (const apb::AccuracyWindowRow& w : r.mbta_by_predicted_horizon())
    std::printf(" %s %s%%", w.label().c_str(), Pct(w.has_pct(), w.pct()).c_str());
  std::printf(" | pooled %s%%\nTransit ETA benchmark:",
              Pct(r.has_mbta_pooled_pct(), r.mbta_pooled_pct()).c_str());
  for (const apb::AccuracyWindowRow& w : r.transitapp_by_observed_horizon())
    std::printf(" %s %s%%", w.label().c_str(), Pct(w.has_pct(), w.pct()).c_str());
  std::printf(" | score %s%%\n", Pct(r.has_transitapp_score_pct(), r.transitapp_score_pct()).c_str());
  for (const apb::AccuracyFigures& g : r.by_source()) {
    std::printf("source %-9s n=%lld MAE %s MBTA %s%% TA %s%% P10-P90 %s%%\n", g.label().c_str(),
                static_cast<long long>(g.n()), Sec(g.has_mae_s(), g.mae_s()).c_str(),
                Pct(g.has_mbta_pct(), g.mbta_pct()).c_str(),
                Pct(g.has_transitapp_pct(), g.transitapp_pct()).c_str(),
                Pct(g.has_p10_p90_pct(), g.p10_p90_pct()).c_str());
  }
  std::printf("coverage: %lld of %lld observed arrivals (%s%%) had a prediction made 1-30 min "
              "before\n",
              static_cast<long long>(r.arrivals_with_prediction()),
              static_cast<long long>(r.observed_arrivals()),
              Pct(r.has_coverage_pct(), r.coverage_pct()).c_str());
}

void PrintText(const apb::GetPredictionAccuracyResponse& resp) {
  std::printf("live prediction accuracy at %s (predictions made %s .. %s; held since %s)\n",
              ClockTime(resp.now()).c_str(),
              resp.from() > 0 ? ClockTime(resp.from()).c_str() : "start",
              resp.to() > 0 ? ClockTime(resp.to()).c_str() : "now",
              ClockTime(resp.held_since()).c_str());
  PrintFigures(resp.all());
  std::printf("pending %lld predictions (waiting for their stop); memory %.1f MB\n",
              static_cast<long long>(resp.all().pending()),
              static_cast<double>(resp.memory_bytes()) / 1e6);
  if (resp.routes().empty()) return;
  std::printf("\n%-10s %8s %6s %6s %6s %6s %6s %8s\n", "route", "n", "MAE", "RMSE", "bias",
              "MBTA%", "TA%", "P10-P90%");
  for (const apb::RouteAccuracy& r : resp.routes()) {
    const apb::AccuracyReportFigures& f = r.figures();
    const apb::AccuracyFigures& g = f.overall();
    std::printf("%-10s %8lld %6s %6s %6s %6s %6s %8s\n", r.route_id().c_str(),
                static_cast<long long>(g.n()), Sec(g.has_mae_s(), g.mae_s()).c_str(),
                Sec(g.has_rmse_s(), g.rmse_s()).c_str(), Sec(g.has_bias_s(), g.bias_s()).c_str(),
                Pct(f.has_mbta_pooled_pct(), f.mbta_pooled_pct()).c_str(),
                Pct(f.has_transitapp_score_pct(), f.transitapp_score_pct()).c_str(),
                Pct(g.has_p10_p90_pct(), g.p10_p90_pct()).c_str());
  }
}

}  // namespace

int RunAnalyticsAccuracy(int argc, char** argv) {
  const char* cmd = "analytics accuracy";
  const char* usage =
      "smartbus analytics accuracy [--route R]... [--today | --from EPOCH] [--to EPOCH]\n"
      "  live accuracy of the published predictions by horizon and route (MAE, RMSE, bias,\n"
      "  MBTA and Transit-app windows, P10-P90 coverage); windows by the hour predictions were "
      "made";
  Args a;
  int code;
  if (!ParseClientArgs(cmd, usage, argc, argv, {"today"}, {"route", "from", "to"},
                       &a, &code))
    return code;
  apb::GetPredictionAccuracyRequest req;
  if (!SetRoutesAndWindow(a, &req)) {
    std::fprintf(stderr, "smartbus %s: --from/--to: epoch seconds\n", cmd);
    return 2;
  }
  req.set_today(a.Has("today"));
  apb::GetPredictionAccuracyResponse resp;
  const int done =
      Call(cmd, a, &apb::AnalyticsService::Stub::GetPredictionAccuracy, req, &resp);
  if (done >= 0) return done;
  PrintText(resp);
  return 0;
}

}  // namespace smartbus::cli
