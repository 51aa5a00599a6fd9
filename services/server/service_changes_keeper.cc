#include "services/server/service_changes_keeper.h"

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "services/core/network/network.h"

namespace smartbus::server {
namespace {

// Prune at most this often (s): enough for dates and alert periods measured in minutes.
constexpr int64_t kPruneIntervalS = 60;

int32_t KeeperDate(absl::CivilDay d) {
  return static_cast<int32_t>(d.year() * 10000 + d.month() * 100 + d.day());
}

}  // namespace

ServiceChangeKeeper::ServiceChangeKeeper(
    Store* store, std::function<void(std::shared_ptr<const ServiceChangeSet>)> on_publish,
    std::function<void(const std::string&)> log)
    : store_(store), on_publish_(std::move(on_publish)), log_(std::move(log)) {}

absl::Status ServiceChangeKeeper::Recover() {
  auto stored = store_->ListServiceChanges();
  MutexLock lock(mu_);
  if (!stored.ok()) {
    resync_pending_ = true;
    return stored.status();
  }
  for (const std::string& bad : stored->undecodable)
    log_(absl::StrCat("service changes: left out an undecodable record: ", bad));
  const size_t trips = stored->trips.size(), alerts = stored->alerts.size();
  ServiceChangeDiff invalid = changes_.Load(std::move(stored->trips), std::move(stored->alerts));
  if (!invalid.empty()) {
    log_(absl::StrCat("service changes: removing ", invalid.delete_trips.size(),
                      " invalid trip changes and ", invalid.delete_alerts.size(),
                      " invalid alerts from the store"));
    PersistLocked(invalid);
  }
  if (trips + alerts > 0)
    log_(absl::StrCat("service changes: recovered ", trips, " trip changes and ", alerts,
                      " alerts from the store"));
  on_publish_(changes_.Current());
  return absl::OkStatus();
}

absl::StatusOr<bool> ServiceChangeKeeper::Edit(
    const std::function<absl::StatusOr<ServiceChangeDiff>(ServiceChanges&)>& edit) {
  MutexLock lock(mu_);
  absl::StatusOr<ServiceChangeDiff> diff = edit(changes_);
  if (!diff.ok()) return diff.status();
  if (diff->empty()) return true;
  ++edits_;
  on_publish_(changes_.Current());
  return PersistLocked(*diff);
}

bool ServiceChangeKeeper::PersistLocked(const ServiceChangeDiff& diff) {
  if (resync_pending_) {  // the store is behind: only a whole rewrite brings it level
    ResyncLocked();
    return !resync_pending_;
  }
  absl::Status s = store_->ApplyServiceChanges(diff);
  if (s.ok()) {
    ++store_writes_;
    return true;
  }
  ++store_errors_;
  resync_pending_ = true;
  log_(absl::StrCat("service changes: store write failed (", s.message(),
                    "); in force in memory, rewritten when the store is back"));
  return false;
}

void ServiceChangeKeeper::ResyncLocked() {
  auto stored = store_->ListServiceChanges();
  if (!stored.ok()) {
    ++store_errors_;
    return;
  }
  auto cur = changes_.Current();
  ServiceChangeDiff d;
  d.put_trips = cur->trips();
  d.put_alerts = cur->alerts();
  for (const TripChange& t : stored->trips) {
    const std::string k = t.Key();
    bool kept = false;
    for (const TripChange& c : cur->trips()) kept = kept || c.Key() == k;
    if (!kept) d.delete_trips.push_back(k);
  }
  for (const Alert& a : stored->alerts) {
    const std::string k = a.Key();
    bool kept = false;
    for (const Alert& c : cur->alerts()) kept = kept || c.Key() == k;
    if (!kept) d.delete_alerts.push_back(k);
  }
  absl::Status s = store_->ApplyServiceChanges(d);
  if (!s.ok()) {
    ++store_errors_;
    return;
  }
  ++store_writes_;
  resync_pending_ = false;
  log_(absl::StrCat("service changes: store rewritten (", d.put_trips.size(), " trip changes, ",
                    d.put_alerts.size(), " alerts)"));
}

void ServiceChangeKeeper::Tick(int32_t min_service_date, int64_t now_s) {
  MutexLock lock(mu_);
  if (now_s - last_prune_s_ >= kPruneIntervalS) {
    last_prune_s_ = now_s;
    ServiceChangeDiff d = changes_.Prune(min_service_date, now_s);
    if (!d.empty()) {
      on_publish_(changes_.Current());
      PersistLocked(d);
    }
  }
  if (resync_pending_) ResyncLocked();
}

ServiceChangeStats ServiceChangeKeeper::Stats() const {
  ServiceChangeStats s;
  auto cur = changes_.Current();
  MutexLock lock(mu_);
  s.edits = edits_;
  s.store_writes = store_writes_;
  s.store_errors = store_errors_;
  s.resync_pending = resync_pending_;
  s.trips = cur->trips().size();
  s.alerts = cur->alerts().size();
  return s;
}

int32_t ServiceDateInForce(const Network& net, TripIdx trip, int64_t now_s) {
  const absl::CivilDay today = absl::ToCivilDay(absl::FromUnixSeconds(now_s), net.time_zone());
  const GtfsFeed& feed = net.feed();
  const int32_t yesterday = KeeperDate(today - 1);
  if (trip < feed.trips.size()) {
    const GtfsTrip& t = feed.trips[trip];
    if (t.num_stop_times > 0 && feed.ServiceRunsOn(t.service, yesterday)) {
      const GtfsStopTime& last = feed.stop_times[t.first_stop_time + t.num_stop_times - 1];
      if (absl::ToUnixSeconds(net.ServiceDayStart(yesterday)) + last.arrival_s >= now_s)
        return yesterday;
    }
  }
  return KeeperDate(today);
}

}  // namespace smartbus::server
