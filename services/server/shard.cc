#include "services/server/shard.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <iterator>
#include <pthread.h>

#include "services/store/network_ids.h"

namespace smartbus::server {

class Shard::Listener : public EngineListener {
 public:
  explicit Listener(Shard* s) : s_(s) {}
  void OnStopVisit(const StopVisit& v) override {
    s_->predictor_->ObserveVisit(v);
    s_->fix_visits_.push_back(v);
    s_->ScoreVisit(v, /*own=*/true);
  }
  void OnVehicleUpdate(const VehicleState& state) override {
    s_->ObserveClock();
    s_->Publish(state);
  }

 private:
  Shard* s_;
};

Shard::Shard(int index, ShardShared* shared, std::shared_ptr<const Network> network,
             const ShardOptions& options)
    : index_(index),
      shared_(shared),
      options_(options),
      network_(std::move(network)),
      accuracy_(options_.accuracy) {
  listener_ = std::make_unique<Listener>(this);
  ConditionOptions co = options_.condition;
  co.time_zone = network_->time_zone();
  condition_.set_options(co);
  MakeEngine();
  view_ = shared_->view.load();
  predictor_ = std::make_unique<LayeredPredictor>(network_, options_.predictor,
                                                  options_.engine.tracker);
}

Shard::~Shard() { Stop(); }

void Shard::MakeEngine() {
  engine_ = std::make_unique<Engine>(network_, options_.engine);
  engine_->AddListener(listener_.get());
  path_listener_.reset();
  std::shared_ptr<PathLearner> paths = shared_->paths.load();
  if (paths && paths->network() == network_) {
    path_listener_ = std::make_unique<PathListener>(std::move(paths));
    engine_->AddListener(path_listener_.get());
  }
}

void Shard::Start() {
  next_vehicle_flush_ = absl::Now() + options_.vehicle_flush_interval;
  next_model_save_ = absl::Now() + options_.model_save_interval;
  thread_ = std::thread([this] {
    // Named for top -H / perf: "sb-shard-<index>".
    pthread_setname_np(pthread_self(), ("sb-shard-" + std::to_string(index_)).c_str());
    Run();
  });
}

void Shard::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Shard::TryReserve(size_t n) {
  size_t cur = queued_.load(std::memory_order_relaxed);
  while (true) {
    if (cur + n > options_.queue_capacity) return false;
    if (queued_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) return true;
  }
}

void Shard::SubmitFixes(std::shared_ptr<IngestJob> job) {
  {
    MutexLock lock(mu_);
    items_.push_back(Item{std::move(job), nullptr, nullptr, nullptr});
  }
  cv_.notify_one();
}

void Shard::SubmitVisits(std::shared_ptr<const Network> network,
                         std::shared_ptr<const std::vector<StopVisit>> visits) {
  {
    MutexLock lock(mu_);
    items_.push_back(Item{nullptr, std::move(network), std::move(visits), nullptr});
  }
  cv_.notify_one();
}

void Shard::RunOnShard(std::function<void(Shard&)> fn) {
  {
    MutexLock lock(mu_);
    items_.push_back(Item{nullptr, nullptr, nullptr, std::move(fn)});
  }
  cv_.notify_one();
}

void Shard::RunOnShardAndWait(std::function<void(Shard&)> fn) {
  std::promise<void> done;
  RunOnShard([&](Shard& s) {
    fn(s);
    done.set_value();
  });
  done.get_future().wait();
}

void Shard::Run() {
  std::vector<Item> work;
  while (true) {
    {
      UniqueLock lock(mu_);
      absl::Time deadline = next_vehicle_flush_;
      if (index_ == 0) deadline = std::min(deadline, next_model_save_);
      cv_.wait_until(lock.native(), absl::ToChronoTime(deadline),
                     [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                       return stop_ || !items_.empty();
                     });
      work.swap(items_);
      if (stop_ && work.empty()) break;
    }
    for (Item& item : work) {
      if (item.job) {
        ProcessJob(*item.job);
      } else if (item.visits) {
        if (item.visits_network == network_) {
          for (const StopVisit& v : *item.visits) {
            predictor_->ObserveVisit(v);
            ScoreVisit(v, /*own=*/false);
          }
        }
      } else if (item.fn) {
        item.fn(*this);
      }
    }
    work.clear();
    absl::Time now = absl::Now();
    if (now >= next_vehicle_flush_) {
      FlushVehicles(false);
      segments_learned_.store(predictor_->segments_learned(), std::memory_order_relaxed);
      next_vehicle_flush_ = now + options_.vehicle_flush_interval;
    }
    if (index_ == 0 && now >= next_model_save_) {
      SaveModel();
      next_model_save_ = now + options_.model_save_interval;
    }
  }
  // Held visits of signal gaps go out as they are (a late upload can no longer come in).
  changes_.clear();
  FlushAllLate();
  if (!changes_.empty() && shared_->writer) (void)shared_->writer->EnqueueAll(absl::MakeSpan(changes_));
  changes_.clear();
  FlushVehicles(true);
  if (index_ == 0) SaveModel();
}

void Shard::ProcessFix(const Fix& fix) {
  fix_visits_.clear();
  if (fix.device.present) UpdateCondition(fix);
  engine_->Process(fix);
}

void Shard::FlushAllLate() {
  fix_visits_.clear();
  engine_->FlushLate(/*all=*/true);
  if (fix_visits_.empty()) return;
  if (persist_ && shared_->writer)
    for (const StopVisit& v : fix_visits_) changes_.emplace_back(MakeStopVisitRecord(v, *network_));
  part_visits_.insert(part_visits_.end(), fix_visits_.begin(), fix_visits_.end());
  fix_visits_.clear();
}

void Shard::UpdateCondition(const Fix& fix) {
  cond_events_.clear();
  finished_days_.clear();
  if (!condition_.Update(fix, &cond_events_, &finished_days_)) return;
  shared_->alarm_events.fetch_add(cond_events_.size(), std::memory_order_relaxed);
  if (!persist_ || !shared_->writer) return;
  for (ConditionEvent& e : cond_events_) changes_.emplace_back(std::move(e));
  for (DrivingDay& d : finished_days_) changes_.emplace_back(std::move(d));
}

void Shard::ProcessJob(IngestJob& job) {
  const std::vector<uint32_t>& idx = job.by_shard[index_];
  if (!shared_->clock->follows_fixes()) engine_->SetClock(shared_->clock->Now());
  changes_.clear();
  part_visits_.clear();
  uint64_t accepted = 0, rejected = 0;
  for (uint32_t i : idx) {
    Fix& fix = job.fixes[i];
    if (engine_->tracker().num_vehicles() >= options_.max_vehicles &&
        !engine_->tracker().Vehicle(fix.vehicle_id)) {
      job.reason[i] = kReasonTooManyVehicles;
      job.detail[i] = absl::StrCat("too_many_vehicles: this server tracks ",
                                   engine_->tracker().num_vehicles(),
                                   " vehicles in this shard, the limit (--max_vehicles)");
      ++rejected;
      continue;
    }
    ProcessFix(fix);
    const MatchResult& m = engine_->last_match();
    const bool late = engine_->last_fix_backfilled();  // history only (backfill.h)
    if (m.state == MatchState::kRejected && !late) {
      job.reason[i] = static_cast<uint8_t>(m.reason);
      shared_->rejected_by_reason[static_cast<size_t>(m.reason) & 15].fetch_add(1, std::memory_order_relaxed);
      ++rejected;
      continue;
    }
    job.reason[i] = kAccepted;
    ++accepted;
    if (!late) shared_->clock->ObserveFix(engine_->clock_s());  // kFixes: moved by a quorum, not one bus
    if (persist_ && shared_->writer) {
      // Moved (trip and route ids are long strings): the job only reads the vehicle id again.
      const Fix& stored = std::get<Fix>(changes_.emplace_back(std::move(fix)));
      fix.vehicle_id = stored.vehicle_id;
      for (const StopVisit& v : fix_visits_)
        changes_.emplace_back(MakeStopVisitRecord(v, *network_));
    }
    part_visits_.insert(part_visits_.end(), fix_visits_.begin(), fix_visits_.end());
  }
  if (!changes_.empty()) {
    absl::Status s = shared_->writer->EnqueueAll(absl::MakeSpan(changes_));
    if (!s.ok()) {
      // The store queue filled up after admission: these fixes were tracked but cannot be
      // acknowledged as stored. Say so (the client retries; the engine then calls them
      // duplicates, which is the truth about the tracker, and the retry is not stored).
      for (uint32_t i : idx) {
        if (job.reason[i] == kAccepted) {
          job.reason[i] = kReasonOverloaded;
          job.detail[i] = std::string(s.message());
        }
      }
      shared_->overloaded.fetch_add(accepted, std::memory_order_relaxed);
      accepted = 0;
    }
    changes_.clear();
  }
  shared_->accepted.fetch_add(accepted, std::memory_order_relaxed);
  shared_->rejected.fetch_add(rejected, std::memory_order_relaxed);
  shared_->stop_visits.fetch_add(part_visits_.size(), std::memory_order_relaxed);
  if (shared_->shards.size() > 1 && !part_visits_.empty()) {
    auto visits = std::make_shared<const std::vector<StopVisit>>(part_visits_);
    for (Shard* other : shared_->shards)
      if (other != this) other->SubmitVisits(network_, visits);
  }
  accuracy_.Advance(engine_->clock_s());
  queued_.fetch_sub(idx.size(), std::memory_order_relaxed);
  processed_.fetch_add(idx.size(), std::memory_order_relaxed);
  if (job.parts.fetch_sub(1, std::memory_order_acq_rel) == 1 && job.on_done) job.on_done(job);
}

void Shard::Warmup(const std::vector<Fix>& fixes) {
  persist_ = false;
  // The fixes of a warm-up were learned from when they came in (and are in the stored paths).
  if (path_listener_) path_listener_->set_enabled(false);
  for (const Fix& f : fixes) {
    if (!shared_->clock->follows_fixes()) engine_->SetClock(shared_->clock->Now());
    ProcessFix(f);
    if (engine_->last_match().state != MatchState::kRejected)
      shared_->clock->ObserveFix(engine_->clock_s());
  }
  persist_ = true;
  if (path_listener_) path_listener_->set_enabled(true);
}

void Shard::RepublishAll() {
  std::vector<VehicleState> states;
  engine_->tracker().ForEachVehicle([&](const VehicleState& s) { states.push_back(s); });
  for (const VehicleState& s : states) Publish(s, /*force=*/true);
}

void Shard::ScorePredictions() {
  if (!persist_) return;  // a warmup replays history: nothing was published
  accuracy_.AddPredictions(predictions_,
                           [&](uint32_t trip) { return network_->feed().trips[trip].route; });
}

void Shard::ScoreVisit(const StopVisit& v, bool own) {
  if (persist_) accuracy_.AddObserved(v, network_->feed().trips[v.trip].route, own);
}

void Shard::ObserveClock() {
  // The server clock moves with an accepted live fix before its snapshot is published: a board
  // the watch hub builds in between would otherwise carry the stop's new version with the old
  // `now` under --clock=fixes, and nothing re-sends it before the heartbeat (the cause of
  // PagesTest.BoardEventsPushAChangedBoard failing under load). ProcessJob's call after the fix
  // stays for fixes that publish nothing; ObserveFix keeps the newest time, so twice is harmless.
  if (engine_->last_match().state != MatchState::kRejected && !engine_->last_fix_backfilled())
    shared_->clock->ObserveFix(engine_->clock_s());
}

void Shard::Publish(const VehicleState& state, bool force) {
  predictor_->Predict(state, &predictions_);
  // No predictions for a cancelled trip (a bus still reporting it would be a ghost on boards):
  // the boards list such a trip as cancelled from the timetable (arrivals.cc).
  if (view_) {
    const std::shared_ptr<const ServiceChangeSet> changes = view_->changes();
    if (!changes->trips().empty()) {
      const GtfsFeed& feed = network_->feed();
      std::erase_if(predictions_, [&](const Prediction& p) {
        return p.trip < feed.trips.size() &&
               changes->TripCancelled(feed.trips[p.trip].id, state.service_date);
      });
    }
  }
  if (!force) ScorePredictions();  // every update's published, as `smartbus replay --report`
  VehicleEntry& e = vehicles_[state.vehicle_id];
  if (!e.slot) e.slot = directory_.GetOrAdd(state.vehicle_id);
  const bool rejected = engine_->last_match().state == MatchState::kRejected;
  // A rejected fix leaves the state as it was, but the model may have learned since: publish
  // again like `smartbus replay` predicts again (never create a vehicle from a rejected fix).
  if (rejected && !force && !e.slot->snapshot.load(std::memory_order_relaxed)) return;

  // The vehicle's previous snapshot is reused when no reader holds it any more (it left the
  // slot at the last publish, so no new reader can take it): no allocation per fix.
  std::shared_ptr<VehicleSnapshot> snap;
  if (e.spare && e.spare.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);  // readers' last uses happened before
    snap = std::const_pointer_cast<VehicleSnapshot>(std::move(e.spare));
    snap->etas.clear();
  } else {
    e.spare.reset();
    snap = std::make_shared<VehicleSnapshot>();
  }
  if (snap->network != network_) snap->network = network_;
  snap->state = state;
  const BusCondition* cond = condition_.Get(state.vehicle_id);
  snap->has_condition = cond != nullptr;
  if (cond) snap->condition = *cond;
  snap->etas.reserve(predictions_.size());
  shared_->predictions.fetch_add(predictions_.size(), std::memory_order_relaxed);
  new_stops_.clear();
  for (const Prediction& p : predictions_) {
    StopEta& eta = snap->etas.emplace_back();
    eta.predicted_arrival_s = p.predicted_arrival_s;
    eta.stop = p.stop;
    eta.trip = p.trip;
    eta.stop_index = p.stop_index;
    eta.source = static_cast<uint32_t>(p.source);
    eta.p10_offset_s = StopEta::Offset(p.p10_s, p.predicted_arrival_s);
    eta.p90_offset_s = StopEta::Offset(p.p90_s, p.predicted_arrival_s);
    eta.departure_offset_s = StopEta::Offset(p.predicted_departure_s, p.predicted_arrival_s);
    new_stops_.push_back(p.stop);
  }
  std::sort(new_stops_.begin(), new_stops_.end());
  new_stops_.erase(std::unique(new_stops_.begin(), new_stops_.end()), new_stops_.end());

