#pragma once
// AnalyticsHub: the live operator analytics of smartbusd. One VisitAggregator
// (services/core/analytics, the code `smartbus report` runs) fed with the stop visits the
// server has persisted: before answering, Sync() reads the visits the store received since the
// last call (arrival >= newest seen - sync_slack_s; the aggregator drops the ones it already
// holds), so the live figures are those of `smartbus report` over the same visits, and they
// survive a restart (the store holds the visits). A GTFS reload rebuilds the aggregator from the
// store against the new network.
//
// Thread safety: every method may be called from any thread; one mutex serialises Sync and the
// queries (a query over a full day of a 500-bus fleet takes a few ms, bench/analytics). Ingest
// never waits on it: the hub only reads the store.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "services/core/analytics/analytics.h"
#include "services/core/analytics/network_view.h"
#include "services/core/common/mutex.h"
#include "services/core/network/network.h"
#include "services/store/store.h"

namespace smartbus::server {

struct AnalyticsHubOptions {
  AnalyticsOptions analytics;  // on-time window, bunching ratio, live window, retention ...
  FleetOptions fleet;          // stale / silent thresholds
  // Sync re-reads the visits whose arrival is at most this much older than the newest one seen
  // (a visit is persisted after its arrival, up to a GPS gap later). Default 1800 s.
  double sync_slack_s = 1800;
};

class AnalyticsHub {
 public:
  explicit AnalyticsHub(const AnalyticsHubOptions& options) : options_(options) {}

  // Brings the aggregator up to date with the store for `network` (rebuilt when the network
  // changed), then runs fn on it, all under the hub's lock.
  absl::Status WithAggregator(Store& store, std::shared_ptr<const Network> network,
                              const std::function<void(const VisitAggregator&,
                                                       const AnalyticsNetwork&)>& fn);
  const AnalyticsHubOptions& options() const { return options_; }

 private:
  absl::Status SyncLocked(Store& store) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AnalyticsHubOptions options_;
  Mutex mu_;
  std::shared_ptr<const Network> network_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<NetworkAnalyticsView> view_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<VisitAggregator> agg_ ABSL_GUARDED_BY(mu_);
  double newest_s_ ABSL_GUARDED_BY(mu_) = -1e18;
};

}  // namespace smartbus::server
