#pragma once
// EventLog: smartbusd's log (spdlog, Debian libspdlog-dev), to stderr, one line per event.
//
//   text (default):  2026-12-07T01:02:03.456Z info smartbusd: loaded ... 6 routes ...
//   json:            {"ts":"2026-12-07T01:02:03.456Z","level":"info","logger":"smartbusd",
//                     "msg":"loaded ... 6 routes ..."}            (one object per line)
//
// Levels debug < info < warn < error; lines below the minimum level are dropped. Events that
// can come in floods (a failing request repeated by every client, a store that keeps failing)
// go through WriteLimited: at most `burst` lines per key per minute, then, when the minute is
// over, one line saying how many were suppressed. Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "services/core/common/mutex.h"

namespace spdlog {
class logger;
}

namespace smartbus::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct LogOptions {
  bool enabled = true;
  bool json = false;
  LogLevel min_level = LogLevel::kInfo;
  int burst_per_minute = 10;  // WriteLimited: lines per key per minute
};

// "text"/"json"; "debug"/"info"/"warn"/"error". False when the name is none of them.
bool ParseLogLevel(std::string_view name, LogLevel* out);

class EventLog {
 public:
  explicit EventLog(LogOptions options);
  ~EventLog();
  void Write(LogLevel level, std::string_view msg) const;
  void WriteLimited(std::string_view key, LogLevel level, std::string_view msg) const;
  // Lines dropped by WriteLimited so far (all keys).
  uint64_t suppressed() const;

 private:
  struct Bucket {
    int64_t minute = 0;
    int count = 0;
    uint64_t dropped = 0;
  };
  LogOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  mutable Mutex mu_;
  mutable std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace smartbus::server
