#include "services/gtfs_rt/poller.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace smartbus::gtfs_rt {

namespace rt = ::transit_realtime;

// The same kind of failure of one feed is logged at most this often (a feed down for an hour
// polled every 15 s would otherwise write 240 identical lines).
constexpr absl::Duration kLogEvery = absl::Minutes(1);

struct Poller::Feed {
  FeedSource source;
  std::string source_name;
  Fetcher fetcher;
  FetchResult fetched;
  VehicleDedupe dedupe;
  FeedChanges changes;  // TripUpdates / Alerts: what the feed has in force
  size_t index = 0;  // into Poller::stats_
  absl::Time last_logged[kNumFeedErrors];
  bool failing = false;
  Feed(const FeedSource& s, const FetchOptions& o)
      : source(s), source_name(SourceName(s.url)), fetcher(o) {
    for (auto& t : last_logged) t = absl::InfinitePast();
  }
};

std::string SourceName(const std::string& url) {
  return absl::StrCat("gtfs-rt:", url.substr(0, url.find('?')));
}

Poller::Poller(PollerOptions options, GtfsRtSink* sink,
               std::function<void(const std::string&)> log)
    : options_(std::move(options)), sink_(sink), log_(std::move(log)), created_(absl::Now()) {
  for (const FeedSource& s : options_.feeds) {
    feeds_.push_back(std::make_unique<Feed>(s, options_.fetch));
    feeds_.back()->index = stats_.size();
    FeedStats& st = stats_.emplace_back();
    st.url = s.url;
    st.source = feeds_.back()->source_name;
    st.kind = s.kind;
  }
}

Poller::~Poller() { Stop(); }

