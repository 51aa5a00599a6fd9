#include "services/core/engine/backfill.h"

#include <algorithm>

namespace smartbus {

namespace {

// What a remembered fix keeps (the backfill pass re-tracks positions; passenger data and the
// trip_id of the fix are not kept: the pass infers the trip like the live tracker does for a
// bus that does not say it).
struct PastFix {
  int64_t t = 0;
  double lat = 0, lon = 0;
  float bearing_deg = NAN, speed_mps = NAN, accuracy_m = NAN;
};

}  // namespace

struct Backfill::Vehicle {
  std::vector<PastFix> ring;  // capacity history_fixes, oldest at `head` once full
  size_t head = 0;
  int64_t last_t = 0;
  std::vector<Fix> late;      // not looked at yet
  std::vector<Fix> gap;       // late fixes inside the held gap, gathered over several uploads
  bool hold = false;
  int64_t hold_prev_s = 0, hold_t_s = 0, hold_at_s = 0;
  std::vector<StopVisit> held;
  bool listed = false;  // in dirty_

  // Remembered fixes oldest first.
  template <typename F>
  void ForEach(F f) const {
    for (size_t i = 0; i < ring.size(); ++i) f(ring[(head + i) % ring.size()]);
  }
};

Backfill::Backfill(std::shared_ptr<const Network> network, const TrackerOptions& tracker,
                   const BackfillOptions& options)
    : net_(std::move(network)), tracker_opt_(tracker), opt_(options) {}

Backfill::~Backfill() = default;

int64_t Backfill::Remember(const Fix& fix) {
  auto& slot = vehicles_[fix.vehicle_id];
  if (!slot) {
    slot = std::make_unique<Vehicle>();
    slot->ring.reserve(static_cast<size_t>(std::max(1, opt_.history_fixes)));
  }
  Vehicle& v = *slot;
  const int64_t prev = v.last_t;
  const PastFix p{fix.timestamp_s, fix.lat, fix.lon, fix.bearing_deg, fix.speed_mps,
                  fix.accuracy_m};
  if (v.ring.size() < v.ring.capacity()) {
    v.ring.push_back(p);
  } else {
    v.ring[v.head] = p;
    v.head = (v.head + 1) % v.ring.size();
  }
  v.last_t = fix.timestamp_s;
  return prev;
}

void Backfill::AddLate(const Fix& fix) {
  auto it = vehicles_.find(fix.vehicle_id);
  if (it == vehicles_.end()) return;  // never accepted a fix: nothing to merge into
  Vehicle& v = *it->second;
  v.late.push_back(fix);
  ++pending_late_;
  ++stats_.late_fixes;
  List(fix.vehicle_id, v);
}

void Backfill::List(const std::string& id, Vehicle& v) {
  if (v.listed) return;
  v.listed = true;
  dirty_.push_back(id);
}

void Backfill::Hold(const std::string& vehicle_id, int64_t prev_s, int64_t t_s, int64_t now_s,
                    std::vector<StopVisit>* visits) {
  Vehicle& v = *vehicles_[vehicle_id];  // Remember() ran first
  std::vector<StopVisit> released;
  if (v.hold) {
    released.swap(v.held);
    v.gap.clear();
    ++stats_.released;
    --held_;
  }
  v.held.swap(*visits);
  visits->swap(released);
  v.hold = true;
  v.hold_prev_s = prev_s;
  v.hold_t_s = t_s;
  v.hold_at_s = now_s;
  List(vehicle_id, v);
  ++held_;
  ++stats_.holds;
}

void Backfill::Gather(Vehicle& v) {
  for (Fix& f : v.late)
    if (v.hold && f.timestamp_s > v.hold_prev_s && f.timestamp_s < v.hold_t_s)
      v.gap.push_back(std::move(f));
  pending_late_ -= static_cast<int64_t>(v.late.size());
  v.late.clear();
}

bool Backfill::Covered(const Vehicle& v) const {
  std::vector<int64_t> t;
  t.reserve(v.gap.size() + 2);
  t.push_back(v.hold_prev_s);
  for (const Fix& f : v.gap) t.push_back(f.timestamp_s);
  t.push_back(v.hold_t_s);
  std::sort(t.begin(), t.end());
  for (size_t i = 1; i < t.size(); ++i)
    if (t[i] - t[i - 1] > opt_.hold_gap_s) return false;
  return true;
}

bool Backfill::Pass(const std::string& id, Vehicle& v, std::vector<StopVisit>* out) {
  std::vector<Fix> fixes = v.gap;
  v.ForEach([&](const PastFix& p) {
    Fix& f = fixes.emplace_back();
    f.vehicle_id = id;
    f.timestamp_s = p.t;
    f.lat = p.lat;
    f.lon = p.lon;
    f.bearing_deg = p.bearing_deg;
    f.speed_mps = p.speed_mps;
    f.accuracy_m = p.accuracy_m;
  });
  std::stable_sort(fixes.begin(), fixes.end(),
                   [](const Fix& a, const Fix& b) { return a.timestamp_s < b.timestamp_s; });
  // A separate tracker: its own vehicle state, the live one is untouched.
  Tracker pass(net_, tracker_opt_);
  MatchResult m;
  std::vector<StopVisit> visits;
  for (const Fix& f : fixes) pass.Process(f, f.timestamp_s, &m, &visits);
  std::vector<StopVisit> in_gap;
  for (StopVisit& s : visits)
    if (s.arrival_s > double(v.hold_prev_s) && s.arrival_s <= double(v.hold_t_s))
      in_gap.push_back(std::move(s));
  if (in_gap.empty()) return false;  // the pass could not follow the bus
  stats_.visits_replaced += static_cast<int64_t>(v.held.size());
  stats_.visits_backfilled += static_cast<int64_t>(in_gap.size());
  ++stats_.backfills;
  out->insert(out->end(), std::make_move_iterator(in_gap.begin()),
              std::make_move_iterator(in_gap.end()));
  return true;
}

void Backfill::EndHold(Vehicle& v) {
  v.held.clear();
  v.gap.clear();
  v.hold = false;
  --held_;
}

void Backfill::Flush(int64_t now_s, bool all, std::vector<StopVisit>* out) {
  if (!pending()) return;
  size_t keep = 0;
  for (size_t i = 0; i < dirty_.size(); ++i) {
    const std::string& id = dirty_[i];
    auto it = vehicles_.find(id);
    if (it == vehicles_.end()) continue;
    Vehicle& v = *it->second;
    const bool gathered = !v.late.empty();
    if (gathered) Gather(v);
    if (!v.hold) {
      v.gap.clear();
    } else if (gathered && !v.gap.empty() && Covered(v) && Pass(id, v, out)) {
      EndHold(v);  // the upload covers the gap: its visits replace the held ones
    } else if (all || now_s - v.hold_at_s >= opt_.hold_s) {
      // Expired: what came of the gap, else the held visits as they are.
      if (v.gap.empty() || !Pass(id, v, out)) {
        out->insert(out->end(), std::make_move_iterator(v.held.begin()),
                    std::make_move_iterator(v.held.end()));
        ++stats_.released;
      }
      EndHold(v);
    }
    v.listed = v.hold || !v.late.empty();
    if (v.listed) dirty_[keep++] = id;
  }
  dirty_.resize(keep);
}

}  // namespace smartbus
