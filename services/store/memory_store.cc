#include "services/store/memory_store.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "services/store/codec.h"

namespace smartbus {

MemoryStore::MemoryStore(StoreOptions options) : options_(std::move(options)) {}

absl::Status MemoryStore::PutVehicleLocked(const VehicleRecord& v) {
  if (v.state.vehicle_id.empty()) {
    return absl::InvalidArgumentError("PutVehicle: empty vehicle_id");
  }
  VehicleRecord& r = vehicles_[v.state.vehicle_id];
  r = v;
  r.state.trip = kNoIndex;
  r.state.route = kNoIndex;
  return absl::OkStatus();
}

absl::Status MemoryStore::AppendPositionLocked(const Fix& fix) {
  if (fix.vehicle_id.empty()) {
    return absl::InvalidArgumentError("AppendPosition: empty vehicle_id");
  }
  if (options_.positions_cap == 0) return absl::OkStatus();
  History& h = positions_[fix.vehicle_id];
  if (!h.timestamps.insert(fix.timestamp_s).second) return absl::OkStatus();
  h.fixes.push_back(fix);
  while (h.fixes.size() > options_.positions_cap) {
    h.timestamps.erase(h.fixes.front().timestamp_s);
    h.fixes.pop_front();
  }
  return absl::OkStatus();
}

void MemoryStore::TrimVisitsLocked() {
  if (options_.visits_retention_s <= 0) return;
  const double cutoff = newest_visit_s_ - double(options_.visits_retention_s);
  while (!visits_.empty() && visits_.begin()->first < cutoff) {
    visit_keys_.erase(store_codec::EncodeStopVisit(visits_.begin()->second));
    visits_.erase(visits_.begin());
  }
}

absl::Status MemoryStore::AppendStopVisitLocked(const StopVisitRecord& v) {
  if (v.visit.vehicle_id.empty()) {
    return absl::InvalidArgumentError("AppendStopVisit: empty vehicle_id");
  }
  std::string key = store_codec::EncodeStopVisit(v);
  if (!visit_keys_.emplace(std::move(key), v.visit.arrival_s).second) return absl::OkStatus();
  StopVisitRecord r = v;
  r.visit.trip = kNoIndex;
  r.visit.route = r.visit.stop = kNoIndex;
  visits_.emplace(v.visit.arrival_s, std::move(r));
  newest_visit_s_ = std::max(newest_visit_s_, v.visit.arrival_s);
  TrimVisitsLocked();
  return absl::OkStatus();
}

absl::Status MemoryStore::PutModelLocked(absl::string_view name, absl::string_view bytes) {
  if (name.empty()) return absl::InvalidArgumentError("PutModel: empty model name");
  models_[std::string(name)] = std::string(bytes);
  return absl::OkStatus();
}

absl::Status MemoryStore::PutVehicle(const VehicleRecord& v) {
  MutexLock l(mu_);
  return PutVehicleLocked(v);
}

absl::StatusOr<VehicleRecord> MemoryStore::GetVehicle(absl::string_view vehicle_id) {
  MutexLock l(mu_);
  auto it = vehicles_.find(vehicle_id);
  if (it == vehicles_.end()) {
    return absl::NotFoundError(absl::StrCat("no stored state for vehicle \"", vehicle_id, "\""));
  }
  return it->second;
}

absl::StatusOr<std::vector<VehicleRecord>> MemoryStore::ListVehicles() {
  MutexLock l(mu_);
  std::vector<VehicleRecord> out;
  out.reserve(vehicles_.size());
  for (const auto& [id, v] : vehicles_) out.push_back(v);
  return out;
}

absl::Status MemoryStore::AppendPosition(const Fix& fix) {
  MutexLock l(mu_);
  return AppendPositionLocked(fix);
}

absl::StatusOr<std::vector<std::string>> MemoryStore::ListPositionVehicles() {
  MutexLock l(mu_);
  std::vector<std::string> out;
  for (const auto& [id, history] : positions_)
    if (!history.fixes.empty()) out.push_back(id);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<Fix>> MemoryStore::ReadPositions(absl::string_view vehicle_id,
                                                            int64_t since_s) {
  MutexLock l(mu_);
  std::vector<Fix> out;
  auto it = positions_.find(vehicle_id);
  if (it == positions_.end()) return out;
  for (const Fix& f : it->second.fixes) {
    if (f.timestamp_s >= since_s) out.push_back(f);
  }
  store_codec::SortAndDedupePositions(&out);
  return out;
}

absl::Status MemoryStore::AppendStopVisit(const StopVisitRecord& v) {
  MutexLock l(mu_);
  return AppendStopVisitLocked(v);
}

absl::StatusOr<std::vector<StopVisitRecord>> MemoryStore::ReadStopVisits(
    const StopVisitQuery& q) {
  MutexLock l(mu_);
  std::vector<StopVisitRecord> out;
  for (auto it = visits_.lower_bound(q.from_s); it != visits_.end() && it->first <= q.to_s;
       ++it) {
    if (store_codec::StopVisitMatches(it->second, q)) out.push_back(it->second);
  }
  std::sort(out.begin(), out.end(), store_codec::StopVisitLess);
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

absl::Status MemoryStore::PutModel(absl::string_view name, absl::string_view bytes) {
  MutexLock l(mu_);
  return PutModelLocked(name, bytes);
}

absl::StatusOr<std::string> MemoryStore::GetModel(absl::string_view name) {
  MutexLock l(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("no stored model named \"", name, "\""));
  }
  return it->second;
}

absl::Status MemoryStore::Apply(absl::Span<const StoreChange> changes) {
  MutexLock l(mu_);
  absl::Status first;
  for (const StoreChange& c : changes) {
    absl::Status s;
    if (const auto* v = std::get_if<VehicleRecord>(&c)) {
      s = PutVehicleLocked(*v);
    } else if (const auto* f = std::get_if<Fix>(&c)) {
      s = AppendPositionLocked(*f);
    } else if (const auto* sv = std::get_if<StopVisitRecord>(&c)) {
      s = AppendStopVisitLocked(*sv);
    } else if (const auto* m = std::get_if<ModelBlob>(&c)) {
      s = PutModelLocked(m->name, m->bytes);
    } else if (const auto* e = std::get_if<ConditionEvent>(&c)) {
      auto& events = events_[e->vehicle_id];
      events.emplace(e->time_s, *e);
      const int64_t keep = options_.visits_retention_s;
      while (keep > 0 && !events.empty() && events.begin()->first < e->time_s - keep)
        events.erase(events.begin());
    } else if (const auto* d = std::get_if<DrivingDay>(&c)) {
      driving_[d->vehicle_id][d->day] = d->driving_s;
    }
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

absl::StatusOr<std::vector<ConditionEvent>> MemoryStore::ReadConditionEvents(
    absl::string_view vehicle_id, int64_t from_s, int64_t to_s) {
  MutexLock l(mu_);
  std::vector<ConditionEvent> out;
  auto it = events_.find(vehicle_id);
  if (it == events_.end()) return out;
  for (auto e = it->second.lower_bound(from_s); e != it->second.end() && e->first <= to_s; ++e)
    out.push_back(e->second);
  return out;
}

absl::StatusOr<std::vector<DrivingDay>> MemoryStore::ReadDrivingDays(
    absl::string_view vehicle_id) {
  MutexLock l(mu_);
  std::vector<DrivingDay> out;
  auto it = driving_.find(vehicle_id);
  if (it == driving_.end()) return out;
  for (const auto& [day, s] : it->second) out.push_back({std::string(vehicle_id), day, s});
  return out;
}

absl::Status MemoryStore::PutLearnedPath(const LearnedPath& path) {
  if (path.key.empty()) return absl::InvalidArgumentError("PutLearnedPath: empty key");
  MutexLock l(mu_);
  paths_[path.key] = path;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LearnedPath>> MemoryStore::ListLearnedPaths() {
  MutexLock l(mu_);
  std::vector<LearnedPath> out;
  for (const auto& [key, path] : paths_) out.push_back(path);
  return out;
}

absl::Status MemoryStore::ApplyServiceChanges(const ServiceChangeDiff& diff) {
  MutexLock l(mu_);
  for (const TripChange& t : diff.put_trips) trip_changes_[t.Key()] = store_codec::EncodeTripChange(t);
  for (const Alert& a : diff.put_alerts) alerts_[a.Key()] = store_codec::EncodeAlert(a);
  for (const std::string& k : diff.delete_trips) trip_changes_.erase(k);
  for (const std::string& k : diff.delete_alerts) alerts_.erase(k);
  return absl::OkStatus();
}

absl::StatusOr<StoredServiceChanges> MemoryStore::ListServiceChanges() {
  StoredServiceChanges out;
  MutexLock l(mu_);
  for (const auto& [k, v] : trip_changes_) {
    auto t = store_codec::DecodeTripChange(v);
    if (t.ok()) out.trips.push_back(*std::move(t));
    else out.undecodable.push_back(std::string(t.status().message()));
  }
  for (const auto& [k, v] : alerts_) {
    auto a = store_codec::DecodeAlert(v);
    if (a.ok()) out.alerts.push_back(*std::move(a));
    else out.undecodable.push_back(std::string(a.status().message()));
  }
  return out;
}

}  // namespace smartbus