void Poller::Start() {
  if (feeds_.empty() || thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void Poller::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Poller::Run() {
  UniqueLock lock(mu_);
  while (!stop_) {
    const absl::Time round = absl::Now();
    lock.Unlock();
    PollOnce();
    lock.Lock();
    const absl::Duration wait = std::max(absl::ZeroDuration(),
                                         options_.interval - (absl::Now() - round));
    cv_.wait_for(lock.native(), absl::ToChronoMilliseconds(wait),
                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; });
  }
}

void Poller::PollOnce() {
  for (auto& f : feeds_) {
    {
      MutexLock lock(mu_);
      if (stop_ && thread_.joinable()) return;
    }
    Poll(*f);
  }
}

void Poller::Fail(Feed& f, FeedError e, const std::string& message, absl::Time t0) {
  {
    MutexLock lock(stats_mu_);
    FeedStats& st = stats_[f.index];
    ++st.errors[static_cast<int>(e)];
    st.last_error = absl::StrCat(FeedErrorName(e), ": ", message);
    st.last_poll_time = absl::Now() - t0;
  }
  absl::Time& logged = f.last_logged[static_cast<int>(e)];
  if (!f.failing || absl::Now() - logged >= kLogEvery) {
    log_(absl::StrCat("gtfs-rt ", FeedKindName(f.source.kind), " ", f.source_name, ": poll failed (",
                      FeedErrorName(e), "): ", message, "; the last good state stays in force"));
    logged = absl::Now();
  }
  f.failing = true;
}

void Poller::PollVehicles(Feed& f, const rt::FeedMessage& msg, FeedStats* s) {
  std::shared_ptr<const Network> net = sink_->network();
  std::vector<Fix> fixes =
      MapVehiclePositions(msg, net.get(), options_.vehicles, &f.dedupe, &s->last);
  const size_t batch = std::max<size_t>(1, options_.max_batch);
  std::vector<Fix> part;
  for (size_t i = 0; i < fixes.size(); i += batch) {
    const size_t end = std::min(fixes.size(), i + batch);
    part.assign(std::make_move_iterator(fixes.begin() + i),
                std::make_move_iterator(fixes.begin() + end));
    GtfsRtSink::IngestOutcome o = sink_->Ingest(part);
    s->fixes_accepted += o.accepted;
    s->fixes_rejected += o.rejected;
    s->fixes_overloaded += o.overloaded;
  }
}

void Poller::Poll(Feed& f) {
  const absl::Time t0 = absl::Now();
  {
    MutexLock lock(stats_mu_);
    ++stats_[f.index].polls;
  }
  f.fetcher.Fetch(f.source.url, &f.fetched);
  if (!f.fetched.status.ok())
    return Fail(f, f.fetched.error, std::string(f.fetched.status.message()), t0);
  FeedError err;
  auto msg = ParseFeed(f.fetched.body, &err);
  if (!msg.ok()) return Fail(f, err, std::string(msg.status().message()), t0);
  const int64_t header_s = static_cast<int64_t>(msg->header().timestamp());
  int64_t prev_header_s;
  {
    MutexLock lock(stats_mu_);
    prev_header_s = stats_[f.index].last_header_s;
  }
  if (header_s > 0 && header_s < prev_header_s)
    return Fail(f, FeedError::kOldHeader,
                absl::StrCat("header timestamp ", header_s, " is older than ", prev_header_s,
                             ", already read"),
                t0);

  FeedStats s;  // this poll's counts and outcome (merged below)
  if (f.source.kind == FeedKind::kVehiclePositions) {
    PollVehicles(f, *msg, &s);
  } else {
    std::shared_ptr<const Network> net = sink_->network();
    FeedChanges next = f.changes;
    next.Apply(*msg, f.source.kind, net.get(), &s.last);
    if (s.last.entities == 0 || s.last.other_type < s.last.entities) {
      f.changes = std::move(next);
      sink_->ReplaceServiceChanges(f.source_name, f.changes.trips(), f.changes.alerts());
    }
  }
  if (s.last.entities > 0 && s.last.other_type == s.last.entities)
    return Fail(f, FeedError::kWrongType,
                absl::StrCat(s.last.entities, " entities, none a ", FeedKindName(f.source.kind),
                             " entity: is this the right feed URL?"),
                t0);
  if (f.failing)
    log_(absl::StrCat("gtfs-rt ", FeedKindName(f.source.kind), " ", f.source_name,
                      ": polling again (", s.last.entities, " entities)"));
  f.failing = false;
  MutexLock lock(stats_mu_);
  FeedStats& st = stats_[f.index];
  ++st.good_polls;
  st.entities += s.last;
  st.last = s.last;
  st.fixes_accepted += s.fixes_accepted;
  st.fixes_rejected += s.fixes_rejected;
  st.fixes_overloaded += s.fixes_overloaded;
  st.bytes += f.fetched.body.size();
  const absl::Time now = absl::Now();
  if (header_s != st.last_header_s || st.header_changed == absl::InfinitePast())
    st.header_changed = now;
  st.last_header_s = std::max(st.last_header_s, header_s);
  st.last_good = now;
  st.last_poll_time = now - t0;
  st.last_error.clear();
}

std::vector<FeedStats> Poller::Stats() const {
  MutexLock lock(stats_mu_);
  return stats_;
}

std::string Poller::Unhealthy(absl::Time now) const {
  const absl::Duration stall =
      options_.stall_after > absl::ZeroDuration()
          ? options_.stall_after
          : std::max(3 * options_.interval, absl::Seconds(90));
  std::vector<std::string> why;
  MutexLock lock(stats_mu_);
  for (const FeedStats& s : stats_) {
    const std::string name = absl::StrCat(FeedKindName(s.kind), " ", s.source);
    if (s.last_good == absl::InfinitePast()) {
      if (now - created_ >= stall) why.push_back(absl::StrCat(name, ": no good poll yet (",
                                                              s.last_error, ")"));
    } else if (now - s.last_good >= stall) {
      why.push_back(absl::StrCat(name, ": no good poll for ",
                                 absl::FormatDuration(absl::Trunc(now - s.last_good, absl::Seconds(1))),
                                 " (", s.last_error, ")"));
    } else if (now - s.header_changed >= stall) {
      why.push_back(absl::StrCat(name, ": stalled, header timestamp ", s.last_header_s,
                                 " unchanged for ",
                                 absl::FormatDuration(absl::Trunc(now - s.header_changed, absl::Seconds(1)))));
    }
  }
  return absl::StrJoin(why, "; ");
}

}  // namespace smartbus::gtfs_rt
