#include "services/server/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace smartbus::server {
namespace {

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

bool ParseLogLevel(std::string_view name, LogLevel* out) {
  if (name == "debug") *out = LogLevel::kDebug;
  else if (name == "info") *out = LogLevel::kInfo;
  else if (name == "warn") *out = LogLevel::kWarn;
  else if (name == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

EventLog::EventLog(LogOptions options) : options_(options) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  logger_ = std::make_shared<spdlog::logger>("smartbusd", std::move(sink));
  // spdlog's %l says "warning"/"error"; the json form names levels as the flag does.
  logger_->set_pattern(options_.json
                           ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"smartbusd","msg":%v})"
                           : "%Y-%m-%dT%H:%M:%S.%eZ %l smartbusd: %v",
                       spdlog::pattern_time_type::utc);
  logger_->set_level(options_.enabled ? ToSpd(options_.min_level) : spdlog::level::off);
  logger_->flush_on(spdlog::level::trace);  // one event, one line, written now
}

EventLog::~EventLog() = default;

void EventLog::Write(LogLevel level, std::string_view msg) const {
  if (!logger_->should_log(ToSpd(level))) return;
  if (options_.json) {
    logger_->log(ToSpd(level), "{}", nlohmann::json(std::string(msg)).dump());
  } else {
    logger_->log(ToSpd(level), "{}", msg);
  }
}

void EventLog::WriteLimited(std::string_view key, LogLevel level, std::string_view msg) const {
  const int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  uint64_t dropped_before = 0;
  {
    MutexLock lock(mu_);
    Bucket& b = buckets_[std::string(key)];
    if (b.minute != minute) {
      dropped_before = b.dropped;
      b = Bucket{minute, 0, 0};
    }
    if (b.count >= options_.burst_per_minute) {
      ++b.dropped;
      ++suppressed_;
      return;
    }
    ++b.count;
  }
  if (dropped_before)
    Write(level, absl::StrCat(dropped_before, " more \"", std::string(key),
                              "\" events suppressed in the previous minute"));
  Write(level, msg);
}

uint64_t EventLog::suppressed() const {
  MutexLock lock(mu_);
  return suppressed_;
}

}  // namespace smartbus::server
