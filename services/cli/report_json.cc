#include "services/cli/report_json.h"

#include <utility>

#include "nlohmann/json.hpp"
#include "services/cli/client.h"

namespace smartbus::cli {
namespace {

using nlohmann::json;

// FORMATS.md's route-level names -> where the proto holds them.
constexpr std::pair<const char*, const char*> kContractFields[] = {
    {"on_time_pct", "on_time"},      {"early_pct", "on_time"},       {"late_pct", "on_time"},
    {"boardings", "passengers"},     {"alightings", "passengers"},   {"max_load", "passengers"},
    {"mean_occupancy", "passengers"}};

void AddContractFields(json& route) {
  for (const auto& [name, group] : kContractFields) {
    const json& g = route[group];
    route[name] = g.contains(name) ? g[name] : json(nullptr);
  }
  const json& hw = route["headways"];
  route["headway_cv"] = hw.contains("cv") ? hw["cv"] : json(nullptr);
}

}  // namespace

std::string ReportJson(const v1::AnalyticsReport& report) {
  json j = json::parse(ToJson(report));
  for (json& r : j["routes"]) AddContractFields(r);
  return j.dump(2) + "\n";
}

}  // namespace smartbus::cli
