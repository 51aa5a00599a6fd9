#include "services/server/analytics_hub.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "services/store/network_ids.h"

namespace smartbus::server {

absl::Status AnalyticsHub::WithAggregator(
    Store& store, std::shared_ptr<const Network> network,
    const std::function<void(const VisitAggregator&, const AnalyticsNetwork&)>& fn) {
  MutexLock lock(mu_);
  if (network != network_ || !agg_) {
    network_ = std::move(network);
    view_ = std::make_shared<NetworkAnalyticsView>(network_);
    AnalyticsOptions o = options_.analytics;
    o.time_zone = network_->time_zone();
    agg_ = std::make_unique<VisitAggregator>(view_, o);
    newest_s_ = -1e18;
  }
  absl::Status s = SyncLocked(store);
  // A store that cannot be read (Redis down) still leaves what the hub holds: answer with it.
  fn(*agg_, *view_);
  return s;
}

absl::Status AnalyticsHub::SyncLocked(Store& store) {
  StopVisitQuery q;
  q.from_s = newest_s_ <= -1e17 ? -1e18 : newest_s_ - options_.sync_slack_s;
  q.limit = std::numeric_limits<size_t>::max();
  auto visits = store.ReadStopVisits(q);
  if (!visits.ok()) return visits.status();
  for (StopVisitRecord& r : *visits) {
    ResolveIndices(r, *network_);
    agg_->Add(r.visit);  // duplicates of visits already held are ignored
    newest_s_ = std::max(newest_s_, r.visit.arrival_s);
  }
  return absl::OkStatus();
}

}  // namespace smartbus::server
