#include "services/core/service_changes/service_changes.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace smartbus {
namespace {

// Same definition as the server's ChangeStamp (live_view.h), so versions compare.
uint64_t Stamp() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

bool SkipMatches(const SkippedStop& s, absl::string_view stop_id, uint32_t stop_sequence) {
  if (!s.stop_id.empty() && s.stop_id != stop_id) return false;
  if (s.stop_sequence != 0 && s.stop_sequence != stop_sequence) return false;
  return true;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool HasText(const TranslatedText& t) {
  for (const Translation& x : t)
    if (!x.text.empty()) return true;
  return false;
}

// `records` by Key(), the invalid ones (ServiceChanges::Validate) left out and their keys
// appended to *invalid when given. A later record replaces an earlier one of the same key.
template <typename T>
std::map<std::string, T> ValidByKey(std::vector<T>& records, std::vector<std::string>* invalid) {
  std::map<std::string, T> out;
  for (T& x : records) {
    if (!ServiceChanges::Validate(x).ok()) {
      if (invalid) invalid->push_back(x.Key());
      continue;
    }
    std::string k = x.Key();
    out[k] = std::move(x);
  }
  return out;
}

}  // namespace

absl::string_view StopStatusName(StopStatus s) {
  switch (s) {
    case StopStatus::kScheduled: return "scheduled";
    case StopStatus::kCancelled: return "cancelled";
    case StopStatus::kSkipped: return "skipped";
  }
  return "scheduled";
}

bool Alert::ActiveAt(int64_t t) const {
  if (active_periods.empty()) return true;
  for (const ActivePeriod& p : active_periods)
    if ((p.start_s == 0 || t >= p.start_s) && (p.end_s == 0 || t <= p.end_s)) return true;
  return false;
}

bool Alert::ActiveOrFutureAt(int64_t t) const {
  if (active_periods.empty()) return true;
  for (const ActivePeriod& p : active_periods)
    if (p.end_s == 0 || t <= p.end_s) return true;
  return false;
}

std::string TripChange::Key() const {
  return absl::StrCat(source, "|", trip_id, "|", service_date);
}

// ---------------------------------------------------------------------------------------------
// ServiceChangeSet

ServiceChangeSet::ServiceChangeSet(std::vector<TripChange> trips, std::vector<Alert> alerts,
                                   uint64_t version)
    : trips_(std::move(trips)), alerts_(std::move(alerts)), version_(version) {
  for (uint32_t i = 0; i < trips_.size(); ++i) by_trip_[trips_[i].trip_id].push_back(i);
}

std::vector<const TripChange*> ServiceChangeSet::ChangesOf(absl::string_view trip_id,
                                                           int32_t service_date) const {
  std::vector<const TripChange*> out;
  if (trips_.empty()) return out;
  auto it = by_trip_.find(trip_id);
  if (it == by_trip_.end()) return out;
  for (uint32_t i : it->second) {
    const TripChange& t = trips_[i];
    if (t.service_date == 0 || service_date == 0 || t.service_date == service_date)
      out.push_back(&t);
  }
  return out;
}

StopStatus ServiceChangeSet::TripStatus(absl::string_view trip_id, int32_t service_date,
                                        absl::string_view stop_id,
                                        uint32_t stop_sequence) const {
  if (trips_.empty()) return StopStatus::kScheduled;
  StopStatus st = StopStatus::kScheduled;
  for (const TripChange* t : ChangesOf(trip_id, service_date)) {
    if (t->cancelled) return StopStatus::kCancelled;
    for (const SkippedStop& s : t->skipped)
      if (SkipMatches(s, stop_id, stop_sequence)) st = StopStatus::kSkipped;
  }
  return st;
}

bool ServiceChangeSet::TripCancelled(absl::string_view trip_id, int32_t service_date) const {
  for (const TripChange* t : ChangesOf(trip_id, service_date))
    if (t->cancelled) return true;
  return false;
}

std::vector<const Alert*> ServiceChangeSet::AlertsFor(const AlertSelector& sel,
                                                      int64_t t_s) const {
  std::vector<const Alert*> out;
  for (const Alert& a : alerts_) {
    if (!a.ActiveAt(t_s)) continue;
    for (const InformedEntity& e : a.informed) {
      const bool stop_ok = e.stop_id.empty() || e.stop_id == sel.stop_id ||
                           (!sel.parent_station.empty() && e.stop_id == sel.parent_station);
      const bool route_ok = e.route_id.empty() || Contains(sel.route_ids, e.route_id);
      const bool trip_ok = e.trip_id.empty() || Contains(sel.trip_ids, e.trip_id);
      const bool agency_ok = e.agency_id.empty() || Contains(sel.agency_ids, e.agency_id);
      const bool names_something = !e.stop_id.empty() || !e.route_id.empty() ||
                                   !e.trip_id.empty() || !e.agency_id.empty();
      if (names_something && stop_ok && route_ok && trip_ok && agency_ok) {
        out.push_back(&a);
        break;
      }
    }
  }
  return out;
}

std::vector<const Alert*> ServiceChangeSet::ActiveAlerts(int64_t t_s) const {
  std::vector<const Alert*> out;
  for (const Alert& a : alerts_)
    if (t_s < 0 || a.ActiveAt(t_s)) out.push_back(&a);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ServiceChanges

ServiceChanges::ServiceChanges() {
  current_.store(std::make_shared<const ServiceChangeSet>(), std::memory_order_release);
}

void ServiceChanges::PublishLocked() {
  std::vector<TripChange> trips;
  trips.reserve(trips_.size());
  for (const auto& [k, t] : trips_) trips.push_back(t);
  std::vector<Alert> alerts;
  alerts.reserve(alerts_.size());
  for (const auto& [k, a] : alerts_) alerts.push_back(a);
  current_.store(std::make_shared<const ServiceChangeSet>(std::move(trips), std::move(alerts),
                                                          Stamp()),
                 std::memory_order_release);
}

absl::Status ServiceChanges::Validate(const Alert& a) {
  if (a.source.empty()) return absl::InvalidArgumentError("alert.source: empty");
  if (a.id.empty()) return absl::InvalidArgumentError("alert_id: empty");
  if (!HasText(a.header))
    return absl::InvalidArgumentError(
        absl::StrCat("alert \"", a.id, "\": header_text: required (at least one translation)"));
  if (a.informed.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "alert \"", a.id,
        "\": informed_entities: required (a route_id, stop_id, trip_id or agency_id)"));
  for (size_t i = 0; i < a.informed.size(); ++i) {
    const InformedEntity& e = a.informed[i];
    if (e.agency_id.empty() && e.route_id.empty() && e.trip_id.empty() && e.stop_id.empty())
      return absl::InvalidArgumentError(absl::StrCat(
          "alert \"", a.id, "\": informed_entities[", i, "]: names nothing (set a route_id, ",
          "stop_id, trip_id or agency_id)"));
  }
  for (size_t i = 0; i < a.active_periods.size(); ++i) {
    const ActivePeriod& p = a.active_periods[i];
    if (p.start_s < 0 || p.end_s < 0 || (p.end_s != 0 && p.end_s < p.start_s))
      return absl::InvalidArgumentError(absl::StrCat(
          "alert \"", a.id, "\": active_periods[", i, "]: start=", p.start_s, " end=", p.end_s,
          ": need 0 <= start <= end (0 = open)"));
  }
  return absl::OkStatus();
}

absl::Status ServiceChanges::Validate(const TripChange& t) {
  if (t.source.empty()) return absl::InvalidArgumentError("trip change source: empty");
  if (t.trip_id.empty()) return absl::InvalidArgumentError("trip_id: empty");
  if (t.service_date != 0 && (t.service_date < 19000101 || t.service_date > 29991231))
    return absl::InvalidArgumentError(absl::StrCat(
        "service_date=", t.service_date, ": need YYYYMMDD (or 0 for every date)"));
  if (t.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("trip \"", t.trip_id, "\": neither cancelled nor any stop skipped"));
  for (const SkippedStop& s : t.skipped)
    if (s.stop_id.empty() && s.stop_sequence == 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "trip \"", t.trip_id, "\": a skipped stop needs a stop_id or a stop_sequence"));
  return absl::OkStatus();
}