  LiveView* view = view_.get();
  const bool same_net = view && view->network == network_;
  if (e.view != view) {
    e.stops.clear();  // registered in an older view: that view is gone
    e.view = view;
  }
  // Stops to register at (in new_stops_, not in e.stops) and to leave (the other way round).
  added_stops_.clear();
  removed_stops_.clear();
  if (same_net) {
    std::set_difference(new_stops_.begin(), new_stops_.end(), e.stops.begin(), e.stops.end(),
                        std::back_inserter(added_stops_));
    std::set_difference(e.stops.begin(), e.stops.end(), new_stops_.begin(), new_stops_.end(),
                        std::back_inserter(removed_stops_));
  }
  // Register first, publish, then unregister: a reader never misses a live vehicle.
  for (uint32_t s : added_stops_) view->AddVehicle(s, e.slot.get());
  snap->stamp = ChangeStamp();
  e.spare = e.slot->snapshot.exchange(std::move(snap), std::memory_order_acq_rel);
  bool poke = false;
  if (same_net) {
    for (uint32_t s : removed_stops_) view->RemoveVehicle(s, e.slot.get());
    if (view->AnyWatched()) {
      for (uint32_t s : removed_stops_) poke |= view->Watched(s);
      for (uint32_t s : new_stops_) poke |= view->Watched(s);
    }
    e.stops.assign(new_stops_.begin(), new_stops_.end());
  }
  e.dirty = true;
  if (poke && shared_->poke_watchers) shared_->poke_watchers();
}

