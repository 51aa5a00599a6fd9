// smartbus analytics accuracy: client of AnalyticsService.GetPredictionAccuracy (live accuracy
// of the predictions smartbusd published, by horizon and route).
//
// --json prints {"now", "from", "to", "held_since", "predictions_held", "memory_bytes",
// "all": {...}, "routes": {"ROUTE": {...}}} where each {...} is the JSON of
// `smartbus replay --report` (prediction.smartbus: AccuracyReportJson), so the live figures and
// the offline report compare field by field (medians are null: the server keeps sums).
// --proto-json prints protobuf's JSON mapping of the response instead.

#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/client.h"
#include "services/cli/commands.h"
#include "services/core/prediction/scorer.h"
#include "services/server/accuracy_proto.h"
#include "smartbus/v1/analytics.grpc.pb.h"

namespace smartbus::cli {
namespace {

namespace apb = ::smartbus::v1;

std::string Pct(double v) { return std::isfinite(v) ? absl::StrFormat("%.1f", v) : "-"; }
std::string Sec(double v) { return std::isfinite(v) ? absl::StrFormat("%.0f", v) : "-"; }

void PrintText(const apb::GetPredictionAccuracyResponse& resp) {
  std::printf("live prediction accuracy at %s (predictions made %s .. %s; held since %s)\n",
              ClockTime(resp.now()).c_str(),
              resp.from() > 0 ? ClockTime(resp.from()).c_str() : "start",
              resp.to() > 0 ? ClockTime(resp.to()).c_str() : "now",
              ClockTime(resp.held_since()).c_str());
  std::fputs(AccuracyReportTable(server::AccuracyFromProto(resp.all())).c_str(), stdout);
  std::printf("pending %lld predictions (waiting for their stop); memory %.1f MB\n",
              static_cast<long long>(resp.all().pending()),
              static_cast<double>(resp.memory_bytes()) / 1e6);
  if (resp.routes().empty()) return;
  std::printf("\n%-10s %8s %6s %6s %6s %6s %6s %8s\n", "route", "n", "MAE", "RMSE", "bias",
              "MBTA%", "TA%", "P10-P90%");
  for (const apb::RouteAccuracy& r : resp.routes()) {
    const AccuracyReport rep = server::AccuracyFromProto(r.figures());
    const AccuracyGroup& g = rep.overall;
    std::printf("%-10s %8lld %6s %6s %6s %6s %6s %8s\n", r.route_id().c_str(),
                static_cast<long long>(g.n), Sec(g.mae_s).c_str(), Sec(g.rmse_s).c_str(),
                Sec(g.bias_s).c_str(), Pct(rep.mbta_pooled_pct).c_str(),
                Pct(rep.transit_score_pct).c_str(), Pct(g.p10_p90_pct).c_str());
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
  if (!ParseClientArgs(cmd, usage, argc, argv, {"proto-json", "today"}, {"route", "from", "to"},
                       &a, &code))
    return code;
  auto from = a.GetInt("from", 0), to = a.GetInt("to", 0);
  if (!from.ok() || !to.ok()) {
    std::fprintf(stderr, "smartbus %s: --from/--to: epoch seconds\n", cmd);
    return 2;
  }
  apb::GetPredictionAccuracyRequest req;
  for (const std::string& r : a.GetAll("route")) req.add_route_ids(r);
  req.mutable_window()->set_from(*from);
  req.mutable_window()->set_to(*to);
  req.set_today(a.Has("today"));
  const std::string addr = ServerAddress(a);
  auto stub = apb::AnalyticsService::NewStub(MakeChannel(addr));
  grpc::ClientContext ctx;
  SetDeadline(a, &ctx);
  apb::GetPredictionAccuracyResponse resp;
  grpc::Status s = stub->GetPredictionAccuracy(&ctx, req, &resp);
  if (!s.ok()) return CallFailed(cmd, addr, s);
  if (a.Has("proto-json")) {
    std::fputs(ToJson(resp).c_str(), stdout);
    return 0;
  }
  if (!a.Has("json")) {
    PrintText(resp);
    return 0;
  }
  nlohmann::json out = {{"now", resp.now()},
                        {"from", resp.from()},
                        {"to", resp.to()},
                        {"held_since", resp.held_since()},
                        {"predictions_held", resp.predictions_held()},
                        {"memory_bytes", resp.memory_bytes()}};
  out["all"] = nlohmann::json::parse(AccuracyReportJson(server::AccuracyFromProto(resp.all())));
  out["all"]["counts"]["pending"] = resp.all().pending();
  out["routes"] = nlohmann::json::object();
  for (const apb::RouteAccuracy& r : resp.routes()) {
    out["routes"][r.route_id()] =
        nlohmann::json::parse(AccuracyReportJson(server::AccuracyFromProto(r.figures())));
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace smartbus::cli