ServiceChangeDiff ServiceChanges::Load(std::vector<TripChange> trips, std::vector<Alert> alerts) {
  ServiceChangeDiff bad;
  MutexLock lock(mu_);
  trips_ = ValidByKey(trips, &bad.delete_trips);
  alerts_ = ValidByKey(alerts, &bad.delete_alerts);
  PublishLocked();
  return bad;
}

absl::StatusOr<ServiceChangeDiff> ServiceChanges::Cancel(const std::string& source,
                                                         const std::string& trip_id,
                                                         int32_t service_date,
                                                         const SkippedStop* stop,
                                                         const std::string& reason,
                                                         int64_t now_s) {
  TripChange next;
  next.source = source;
  next.trip_id = trip_id;
  next.service_date = service_date;
  MutexLock lock(mu_);
  auto it = trips_.find(next.Key());
  if (it != trips_.end()) next = it->second;
  if (stop == nullptr) {
    next.cancelled = true;
  } else if (std::find(next.skipped.begin(), next.skipped.end(), *stop) == next.skipped.end()) {
    next.skipped.push_back(*stop);
  }
  if (!reason.empty()) next.reason = reason;
  next.updated_s = now_s;
  if (absl::Status s = Validate(next); !s.ok()) return s;
  ServiceChangeDiff d;
  d.put_trips.push_back(next);
  trips_[next.Key()] = std::move(next);
  PublishLocked();
  return d;
}