absl::Status Shard::SwitchNetwork(std::shared_ptr<const Network> network,
                                  std::shared_ptr<LiveView> view) {
  std::string model = predictor_->Serialize();
  // Live accuracy: trips of the old feed end (held predictions unobserved); routes renamed.
  accuracy_.FinishAll();
  std::vector<uint32_t> routes(network_->feed().routes.size(), kNoIndex);
  for (size_t r = 0; r < routes.size(); ++r)
    routes[r] = network->FindRoute(network_->feed().routes[r].id).value_or(kNoIndex);
  accuracy_.RemapRoutes(routes);
  network_ = std::move(network);
  MakeEngine();
  predictor_ = std::make_unique<LayeredPredictor>(network_, options_.predictor,
                                                  options_.engine.tracker);
  view_ = std::move(view);
  for (auto& [id, e] : vehicles_) {
    e.stops.clear();
    e.view = nullptr;
  }
  return predictor_->Deserialize(model);
}

void Shard::Restore(const VehicleRecord& record) {
  VehicleEntry& e = vehicles_[record.state.vehicle_id];
  if (!e.slot) e.slot = directory_.GetOrAdd(record.state.vehicle_id);
  if (e.slot->snapshot.load(std::memory_order_acquire)) return;
  VehicleRecord r = record;
  ResolveIndices(r, *network_);
  auto snap = std::make_shared<VehicleSnapshot>();
  snap->network = network_;
  snap->state = r.state;
  snap->stamp = ChangeStamp();
  e.slot->snapshot.store(std::move(snap), std::memory_order_release);
}

