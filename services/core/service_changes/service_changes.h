#pragma once
// Service changes: what differs from the timetable by decision rather than by traffic.
//
//   TripChange  a trip (on one service date) cancelled as a whole, or some of its stops skipped
//               (a closed stop, a detour). Restoring removes it.
//   Alert       a message for riders (header, description, url; each in one or more languages)
//               about routes, stops, trips or a whole agency, active in periods of time; the
//               GTFS-Realtime Alert model.
//
// Each change has a `source`: "operator" for the operator calls (OperatorService.CancelTrip,
// PostAlert...), "gtfs-rt:<feed>" for what an agency's GTFS-RT TripUpdates / Alerts feed says.
// A feed source is replaced as a whole on every good poll (ReplaceSource); operator changes are
// edited one by one. The same trip may be changed by several sources: it is cancelled when any
// of them cancels it.
//
// ServiceChangeSet is an immutable snapshot (what readers use: arrival boards, the GTFS-RT and
// SIRI output); ServiceChanges is the mutable, thread-safe holder that publishes a new snapshot
// on every edit and reports what changed (ServiceChangeDiff) so the caller can persist it.
//
// Ids are GTFS string ids (trip_id, stop_id, route_id, agency_id), not network indices, so a
// change survives a GTFS reload and a restart. No gRPC, no Redis here.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/core/common/mutex.h"

namespace smartbus {

inline constexpr const char* kOperatorSource = "operator";

// One text in one language. language: BCP-47 ("en", "es"); "" = the feed's default language.
struct Translation {
  std::string language;
  std::string text;
  bool operator==(const Translation&) const = default;
};
using TranslatedText = std::vector<Translation>;

// What an alert is about. Every non-empty field must match (GTFS-RT EntitySelector); an entity
// with only agency_id is agency-wide.
struct InformedEntity {
  std::string agency_id;
  std::string route_id;
  std::string trip_id;
  std::string stop_id;
  bool operator==(const InformedEntity&) const = default;
};

// [start_s, end_s] in epoch seconds; 0 = open on that side.
struct ActivePeriod {
  int64_t start_s = 0;
  int64_t end_s = 0;
  bool operator==(const ActivePeriod&) const = default;
};

// GTFS-RT numbers (Alert.Cause, Alert.Effect, Alert.SeverityLevel).
inline constexpr int32_t kUnknownCause = 1;
inline constexpr int32_t kUnknownEffect = 8;
inline constexpr int32_t kUnknownSeverity = 1;

struct Alert {
  std::string source;  // "operator" or "gtfs-rt:<feed>"
  std::string id;      // unique within the source
  std::vector<ActivePeriod> active_periods;  // empty: always active
  std::vector<InformedEntity> informed;      // at least one
  int32_t cause = kUnknownCause;
  int32_t effect = kUnknownEffect;
  int32_t severity = kUnknownSeverity;
  TranslatedText header;       // required, at least one translation
  TranslatedText description;
  TranslatedText url;
  int64_t created_s = 0;       // when it was posted (server clock), epoch s

  bool ActiveAt(int64_t t_s) const;
  // Active now or later (not every period over): false for an alert that can be dropped.
  bool ActiveOrFutureAt(int64_t t_s) const;
  std::string Key() const { return source + "|" + id; }
  bool operator==(const Alert&) const = default;
};

// A stop of a trip that the bus will not serve. stop_sequence 0: every visit of stop_id in the
// trip (a loop reaches a stop twice); stop_id empty: the stop at stop_sequence.
struct SkippedStop {
  std::string stop_id;
  uint32_t stop_sequence = 0;
  bool operator==(const SkippedStop&) const = default;
};

struct TripChange {
  std::string source;
  std::string trip_id;
  int32_t service_date = 0;  // YYYYMMDD (the trip's service date); 0 = every date
  bool cancelled = false;    // the whole trip
  std::vector<SkippedStop> skipped;  // stops not served (when not cancelled as a whole)
  std::string reason;        // free text (the operator's note)
  int64_t updated_s = 0;     // last edit (server clock), epoch s

  std::string Key() const;   // source|trip_id|service_date
  bool empty() const { return !cancelled && skipped.empty(); }
  bool operator==(const TripChange&) const = default;
};

// Whether a trip serves one of its stops.
enum class StopStatus : uint8_t {
  kScheduled = 0,  // as in the timetable
  kCancelled = 1,  // the whole trip is cancelled
  kSkipped = 2,    // the trip runs but does not serve this stop
};
absl::string_view StopStatusName(StopStatus s);  // "scheduled", "cancelled", "skipped"

// Which alerts concern an arrival board or a trip.
struct AlertSelector {
  std::string stop_id;                 // the stop (also matches its parent station if given)
  std::string parent_station;
  std::vector<std::string> route_ids;  // routes serving it
  std::vector<std::string> trip_ids;   // trips on the board
  std::vector<std::string> agency_ids; // agencies of those routes
};

// An immutable snapshot. Thread safety: const, shared freely.
class ServiceChangeSet {
 public:
  ServiceChangeSet() = default;
  ServiceChangeSet(std::vector<TripChange> trips, std::vector<Alert> alerts, uint64_t version);