absl::StatusOr<ServiceChangeDiff> ServiceChanges::Restore(const std::string& source,
                                                          const std::string& trip_id,
                                                          int32_t service_date,
                                                          const SkippedStop* stop) {
  TripChange probe;
  probe.source = source;
  probe.trip_id = trip_id;
  probe.service_date = service_date;
  const std::string key = probe.Key();
  MutexLock lock(mu_);
  auto it = trips_.find(key);
  if (it == trips_.end())
    return absl::NotFoundError(absl::StrCat("trip \"", trip_id, "\" on service date ",
                                            service_date, ": not cancelled by ", source,
                                            ", nothing to restore"));
  ServiceChangeDiff d;
  if (stop == nullptr) {
    trips_.erase(it);
    d.delete_trips.push_back(key);
  } else {
    TripChange& t = it->second;
    auto s = std::find(t.skipped.begin(), t.skipped.end(), *stop);
    if (s == t.skipped.end())
      return absl::NotFoundError(absl::StrCat(
          "trip \"", trip_id, "\": stop \"", stop->stop_id, "\" (stop_sequence ",
          stop->stop_sequence, ") is not skipped",
          t.cancelled ? "; the whole trip is cancelled: restore the trip" : ""));
    t.skipped.erase(s);
    if (t.empty()) {
      trips_.erase(it);
      d.delete_trips.push_back(key);
    } else {
      d.put_trips.push_back(t);
    }
  }
  PublishLocked();
  return d;
}

absl::StatusOr<ServiceChangeDiff> ServiceChanges::PostAlert(Alert alert) {
  if (absl::Status s = Validate(alert); !s.ok()) return s;
  ServiceChangeDiff d;
  d.put_alerts.push_back(alert);
  MutexLock lock(mu_);
  alerts_[alert.Key()] = std::move(alert);
  PublishLocked();
  return d;
}

absl::StatusOr<ServiceChangeDiff> ServiceChanges::EndAlert(const std::string& source,
                                                           const std::string& id) {
  const std::string key = source + "|" + id;
  MutexLock lock(mu_);
  auto it = alerts_.find(key);
  if (it == alerts_.end())
    return absl::NotFoundError(
        absl::StrCat("alert \"", id, "\": no such alert posted by ", source));
  alerts_.erase(it);
  PublishLocked();
  ServiceChangeDiff d;
  d.delete_alerts.push_back(key);
  return d;
}

ServiceChangeDiff ServiceChanges::ReplaceSource(const std::string& source,
                                                std::vector<TripChange> trips,
                                                std::vector<Alert> alerts) {
  ServiceChangeDiff d;
  for (TripChange& t : trips) t.source = source;
  for (Alert& a : alerts) a.source = source;
  std::map<std::string, TripChange> new_trips = ValidByKey(trips, nullptr);
  std::map<std::string, Alert> new_alerts = ValidByKey(alerts, nullptr);
  MutexLock lock(mu_);
  auto same_source = [&](const std::string& key) {
    return key.size() > source.size() && key.compare(0, source.size(), source) == 0 &&
           key[source.size()] == '|';
  };
  // Drops the source's records that the new set no longer has.
  auto drop_gone = [&](auto& current, const auto& fresh, std::vector<std::string>* deleted) {
    for (auto it = current.begin(); it != current.end();) {
      if (same_source(it->first) && !fresh.count(it->first)) {
        deleted->push_back(it->first);
        it = current.erase(it);
      } else {
        ++it;
      }
    }
  };
  drop_gone(trips_, new_trips, &d.delete_trips);
  drop_gone(alerts_, new_alerts, &d.delete_alerts);
  for (auto& [k, t] : new_trips) {
    auto it = trips_.find(k);
    // updated_s alone does not make a change (a feed restamps every poll).
    if (it != trips_.end() && it->second.cancelled == t.cancelled &&
        it->second.skipped == t.skipped)
      continue;
    d.put_trips.push_back(t);
    trips_[k] = std::move(t);
  }
  for (auto& [k, a] : new_alerts) {
    auto it = alerts_.find(k);
    if (it != alerts_.end()) {
      Alert old = it->second;
      old.created_s = a.created_s;
      if (old == a) continue;
    }
    d.put_alerts.push_back(a);
    alerts_[k] = std::move(a);
  }
  if (!d.empty()) PublishLocked();
  return d;
}

ServiceChangeDiff ServiceChanges::Prune(int32_t min_service_date, int64_t now_s) {
  ServiceChangeDiff d;
  MutexLock lock(mu_);
  for (auto it = trips_.begin(); it != trips_.end();) {
    if (it->second.service_date != 0 && it->second.service_date < min_service_date) {
      d.delete_trips.push_back(it->first);
      it = trips_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    if (!it->second.ActiveOrFutureAt(now_s)) {
      d.delete_alerts.push_back(it->first);
      it = alerts_.erase(it);
    } else {
      ++it;
    }
  }
  if (!d.empty()) PublishLocked();
  return d;
}

}  // namespace smartbus