std::vector<std::string> Shard::VehicleIds() const {
  std::vector<std::string> ids;
  ids.reserve(vehicles_.size());
  for (const auto& [id, e] : vehicles_) ids.push_back(id);
  return ids;
}

void Shard::FlushVehicles(bool all) {
  if (!shared_->writer) return;
  changes_.clear();
  std::vector<VehicleEntry*> flushed;
  for (auto& [id, e] : vehicles_) {
    if (!e.dirty && !all) continue;
    auto snap = e.slot->snapshot.load(std::memory_order_acquire);
    if (!snap) continue;
    changes_.emplace_back(MakeVehicleRecord(snap->state, *snap->network));
    // At shutdown: the driving time of each vehicle's current day so far.
    if (all && snap->has_condition && snap->condition.day != 0)
      changes_.emplace_back(
          DrivingDay{id, snap->condition.day, snap->condition.driving_day_s});
    flushed.push_back(&e);
  }
  if (changes_.empty()) return;
  if (shared_->writer->EnqueueAll(absl::MakeSpan(changes_)).ok())
    for (VehicleEntry* e : flushed) e->dirty = false;  // else: retried at the next flush
  changes_.clear();
}

void Shard::SaveModel() {
  if (!shared_->writer) return;
  (void)shared_->writer->Enqueue(ModelBlob{kModelName, predictor_->Serialize()});
}

}  // namespace smartbus::server