  // Increases with every edit; comparable with the server's ChangeStamp (steady clock, ns).
  uint64_t version() const { return version_; }
  bool empty() const { return trips_.empty() && alerts_.empty(); }
  const std::vector<TripChange>& trips() const { return trips_; }   // sorted by Key()
  const std::vector<Alert>& alerts() const { return alerts_; }      // sorted by Key()

  // The trip on that service date at that stop. Cheap when nothing is changed (one hash lookup).
  StopStatus TripStatus(absl::string_view trip_id, int32_t service_date,
                        absl::string_view stop_id, uint32_t stop_sequence) const;
  bool TripCancelled(absl::string_view trip_id, int32_t service_date) const;
  // The changes of a trip (any source) that apply on that date.
  std::vector<const TripChange*> ChangesOf(absl::string_view trip_id, int32_t service_date) const;
  // Alerts active at t_s that inform something the selector names (or a whole agency of it),
  // sorted by key.
  std::vector<const Alert*> AlertsFor(const AlertSelector& sel, int64_t t_s) const;
  // Alerts active at t_s (every one when t_s < 0).
  std::vector<const Alert*> ActiveAlerts(int64_t t_s) const;

 private:
  std::vector<TripChange> trips_;
  std::vector<Alert> alerts_;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_trip_;  // trip_id -> trips_ index
  uint64_t version_ = 0;
};

// What an edit changed, for persistence: records to write, keys to delete.
struct ServiceChangeDiff {
  std::vector<TripChange> put_trips;
  std::vector<std::string> delete_trips;   // TripChange::Key()
  std::vector<Alert> put_alerts;
  std::vector<std::string> delete_alerts;  // Alert::Key()
  bool empty() const {
    return put_trips.empty() && delete_trips.empty() && put_alerts.empty() &&
           delete_alerts.empty();
  }
};

// The mutable holder. Thread safety: every method may be called from any thread; edits are
// serialized, readers take Current() without waiting on them.
class ServiceChanges {
 public:
  ServiceChanges();

  std::shared_ptr<const ServiceChangeSet> Current() const {
    return current_.load(std::memory_order_acquire);
  }

  // Replaces everything (recovery from the store). Records that do not validate are dropped
  // and counted in the returned diff's delete lists (so the caller can remove them).
  ServiceChangeDiff Load(std::vector<TripChange> trips, std::vector<Alert> alerts);

  // Cancels the whole trip (stop_id empty) or one stop of it. A cancelled trip stays cancelled
  // when one of its stops is cancelled again. INVALID_ARGUMENT: empty trip_id.
  absl::StatusOr<ServiceChangeDiff> Cancel(const std::string& source, const std::string& trip_id,
                                           int32_t service_date, const SkippedStop* stop,
                                           const std::string& reason, int64_t now_s);
  // Restores the whole trip (stop == nullptr: every change of that source for the trip and date
  // is removed) or one skipped stop. NOT_FOUND when there is nothing to restore (message says
  // what is changed instead).
  absl::StatusOr<ServiceChangeDiff> Restore(const std::string& source,
                                            const std::string& trip_id, int32_t service_date,
                                            const SkippedStop* stop);
  // Posts (or replaces, same source and id) an alert. INVALID_ARGUMENT naming the field when it
  // has no id, no header, no informed entity, or a period with end before start.
  absl::StatusOr<ServiceChangeDiff> PostAlert(Alert alert);
  // NOT_FOUND when the source has no such alert.
  absl::StatusOr<ServiceChangeDiff> EndAlert(const std::string& source, const std::string& id);
  // Replaces every change of `source` (a GTFS-RT feed) by these. Unchanged records are not in
  // the diff.
  ServiceChangeDiff ReplaceSource(const std::string& source, std::vector<TripChange> trips,
                                  std::vector<Alert> alerts);
  // Drops trip changes for service dates before `min_service_date` (YYYYMMDD) and alerts whose
  // every period ended before now_s.
  ServiceChangeDiff Prune(int32_t min_service_date, int64_t now_s);

  // Validation shared by the calls above (also used on records read back from the store).
  static absl::Status Validate(const Alert& a);
  static absl::Status Validate(const TripChange& t);

 private:
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  // Keyed by Key(); ordered so snapshots and diffs are deterministic.
  std::map<std::string, TripChange> trips_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Alert> alerts_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::shared_ptr<const ServiceChangeSet>> current_;
};

}  // namespace smartbus
