#pragma once
// The GTFS-Realtime poller: fetches an agency's feeds every `interval` and feeds them in.
//
//   VehiclePositions -> fixes -> GtfsRtSink::Ingest (smartbusd: the same ingest pipeline as
//                       the gRPC IngestService: validation, back-pressure, shards)
//   TripUpdates      -> cancelled trips / skipped stops -> GtfsRtSink::ReplaceServiceChanges
//   Alerts           -> alerts                          -> GtfsRtSink::ReplaceServiceChanges
//
// Each feed is its own service-change source ("gtfs-rt:<url without its query string>"),
// replaced as a whole on every good poll by what the feed has in force (FeedChanges: a
// FULL_DATASET poll is everything; a DIFFERENTIAL one updates and deletes entities). A poll that fails (FeedError: fetch, http_status,
// too_large, undecodable, wrong_type, old_header) is counted by kind and logged (at most once a
// minute per feed and kind, and whenever a feed recovers); nothing of that feed changes, so the
// last good state keeps serving. Duplicates (a vehicle position not newer than the last one
// sent) and stale vehicles are counted and not sent. A feed with no good poll, or whose header
// timestamp has not moved, for `stall_after` is unhealthy (Unhealthy(); smartbusd reports it in
// health as "smartbus.gtfs_rt").
//
// Thread safety: Start/Stop/PollOnce from one control thread; Stats/Unhealthy from any thread.
// One thread polls every feed in turn.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "services/core/common/mutex.h"
#include "services/gtfs_rt/fetch.h"
#include "services/gtfs_rt/gtfs_rt_feed.h"

namespace smartbus::gtfs_rt {

struct FeedSource {
  std::string url;  // http(s) URL, file:// URL or a path
  FeedKind kind = FeedKind::kVehiclePositions;
};

struct PollerOptions {
  std::vector<FeedSource> feeds;
  // Time from the start of one round over the feeds to the start of the next. Default 15 s
  // (agencies refresh every 10-30 s; the GTFS-RT best practices ask for data <= 90 s old).
  absl::Duration interval = absl::Seconds(15);
  FetchOptions fetch;
  VehicleMapOptions vehicles;
  // Unhealthy after this long without a good poll or a new header timestamp. 0 = the larger of
  // 3 x interval and 90 s (the best practices' freshness bound).
  absl::Duration stall_after = absl::ZeroDuration();
  // Fixes per Ingest call (the server's max_batch). Default 10,000.
  size_t max_batch = 10000;
};

// What the poller feeds (smartbusd implements it over its ingest pipeline and its
// ServiceChangeKeeper; tests use a fake).
class GtfsRtSink {
 public:
  virtual ~GtfsRtSink() = default;
  struct IngestOutcome {
    uint64_t accepted = 0;
    uint64_t rejected = 0;    // refused by validation or the engine
    uint64_t overloaded = 0;  // not processed: the server was saturated
  };
  // The network fixes and trip ids are resolved against (unknown trips are counted).
  virtual std::shared_ptr<const Network> network() = 0;
  // Hands fixes to the ingest pipeline and waits until they are processed.
  virtual IngestOutcome Ingest(const std::vector<Fix>& fixes) = 0;
  // Replaces everything `source` said before.
  virtual void ReplaceServiceChanges(const std::string& source, std::vector<TripChange> trips,
                                     std::vector<Alert> alerts) = 0;
};

// Counters of one feed (totals since start unless named last_). For health and /metrics.
struct FeedStats {
  std::string url;     // as configured (may hold an API key: do not publish as is)
  std::string source;  // service-change source name (no query string)
  FeedKind kind = FeedKind::kVehiclePositions;
  uint64_t polls = 0;
  uint64_t good_polls = 0;
  uint64_t errors[kNumFeedErrors] = {};  // by FeedError
  EntityCounts entities;                 // totals of every good poll
  uint64_t fixes_accepted = 0;           // VP: what the ingest pipeline said
  uint64_t fixes_rejected = 0;
  uint64_t fixes_overloaded = 0;
  uint64_t bytes = 0;                    // bodies of good polls
  // The last good poll.
  EntityCounts last;                     // its counts
  int64_t last_header_s = 0;             // its header timestamp
  absl::Time last_good = absl::InfinitePast();
  absl::Time header_changed = absl::InfinitePast();  // when the header timestamp last moved
  absl::Duration last_poll_time;         // fetch + decode + ingest of the last poll
  std::string last_error;                // "" after a good poll
};

class Poller {
 public:
  // `log` gets one line per event worth a log line.
  Poller(PollerOptions options, GtfsRtSink* sink, std::function<void(const std::string&)> log);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void Start();  // starts the polling thread (a round at once, then every interval)
  void Stop();   // stops it (waits for a poll in progress); idempotent
  // One round over every feed on the calling thread (tests, benchmarks; not while started).
  void PollOnce();

  std::vector<FeedStats> Stats() const;
  // "" when every feed is healthy at `now`, else why not (one clause per unhealthy feed).
  std::string Unhealthy(absl::Time now) const;
  size_t num_feeds() const { return feeds_.size(); }

 private:
  struct Feed;
  void Run();
  void Poll(Feed& f);
  void Fail(Feed& f, FeedError e, const std::string& message, absl::Time t0);
  void PollVehicles(Feed& f, const transit_realtime::FeedMessage& msg, FeedStats* s);

  const PollerOptions options_;
  GtfsRtSink* const sink_;
  const std::function<void(const std::string&)> log_;
  const absl::Time created_;
  std::vector<std::unique_ptr<Feed>> feeds_;

  mutable Mutex stats_mu_;
  std::vector<FeedStats> stats_ ABSL_GUARDED_BY(stats_mu_);  // per feed, in the order of feeds_
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The service-change source name of a feed URL: "gtfs-rt:" + the URL without its query string
// (which often holds an API key).
std::string SourceName(const std::string& url);

}  // namespace smartbus::gtfs_rt
